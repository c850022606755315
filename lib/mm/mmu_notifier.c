// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Interval notifiers, the API: insert, remove, the sequence protocol's
 * read_begin() and read_retry(), and uhmm_access_process_vm() for a
 * device's copies.  The subscriptions and the invalidations they hear
 * about are invalidate.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <uhmm/migrate.h>
#include <uhmm/mmu_notifier.h>

#include "../core/internal.h"
#include "mm_internal.h"

/* --- the API --------------------------------------------------------------------- */

UHMM_EXPORT int uhmm_mmu_interval_notifier_insert(struct uhmm_mmu_interval_notifier *sub,
						  unsigned long start, unsigned long length,
						  const struct uhmm_mmu_interval_notifier_ops *ops)
{
	static pthread_once_t release_once = PTHREAD_ONCE_INIT;
	unsigned long last;
	int ret;

	if (!sub || !ops || !ops->invalidate)
		return -EINVAL;
	if (!length || __builtin_add_overflow(start, length - 1, &last))
		return -EOVERFLOW;
	ret = mm_start();
	if (ret)
		return ret;
	pthread_once(&release_once, mn_register_release);
	sub->start = start;
	sub->last = last;
	sub->ops = ops;
	pthread_mutex_lock(&init_mm.subs.lock);
	if (init_mm.subs.active) {
		/* As if being invalidated: read_begin() waits for the end. */
		sub->invalidate_seq = init_mm.subs.invalidate_seq;
		sub->deferred = true;
		sub->next = init_mm.subs.deferred;
		init_mm.subs.deferred = sub;
	} else {
		sub->invalidate_seq = init_mm.subs.invalidate_seq - 1;
		sub->deferred = false;
		sub->next = init_mm.subs.list;
		init_mm.subs.list = sub;
	}
	__atomic_add_fetch(&init_mm.subs.nr, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_mm.subs.lock);
	return 0;
}

static void unlink_sub(struct uhmm_mmu_interval_notifier **head,
		       struct uhmm_mmu_interval_notifier *sub)
{
	for (; *head; head = &(*head)->next) {
		if (*head == sub) {
			*head = sub->next;
			return;
		}
	}
	WARN(1, "removing an interval notifier that is not inserted");
}

UHMM_EXPORT void uhmm_mmu_interval_notifier_remove(struct uhmm_mmu_interval_notifier *sub)
{
	if (WARN_ON(!sub))
		return;
	pthread_mutex_lock(&init_mm.subs.lock);
	while (init_mm.subs.active && !sub->deferred)
		pthread_cond_wait(&init_mm.subs.wq, &init_mm.subs.lock);
	unlink_sub(sub->deferred ? &init_mm.subs.deferred : &init_mm.subs.list, sub);
	sub->deferred = false;
	__atomic_sub_fetch(&init_mm.subs.nr, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&init_mm.subs.lock);
}

UHMM_EXPORT unsigned long uhmm_mmu_interval_read_begin(struct uhmm_mmu_interval_notifier *sub)
{
	unsigned long seq;

	pthread_mutex_lock(&init_mm.subs.lock);
	seq = __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE);
	while (seq == init_mm.subs.invalidate_seq && (seq & 1))
		pthread_cond_wait(&init_mm.subs.wq, &init_mm.subs.lock);
	pthread_mutex_unlock(&init_mm.subs.lock);
	return seq;
}

UHMM_EXPORT bool uhmm_mmu_interval_read_retry(struct uhmm_mmu_interval_notifier *sub,
					      unsigned long seq)
{
	mn_events_sync();
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

UHMM_EXPORT bool uhmm_mmu_interval_check_retry(struct uhmm_mmu_interval_notifier *sub,
					       unsigned long seq)
{
	return __atomic_load_n(&sub->invalidate_seq, __ATOMIC_ACQUIRE) != seq;
}

UHMM_EXPORT void uhmm_mmu_interval_set_seq(struct uhmm_mmu_interval_notifier *sub,
					   unsigned long cur_seq)
{
	__atomic_store_n(&sub->invalidate_seq, cur_seq, __ATOMIC_RELEASE);
}

/* --- the device's copies -------------------------------------------------------------- */

/* The access to @addr failed: if mprotect() took the permission away, say so. */
static void access_failed(unsigned long addr, bool write)
{
	unsigned long start, end, flags;

	addr = ALIGN_DOWN(addr, UHMM_PAGE_SIZE);
	if (vma_lookup_flags(addr, &start, &end, &flags)) {
		/* Unmapped.  A watched range's event may still be queued: no harm in two. */
		mn_invalidate_async(addr, addr + UHMM_PAGE_SIZE, UHMM_MMU_NOTIFY_UNMAP, NULL, NULL);
		return;
	}
	if (!(flags & UHMM_VM_READ) || (write && !(flags & UHMM_VM_WRITE)))
		mn_invalidate_async(start, end, UHMM_MMU_NOTIFY_PROTECTION_VMA, NULL, NULL);
}

UHMM_EXPORT long uhmm_access_process_vm(unsigned long addr, void *buf, unsigned long len,
					bool write)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)addr, .iov_len = len };
	ssize_t n;

	if (!buf)
		return -EINVAL;
	if (!len)
		return 0;
	n = write ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0) :
		    process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return n;
	if (n < 0 && errno != EFAULT) {
		static bool told;

		if (!__atomic_exchange_n(&told, true, __ATOMIC_RELAXED))
			pr_err("process_vm_%s failed (%s): uhmm devices cannot reach process "
			       "memory here", write ? "writev" : "readv", strerror(errno));
		return -EFAULT;
	}
	access_failed(addr + (n > 0 ? (unsigned long)n : 0), write);
	return n > 0 ? n : -EFAULT;
}
