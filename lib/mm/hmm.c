// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * hmm_range_fault(): the CPU side of a range, for a device's page table.
 *
 * One pass per mapping: uhmm's own entries (device pages, migrations) are
 * gathered under pt_lock, one PAGEMAP_SCAN gives the kernel's view
 * (present, swapped, zero page, huge) as runs of pages, and each page's
 * entry is computed from both and the mapping's permissions.  Where a page
 * must be faulted in, the run of such pages is faulted with
 * MADV_POPULATE_READ or MADV_POPULATE_WRITE (a device page of another owner
 * comes back through the fault engine), and the walk looks again from there.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <uhmm/hmm.h>
#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define SCAN_CATEGORIES		(PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE)
#define SCAN_VEC		128

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ	22
#define MADV_POPULATE_WRITE	23
#endif

#define PMD_ORDER		9
#define FAULT_RUN_MAX		512	/* pages faulted per look */

enum { NEED_FAULT = 1, NEED_WRITE_FAULT = 2 };

struct hmm_walk {
	struct uhmm_hmm_range *range;
	struct vma_info vma;
	bool watched;		/* the mapping is registered: write-protection works */
	/* uhmm's entries in the part being walked, in address order */
	struct { unsigned long addr; uintptr_t pte; } *ptes;
	size_t nr_ptes, cap_ptes;
	bool oom;
};

static void collect_pte(unsigned long addr, uintptr_t pte, void *arg)
{
	struct hmm_walk *w = arg;

	if (w->nr_ptes == w->cap_ptes) {
		size_t cap = w->cap_ptes ? 2 * w->cap_ptes : 64;
		void *n = realloc(w->ptes, cap * sizeof(*w->ptes));

		if (!n) {
			w->oom = true;
			return;
		}
		w->ptes = n;
		w->cap_ptes = cap;
	}
	w->ptes[w->nr_ptes].addr = addr;
	w->ptes[w->nr_ptes++].pte = pte;
}

static unsigned long *pfn_slot(struct uhmm_hmm_range *range, unsigned long addr)
{
	return &range->hmm_pfns[(addr - range->start) >> UHMM_PAGE_SHIFT];
}

static unsigned long req_flags(const struct uhmm_hmm_range *range, unsigned long in)
{
	return ((in & range->pfn_flags_mask) | range->default_flags) &
	       (UHMM_HMM_PFN_REQ_FAULT | UHMM_HMM_PFN_REQ_WRITE);
}

/* The kernel's hmm_pte_need_fault(). */
static int need_fault(unsigned long req, unsigned long cpu)
{
	if (!(req & UHMM_HMM_PFN_REQ_FAULT))
		return 0;
	if ((req & UHMM_HMM_PFN_REQ_WRITE) && !(cpu & UHMM_HMM_PFN_WRITE))
		return NEED_FAULT | NEED_WRITE_FAULT;
	if (!(cpu & UHMM_HMM_PFN_VALID))
		return NEED_FAULT;
	return 0;
}

static void set_entry(unsigned long *slot, unsigned long value)
{
	*slot = (*slot & UHMM_HMM_PFN_DMA_MAPPED) | value;
}

/* [start, end) cannot be mirrored: ERROR, or -EFAULT if a fault was asked for. */
static int fill_error(struct uhmm_hmm_range *range, unsigned long start, unsigned long end)
{
	unsigned long addr;

	for (addr = start; addr < end; addr += UHMM_PAGE_SIZE)
		if (req_flags(range, *pfn_slot(range, addr)) & UHMM_HMM_PFN_REQ_FAULT)
			return -EFAULT;
	for (addr = start; addr < end; addr += UHMM_PAGE_SIZE)
		set_entry(pfn_slot(range, addr), UHMM_HMM_PFN_ERROR);
	return 0;
}

/* What uhmm's entry @pte says about its address, for @range. */
static unsigned long device_entry(const struct uhmm_hmm_range *range, uintptr_t pte)
{
	struct uhmm_page *page = pte_page(pte);

	if (page && page->pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE &&
	    page->pgmap->owner == range->dev_private_owner)
		return page->pfn | UHMM_HMM_PFN_VALID | (pte & PTE_WRITE ? UHMM_HMM_PFN_WRITE : 0);
	return 0;	/* another owner's page, or one migrating: fault it if asked */
}

