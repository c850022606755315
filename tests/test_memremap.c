// SPDX-License-Identifier: LGPL-2.1-or-later
/* memremap_pages: validation, lookups, page lifecycle, altmap, shutdown. */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "harness.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static atomic_int frees;
static struct uhmm_page *last_freed;

static void count_free(struct uhmm_page *page)
{
	ASSERT_EQ(uhmm_page_ref_count(page), 0);
	last_freed = page;
	atomic_fetch_add(&frees, 1);
}

static uhmm_vm_fault_t no_fault(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops ops = {
	.page_free = count_free,
	.migrate_to_ram = no_fault,
};

static char last_msg[512];

static void capture_log(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

/* A fresh free physical range of @size above RAM (left claimed: tests are processes). */
static uint64_t free_range(uint64_t size)
{
	struct uhmm_resource *res = uhmm_request_free_mem_region(uhmm_iomem_resource(), size, "t");

	ASSERT_NONNULL(res);
	return res->start;
}

static void init_private(struct uhmm_dev_pagemap *pgmap, uint64_t start, uint64_t size)
{
	memset(pgmap, 0, sizeof(*pgmap));
	pgmap->type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap->range.start = start;
	pgmap->range.end = start + size - 1;
	pgmap->nr_range = 1;
	pgmap->ops = &ops;
	pgmap->owner = pgmap;
}

TEST(validation_errors_match_the_kernel)
{
	struct uhmm_dev_pagemap pgmap;
	struct uhmm_dev_pagemap_ops no_free = { .migrate_to_ram = no_fault };
	struct uhmm_dev_pagemap_ops no_migrate = { .page_free = count_free };
	uint64_t start = free_range(64 * MiB);

	uhmm_set_log_fn(capture_log, NULL);
	ASSERT_EQ(uhmm_memremap_pages(NULL), -EINVAL);

	init_private(&pgmap, start, 64 * MiB);
	pgmap.nr_range = 0;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "nr_range must be specified");

	init_private(&pgmap, start, 64 * MiB);
	pgmap.type = 0;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Invalid pgmap type 0");
	pgmap.type = 42;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);

	init_private(&pgmap, start, 64 * MiB);
	pgmap.ops = NULL;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing migrate_to_ram method");
	pgmap.ops = &no_migrate;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing migrate_to_ram method");
	pgmap.ops = &no_free;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing page_free method");
	pgmap.ops = &ops;
	pgmap.owner = NULL;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing owner");

	init_private(&pgmap, start, 64 * MiB);
	pgmap.type = UHMM_MEMORY_DEVICE_COHERENT;
	pgmap.ops = &no_free;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing page_free method");
	pgmap.ops = &no_migrate;	/* COHERENT needs no migrate_to_ram */
	pgmap.owner = NULL;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "Missing owner");

	/* Ranges: misaligned start, misaligned size, reversed, beyond the space. */
	init_private(&pgmap, start + 4096, 2 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	init_private(&pgmap, start, 3 * MiB / 2);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	init_private(&pgmap, start, 2 * MiB);
	pgmap.range.end = start - 1;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	init_private(&pgmap, UINT64_C(1) << 46, 2 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EINVAL);
	ASSERT_TRUE(strstr(last_msg, "exceeds maximum addressable range") != NULL);
	/* Nothing was left mapped by any of these. */
	ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(start)));
	ASSERT_NULL(pgmap.priv);
}

TEST(system_ram_is_refused_with_enxio)
{
	struct uhmm_dev_pagemap pgmap;
	uint64_t ram_end = uhmm_system_ram_size() & ~(2 * MiB - 1);

	uhmm_set_log_fn(capture_log, NULL);
	init_private(&pgmap, 0, 64 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -ENXIO);
	ASSERT_TRUE(strstr(last_msg, "attempted on ram region") != NULL);
	/* Straddling the end of RAM. */
	init_private(&pgmap, ram_end - 2 * MiB, 4 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -ENXIO);
	ASSERT_NULL(pgmap.priv);
}

