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
 *                     every lookup put), saying in the log what it waits for
 *                     if that takes long; unpublish; grace period; free.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uhmm/device.h>
#include <uhmm/memremap.h>
#include <uhmm/resource.h>

#include "../core/internal.h"
#include "../core/list.h"
#include "../core/owner.h"
#include "../core/rcu.h"
#include "mm_internal.h"

#define MAX_PHYSMEM_BITS	46

/*
 * memunmap_pages() waits for every page, as the kernel does; a driver that
 * never frees one would hang it without a word, and there is no dmesg here.
 * So the wait logs what it waits for after UHMM_MEMUNMAP_WARN_MS (default
 * 5 s; 0: never), then every UNMAP_WARN_PERIOD of those.
 */
#define UNMAP_WARN_ENV		"UHMM_MEMUNMAP_WARN_MS"
#define UNMAP_WARN_DEFAULT_MS	5000UL
#define UNMAP_WARN_PERIOD	4

/* uhmm's state for a mapped pgmap, reached through pgmap->priv. */
struct pgmap_state {
	pthread_mutex_t lock;
	pthread_cond_t done_wait;
	bool done;			/* pgmap->ref released; protected by lock */
	void *owner;			/* the module holding pgmap->ops, pinned */
	struct uhmm_dev_pagemap *pgmap;
	struct list_head list;		/* in pgmaps, while mapped; pgmaps_lock */
	struct pgmap_counters counters;	/* atomic */
	struct pgmap_span spans[];	/* one per range */
};

/* Every mapped pgmap, oldest first, for uhmm_pgmap_for_each(). */
static pthread_mutex_t pgmaps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct list_head pgmaps = LIST_HEAD_INIT(pgmaps);	/* pgmaps_lock */

struct pgmap_counters *pgmap_counters(const struct uhmm_dev_pagemap *pgmap)
{
	return &((struct pgmap_state *)pgmap->priv)->counters;
}

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

UHMM_EXPORT const char *uhmm_pgmap_type_name(const struct uhmm_dev_pagemap *pgmap)
{
	switch (pgmap->type) {
	case UHMM_MEMORY_DEVICE_PRIVATE:
		return "device private";
	case UHMM_MEMORY_DEVICE_COHERENT:
		return "device coherent";
	case UHMM_MEMORY_DEVICE_FS_DAX:
		return "fs dax";
	case UHMM_MEMORY_DEVICE_GENERIC:
		return "generic";
	case UHMM_MEMORY_DEVICE_PCI_P2PDMA:
		return "pci p2pdma";
	}
	return "unknown";
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
		__atomic_store_n(&page->_refcount, pfn < first_pfn ? 1 : count, __ATOMIC_RELAXED);
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

/* wait_for_release() times its reports on the monotonic clock. */
static void init_done_wait(struct pgmap_state *state)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&state->done_wait, &attr);
	pthread_condattr_destroy(&attr);
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

/* Pages of ranges [0, nr_mapped) that someone holds: a snapshot, for the log and the stats. */
static unsigned long pages_in_use(struct uhmm_dev_pagemap *pgmap, int nr_mapped)
{
	struct pgmap_state *state = pgmap->priv;
	int idle = pgmap->type == UHMM_MEMORY_DEVICE_GENERIC ? 1 : 0;
	unsigned long i, n = 0;
	int r;

	for (r = 0; r < nr_mapped; r++) {
		const struct pgmap_span *span = &state->spans[r];

		for (i = 0; i < span->nr_pages; i++) {
			const struct uhmm_page *page = &span->memmap[i];

			/* Atomic: the lock bits of flags change under us. */
			if (!(__atomic_load_n(&page->flags, __ATOMIC_RELAXED) &
			      (1UL << UHMM_PG_reserved)) &&
			    uhmm_page_ref_count(page) > idle)
				n++;
		}
	}
	return n;
}

static unsigned long unmap_warn_ms(void)
{
	const char *env = getenv(UNMAP_WARN_ENV);
	unsigned long ms;
	char *end;

	if (!env || !*env)
		return UNMAP_WARN_DEFAULT_MS;
	errno = 0;
	ms = strtoul(env, &end, 10);
	if (errno || *end) {
		pr_warn("memremap: ignoring %s=%s: not a number of milliseconds",
			UNMAP_WARN_ENV, env);
		return UNMAP_WARN_DEFAULT_MS;
	}
	return ms;
}

