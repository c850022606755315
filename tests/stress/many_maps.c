// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * many-maps: thousands of small mappings (1 to 4 pages) are created,
 * written, migrated to device 0 or 1, touched back, checked and unmapped,
 * over and over, by worker threads that each own a share of the slots,
 * while another thread migrates whatever mapping a random slot last held
 * (maybe gone, maybe another's by now: a migration must keep any content
 * intact).  At the end every mapping is unmapped, and then nothing may be
 * left: no device page to evict, no system page held, no range registered.
 *
 *	stress-many-maps [-t SECONDS] [-j WORKERS] [-s SEED] [-w WATCHDOG]
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "stress.h"

#define NSLOTS		3000UL
#define MAX_PAGES	4

struct slot {
	char *addr;			/* atomic: the mapping, or NULL */
	unsigned long npages;		/* atomic */
	uint32_t gen;			/* owner only */
	uint32_t version[MAX_PAGES];	/* owner only */
	struct stress_hist hist[MAX_PAGES];
};

static struct slot *slots;
static struct stress_dmirror api;
static int fds[HMM_DMIRROR_NR_DEVICES];
static uint64_t maps, unmaps, own_migrations, checks;	/* atomic */
static uint64_t migrations, ret_counts[4];		/* atomic */
static unsigned long live;				/* atomic */

static uint64_t key(unsigned long s, uint32_t gen, unsigned long p)
{
	return (uint64_t)s << 40 ^ (uint64_t)gen << 8 ^ p ^ 0x4d4150ULL << 52;
}

static void report(unsigned long s, unsigned long p, const char *what)
{
	char vf[1024];

	struct slot *sl = &slots[s];
	const char *page = sl->addr + p * STRESS_PAGE;
	uint64_t others[2 * MAX_PAGES];
	char desc[512];
	unsigned long i;

	/* This mapping's other pages, and the slot's previous mapping's. */
	for (i = 0; i < MAX_PAGES; i++) {
		others[i] = key(s, sl->gen, i);
		others[MAX_PAGES + i] = key(s, sl->gen - 1, i);
	}
	stress_describe(page, key(s, sl->gen, p), sl->version[p], sl->version[p], others,
			2 * MAX_PAGES, desc, sizeof(desc));
	stress_vma_flags(page, vf, sizeof(vf));
	stress_report_lock();
	stress_fail("%s: slot %lu (mapping %u of it, %lu pages at %p) page %lu wrong: %s; mapping %s",
		    what, s, sl->gen, sl->npages, (void *)sl->addr, p, desc, vf);
	if (stress_failures() < 8)
		stress_hist_print(&sl->hist[p]);
	stress_report_unlock();
}

static void write_page(struct slot *sl, unsigned long s, unsigned long p)
{
	stress_fill(sl->addr + p * STRESS_PAGE, key(s, sl->gen, p), ++sl->version[p]);
	stress_hist_add(&sl->hist[p], EV_WRITE, -1, 0, sl->version[p]);
}

static void check_slot(struct stress_thread *t, unsigned long s, const char *what)
{
	struct slot *sl = &slots[s];
	unsigned long p;

	for (p = 0; p < sl->npages; p++) {
		const char *page = sl->addr + p * STRESS_PAGE;

		stress_op(t, "check page", (uintptr_t)page, 1);
		if (!stress_check(page, key(s, sl->gen, p), sl->version[p])) {
			stress_hist_add(&sl->hist[p], EV_CHECK, -1, -1, sl->version[p]);
			report(s, p, what);
			write_page(sl, s, p);
		}
	}
	__atomic_add_fetch(&checks, sl->npages, __ATOMIC_RELAXED);
}

