// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Device-private memory: the CPU fault back, sequential touch with
 * fault-around, and migration throughput, through the dmirror module.
 *
 * Baselines, measured in the same run: a bare userfaultfd fault resolved
 * with UFFDIO_COPY by a handler thread (what any user-space fault costs),
 * and memcpy() between two already-faulted buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include <uhmm/uhmm.h>
#include <uhmm/module.h>

#include "dmirror/hmm_dmirror.h"
#include "bench.h"

#define PAGE		4096UL
#define FAULT_PAGES	4096UL
#define BIG		(256UL << 20)

int bench_dmirror_open(struct bench_ctx *ctx, struct bench_dmirror *d)
{
	dmirror_open_fn open_fn;
	char path[4096];
	int ret;

	ret = uhmm_mm_init();
	if (ret)
		return ret;
	if (!uhmm_module_find("dmirror")) {
		ret = ctx->opts->find_module("dmirror", path, sizeof(path));
		if (!ret)
			ret = uhmm_module_load(path, NULL);
		if (ret)
			return ret;
	}
	open_fn = (dmirror_open_fn)uhmm_symbol_get("dmirror_open");
	d->ioctl = (dmirror_ioctl_fn)uhmm_symbol_get("dmirror_ioctl");
	if (!open_fn || !d->ioctl)
		return -ENOENT;
	d->fd = open_fn(0);
	return d->fd < 0 ? d->fd : 0;
}

int bench_dmirror_cmd(struct bench_dmirror *d, unsigned long request, void *addr,
		      unsigned long len)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)addr, .npages = len / PAGE,
	};

	return d->ioctl(d->fd, request, &cmd);
}

void *bench_map(unsigned long len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("uhmm bench: mmap");
		exit(1);
	}
	return p;
}

static void touch_pages(volatile char *p, unsigned long len)
{
	unsigned long i;

	for (i = 0; i < len; i += PAGE)
		(void)p[i];
}

/* Percentiles of one run's faults, each timed on its own. */
struct fault_pct {
	double p50, p99;
};

/*
 * Touches FAULT_PAGES pages, timing each touch (a fault each); returns the
 * mean in ns, and the run's p50 and p99 in *@pct.
 */
static double timed_faults(volatile char *p, struct fault_pct *pct)
{
	static double lat[FAULT_PAGES];
	double sum = 0;
	unsigned long i;

	for (i = 0; i < FAULT_PAGES; i++) {
		double t0 = bench_now_ns();

		(void)p[i * PAGE];
		lat[i] = bench_now_ns() - t0;
		sum += lat[i];
	}
	bench_median(lat, FAULT_PAGES);		/* sorts */
	pct->p50 = lat[FAULT_PAGES / 2];
	pct->p99 = lat[FAULT_PAGES * 99 / 100];
	return sum / FAULT_PAGES;
}

/* --- baseline: a bare userfaultfd round trip ------------------------------- */

struct bare_uffd {
	int uffd;
	int stop[2];	/* a pipe: closing the write end stops the handler */
	char *src;
};

static void *bare_handler(void *arg)
{
	struct bare_uffd *b = arg;
	struct uffd_msg msg;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = b->uffd, .events = POLLIN },
			{ .fd = b->stop[0], .events = POLLIN },
		};
		struct uffdio_copy copy;

		if (poll(pfd, 2, -1) < 0 || pfd[1].revents)
			return NULL;
		if (read(b->uffd, &msg, sizeof(msg)) != sizeof(msg))
			continue;
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~(PAGE - 1);
		copy.src = (uintptr_t)b->src;
		copy.len = PAGE;
		copy.mode = 0;
		ioctl(b->uffd, UFFDIO_COPY, &copy);
	}
}

/* ns per fault, or a negative errno */
static double bare_uffd_fault_ns(struct fault_pct *pct)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct bare_uffd b;
	struct uffdio_register reg;
	pthread_t thread;
	double t;
	char *buf;

	*pct = (struct fault_pct){ -1, -1 };	/* what an error leaves */
	b.uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (b.uffd < 0 || ioctl(b.uffd, UFFDIO_API, &api))
		return -errno;
	if (pipe(b.stop))
		return -errno;
	b.src = bench_map(PAGE);
	memset(b.src, 1, PAGE);
	buf = bench_map(FAULT_PAGES * PAGE);
	reg.range.start = (uintptr_t)buf;
	reg.range.len = FAULT_PAGES * PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(b.uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	pthread_create(&thread, NULL, bare_handler, &b);
	t = timed_faults(buf, pct);
	close(b.stop[1]);
	pthread_join(thread, NULL);
	close(b.stop[0]);
	close(b.uffd);
	munmap(buf, FAULT_PAGES * PAGE);
	munmap(b.src, PAGE);
	return t;
}

