// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pfn -> memmap table, uhmm's sparse memory model.
 *
 * The address space is cut in 2 MiB subsections; a two-level table holds, for
 * each subsection, the pgmap that maps it and where its memmap lies, so both
 * get_dev_pagemap() and pfn_to_page() are two dependent loads, under RCU and
 * without a lock.  Writers serialise on sparse_lock.  Leaves are allocated
 * on first use and kept for the life of the process (a leaf covers 32 GiB
 * and costs 512 KiB).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "../core/internal.h"
#include "../core/rcu.h"
#include "mm_internal.h"

#define MAX_PHYSMEM_BITS	46
#define SUBSECTION_SHIFT	9	/* pages per subsection, log2 */
#define LEAF_BITS		15
#define LEAF_ENTRIES		(1UL << LEAF_BITS)
#define NR_SUBSECTIONS_BITS	(MAX_PHYSMEM_BITS - UHMM_PAGE_SHIFT - SUBSECTION_SHIFT)
#define ROOT_ENTRIES		(1UL << (NR_SUBSECTIONS_BITS - LEAF_BITS))
#define MAX_PFN			(1UL << (MAX_PHYSMEM_BITS - UHMM_PAGE_SHIFT))

/*
 * A leaf: for each of its subsections, the pgmap that maps it and where the
 * memmap lies.  The two are separate arrays so that get_dev_pagemap() reads
 * 8 bytes a subsection and the pgmap array of a leaf stays dense in cache.
 *
 * pgmap[i] is published last (release) and cleared first; a reader that sees
 * it non-NULL may use memmap_base[i], which stays valid until a grace period
 * after pgmap[i] is cleared.  memmap_base[i] + pfn * sizeof(struct uhmm_page)
 * is the address of pfn's page (an integer: it points outside the memmap
 * when the range does not start at pfn 0).
 */
struct subsection_leaf {
	struct uhmm_dev_pagemap *pgmap[LEAF_ENTRIES];
	uintptr_t memmap_base[LEAF_ENTRIES];
};

static struct subsection_leaf *subsection_root[ROOT_ENTRIES];	/* written under sparse_lock */
static pthread_mutex_t sparse_lock = PTHREAD_MUTEX_INITIALIZER;

#define LEAF_INDEX(subsection)	((subsection) & (LEAF_ENTRIES - 1))

static struct subsection_leaf *leaf_locked(unsigned long subsection, bool create)
{
	struct subsection_leaf *leaf = subsection_root[subsection >> LEAF_BITS];

	if (!leaf && create) {
		leaf = calloc(1, sizeof(*leaf));
		if (!leaf)
			return NULL;
		rcu_assign_pointer(subsection_root[subsection >> LEAF_BITS], leaf);
	}
	return leaf;
}

static int check_free_locked(unsigned long start_pfn, unsigned long nr_pages)
{
	unsigned long s, first = start_pfn >> SUBSECTION_SHIFT;
	unsigned long last = (start_pfn + nr_pages - 1) >> SUBSECTION_SHIFT;

	for (s = first; s <= last; s++) {
		struct subsection_leaf *leaf = leaf_locked(s, false);

		if (leaf && leaf->pgmap[LEAF_INDEX(s)])
			return -EBUSY;
	}
	return 0;
}

int sparse_check_free(unsigned long start_pfn, unsigned long nr_pages)
{
	int ret;

	pthread_mutex_lock(&sparse_lock);
	ret = check_free_locked(start_pfn, nr_pages);
	pthread_mutex_unlock(&sparse_lock);
	return ret;
}

/* Return 0, -EBUSY if a subsection is taken, -ENOMEM. */
int sparse_insert(struct pgmap_span *span)
{
	unsigned long s, first = span->start_pfn >> SUBSECTION_SHIFT;
	unsigned long last = (span->start_pfn + span->nr_pages - 1) >> SUBSECTION_SHIFT;
	int ret;

	pthread_mutex_lock(&sparse_lock);
	ret = check_free_locked(span->start_pfn, span->nr_pages);
	/* Create every leaf first, so a failure leaves nothing half-published. */
	for (s = first >> LEAF_BITS; !ret && s <= last >> LEAF_BITS; s++)
		if (!leaf_locked(s << LEAF_BITS, true))
			ret = -ENOMEM;
	for (s = first; !ret && s <= last; s++) {
		struct subsection_leaf *leaf = leaf_locked(s, false);

		leaf->memmap_base[LEAF_INDEX(s)] = (uintptr_t)span->memmap -
						   span->start_pfn * sizeof(struct uhmm_page);
		rcu_assign_pointer(leaf->pgmap[LEAF_INDEX(s)], span->pgmap);
	}
	pthread_mutex_unlock(&sparse_lock);
	return ret;
}

/* Unpublish @span; the caller waits a grace period before freeing it. */
void sparse_remove(struct pgmap_span *span)
{
	unsigned long s, first = span->start_pfn >> SUBSECTION_SHIFT;
	unsigned long last = (span->start_pfn + span->nr_pages - 1) >> SUBSECTION_SHIFT;

	pthread_mutex_lock(&sparse_lock);
	for (s = first; s <= last; s++) {
		struct subsection_leaf *leaf = leaf_locked(s, false);

		if (!WARN_ON(!leaf || leaf->pgmap[LEAF_INDEX(s)] != span->pgmap))
			rcu_assign_pointer(leaf->pgmap[LEAF_INDEX(s)], NULL);
	}
	pthread_mutex_unlock(&sparse_lock);
}

static struct subsection_leaf *leaf_rcu(unsigned long pfn)
{
	if (unlikely(pfn >= MAX_PFN))
		return NULL;
	return rcu_dereference(subsection_root[pfn >> (SUBSECTION_SHIFT + LEAF_BITS)]);
}

struct uhmm_dev_pagemap *sparse_pgmap_rcu(unsigned long pfn)
{
	struct subsection_leaf *leaf = leaf_rcu(pfn);

	return leaf ? rcu_dereference(leaf->pgmap[LEAF_INDEX(pfn >> SUBSECTION_SHIFT)]) : NULL;
}

struct uhmm_page *sparse_pfn_to_page_rcu(unsigned long pfn)
{
	struct subsection_leaf *leaf = leaf_rcu(pfn);
	unsigned long i = LEAF_INDEX(pfn >> SUBSECTION_SHIFT);

	if (!leaf || !rcu_dereference(leaf->pgmap[i]))
		return NULL;
	return (struct uhmm_page *)(leaf->memmap_base[i] + pfn * sizeof(struct uhmm_page));
}
