// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Stress and fault injection for device-private memory.
 *
 * Stress: threads check and rewrite their own pages of a buffer while
 * another thread migrates random ranges of it to the device and back;
 * every byte is checked on every touch and at the end.
 *
 * Fault injection: the Nth system page allocation, page move, device page
 * allocation or device copy fails, for N = 1, 2, ... until an operation
 * runs without reaching N; after each failure every byte is right and no
 * system or device page is left behind.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dmirror_helpers.h"

#define STRESS_PAGES	1024UL
#define TOUCHERS	3
#define ROUNDS		5000

struct stress {
	char *buf;
	struct dmirror_api api;
	int fd;
	unsigned int version[STRESS_PAGES];
	int stop;		/* atomic */
	unsigned long errors;
};

static uint64_t word(unsigned long page, unsigned int version, unsigned long i)
{
	return ((uint64_t)page << 40) ^ ((uint64_t)version << 20) ^ i;
}

static void write_page(struct stress *s, unsigned long page, unsigned int version)
{
	uint64_t *p = (uint64_t *)(s->buf + page * HMM_PAGE);
	unsigned long i;

	for (i = 0; i < HMM_PAGE / 8; i++)
		p[i] = word(page, version, i);
	s->version[page] = version;
}

static bool page_ok(struct stress *s, unsigned long page)
{
	const uint64_t *p = (const uint64_t *)(s->buf + page * HMM_PAGE);
	unsigned long i;

	for (i = 0; i < HMM_PAGE / 8; i++)
		if (p[i] != word(page, s->version[page], i))
			return false;
	return true;
}

struct toucher_arg {
	struct stress *s;
	unsigned long id;
};

static void *toucher(void *arg)
{
	struct toucher_arg *t = arg;
	struct stress *s = t->s;
	unsigned int seed = (unsigned int)t->id * 7919 + 1;

	while (!__atomic_load_n(&s->stop, __ATOMIC_RELAXED)) {
		unsigned long page = (rand_r(&seed) % (STRESS_PAGES / TOUCHERS)) * TOUCHERS + t->id;

		if (page >= STRESS_PAGES)
			continue;
		if (!page_ok(s, page))
			__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
		if (rand_r(&seed) % 4 == 0)
			write_page(s, page, s->version[page] + 1);
	}
	return NULL;
}

TEST(threads_touch_while_pages_migrate)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct toucher_arg args[TOUCHERS];
	pthread_t th[TOUCHERS];
	unsigned int seed = 42;
	unsigned long p, i;
	int round;

	ASSERT_NONNULL(s);
	require_fault_engine();
	s->api = dmirror_api();
	s->fd = s->api.open(0);
	ASSERT_GE(s->fd, 0);
	s->buf = mmap(NULL, STRESS_PAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(s->buf != MAP_FAILED);
	for (p = 0; p < STRESS_PAGES; p++)
		write_page(s, p, 1);
	for (i = 0; i < TOUCHERS; i++) {
		args[i] = (struct toucher_arg){ .s = s, .id = i };
		ASSERT_EQ(pthread_create(&th[i], NULL, toucher, &args[i]), 0);
	}
	for (round = 0; round < ROUNDS; round++) {
		unsigned long first = rand_r(&seed) % STRESS_PAGES;
		unsigned long n = 1 + rand_r(&seed) % 64;
		struct hmm_dmirror_cmd cmd = {
			.addr = (uintptr_t)(s->buf + first * HMM_PAGE),
		};
		void *mirror;
		int ret;

		if (first + n > STRESS_PAGES)
			n = STRESS_PAGES - first;
		mirror = malloc(n * HMM_PAGE);
		ASSERT_NONNULL(mirror);
		cmd.ptr = (uintptr_t)mirror;
		cmd.npages = n;
		ret = s->api.ioctl(s->fd, round % 3 == 2 ? HMM_DMIRROR_MIGRATE_TO_SYS :
				   HMM_DMIRROR_MIGRATE_TO_DEV, &cmd);
		/* A page a thread touched meanwhile may be back in RAM: -ENOENT. */
		if (ret != -ENOENT)
			ASSERT_EQ(ret, 0);
		free(mirror);
	}
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < TOUCHERS; i++)
		pthread_join(th[i], NULL);
	ASSERT_EQ(s->errors, 0);
	for (p = 0; p < STRESS_PAGES; p++)
		ASSERT_TRUE(page_ok(s, p));
	ASSERT_EQ(munmap(s->buf, STRESS_PAGES * HMM_PAGE), 0);
	s->api.close(s->fd);
	free(s);
}

