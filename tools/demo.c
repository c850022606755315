// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `uhmm demo`: a guided tour.  Loads the demo driver module through the
 * module loader, binds a device to it (which maps a multi-GiB device-private
 * range), hands pages out and takes them back, then unbinds the device while
 * a page is still in use, to show that shutdown waits for it and then
 * releases everything, and unloads the module.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/module.h>
#include <uhmm/uhmm.h>

#include "demo/demo.h"
#include "dmirror/hmm_dmirror.h"
#include "uhmm.h"

#define DEMO_SIZE	(UINT64_C(4) << 30)	/* 4 GiB of device memory */
#define DEMO_ALLOC	1024			/* pages handed out */
#define HOLD_MS		300			/* how long the last page is kept */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

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

static void print_message(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	printf("   uhmm: %s\n", msg);
}

struct demo_api {
	demo_bind_fn bind;
	demo_alloc_page_fn alloc_page;
	demo_get_stats_fn get_stats;
};

static int demo_api_get(struct demo_api *api)
{
	api->bind = (demo_bind_fn)uhmm_symbol_get("demo_bind");
	api->alloc_page = (demo_alloc_page_fn)uhmm_symbol_get("demo_alloc_page");
	api->get_stats = (demo_get_stats_fn)uhmm_symbol_get("demo_get_stats");
	return api->bind && api->alloc_page && api->get_stats ? 0 : -ENOENT;
}

static void demo_api_put(void)
{
	uhmm_symbol_put("demo_bind");
	uhmm_symbol_put("demo_alloc_page");
	uhmm_symbol_put("demo_get_stats");
}

#define MIGRATE_MIB	64

static struct uhmm_mm_stats mm_stats(void)
{
	struct uhmm_mm_stats s = { .size = sizeof(s) };

	uhmm_mm_get_stats(&s);
	return s;
}

/* Part three: the device mirrors the buffer and reads it; munmap empties the mirror. */
static unsigned long demo_mirror(dmirror_ioctl_fn ioctl_fn, int fd, void *buf, unsigned long len)
{
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)buf, .npages = len >> 12 };
	char *copy = malloc(len);
	unsigned long bad = 0;
	double t0, t;
	int round, ret;

	printf("\n10. mirroring: the device reads the buffer through its own page table\n");
	if (!copy)
		return 1;
	memset(copy, 0, len);
	cmd.ptr = (uintptr_t)copy;
	for (round = 0; round < 2; round++) {
		cmd.cpages = cmd.faults = 0;
		t0 = now_ms();
		ret = ioctl_fn(fd, HMM_DMIRROR_READ, &cmd);
		t = now_ms() - t0;
		if (ret) {
			fprintf(stderr, "uhmm demo: READ: %s\n", strerror(-ret));
			free(copy);
			return 1;
		}
		printf("   HMM_DMIRROR_READ: %" PRIu64 " pages in %.1f ms (%.2f GiB/s), %" PRIu64
		       " fault round(s) (hmm_range_fault)%s\n", (uint64_t)cmd.cpages, t,
		       len / (t / 1e3) / (1 << 30), (uint64_t)cmd.faults,
		       round ? ": the mirror was still valid" : " to fill the mirror");
	}
	bad = memcmp(copy, buf, len) != 0;
	printf("   what the device read equals the buffer: %s\n", bad ? "NO" : "yes");
	munmap(buf, len);
	ret = ioctl_fn(fd, HMM_DMIRROR_READ, &cmd);
	printf("   after munmap() the notifier emptied the mirror; READ now fails: %s\n",
	       strerror(-ret));
	free(copy);
	return bad + (ret != -EFAULT);
}