static void map_slot(struct stress_thread *t, uint64_t *rnd, unsigned long s)
{
	struct slot *sl = &slots[s];
	unsigned long n = 1 + stress_rand_below(rnd, MAX_PAGES), p;
	char *addr;

	stress_op(t, "mmap", 0, n);
	addr = mmap(NULL, n * STRESS_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (addr == MAP_FAILED) {
		stress_fail("mmap of %lu pages: %s", n, strerror(errno));
		stress_stop();
		return;
	}
	sl->gen++;
	/* Published at once: the migrator may move it before it is written, as it may any page. */
	__atomic_store_n(&sl->npages, n, __ATOMIC_RELAXED);
	__atomic_store_n(&sl->addr, addr, __ATOMIC_RELEASE);
	for (p = 0; p < n; p++) {
		const uint64_t *w = (const uint64_t *)(addr + p * STRESS_PAGE);

		stress_hist_add(&sl->hist[p], EV_MMAP, -1, 0, sl->gen);
		/* A fresh mapping reads as zeros, whatever was here before. */
		if (w[0] || w[STRESS_WORDS - 1])
			stress_fail("slot %lu: fresh mapping at %p, page %lu not zero: %#018" PRIx64,
				    s, (void *)addr, p, w[0] ? w[0] : w[STRESS_WORDS - 1]);
		sl->version[p] = 0;
		write_page(sl, s, p);
	}
	__atomic_add_fetch(&maps, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
}

static void unmap_slot(struct stress_thread *t, unsigned long s)
{
	struct slot *sl = &slots[s];
	unsigned long p;
	char *addr = sl->addr;

	__atomic_store_n(&sl->addr, NULL, __ATOMIC_RELEASE);
	stress_op(t, "munmap", (uintptr_t)addr, sl->npages);
	if (munmap(addr, sl->npages * STRESS_PAGE))
		stress_fail("munmap(%p): %s", (void *)addr, strerror(errno));
	for (p = 0; p < sl->npages; p++)
		stress_hist_add(&sl->hist[p], EV_MUNMAP, -1, 0, sl->gen);
	__atomic_add_fetch(&unmaps, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
}

static void migrate_own(struct stress_thread *t, uint64_t *rnd, unsigned long s)
{
	struct slot *sl = &slots[s];
	int dev = (int)stress_rand_below(rnd, 2), ret;

	stress_op(t, "MIGRATE_TO_DEV of its own", (uintptr_t)sl->addr, sl->npages);
	stress_hist_add_range(sl->hist, sl->npages, EV_TO_DEV, dev, STRESS_EV_BEGIN,
			      (uint32_t)sl->npages);
	ret = stress_cmd(&api, fds[dev], HMM_DMIRROR_MIGRATE_TO_DEV, sl->addr, NULL, sl->npages,
			 NULL);
	stress_hist_add_range(sl->hist, sl->npages, EV_TO_DEV, dev, ret, (uint32_t)sl->npages);
	/* -ENOENT: the migrator took a page to the other device meanwhile. */
	if (ret && ret != -ENOENT)
		stress_fail("slot %lu: MIGRATE_TO_DEV of device %d of its own %lu pages at %p: %s", s,
			    dev, sl->npages, (void *)sl->addr, stress_errname(ret));
	__atomic_add_fetch(&own_migrations, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	unsigned long id = (uintptr_t)arg, nworkers = stress_opts.threads, s;
	struct stress_thread *t = stress_thread_register("worker%lu", id);
	uint64_t rnd = stress_opts.seed * 31 + id;

	while (stress_running()) {
		unsigned long r;

		s = stress_rand_below(&rnd, NSLOTS / nworkers) * nworkers + id;
		if (s >= NSLOTS)
			continue;
		if (!slots[s].addr) {
			map_slot(t, &rnd, s);
			stress_progress(t);
			continue;
		}
		r = stress_rand_below(&rnd, 10);
		if (r < 3) {
			check_slot(t, s, "check");
		} else if (r < 5) {
			write_page(&slots[s], s, stress_rand_below(&rnd, slots[s].npages));
		} else if (r < 8) {
			migrate_own(t, &rnd, s);
			check_slot(t, s, "check after its own migration");
		} else {
			check_slot(t, s, "check before munmap");
			unmap_slot(t, s);
		}
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	return NULL;
}

static void *migrator(void *arg)
{
	struct stress_thread *t = stress_thread_register("migrate");
	uint64_t rnd = stress_opts.seed * 17 + 1000;

	(void)arg;
	while (stress_running()) {
		unsigned long s = stress_rand_below(&rnd, NSLOTS);
		char *addr = __atomic_load_n(&slots[s].addr, __ATOMIC_ACQUIRE);
		unsigned long n = __atomic_load_n(&slots[s].npages, __ATOMIC_RELAXED);
		int dev = (int)stress_rand_below(&rnd, 2);
		bool to = stress_rand_below(&rnd, 2) != 0;
		unsigned long request = to ? HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		int ret;

		if (!addr || !n)
			continue;
		stress_op(t, to ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", (uintptr_t)addr, n);
		ret = stress_cmd(&api, fds[dev], request, addr, NULL, n, NULL);
		/* The slot may have changed hands: its history is not this one's. */
		switch (ret) {
		case 0:
			__atomic_add_fetch(&ret_counts[0], 1, __ATOMIC_RELAXED);
			break;
		case -ENOENT:
			__atomic_add_fetch(&ret_counts[1], 1, __ATOMIC_RELAXED);
			break;
		case -EINVAL:
			__atomic_add_fetch(&ret_counts[2], 1, __ATOMIC_RELAXED);
			break;
		default:
			if (__atomic_add_fetch(&ret_counts[3], 1, __ATOMIC_RELAXED) <= 10)
				stress_note(false, "%s of device %d of %lu pages at %p: %s",
					    stress_cmd_name(request), dev, n, (void *)addr,
					    stress_errname(ret));
		}
		__atomic_add_fetch(&migrations, 1, __ATOMIC_RELAXED);
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	return NULL;
}

/* Everything unmapped: nothing may be left behind. */
static void final_checks(struct stress_thread *t)
{
	struct uhmm_mm_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	unsigned long s;
	int dev, ret, i;

	stress_phase("final checks");
	for (s = 0; s < NSLOTS; s++) {
		if (!slots[s].addr)
			continue;
		check_slot(t, s, "final check");
		unmap_slot(t, s);
		stress_progress(t);
	}
	stress_phase("every mapping unmapped: nothing may be left");
	stress_op(t, "settling", 0, 0);
	for (i = 0; i < 200; i++) {
		uhmm_mm_get_stats(&after);
		if (!after.system_pages && !after.registered_bytes)
			break;
		usleep(10000);
		stress_progress(t);
	}
	if (after.system_pages)
		stress_fail("every mapping is gone, and uhmm still holds %" PRIu64 " system page(s)",
			    after.system_pages);
	if (after.registered_bytes)
		stress_fail("every mapping is gone, and %" PRIu64 " bytes are still registered",
			    after.registered_bytes);
	uhmm_mm_get_stats(&before);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		stress_op(t, "final RELEASE", (uint64_t)dev, 0);
		ret = stress_cmd(&api, fds[dev], HMM_DMIRROR_RELEASE, NULL, NULL, 1, NULL);
		if (ret)
			stress_fail("final RELEASE of device %d: %s", dev, stress_errname(ret));
	}
	uhmm_mm_get_stats(&after);
	if (after.pages_to_ram != before.pages_to_ram)
		stress_fail("every mapping is gone, and RELEASE still evicted %" PRIu64
			    " device page(s): device memory kept for unmapped memory",
			    after.pages_to_ram - before.pages_to_ram);
}

int main(int argc, char **argv)
{
	pthread_t th[STRESS_MAX_THREADS];
	unsigned long i, n = 0, peak = 0;
	struct stress_thread *t;
	char summary[512];
	int dev;

	stress_init(argc, argv, "many-maps", 3);
	if (stress_opts.threads > STRESS_MAX_THREADS - 8)
		stress_opts.threads = STRESS_MAX_THREADS - 8;
	stress_dmirror_load(&api);
	t = stress_thread_register("main");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	slots = calloc(NSLOTS, sizeof(*slots));
	if (!slots)
		return STRESS_FAIL;
	stress_watchdog_start();
	for (i = 0; i < stress_opts.threads; i++)
		pthread_create(&th[n++], NULL, worker, (void *)(uintptr_t)i);
	pthread_create(&th[n++], NULL, migrator, NULL);
	stress_op(t, "waiting for the time", 0, 0);
	while (stress_running()) {
		unsigned long l = __atomic_load_n(&live, __ATOMIC_RELAXED);

		peak = l > peak ? l : peak;
		usleep(50000);
	}
	stress_op(t, "joining", 0, 0);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	final_checks(t);

	snprintf(summary, sizeof(summary),
		 "(%" PRIu64 " mmap, %" PRIu64 " munmap, up to %lu mappings at once; %" PRIu64
		 " pages checked, %" PRIu64 " own migrations; %" PRIu64 " others' migrations: %"
		 PRIu64 " 0, %" PRIu64 " -ENOENT, %" PRIu64 " -EINVAL, %" PRIu64 " other)",
		 maps, unmaps, peak, checks, own_migrations, migrations, ret_counts[0],
		 ret_counts[1], ret_counts[2], ret_counts[3]);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	free(slots);
	return stress_finish(summary);
}
