// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * release: owners check and rewrite their pages of a 16 MiB buffer and two
 * threads migrate random ranges to device 0 or 1 and back, while another
 * thread, every few milliseconds, evicts a whole device (HMM_DMIRROR_RELEASE),
 * closes a device's handle and opens it again (the pages it mapped stay in
 * device memory), or, where dmirror can be unloaded, unloads and reloads
 * the module (its exit unbinds both devices, which evicts their memory)
 * while the owners go on faulting.  Every page must stay right throughout
 * and at the end.
 *
 *	stress-release [-t SECONDS] [-j OWNERS] [-s SEED] [-w WATCHDOG]
 *		       [-o read,norelease,noreopen]
 *
 * -o read adds a thread reading through the mirrors (see touch-migrate);
 * norelease and noreopen leave those actions out, to look past a failure.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/uhmm.h>
#include <uhmm/module.h>

#include "pages.h"

#define NPAGES		4096UL		/* 16 MiB */
#define MIGRATORS	2
#define MAX_RANGE	512UL
#define EVENT_LOG	16

static struct stress_pages *pages;
static struct stress_dmirror api;		/* changes on reload: under both dev_locks */
static int fds[HMM_DMIRROR_NR_DEVICES];
/* Read-held around each command on a handle, write-held to close or reload it. */
static pthread_rwlock_t dev_lock[HMM_DMIRROR_NR_DEVICES];
static bool can_unload;

enum action { RELEASE, REOPEN, RELOAD, NR_ACTIONS };
static const char *const action_names[NR_ACTIONS] = { "RELEASE", "reopen", "reload" };

/* What the releaser did last, for a wrong page's report. */
struct event {
	uint64_t start_ms, end_ms;
	enum action action;
	int dev, ret;
};

static struct event event_log[EVENT_LOG];
static unsigned long nr_events;			/* atomic */
static uint64_t counts[NR_ACTIONS], busy;	/* atomic */
static uint64_t to_dev, to_sys, checks, writes;	/* atomic */

static void print_events(void)
{
	unsigned long n = __atomic_load_n(&nr_events, __ATOMIC_ACQUIRE), i;

	fprintf(stderr, "#     the releaser's last actions:\n");
	for (i = n > EVENT_LOG ? n - EVENT_LOG : 0; i < n; i++) {
		struct event *e = &event_log[i % EVENT_LOG];

		fprintf(stderr, "#       %6" PRIu64 ".%03" PRIu64 "s..%" PRIu64 ".%03" PRIu64
			"s %s of device %d -> %s\n", e->start_ms / 1000, e->start_ms % 1000,
			e->end_ms / 1000, e->end_ms % 1000, action_names[e->action], e->dev,
			stress_errname(e->ret));
	}
}

