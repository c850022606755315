/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by lib/module's files; never installed. */
#ifndef UHMM_LIB_MODULE_INTERNAL_H
#define UHMM_LIB_MODULE_INTERNAL_H

#include <stddef.h>

/*
 * Open and read a whole module file, refusing anything but a regular file
 * (-EINVAL) before reading; the caller closes *fdp and frees *imagep.
 */
int module_read_file(const char *path, int *fdp, void **imagep, size_t *lenp);

#endif
