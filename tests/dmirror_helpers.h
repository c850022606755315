/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for tests that drive the dmirror module, in the shape of the
 * kernel's hmm-tests.c: a buffer with a mirror, and a command call.
 */
#ifndef UHMM_TEST_DMIRROR_HELPERS_H
#define UHMM_TEST_DMIRROR_HELPERS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/uhmm.h>
#include <uhmm/module.h>

#include "dmirror/hmm_dmirror.h"
#include "harness.h"
#include "far_mmap.h"

#define HMM_PAGE	4096UL

struct dmirror_api {
	dmirror_open_fn open;
	dmirror_close_fn close;
	dmirror_ioctl_fn ioctl;
};

struct hmm_buffer {
	void *ptr;		/* the process's memory */
	void *mirror;		/* what the device read back */
	unsigned long size;
	uint64_t cpages;
	uint64_t faults;
};

/* Loads the dmirror module (once per process) and binds its commands. */
static inline struct dmirror_api dmirror_api(void)
{
	struct dmirror_api api;

	if (!uhmm_module_find("dmirror")) {
		int ret = uhmm_module_load(DMIRROR_MODULE, NULL);

		if (ret == -EOPNOTSUPP || ret == -ENOSYS)
			SKIP("dmirror cannot load here: %d", ret);
		ASSERT_EQ(ret, 0);
	}
	api.open = (dmirror_open_fn)uhmm_symbol_get("dmirror_open");
	api.close = (dmirror_close_fn)uhmm_symbol_get("dmirror_close");
	api.ioctl = (dmirror_ioctl_fn)uhmm_symbol_get("dmirror_ioctl");
	ASSERT_NONNULL(api.open);
	ASSERT_NONNULL(api.close);
	ASSERT_NONNULL(api.ioctl);
	return api;
}

/* Skips when the kernel's userfaultfd cannot run the fault engine. */
static inline void require_fault_engine(void)
{
	int ret = uhmm_mm_init();

	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		SKIP("the fault engine cannot start on this kernel (%s)", strerror(-ret));
	ASSERT_EQ(ret, 0);
}

/*
 * Whether a read fault on anonymous memory maps the shared zero page.  Some
 * kernels never do (s390's mm_forbids_zeropage(), some guests' boot
 * options): there a read fault gets a page of its own.  Two read-faulted
 * pages share a frame only if it is the zero page; without the rights to see
 * frame numbers, assume the usual kernel.
 */
static inline bool kernel_maps_zero_page(void)
{
	static int known = -1;
	uint64_t ent[2];
	volatile char *p;
	int fd;

	if (known >= 0)
		return known;
	p = mmap(NULL, 2 * HMM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_TRUE(p != MAP_FAILED && fd >= 0);
	(void)p[0];
	(void)p[HMM_PAGE];
	ASSERT_EQ(pread(fd, ent, sizeof(ent), (off_t)((uintptr_t)p / HMM_PAGE) * 8),
		  (ssize_t)sizeof(ent));
	ent[0] &= (1ULL << 55) - 1;
	ent[1] &= (1ULL << 55) - 1;
	known = !ent[0] || ent[0] == ent[1];
	close(fd);
	munmap((void *)p, 2 * HMM_PAGE);
	return known;
}

static inline struct hmm_buffer *hmm_buffer_alloc(unsigned long size, int prot, int flags)
{
	struct hmm_buffer *b = calloc(1, sizeof(*b));

	ASSERT_NONNULL(b);
	b->size = size;
	b->ptr = mmap(NULL, size, prot, flags, -1, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	b->mirror = malloc(size);
	ASSERT_NONNULL(b->mirror);
	memset(b->mirror, 0xa5, size);
	return b;
}

static inline void hmm_buffer_free(struct hmm_buffer *b)
{
	if (b->ptr)
		munmap(b->ptr, b->size);
	free(b->mirror);
	free(b);
}

static inline int hmm_dmirror_cmd(struct dmirror_api *api, int fd, unsigned long request,
				  struct hmm_buffer *b, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)b->ptr,
		.ptr = (uintptr_t)b->mirror,
		.npages = npages,
	};
	int ret = api->ioctl(fd, request, &cmd);

	if (!ret) {
		b->cpages = cmd.cpages;
		b->faults = cmd.faults;
	}
	return ret;
}

static inline struct uhmm_mm_stats mm_stats(void)
{
	struct uhmm_mm_stats s = { .size = sizeof(s) };

	ASSERT_EQ(uhmm_mm_get_stats(&s), 0);
	return s;
}

/*
 * System pages held by uhmm, once the fault engine has finished with the
 * fault that let this thread run on (it still drops its references after
 * installing the page).  Returns the count after waiting at most ~5 s for
 * it to reach 0: a leak still shows.
 */
static inline uint64_t system_pages_settled(void)
{
	int i;

	for (i = 0; i < 5000 && mm_stats().system_pages; i++)
		usleep(1000);
	return mm_stats().system_pages;
}

/* Word i of a filled buffer holds i + seed. */
static inline void fill_words(void *buf, unsigned long npages, int seed)
{
	int *p = buf;
	unsigned long i;

	for (i = 0; i < npages * HMM_PAGE / sizeof(int); i++)
		p[i] = (int)i + seed;
}

/* The process's side of a buffer, as check() expects it. */
static inline void fill(struct hmm_buffer *b, unsigned long npages, int seed)
{
	fill_words(b->ptr, npages, seed);
}

static inline void check(const void *buf, unsigned long npages, int seed)
{
	const int *p = buf;
	unsigned long i;

	for (i = 0; i < npages * HMM_PAGE / sizeof(int); i++)
		if (p[i] != (int)i + seed)
			HARNESS_FAIL("word %lu is %d, expected %d", i, p[i], (int)i + seed);
}

static inline struct dmirror_api setup(int *fd, int index)
{
	struct dmirror_api api;

	require_fault_engine();
	api = dmirror_api();
	*fd = api.open(index);
	ASSERT_GE(*fd, 0);
	return api;
}

static inline struct hmm_buffer *anon_buffer(unsigned long npages)
{
	return hmm_buffer_alloc(npages * HMM_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS);
}

/*
 * For a test that unmaps the buffer and maps it again with MAP_FIXED: far
 * from other mappings, so no other thread's mmap() lands in the hole
 * (tests/far_mmap.h).
 */
static inline struct hmm_buffer *far_buffer(unsigned long npages)
{
	struct hmm_buffer *b = anon_buffer(npages);

	munmap(b->ptr, b->size);
	b->ptr = mmap_far(b->size, PROT_READ | PROT_WRITE, 0);
	ASSERT_TRUE(b->ptr != MAP_FAILED);
	return b;
}

#endif
