// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * demo: the smallest device-private memory driver.  Its probe claims a free
 * physical range, maps it with devm_memremap_pages() and puts every page on
 * a free list; page_free() puts pages back.  The CPU never faults on its
 * pages (it migrates nothing), so migrate_to_ram() is never called.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

#include <uhmm/module.h>
#include <uhmm/resource.h>

#include "demo.h"

struct demo_device {
	struct uhmm_dev_pagemap pgmap;		/* first: see to_demo() */
	struct uhmm_resource *res;
	uint64_t size;
	pthread_mutex_t lock;
	struct uhmm_page *free_pages;		/* through zone_device_data; lock */
	unsigned long nr_free;			/* protected by lock */
	unsigned long nr_page_free_calls;	/* protected by lock */
};

static struct demo_device *to_demo(struct uhmm_dev_pagemap *pgmap)
{
	return (struct demo_device *)((char *)pgmap - offsetof(struct demo_device, pgmap));
}

static void demo_free_locked(struct demo_device *demo, struct uhmm_page *page)
{
	page->zone_device_data = demo->free_pages;
	demo->free_pages = page;
	demo->nr_free++;
}

static void demo_page_free(struct uhmm_page *page)
{
	struct demo_device *demo = to_demo(uhmm_page_pgmap(page));

	pthread_mutex_lock(&demo->lock);
	demo_free_locked(demo, page);
	demo->nr_page_free_calls++;
	pthread_mutex_unlock(&demo->lock);
}

static uhmm_vm_fault_t demo_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops demo_pgmap_ops = {
	.page_free = demo_page_free,
	.migrate_to_ram = demo_migrate_to_ram,
};

static void demo_destroy_lock(void *data)
{
	pthread_mutex_destroy(&((struct demo_device *)data)->lock);
}

static int demo_probe(struct uhmm_device *dev)
{
	struct demo_device *demo = uhmm_dev_get_drvdata(dev);
	unsigned long pfn;
	int ret;

	pthread_mutex_init(&demo->lock, NULL);
	ret = uhmm_devm_add_action_or_reset(dev, demo_destroy_lock, demo);
	if (ret)
		return ret;
	demo->res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), demo->size);
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
	/* Device pages start idle: the free list is the driver's allocator. */
	for (pfn = uhmm_pgmap_pfn_end(&demo->pgmap, 0);
	     pfn-- > uhmm_pgmap_pfn_first(&demo->pgmap, 0);)
		demo_free_locked(demo, uhmm_pfn_to_page(pfn));
	return 0;
}

static const struct uhmm_driver demo_driver = {
	.name = "uhmm-demo",
	.probe = demo_probe,
};

int demo_bind(struct uhmm_device *dev, uint64_t size);
int demo_bind(struct uhmm_device *dev, uint64_t size)
{
	struct demo_device *demo;

	if (!dev || !size)
		return -EINVAL;
	/* Device-managed: freed when the device is unbound or the probe fails. */
	demo = uhmm_devm_kzalloc(dev, sizeof(*demo));
	if (!demo)
		return -ENOMEM;
	demo->size = size;
	uhmm_dev_set_drvdata(dev, demo);
	return uhmm_device_bind(dev, &demo_driver);
}
EXPORT_SYMBOL_GPL(demo_bind);

struct uhmm_page *demo_alloc_page(struct uhmm_device *dev);
struct uhmm_page *demo_alloc_page(struct uhmm_device *dev)
{
	struct demo_device *demo = uhmm_dev_get_drvdata(dev);
	struct uhmm_page *page;

	pthread_mutex_lock(&demo->lock);
	page = demo->free_pages;
	if (page) {
		demo->free_pages = page->zone_device_data;
		demo->nr_free--;
	}
	pthread_mutex_unlock(&demo->lock);
	if (!page)
		return NULL;
	if (uhmm_zone_device_page_init(page)) {
		pthread_mutex_lock(&demo->lock);
		demo_free_locked(demo, page);
		pthread_mutex_unlock(&demo->lock);
		return NULL;
	}
	uhmm_unlock_page(page);
	return page;
}
EXPORT_SYMBOL_GPL(demo_alloc_page);

void demo_get_stats(struct uhmm_device *dev, struct demo_stats *stats);
void demo_get_stats(struct uhmm_device *dev, struct demo_stats *stats)
{
	struct demo_device *demo = uhmm_dev_get_drvdata(dev);

	pthread_mutex_lock(&demo->lock);
	stats->start = demo->res->start;
	stats->end = demo->res->end;
	stats->pgmap = &demo->pgmap;
	stats->nr_pages = demo->size / UHMM_PAGE_SIZE;
	stats->nr_free = demo->nr_free;
	stats->nr_page_free_calls = demo->nr_page_free_calls;
	pthread_mutex_unlock(&demo->lock);
}
EXPORT_SYMBOL_GPL(demo_get_stats);

static int demo_init(void)
{
	return 0;
}

static void demo_exit(void)
{
}

module_init(demo_init);
module_exit(demo_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("device-private memory with a free-list allocator, for uhmm demo");
MODULE_VERSION("0.1");