/*
 * The other threading model: UFFD_FEATURE_SIGBUS, the fault resolved in the
 * faulting thread's signal handler (for the record: uhmm does not use it,
 * see lib/mm/engine.c).
 */
static int sigbus_uffd = -1;
static char *sigbus_src;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
	struct uffdio_copy copy = {
		.dst = (uintptr_t)si->si_addr & ~(PAGE - 1),
		.src = (uintptr_t)sigbus_src,
		.len = PAGE,
	};

	(void)sig;
	(void)uc;
	ioctl(sigbus_uffd, UFFDIO_COPY, &copy);
}

static double sigbus_fault_ns(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_SIGBUS };
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO }, old;
	struct uffdio_register reg;
	double t0, t;
	char *buf;

	sigbus_uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (sigbus_uffd < 0 || ioctl(sigbus_uffd, UFFDIO_API, &api))
		return -errno;
	sigbus_src = bench_map(PAGE);
	memset(sigbus_src, 1, PAGE);
	buf = bench_map(FAULT_PAGES * PAGE);
	reg.range.start = (uintptr_t)buf;
	reg.range.len = FAULT_PAGES * PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(sigbus_uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	sigaction(SIGBUS, &sa, &old);
	t0 = bench_now_ns();
	touch_pages(buf, FAULT_PAGES * PAGE);
	t = (bench_now_ns() - t0) / FAULT_PAGES;
	sigaction(SIGBUS, &old, NULL);
	close(sigbus_uffd);
	munmap(buf, FAULT_PAGES * PAGE);
	munmap(sigbus_src, PAGE);
	return t;
}

/* --- uhmm ---------------------------------------------------------------- */

static double uhmm_fault_ns(struct bench_dmirror *d, struct fault_pct *pct)
{
	char *buf = bench_map(FAULT_PAGES * PAGE);
	double t;

	*pct = (struct fault_pct){ -1, -1 };	/* what an error leaves */
	memset(buf, 2, FAULT_PAGES * PAGE);
	uhmm_set_fault_around_bytes(PAGE);
	if (bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, FAULT_PAGES * PAGE))
		return -1;
	t = timed_faults(buf, pct);
	munmap(buf, FAULT_PAGES * PAGE);
	return t;
}

/* --- the migration policy -------------------------------------------------- */

#define RANDOM_BUF	BIG
#define RANDOM_TOUCHES	2048UL	/* 1 in 32 pages: one page per fault, nearly always */

/* ns per touch of RANDOM_TOUCHES distinct random pages of a buffer in device memory */
static double random_touch_ns(struct bench_dmirror *d, char *buf)
{
	unsigned long npages = RANDOM_BUF / PAGE, i, x = 88172645463325252UL;
	unsigned char *seen = calloc(npages, 1);
	unsigned long *order = calloc(RANDOM_TOUCHES, sizeof(*order));
	double t0, t = -1;

	if (!seen || !order)
		goto out;
	for (i = 0; i < RANDOM_TOUCHES;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (!seen[x % npages]) {
			seen[x % npages] = 1;
			order[i++] = x % npages;
		}
	}
	if (bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, RANDOM_BUF))
		goto out;
	t0 = bench_now_ns();
	for (i = 0; i < RANDOM_TOUCHES; i++)
		(void)((volatile char *)buf)[order[i] * PAGE];
	t = (bench_now_ns() - t0) / RANDOM_TOUCHES;
out:
	free(seen);
	free(order);
	return t;
}

#define PING_PONG_BUF		(64UL << 10)
#define PING_PONG_ROUNDS	200

/*
 * µs per round of a ping-pong: the device migrates the buffer in, the CPU
 * reads it all back.  A migration that leaves pinned pages in place
 * answers -ENOENT (dmirror's check), which is the point here.
 */
static double ping_pong_us(struct bench_dmirror *d, char *buf)
{
	double t0 = bench_now_ns();
	int i;

	for (i = 0; i < PING_PONG_ROUNDS; i++) {
		bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, PING_PONG_BUF);
		touch_pages(buf, PING_PONG_BUF);
	}
	return (bench_now_ns() - t0) / PING_PONG_ROUNDS / 1000;
}

/* --- cost against size ------------------------------------------------------ */

#define NR_SCALES	2
static const unsigned long scale_bytes[NR_SCALES] = { 16UL << 20, 1UL << 30 };
static const char *const scale_name[NR_SCALES] = { "16 MiB", "1 GiB" };