TEST(map_lookup_and_unmap)
{
	struct uhmm_dev_pagemap pgmap, *found;
	uint64_t start = free_range(256 * MiB);
	unsigned long first = UHMM_PHYS_PFN(start), last = first + 256 * MiB / 4096 - 1;
	struct uhmm_page *page;

	init_private(&pgmap, start, 256 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), -EBUSY);	/* already mapped */
	ASSERT_EQ(uhmm_pgmap_pfn_first(&pgmap, 0), first);
	ASSERT_EQ(uhmm_pgmap_pfn_end(&pgmap, 0), last + 1);

	found = uhmm_get_dev_pagemap(first);
	ASSERT_TRUE(found == &pgmap);
	uhmm_put_dev_pagemap(found);
	found = uhmm_get_dev_pagemap(last);
	ASSERT_TRUE(found == &pgmap);
	uhmm_put_dev_pagemap(found);
	ASSERT_NULL(uhmm_get_dev_pagemap(first - 1));
	ASSERT_NULL(uhmm_get_dev_pagemap(last + 1));
	ASSERT_NULL(uhmm_get_dev_pagemap(~0UL));
	uhmm_put_dev_pagemap(NULL);

	page = uhmm_pfn_to_page(first + 777);
	ASSERT_NONNULL(page);
	ASSERT_EQ(uhmm_page_to_pfn(page), first + 777);
	ASSERT_TRUE(uhmm_page_pgmap(page) == &pgmap);
	ASSERT_TRUE(uhmm_is_device_private_page(page));
	ASSERT_EQ(uhmm_page_ref_count(page), 0);	/* idle device pages are at 0 */
	ASSERT_TRUE(uhmm_pfn_to_page(first + 778) == page + 1);
	ASSERT_NULL(uhmm_pfn_to_page(last + 1));
	ASSERT_LE(sizeof(struct uhmm_page), 64);

	uhmm_memunmap_pages(&pgmap);
	ASSERT_NULL(pgmap.priv);
	ASSERT_NULL(uhmm_get_dev_pagemap(first));
	ASSERT_NULL(uhmm_pfn_to_page(first));
	/* The same pgmap maps again. */
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	uhmm_memunmap_pages(&pgmap);
}

TEST(overlap_with_a_live_pgmap_is_refused)
{
	struct uhmm_dev_pagemap a, b;
	uint64_t start = free_range(256 * MiB);

	uhmm_set_log_fn(capture_log, NULL);
	init_private(&a, start, 128 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&a), 0);
	init_private(&b, start + 126 * MiB, 64 * MiB);	/* shares a's last subsection */
	ASSERT_EQ(uhmm_memremap_pages(&b), -ENOMEM);
	ASSERT_STREQ(last_msg, "Conflicting mapping in same section");
	ASSERT_NULL(b.priv);
	init_private(&b, start + 128 * MiB, 64 * MiB);	/* adjacent is fine */
	ASSERT_EQ(uhmm_memremap_pages(&b), 0);
	uhmm_memunmap_pages(&a);
	init_private(&a, start, 128 * MiB);		/* free again after unmap */
	ASSERT_EQ(uhmm_memremap_pages(&a), 0);
	uhmm_memunmap_pages(&a);
	uhmm_memunmap_pages(&b);
}

