// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Starting lib/mm, and fork(): the one pthread_atfork() of lib/mm, which
 * quiesces every subsystem before the fork and re-makes each in the child.
 *
 * The hooks are registered when the fault engine first runs, so a driver
 * that registers its own after that (dmirror does, at its first open) has
 * its prepare handler run before uhmm's and its child handler after.
 *
 * Before the fork, in this order: exclusive access ends and mirrors of
 * private pages are invalidated (as the kernel's fork does); the
 * invalidation and deferred-work threads finish what they run; no
 * registration is in flight (reg_lock); no migration, fault or deferred put
 * is in flight (the fork gate); then pt_lock and the notifier locks are
 * held, so the child inherits none of them half-changed.  The child's
 * mappings lose their registration: it opens its own userfaultfds,
 * registers the same ranges and starts its own threads.
 */
#include <pthread.h>
#include <stdlib.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

/* The registered ranges that may hold private pages, for fork()'s invalidation. */
static void fork_invalidate(void)
{
	struct mm_reg_range *copy;
	size_t n, i;

	if (!mn_has_subscriptions())
		return;
	copy = mm_regs_copy(&n);
	if (!copy) {
		mn_invalidate(0, ~0UL, UHMM_MMU_NOTIFY_PROTECTION_PAGE, NULL);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned long vs, ve, flags;

		if (vma_lookup_flags(copy[i].start, &vs, &ve, &flags) == 0 &&
		    (flags & UHMM_VM_SHARED))
			continue;
		mn_invalidate(copy[i].start, copy[i].end, UHMM_MMU_NOTIFY_PROTECTION_PAGE, NULL);
	}
	free(copy);
}

static void fork_prepare(void)
{
	if (!mm_engine_running())
		return;
	exclusive_revoke_all();
	fork_invalidate();
	mn_fork_quiesce();
	mm_regs_lock();
	mm_fork_close();
	pthread_mutex_lock(&init_mm.pt_lock);
	mn_fork_prepare();
}

static void fork_parent(void)
{
	if (!mm_engine_running())
		return;
	mn_fork_parent();
	pthread_mutex_unlock(&init_mm.pt_lock);
	mm_fork_open();
	mm_regs_unlock();
}

static void fork_child(void)
{
	int ret;

	vma_fork_child();
	mm_stats_fork_child();
	if (!mm_engine_running())
		return;
	mm_fork_gate_child();
	pt_fork_child();
	mn_fork_child();
	ret = mm_uffd_fork_child();
	if (!ret) {
		sysmem_fork_child(init_mm.stage_uffd, init_mm.uffd);
		ret = mm_regs_register_again();
	}
	mm_engine_fork_child(ret);
}

static void register_fork_hooks(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

int mm_start(void)
{
	static pthread_once_t hooks_once = PTHREAD_ONCE_INIT, stats_once = PTHREAD_ONCE_INIT;
	int ret;

	pthread_once(&stats_once, mm_stats_start);	/* before the engine counts */
	policy_init();		/* UHMM_MIGRATE_POLICY, before the first fault */
	ret = mm_engine_start();

	if (!ret)
		pthread_once(&hooks_once, register_fork_hooks);
	return ret;
}

UHMM_EXPORT int uhmm_mm_init(void)
{
	return mm_start();
}
