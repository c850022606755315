// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `uhmm top`: every process that publishes its counters (UHMM_STATS=1), a
 * line each per interval with what it did in that interval, in the manner
 * of `nvidia-smi pmon` and `vmstat`: a report every -d seconds, -n reports
 * or until interrupted.  A process is shown from its second sample on (a
 * rate needs two); one that has gone drops out.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uhmm/migrate.h>

#include "uhmm.h"

#define MAX_PROCS	4096

struct sample {
	pid_t pid;
	struct uhmm_mm_stats s;
};

struct samples {
	struct sample p[MAX_PROCS];
	size_t n;
};

/* The publishers now: /dev/shm/uhmm.PID whose process still runs. */
static void take_samples(struct samples *now)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	now->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && now->n < MAX_PROCS) {
		struct sample *p = &now->p[now->n];
		char *end;
		long pid;

		if (strncmp(e->d_name, "uhmm.", 5))
			continue;
		pid = strtol(e->d_name + 5, &end, 10);
		if (*end || pid <= 0 || pid > 0x7fffffff)
			continue;
		p->pid = (pid_t)pid;
		p->s = (struct uhmm_mm_stats){ .size = sizeof(p->s) };
		if (uhmm_mm_read_stats(p->pid, &p->s) == 0)
			now->n++;
	}
	closedir(d);
}

static const struct sample *find_sample(const struct samples *in, pid_t pid)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		if (in->p[i].pid == pid)
			return &in->p[i];
	return NULL;
}

static void process_name(pid_t pid, char *name, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	name[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		if (fgets(name, (int)len, f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
	if (!name[0])
		snprintf(name, len, "?");
}

/*
 * One column: its header, its JSON name, and what it shows: a counter's
 * change per second or its change in the interval, or a gauge's value now.
 */
enum column_kind { PER_SECOND, IN_INTERVAL, NOW };

struct column {
	const char *header;
	const char *json;
	size_t offset;
	enum column_kind kind;
};

#define COL(h, j, field, k) { h, j, offsetof(struct uhmm_mm_stats, field), k }
static const struct column columns[] = {
	COL("FAULT/s", "faults_per_s", faults, PER_SECOND),
	COL("ZERO/s", "zero_faults_per_s", zero_faults, PER_SECOND),
	COL("TODEV/s", "pages_to_device_per_s", pages_to_device, PER_SECOND),
	COL("TORAM/s", "pages_to_ram_per_s", pages_to_ram, PER_SECOND),
	COL("EVICT/s", "pages_evicted_per_s", pages_evicted, PER_SECOND),
	COL("RETRY/s", "fault_retries_per_s", fault_retries, PER_SECOND),
	COL("PREF/s", "pages_prefetched_per_s", pages_prefetched, PER_SECOND),
	COL("THRASH", "thrash_events", thrash_events, IN_INTERVAL),
	COL("ERRORS", "fault_errors", fault_errors, IN_INTERVAL),
	COL("SIGBUS", "fault_sigbus", fault_sigbus, IN_INTERVAL),
	COL("STALLS", "fault_stalls", fault_stalls, IN_INTERVAL),
	COL("REGBYTES", "registered_bytes", registered_bytes, NOW),
	COL("SYSPAGES", "system_pages", system_pages, NOW),
};
#define NR_COLUMNS	(sizeof(columns) / sizeof(columns[0]))

static double column_value(const struct column *c, const struct sample *now,
			   const struct sample *before, double seconds)
{
	uint64_t a = *(const uint64_t *)((const char *)&now->s + c->offset);
	uint64_t b = *(const uint64_t *)((const char *)&before->s + c->offset);
	/* A reset (uhmm_mm_reset_stats()) between samples: count from zero. */
	double delta = (double)(a >= b ? a - b : a);

	if (c->kind == NOW)
		return (double)a;
	return c->kind == PER_SECOND ? delta / seconds : delta;
}

/* One report: what each process seen in both samples did in between. */
static void report(const struct samples *now, const struct samples *before, double seconds,
		   bool json)
{
	struct json_object *a = json ? json_object_new_array() : NULL;
	size_t i, k;

	if (!json) {
		printf("%8s %-15s", "PID", "COMM");
		for (k = 0; k < NR_COLUMNS; k++)
			printf(" %*s", columns[k].kind == NOW ? 11 : 9, columns[k].header);
		printf("\n");
	}
	for (i = 0; i < now->n; i++) {
		const struct sample *p = &now->p[i], *q = find_sample(before, p->pid);
		struct json_object *o;
		char name[32];

		if (!q)
			continue;
		process_name(p->pid, name, sizeof(name));
		if (!json) {
			printf("%8d %-15s", (int)p->pid, name);
			for (k = 0; k < NR_COLUMNS; k++)
				printf(" %*.0f", columns[k].kind == NOW ? 11 : 9,
				       column_value(&columns[k], p, q, seconds));
			printf("\n");
			continue;
		}
		o = json_object_new_object();
		json_object_object_add(o, "pid", json_object_new_int64(p->pid));
		json_object_object_add(o, "comm", json_str(name));
		json_object_object_add(o, "interval_s", json_object_new_double(seconds));
		for (k = 0; k < NR_COLUMNS; k++) {
			double v = column_value(&columns[k], p, q, seconds);

			json_object_object_add(o, columns[k].json, columns[k].kind == PER_SECOND ?
					       json_object_new_double(v) :
					       json_object_new_int64((int64_t)v));
		}
		json_object_array_add(a, o);
	}
	if (json) {
		/* One array per line: a stream of reports that a reader takes line by line. */
		printf("%s\n", json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN));
		json_object_put(a);
	}
	fflush(stdout);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* "1", "0.5": seconds between reports, 0.1 to 3600. */
static int parse_delay(const char *s, double *delay)
{
	char *end;

	errno = 0;
	*delay = strtod(s, &end);
	if (errno || end == s || *end || !(*delay >= 0.1 && *delay <= 3600)) {
		fprintf(stderr, "uhmm top: -d '%s': seconds from 0.1 to 3600\n", s);
		return -1;
	}
	return 0;
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "delay", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	static struct samples a, b;
	struct samples *now = &a, *before = &b;
	long count = -1, done;
	double delay = 1, t0, t1;
	bool json = false;
	int c;

	while ((c = parse_options(argc, argv, "top", "jd:n:", longopts)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'd':
			if (parse_delay(optarg, &delay))
				return usage_error("top");
			break;
		case 'n':
			count = parse_number("top", "-n", optarg, 1, 1000000);
			if (count < 0)
				return usage_error("top");
			break;
		default:
			return usage_error("top");
		}
	}
	if (optind != argc) {
		fprintf(stderr, "uhmm top: unexpected argument '%s'\n", argv[optind]);
		return usage_error("top");
	}
	take_samples(before);
	t0 = now_s();
	for (done = 0; count < 0 || done < count; done++) {
		struct samples *t;
		struct timespec d = { (time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9) };

		while (nanosleep(&d, &d) && errno == EINTR)
			;
		take_samples(now);
		t1 = now_s();
		report(now, before, t1 - t0, json);
		if (ferror(stdout))
			return 1;	/* main() says what the write failed with */
		t = before;
		before = now;
		now = t;
		t0 = t1;
	}
	return 0;
}