TEST(multi_range_pgmap_and_failure_midway_leaves_nothing)
{
	struct uhmm_dev_pagemap *pgmap = calloc(1, sizeof(*pgmap));
	struct uhmm_dev_pagemap blocker, *found;
	uint64_t start = free_range(512 * MiB);
	struct uhmm_range ranges[3];
	int i;

	uhmm_set_log_level(0);
	pgmap->type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap->ops = &ops;
	pgmap->owner = pgmap;
	pgmap->nr_range = 3;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -EINVAL);	/* three ranges, no array */
	for (i = 0; i < 3; i++) {
		ranges[i].start = start + i * 128 * MiB;
		ranges[i].end = ranges[i].start + 64 * MiB - 1;
	}
	pgmap->ranges = ranges;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), 0);
	ASSERT_EQ(uhmm_pgmap_pfn_first(pgmap, 2), UHMM_PHYS_PFN(ranges[2].start));
	for (i = 0; i < 3; i++) {
		found = uhmm_get_dev_pagemap(UHMM_PHYS_PFN(ranges[i].start) + 5);
		ASSERT_TRUE(found == pgmap);
		uhmm_put_dev_pagemap(found);
		ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(ranges[i].end) + 1));
	}
	uhmm_memunmap_pages(pgmap);

	/* Range 2 collides with another pgmap: ranges 0 and 1 must be undone. */
	init_private(&blocker, ranges[2].start, 2 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&blocker), 0);
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -ENOMEM);
	ASSERT_NULL(pgmap->priv);
	ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(ranges[0].start)));
	ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(ranges[1].start)));
	found = uhmm_get_dev_pagemap(UHMM_PHYS_PFN(ranges[2].start));
	ASSERT_TRUE(found == &blocker);
	uhmm_put_dev_pagemap(found);
	uhmm_memunmap_pages(&blocker);
	free(pgmap);
}

TEST(page_lifecycle_private)
{
	struct uhmm_dev_pagemap pgmap;
	uint64_t start = free_range(64 * MiB);
	struct uhmm_page *page;
	unsigned long warns;

	init_private(&pgmap, start, 64 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	page = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 3);

	ASSERT_EQ(uhmm_zone_device_page_init(page), 0);
	ASSERT_EQ(uhmm_page_ref_count(page), 1);
	ASSERT_TRUE(uhmm_page_locked(page));
	ASSERT_FALSE(uhmm_trylock_page(page));
	ASSERT_EQ(uhmm_zone_device_page_init(page), -EBUSY);	/* not idle */
	uhmm_unlock_page(page);
	ASSERT_FALSE(uhmm_page_locked(page));

	uhmm_get_page(page);
	ASSERT_EQ(uhmm_page_ref_count(page), 2);
	uhmm_put_page(page);
	ASSERT_EQ(atomic_load(&frees), 0);
	uhmm_put_page(page);
	ASSERT_EQ(atomic_load(&frees), 1);
	ASSERT_TRUE(last_freed == page);
	ASSERT_EQ(uhmm_page_ref_count(page), 0);

	uhmm_set_log_level(0);
	warns = uhmm_warn_count();
	uhmm_put_page(page);		/* underflow: WARN, ignored */
	uhmm_get_page(page);		/* get on a free page: WARN, ignored */
	ASSERT_EQ(uhmm_warn_count(), warns + 2);
	ASSERT_EQ(uhmm_page_ref_count(page), 0);
	ASSERT_EQ(atomic_load(&frees), 1);

	/* The page can be handed out again. */
	ASSERT_EQ(uhmm_zone_device_page_init(page), 0);
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	ASSERT_EQ(atomic_load(&frees), 2);
	uhmm_memunmap_pages(&pgmap);
}

TEST(generic_pages_start_at_one_and_return_to_one)
{
	struct uhmm_dev_pagemap pgmap;
	uint64_t start = free_range(64 * MiB);
	struct uhmm_page *page;

	memset(&pgmap, 0, sizeof(pgmap));
	pgmap.type = UHMM_MEMORY_DEVICE_GENERIC;
	pgmap.range.start = start;
	pgmap.range.end = start + 64 * MiB - 1;
	pgmap.nr_range = 1;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	page = uhmm_pfn_to_page(UHMM_PHYS_PFN(start));
	ASSERT_EQ(uhmm_page_ref_count(page), 1);
	ASSERT_EQ(uhmm_zone_device_page_init(page), -EINVAL);
	uhmm_get_page(page);
	uhmm_put_page(page);
	uhmm_put_page(page);		/* to zero: reset to one, no page_free */
	ASSERT_EQ(uhmm_page_ref_count(page), 1);
	ASSERT_EQ(atomic_load(&frees), 0);
	uhmm_memunmap_pages(&pgmap);	/* generic pages do not block shutdown */
	ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(start)));
}

