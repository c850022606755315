/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Mappings far below where mmap() places things.  A test that unmaps or
 * mremap()s a range and maps it again leaves a hole in between, and a
 * concurrent mmap() (a new device chunk, a malloc arena) landing there
 * would be overwritten by the MAP_FIXED that follows.  mmap() fills the
 * address space downwards from where it last placed a mapping, so a range
 * far below that is reached only once everything above it is taken.  The
 * gap is tried from large to small: sanitizers leave only part of the
 * address space to the program.
 */
#ifndef UHMM_TESTS_FAR_MMAP_H
#define UHMM_TESTS_FAR_MMAP_H

#include <stdint.h>
#include <sys/mman.h>

#define FAR_MMAP_GAP_MAX	(256UL << 30)
#define FAR_MMAP_GAP_MIN	(4UL << 30)
#define FAR_MMAP_ALIGN		(2UL << 20)

/* An anonymous private mapping of @len far below the others; MAP_FAILED if none. */
static inline void *mmap_far(size_t len, int prot, int flags)
{
	void *here = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1, 0);
	uintptr_t gap;

	if (here == MAP_FAILED)
		return here;
	munmap(here, len);
	for (gap = FAR_MMAP_GAP_MAX; gap >= FAR_MMAP_GAP_MIN; gap /= 2) {
		uintptr_t hint = ((uintptr_t)here - gap) & ~(FAR_MMAP_ALIGN - 1);
		void *p;

		if (hint > (uintptr_t)here)
			continue;	/* wrapped */
		p = mmap((void *)hint, len, prot,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | flags, -1, 0);
		if (p != MAP_FAILED)
			return p;
	}
	return mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
}

#endif
