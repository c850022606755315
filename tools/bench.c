// SPDX-License-Identifier: LGPL-2.1-or-later
/* `uhmm bench`: parse the options and run bench/'s benchmarks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "uhmm.h"

int cmd_bench(int argc, char **argv)
{
	struct bench_opts opts = { .runs = 5, .find_module = find_module_file };
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			opts.json = true;
		} else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
			opts.runs = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
			opts.filter = argv[++i];
		} else {
			fprintf(stderr, "usage: uhmm bench [--json] [--runs N] [--filter NAME]\n");
			return 2;
		}
	}
	if (opts.runs < 1 || opts.runs > 1000) {
		fprintf(stderr, "uhmm bench: --runs must be 1 to 1000\n");
		return 2;
	}
	return bench_run(&opts) ? 1 : 0;
}