/* --- fault injection ------------------------------------------------------ */

#define INJECT_PAGES	32UL

enum site { UHMM_ALLOC, UHMM_MOVE, DEV_ALLOC, DEV_COPY };

static long arm(struct dmirror_api *api, dmirror_fail_nth_fn fail, int fd, enum site site,
		unsigned long nth)
{
	(void)api;
	switch (site) {
	case UHMM_ALLOC:
		return uhmm_fail_nth(UHMM_FAIL_ALLOC_PAGE, nth);
	case UHMM_MOVE:
		return uhmm_fail_nth(UHMM_FAIL_MOVE, nth);
	case DEV_ALLOC:
		return fail(fd, DMIRROR_FAIL_ALLOC, nth);
	case DEV_COPY:
		return fail(fd, DMIRROR_FAIL_COPY, nth);
	}
	return -1;
}

static void fill_seed(char *buf, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < INJECT_PAGES * HMM_PAGE; i += 64)
		buf[i] = (char)(i / 64 + n);
}

static void check_seed(const char *buf, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < INJECT_PAGES * HMM_PAGE; i += 64)
		if (buf[i] != (char)(i / 64 + n))
			HARNESS_FAIL("byte %lu wrong after failure %lu", i, n);
}

static void inject(enum site site)
{
	struct dmirror_api api;
	dmirror_fail_nth_fn fail;
	struct hmm_buffer *b;
	unsigned long n, fired_total = 0;
	int fd;

	require_fault_engine();
	api = dmirror_api();
	fail = (dmirror_fail_nth_fn)uhmm_symbol_get("dmirror_fail_nth");
	ASSERT_NONNULL(fail);
	fd = api.open(0);
	ASSERT_GE(fd, 0);
	b = hmm_buffer_alloc(INJECT_PAGES * HMM_PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS);
	for (n = 1; n < 1000; n++) {
		bool fired = false;
		int ret;

		/* Failures on the way to the device ... */
		fill_seed(b->ptr, n);
		ASSERT_GE(arm(&api, fail, fd, site, n), 0);
		ret = hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, INJECT_PAGES);
		ASSERT_TRUE(ret == 0 || ret == -ENOENT);
		fired |= arm(&api, fail, fd, site, 0) == 0;
		check_seed(b->ptr, n);

		/* ... and on the way back, by CPU faults and by MIGRATE_TO_SYS. */
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, INJECT_PAGES), 0);
		ASSERT_GE(arm(&api, fail, fd, site, n), 0);
		check_seed(b->ptr, n);
		fired |= arm(&api, fail, fd, site, 0) == 0;
		ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_DEV, b, INJECT_PAGES), 0);
		ASSERT_GE(arm(&api, fail, fd, site, n), 0);
		ret = hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_MIGRATE_TO_SYS, b, INJECT_PAGES);
		ASSERT_TRUE(ret == 0 || ret == -ENOMEM);
		fired |= arm(&api, fail, fd, site, 0) == 0;
		check_seed(b->ptr, n);

		/* Nothing left behind: no system page held, no device page in use. */
		ASSERT_EQ(system_pages_settled(), 0);
		{
			uint64_t before = mm_stats().pages_to_ram;

			ASSERT_EQ(hmm_dmirror_cmd(&api, fd, HMM_DMIRROR_RELEASE, b, INJECT_PAGES), 0);
			ASSERT_EQ(mm_stats().pages_to_ram, before);
		}
		if (!fired)
			break;
		fired_total++;
	}
	ASSERT_GE(fired_total, 1);
	ASSERT_LT(n, 1000);
	hmm_buffer_free(b);
	api.close(fd);
}

TEST(inject_system_page_allocation)
{
	inject(UHMM_ALLOC);
}

TEST(inject_page_move)
{
	inject(UHMM_MOVE);
}

TEST(inject_device_page_allocation)
{
	inject(DEV_ALLOC);
}

TEST(inject_device_copy)
{
	inject(DEV_COPY);
}
