// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The migration policy (struct uhmm_migrate_policy): the fault-around window
 * that grows on sequential and dense faults and stays small on random ones,
 * thrashing detection, the options struct and UHMM_MIGRATE_POLICY.  Each test
 * runs in its own process, so each starts with the environment's policy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dmirror_helpers.h"

#define BLOCK		(2UL << 20)
#define BLOCK_PAGES	(BLOCK / HMM_PAGE)

/* @nblocks 2 MiB blocks, 2 MiB-aligned, so that the window's blocks are the buffer's. */
static struct hmm_buffer *aligned_buffer(unsigned long nblocks)
{
	struct hmm_buffer *b = anon_buffer(1);
	unsigned long len = nblocks * BLOCK;
	char *p;

	munmap(b->ptr, b->size);
	free(b->mirror);
	p = mmap(NULL, len + BLOCK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	b->ptr = (void *)(((uintptr_t)p + BLOCK - 1) & ~(BLOCK - 1));
	if ((char *)b->ptr > p)
		munmap(p, (char *)b->ptr - p);
	munmap((char *)b->ptr + len, p + BLOCK - (char *)b->ptr);
	b->size = len;
	b->mirror = malloc(len);
	ASSERT_NONNULL(b->mirror);
	return b;
}

static struct uhmm_migrate_policy policy_now(void)
{
	struct uhmm_migrate_policy p = { .size = sizeof(p) };

	ASSERT_EQ(uhmm_get_migrate_policy(&p), 0);
	return p;
}

static char last_log[512];

static void capture_log(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* The defaults, and every bad policy refused with the kernel's codes and a reason. */
TEST(policy_defaults_and_bad_input)
{
	struct uhmm_migrate_policy p = policy_now(), d = p;
	struct { struct uhmm_migrate_policy p; uint64_t extra; } big;
	struct { uint64_t size, window_min, window_max; } old;

	ASSERT_EQ(p.size, sizeof(p));
	ASSERT_EQ(p.window_min, HMM_PAGE);
	ASSERT_EQ(p.window_max, BLOCK);
	ASSERT_EQ(p.thrash_threshold, 3);
	ASSERT_EQ(p.thrash_lapse_us, 500);
	ASSERT_EQ(p.thrash_pin_ms, 0);

	uhmm_set_log_fn(capture_log, NULL);
	ASSERT_EQ(uhmm_set_migrate_policy(NULL), -EINVAL);
	ASSERT_STREQ(last_log, "set_migrate_policy: no policy");
	p.size = 8;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "size too small") != NULL);
	p = d;
	p.window_min = 3 * HMM_PAGE;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "window_min is not a power of two") != NULL);
	p.window_min = 512;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	p = d;
	p.window_max = 2 * BLOCK;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "window_max is not a power of two up to 2 MiB") != NULL);
	p = d;
	p.window_min = 64 * HMM_PAGE;
	p.window_max = 16 * HMM_PAGE;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	ASSERT_TRUE(strstr(last_log, "larger than window_max") != NULL);
	p = d;
	p.thrash_lapse_us = 0;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);
	p = d;
	p.reserved = 1;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), -EINVAL);

	/* A newer caller's larger struct: its unknown bytes must be zero. */
	memset(&big, 0, sizeof(big));
	big.p = d;
	big.p.size = sizeof(big);
	ASSERT_EQ(uhmm_set_migrate_policy(&big.p), 0);
	big.extra = 1;
	ASSERT_EQ(uhmm_set_migrate_policy(&big.p), -E2BIG);
	uhmm_set_log_fn(NULL, NULL);

	/* An older caller sets what it knows; the rest keeps its value. */
	p = d;
	p.thrash_threshold = 7;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), 0);
	old.size = sizeof(old);
	old.window_min = 16 * HMM_PAGE;
	old.window_max = 64 * HMM_PAGE;
	ASSERT_EQ(uhmm_set_migrate_policy((struct uhmm_migrate_policy *)&old), 0);
	p = policy_now();
	ASSERT_EQ(p.window_min, 16 * HMM_PAGE);
	ASSERT_EQ(p.window_max, 64 * HMM_PAGE);
	ASSERT_EQ(p.thrash_threshold, 7);
	/* ... and reads what it knows. */
	old.window_min = old.window_max = 0;
	ASSERT_EQ(uhmm_get_migrate_policy((struct uhmm_migrate_policy *)&old), 0);
	ASSERT_EQ(old.size, sizeof(old));
	ASSERT_EQ(old.window_min, 16 * HMM_PAGE);

	/* The fixed window of uhmm_set_fault_around_bytes(). */
	ASSERT_EQ(uhmm_set_fault_around_bytes(3 * HMM_PAGE), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(2 * BLOCK), -EINVAL);
	ASSERT_EQ(uhmm_set_fault_around_bytes(32 * HMM_PAGE), 0);
	p = policy_now();
	ASSERT_EQ(p.window_min, 32 * HMM_PAGE);
	ASSERT_EQ(p.window_max, 32 * HMM_PAGE);
	ASSERT_EQ(uhmm_get_migrate_policy(NULL), -EINVAL);
}