/* GiB/s of migrating @buf (@len bytes) to the device, touching it all back, and to and fro. */
static int scale_run(struct bench_dmirror *d, char *buf, unsigned long len, double *to_dev,
		     double *touch, double *to_ram)
{
	double t0 = bench_now_ns();
	int ret = bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, len);

	*to_dev = bench_gib_s(len, bench_now_ns() - t0);
	t0 = bench_now_ns();
	touch_pages(buf, len);
	*touch = bench_gib_s(len, bench_now_ns() - t0);
	ret |= bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, len);
	t0 = bench_now_ns();
	ret |= bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_SYS, buf, len);
	*to_ram = bench_gib_s(len, bench_now_ns() - t0);
	return ret;
}

/* --- several faulting threads ------------------------------------------------ */

struct toucher {
	char *buf;
	pthread_barrier_t *start;
};

static void *toucher_thread(void *arg)
{
	struct toucher *t = arg;

	pthread_barrier_wait(t->start);
	touch_pages(t->buf, FAULT_PAGES * PAGE);
	return NULL;
}

/*
 * Faults per µs with @n threads (1 or 2) each touching FAULT_PAGES pages of
 * its own in device memory, one page per fault; -1 if a migration failed.
 */
static double fault_rate(struct bench_dmirror *d, int n)
{
	struct toucher t[2];
	pthread_barrier_t start;
	pthread_t thread[2];
	char *buf = bench_map(2 * FAULT_PAGES * PAGE);
	double t0, t1;
	int i, ret;

	memset(buf, 6, 2 * FAULT_PAGES * PAGE);
	uhmm_set_fault_around_bytes(PAGE);
	ret = bench_dmirror_cmd(d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, 2 * FAULT_PAGES * PAGE);
	pthread_barrier_init(&start, NULL, n + 1);
	for (i = 0; !ret && i < n; i++) {
		t[i].buf = buf + i * FAULT_PAGES * PAGE;
		t[i].start = &start;
		pthread_create(&thread[i], NULL, toucher_thread, &t[i]);
	}
	t0 = bench_now_ns();
	if (!ret)
		pthread_barrier_wait(&start);
	for (i = 0; !ret && i < n; i++)
		pthread_join(thread[i], NULL);
	t1 = bench_now_ns();
	pthread_barrier_destroy(&start);
	munmap(buf, 2 * FAULT_PAGES * PAGE);
	return ret ? -1 : n * FAULT_PAGES / ((t1 - t0) / 1000);
}

double bench_gib_s(unsigned long bytes, double ns)
{
	return bytes / ns * 1e9 / (1UL << 30);
}

double bench_memcpy_gib_s(char *dst, const char *src, unsigned long len)
{
	double t0 = bench_now_ns();

	memcpy(dst, src, len);
	return bench_gib_s(len, bench_now_ns() - t0);
}

