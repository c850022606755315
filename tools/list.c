// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * `uhmm list [FILE...]`: ndctl's list for uhmm.  Its state is per process,
 * so list loads the given modules into its own instance, as `uhmm load`
 * does, and prints what is alive there: the modules, the devices and the
 * pgmaps with their counters; then it unloads the modules.  --json prints
 * one array of objects, each with a "kind"; -u gives sizes for people.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/device.h>
#include <uhmm/log.h>
#include <uhmm/memremap.h>
#include <uhmm/module.h>

#include "uhmm.h"

struct list_ctx {
	struct json_object *array;	/* --json: where the objects go; else NULL */
	bool human;
	int count;			/* objects of the current kind so far */
};

/* "64.00 MiB", as ndctl's -u writes sizes. */
static void human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u)
		snprintf(buf, len, "%.2f %s", v, units[u]);
	else
		snprintf(buf, len, "%" PRIu64 " B", bytes);
}

static void heading(struct list_ctx *ctx, const char *title)
{
	if (!ctx->array && !ctx->count++)
		printf("%s:\n", title);
}

static int list_module(struct uhmm_module *mod, void *data)
{
	struct list_ctx *ctx = data;
	const struct uhmm_modinfo *info = uhmm_module_info(mod);
	const char *license = info->license ? info->license : "unspecified";
	struct json_object *o;

	if (!ctx->array) {
		heading(ctx, "modules");
		printf("  %-16s license %-12s users %d%s\n", uhmm_module_name(mod), license,
		       uhmm_module_refcount(mod), uhmm_module_taints(mod) ? "  taints (P)" : "");
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("module"));
	json_object_object_add(o, "name", json_str(uhmm_module_name(mod)));
	json_object_object_add(o, "license", json_str(license));
	json_object_object_add(o, "users", json_object_new_int(uhmm_module_refcount(mod)));
	json_object_object_add(o, "taints", json_object_new_boolean(uhmm_module_taints(mod)));
	json_object_array_add(ctx->array, o);
	return 0;
}

static int list_device(struct uhmm_device *dev, void *data)
{
	struct list_ctx *ctx = data;
	const struct uhmm_driver *drv = uhmm_device_driver(dev);
	struct json_object *o;

	if (!ctx->array) {
		heading(ctx, "devices");
		printf("  %-16s driver %s\n", uhmm_dev_name(dev), drv ? drv->name : "(none)");
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "kind", json_object_new_string("device"));
	json_object_object_add(o, "name", json_str(uhmm_dev_name(dev)));
	json_object_object_add(o, "driver", drv ? json_str(drv->name) : NULL);
	json_object_array_add(ctx->array, o);
	return 0;
}

static struct json_object *json_hex(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%#" PRIx64, v);
	return json_object_new_string(buf);
}

