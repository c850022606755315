// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Threaded stress: percpu_ref under concurrent get/put/tryget_live and kill,
 * and pgmap lookups racing with memunmap_pages.  Run under ASan, a lookup
 * that touched freed metadata would be reported; every round checks that
 * release ran exactly once.
 */
#include <pthread.h>
#include <stdatomic.h>

#include <uhmm/uhmm.h>

#include "harness.h"

#define NR_THREADS	4
#define REF_ROUNDS	200
#define MAP_ROUNDS	60
#define MiB		(UINT64_C(1) << 20)

struct ref_round {
	struct uhmm_percpu_ref ref;
	atomic_int releases;
	atomic_int stop;
	atomic_long live_gets;		/* successful tryget_live, all put back */
	pthread_barrier_t start;
};

static void ref_release(struct uhmm_percpu_ref *ref)
{
	struct ref_round *r = (struct ref_round *)ref;

	atomic_fetch_add(&r->releases, 1);
}

static void *ref_worker(void *arg)
{
	struct ref_round *r = arg;
	unsigned long i = 0;

	pthread_barrier_wait(&r->start);
	while (!atomic_load(&r->stop) || i < 1000) {
		uhmm_percpu_ref_get(&r->ref);
		if (uhmm_percpu_ref_tryget_live(&r->ref)) {
			atomic_fetch_add(&r->live_gets, 1);
			uhmm_percpu_ref_put(&r->ref);
		}
		uhmm_percpu_ref_get_many(&r->ref, 3);
		uhmm_percpu_ref_put_many(&r->ref, 3);
		uhmm_percpu_ref_put(&r->ref);
		i++;
	}
	return NULL;
}

TEST(percpu_ref_kill_races_with_gets_and_puts)
{
	int round, t;

	for (round = 0; round < REF_ROUNDS; round++) {
		struct ref_round r = { 0 };
		pthread_t thr[NR_THREADS];

		ASSERT_EQ(uhmm_percpu_ref_init(&r.ref, ref_release, 0), 0);
		pthread_barrier_init(&r.start, NULL, NR_THREADS + 1);
		/* Every worker holds a reference across its loop, as users of a ref do. */
		for (t = 0; t < NR_THREADS; t++) {
			uhmm_percpu_ref_get(&r.ref);
			ASSERT_EQ(pthread_create(&thr[t], NULL, ref_worker, &r), 0);
		}
		pthread_barrier_wait(&r.start);
		usleep(round % 7 * 100);
		uhmm_percpu_ref_kill(&r.ref);
		ASSERT_TRUE(uhmm_percpu_ref_is_dying(&r.ref));
		atomic_store(&r.stop, 1);
		for (t = 0; t < NR_THREADS; t++)
			pthread_join(thr[t], NULL);
		ASSERT_EQ(atomic_load(&r.releases), 0);
		ASSERT_FALSE(uhmm_percpu_ref_is_zero(&r.ref));
		uhmm_percpu_ref_put_many(&r.ref, NR_THREADS);
		ASSERT_EQ(atomic_load(&r.releases), 1);
		ASSERT_TRUE(uhmm_percpu_ref_is_zero(&r.ref));
		pthread_barrier_destroy(&r.start);
		uhmm_percpu_ref_exit(&r.ref);
	}
}

static void *exit_after_get(void *arg)
{
	uhmm_percpu_ref_get(arg);
	return NULL;
}

TEST(percpu_ref_survives_thread_churn_beyond_the_slots)
{
	struct uhmm_percpu_ref ref;
	int i;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, NULL, 0), 0);
	/* 300 short-lived threads each leave one reference in their slot. */
	for (i = 0; i < 300; i++) {
		pthread_t thr;

		ASSERT_EQ(pthread_create(&thr, NULL, exit_after_get, &ref), 0);
		ASSERT_EQ(pthread_join(thr, NULL), 0);
	}
	uhmm_percpu_ref_kill(&ref);
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_put_many(&ref, 299);
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_put(&ref);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_exit(&ref);
}

