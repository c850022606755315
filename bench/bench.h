/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmarks: each measures something of uhmm and, in the same run, the
 * baseline it is judged against; the ratio is value / baseline.  Times are
 * medians over several runs, because these machines are shared and noisy.
 */
#ifndef UHMM_BENCH_H
#define UHMM_BENCH_H

#include <stdbool.h>
#include <stddef.h>

struct bench_result {
	char name[64];
	double value;
	const char *unit;	/* a unit ending in "/s" is a throughput */
	double baseline;
	const char *baseline_name;
	const char *target;	/* the goal, in words */
	double *samples;	/* each run's value and baseline (bench_samples()); or NULL */
	double *baseline_samples;
	int nr_samples;
};

/*
 * What the caller (the uhmm CLI) asks for.  find_module() locates a driver
 * module by name (0 with @path filled, or -errno): bench/ sits below the
 * CLI and learns where modules live only through it.
 */
struct bench_opts {
	int runs;		/* 1..1000 */
	const char *filter;	/* run suites whose name contains it; NULL: all */
	bool json;
	int (*find_module)(const char *name, char *path, size_t len);
};

/*
 * Run the benchmarks and print a table or JSON on stdout: 0, -EINVAL for
 * bad options, or -ENOENT when the filter matches no suite.
 */
int bench_run(const struct bench_opts *opts);

/* The @i-th suite's name, from 0; NULL past the last. */
const char *bench_suite_name(size_t i);

struct bench_ctx {
	const struct bench_opts *opts;
	int runs;
	struct bench_result *results;
	int nr_results;
	int max_results;
};

void bench_add(struct bench_ctx *ctx, const char *name, double value, const char *unit,
	       double baseline, const char *baseline_name, const char *target);

/*
 * Attaches each run's value (@values) and baseline (@baselines, or NULL for
 * a constant one), ctx->runs of each, to the result added last, for --json.
 */
void bench_samples(struct bench_ctx *ctx, const double *values, const double *baselines);

double bench_now_ns(void);
double bench_median(double *v, int n);

/* The dmirror module, for benchmarks that drive a device (bench_migrate.c). */
struct hmm_dmirror_cmd;
struct bench_dmirror {
	int (*ioctl)(int fd, unsigned long request, struct hmm_dmirror_cmd *cmd);
	int fd;
};
int bench_dmirror_open(struct bench_ctx *ctx, struct bench_dmirror *d);
int bench_dmirror_cmd(struct bench_dmirror *d, unsigned long request, void *addr,
		      unsigned long len);
void *bench_map(unsigned long len);	/* anonymous memory, or exit */
double bench_gib_s(unsigned long bytes, double ns);
double bench_memcpy_gib_s(char *dst, const char *src, unsigned long len);

/* One function per subsystem. */
void bench_memremap(struct bench_ctx *ctx);
void bench_percpu_ref(struct bench_ctx *ctx);
void bench_migrate(struct bench_ctx *ctx);
void bench_hmm(struct bench_ctx *ctx);

#endif