static unsigned long cpu_entry(const struct hmm_walk *w, uint64_t categories)
{
	unsigned long v;

	if (!(categories & PAGE_IS_PRESENT))
		return 0;
	v = UHMM_HMM_PFN_VALID;
	/*
	 * A file's page in a private mapping is mapped read-only until a write
	 * copies it (the kernel's hmm_range_fault() reports the pte as it is).
	 */
	if (categories & PAGE_IS_PFNZERO)
		v |= UHMM_ZERO_PFN;
	else if ((w->vma.flags & UHMM_VM_WRITE) &&
		 ((w->vma.flags & UHMM_VM_SHARED) || !(categories & PAGE_IS_FILE)))
		v |= UHMM_HMM_PFN_WRITE;
	if (w->vma.page_size > UHMM_PAGE_SIZE)
		v |= (unsigned long)(__builtin_ctzl(w->vma.page_size) - UHMM_PAGE_SHIFT)
		     << UHMM_HMM_PFN_ORDER_SHIFT;
	else if (categories & PAGE_IS_HUGE)
		v |= (unsigned long)PMD_ORDER << UHMM_HMM_PFN_ORDER_SHIFT;
	return v;
}

/*
 * Faults in [start, end), whose pages all need @kind.  Returns 0 to look
 * again, or -EFAULT / -EPERM.
 */
static int fault_run(struct hmm_walk *w, unsigned long start, unsigned long end, int kind)
{
	int advice = kind & NEED_WRITE_FAULT ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;

	if ((kind & NEED_WRITE_FAULT) && !(w->vma.flags & UHMM_VM_WRITE))
		return -EPERM;
	while (madvise((void *)start, end - start, advice)) {
		if (errno == EINTR || errno == EAGAIN)
			continue;
		return -EFAULT;
	}
	return 0;
}

/* Write-protects the read-only zero pages of a writable mapping just reported. */
static void protect_zero_pages(struct hmm_walk *w, unsigned long start, unsigned long end)
{
	struct uhmm_hmm_range *range = w->range;
	unsigned long addr = start, run;

	if (!(w->vma.flags & UHMM_VM_WRITE) || !w->watched)
		return;
	while (addr < end) {
		if (uhmm_hmm_pfn_to_pfn(*pfn_slot(range, addr)) != UHMM_ZERO_PFN ||
		    !(*pfn_slot(range, addr) & UHMM_HMM_PFN_VALID)) {
			addr += UHMM_PAGE_SIZE;
			continue;
		}
		for (run = addr; run < end && (*pfn_slot(range, run) & UHMM_HMM_PFN_VALID) &&
		     uhmm_hmm_pfn_to_pfn(*pfn_slot(range, run)) == UHMM_ZERO_PFN;
		     run += UHMM_PAGE_SIZE)
			;
		mm_writeprotect(addr, run - addr, true);
		addr = run;
	}
}

/*
 * Walks [*addr, end) of one mapping (w->vma).  Returns 0 with *addr = end,
 * -EAGAIN with *addr at a page it faulted in (look again), or an error.
 */