static void *owner(void *arg)
{
	unsigned long id = (uintptr_t)arg, nowners = stress_opts.threads;
	struct stress_thread *t = stress_thread_register("owner%lu", id);
	uint64_t rnd = stress_opts.seed * 31 + id, c = 0, w = 0;

	while (stress_running()) {
		unsigned long p = stress_rand_below(&rnd, NPAGES / nowners) * nowners + id;

		if (p >= NPAGES)
			continue;
		stress_op(t, "check page", stress_pages_key(pages, p), 1);
		if (!stress_pages_check(pages, p, "owner's check"))
			stress_pages_write(pages, p);
		c++;
		if (stress_rand_below(&rnd, 2)) {
			stress_op(t, "write page", stress_pages_key(pages, p), 1);
			stress_pages_write(pages, p);
			w++;
		}
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	__atomic_add_fetch(&checks, c, __ATOMIC_RELAXED);
	__atomic_add_fetch(&writes, w, __ATOMIC_RELAXED);
	return NULL;
}

static void *migrator(void *arg)
{
	unsigned long id = (uintptr_t)arg;
	struct stress_thread *t = stress_thread_register("migrate%lu", id);
	uint64_t rnd = stress_opts.seed * 17 + 1000 + id, d = 0, s = 0;
	char *bounce = malloc(MAX_RANGE * STRESS_PAGE);

	if (!bounce)
		abort();
	while (stress_running()) {
		int dev = (int)stress_rand_below(&rnd, 2);
		bool to = stress_rand_below(&rnd, 3) != 0;
		unsigned long request = to ? HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		unsigned long first = stress_rand_below(&rnd, NPAGES);
		unsigned long n = 1 + stress_rand_below(&rnd, 1UL << stress_rand_below(&rnd, 10));
		int ret;

		if (first + n > NPAGES)
			n = NPAGES - first;
		stress_op(t, "waiting for the handle", (uint64_t)dev, 0);
		pthread_rwlock_rdlock(&dev_lock[dev]);
		stress_op(t, to ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", stress_pages_key(pages, first),
			  n);
		ret = stress_pages_migrate(pages, &api, fds[dev], dev, request, first, n, bounce,
					   NULL);
		pthread_rwlock_unlock(&dev_lock[dev]);
		if (ret && !(to && ret == -ENOENT))
			stress_fail("%s of device %d, pages %lu..%lu: %s", stress_cmd_name(request),
				    dev, first, first + n - 1, stress_errname(ret));
		if (to)
			d++;
		else
			s++;
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	free(bounce);
	__atomic_add_fetch(&to_dev, d, __ATOMIC_RELAXED);
	__atomic_add_fetch(&to_sys, s, __ATOMIC_RELAXED);
	return NULL;
}

static void *reader(void *arg)
{
	struct stress_thread *t = stress_thread_register("reader");
	uint64_t rnd = stress_opts.seed * 13 + 2000;
	char *bounce = malloc(64 * STRESS_PAGE);

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
		pthread_rwlock_rdlock(&dev_lock[dev]);
		stress_op(t, "READ", stress_pages_key(pages, first), n);
		ret = stress_pages_read(pages, &api, fds[dev], dev, first, n, bounce);
		pthread_rwlock_unlock(&dev_lock[dev]);
		if (ret && ret != -EFAULT)
			stress_fail("READ of device %d: %s", dev, stress_errname(ret));
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	free(bounce);
	return NULL;
}

static void put_symbols(void)
{
	uhmm_symbol_put("dmirror_open");
	uhmm_symbol_put("dmirror_close");
	uhmm_symbol_put("dmirror_ioctl");
}

/* Unload dmirror (its exit unbinds both devices) and load it again.  Both dev_locks held. */
static int reload(void)
{
	struct uhmm_module *mod = uhmm_module_find("dmirror");
	int dev, ret;

	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	put_symbols();
	ret = uhmm_module_unload(mod);
	/* Loaded again either way: the handles must be valid for the others. */
	stress_dmirror_load(&api);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	return ret;
}

static void *releaser(void *arg)
{
	struct stress_thread *t = stress_thread_register("releaser");
	uint64_t rnd = stress_opts.seed * 11 + 3000;

	(void)arg;
	while (stress_running()) {
		unsigned long r = stress_rand_below(&rnd, 10);
		enum action a = r < 7 ? RELEASE : r < 9 || !can_unload ? REOPEN : RELOAD;

		if (a == RELEASE && stress_opt("norelease"))
			a = REOPEN;
		if (a == REOPEN && stress_opt("noreopen"))
			a = stress_opt("norelease") ? RELOAD : RELEASE;
		if (a == RELOAD && !can_unload)
			a = RELEASE;
		int dev = (int)stress_rand_below(&rnd, 2), ret = 0;
		struct event *e;
		uint64_t start;

		usleep((useconds_t)stress_rand_below(&rnd, 2000));
		start = stress_ms();
		switch (a) {
		case RELEASE:
			/* Racing the migrations, on purpose: no lock. */
			stress_op(t, "RELEASE", (uint64_t)dev, 0);
			pthread_rwlock_rdlock(&dev_lock[dev]);
			ret = stress_cmd(&api, fds[dev], HMM_DMIRROR_RELEASE, pages->base, NULL, 1, NULL);
			pthread_rwlock_unlock(&dev_lock[dev]);
			if (ret == -EBUSY)
				__atomic_add_fetch(&busy, 1, __ATOMIC_RELAXED);
			else if (ret)
				stress_fail("RELEASE of device %d: %s", dev, stress_errname(ret));
			break;
		case REOPEN:
			stress_op(t, "waiting to reopen", (uint64_t)dev, 0);
			pthread_rwlock_wrlock(&dev_lock[dev]);
			stress_op(t, "close and open", (uint64_t)dev, 0);
			ret = api.close(fds[dev]);
			fds[dev] = stress_dmirror_open(&api, dev);
			pthread_rwlock_unlock(&dev_lock[dev]);
			if (ret)
				stress_fail("dmirror_close(%d): %s", dev, stress_errname(ret));
			break;
		case RELOAD:
			stress_op(t, "waiting to reload", 0, 0);
			pthread_rwlock_wrlock(&dev_lock[0]);
			pthread_rwlock_wrlock(&dev_lock[1]);
			stress_op(t, "unload and load dmirror", 0, 0);
			ret = reload();
			pthread_rwlock_unlock(&dev_lock[1]);
			pthread_rwlock_unlock(&dev_lock[0]);
			if (ret)
				stress_fail("unloading dmirror: %s", stress_errname(ret));
			dev = -1;
			break;
		default:
			break;
		}
		e = &event_log[nr_events % EVENT_LOG];
		*e = (struct event){ start, stress_ms(), a, dev, ret };
		__atomic_add_fetch(&nr_events, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&counts[a], 1, __ATOMIC_RELAXED);
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	return NULL;
}

/*
 * Whether dmirror can be unloaded at all: a device bound to a driver pins
 * the module that holds its code, and dmirror's init binds its own devices.
 */
static bool probe_unload(void)
{
	struct uhmm_module *mod = uhmm_module_find("dmirror");
	int dev, ret;

	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	put_symbols();
	ret = uhmm_module_unload(mod);
	stress_dmirror_load(&api);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	if (ret)
		stress_note(false, "dmirror cannot be unloaded here (%s): no unbind in this run",
			    stress_errname(ret));
	return !ret;
}

static void final_checks(struct stress_thread *t)
{
	struct uhmm_mm_stats before = { .size = sizeof(before) }, after = { .size = sizeof(after) };
	unsigned long p;
	int dev, ret;

	stress_phase("final checks");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		stress_op(t, "final MIGRATE_TO_SYS", (uint64_t)dev, NPAGES);
		for (p = 0, ret = 0; !ret && p < NPAGES; p += 512)
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
		stress_op(t, "final RELEASE", (uint64_t)dev, 0);
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
	pthread_rwlockattr_t attr;
	unsigned long i, n = 0;
	struct stress_thread *t;
	char summary[512];
	int dev;

	stress_init(argc, argv, "release", 3);
	if (stress_opts.threads > STRESS_MAX_THREADS - 8)
		stress_opts.threads = STRESS_MAX_THREADS - 8;
	stress_dmirror_load(&api);
	t = stress_thread_register("main");
	pthread_rwlockattr_init(&attr);
	/* The releaser gets its turn between migrations. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		pthread_rwlock_init(&dev_lock[dev], &attr);
		fds[dev] = stress_dmirror_open(&api, dev);
	}
	pthread_rwlockattr_destroy(&attr);
	can_unload = probe_unload();
	pages = stress_pages_create(NPAGES);
	stress_report_hook = print_events;
	stress_watchdog_start();

	for (i = 0; i < stress_opts.threads; i++)
		pthread_create(&th[n++], NULL, owner, (void *)(uintptr_t)i);
	for (i = 0; i < MIGRATORS; i++)
		pthread_create(&th[n++], NULL, migrator, (void *)(uintptr_t)i);
	pthread_create(&th[n++], NULL, releaser, NULL);
	if (stress_opt("read"))
		pthread_create(&th[n++], NULL, reader, NULL);
	stress_op(t, "waiting for the time", 0, 0);
	while (stress_running())
		usleep(50000);
	stress_op(t, "joining", 0, 0);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	final_checks(t);

	snprintf(summary, sizeof(summary),
		 "(%" PRIu64 " RELEASE (%" PRIu64 " -EBUSY), %" PRIu64 " reopens, %" PRIu64
		 " reloads%s; %" PRIu64 " checks, %" PRIu64 " writes, %" PRIu64 " MIGRATE_TO_DEV, %"
		 PRIu64 " MIGRATE_TO_SYS)", counts[RELEASE], busy, counts[REOPEN], counts[RELOAD],
		 can_unload ? "" : " (dmirror cannot be unloaded)", checks, writes, to_dev, to_sys);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++) {
		api.close(fds[dev]);
		pthread_rwlock_destroy(&dev_lock[dev]);
	}
	put_symbols();
	stress_pages_destroy(pages);
	return stress_finish(summary);
}
