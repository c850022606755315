/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* uhmm: Linux's device-memory machinery in user space.  The whole API. */
#ifndef UHMM_UHMM_H
#define UHMM_UHMM_H

#include <uhmm/version.h>
#include <uhmm/log.h>
#include <uhmm/device.h>
#include <uhmm/resource.h>
#include <uhmm/percpu_ref.h>
#include <uhmm/memremap.h>
#include <uhmm/migrate.h>
#include <uhmm/mmu_notifier.h>
#include <uhmm/hmm.h>
#include <uhmm/module.h>

#endif
