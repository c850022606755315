// SPDX-License-Identifier: LGPL-2.1-or-later
/* `uhmm stat PID`: the counters a process publishes (UHMM_STATS=1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <uhmm/migrate.h>

#include "uhmm.h"

int cmd_stat(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct uhmm_mm_stats s = { .size = sizeof(s) };
	bool json = false;
	long pid;
	int c, ret;

	while ((c = parse_options(argc, argv, "stat", "j", longopts)) != -1) {
		if (c != 'j')
			return usage_error("stat");
		json = true;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "uhmm stat: %s\n", optind == argc ? "no PID given" : "one PID only");
		return usage_error("stat");
	}
	pid = parse_number("stat", "PID", argv[optind], 1, 0x7fffffff);
	if (pid < 0)
		return usage_error("stat");
	ret = uhmm_mm_read_stats((pid_t)pid, &s);
	if (ret) {
		fprintf(stderr, "uhmm stat: %ld: %s\n", pid,
			ret == -ENOENT ? "publishes no counters (run it with UHMM_STATS=1)" :
			ret == -ESRCH ? "is gone (its counters file was left behind)" :
			strerror(-ret));
		return 1;
	}
	{
		/* The counters, then the gauges (what is held now). */
		const struct {
			const char *name;
			uint64_t value;
		} f[] = {
			{ "faults", s.faults },
			{ "zero_faults", s.zero_faults },
			{ "pages_to_device", s.pages_to_device },
			{ "pages_to_ram", s.pages_to_ram },
			{ "pages_evicted", s.pages_evicted },
			{ "fault_errors", s.fault_errors },
			{ "fault_sigbus", s.fault_sigbus },
			{ "fault_stalls", s.fault_stalls },
			{ "fault_retries", s.fault_retries },
			{ "fault_window_pages", s.fault_window_pages },
			{ "fault_windows_grown", s.fault_windows_grown },
			{ "pages_prefetched", s.pages_prefetched },
			{ "thrash_events", s.thrash_events },
			{ "thrash_pinned", s.thrash_pinned },
			{ "moves_undercounted", s.moves_undercounted },
			{ "registered_bytes", s.registered_bytes },
			{ "system_pages", s.system_pages },
		};
		size_t i;

		if (json) {
			struct json_object *a = json_object_new_array(), *o = json_object_new_object();

			json_object_object_add(o, "pid", json_object_new_int64(pid));
			for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
				json_object_object_add(o, f[i].name,
						       json_object_new_int64((int64_t)f[i].value));
			json_object_array_add(a, o);
			return json_print(a);
		}
		printf("pid %ld\n", pid);
		for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			printf("%-20s %llu\n", f[i].name, (unsigned long long)f[i].value);
	}
	return 0;
}
