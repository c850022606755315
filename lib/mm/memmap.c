// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The memmap: the array of struct uhmm_page for one range, taken from the
 * device's altmap where it has one and there is room, else from the heap.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define HPAGE_SIZE	(2UL << 20)

static unsigned long altmap_next_pfn(const struct uhmm_vmem_altmap *altmap)
{
	return altmap->base_pfn + altmap->reserve + altmap->alloc + altmap->align;
}

static unsigned long altmap_nr_free(const struct uhmm_vmem_altmap *altmap)
{
	unsigned long used = altmap->alloc + altmap->align;

	return altmap->free > used ? altmap->free - used : 0;
}

/*
 * Take @nr_pfns pages from the altmap, aligned to the largest power of two
 * that divides @nr_pfns (the kernel's rule, so big blocks stay aligned).
 * Return the host address of the first page, or NULL if there is no room.
 */
static void *altmap_alloc_block(struct uhmm_vmem_altmap *altmap, unsigned long nr_pfns)
{
	unsigned long pfn = altmap_next_pfn(altmap);
	unsigned long align = 1UL << __builtin_ctzl(nr_pfns);
	unsigned long nr_align = ALIGN_UP(pfn, align) - pfn;

	if (nr_pfns + nr_align > altmap_nr_free(altmap))
		return NULL;
	altmap->alloc += nr_pfns;
	altmap->align += nr_align;
	pfn += nr_align;
	return (char *)altmap->base_addr + (pfn - altmap->base_pfn) * UHMM_PAGE_SIZE;
}

static void *heap_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Big memmaps are faulted in 2 MiB at a time rather than 4 KiB. */
	if (bytes >= HPAGE_SIZE)
		madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

int memmap_alloc(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap)
{
	size_t bytes = ALIGN_UP(span->nr_pages * sizeof(struct uhmm_page), UHMM_PAGE_SIZE);
	unsigned long nr_pfns = bytes / UHMM_PAGE_SIZE;
	void *p = NULL;

	span->memmap_bytes = bytes;
	span->altmap_pfns = 0;
	if (altmap) {
		p = altmap_alloc_block(altmap, nr_pfns);
		if (p) {
			span->altmap_pfns = nr_pfns;
			/* Device memory is not zeroed for us. */
			memset(p, 0, bytes);
		} else {
			pr_info("altmap: %lu free pages, the memmap needs %lu; using the heap",
				altmap_nr_free(altmap), nr_pfns);
		}
	}
	if (!p)
		p = heap_alloc(bytes);
	if (!p)
		return -ENOMEM;
	span->memmap = p;
	return 0;
}

void memmap_free(struct pgmap_span *span, struct uhmm_vmem_altmap *altmap)
{
	if (span->altmap_pfns) {
		/* The kernel's vmem_altmap_free(): only the count goes back. */
		altmap->alloc -= span->altmap_pfns;
		span->altmap_pfns = 0;
	} else {
		munmap(span->memmap, span->memmap_bytes);
	}
	span->memmap = NULL;
}