void bench_migrate(struct bench_ctx *ctx)
{
	double *fault = calloc(ctx->runs, sizeof(double)), *bare = calloc(ctx->runs, sizeof(double));
	double *to_dev = calloc(ctx->runs, sizeof(double)), *to_ram = calloc(ctx->runs, sizeof(double));
	double *touch = calloc(ctx->runs, sizeof(double)), *touch2m = calloc(ctx->runs, sizeof(double));
	double *cpy = calloc(ctx->runs, sizeof(double)), *sigbus = calloc(ctx->runs, sizeof(double));
	double *adaptive = calloc(ctx->runs, sizeof(double));
	double *rnd = calloc(ctx->runs, sizeof(double)), *rnd4k = calloc(ctx->runs, sizeof(double));
	double *pp = calloc(ctx->runs, sizeof(double)), *pp_pin = calloc(ctx->runs, sizeof(double));
	double *f50 = calloc(ctx->runs, sizeof(double)), *f99 = calloc(ctx->runs, sizeof(double));
	double *b50 = calloc(ctx->runs, sizeof(double)), *b99 = calloc(ctx->runs, sizeof(double));
	double *rate1 = calloc(ctx->runs, sizeof(double)), *rate2 = calloc(ctx->runs, sizeof(double));
	double *sc_dev[NR_SCALES], *sc_touch[NR_SCALES], *sc_ram[NR_SCALES];
	char *sc_buf[NR_SCALES];
	int k;
	struct uhmm_migrate_policy policy = { .size = sizeof(policy) }, pinning;
	char *a, *b, *buf;
	struct bench_dmirror d;
	int i, ret;

	ret = bench_dmirror_open(ctx, &d);
	if (ret) {
		fprintf(stderr, "uhmm bench: migrate: skipped, the fault engine or dmirror is "
			"unavailable (%s)\n", strerror(-ret));
		goto out;
	}
	uhmm_get_migrate_policy(&policy);	/* the default, or the environment's */
	pinning = policy;
	pinning.thrash_threshold = 3;
	pinning.thrash_lapse_us = 500;
	pinning.thrash_pin_ms = 300;		/* NVIDIA UVM's defaults */
	for (k = 0; k < NR_SCALES; k++) {
		sc_dev[k] = calloc(ctx->runs, sizeof(double));
		sc_touch[k] = calloc(ctx->runs, sizeof(double));
		sc_ram[k] = calloc(ctx->runs, sizeof(double));
		sc_buf[k] = bench_map(scale_bytes[k]);
		memset(sc_buf[k], 7, scale_bytes[k]);
	}
	a = bench_map(BIG);
	b = bench_map(BIG);
	memset(a, 3, BIG);
	memset(b, 4, BIG);
	buf = bench_map(BIG);
	memset(buf, 5, BIG);
	for (i = 0; i < ctx->runs; i++) {
		struct fault_pct fp, bp;
		double t0;

		bare[i] = bare_uffd_fault_ns(&bp);
		sigbus[i] = sigbus_fault_ns();
		fault[i] = uhmm_fault_ns(&d, &fp);
		b50[i] = bp.p50;
		b99[i] = bp.p99;
		f50[i] = fp.p50;
		f99[i] = fp.p99;
		rate1[i] = fault_rate(&d, 1);
		rate2[i] = fault_rate(&d, 2);
		cpy[i] = bench_memcpy_gib_s(b, a, BIG);

		t0 = bench_now_ns();
		ret = bench_dmirror_cmd(&d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, BIG);
		to_dev[i] = bench_gib_s(BIG, bench_now_ns() - t0);
		t0 = bench_now_ns();
		ret |= bench_dmirror_cmd(&d, HMM_DMIRROR_MIGRATE_TO_SYS, buf, BIG);
		to_ram[i] = bench_gib_s(BIG, bench_now_ns() - t0);

		uhmm_set_migrate_policy(&policy);
		ret |= bench_dmirror_cmd(&d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, BIG);
		t0 = bench_now_ns();
		touch_pages(buf, BIG);
		adaptive[i] = bench_gib_s(BIG, bench_now_ns() - t0);
		for (k = 0; k < NR_SCALES; k++)
			ret |= scale_run(&d, sc_buf[k], scale_bytes[k], &sc_dev[k][i],
					 &sc_touch[k][i], &sc_ram[k][i]);
		rnd[i] = random_touch_ns(&d, buf);
		pp[i] = ping_pong_us(&d, buf);
		uhmm_set_migrate_policy(&pinning);
		pp_pin[i] = ping_pong_us(&d, buf + PING_PONG_BUF);
		uhmm_set_migrate_policy(&policy);
		uhmm_set_fault_around_bytes(PAGE);
		rnd4k[i] = random_touch_ns(&d, buf);

		uhmm_set_fault_around_bytes(64UL << 10);
		ret |= bench_dmirror_cmd(&d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, BIG);
		t0 = bench_now_ns();
		touch_pages(buf, BIG);
		touch[i] = bench_gib_s(BIG, bench_now_ns() - t0);

		uhmm_set_fault_around_bytes(2UL << 20);
		ret |= bench_dmirror_cmd(&d, HMM_DMIRROR_MIGRATE_TO_DEV, buf, BIG);
		t0 = bench_now_ns();
		touch_pages(buf, BIG);
		touch2m[i] = bench_gib_s(BIG, bench_now_ns() - t0);
		if (ret || fault[i] < 0 || bare[i] < 0 || rnd[i] < 0 || rnd4k[i] < 0 ||
		    rate1[i] < 0 || rate2[i] < 0) {
			fprintf(stderr, "uhmm bench: migrate: a migration failed\n");
			goto out_unmap;
		}
	}
	uhmm_set_migrate_policy(&policy);
	bench_add(ctx, "cpu fault back, 4 KiB page", bench_median(fault, ctx->runs), "ns",
		  bench_median(bare, ctx->runs), "bare uffd fault, UFFDIO_COPY, handler",
		  "<= 1.5");
	bench_samples(ctx, fault, bare);
	bench_add(ctx, "cpu fault back, p50", bench_median(f50, ctx->runs), "ns",
		  bench_median(b50, ctx->runs), "bare uffd fault, handler, p50", "information");
	bench_samples(ctx, f50, b50);
	bench_add(ctx, "cpu fault back, p99", bench_median(f99, ctx->runs), "ns",
		  bench_median(b99, ctx->runs), "bare uffd fault, handler, p99", "information");
	bench_samples(ctx, f99, b99);
	bench_add(ctx, "cpu faults, 2 threads, disjoint", bench_median(rate2, ctx->runs),
		  "faults/us", bench_median(rate1, ctx->runs), "the same, 1 thread",
		  ">= 1.6 (in-thread mode)");
	bench_samples(ctx, rate2, rate1);
	bench_add(ctx, "bare uffd fault, SIGBUS in-thread", bench_median(sigbus, ctx->runs), "ns",
		  bench_median(bare, ctx->runs), "bare uffd fault, UFFDIO_COPY, handler",
		  "information");
	bench_samples(ctx, sigbus, bare);
	{
		double base = bench_median(cpy, ctx->runs);

		bench_add(ctx, "sequential touch, adaptive window", bench_median(adaptive, ctx->runs),
			  "GiB/s", base, "memcpy 256 MiB", ">= 0.5");
		bench_samples(ctx, adaptive, cpy);
		bench_add(ctx, "sequential touch, fault-around 64K", bench_median(touch, ctx->runs),
			  "GiB/s", base, "memcpy 256 MiB", "information");
		bench_samples(ctx, touch, cpy);
		bench_add(ctx, "sequential touch, fault-around 2M", bench_median(touch2m, ctx->runs),
			  "GiB/s", base, "memcpy 256 MiB", "information");
		bench_samples(ctx, touch2m, cpy);
		bench_add(ctx, "random touch, adaptive window", bench_median(rnd, ctx->runs), "ns",
			  bench_median(rnd4k, ctx->runs), "random touch, fixed 4 KiB window",
			  "<= 1.1");
		bench_samples(ctx, rnd, rnd4k);
		bench_add(ctx, "ping-pong 64 KiB, thrash pinning", bench_median(pp_pin, ctx->runs),
			  "us/round", bench_median(pp, ctx->runs), "ping-pong 64 KiB, no pinning",
			  "information");
		bench_samples(ctx, pp_pin, pp);
		bench_add(ctx, "migrate 256 MiB to device", bench_median(to_dev, ctx->runs), "GiB/s",
			  base, "memcpy 256 MiB", ">= 0.7");
		bench_samples(ctx, to_dev, cpy);
		bench_add(ctx, "migrate 256 MiB to system", bench_median(to_ram, ctx->runs), "GiB/s",
			  base, "memcpy 256 MiB", ">= 0.7");
		bench_samples(ctx, to_ram, cpy);
		/* Cost linear in size: each size against the 256 MiB rows above. */
		for (k = 0; k < NR_SCALES; k++) {
			static char names[NR_SCALES][3][64];

			snprintf(names[k][0], 64, "migrate to device, %s", scale_name[k]);
			snprintf(names[k][1], 64, "sequential touch, %s", scale_name[k]);
			snprintf(names[k][2], 64, "migrate to system, %s", scale_name[k]);
			bench_add(ctx, names[k][0], bench_median(sc_dev[k], ctx->runs), "GiB/s",
				  bench_median(to_dev, ctx->runs), "the same, 256 MiB", "0.8 .. 1.2");
			bench_samples(ctx, sc_dev[k], to_dev);
			bench_add(ctx, names[k][1], bench_median(sc_touch[k], ctx->runs), "GiB/s",
				  bench_median(adaptive, ctx->runs), "the same, 256 MiB", "0.8 .. 1.2");
			bench_samples(ctx, sc_touch[k], adaptive);
			bench_add(ctx, names[k][2], bench_median(sc_ram[k], ctx->runs), "GiB/s",
				  bench_median(to_ram, ctx->runs), "the same, 256 MiB", "0.8 .. 1.2");
			bench_samples(ctx, sc_ram[k], to_ram);
		}
	}
out_unmap:
	for (k = 0; k < NR_SCALES; k++) {
		munmap(sc_buf[k], scale_bytes[k]);
		free(sc_dev[k]);
		free(sc_touch[k]);
		free(sc_ram[k]);
	}
	munmap(a, BIG);
	munmap(b, BIG);
	munmap(buf, BIG);
out:
	free(fault);
	free(bare);
	free(to_dev);
	free(to_ram);
	free(touch);
	free(touch2m);
	free(cpy);
	free(sigbus);
	free(adaptive);
	free(rnd);
	free(rnd4k);
	free(pp);
	free(pp_pin);
	free(f50);
	free(f99);
	free(b50);
	free(b99);
	free(rate1);
	free(rate2);
}
