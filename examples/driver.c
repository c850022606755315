// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A complete device-private driver, written outside uhmm's tree against its
 * installed headers (build: cc driver.c $(pkg-config --cflags --libs uhmm)).
 *
 * Its "device memory" is 2 MiB of ordinary memory.  probe() maps it as
 * device-private pages; main() moves a buffer into it, lets the CPU fault
 * part of it back by touching it, moves it in again, and unbinds: remove()
 * evicts every page still in device memory before the pgmap goes, as a
 * driver must (the unmap waits for every page).  The buffer is checked
 * after each step.  Exit status 0 when every byte was right throughout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#define PAGE		4096UL
#define DEVMEM_SIZE	(2UL << 20)		/* one pgmap range: 2 MiB aligned */
#define NR_DEVPAGES	(DEVMEM_SIZE / PAGE)
#define BUF_PAGES	64UL

struct mydev {
	struct uhmm_dev_pagemap pgmap;
	unsigned char *mem;			/* the pages' bytes */
	unsigned long first_pfn;
	pthread_mutex_t lock;			/* protects free */
	struct uhmm_page *free;			/* idle pages, linked by zone_device_data */
};

static unsigned char *page_mem(struct mydev *md, const struct uhmm_page *page)
{
	return md->mem + (page->pfn - md->first_pfn) * PAGE;
}

static struct mydev *page_dev(const struct uhmm_page *page)
{
	return page->pgmap->owner;
}

/* A device page, locked with one reference, or NULL. */
static struct uhmm_page *mydev_alloc_page(struct mydev *md)
{
	struct uhmm_page *page;

	pthread_mutex_lock(&md->lock);
	page = md->free;
	if (page)
		md->free = page->zone_device_data;
	pthread_mutex_unlock(&md->lock);
	if (page && uhmm_zone_device_page_init(page))
		page = NULL;	/* the pgmap is going away */
	return page;
}

/* ops->page_free: the last reference is gone; the page is idle again. */
static void mydev_page_free(struct uhmm_page *page)
{
	struct mydev *md = page_dev(page);

	pthread_mutex_lock(&md->lock);
	page->zone_device_data = md->free;
	md->free = page;
	pthread_mutex_unlock(&md->lock);
}

/* Copies the collected device pages of @src into new system pages in @dst. */
static void copy_to_ram(unsigned long *src, unsigned long *dst, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src[i]);
		struct uhmm_page *dpage;

		dst[i] = 0;
		if (!spage || !(src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		dpage = uhmm_alloc_page();
		if (!dpage)
			continue;	/* stays where it is; finalize restores it */
		uhmm_lock_page(dpage);
		memcpy(uhmm_page_address(dpage), page_mem(page_dev(spage), spage), PAGE);
		dst[i] = uhmm_migrate_pfn(dpage->pfn) | (src[i] & UHMM_MIGRATE_PFN_WRITE);
	}
}

/* ops->migrate_to_ram: the CPU touched a page of ours; bring its block back. */
static uhmm_vm_fault_t mydev_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	struct uhmm_migrate_vma args = {
		.src = vmf->src, .dst = vmf->dst,
		.start = vmf->start, .end = vmf->end,
		.pgmap_owner = page_dev(vmf->page),	/* the pgmap's owner, or nothing is selected */
		.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};

	if (uhmm_migrate_vma_setup(&args))
		return UHMM_VM_FAULT_SIGBUS;
	copy_to_ram(args.src, args.dst, args.npages);
	uhmm_migrate_vma_pages(&args);
	uhmm_migrate_vma_finalize(&args);
	return 0;
}

static const struct uhmm_dev_pagemap_ops mydev_ops = {
	.page_free = mydev_page_free,
	.migrate_to_ram = mydev_migrate_to_ram,
};

static void unmap_mem(void *mem)
{
	munmap(mem, DEVMEM_SIZE);
}