static void timespec_add_ms(struct timespec *ts, unsigned long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

static void report_unmap_wait(struct uhmm_dev_pagemap *pgmap, int nr_mapped,
			      const struct timespec *start)
{
	const struct uhmm_range *range = uhmm_pgmap_range(pgmap, 0);
	unsigned long pages = pages_in_use(pgmap, nr_mapped);

	pr_warn("memunmap_pages: pgmap %p [mem %#" PRIx64 "-%#" PRIx64 "%s] (%s, owner %p) "
		"still waits after %.1f s: %lu pages still referenced%s",
		(void *)pgmap, range->start, range->end, pgmap->nr_range > 1 ? " and more" : "",
		uhmm_pgmap_type_name(pgmap), pgmap->owner, seconds_since(start), pages,
		pages ? "; the driver must free (evict) every page before unmapping"
		      : "; a uhmm_get_dev_pagemap() reference is not put");
}

/*
 * Wait until pgmap->ref is released: for as long as it takes, like the
 * kernel, but not silently.
 */
static void wait_for_release(struct uhmm_dev_pagemap *pgmap, int nr_mapped)
{
	struct pgmap_state *state = pgmap->priv;
	unsigned long warn_ms = unmap_warn_ms();
	struct timespec start, deadline;
	bool warned = false;

	clock_gettime(CLOCK_MONOTONIC, &start);
	deadline = start;
	timespec_add_ms(&deadline, warn_ms);
	pthread_mutex_lock(&state->lock);
	while (!state->done) {
		if (!warn_ms) {
			pthread_cond_wait(&state->done_wait, &state->lock);
			continue;
		}
		if (pthread_cond_timedwait(&state->done_wait, &state->lock, &deadline) != ETIMEDOUT)
			continue;
		/* Log without the lock the last put needs. */
		pthread_mutex_unlock(&state->lock);
		report_unmap_wait(pgmap, nr_mapped, &start);
		warned = true;
		timespec_add_ms(&deadline, warn_ms * UNMAP_WARN_PERIOD);
		pthread_mutex_lock(&state->lock);
	}
	pthread_mutex_unlock(&state->lock);
	if (warned)
		pr_warn("memunmap_pages: pgmap %p: every page freed after %.1f s",
			(void *)pgmap, seconds_since(&start));
}

/* Shut down a pgmap whose ranges [0, nr_mapped) are mapped. */
static void unmap_pgmap(struct uhmm_dev_pagemap *pgmap, int nr_mapped)
{
	struct pgmap_state *state = pgmap->priv;
	int i;

	pthread_mutex_lock(&pgmaps_lock);
	if (state->list.next)
		list_del(&state->list);
	pthread_mutex_unlock(&pgmaps_lock);
	uhmm_percpu_ref_kill(&pgmap->ref);
	if (!pgmap_pins_per_allocation(pgmap))
		for (i = 0; i < nr_mapped; i++)
			uhmm_percpu_ref_put_many(&pgmap->ref, pfn_len(pgmap, i));

	wait_for_release(pgmap, nr_mapped);

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
	init_done_wait(state);
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
	state->pgmap = pgmap;
	pthread_mutex_lock(&pgmaps_lock);
	list_add_tail(&state->list, &pgmaps);
	pthread_mutex_unlock(&pgmaps_lock);
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
	/*
	 * Eviction looks at these without a reference (under pt_lock, which a
	 * put may not take): plain, they would be a data race.
	 */
	__atomic_store_n(&page->mapping, NULL, __ATOMIC_RELAXED);
	__atomic_store_n(&page->index, 0, __ATOMIC_RELAXED);

	switch (pgmap->type) {
	case UHMM_MEMORY_DEVICE_PRIVATE:
	case UHMM_MEMORY_DEVICE_COHERENT:
		pgmap->ops->page_free(page);
		/* May release the pgmap: the page must not be touched after this. */
		uhmm_put_dev_pagemap(pgmap);
		break;
	case UHMM_MEMORY_DEVICE_GENERIC:
		/* Ready to be handed out again, as the kernel does. */
		__atomic_store_n(&page->_refcount, 1, __ATOMIC_SEQ_CST);
		break;
	case UHMM_MEMORY_DEVICE_FS_DAX:
		break;
	case UHMM_MEMORY_DEVICE_PCI_P2PDMA:
		if (pgmap->ops && pgmap->ops->page_free)
			pgmap->ops->page_free(page);
		break;
	}
}

UHMM_EXPORT int uhmm_pgmap_for_each(int (*fn)(struct uhmm_dev_pagemap *pgmap, void *data),
				    void *data)
{
	struct pgmap_state *state;
	int ret = 0;

	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&pgmaps_lock);
	list_for_each_entry(state, &pgmaps, list) {
		ret = fn(state->pgmap, data);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&pgmaps_lock);
	return ret;
}

UHMM_EXPORT int uhmm_pgmap_get_stats(const struct uhmm_dev_pagemap *pgmap,
				     struct uhmm_pgmap_stats *stats)
{
	struct pgmap_state *state;
	struct uhmm_pgmap_stats s;
	int r;

	if (!pgmap || !pgmap->priv || !stats || stats->size < sizeof(uint64_t))
		return -EINVAL;
	state = pgmap->priv;
	memset(&s, 0, sizeof(s));
	s.size = stats->size < sizeof(s) ? stats->size : sizeof(s);
#define FILL(name)	s.name = __atomic_load_n(&state->counters.name, __ATOMIC_RELAXED);
	PGMAP_COUNTERS(FILL)
#undef FILL
	for (r = 0; r < pgmap->nr_range; r++)
		s.nr_pages += state->spans[r].nr_pages;
	s.pages_in_use = pages_in_use((struct uhmm_dev_pagemap *)pgmap, pgmap->nr_range);
	memcpy(stats, &s, s.size);
	return 0;
}