static void page_free_nop(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t no_fault(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops stress_ops = {
	.page_free = page_free_nop,
	.migrate_to_ram = no_fault,
};

struct lookup_ctx {
	unsigned long first_pfn, nr_pages;
	atomic_int stop;
	atomic_long found, missed;
	pthread_barrier_t start;
};

static void *lookup_worker(void *arg)
{
	struct lookup_ctx *c = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;

	pthread_barrier_wait(&c->start);
	while (!atomic_load(&c->stop)) {
		unsigned long pfn = c->first_pfn + rand_r(&seed) % c->nr_pages;
		struct uhmm_dev_pagemap *pgmap = uhmm_get_dev_pagemap(pfn);

		if (pgmap) {
			/* With a live reference, the metadata must be there and sane. */
			struct uhmm_page *page = uhmm_pfn_to_page(pfn);

			if (!page || page->pgmap != pgmap || uhmm_page_to_pfn(page) != pfn)
				HARNESS_FAIL("bad metadata for pfn %#lx", pfn);
			uhmm_put_dev_pagemap(pgmap);
			atomic_fetch_add(&c->found, 1);
		} else {
			atomic_fetch_add(&c->missed, 1);
		}
	}
	return NULL;
}

TEST(lookups_race_with_memremap_and_memunmap)
{
	struct uhmm_resource *res = uhmm_request_free_mem_region(uhmm_iomem_resource(),
								 64 * MiB, "stress");
	struct lookup_ctx c = { 0 };
	struct uhmm_dev_pagemap pgmap;
	pthread_t thr[NR_THREADS];
	int round, t;

	ASSERT_NONNULL(res);
	c.first_pfn = UHMM_PHYS_PFN(res->start);
	c.nr_pages = 64 * MiB / UHMM_PAGE_SIZE;
	pthread_barrier_init(&c.start, NULL, NR_THREADS + 1);
	for (t = 0; t < NR_THREADS; t++)
		ASSERT_EQ(pthread_create(&thr[t], NULL, lookup_worker, &c), 0);
	pthread_barrier_wait(&c.start);

	for (round = 0; round < MAP_ROUNDS; round++) {
		memset(&pgmap, 0, sizeof(pgmap));
		pgmap.type = UHMM_MEMORY_DEVICE_PRIVATE;
		pgmap.range.start = res->start;
		pgmap.range.end = res->end;
		pgmap.nr_range = 1;
		pgmap.ops = &stress_ops;
		pgmap.owner = &pgmap;
		ASSERT_EQ(uhmm_memremap_pages(&pgmap), 0);
		usleep(500);
		uhmm_memunmap_pages(&pgmap);
		/* Scribble over the pgmap as a driver freeing it would. */
		memset(&pgmap, 0xa5, sizeof(pgmap));
		pgmap.priv = NULL;
	}
	atomic_store(&c.stop, 1);
	for (t = 0; t < NR_THREADS; t++)
		pthread_join(thr[t], NULL);
	printf("# lookups: %ld found, %ld missed\n", atomic_load(&c.found),
	       atomic_load(&c.missed));
	ASSERT_GT(atomic_load(&c.found), 0);
	ASSERT_GT(atomic_load(&c.missed), 0);
}

static void *get_put_forever(void *arg)
{
	struct ref_round *r = arg;

	while (!atomic_load(&r->stop)) {
		uhmm_percpu_ref_get(&r->ref);
		uhmm_percpu_ref_put(&r->ref);
	}
	return NULL;
}

/*
 * A thread busy in get/put when another forks does not exist in the child;
 * its "in a section" mark must not make a kill in the child wait forever.
 */
TEST(kill_in_a_forked_child_while_a_parent_thread_was_counting)
{
	struct ref_round r = { 0 };
	pthread_t thr;
	int round, status;

	ASSERT_EQ(uhmm_percpu_ref_init(&r.ref, ref_release, 0), 0);
	ASSERT_EQ(pthread_create(&thr, NULL, get_put_forever, &r), 0);
	for (round = 0; round < 20; round++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			/*
			 * The parent thread may have held a reference at the
			 * fork, so the count need not reach zero: what matters
			 * is that the kill completes (else SIGALRM).
			 */
			alarm(10);
			uhmm_percpu_ref_kill(&r.ref);
			_exit(uhmm_percpu_ref_is_dying(&r.ref) ? 0 : 3);
		}
		ASSERT_EQ(waitpid(pid, &status, 0), pid);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(WEXITSTATUS(status), 0);
	}
	atomic_store(&r.stop, 1);
	pthread_join(thr, NULL);
	uhmm_percpu_ref_kill(&r.ref);
	ASSERT_EQ(atomic_load(&r.releases), 1);
	uhmm_percpu_ref_exit(&r.ref);
}
