// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * memremap_pages(): struct pages for device memory, and their lifetime.
 *
 * Lifetime of a pgmap:
 *   memremap_pages()  validate; init pgmap->ref; per range: build the memmap,
 *                     publish it in the subsection table.
 *   in use            get_dev_pagemap() and every allocated PRIVATE/COHERENT
 *                     page hold a reference on pgmap->ref; the other types
 *                     hold one per page from map time, as in the kernel.
 *   memunmap_pages()  kill pgmap->ref; wait for its release (every page freed,
 *                     every lookup put); unpublish; grace period; free.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>

#include <uhmm/device.h>
#include <uhmm/memremap.h>
#include <uhmm/resource.h>

#include "../core/internal.h"
#include "../core/owner.h"
#include "../core/rcu.h"
#include "mm_internal.h"

#define MAX_PHYSMEM_BITS	46

/* uhmm's state for a mapped pgmap, reached through pgmap->priv. */
struct pgmap_state {
	pthread_mutex_t lock;
	pthread_cond_t done_wait;
	bool done;			/* pgmap->ref released; protected by lock */
	void *owner;			/* the module holding pgmap->ops, pinned */
	struct pgmap_span spans[];	/* one per range */
};

static bool pgmap_has_altmap(const struct uhmm_dev_pagemap *pgmap)
{
	return pgmap->flags & UHMM_PGMAP_ALTMAP_VALID;
}

/* Do pages of this type pin the pgmap only while allocated (else from map time)? */
static bool pgmap_pins_per_allocation(const struct uhmm_dev_pagemap *pgmap)
{
	return pgmap->type == UHMM_MEMORY_DEVICE_PRIVATE ||
	       pgmap->type == UHMM_MEMORY_DEVICE_COHERENT;
}

UHMM_EXPORT unsigned long uhmm_pgmap_pfn_first(const struct uhmm_dev_pagemap *pgmap,
					       int range_id)
{
	unsigned long pfn = UHMM_PHYS_PFN(uhmm_pgmap_range(pgmap, range_id)->start);

	if (range_id == 0 && pgmap_has_altmap(pgmap))
		pfn += uhmm_vmem_altmap_offset(&pgmap->altmap);
	return pfn;
}

UHMM_EXPORT unsigned long uhmm_pgmap_pfn_end(const struct uhmm_dev_pagemap *pgmap,
					     int range_id)
{
	return UHMM_PHYS_PFN(uhmm_pgmap_range(pgmap, range_id)->end) + 1;
}

static unsigned long pfn_len(const struct uhmm_dev_pagemap *pgmap, int range_id)
{
	return uhmm_pgmap_pfn_end(pgmap, range_id) - uhmm_pgmap_pfn_first(pgmap, range_id);
}

static int validate_type(const struct uhmm_dev_pagemap *pgmap)
{
	const struct uhmm_dev_pagemap_ops *ops = pgmap->ops;

	switch (pgmap->type) {
	case UHMM_MEMORY_DEVICE_PRIVATE:
		if (WARN(!ops || !ops->migrate_to_ram, "Missing migrate_to_ram method"))
			return -EINVAL;
		if (WARN(!ops->page_free, "Missing page_free method"))
			return -EINVAL;
		if (WARN(!pgmap->owner, "Missing owner"))
			return -EINVAL;
		return 0;
	case UHMM_MEMORY_DEVICE_COHERENT:
		if (WARN(!ops || !ops->page_free, "Missing page_free method"))
			return -EINVAL;
		if (WARN(!pgmap->owner, "Missing owner"))
			return -EINVAL;
		return 0;
	case UHMM_MEMORY_DEVICE_FS_DAX:
	case UHMM_MEMORY_DEVICE_GENERIC:
	case UHMM_MEMORY_DEVICE_PCI_P2PDMA:
		return 0;
	}
	WARN(1, "Invalid pgmap type %d", (int)pgmap->type);
	return -EINVAL;
}