static int walk_mapping(struct hmm_walk *w, unsigned long *addrp, unsigned long end)
{
	struct uhmm_hmm_range *range = w->range;
	struct pagemap_region vec[SCAN_VEC] = { { 0 } };	/* filled by the kernel */
	unsigned long addr = *addrp, scan = addr, fault_start = 0;
	size_t p = 0;
	int fault_kind = 0, ret = 0;
	/* Asked only where it matters: the kernel looks up each page for it. */
	bool private_file = (w->vma.flags & (UHMM_VM_FILE | UHMM_VM_SHARED)) == UHMM_VM_FILE;

	w->nr_ptes = 0;
	w->oom = false;
	pthread_mutex_lock(&init_mm.pt_lock);
	pt_for_each(addr, end, collect_pte, w);
	pthread_mutex_unlock(&init_mm.pt_lock);
	if (w->oom)
		return -ENOMEM;

	while (scan < end) {
		struct pagemap_scan_arg arg = {
			.size = sizeof(arg), .start = scan, .end = end,
			.vec = (uintptr_t)vec, .vec_len = SCAN_VEC,
			.return_mask = SCAN_CATEGORIES | (private_file ? PAGE_IS_FILE : 0),
		};
		long n = pagemap_scan(&arg), r;

		if (n < 0)
			return n == -EINTR ? -EAGAIN : n;
		/* Pages the scan did not list hold nothing (categories 0). */
		for (r = 0; r <= n; r++) {
			unsigned long rs = r < n ? vec[r].start : arg.walk_end;
			unsigned long re = r < n ? vec[r].end : arg.walk_end;
			uint64_t cats = r < n ? vec[r].categories : 0;

			for (; addr < re; addr += UHMM_PAGE_SIZE) {
				unsigned long *slot = pfn_slot(range, addr);
				unsigned long req = req_flags(range, *slot), cpu;
				int kind;

				while (p < w->nr_ptes && w->ptes[p].addr < addr)
					p++;
				if (p < w->nr_ptes && w->ptes[p].addr == addr)
					cpu = device_entry(range, w->ptes[p].pte);
				else
					cpu = addr >= rs ? cpu_entry(w, cats) : 0;
				kind = need_fault(req, cpu);
				/* The caller's own device pages are never faulted. */
				if (kind && p < w->nr_ptes && w->ptes[p].addr == addr &&
				    (cpu & UHMM_HMM_PFN_VALID))
					kind = 0;
				if (fault_kind) {
					if (kind != fault_kind ||
					    addr - fault_start >= FAULT_RUN_MAX * UHMM_PAGE_SIZE)
						goto fault;
					continue;
				}
				if (kind) {
					fault_kind = kind;
					fault_start = addr;
					continue;
				}
				set_entry(slot, cpu);
			}
		}
		scan = arg.walk_end;
		if (!n && scan < end && arg.walk_end == arg.start)
			return -EFAULT;	/* no progress: the mapping changed under us */
	}
	if (fault_kind)
		goto fault;
	protect_zero_pages(w, *addrp, end);
	*addrp = end;
	return 0;

fault:
	protect_zero_pages(w, *addrp, fault_start);
	ret = fault_run(w, fault_start, addr, fault_kind);
	*addrp = fault_start;
	return ret ? ret : -EAGAIN;
}

static int walk_range(struct hmm_walk *w, unsigned long *addr)
{
	struct uhmm_hmm_range *range = w->range;
	unsigned long end;
	int ret;

	ret = vma_find(*addr, &w->vma);
	if (ret && ret != -ENOENT)
		return ret;
	if (ret == -ENOENT || w->vma.start >= range->end) {
		/* No mapping from here to the end. */
		ret = fill_error(range, *addr, range->end);
		*addr = range->end;
		return ret;
	}
	if (w->vma.start > *addr) {
		ret = fill_error(range, *addr, w->vma.start);
		*addr = w->vma.start;
		return ret;
	}
	end = w->vma.end < range->end ? w->vma.end : range->end;
	if (!(w->vma.flags & UHMM_VM_READ)) {
		ret = fill_error(range, *addr, end);
		*addr = end;
		return ret;
	}
	/*
	 * Watch the mapping.  userfaultfd cannot register every mapping (a file
	 * on a disk filesystem): such a mirror hears of munmap and mprotect
	 * only through the device's failed accesses (uhmm_access_process_vm()).
	 */
	w->watched = !mm_register_range(w->vma.start, w->vma.end, MM_REG_WP);
	return walk_mapping(w, addr, end);
}

UHMM_EXPORT int uhmm_hmm_range_fault(struct uhmm_hmm_range *range)
{
	struct hmm_walk w = { .range = range };
	unsigned long addr;
	int ret;

	if (!range || !range->notifier || !range->hmm_pfns)
		return -EINVAL;
	if (!IS_ALIGNED(range->start, UHMM_PAGE_SIZE) || !IS_ALIGNED(range->end, UHMM_PAGE_SIZE) ||
	    range->start >= range->end)
		return -EINVAL;
	ret = mm_start();
	if (ret)
		return ret;
	addr = range->start;
	do {
		if (uhmm_mmu_interval_check_retry(range->notifier, range->notifier_seq)) {
			ret = -EBUSY;
			break;
		}
		ret = walk_range(&w, &addr);
		if (ret == -EAGAIN)
			ret = 0;
	} while (!ret && addr < range->end);
	if (!ret && uhmm_mmu_interval_check_retry(range->notifier, range->notifier_seq))
		ret = -EBUSY;
	free(w.ptes);
	return ret;
}
