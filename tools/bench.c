// SPDX-License-Identifier: LGPL-2.1-or-later
/* `uhmm bench`: parse the options and run bench/'s benchmarks. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>

#include "bench.h"
#include "uhmm.h"

int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "runs", required_argument, NULL, 'r' },
		{ "filter", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_opts opts = { .runs = 5, .find_module = find_module_file };
	long runs;
	size_t i;
	int c, ret;

	while ((c = parse_options(argc, argv, "bench", "jr:f:", longopts)) != -1) {
		switch (c) {
		case 'j':
			opts.json = true;
			break;
		case 'r':
			runs = parse_number("bench", "--runs", optarg, 1, 1000);
			if (runs < 0)
				return usage_error("bench");
			opts.runs = (int)runs;
			break;
		case 'f':
			opts.filter = optarg;
			break;
		default:
			return usage_error("bench");
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uhmm bench: unexpected argument '%s'\n", argv[optind]);
		return usage_error("bench");
	}
	ret = bench_run(&opts);
	if (ret == -ENOENT) {
		fprintf(stderr, "uhmm bench: no suite matches '%s'; the suites are", opts.filter);
		for (i = 0; bench_suite_name(i); i++)
			fprintf(stderr, "%s %s", i ? "," : ":", bench_suite_name(i));
		fprintf(stderr, "\n");
		return 2;
	}
	return ret ? 1 : 0;
}