static int validate_range(const struct uhmm_range *range)
{
	const uint64_t limit = UINT64_C(1) << MAX_PHYSMEM_BITS;

	if (range->end < range->start ||
	    !IS_ALIGNED(range->start, UHMM_SUBSECTION_SIZE) ||
	    !IS_ALIGNED(range->end + 1, UHMM_SUBSECTION_SIZE)) {
		pr_err("memremap: range %#" PRIx64 "-%#" PRIx64 " is not 2 MiB aligned and sized",
		       range->start, range->end);
		return -EINVAL;
	}
	if (range->end >= limit) {
		pr_err("memremap: range %#" PRIx64 "-%#" PRIx64
		       " exceeds maximum addressable range", range->start, range->end);
		return -EINVAL;
	}
	return 0;
}

static int validate_altmap(const struct uhmm_dev_pagemap *pgmap)
{
	const struct uhmm_vmem_altmap *altmap = &pgmap->altmap;
	unsigned long nr_pages = UHMM_PHYS_PFN(uhmm_range_len(uhmm_pgmap_range(pgmap, 0)));

	if (WARN(pgmap->nr_range > 1, "altmap not supported for multiple ranges"))
		return -EINVAL;
	if (!altmap->base_addr || altmap->base_pfn != UHMM_PHYS_PFN(uhmm_pgmap_range(pgmap, 0)->start) ||
	    altmap->reserve > nr_pages || altmap->free > nr_pages - altmap->reserve ||
	    altmap->alloc || altmap->align) {
		pr_err("memremap: altmap does not describe the range (base_addr %p, base_pfn %#lx, "
		       "reserve %lu, free %lu, alloc %lu, align %lu)", altmap->base_addr,
		       altmap->base_pfn, altmap->reserve, altmap->free, altmap->alloc,
		       altmap->align);
		return -EINVAL;
	}
	return 0;
}

static int validate_pgmap(const struct uhmm_dev_pagemap *pgmap)
{
	int i, ret;

	if (WARN(pgmap->nr_range < 1, "nr_range must be specified"))
		return -EINVAL;
	if (pgmap->nr_range > 1 && !pgmap->ranges) {
		pr_err("memremap: %d ranges but no ranges array", pgmap->nr_range);
		return -EINVAL;
	}
	ret = validate_type(pgmap);
	if (ret)
		return ret;
	for (i = 0; i < pgmap->nr_range; i++) {
		ret = validate_range(uhmm_pgmap_range(pgmap, i));
		if (ret)
			return ret;
	}
	return pgmap_has_altmap(pgmap) ? validate_altmap(pgmap) : 0;
}

static void dev_pagemap_percpu_release(struct uhmm_percpu_ref *ref)
{
	struct uhmm_dev_pagemap *pgmap = container_of(ref, struct uhmm_dev_pagemap, ref);
	struct pgmap_state *state = pgmap->priv;

	pthread_mutex_lock(&state->lock);
	state->done = true;
	pthread_cond_broadcast(&state->done_wait);
	pthread_mutex_unlock(&state->lock);
}

static void init_memmap(struct uhmm_dev_pagemap *pgmap, struct pgmap_span *span,
			unsigned long first_pfn)
{
	int count = pgmap->type == UHMM_MEMORY_DEVICE_GENERIC ? 1 : 0;
	unsigned long i;

	for (i = 0; i < span->nr_pages; i++) {
		struct uhmm_page *page = &span->memmap[i];
		unsigned long pfn = span->start_pfn + i;

		*page = (struct uhmm_page){
			.flags = pfn < first_pfn ? 1UL << UHMM_PG_reserved : 0,
			.pgmap = pgmap,
			.pfn = pfn,
		};
		atomic_init(&page->_refcount, pfn < first_pfn ? 1 : count);
	}
}