static int mydev_probe(struct uhmm_device *dev)
{
	struct mydev *md = uhmm_devm_kzalloc(dev, sizeof(*md));
	struct uhmm_resource *res;
	unsigned long i;
	int ret;

	if (!md)
		return -ENOMEM;
	pthread_mutex_init(&md->lock, NULL);
	md->mem = mmap(NULL, DEVMEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (md->mem == MAP_FAILED)
		return -ENOMEM;
	ret = uhmm_devm_add_action_or_reset(dev, unmap_mem, md->mem);
	if (ret)
		return ret;
	res = uhmm_devm_request_free_mem_region(dev, uhmm_iomem_resource(), DEVMEM_SIZE);
	if (!res)
		return -errno;
	md->pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	md->pgmap.range.start = res->start;
	md->pgmap.range.end = res->end;
	md->pgmap.nr_range = 1;
	md->pgmap.ops = &mydev_ops;
	md->pgmap.owner = md;
	ret = uhmm_devm_memremap_pages(dev, &md->pgmap);	/* unmapped at unbind */
	if (ret)
		return ret;
	md->first_pfn = uhmm_pgmap_pfn_first(&md->pgmap, 0);
	for (i = NR_DEVPAGES; i-- > 0;)
		mydev_page_free(uhmm_pfn_to_page(md->first_pfn + i));
	uhmm_dev_set_drvdata(dev, md);
	return 0;
}

/* remove(): evict every page still in device memory; devres then unmaps. */
static void mydev_remove(struct uhmm_device *dev)
{
	struct mydev *md = uhmm_dev_get_drvdata(dev);
	static unsigned long src[NR_DEVPAGES], dst[NR_DEVPAGES];

	if (uhmm_migrate_device_range(src, md->first_pfn, NR_DEVPAGES))
		return;
	copy_to_ram(src, dst, NR_DEVPAGES);
	uhmm_migrate_device_pages(src, dst, NR_DEVPAGES);
	uhmm_migrate_device_finalize(src, dst, NR_DEVPAGES);
}

static const struct uhmm_driver mydev_driver = {
	.name = "mydev",
	.probe = mydev_probe,
	.remove = mydev_remove,
};

/* Moves [buf, buf + n pages) into @md's memory; returns how many pages moved. */
static unsigned long to_device(struct mydev *md, unsigned char *buf, unsigned long n)
{
	unsigned long src[BUF_PAGES], dst[BUF_PAGES], i, moved = 0;
	struct uhmm_migrate_vma args = {
		.src = src, .dst = dst,
		.start = (unsigned long)buf, .end = (unsigned long)buf + n * PAGE,
		.pgmap_owner = md,
		.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};

	if (uhmm_migrate_vma_setup(&args))
		return 0;
	for (i = 0; i < args.npages; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(src[i]);
		struct uhmm_page *dpage;

		if (!(src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		dpage = mydev_alloc_page(md);
		if (!dpage)
			continue;
		if (spage)
			memcpy(page_mem(md, dpage), uhmm_page_address(spage), PAGE);
		else
			memset(page_mem(md, dpage), 0, PAGE);	/* never touched: zeros */
		dst[i] = uhmm_migrate_pfn(dpage->pfn) | UHMM_MIGRATE_PFN_WRITE;
	}
	uhmm_migrate_vma_pages(&args);
	for (i = 0; i < args.npages; i++)
		moved += dst[i] && (src[i] & UHMM_MIGRATE_PFN_MIGRATE);
	uhmm_migrate_vma_finalize(&args);
	return moved;
}

/* Number of bytes of @buf that are not what fill() wrote. */
static unsigned long wrong_bytes(const unsigned char *buf)
{
	unsigned long i, bad = 0;

	for (i = 0; i < BUF_PAGES * PAGE; i++)
		bad += buf[i] != (unsigned char)(i / PAGE * 3 + i);
	return bad;
}

static uint64_t faults(void)
{
	struct uhmm_mm_stats st = { .size = sizeof(st) };

	return uhmm_mm_get_stats(&st) ? 0 : st.faults;
}

int main(void)
{
	struct uhmm_device *dev;
	struct mydev *md;
	unsigned char *buf;
	unsigned long i, moved, bad = 0;
	uint64_t f0;
	int ret;

	ret = uhmm_mm_init();
	if (ret) {
		fprintf(stderr, "driver: the fault engine cannot start here: %s\n", strerror(-ret));
		return 77;	/* skipped */
	}
	dev = uhmm_device_create("mydev0");
	if (!dev || (ret = uhmm_device_bind(dev, &mydev_driver))) {
		fprintf(stderr, "driver: probe failed: %s\n", strerror(dev ? -ret : errno));
		return 1;
	}
	md = uhmm_dev_get_drvdata(dev);

	buf = mmap(NULL, BUF_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	if (buf == MAP_FAILED)
		return 1;
	for (i = 0; i < BUF_PAGES * PAGE; i++)
		buf[i] = (unsigned char)(i / PAGE * 3 + i);

	moved = to_device(md, buf, BUF_PAGES);
	printf("1. moved %lu of %lu pages into device memory\n", moved, BUF_PAGES);
	f0 = faults();
	bad += wrong_bytes(buf);	/* the CPU touches them all: they come back */
	printf("2. read them back through the CPU: %llu fault(s), %s\n",
	       (unsigned long long)(faults() - f0), bad ? "WRONG BYTES" : "every byte right");

	moved = to_device(md, buf, BUF_PAGES);
	printf("3. moved %lu pages in again; unbinding (remove() evicts them)\n", moved);
	uhmm_device_unbind(dev);
	f0 = faults();
	bad += wrong_bytes(buf);
	printf("4. after unbind: %llu fault(s) to read them, %s\n",
	       (unsigned long long)(faults() - f0), bad ? "WRONG BYTES" : "every byte right");

	uhmm_device_put(dev);
	munmap(buf, BUF_PAGES * PAGE);
	return bad || !moved ? 1 : 0;
}
