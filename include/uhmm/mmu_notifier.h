/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm mmu_notifier: interval notifiers, the kernel's way for a device that
 * mirrors part of a process's address space to hear, before it can use stale
 * data, that the CPU side of that part changed.
 *
 * The protocol is the kernel's (Linux 5.10 and later):
 *
 *	again:
 *		seq = uhmm_mmu_interval_read_begin(&sub);
 *		... uhmm_hmm_range_fault(), or any other look at the CPU side ...
 *		lock(driver->lock);
 *		if (uhmm_mmu_interval_read_retry(&sub, seq)) {
 *			unlock(driver->lock);
 *			goto again;
 *		}
 *		... commit: program the device page table ...
 *		unlock(driver->lock);
 *
 * and the invalidate op takes the same driver->lock, calls
 * uhmm_mmu_interval_set_seq() and tears down what the device maps in the
 * range.  A sequence number is odd while an invalidation runs.
 *
 * What invalidates (event, and who calls the op):
 *	munmap()				UNMAP	the engine's invalidation thread
 *	madvise(DONTNEED, FREE, REMOVE)		CLEAR	the invalidation thread
 *	mremap() (the old range)		UNMAP	the invalidation thread
 *	a CPU write to a page a device was
 *	given read-only (the zero page)		CLEAR	the invalidation thread,
 *						before the write proceeds
 *	fork() (private mappings uhmm watches)	PROTECTION_PAGE	the forking thread
 *	mprotect() that removes access		PROTECTION_VMA	see below
 *	migrate_vma_setup()			MIGRATE (owner)	the migrating thread
 *	migrate_device_range() (eviction)	MIGRATE	the evicting thread
 *	uhmm_make_device_exclusive()		EXCLUSIVE (owner)	its caller
 *	a CPU access revoking exclusive access	EXCLUSIVE	the invalidation thread
 *	exit()					RELEASE	the exiting thread
 *
 * uhmm watches (with userfaultfd) the ranges passed to hmm_range_fault() and
 * those it migrated; munmap, madvise and mremap of other ranges reach no
 * notifier, as nothing can be mirrored there.
 *
 * Differences from the kernel, each forced by user space:
 *  - munmap(), madvise() and mremap() return once uhmm has read their
 *    event, and the ops run just after (the kernel runs them before the
 *    pages go).  A read_begin() or read_retry() that starts after munmap()
 *    returned sees the change, so a driver that uses what it mirrored (not
 *    only one that commits it) does so between read_begin() and a false
 *    read_retry() under its lock, as dmirror's READ and WRITE do.
 *  - mprotect() produces no event.  Every access a uhmm device makes to
 *    process memory goes through uhmm_access_process_vm(), which the kernel
 *    checks against the mapping's current permissions at that moment; the
 *    first access that fails because access was removed sends
 *    PROTECTION_VMA for the mapping.  So a device never reads or writes
 *    beyond what the CPU may, and its mirror is torn down at first use.
 *  - Ops are always called blockable: range->flags has
 *    UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE and an op must not return false.
 */
#ifndef UHMM_MMU_NOTIFIER_H
#define UHMM_MMU_NOTIFIER_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's enum mmu_notifier_event, in its order. */
enum uhmm_mmu_notifier_event {
	UHMM_MMU_NOTIFY_UNMAP = 0,
	UHMM_MMU_NOTIFY_CLEAR,
	UHMM_MMU_NOTIFY_PROTECTION_VMA,
	UHMM_MMU_NOTIFY_PROTECTION_PAGE,
	UHMM_MMU_NOTIFY_SOFT_DIRTY,
	UHMM_MMU_NOTIFY_RELEASE,
	UHMM_MMU_NOTIFY_MIGRATE,
	UHMM_MMU_NOTIFY_EXCLUSIVE,
};

#define UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE	(1U << 0)

/**
 * struct uhmm_mmu_notifier_range - what an invalidation covers
 * @start, @end: the addresses, [start, end)
 * @event: why
 * @flags: UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE
 * @owner: with MIGRATE and EXCLUSIVE, the pgmap owner that caused it, so
 *	its own driver can ignore it; NULL otherwise
 */
struct uhmm_mmu_notifier_range {
	unsigned long start;
	unsigned long end;
	enum uhmm_mmu_notifier_event event;
	unsigned int flags;
	void *owner;
};

/** uhmm_mmu_notifier_range_blockable() - may the op sleep for its lock?  Always, here. */
static inline bool
uhmm_mmu_notifier_range_blockable(const struct uhmm_mmu_notifier_range *range)
{
	return range->flags & UHMM_MMU_NOTIFIER_RANGE_BLOCKABLE;
}