/* Fills all of @b with @seed and migrates it to device @fd; the counters start again. */
static void on_device(struct dmirror_api *api, int fd, struct hmm_buffer *b, int seed)
{
	unsigned long npages = b->size / HMM_PAGE;

	fill(b, npages, seed);
	ASSERT_EQ(hmm_dmirror_cmd(api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, npages), 0);
	ASSERT_EQ(b->cpages, npages);
	uhmm_mm_reset_stats();
}

/* on_device(), then a read of all of @b in address order, checking every word. */
static struct uhmm_mm_stats scan(struct dmirror_api *api, int fd, struct hmm_buffer *b,
				 int seed)
{
	on_device(api, fd, b, seed);
	check(b->ptr, b->size / HMM_PAGE, seed);
	return mm_stats();
}

/*
 * A sequential read grows the window: in the first 2 MiB block it doubles
 * from one page (faults at pages 0, 1, 2, 4, ... 256: ten), and every
 * further block comes back whole with its first fault.  A fixed one-page
 * window takes a fault per page.
 */
TEST(sequential_faults_grow_the_window)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = aligned_buffer(4);
	unsigned long npages = 4 * BLOCK_PAGES;
	struct uhmm_mm_stats s;

	s = scan(&api, fd, b, 3);
	ASSERT_EQ(s.faults, 10 + 3);
	ASSERT_EQ(s.pages_to_ram, npages);
	ASSERT_EQ(s.pages_prefetched, npages - s.faults);
	ASSERT_EQ(s.fault_windows_grown, s.faults - 1);
	ASSERT_GE(s.fault_window_pages, npages);

	ASSERT_EQ(uhmm_set_fault_around_bytes(HMM_PAGE), 0);
	s = scan(&api, fd, b, 4);
	ASSERT_EQ(s.faults, npages);
	ASSERT_EQ(s.pages_prefetched, 0);
	ASSERT_EQ(s.fault_windows_grown, 0);
	ASSERT_EQ(s.fault_window_pages, npages);
	hmm_buffer_free(b);
	api.close(fd);
}

/* Faults far apart bring back their own page only, and the data is intact. */
TEST(random_faults_keep_the_window_small)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = aligned_buffer(4);
	unsigned long npages = 4 * BLOCK_PAGES, i, n = npages / 32;
	const int *words = b->ptr;
	struct uhmm_mm_stats s;

	on_device(&api, fd, b, 5);
	/* Every 32nd page, in an order that jumps about (97 is prime to n). */
	for (i = 0; i < n; i++) {
		unsigned long page = (i * 97 % n) * 32;
		unsigned long w = page * HMM_PAGE / sizeof(int);

		ASSERT_EQ(words[w], (int)w + 5);
	}
	s = mm_stats();
	ASSERT_EQ(s.faults, n);
	ASSERT_EQ(s.pages_to_ram, n);
	ASSERT_EQ(s.pages_prefetched, 0);
	ASSERT_EQ(s.fault_windows_grown, 0);
	ASSERT_EQ(s.fault_window_pages, n);
	check(b->ptr, npages, 5);
	hmm_buffer_free(b);
	api.close(fd);
}

