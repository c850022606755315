/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libuhmm's export table, generated from libuhmm.map (sorted by name). */
#ifndef UHMM_LIB_CORE_EXPORTS_H
#define UHMM_LIB_CORE_EXPORTS_H

#include <stddef.h>

#include <uhmm/module.h>

extern const struct uhmm_export core_exports[];
extern const size_t nr_core_exports;

#endif
