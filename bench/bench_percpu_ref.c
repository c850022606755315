// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * percpu_ref get+put with 1 and 2 threads, against an atomic increment and
 * decrement of one shared counter by the same threads (what a plain atomic
 * refcount costs for a get and a put).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <uhmm/percpu_ref.h>

#include "bench.h"

#define NR_OPS		(1UL << 23)
#define MAX_THREADS	2

struct worker {
	pthread_barrier_t *start;
	struct uhmm_percpu_ref *ref;
	atomic_long *shared;
};

static void *run_percpu_ref(void *arg)
{
	struct worker *w = arg;
	unsigned long i;

	pthread_barrier_wait(w->start);
	for (i = 0; i < NR_OPS; i++) {
		uhmm_percpu_ref_get(w->ref);
		uhmm_percpu_ref_put(w->ref);
	}
	return NULL;
}

static void *run_atomic(void *arg)
{
	struct worker *w = arg;
	unsigned long i;

	pthread_barrier_wait(w->start);
	for (i = 0; i < NR_OPS; i++) {
		atomic_fetch_add(w->shared, 1);
		atomic_fetch_sub(w->shared, 1);
	}
	return NULL;
}

/* Wall time per get+put pair, in ns, for @nthreads threads running @fn. */
static double time_threads(void *(*fn)(void *), int nthreads, struct uhmm_percpu_ref *ref,
			   atomic_long *shared)
{
	pthread_t thr[MAX_THREADS];
	struct worker w[MAX_THREADS];
	pthread_barrier_t start;
	double t0;
	int i;

	pthread_barrier_init(&start, NULL, nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .start = &start, .ref = ref, .shared = shared };
		pthread_create(&thr[i], NULL, fn, &w[i]);
	}
	pthread_barrier_wait(&start);
	t0 = bench_now_ns();
	for (i = 0; i < nthreads; i++)
		pthread_join(thr[i], NULL);
	pthread_barrier_destroy(&start);
	return (bench_now_ns() - t0) / NR_OPS;
}

void bench_percpu_ref(struct bench_ctx *ctx)
{
	double *t_ref = calloc(ctx->runs, sizeof(double));
	double *t_atomic = calloc(ctx->runs, sizeof(double));
	struct uhmm_percpu_ref ref;
	atomic_long shared = 0;
	int nthreads, run;

	uhmm_percpu_ref_init(&ref, NULL, 0);
	for (nthreads = 1; nthreads <= MAX_THREADS; nthreads++) {
		for (run = 0; run < ctx->runs; run++) {
			t_ref[run] = time_threads(run_percpu_ref, nthreads, &ref, NULL);
			t_atomic[run] = time_threads(run_atomic, nthreads, NULL, &shared);
		}
		bench_add(ctx, nthreads == 1 ? "percpu_ref get+put, 1 thread" :
			  "percpu_ref get+put, 2 threads", bench_median(t_ref, ctx->runs), "ns/op",
			  bench_median(t_atomic, ctx->runs), "shared atomic inc+dec, same threads",
			  nthreads == 1 ? "ratio <= 1.5" : "ratio <= 0.25");
		bench_samples(ctx, t_ref, t_atomic);
	}
	uhmm_percpu_ref_kill(&ref);
	uhmm_percpu_ref_exit(&ref);
	free(t_ref);
	free(t_atomic);
}