static int pagemap_range(struct uhmm_dev_pagemap *pgmap, int range_id)
{
	const struct uhmm_range *range = uhmm_pgmap_range(pgmap, range_id);
	struct pgmap_state *state = pgmap->priv;
	struct pgmap_span *span = &state->spans[range_id];
	int is_ram, ret;

	span->pgmap = pgmap;
	span->start_pfn = UHMM_PHYS_PFN(range->start);
	span->nr_pages = UHMM_PHYS_PFN(uhmm_range_len(range));

	if (sparse_check_free(span->start_pfn, span->nr_pages)) {
		WARN(1, "Conflicting mapping in same section");
		return -ENOMEM;
	}
	is_ram = uhmm_region_intersects(range->start, uhmm_range_len(range),
					UHMM_IORESOURCE_SYSTEM_RAM, UHMM_IORES_DESC_NONE);
	if (is_ram != UHMM_REGION_DISJOINT) {
		WARN(1, "attempted on %s region %#" PRIx64 "-%#" PRIx64,
		     is_ram == UHMM_REGION_MIXED ? "mixed" : "ram", range->start, range->end);
		return -ENXIO;
	}

	ret = memmap_alloc(span, pgmap_has_altmap(pgmap) ? &pgmap->altmap : NULL);
	if (ret)
		return ret;
	init_memmap(pgmap, span, uhmm_pgmap_pfn_first(pgmap, range_id));

	ret = sparse_insert(span);
	if (ret) {
		WARN(ret == -EBUSY, "Conflicting mapping in same section");
		memmap_free(span, pgmap_has_altmap(pgmap) ? &pgmap->altmap : NULL);
		return -ENOMEM;
	}
	if (!pgmap_pins_per_allocation(pgmap))
		uhmm_percpu_ref_get_many(&pgmap->ref, pfn_len(pgmap, range_id));
	return 0;
}

/* Unpublish ranges [0, nr), wait a grace period, free their memmaps. */
static void pageunmap_ranges(struct uhmm_dev_pagemap *pgmap, int nr)
{
	struct pgmap_state *state = pgmap->priv;
	int i;

	for (i = nr - 1; i >= 0; i--)
		sparse_remove(&state->spans[i]);
	synchronize_rcu();
	for (i = nr - 1; i >= 0; i--)
		memmap_free(&state->spans[i], pgmap_has_altmap(pgmap) ? &pgmap->altmap : NULL);
}

static void pgmap_state_free(struct uhmm_dev_pagemap *pgmap)
{
	struct pgmap_state *state = pgmap->priv;

	code_owner_put(state->owner);
	pthread_cond_destroy(&state->done_wait);
	pthread_mutex_destroy(&state->lock);
	free(state);
	pgmap->priv = NULL;
}

/* Shut down a pgmap whose ranges [0, nr_mapped) are mapped. */
static void unmap_pgmap(struct uhmm_dev_pagemap *pgmap, int nr_mapped)
{
	struct pgmap_state *state = pgmap->priv;
	int i;

	uhmm_percpu_ref_kill(&pgmap->ref);
	if (!pgmap_pins_per_allocation(pgmap))
		for (i = 0; i < nr_mapped; i++)
			uhmm_percpu_ref_put_many(&pgmap->ref, pfn_len(pgmap, i));

	pthread_mutex_lock(&state->lock);
	while (!state->done)
		pthread_cond_wait(&state->done_wait, &state->lock);
	pthread_mutex_unlock(&state->lock);

	pageunmap_ranges(pgmap, nr_mapped);
	uhmm_percpu_ref_exit(&pgmap->ref);
	WARN(pgmap->altmap.alloc, "failed to free all reserved pages");
	pgmap->altmap.align = 0;	/* padding only: nothing to give back */
	pgmap_state_free(pgmap);
}

UHMM_EXPORT int uhmm_memremap_pages(struct uhmm_dev_pagemap *pgmap)
{
	struct pgmap_state *state;
	int i, ret;

	if (!pgmap)
		return -EINVAL;
	if (pgmap->priv) {
		pr_err("memremap: pgmap %p is already mapped", (void *)pgmap);
		return -EBUSY;
	}
	ret = validate_pgmap(pgmap);
	if (ret)
		return ret;

	state = calloc(1, sizeof(*state) + pgmap->nr_range * sizeof(state->spans[0]));
	if (!state)
		return -ENOMEM;
	pthread_mutex_init(&state->lock, NULL);
	pthread_cond_init(&state->done_wait, NULL);
	pgmap->priv = state;
	if (pgmap->ops) {
		ret = code_owner_get(pgmap->ops, &state->owner);
		if (ret)
			goto err_state;
	}

	ret = uhmm_percpu_ref_init(&pgmap->ref, dev_pagemap_percpu_release, 0);
	if (ret)
		goto err_state;

	for (i = 0; i < pgmap->nr_range; i++) {
		ret = pagemap_range(pgmap, i);
		if (ret)
			goto err_ranges;
	}
	return 0;

err_ranges:
	/* Lookups may already have found the ranges mapped so far: shut down fully. */
	unmap_pgmap(pgmap, i);
	return ret;
err_state:
	pgmap_state_free(pgmap);
	return ret;
}

