/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm hmm: hmm_range_fault(), a device's one look at the CPU side of a
 * range of the process's address space, with the kernel's flags and errors.
 *
 * Used with an interval notifier (uhmm/mmu_notifier.h):
 *
 *	range.notifier_seq = uhmm_mmu_interval_read_begin(range.notifier);
 *	ret = uhmm_hmm_range_fault(&range);	// -EBUSY: start again
 *	lock; if (uhmm_mmu_interval_read_retry(...)) start again; commit; unlock
 *
 * What a system page's entry holds: a page the CPU maps has no struct
 * uhmm_page of its own while it is mapped, so its pfn field is 0, or
 * UHMM_ZERO_PFN for the shared zero page; a uhmm device reaches it at its
 * address with uhmm_access_process_vm().  A device-private page's pfn is
 * its pgmap pfn, as in the kernel.
 */
#ifndef UHMM_HMM_H
#define UHMM_HMM_H

#include <stdbool.h>

#include <uhmm/memremap.h>
#include <uhmm/mmu_notifier.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The kernel's enum hmm_pfn_flags (Linux 6.15 to 6.18 layout).
 * Output: VALID, WRITE, ERROR, the mapping order, and the pfn.
 * Input (per page, with pfn_flags_mask, or default_flags): REQ_FAULT
 * (fault the page in if the CPU does not map it) and REQ_WRITE (fault it in
 * writable).  DMA_MAPPED is carried from input to output untouched.
 */
#define UHMM_HMM_PFN_VALID		(1UL << 63)
#define UHMM_HMM_PFN_WRITE		(1UL << 62)
#define UHMM_HMM_PFN_ERROR		(1UL << 61)
#define UHMM_HMM_PFN_DMA_MAPPED		(1UL << 60)
#define UHMM_HMM_PFN_ORDER_SHIFT	53
#define UHMM_HMM_PFN_REQ_FAULT		UHMM_HMM_PFN_VALID
#define UHMM_HMM_PFN_REQ_WRITE		UHMM_HMM_PFN_WRITE
#define UHMM_HMM_PFN_FLAGS		(~((1UL << UHMM_HMM_PFN_ORDER_SHIFT) - 1))

/* The pfn reported for the shared zero page (a System RAM pfn nothing else uses). */
#define UHMM_ZERO_PFN			1UL

/** uhmm_is_zero_pfn() - is @pfn (an entry's pfn field) the shared zero page? */
static inline bool uhmm_is_zero_pfn(unsigned long pfn)
{
	return pfn == UHMM_ZERO_PFN;
}

/** uhmm_hmm_pfn_to_pfn() - the pfn field of an entry */
static inline unsigned long uhmm_hmm_pfn_to_pfn(unsigned long hmm_pfn)
{
	return hmm_pfn & ~UHMM_HMM_PFN_FLAGS;
}

/** uhmm_hmm_pfn_to_map_order() - log2 of the CPU mapping's size in pages (9: 2 MiB) */
static inline unsigned int uhmm_hmm_pfn_to_map_order(unsigned long hmm_pfn)
{
	return (hmm_pfn >> UHMM_HMM_PFN_ORDER_SHIFT) & 0x1f;
}

/**
 * uhmm_hmm_pfn_to_page() - the page of a VALID entry: a device page's
 * metadata; NULL for a system page (see above)
 */
static inline struct uhmm_page *uhmm_hmm_pfn_to_page(unsigned long hmm_pfn)
{
	return uhmm_pfn_to_page(uhmm_hmm_pfn_to_pfn(hmm_pfn));
}

/**
 * struct uhmm_hmm_range - one look at [@start, @end)
 * @notifier: the interval notifier covering the range (required)
 * @notifier_seq: from uhmm_mmu_interval_read_begin()
 * @start, @end: page aligned, start < end
 * @hmm_pfns: one entry per page: input flags in, state out
 * @default_flags: input flags for every page
 * @pfn_flags_mask: which bits of each hmm_pfns[] input count as well
 * @dev_private_owner: device-private pages of this owner are reported as
 *	they are, not faulted back
 */
struct uhmm_hmm_range {
	struct uhmm_mmu_interval_notifier *notifier;
	unsigned long notifier_seq;
	unsigned long start;
	unsigned long end;
	unsigned long *hmm_pfns;
	unsigned long default_flags;
	unsigned long pfn_flags_mask;
	void *dev_private_owner;
};

/**
 * uhmm_hmm_range_fault() - report, and where asked fault in, a range
 *
 * Fills hmm_pfns[] from the CPU side: uhmm's own entries (pages in device
 * memory or migrating) and one PAGEMAP_SCAN of each mapping (present,
 * swapped, zero page, huge), with the mapping's permissions.  A page is
 * reported writable if its mapping is and it is not the zero page.  Pages a
 * caller asked for are faulted in (madvise(MADV_POPULATE_READ/WRITE); a
 * device page of another owner migrates back) and looked at again.  The
 * range becomes watched: munmap, madvise and mremap of it reach notifiers,
 * and a zero page reported read-only in a writable mapping is
 * write-protected, so the CPU's first write to it invalidates first.
 *
 * Call without the driver's lock, between read_begin() and read_retry().
 *
 * Return: 0; -EBUSY if the notifier saw an invalidation (start again);
 * -EFAULT if a page asked for cannot be faulted in (no mapping, no read
 * permission, a failed fault); -EPERM
 * if a write fault was asked for in a read-only mapping; -EINVAL for bad
 * arguments; the fault engine's error if it cannot start.
 */
int uhmm_hmm_range_fault(struct uhmm_hmm_range *range);

/**
 * uhmm_make_device_exclusive() - give a device exclusive (atomic) access
 * @addr: an address in a private anonymous writable mapping
 * @owner: the device's pgmap owner, passed to the EXCLUSIVE invalidation so
 *	its own mirror can ignore it
 *
 * Faults the page in writable, invalidates (EXCLUSIVE, @owner), and takes it
 * out of the CPU's mapping: the device reaches it at uhmm_page_address().
 * Any CPU access (a fault, fork(), munmap) ends it: mirrors hear EXCLUSIVE
 * (owner NULL) first, then the page, with what the device wrote, is back.
 *
 * Return: the page, locked and with a reference for the caller (unlock it
 * and put it when the device mapping is made), or NULL with errno: EFAULT
 * (no writable mapping), EOPNOTSUPP (not private anonymous memory), ENOMEM,
 * EBUSY (the page kept changing).
 */
struct uhmm_page *uhmm_make_device_exclusive(unsigned long addr, void *owner);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_HMM_H */
