// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `uhmm demo`: a guided tour of the memremap core.  A small driver maps a
 * multi-GiB device-private range, hands pages out and takes them back, and
 * then the device is unbound while a page is still in use, to show that
 * shutdown waits for it and then releases everything.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "uhmm.h"

#define DEMO_SIZE	(UINT64_C(4) << 30)	/* 4 GiB of device memory */
#define DEMO_ALLOC	1024			/* pages handed out */
#define HOLD_MS		300			/* how long the last page is kept */

struct demo_device {
	struct uhmm_dev_pagemap pgmap;		/* first: see to_demo() */
	struct uhmm_resource *res;
	pthread_mutex_t lock;
	struct uhmm_page *free_pages;		/* linked through zone_device_data */
	unsigned long nr_free;			/* protected by lock */
	unsigned long nr_page_free_calls;	/* protected by lock */
};

static struct demo_device *to_demo(struct uhmm_dev_pagemap *pgmap)
{
	return (struct demo_device *)((char *)pgmap - offsetof(struct demo_device, pgmap));
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void demo_page_free(struct uhmm_page *page)
{
	struct demo_device *demo = to_demo(uhmm_page_pgmap(page));

	pthread_mutex_lock(&demo->lock);
	page->zone_device_data = demo->free_pages;
	demo->free_pages = page;
	demo->nr_free++;
	demo->nr_page_free_calls++;
	pthread_mutex_unlock(&demo->lock);
}

/* The demo never migrates pages, so the CPU can never fault on one. */
static uhmm_vm_fault_t demo_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops demo_pgmap_ops = {
	.page_free = demo_page_free,
	.migrate_to_ram = demo_migrate_to_ram,
};

static struct uhmm_page *demo_alloc_page(struct demo_device *demo)
{
	struct uhmm_page *page;

	pthread_mutex_lock(&demo->lock);
	page = demo->free_pages;
	if (page) {
		demo->free_pages = page->zone_device_data;
		demo->nr_free--;
	}
	pthread_mutex_unlock(&demo->lock);
	if (page && uhmm_zone_device_page_init(page)) {
		demo_page_free(page);
		return NULL;
	}
	if (page)
		uhmm_unlock_page(page);
	return page;
}

static int demo_probe(struct uhmm_device *dev)
{
	struct demo_device *demo;
	unsigned long pfn;
	int ret;

	demo = uhmm_devm_kzalloc(dev, sizeof(*demo));
	if (!demo)
		return -ENOMEM;
	pthread_mutex_init(&demo->lock, NULL);

	demo->res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), DEMO_SIZE);
	if (!demo->res)
		return -errno;

	demo->pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	demo->pgmap.range.start = demo->res->start;
	demo->pgmap.range.end = demo->res->end;
	demo->pgmap.nr_range = 1;
	demo->pgmap.ops = &demo_pgmap_ops;
	demo->pgmap.owner = demo;
	ret = uhmm_devm_memremap_pages(dev, &demo->pgmap);
	if (ret)
		return ret;

	/* Device pages start idle; put them on the driver's free list. */
	for (pfn = uhmm_pgmap_pfn_end(&demo->pgmap, 0);
	     pfn-- > uhmm_pgmap_pfn_first(&demo->pgmap, 0);) {
		struct uhmm_page *page = uhmm_pfn_to_page(pfn);

		page->zone_device_data = demo->free_pages;
		demo->free_pages = page;
		demo->nr_free++;
	}
	uhmm_dev_set_drvdata(dev, demo);
	return 0;
}

static const struct uhmm_driver demo_driver = {
	.name = "uhmm-demo",
	.probe = demo_probe,
};

static void *release_later(void *arg)
{
	usleep(HOLD_MS * 1000);
	uhmm_put_page(arg);
	return NULL;
}

static void show_iomem(const char *when)
{
	printf("\n  iomem %s:\n", when);
	fflush(stdout);
	uhmm_iomem_print(stdout);
}