struct unmapper {
	struct uhmm_dev_pagemap *pgmap;
	atomic_int done;
};

static void *do_unmap(void *arg)
{
	struct unmapper *u = arg;

	uhmm_memunmap_pages(u->pgmap);
	atomic_store(&u->done, 1);
	return NULL;
}

TEST(unmap_waits_for_every_page_and_refuses_new_users)
{
	struct uhmm_dev_pagemap pgmap, *found;
	uint64_t start = free_range(64 * MiB);
	struct uhmm_page *held, *other;
	struct unmapper u = { .pgmap = &pgmap };
	pthread_t thr;

	init_private(&pgmap, start, 64 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	held = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 10);
	other = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 11);
	ASSERT_EQ(uhmm_zone_device_page_init(held), 0);
	uhmm_unlock_page(held);
	found = uhmm_get_dev_pagemap(UHMM_PHYS_PFN(start));	/* a lookup reference too */
	ASSERT_TRUE(found == &pgmap);

	ASSERT_EQ(pthread_create(&thr, NULL, do_unmap, &u), 0);
	/* Wait until the kill is visible, then check what it refuses. */
	while (!uhmm_percpu_ref_is_dying(&pgmap.ref))
		usleep(1000);
	ASSERT_NULL(uhmm_get_dev_pagemap(UHMM_PHYS_PFN(start) + 1));
	ASSERT_EQ(uhmm_zone_device_page_init(other), -ENXIO);
	usleep(50 * 1000);
	ASSERT_EQ(atomic_load(&u.done), 0);	/* a page and a lookup are still held */

	uhmm_put_dev_pagemap(found);
	usleep(50 * 1000);
	ASSERT_EQ(atomic_load(&u.done), 0);	/* the page is still held */
	/* The page is still usable while held. */
	ASSERT_EQ(uhmm_page_to_pfn(held), UHMM_PHYS_PFN(start) + 10);
	uhmm_put_page(held);
	ASSERT_EQ(pthread_join(thr, NULL), 0);
	ASSERT_EQ(atomic_load(&u.done), 1);
	ASSERT_EQ(atomic_load(&frees), 1);
	ASSERT_NULL(pgmap.priv);
}

/* The unmapping thread's reports of what it waits for. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int reports;
	char last[512];			/* the latest report */
	bool freed;			/* "every page freed" came */
} wait_log = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void capture_wait_log(int level, const char *msg, void *data)
{
	(void)data;
	pthread_mutex_lock(&wait_log.lock);
	if (level == UHMM_LOG_WARNING && strstr(msg, "still waits")) {
		wait_log.reports++;
		snprintf(wait_log.last, sizeof(wait_log.last), "%s", msg);
	} else if (strstr(msg, "every page freed")) {
		wait_log.freed = true;
	}
	pthread_cond_broadcast(&wait_log.cond);
	pthread_mutex_unlock(&wait_log.lock);
}

/* Wait for a report after the first @after that contains @what; return it in @msg. */
static void wait_for_report(int after, const char *what, char *msg, size_t len)
{
	pthread_mutex_lock(&wait_log.lock);
	while (wait_log.reports <= after || !strstr(wait_log.last, what))
		pthread_cond_wait(&wait_log.cond, &wait_log.lock);
	snprintf(msg, len, "%s", wait_log.last);
	pthread_mutex_unlock(&wait_log.lock);
}

