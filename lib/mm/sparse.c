// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pfn -> memmap table, uhmm's sparse memory model.
 *
 * The address space is cut in 2 MiB subsections; a two-level table holds, for
 * each subsection, the span (pgmap range) that maps it.  Readers walk it
 * under RCU with two dependent loads and no lock; writers serialise on
 * sparse_lock.  Leaves are allocated on first use and kept for the life of
 * the process (a leaf covers 32 GiB and costs 256 KiB).
 */
#include <errno.h>
#include <pthread.h>
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

typedef struct pgmap_span *subsection_leaf[LEAF_ENTRIES];

static subsection_leaf *subsection_root[ROOT_ENTRIES];	/* written under sparse_lock */
static pthread_mutex_t sparse_lock = PTHREAD_MUTEX_INITIALIZER;

static struct pgmap_span **slot_locked(unsigned long subsection, bool create)
{
	subsection_leaf *leaf = subsection_root[subsection >> LEAF_BITS];

	if (!leaf && create) {
		leaf = calloc(1, sizeof(*leaf));
		if (!leaf)
			return NULL;
		rcu_assign_pointer(subsection_root[subsection >> LEAF_BITS], leaf);
	}
	return leaf ? &(*leaf)[subsection & (LEAF_ENTRIES - 1)] : NULL;
}

static int check_free_locked(unsigned long start_pfn, unsigned long nr_pages)
{
	unsigned long s, first = start_pfn >> SUBSECTION_SHIFT;
	unsigned long last = (start_pfn + nr_pages - 1) >> SUBSECTION_SHIFT;

	for (s = first; s <= last; s++) {
		struct pgmap_span **slot = slot_locked(s, false);

		if (slot && *slot)
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
		if (!slot_locked(s << LEAF_BITS, true))
			ret = -ENOMEM;
	for (s = first; !ret && s <= last; s++)
		rcu_assign_pointer(*slot_locked(s, false), span);
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
		struct pgmap_span **slot = slot_locked(s, false);

		if (!WARN_ON(!slot || *slot != span))
			rcu_assign_pointer(*slot, NULL);
	}
	pthread_mutex_unlock(&sparse_lock);
}

struct pgmap_span *sparse_lookup_rcu(unsigned long pfn)
{
	unsigned long subsection = pfn >> SUBSECTION_SHIFT;
	subsection_leaf *leaf;

	if (unlikely(pfn >= MAX_PFN))
		return NULL;
	leaf = rcu_dereference(subsection_root[subsection >> LEAF_BITS]);
	if (!leaf)
		return NULL;
	return rcu_dereference((*leaf)[subsection & (LEAF_ENTRIES - 1)]);
}