int cmd_demo(int argc, char **argv)
{
	struct uhmm_page *pages[DEMO_ALLOC], *held;
	struct uhmm_dev_pagemap *found;
	struct demo_device *demo;
	struct uhmm_device *dev;
	double t0, t_map, t_unbind;
	unsigned long pfn, i;
	pthread_t releaser;
	int ret;

	(void)argc;
	(void)argv;
	printf("uhmm demo: device memory with per-page metadata (memremap_pages)\n");
	printf("\n1. host memory is System RAM in uhmm's address space: %.1f GiB\n",
	       uhmm_system_ram_size() / (double)(1 << 30));

	dev = uhmm_device_create("demo0");
	if (!dev) {
		perror("uhmm_device_create");
		return 1;
	}
	t0 = now_ms();
	ret = uhmm_device_bind(dev, &demo_driver);
	t_map = now_ms() - t0;
	if (ret) {
		fprintf(stderr, "bind failed: %s\n", strerror(-ret));
		return 1;
	}
	demo = uhmm_dev_get_drvdata(dev);
	printf("\n2. device %s bound to %s: %" PRIu64 " GiB device-private range mapped in %.1f ms\n",
	       uhmm_dev_name(dev), uhmm_device_driver(dev)->name, DEMO_SIZE >> 30, t_map);
	printf("   pages: %lu, metadata: %zu bytes each, %lu free on the driver's list\n",
	       (unsigned long)(DEMO_SIZE / UHMM_PAGE_SIZE), sizeof(struct uhmm_page), demo->nr_free);
	printf("   device-managed resources held: %u (region, pgmap, driver memory)\n",
	       uhmm_devres_count(dev));
	show_iomem("with the device bound");

	pfn = UHMM_PHYS_PFN(demo->res->start) + 12345;
	found = uhmm_get_dev_pagemap(pfn);
	printf("\n3. lookup: pfn %#lx belongs to %s pgmap (type %d)\n", pfn,
	       found == &demo->pgmap ? "the demo's" : "an unexpected", found ? (int)found->type : -1);
	uhmm_put_dev_pagemap(found);
	printf("   lookup of a System RAM pfn finds %s\n",
	       uhmm_get_dev_pagemap(1) ? "a pgmap (wrong!)" : "no pgmap, as it should");

	for (i = 0; i < DEMO_ALLOC; i++) {
		pages[i] = demo_alloc_page(demo);
		if (!pages[i]) {
			fprintf(stderr, "allocation %lu failed\n", i);
			return 1;
		}
	}
	printf("\n4. allocated %d pages (refcount %d each), %lu left free\n", DEMO_ALLOC,
	       uhmm_page_ref_count(pages[0]), demo->nr_free);
	uhmm_get_page(pages[0]);
	printf("   an extra reference on pfn %#lx: refcount %d\n",
	       uhmm_page_to_pfn(pages[0]), uhmm_page_ref_count(pages[0]));
	for (i = 0; i < DEMO_ALLOC; i++)
		uhmm_put_page(pages[i]);
	printf("   every page put once: the free hook ran %lu times, %lu free;\n",
	       demo->nr_page_free_calls, demo->nr_free);
	printf("   pfn %#lx is still held (refcount %d)\n", uhmm_page_to_pfn(pages[0]),
	       uhmm_page_ref_count(pages[0]));

	held = pages[0];
	printf("\n5. unbinding while pfn %#lx is in use; a thread puts it after %d ms\n",
	       uhmm_page_to_pfn(held), HOLD_MS);
	if (pthread_create(&releaser, NULL, release_later, held)) {
		fprintf(stderr, "pthread_create failed\n");
		return 1;
	}
	t0 = now_ms();
	uhmm_device_unbind(dev);
	t_unbind = now_ms() - t0;
	pthread_join(releaser, NULL);
	printf("   unbind returned after %.0f ms: memunmap_pages waited for the last page\n",
	       t_unbind);
	printf("   device-managed resources left: %u; device bound: %s\n",
	       uhmm_devres_count(dev), uhmm_device_driver(dev) ? "yes" : "no");
	printf("   lookup of pfn %#lx now finds %s\n", pfn,
	       uhmm_get_dev_pagemap(pfn) ? "a pgmap (wrong!)" : "nothing");
	show_iomem("after unbind");

	uhmm_device_put(dev);
	printf("\ndone.\n");
	return 0;
}
