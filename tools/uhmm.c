// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * uhmm: the command-line tool, `uhmm COMMAND [ARGS]`, in the manner of
 * ndctl and kmod: `uhmm --version`, `uhmm help [COMMAND]`, `uhmm COMMAND
 * --help`.  Exit codes: 0 done, 1 the command failed, 2 bad usage.  Errors
 * go to stderr; a failed write to stdout (a full disk, a closed pipe) is
 * an error too.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/version.h>

#include "uhmm.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;	/* after "uhmm NAME" in its usage line */
	const char *help;
};

static const struct command commands[] = {
	{ "demo", cmd_demo, "", "map device memory, use its pages, unbind: a guided tour" },
	{ "bench", cmd_bench, "[--json] [--runs N] [--filter NAME]",
	  "run the benchmarks (N runs each, 1 to 1000, default 5; NAME: a suite)" },
	{ "modinfo", cmd_modinfo, "[--json] FILE", "print a module's descriptor" },
	{ "load", cmd_load, "[--json] FILE...", "load modules into a fresh instance and report" },
	{ "list", cmd_list, "[--json] [-u] [FILE...]",
	  "load modules into a fresh instance; list its modules, devices and pgmaps" },
	{ "exports", cmd_exports, "[--json]", "list libuhmm's exports and their tier" },
	{ "stat", cmd_stat, "[--json] PID",
	  "a running process's fault and migration counters (it runs with UHMM_STATS=1)" },
	{ "top", cmd_top, "[--json] [-d SECONDS] [-n COUNT]",
	  "every publishing process's faults and migrations per second, live" },
};
#define NR_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < NR_COMMANDS; i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static void command_usage(FILE *out, const struct command *c)
{
	fprintf(out, "usage: uhmm %s%s%s\n  %s\n", c->name, c->args[0] ? " " : "", c->args,
		c->help);
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: uhmm [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(out, "\n`uhmm help COMMAND` or `uhmm COMMAND --help` says more.\n");
}

int usage_error(const char *cmd)
{
	const struct command *c = find_command(cmd);

	if (c)
		command_usage(stderr, c);
	return 2;
}

int parse_options(int argc, char **argv, const char *cmd, const char *shortopts,
		  const struct option *longopts)
{
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == '?') {
		if (optopt && strchr(shortopts, optopt))
			fprintf(stderr, "uhmm %s: option '%s' needs an argument\n", cmd,
				argv[optind - 1]);
		else
			fprintf(stderr, "uhmm %s: unknown option '%s'\n", cmd, argv[optind - 1]);
	}
	return c;
}

long parse_number(const char *cmd, const char *name, const char *s, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (!*s || *end || errno || n < min || n > max) {
		fprintf(stderr, "uhmm %s: %s '%s' is not a number from %ld to %ld\n", cmd, name, s,
			min, max);
		return -1;
	}
	return n;
}

/* What the command printed must have reached stdout. */
static int finish(int ret)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "uhmm: writing the output failed: %s\n", strerror(errno));
		return ret ? ret : 1;
	}
	return ret;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("uhmm %s\n", uhmm_version_string());
		return finish(0);
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    (!strcmp(argv[1], "help") && argc == 2)) {
		usage(stdout);
		return finish(0);
	}
	if (!strcmp(argv[1], "help")) {
		c = find_command(argv[2]);
		if (!c || argc > 3) {
			fprintf(stderr, "uhmm help: no command '%s'\n", argv[2]);
			usage(stderr);
			return 2;
		}
		command_usage(stdout, c);
		return finish(0);
	}
	c = find_command(argv[1]);
	if (!c) {
		fprintf(stderr, "uhmm: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		command_usage(stdout, c);
		return finish(0);
	}
	optind = 1;
	return finish(c->fn(argc - 1, argv + 1));
}