/* Part two: a buffer moves to dmirror's device memory and faults back. */
static int demo_migration(void)
{
	unsigned long len = (unsigned long)MIGRATE_MIB << 20, i, bad = 0;
	struct uhmm_mm_stats s0, s1, s2;
	struct hmm_dmirror_cmd cmd;
	dmirror_open_fn open_fn;
	dmirror_ioctl_fn ioctl_fn;
	dmirror_close_fn close_fn;
	char path[PATH_MAX];
	double t0, t_dev, t_back;
	uint64_t *buf, sum = 0;
	int ret, fd;

	printf("\n9. device-private memory: the dmirror test device\n");
	ret = uhmm_mm_init();
	if (ret) {
		printf("   skipped: the fault engine cannot start here (%s)\n", strerror(-ret));
		return 0;
	}
	ret = find_module_file("dmirror", path, sizeof(path));
	if (ret || (ret = uhmm_module_load(path, NULL))) {
		fprintf(stderr, "uhmm demo: cannot load dmirror: %s\n", strerror(-ret));
		return 1;
	}
	open_fn = (dmirror_open_fn)uhmm_symbol_get("dmirror_open");
	ioctl_fn = (dmirror_ioctl_fn)uhmm_symbol_get("dmirror_ioctl");
	close_fn = (dmirror_close_fn)uhmm_symbol_get("dmirror_close");
	fd = open_fn ? open_fn(0) : -ENOENT;
	if (fd < 0 || !ioctl_fn || !close_fn) {
		fprintf(stderr, "uhmm demo: dmirror: %s\n", strerror(-fd));
		return 1;
	}
	buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (i = 0; i < len / 8; i++)
		buf[i] = i * 2654435761u;
	printf("   a %d MiB buffer of ordinary anonymous memory, filled by the CPU\n",
	       MIGRATE_MIB);

	s0 = mm_stats();
	cmd = (struct hmm_dmirror_cmd){ .addr = (uintptr_t)buf, .npages = len >> 12 };
	t0 = now_ms();
	ret = ioctl_fn(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
	t_dev = now_ms() - t0;
	s1 = mm_stats();
	if (ret) {
		fprintf(stderr, "uhmm demo: MIGRATE_TO_DEV: %s\n", strerror(-ret));
		return 1;
	}
	printf("   HMM_DMIRROR_MIGRATE_TO_DEV: %" PRIu64 " pages to device memory in %.1f ms "
	       "(%.2f GiB/s); %" PRIu64 " now in device memory\n",
	       s1.pages_to_device - s0.pages_to_device, t_dev,
	       len / (t_dev / 1e3) / (1 << 30), (uint64_t)cmd.cpages);

	t0 = now_ms();
	for (i = 0; i < len / 8; i++) {
		sum += buf[i];
		bad += buf[i] != i * 2654435761u;
	}
	t_back = now_ms() - t0;
	s2 = mm_stats();
	printf("   the CPU reads it all: %" PRIu64 " faults, each bringing back a 64 KiB block: "
	       "%" PRIu64 " pages (%" PRIu64 " MiB) back in %.1f ms\n",
	       s2.faults - s1.faults, s2.pages_to_ram - s1.pages_to_ram,
	       (s2.pages_to_ram - s1.pages_to_ram) >> 8, t_back);
	printf("   every word as written: %s (checksum %#" PRIx64 ")\n",
	       bad ? "NO" : "yes", sum);
	bad += demo_mirror(ioctl_fn, fd, buf, len);
	close_fn(fd);
	uhmm_symbol_put("dmirror_open");
	uhmm_symbol_put("dmirror_ioctl");
	uhmm_symbol_put("dmirror_close");
	return bad ? 1 : 0;
}

int cmd_demo(int argc, char **argv)
{
	struct uhmm_page *pages[DEMO_ALLOC], *held;
	struct uhmm_dev_pagemap *found;
	struct uhmm_module *mod;
	struct uhmm_device *dev;
	struct demo_stats st;
	struct demo_api api;
	char path[PATH_MAX], taint[32];
	double t0, t_map, t_unbind;
	unsigned long pfn, i;
	pthread_t releaser;
	int ret;

	if (argc > 1) {
		fprintf(stderr, "uhmm demo: unexpected argument '%s'\n", argv[1]);
		return usage_error("demo");
	}
	printf("uhmm demo: device memory with per-page metadata (memremap_pages)\n");
	printf("\n1. host memory is System RAM in uhmm's address space: %.1f GiB\n",
	       uhmm_system_ram_size() / (double)(1 << 30));

	if (find_module_file("demo", path, sizeof(path))) {
		fprintf(stderr, "uhmm demo: the demo module is not built or installed\n");
		return 1;
	}
	uhmm_set_log_fn(print_message, NULL);
	ret = uhmm_module_load(path, &mod);
	if (ret || demo_api_get(&api)) {
		fprintf(stderr, "uhmm demo: loading %s failed: %s\n", path, strerror(-ret));
		return 1;
	}
	printf("\n2. loaded module %s (license %s): %s\n   %s, %zu imports checked against "
	       "libuhmm's export table\n", uhmm_module_name(mod),
	       uhmm_module_info(mod)->license, path,
	       uhmm_print_tainted(taint, sizeof(taint)), uhmm_module_info(mod)->nr_imports);

	dev = uhmm_device_create("demo0");
	if (!dev) {
		perror("uhmm_device_create");
		return 1;
	}
	t0 = now_ms();
	ret = api.bind(dev, DEMO_SIZE);
	t_map = now_ms() - t0;
	if (ret) {
		fprintf(stderr, "bind failed: %s\n", strerror(-ret));
		return 1;
	}
	api.get_stats(dev, &st);
	printf("\n3. device %s bound to %s: %" PRIu64 " GiB device-private range mapped in "
	       "%.1f ms\n", uhmm_dev_name(dev), uhmm_device_driver(dev)->name, DEMO_SIZE >> 30,
	       t_map);
	printf("   pages: %lu, metadata: %zu bytes each, %lu free on the driver's list\n",
	       st.nr_pages, sizeof(struct uhmm_page), st.nr_free);
	printf("   device-managed resources held: %u; the module is pinned by %d users\n",
	       uhmm_devres_count(dev), uhmm_module_refcount(mod));
	show_iomem("with the device bound");

	pfn = UHMM_PHYS_PFN(st.start) + 12345;
	found = uhmm_get_dev_pagemap(pfn);
	printf("\n4. lookup: pfn %#lx belongs to %s pgmap (type %d)\n", pfn,
	       found == st.pgmap ? "the demo's" : "an unexpected", found ? (int)found->type : -1);
	uhmm_put_dev_pagemap(found);
	printf("   lookup of a System RAM pfn finds %s\n",
	       uhmm_get_dev_pagemap(1) ? "a pgmap (wrong!)" : "no pgmap, as it should");

	for (i = 0; i < DEMO_ALLOC; i++) {
		pages[i] = api.alloc_page(dev);
		if (!pages[i]) {
			fprintf(stderr, "allocation %lu failed\n", i);
			return 1;
		}
	}
	api.get_stats(dev, &st);
	printf("\n5. allocated %d pages (refcount %d each), %lu left free\n", DEMO_ALLOC,
	       uhmm_page_ref_count(pages[0]), st.nr_free);
	uhmm_get_page(pages[0]);
	printf("   an extra reference on pfn %#lx: refcount %d\n",
	       uhmm_page_to_pfn(pages[0]), uhmm_page_ref_count(pages[0]));
	for (i = 0; i < DEMO_ALLOC; i++)
		uhmm_put_page(pages[i]);
	api.get_stats(dev, &st);
	printf("   every page put once: the free hook ran %lu times, %lu free;\n",
	       st.nr_page_free_calls, st.nr_free);
	printf("   pfn %#lx is still held (refcount %d)\n", uhmm_page_to_pfn(pages[0]),
	       uhmm_page_ref_count(pages[0]));

	held = pages[0];
	demo_api_put();		/* done with the driver's functions */
	printf("\n6. unloading the module now is refused while its device is bound:\n");
	ret = uhmm_module_unload(mod);
	printf("   uhmm_module_unload: %s\n", strerror(-ret));
	printf("\n7. unbinding while pfn %#lx is in use; a thread puts it after %d ms\n",
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

	ret = uhmm_module_unload(mod);
	printf("\n8. module unloaded: %s\n", ret ? strerror(-ret) : "yes, its exit ran");
	if (ret)
		return 1;
	ret = demo_migration();
	printf("\ndone.\n");
	return ret;
}