TEST(unmap_that_waits_says_which_pgmap_waits_for_what)
{
	struct uhmm_dev_pagemap pgmap, *found;
	uint64_t start = free_range(64 * MiB);
	struct unmapper u = { .pgmap = &pgmap };
	struct uhmm_page *held[2];
	char msg[512], want[256];
	pthread_t thr;
	int i;

	/* Report after 10 ms instead of 5 s, then every 40 ms. */
	ASSERT_EQ(setenv("UHMM_MEMUNMAP_WARN_MS", "10", 1), 0);
	init_private(&pgmap, start, 64 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	for (i = 0; i < 2; i++) {
		held[i] = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 3 + i);
		ASSERT_EQ(uhmm_zone_device_page_init(held[i]), 0);
		uhmm_unlock_page(held[i]);
	}
	found = uhmm_get_dev_pagemap(UHMM_PHYS_PFN(start));
	ASSERT_TRUE(found == &pgmap);
	uhmm_set_log_fn(capture_wait_log, NULL);
	ASSERT_EQ(pthread_create(&thr, NULL, do_unmap, &u), 0);

	/* A report names the pgmap, and is repeated while the wait lasts. */
	wait_for_report(1, "", msg, sizeof(msg));
	ASSERT_EQ(atomic_load(&u.done), 0);
	snprintf(want, sizeof(want), "memunmap_pages: pgmap %p [mem %#" PRIx64 "-%#" PRIx64
		 "] (device private, owner %p) still waits", (void *)&pgmap, start,
		 start + 64 * MiB - 1, (void *)&pgmap);
	printf("# %s\n", msg);
	ASSERT_TRUE(strstr(msg, want) == msg);
	ASSERT_NONNULL(strstr(msg, ": 2 pages still referenced; the driver must free (evict)"));

	/* With the pages freed, what is left is a lookup reference. */
	for (i = 0; i < 2; i++)
		uhmm_put_page(held[i]);
	pthread_mutex_lock(&wait_log.lock);
	i = wait_log.reports;
	pthread_mutex_unlock(&wait_log.lock);
	wait_for_report(i, ": 0 pages still referenced", msg, sizeof(msg));
	ASSERT_NONNULL(strstr(msg, "a uhmm_get_dev_pagemap() reference is not put"));
	ASSERT_EQ(atomic_load(&u.done), 0);

	uhmm_put_dev_pagemap(found);
	ASSERT_EQ(pthread_join(thr, NULL), 0);
	ASSERT_EQ(atomic_load(&u.done), 1);
	ASSERT_NULL(pgmap.priv);
	pthread_mutex_lock(&wait_log.lock);
	ASSERT_TRUE(wait_log.freed);
	pthread_mutex_unlock(&wait_log.lock);
	uhmm_set_log_fn(NULL, NULL);
}

static void *altmap_device_memory(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

TEST(altmap_carves_metadata_from_device_memory)
{
	const uint64_t size = 256 * MiB;
	unsigned long nr_pages = size / 4096, memmap_pfns = nr_pages * 64 / 4096;
	char *dev_mem = altmap_device_memory(size);
	uint64_t start = free_range(size);
	struct uhmm_dev_pagemap pgmap;
	struct uhmm_page *page;

	init_private(&pgmap, start, size);
	pgmap.flags = UHMM_PGMAP_ALTMAP_VALID;
	pgmap.altmap = (struct uhmm_vmem_altmap){
		.base_pfn = UHMM_PHYS_PFN(start),
		.reserve = 2,
		/* Room for the block and its alignment padding (the kernel's rule). */
		.free = 2 * memmap_pfns + 100,
		.base_addr = dev_mem,
	};
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	ASSERT_EQ(pgmap.altmap.alloc, memmap_pfns);
	/* The memmap block is aligned to its size's largest power-of-two factor. */
	ASSERT_EQ(pgmap.altmap.align, memmap_pfns - 2);
	page = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 5000);
	ASSERT_TRUE((char *)page >= dev_mem + (2 + pgmap.altmap.align) * 4096);
	ASSERT_TRUE((char *)page < dev_mem + (2 + pgmap.altmap.free) * 4096);
	ASSERT_EQ(uhmm_page_to_pfn(page), UHMM_PHYS_PFN(start) + 5000);
	/* Device pages begin after reserve + free; the altmap's own are not handed out. */
	ASSERT_EQ(uhmm_pgmap_pfn_first(&pgmap, 0), UHMM_PHYS_PFN(start) + 2 + 2 * memmap_pfns + 100);
	ASSERT_EQ(uhmm_zone_device_page_init(uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 1)), -EBUSY);
	page = uhmm_pfn_to_page(uhmm_pgmap_pfn_first(&pgmap, 0));
	ASSERT_EQ(uhmm_zone_device_page_init(page), 0);
	uhmm_unlock_page(page);
	uhmm_put_page(page);
	uhmm_memunmap_pages(&pgmap);
	ASSERT_EQ(pgmap.altmap.alloc, 0);
	munmap(dev_mem, size);
}