UHMM_EXPORT void uhmm_memunmap_pages(struct uhmm_dev_pagemap *pgmap)
{
	if (WARN(!pgmap || !pgmap->priv, "memunmap_pages of a pgmap that is not mapped"))
		return;
	unmap_pgmap(pgmap, pgmap->nr_range);
}

static void devm_memremap_pages_release(void *data)
{
	uhmm_memunmap_pages(data);
}

UHMM_EXPORT int uhmm_devm_memremap_pages(struct uhmm_device *dev,
					 struct uhmm_dev_pagemap *pgmap)
{
	int ret;

	if (!dev)
		return -EINVAL;
	ret = uhmm_memremap_pages(pgmap);
	if (ret)
		return ret;
	return uhmm_devm_add_action_or_reset(dev, devm_memremap_pages_release, pgmap);
}

UHMM_EXPORT int uhmm_devm_memunmap_pages(struct uhmm_device *dev,
					 struct uhmm_dev_pagemap *pgmap)
{
	return uhmm_devm_release_action(dev, devm_memremap_pages_release, pgmap);
}

UHMM_EXPORT struct uhmm_dev_pagemap *uhmm_get_dev_pagemap(unsigned long pfn)
{
	struct uhmm_dev_pagemap *pgmap;

	rcu_read_lock();
	pgmap = sparse_pgmap_rcu(pfn);
	if (pgmap && !uhmm_percpu_ref_tryget_live(&pgmap->ref))
		pgmap = NULL;
	rcu_read_unlock();
	return pgmap;
}

UHMM_EXPORT void uhmm_put_dev_pagemap(struct uhmm_dev_pagemap *pgmap)
{
	if (pgmap)
		uhmm_percpu_ref_put(&pgmap->ref);
}

UHMM_EXPORT struct uhmm_page *uhmm_pfn_to_page(unsigned long pfn)
{
	struct uhmm_page *page;

	if (unlikely(sysmem_pfn_valid(pfn)))
		return sysmem_pfn_to_page(pfn);
	rcu_read_lock();
	page = sparse_pfn_to_page_rcu(pfn);
	rcu_read_unlock();
	return page;
}

/* The last reference to a device page is gone: give it back to its owner. */
void free_zone_device_page(struct uhmm_page *page)
{
	struct uhmm_dev_pagemap *pgmap = page->pgmap;

	if (!pgmap) {
		sysmem_free_page(page);
		return;
	}
	WARN(page->flags & (1UL << UHMM_PG_locked), "freeing locked page pfn %#lx", page->pfn);
	page->mapping = NULL;
	page->index = 0;

	switch (pgmap->type) {
	case UHMM_MEMORY_DEVICE_PRIVATE:
	case UHMM_MEMORY_DEVICE_COHERENT:
		pgmap->ops->page_free(page);
		/* May release the pgmap: the page must not be touched after this. */
		uhmm_put_dev_pagemap(pgmap);
		break;
	case UHMM_MEMORY_DEVICE_GENERIC:
		/* Ready to be handed out again, as the kernel does. */
		atomic_store(&page->_refcount, 1);
		break;
	case UHMM_MEMORY_DEVICE_FS_DAX:
		break;
	case UHMM_MEMORY_DEVICE_PCI_P2PDMA:
		if (pgmap->ops && pgmap->ops->page_free)
			pgmap->ops->page_free(page);
		break;
	}
}
