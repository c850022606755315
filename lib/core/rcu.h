/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RCU for uhmm: liburcu's membarrier flavour (urcu-memb), whose read side is
 * a per-thread counter and compiler barriers only.  liburcu wants every
 * reader thread registered; uhmm registers a thread the first time it enters
 * a read-side section and unregisters it when the thread exits, so callers of
 * uhmm never have to.  The read-side primitives are inlined (_LGPL_SOURCE).
 *
 * Except under ThreadSanitizer: the read side's wake-up of a waiting
 * synchronize_rcu() reads and writes the grace-period futex with plain
 * accesses that membarrier() orders, which TSan cannot see, so it reports
 * races that are not there.  Its builds call liburcu's own, uninstrumented
 * read_lock() and read_unlock(); rcu_dereference() stays inline, an atomic
 * load TSan understands.
 */
#ifndef UHMM_LIB_RCU_H
#define UHMM_LIB_RCU_H

#include <stdbool.h>

#if defined(__SANITIZE_THREAD__)
#define URCU_INLINE_SMALL_FUNCTIONS
#else
#define _LGPL_SOURCE
#endif
#include <urcu/urcu-memb.h>
#include <urcu/pointer.h>

#include "internal.h"

extern __thread bool uhmm_rcu_registered __attribute__((tls_model("initial-exec")));
void uhmm_rcu_register_thread(void);

static inline void rcu_read_lock(void)
{
	if (unlikely(!uhmm_rcu_registered))
		uhmm_rcu_register_thread();
	urcu_memb_read_lock();
}

static inline void rcu_read_unlock(void)
{
	urcu_memb_read_unlock();
}

/* Wait until every read-side section that began before this call has ended. */
static inline void synchronize_rcu(void)
{
	urcu_memb_synchronize_rcu();
}

#endif