TEST(altmap_too_small_falls_back_to_the_heap)
{
	const uint64_t size = 64 * MiB;
	char *dev_mem = altmap_device_memory(size);
	uint64_t start = free_range(size);
	struct uhmm_dev_pagemap pgmap;
	struct uhmm_page *page;

	uhmm_set_log_fn(capture_log, NULL);
	uhmm_set_log_level(UHMM_LOG_INFO);
	init_private(&pgmap, start, size);
	pgmap.flags = UHMM_PGMAP_ALTMAP_VALID;
	pgmap.altmap = (struct uhmm_vmem_altmap){
		.base_pfn = UHMM_PHYS_PFN(start), .free = 8, .base_addr = dev_mem,
	};
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	ASSERT_TRUE(strstr(last_msg, "using the heap") != NULL);
	ASSERT_EQ(pgmap.altmap.alloc, 0);
	page = uhmm_pfn_to_page(UHMM_PHYS_PFN(start) + 100);
	ASSERT_TRUE((char *)page < dev_mem || (char *)page >= dev_mem + size);
	ASSERT_EQ(uhmm_page_to_pfn(page), UHMM_PHYS_PFN(start) + 100);
	uhmm_memunmap_pages(&pgmap);
	munmap(dev_mem, size);
}

TEST(altmap_validation)
{
	char *dev_mem = altmap_device_memory(4 * MiB);
	struct uhmm_dev_pagemap *pgmap = calloc(1, sizeof(*pgmap));
	uint64_t start = free_range(256 * MiB);
	struct uhmm_range ranges[2];

	uhmm_set_log_fn(capture_log, NULL);
	init_private(pgmap, start, 4 * MiB);
	pgmap->flags = UHMM_PGMAP_ALTMAP_VALID;
	pgmap->altmap = (struct uhmm_vmem_altmap){
		.base_pfn = UHMM_PHYS_PFN(start), .free = 64, .base_addr = dev_mem,
	};
	ranges[0] = pgmap->range;
	ranges[1].start = start + 128 * MiB;
	ranges[1].end = start + 132 * MiB - 1;
	pgmap->nr_range = 2;
	pgmap->ranges = ranges;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -EINVAL);
	ASSERT_STREQ(last_msg, "altmap not supported for multiple ranges");
	pgmap->nr_range = 1;
	pgmap->ranges = NULL;
	pgmap->altmap.base_addr = NULL;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -EINVAL);
	pgmap->altmap.base_addr = dev_mem;
	pgmap->altmap.base_pfn++;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -EINVAL);
	pgmap->altmap.base_pfn--;
	pgmap->altmap.reserve = 1000;
	pgmap->altmap.free = 100;	/* 1100 > 1024 pages */
	ASSERT_EQ(uhmm_memremap_pages(pgmap), -EINVAL);
	pgmap->altmap.reserve = 0;
	pgmap->altmap.free = 64;
	ASSERT_EQ(uhmm_memremap_pages(pgmap), 0);
	uhmm_memunmap_pages(pgmap);
	free(pgmap);
	munmap(dev_mem, 4 * MiB);
}