/*
 * Dense faults: once more than half of a block is back, the next fault in
 * it brings the rest.  Every other page of one block is read first (a page
 * each, the neighbours still in device memory), then one of the others.
 */
TEST(dense_faults_bring_the_rest_of_the_block)
{
	int fd;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = aligned_buffer(1);
	const int *words = b->ptr;
	struct uhmm_mm_stats s;
	unsigned long i, w;

	on_device(&api, fd, b, 6);
	for (i = 0; i < BLOCK_PAGES; i += 2) {
		w = i * HMM_PAGE / sizeof(int);
		ASSERT_EQ(words[w], (int)w + 6);
	}
	s = mm_stats();
	ASSERT_EQ(s.faults, BLOCK_PAGES / 2);
	ASSERT_EQ(s.pages_prefetched, 0);
	/* Half back: a fault now makes the block mostly resident. */
	w = 1 * HMM_PAGE / sizeof(int);
	ASSERT_EQ(words[w], (int)w + 6);
	s = mm_stats();
	ASSERT_EQ(s.faults, BLOCK_PAGES / 2 + 1);
	ASSERT_EQ(s.pages_to_ram, BLOCK_PAGES);
	ASSERT_EQ(s.pages_prefetched, BLOCK_PAGES / 2 - 1);
	check(b->ptr, BLOCK_PAGES, 6);
	hmm_buffer_free(b);
	api.close(fd);
}

/* UHMM_MIGRATE_POLICY sets the policy before the first call. */
TEST(environment_sets_the_policy)
{
	int fd;
	struct dmirror_api api;
	struct hmm_buffer *b;
	struct uhmm_migrate_policy p;
	struct uhmm_mm_stats s;

	ASSERT_EQ(setenv("UHMM_MIGRATE_POLICY", "window_min=16K,window_max=16k,"
			 "thrash_threshold=5,thrash_lapse_us=900,thrash_pin_ms=20", 1), 0);
	api = setup(&fd, 0);
	p = policy_now();
	ASSERT_EQ(p.window_min, 16 * 1024);
	ASSERT_EQ(p.window_max, 16 * 1024);
	ASSERT_EQ(p.thrash_threshold, 5);
	ASSERT_EQ(p.thrash_lapse_us, 900);
	ASSERT_EQ(p.thrash_pin_ms, 20);
	b = aligned_buffer(1);
	s = scan(&api, fd, b, 7);
	ASSERT_EQ(s.faults, BLOCK_PAGES / 4);
	ASSERT_EQ(s.fault_window_pages, BLOCK_PAGES);
	hmm_buffer_free(b);
	api.close(fd);
}

/* A bad UHMM_MIGRATE_POLICY is logged, naming what is wrong, and the defaults stay. */
TEST(environment_bad_policy_is_refused)
{
	static const struct {
		const char *env, *why;
	} bad[] = {
		{ "window_min=3K", "window_min is not a power of two" },
		{ "window_max=4M", "window_max is not a power of two up to 2 MiB" },
		{ "window=64K", "'window=64K' is not key=number" },
		{ "window_min", "'window_min' is not key=number" },
		{ "window_min=4Q", "'window_min=4Q' is not key=number" },
		{ "thrash_pin_ms=-1", "'thrash_pin_ms=-1' is not key=number" },
		{ "thrash_threshold=99999999999", "is not key=number" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pid_t pid = fork();
		int status;

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			struct uhmm_migrate_policy p = { .size = sizeof(p) };

			setenv("UHMM_MIGRATE_POLICY", bad[i].env, 1);
			uhmm_set_log_fn(capture_log, NULL);
			if (uhmm_get_migrate_policy(&p))
				_exit(2);
			if (!strstr(last_log, bad[i].why) || !strstr(last_log, "UHMM_MIGRATE_POLICY")) {
				fprintf(stderr, "# %s: logged '%s'\n", bad[i].env, last_log);
				_exit(3);
			}
			_exit(p.window_min == HMM_PAGE && p.window_max == BLOCK &&
			      p.thrash_threshold == 3 ? 0 : 4);
		}
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
	}
}