struct uhmm_mmu_interval_notifier;

/**
 * struct uhmm_mmu_interval_notifier_ops
 * @invalidate: the CPU side of (part of) the interval is changing.  Called
 *	without uhmm locks held; takes the driver's lock, calls
 *	uhmm_mmu_interval_set_seq(@sub, @cur_seq) and stops using the range.
 *	Returns true (false only for a non-blockable range, which uhmm never
 *	sends).
 */
struct uhmm_mmu_interval_notifier_ops {
	bool (*invalidate)(struct uhmm_mmu_interval_notifier *sub,
			   const struct uhmm_mmu_notifier_range *range,
			   unsigned long cur_seq);
};

/**
 * struct uhmm_mmu_interval_notifier - one subscription; embed it in the
 * driver's object.  Every field belongs to uhmm.
 */
struct uhmm_mmu_interval_notifier {
	unsigned long start;
	unsigned long last;		/* inclusive */
	const struct uhmm_mmu_interval_notifier_ops *ops;
	unsigned long invalidate_seq;	/* written under the driver's lock */
	struct uhmm_mmu_interval_notifier *next;
	bool deferred;			/* inserted during an invalidation */
};

/**
 * uhmm_mmu_interval_notifier_insert() - start receiving invalidations
 * @sub: the subscription, zeroed or not; stays the caller's memory
 * @start: first address
 * @length: bytes; start + length - 1 must not overflow
 * @ops: its invalidate op
 *
 * May be called while invalidations run: the new subscription then starts
 * as if being invalidated, so read_begin() waits for them.  Starts uhmm's
 * fault engine if it is not running.
 *
 * Return: 0; -EINVAL for a NULL argument or op; -EOVERFLOW for a zero
 * length or one that wraps; the engine's error if it cannot start.
 */
int uhmm_mmu_interval_notifier_insert(struct uhmm_mmu_interval_notifier *sub,
				      unsigned long start, unsigned long length,
				      const struct uhmm_mmu_interval_notifier_ops *ops);

/**
 * uhmm_mmu_interval_notifier_remove() - stop receiving invalidations
 *
 * Waits for the invalidations running now, so once it returns the op is not
 * running and will not be called, and @sub may be freed.  Must not be called
 * from an invalidate op, nor with a lock the op takes.
 */
void uhmm_mmu_interval_notifier_remove(struct uhmm_mmu_interval_notifier *sub);

/**
 * uhmm_mmu_interval_read_begin() - start a read of the CPU side
 *
 * Waits while an invalidation of @sub runs.  Return: the sequence number to
 * pass to read_retry() or check_retry().
 */
unsigned long uhmm_mmu_interval_read_begin(struct uhmm_mmu_interval_notifier *sub);

/**
 * uhmm_mmu_interval_read_retry() - must the read be done again?
 *
 * Called under the driver's lock, just before committing what was read.
 * Return: true if an invalidation of @sub started since read_begin()
 * returned @seq, including one for a munmap() that has returned.
 */
bool uhmm_mmu_interval_read_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq);

/**
 * uhmm_mmu_interval_check_retry() - read_retry() without the driver's lock:
 * a hint to give up early (hmm_range_fault() uses it).
 */
bool uhmm_mmu_interval_check_retry(struct uhmm_mmu_interval_notifier *sub, unsigned long seq);

/**
 * uhmm_mmu_interval_set_seq() - called by the invalidate op, under the
 * driver's lock, with the op's @cur_seq
 */
void uhmm_mmu_interval_set_seq(struct uhmm_mmu_interval_notifier *sub, unsigned long cur_seq);

/**
 * uhmm_access_process_vm() - a device's access to process memory
 * @addr: the process address
 * @buf: the device's side of the copy
 * @len: bytes
 * @write: copy @buf to @addr, else @addr to @buf
 *
 * The kernel checks the access against the mapping as it is at that moment
 * (process_vm_readv/writev): an unmapped address or a missing permission
 * fails, never crashes; a page in device memory is migrated back first, and
 * a copy-on-write page is copied, as for a CPU access.  When the access
 * fails because mprotect() removed the permission, every mirror of that
 * mapping is invalidated (PROTECTION_VMA), asynchronously, so the caller
 * may hold the lock its invalidate op takes.  The kernel's name is
 * access_process_vm().
 *
 * Return: bytes copied (less than @len if the access failed part way), or
 * -EFAULT if none could be, -EINVAL for a NULL @buf.
 */
long uhmm_access_process_vm(unsigned long addr, void *buf, unsigned long len, bool write);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_MMU_NOTIFIER_H */
