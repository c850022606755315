/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RCU for uhmm: liburcu's "bulletproof" flavour, which registers reader
 * threads by itself, so a thread that calls into uhmm never has to.
 * The read-side primitives are inlined (_LGPL_SOURCE).
 */
#ifndef UHMM_LIB_RCU_H
#define UHMM_LIB_RCU_H

#define _LGPL_SOURCE
#include <urcu/urcu-bp.h>
#include <urcu/pointer.h>

static inline void rcu_read_lock(void)
{
	urcu_bp_read_lock();
}

static inline void rcu_read_unlock(void)
{
	urcu_bp_read_unlock();
}

static inline void synchronize_rcu(void)
{
	urcu_bp_synchronize_rcu();
}

#endif
