// SPDX-License-Identifier: LGPL-2.1-or-later
/* The benchmarks' runner, called by `uhmm bench`: print a table or JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench.h"

double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_add(struct bench_ctx *ctx, const char *name, double value, const char *unit,
	       double baseline, const char *baseline_name, const char *target)
{
	struct bench_result *r;

	if (ctx->nr_results == ctx->max_results)
		return;
	r = &ctx->results[ctx->nr_results++];
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->value = value;
	r->unit = unit;
	r->baseline = baseline;
	r->baseline_name = baseline_name;
	r->target = target;
}

static double *dup_samples(const double *v, int n)
{
	double *d = v ? malloc(n * sizeof(*d)) : NULL;

	if (d)
		memcpy(d, v, n * sizeof(*d));
	return d;
}

void bench_samples(struct bench_ctx *ctx, const double *values, const double *baselines)
{
	struct bench_result *r;

	if (!ctx->nr_results)
		return;
	r = &ctx->results[ctx->nr_results - 1];
	r->samples = dup_samples(values, ctx->runs);
	r->baseline_samples = dup_samples(baselines, ctx->runs);
	r->nr_samples = r->samples ? ctx->runs : 0;
}

/* What the numbers were measured on: CPU model, online CPUs, kernel. */
static struct json_object *machine_json(void)
{
	struct json_object *m = json_object_new_object();
	char line[512], model[256] = "unknown";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (!strncmp(line, "model name", 10) && colon) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	json_object_object_add(m, "cpu", json_object_new_string(model));
	json_object_object_add(m, "cpus", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(m, "kernel", json_object_new_string(uname(&u) ? "unknown" :
								      u.release));
	return m;
}

static struct json_object *samples_json(const double *v, int n)
{
	struct json_object *a = json_object_new_array();
	int i;

	for (i = 0; v && i < n; i++)
		json_object_array_add(a, json_object_new_double(v[i]));
	return a;
}

static void print_table(const struct bench_ctx *ctx)
{
	int i;

	printf("%-34s %12s %-10s %12s %8s  %-40s %s\n", "benchmark", "value", "unit",
	       "baseline", "ratio", "baseline is", "target");
	for (i = 0; i < ctx->nr_results; i++) {
		const struct bench_result *r = &ctx->results[i];

		printf("%-34s %12.3f %-10s %12.3f %8.3f  %-40s %s\n", r->name, r->value, r->unit,
		       r->baseline, r->value / r->baseline, r->baseline_name, r->target);
	}
}

/* The table's columns as a JSON array (json-c), one object per result. */
static void print_json(const struct bench_ctx *ctx)
{
	struct json_object *a = json_object_new_array(), *machine = machine_json();
	int i;

	for (i = 0; i < ctx->nr_results; i++) {
		const struct bench_result *r = &ctx->results[i];
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "value", json_object_new_double(r->value));
		json_object_object_add(o, "unit", json_object_new_string(r->unit));
		json_object_object_add(o, "baseline", json_object_new_double(r->baseline));
		json_object_object_add(o, "baseline_is", json_object_new_string(r->baseline_name));
		json_object_object_add(o, "ratio", json_object_new_double(r->value / r->baseline));
		json_object_object_add(o, "target", json_object_new_string(r->target));
		json_object_object_add(o, "samples", samples_json(r->samples, r->nr_samples));
		json_object_object_add(o, "baseline_samples",
				       samples_json(r->baseline_samples, r->nr_samples));
		json_object_object_add(o, "machine", json_object_get(machine));
		json_object_array_add(a, o);
	}
	json_object_put(machine);
	printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PRETTY |
						       JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(a);
}

static const struct {
	const char *name;
	void (*fn)(struct bench_ctx *ctx);
} suites[] = {
	{ "memremap", bench_memremap },
	{ "percpu_ref", bench_percpu_ref },
	{ "migrate", bench_migrate },
	{ "hmm", bench_hmm },
};

#define NR_SUITES	(sizeof(suites) / sizeof(suites[0]))

const char *bench_suite_name(size_t i)
{
	return i < NR_SUITES ? suites[i].name : NULL;
}

static bool selected(const struct bench_opts *opts, size_t s)
{
	return !opts->filter || strstr(suites[s].name, opts->filter);
}

int bench_run(const struct bench_opts *opts)
{
	struct bench_result results[64] = { 0 };
	struct bench_ctx ctx = {
		.opts = opts, .runs = opts->runs, .results = results, .max_results = 64,
	};
	size_t s;

	if (opts->runs < 1 || opts->runs > 1000 || !opts->find_module)
		return -EINVAL;
	for (s = 0; s < NR_SUITES && !selected(opts, s); s++)
		;
	if (s == NR_SUITES)
		return -ENOENT;
	for (s = 0; s < NR_SUITES; s++)
		if (selected(opts, s))
			suites[s].fn(&ctx);
	if (opts->json)
		print_json(&ctx);
	else
		print_table(&ctx);
	for (s = 0; s < (size_t)ctx.nr_results; s++) {
		free(results[s].samples);
		free(results[s].baseline_samples);
	}
	return 0;
}
