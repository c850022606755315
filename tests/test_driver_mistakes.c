// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A driver's mistakes must not hang or spin silently.  Here a tiny
 * device-private driver whose migrate_to_ram() passes a pgmap_owner that is
 * not its pgmap's (a common slip): its setup selects nothing, the page
 * stays in device memory and the CPU access faults again and again.  The
 * log must say so, naming the likely cause, and the access must complete
 * with the page's data once the driver is right again.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/log.h>
#include <uhmm/memremap.h>
#include <uhmm/migrate.h>
#include <uhmm/resource.h>

#include "harness.h"

#define PAGE	4096UL
#define MiB	(1UL << 20)

static struct uhmm_dev_pagemap pgmap;
static unsigned char *devmem;		/* the device's memory, 2 MiB */
static unsigned long first_pfn;
static int wrong_owner;			/* atomic: migrate_to_ram() errs */
static int stall_warnings;		/* atomic */

static unsigned char *backing(const struct uhmm_page *page)
{
	return devmem + (page->pfn - first_pfn) * PAGE;
}

static void page_free(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	struct uhmm_migrate_vma args = {
		.src = vmf->src, .dst = vmf->dst, .start = vmf->start, .end = vmf->end,
		.pgmap_owner = __atomic_load_n(&wrong_owner, __ATOMIC_ACQUIRE) ?
			       (void *)&wrong_owner : pgmap.owner,
		.flags = UHMM_MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	unsigned long i;

	if (uhmm_migrate_vma_setup(&args))
		return UHMM_VM_FAULT_SIGBUS;
	for (i = 0; i < args.npages; i++) {
		struct uhmm_page *spage = uhmm_migrate_pfn_to_page(args.src[i]);
		struct uhmm_page *dpage;

		if (!spage || !(args.src[i] & UHMM_MIGRATE_PFN_MIGRATE))
			continue;
		dpage = uhmm_alloc_page();
		if (!dpage)
			break;	/* stays in device memory; finalize puts it back */
		uhmm_lock_page(dpage);
		memcpy(uhmm_page_address(dpage), backing(spage), PAGE);
		args.dst[i] = uhmm_migrate_pfn(dpage->pfn) | (args.src[i] & UHMM_MIGRATE_PFN_WRITE);
	}
	uhmm_migrate_vma_pages(&args);
	uhmm_migrate_vma_finalize(&args);
	return 0;
}

static const struct uhmm_dev_pagemap_ops ops = {
	.page_free = page_free,
	.migrate_to_ram = migrate_to_ram,
};

static void capture(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	if (strstr(msg, "makes no progress") && strstr(msg, "pgmap_owner"))
		__atomic_add_fetch(&stall_warnings, 1, __ATOMIC_RELEASE);
}

/* Moves the page at @addr to the device's first page. */
static void migrate_to_device(unsigned char *addr)
{
	unsigned long src = 0, dst = 0;
	struct uhmm_migrate_vma args = {
		.src = &src, .dst = &dst,
		.start = (uintptr_t)addr, .end = (uintptr_t)addr + PAGE,
		.flags = UHMM_MIGRATE_VMA_SELECT_SYSTEM,
	};
	struct uhmm_page *dpage = uhmm_pfn_to_page(first_pfn);

	ASSERT_EQ(uhmm_migrate_vma_setup(&args), 0);
	ASSERT_EQ(args.cpages, 1);
	ASSERT_TRUE(src & UHMM_MIGRATE_PFN_MIGRATE);
	ASSERT_EQ(uhmm_zone_device_page_init(dpage), 0);
	memcpy(backing(dpage), uhmm_page_address(uhmm_migrate_pfn_to_page(src)), PAGE);
	dst = uhmm_migrate_pfn(dpage->pfn) | UHMM_MIGRATE_PFN_WRITE;
	uhmm_migrate_vma_pages(&args);
	ASSERT_TRUE(src & UHMM_MIGRATE_PFN_MIGRATE);
	uhmm_migrate_vma_finalize(&args);
}

static void *touch(void *arg)
{
	const volatile unsigned char *p = arg;
	unsigned long i, bad = 0;

	for (i = 0; i < PAGE; i++)
		bad += p[i] != (unsigned char)(i * 7 + 3);
	return (void *)bad;
}

TEST(a_fault_without_progress_is_logged_with_its_likely_cause)
{
	struct uhmm_resource *res;
	unsigned char *buf;
	unsigned long i;
	void *bad;
	pthread_t t;
	int ret;

	ret = uhmm_mm_init();
	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		SKIP("the fault engine cannot start on this kernel (%s)", strerror(-ret));
	ASSERT_EQ(ret, 0);
	res = uhmm_request_free_mem_region(uhmm_iomem_resource(), 2 * MiB, "mistakes");
	ASSERT_NONNULL(res);
	devmem = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(devmem != MAP_FAILED);
	pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap.range.start = res->start;
	pgmap.range.end = res->start + 2 * MiB - 1;
	pgmap.nr_range = 1;
	pgmap.ops = &ops;
	pgmap.owner = &pgmap;
	ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
	first_pfn = uhmm_pgmap_pfn_first(&pgmap, 0);

	buf = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(buf != MAP_FAILED);
	for (i = 0; i < PAGE; i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	migrate_to_device(buf);

	uhmm_set_log_fn(capture, NULL);
	__atomic_store_n(&wrong_owner, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_create(&t, NULL, touch, buf), 0);
	for (i = 0; i < 5000 && !__atomic_load_n(&stall_warnings, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	ASSERT_GE(__atomic_load_n(&stall_warnings, __ATOMIC_ACQUIRE), 1);
	{
		struct uhmm_mm_stats st = { .size = sizeof(st) };

		ASSERT_EQ(uhmm_mm_get_stats(&st), 0);
		ASSERT_GE(st.fault_stalls, 1);
		ASSERT_EQ(st.fault_errors, 0);	/* no progress is not an error */
	}

	/* The driver mended: the access completes, with the device's data. */
	__atomic_store_n(&wrong_owner, 0, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_join(t, &bad), 0);
	ASSERT_EQ((unsigned long)bad, 0);
	uhmm_set_log_fn(NULL, NULL);
	/* The device page is freed (its last puts may be deferred a moment). */
	for (i = 0; i < 5000 && uhmm_page_ref_count(uhmm_pfn_to_page(first_pfn)); i++)
		usleep(1000);
	ASSERT_EQ(uhmm_page_ref_count(uhmm_pfn_to_page(first_pfn)), 0);
	uhmm_memunmap_pages(&pgmap);
	munmap(buf, PAGE);
}