static int devm_probe(struct uhmm_device *dev)
{
	struct uhmm_dev_pagemap *pgmap = uhmm_devm_kzalloc(dev, sizeof(*pgmap));
	struct uhmm_resource *res;

	if (!pgmap)
		return -ENOMEM;
	res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), 128 * MiB);
	if (!res)
		return -errno;
	init_private(pgmap, res->start, 128 * MiB);
	uhmm_dev_set_drvdata(dev, pgmap);
	return uhmm_devm_memremap_pages(dev, pgmap);
}

static const struct uhmm_driver devm_driver = { .name = "devm", .probe = devm_probe };

TEST(devm_memremap_pages_is_undone_at_unbind)
{
	struct uhmm_device *dev = uhmm_device_create("mm0");
	struct uhmm_dev_pagemap *pgmap;
	unsigned long pfn;
	uint64_t start;

	ASSERT_EQ(uhmm_device_bind(dev, &devm_driver), 0);
	pgmap = uhmm_dev_get_drvdata(dev);
	start = pgmap->range.start;
	pfn = UHMM_PHYS_PFN(start);
	ASSERT_NONNULL(uhmm_pfn_to_page(pfn));
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_NULL(uhmm_pfn_to_page(pfn));
	ASSERT_EQ(uhmm_region_intersects(start, 128 * MiB, UHMM_IORESOURCE_MEM, 0),
		  UHMM_REGION_DISJOINT);

	ASSERT_EQ(uhmm_device_bind(dev, &devm_driver), 0);
	pgmap = uhmm_dev_get_drvdata(dev);
	pfn = UHMM_PHYS_PFN(pgmap->range.start);
	ASSERT_EQ(uhmm_devm_memunmap_pages(dev, pgmap), 0);
	ASSERT_NULL(uhmm_pfn_to_page(pfn));
	ASSERT_EQ(uhmm_devm_memunmap_pages(dev, pgmap), -ENOENT);
	ASSERT_EQ(uhmm_devm_memremap_pages(NULL, pgmap), -EINVAL);
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	uhmm_device_put(dev);
}

TEST(memunmap_of_unmapped_pgmap_warns)
{
	struct uhmm_dev_pagemap pgmap = { 0 };
	unsigned long warns = uhmm_warn_count();

	uhmm_set_log_level(0);
	uhmm_memunmap_pages(&pgmap);
	uhmm_memunmap_pages(NULL);
	ASSERT_EQ(uhmm_warn_count(), warns + 2);
}

struct lock_ctx {
	struct uhmm_page *page;
	long counter;		/* protected by the page lock */
	int iterations;
};

static void *lock_worker(void *arg)
{
	struct lock_ctx *c = arg;
	int i;

	for (i = 0; i < c->iterations; i++) {
		long v;

		uhmm_lock_page(c->page);
		v = c->counter;
		if ((i & 63) == 0)
			sched_yield();	/* hold the lock across a reschedule sometimes */
		c->counter = v + 1;
		uhmm_unlock_page(c->page);
	}
	return NULL;
}

TEST(page_lock_excludes_and_wakes_waiters)
{
	struct uhmm_dev_pagemap pgmap;
	uint64_t start = free_range(64 * MiB);
	struct lock_ctx c = { .iterations = 20000 };
	pthread_t thr[4];
	unsigned long warns;
	int t;

	init_private(&pgmap, start, 64 * MiB);
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	c.page = uhmm_pfn_to_page(UHMM_PHYS_PFN(start));
	for (t = 0; t < 4; t++)
		ASSERT_EQ(pthread_create(&thr[t], NULL, lock_worker, &c), 0);
	for (t = 0; t < 4; t++)
		pthread_join(thr[t], NULL);
	ASSERT_EQ(c.counter, 4 * 20000);
	ASSERT_FALSE(uhmm_page_locked(c.page));

	uhmm_set_log_level(0);
	warns = uhmm_warn_count();
	uhmm_unlock_page(c.page);	/* not locked: WARN */
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	ASSERT_TRUE(uhmm_trylock_page(c.page));
	uhmm_unlock_page(c.page);
	uhmm_memunmap_pages(&pgmap);
}