static int list_pgmap(struct uhmm_dev_pagemap *pgmap, void *data)
{
	struct list_ctx *ctx = data;
	struct uhmm_pgmap_stats s = { .size = sizeof(s) };
	uint64_t bytes = 0;
	char size[32];
	struct json_object *o, *ranges;
	int r;

	if (uhmm_pgmap_get_stats(pgmap, &s))
		return 0;
	for (r = 0; r < pgmap->nr_range; r++)
		bytes += uhmm_range_len(uhmm_pgmap_range(pgmap, r));
	if (ctx->human)
		human_size(bytes, size, sizeof(size));
	else
		snprintf(size, sizeof(size), "%" PRIu64, bytes);
	if (!ctx->array) {
		heading(ctx, "pgmaps");
		for (r = 0; r < pgmap->nr_range; r++) {
			const struct uhmm_range *range = uhmm_pgmap_range(pgmap, r);

			printf("  %s%#" PRIx64 "-%#" PRIx64, r ? "+ " : "", range->start, range->end);
		}
		printf("  %s, %s bytes, owner %p\n", uhmm_pgmap_type_name(pgmap), size,
		       pgmap->owner);
		printf("    pages %" PRIu64 ", in use %" PRIu64 ", free %" PRIu64 "\n",
		       s.nr_pages, s.pages_in_use, s.nr_pages - s.pages_in_use);
		printf("    faults %" PRIu64 " (errors %" PRIu64 "), pages in %" PRIu64
		       ", out %" PRIu64 ", evicted %" PRIu64 "\n", s.faults, s.fault_errors,
		       s.pages_in, s.pages_out, s.pages_evicted);
		return 0;
	}
	o = json_object_new_object();
	ranges = json_object_new_array();
	for (r = 0; r < pgmap->nr_range; r++) {
		const struct uhmm_range *range = uhmm_pgmap_range(pgmap, r);
		struct json_object *ro = json_object_new_object();

		json_object_object_add(ro, "start", json_hex(range->start));
		json_object_object_add(ro, "end", json_hex(range->end));
		json_object_array_add(ranges, ro);
	}
	json_object_object_add(o, "kind", json_object_new_string("pgmap"));
	json_object_object_add(o, "type", json_object_new_string(uhmm_pgmap_type_name(pgmap)));
	json_object_object_add(o, "ranges", ranges);
	json_object_object_add(o, "size", ctx->human ? json_object_new_string(size) :
				    json_object_new_int64((int64_t)bytes));
	json_object_object_add(o, "owner", json_hex((uintptr_t)pgmap->owner));
	json_object_object_add(o, "pages", json_object_new_int64((int64_t)s.nr_pages));
	json_object_object_add(o, "pages_in_use", json_object_new_int64((int64_t)s.pages_in_use));
	json_object_object_add(o, "pages_free",
			       json_object_new_int64((int64_t)(s.nr_pages - s.pages_in_use)));
	json_object_object_add(o, "faults", json_object_new_int64((int64_t)s.faults));
	json_object_object_add(o, "fault_errors", json_object_new_int64((int64_t)s.fault_errors));
	json_object_object_add(o, "pages_in", json_object_new_int64((int64_t)s.pages_in));
	json_object_object_add(o, "pages_out", json_object_new_int64((int64_t)s.pages_out));
	json_object_object_add(o, "pages_evicted",
			       json_object_new_int64((int64_t)s.pages_evicted));
	json_object_array_add(ctx->array, o);
	return 0;
}

/* Loading's messages: to stderr, so that stdout is only the list. */
static void print_message(int level, const char *msg, void *data)
{
	(void)data;
	fprintf(stderr, "uhmm list: [%s] %s\n", level <= UHMM_LOG_ERR ? "error" :
		level <= UHMM_LOG_WARNING ? "warning" : "info", msg);
}

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "human", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	struct list_ctx ctx = { NULL, false, 0 };
	struct uhmm_module **mods = NULL;
	bool json = false;
	int n, ret, c;

	while ((c = parse_options(argc, argv, "list", "ju", longopts)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'u')
			ctx.human = true;
		else
			return usage_error("list");
	}
	n = argc - optind;
	uhmm_set_log_fn(print_message, NULL);
	uhmm_set_log_level(UHMM_LOG_WARNING);
	if (n) {
		mods = calloc(n, sizeof(*mods));
		if (!mods)
			return 1;
		ret = uhmm_module_load_many((const char *const *)argv + optind, n, mods);
		if (ret) {
			fprintf(stderr, "uhmm list: loading failed: %s (%d)\n", strerror(-ret), ret);
			free(mods);
			return 1;
		}
	}
	if (json)
		ctx.array = json_object_new_array();
	uhmm_module_for_each(list_module, &ctx);
	ctx.count = 0;
	uhmm_device_for_each(list_device, &ctx);
	ctx.count = 0;
	uhmm_pgmap_for_each(list_pgmap, &ctx);
	if (!json && !ctx.count && !n)
		printf("nothing loaded: name modules to load (uhmm list FILE...)\n");
	if (n) {
		unload_modules(mods, n, NULL, false);
		free(mods);
	}
	return json ? json_print(ctx.array) : 0;
}
