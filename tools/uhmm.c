// SPDX-License-Identifier: LGPL-2.1-or-later
/* uhmm: the command-line tool.  `uhmm VERB [ARGS]`. */
#include <stdio.h>
#include <string.h>

#include "uhmm.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "demo", cmd_demo, "map device memory, use its pages, unbind: a guided tour" },
	{ "bench", cmd_bench, "run the benchmarks [--json] [--runs N] [--filter NAME]" },
	{ "modinfo", cmd_modinfo, "print a module's descriptor [--json] FILE" },
	{ "load", cmd_load, "load modules into a fresh instance and report: FILE..." },
	{ "exports", cmd_exports, "list libuhmm's exports and their tier [--json]" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: uhmm COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "uhmm: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