/* One CPU/device round of a page: to the device, then read back by a fault. */
static int bounce(struct dmirror_api *api, int fd, struct hmm_buffer *b, int seed)
{
	int ret = hmm_dmirror_cmd(api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1);

	check(b->ptr, 1, seed);
	return ret;
}

/*
 * A page that bounces back and forth quickly is found thrashing after
 * thrash_threshold bounces, and, with thrash_pin_ms, stays in system memory:
 * the next migration leaves it where it is, its data intact.
 */
TEST(thrashing_is_counted_and_pinned)
{
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(1);
	struct uhmm_migrate_policy p = policy_now();
	struct uhmm_mm_stats s;

	p.thrash_threshold = 2;
	p.thrash_lapse_us = 10 * 1000 * 1000;	/* nothing here takes so long */
	p.thrash_pin_ms = 0;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), 0);
	fill(b, 1, 8);
	uhmm_mm_reset_stats();
	/* The first round is no bounce: nothing brought the page back before it. */
	for (i = 0; i < 3; i++)
		ASSERT_EQ(bounce(&api, fd, b, 8), 0);
	s = mm_stats();
	ASSERT_EQ(s.thrash_events, 1);
	ASSERT_EQ(s.thrash_pinned, 0);
	ASSERT_EQ(s.pages_to_device, 3);	/* counted only */

	p.thrash_pin_ms = 60 * 1000;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), 0);
	uhmm_mm_reset_stats();
	ASSERT_EQ(bounce(&api, fd, b, 8), 0);		/* one bounce */
	/*
	 * The second: thrashing, so the page stays; dmirror's check of what
	 * it migrated then finds it not in device memory, as the kernel's does.
	 */
	ASSERT_EQ(bounce(&api, fd, b, 8), -ENOENT);
	s = mm_stats();
	ASSERT_EQ(s.thrash_events, 1);
	ASSERT_EQ(s.thrash_pinned, 1);
	ASSERT_EQ(s.pages_to_device, 1);
	/* Pinned: the device reaches it through its mirror, the CPU without a fault. */
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, 1), -ENOENT);
	s = mm_stats();
	ASSERT_EQ(s.thrash_pinned, 2);
	ASSERT_EQ(s.pages_to_device, 1);
	ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_READ, b, 1), 0);
	check(b->mirror, 1, 8);
	check(b->ptr, 1, 8);
	ASSERT_EQ(mm_stats().faults, 1);	/* the first bounce's only */
	hmm_buffer_free(b);
	api.close(fd);
}

/* Bounces further apart than thrash_lapse_us are not thrashing. */
TEST(slow_bounces_are_not_thrashing)
{
	int fd, i;
	struct dmirror_api api = setup(&fd, 0);
	struct hmm_buffer *b = anon_buffer(1);
	struct uhmm_migrate_policy p = policy_now();

	p.thrash_threshold = 2;
	p.thrash_lapse_us = 1000;
	p.thrash_pin_ms = 60 * 1000;
	ASSERT_EQ(uhmm_set_migrate_policy(&p), 0);
	fill(b, 1, 9);
	uhmm_mm_reset_stats();
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(bounce(&api, fd, b, 9), 0);
		usleep(20 * 1000);
	}
	ASSERT_EQ(mm_stats().thrash_events, 0);
	ASSERT_EQ(mm_stats().pages_to_device, 4);
	hmm_buffer_free(b);
	api.close(fd);
}


