// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * touch-migrate: owner threads check and rewrite their own pages of a
 * 16 MiB buffer (page p belongs to owner p % N, so one fault-around block
 * holds pages of every owner) while two threads migrate random ranges to
 * device 0 or 1 and back, and one reads random ranges through the devices'
 * mirrors.  Every byte is checked on every touch, on every read back and at
 * the end; then no device page may be left once everything came back.
 *
 *	stress-touch-migrate [-t SECONDS] [-j OWNERS] [-s SEED] [-w WATCHDOG] [-o noread]
 *
 * -o noread leaves the mirror reader out (its READ holding the handle's
 * lock across a fault can hide the other bugs behind a deadlock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "pages.h"

#define NPAGES		4096UL		/* 16 MiB */
#define MIGRATORS	2
#define MAX_RANGE	512UL

static struct stress_pages *pages;
static struct stress_dmirror api;
static int fds[HMM_DMIRROR_NR_DEVICES];

struct counts {
	uint64_t checks, writes, to_dev, to_sys, dev_pages, sys_pages, reads, read_efault;
	uint64_t enoent;
};

static struct counts totals;

static void add_counts(const struct counts *c)
{
	uint64_t *dst = (uint64_t *)&totals;
	const uint64_t *src = (const uint64_t *)c;
	size_t i;

	for (i = 0; i < sizeof(*c) / sizeof(uint64_t); i++)
		__atomic_add_fetch(&dst[i], src[i], __ATOMIC_RELAXED);
}

/* A random range: mostly small, sometimes up to 2 MiB, anywhere in the buffer. */
static void random_range(uint64_t *rnd, unsigned long *first, unsigned long *n)
{
	unsigned long len = 1UL << stress_rand_below(rnd, 10);

	len = 1 + stress_rand_below(rnd, len);
	*first = stress_rand_below(rnd, NPAGES);
	if (*first + len > NPAGES)
		len = NPAGES - *first;
	*n = len;
}

static void *owner(void *arg)
{
	unsigned long id = (uintptr_t)arg, nowners = stress_opts.threads;
	struct stress_thread *t = stress_thread_register("owner%lu", id);
	uint64_t rnd = stress_opts.seed * 31 + id;
	struct counts c = { 0 };

	while (stress_running()) {
		unsigned long p = stress_rand_below(&rnd, NPAGES / nowners) * nowners + id;

		if (p >= NPAGES)
			continue;
		stress_op(t, "check page", stress_pages_key(pages, p), 1);
		if (!stress_pages_check(pages, p, "owner's check"))
			stress_pages_write(pages, p);	/* go on from a known state */
		c.checks++;
		if (stress_rand_below(&rnd, 2)) {
			stress_op(t, "write page", stress_pages_key(pages, p), 1);
			stress_pages_write(pages, p);
			c.writes++;
		}
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	add_counts(&c);
	return NULL;
}

static void *migrator(void *arg)
{
	unsigned long id = (uintptr_t)arg;
	struct stress_thread *t = stress_thread_register("migrate%lu", id);
	uint64_t rnd = stress_opts.seed * 17 + 1000 + id;
	char *bounce = malloc(MAX_RANGE * STRESS_PAGE);
	struct counts c = { 0 };

	if (!bounce)
		abort();
	while (stress_running()) {
		int dev = (int)stress_rand_below(&rnd, 2);
		bool to_dev = stress_rand_below(&rnd, 3) != 0;
		unsigned long request = to_dev ? HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		unsigned long first, n;
		uint64_t cpages = 0;
		int ret;

		random_range(&rnd, &first, &n);
		stress_op(t, to_dev ? (dev ? "MIGRATE_TO_DEV 1" : "MIGRATE_TO_DEV 0") :
			  (dev ? "MIGRATE_TO_SYS 1" : "MIGRATE_TO_SYS 0"),
			  stress_pages_key(pages, first), n);
		ret = stress_pages_migrate(pages, &api, fds[dev], dev, request, first, n, bounce,
					   &cpages);
		/* -ENOENT: some page was not in this device's memory afterwards (touched, or the other's). */
		if (ret && !(to_dev && ret == -ENOENT))
			stress_fail("%s of device %d, pages %lu..%lu: %s", stress_cmd_name(request),
				    dev, first, first + n - 1, stress_errname(ret));
		if (ret == -ENOENT)
			c.enoent++;
		if (to_dev) {
			c.to_dev++;
			c.dev_pages += cpages;
		} else {
			c.to_sys++;
			c.sys_pages += cpages;
		}
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	free(bounce);
	add_counts(&c);
	return NULL;
}

static void *reader(void *arg)
{
	struct stress_thread *t = stress_thread_register("reader");
	uint64_t rnd = stress_opts.seed * 13 + 2000;
	char *bounce = malloc(64 * STRESS_PAGE);
	struct counts c = { 0 };

	(void)arg;
	if (!bounce)
		abort();
	while (stress_running()) {
		int dev = (int)stress_rand_below(&rnd, 2);
		unsigned long first = stress_rand_below(&rnd, NPAGES);
		unsigned long n = 1 + stress_rand_below(&rnd, 64);
		int ret;

		if (first + n > NPAGES)
			n = NPAGES - first;
		stress_op(t, dev ? "READ 1" : "READ 0", stress_pages_key(pages, first), n);
		ret = stress_pages_read(pages, &api, fds[dev], dev, first, n, bounce);
		/* -EFAULT: the device lost the race for a page 16 times in a row. */
		if (ret == -EFAULT)
			c.read_efault++;
		else if (ret)
			stress_fail("READ of device %d, pages %lu..%lu: %s", dev, first,
				    first + n - 1, stress_errname(ret));
		c.reads++;
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	free(bounce);
	add_counts(&c);
	return NULL;
}

/* Everything back, every page right, and no device page left behind. */
static void final_checks(struct stress_thread *t)
{
	struct uhmm_mm_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	unsigned long p;
	int dev, ret;

	stress_phase("final checks");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		stress_op(t, "final MIGRATE_TO_SYS", stress_pages_key(pages, 0), NPAGES);
		ret = stress_pages_migrate(pages, &api, fds[dev], dev, HMM_DMIRROR_MIGRATE_TO_SYS, 0,
					   512, NULL, NULL);
		for (p = 512; !ret && p < NPAGES; p += 512)
			ret = stress_pages_migrate(pages, &api, fds[dev], dev,
						   HMM_DMIRROR_MIGRATE_TO_SYS, p, 512, NULL, NULL);
		if (ret)
			stress_fail("final MIGRATE_TO_SYS of device %d: %s", dev, stress_errname(ret));
	}
	stress_op(t, "final check", stress_pages_key(pages, 0), NPAGES);
	for (p = 0; p < NPAGES; p++) {
		stress_pages_check(pages, p, "final check");
		stress_progress(t);
	}
	uhmm_mm_get_stats(&before);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		stress_op(t, "final RELEASE", 0, 0);
		ret = stress_cmd(&api, fds[dev], HMM_DMIRROR_RELEASE, pages->base, NULL, 1, NULL);
		if (ret)
			stress_fail("final RELEASE of device %d: %s", dev, stress_errname(ret));
	}
	uhmm_mm_get_stats(&after);
	if (after.pages_to_ram != before.pages_to_ram)
		stress_fail("after every page came back, RELEASE still evicted %" PRIu64
			    " device page(s): device memory left behind",
			    after.pages_to_ram - before.pages_to_ram);
}

int main(int argc, char **argv)
{
	pthread_t th[STRESS_MAX_THREADS];
	unsigned long i, n = 0;
	struct stress_thread *t;
	char summary[512];
	int dev;

	stress_init(argc, argv, "touch-migrate", 4);
	if (stress_opts.threads > STRESS_MAX_THREADS - 8)
		stress_opts.threads = STRESS_MAX_THREADS - 8;
	stress_dmirror_load(&api);
	t = stress_thread_register("main");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	pages = stress_pages_create(NPAGES);
	stress_watchdog_start();

	for (i = 0; i < stress_opts.threads; i++)
		pthread_create(&th[n++], NULL, owner, (void *)(uintptr_t)i);
	for (i = 0; i < MIGRATORS; i++)
		pthread_create(&th[n++], NULL, migrator, (void *)(uintptr_t)i);
	if (!stress_opt("noread"))
		pthread_create(&th[n++], NULL, reader, NULL);
	stress_op(t, "waiting for the time", 0, 0);
	while (stress_running())
		usleep(50000);
	stress_op(t, "joining", 0, 0);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	final_checks(t);

	snprintf(summary, sizeof(summary),
		 "(%" PRIu64 " checks, %" PRIu64 " writes, %" PRIu64 " MIGRATE_TO_DEV moving %"
		 PRIu64 " pages (%" PRIu64 " -ENOENT), %" PRIu64 " MIGRATE_TO_SYS moving %" PRIu64
		 " pages, %" PRIu64 " READs (%" PRIu64 " -EFAULT))",
		 totals.checks, totals.writes, totals.to_dev, totals.dev_pages, totals.enoent,
		 totals.to_sys, totals.sys_pages, totals.reads, totals.read_efault);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	stress_pages_destroy(pages);
	return stress_finish(summary);
}
