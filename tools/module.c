// SPDX-License-Identifier: LGPL-2.1-or-later
/* `uhmm modinfo`, `uhmm load`, `uhmm exports`: modules from the command line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uhmm/log.h>
#include <uhmm/module.h>

#include "uhmm.h"

static const char *tier_name(enum uhmm_export_tier tier)
{
	return tier == UHMM_EXPORT_GPL ? "GPL" : "plain";
}

/* Who provides @name to a module: "uhmm", a loaded module's name, or "system". */
static const char *import_owner(const char *name, enum uhmm_export_tier *tier)
{
	const struct uhmm_export *core;
	size_t nr, i;

	core = uhmm_core_exports(&nr);
	for (i = 0; i < nr; i++)
		if (!strcmp(core[i].name, name)) {
			*tier = core[i].tier;
			return "uhmm";
		}
	return NULL;
}

/* The descriptor's string fields, in modinfo's order. */
struct modinfo_field {
	const char *key;
	const char *value;
};

#define NR_FIELDS 8

static void modinfo_fields(const char *path, const struct uhmm_modinfo *info,
			   struct modinfo_field f[NR_FIELDS])
{
	f[0] = (struct modinfo_field){ "filename", path };
	f[1] = (struct modinfo_field){ "name", info->name };
	f[2] = (struct modinfo_field){ "license", info->license };
	f[3] = (struct modinfo_field){ "author", info->author };
	f[4] = (struct modinfo_field){ "description", info->description };
	f[5] = (struct modinfo_field){ "version", info->version };
	f[6] = (struct modinfo_field){ "init", info->init };
	f[7] = (struct modinfo_field){ "exit", info->exit };
}

static void print_modinfo_text(const char *path, const struct uhmm_modinfo *info)
{
	struct modinfo_field f[NR_FIELDS];
	size_t i;

	modinfo_fields(path, info, f);
	for (i = 0; i < NR_FIELDS; i++)
		if (f[i].value) {
			char key[32];

			snprintf(key, sizeof(key), "%s:", f[i].key);
			printf("%-12s %s\n", key, f[i].value);
		}
	printf("%-12s %d\n", "uhmm_abi:", info->abi);
	for (i = 0; i < info->nr_exports; i++)
		printf("%-12s %s\n", info->exports[i].tier == UHMM_EXPORT_GPL ? "export_gpl:" :
		       "export:", info->exports[i].name);
	for (i = 0; i < info->nr_imports; i++) {
		enum uhmm_export_tier tier;
		const char *owner = import_owner(info->imports[i], &tier);

		if (owner)
			printf("%-12s %s (%s, %s)\n", "import:", info->imports[i], owner,
			       tier_name(tier));
		else
			printf("%-12s %s\n", "import:", info->imports[i]);
	}
}

/* One import as JSON: its name, and who provides it with which tier (null if not uhmm). */
static struct json_object *import_json(const char *name, const char *owner,
				       enum uhmm_export_tier tier)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_str(name));
	json_object_object_add(o, "owner", json_str(owner));
	json_object_object_add(o, "tier", owner ? json_str(tier_name(tier)) : NULL);
	return o;
}

static struct json_object *exports_json(const struct uhmm_modinfo *info)
{
	struct json_object *a = json_object_new_array();
	size_t i;

	for (i = 0; i < info->nr_exports; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_str(info->exports[i].name));
		json_object_object_add(e, "tier", json_str(tier_name(info->exports[i].tier)));
		json_object_array_add(a, e);
	}
	return a;
}

/* The fields of the text form, as one JSON object. */
static struct json_object *modinfo_json(const char *path, const struct uhmm_modinfo *info)
{
	struct json_object *o = json_object_new_object(), *imports = json_object_new_array();
	struct modinfo_field f[NR_FIELDS];
	size_t i;

	modinfo_fields(path, info, f);
	for (i = 0; i < NR_FIELDS; i++)
		json_object_object_add(o, f[i].key, json_str(f[i].value));
	json_object_object_add(o, "uhmm_abi", json_object_new_int(info->abi));
	json_object_object_add(o, "gpl_compatible",
			       json_object_new_boolean(uhmm_license_is_gpl_compatible(info->license)));
	json_object_object_add(o, "exports", exports_json(info));
	for (i = 0; i < info->nr_imports; i++) {
		enum uhmm_export_tier tier = UHMM_EXPORT_PLAIN;
		const char *owner = import_owner(info->imports[i], &tier);

		json_object_array_add(imports, import_json(info->imports[i], owner, tier));
	}
	json_object_object_add(o, "imports", imports);
	return o;
}

int cmd_modinfo(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct uhmm_modinfo *info;
	const char *path;
	bool json = false;
	int c;

	while ((c = parse_options(argc, argv, "modinfo", "j", longopts)) != -1) {
		if (c != 'j')
			return usage_error("modinfo");
		json = true;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "uhmm modinfo: %s\n", optind == argc ? "no FILE given" :
			"one FILE only");
		return usage_error("modinfo");
	}
	path = argv[optind];
	info = uhmm_modinfo_read(path);
	if (!info) {
		fprintf(stderr, "uhmm modinfo: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (json) {
		struct json_object *a = json_object_new_array();

		json_object_array_add(a, modinfo_json(path, info));
		json_print(a);
	} else {
		print_modinfo_text(path, info);
	}
	uhmm_modinfo_free(info);
	return 0;
}

static void print_message(int level, const char *msg, void *data)
{
	(void)data;
	printf("  [%s] %s\n", level <= UHMM_LOG_ERR ? "error" : level <= UHMM_LOG_WARNING ?
	       "warning" : "info", msg);
}

/* The module among @mods (or loaded) that exports @name, or NULL. */
static const char *exporter(struct uhmm_module **mods, int n, const char *name,
			    enum uhmm_export_tier *tier)
{
	int i;
	size_t j;

	for (i = 0; i < n; i++) {
		const struct uhmm_modinfo *info = uhmm_module_info(mods[i]);

		for (j = 0; j < info->nr_exports; j++)
			if (!strcmp(info->exports[j].name, name)) {
				*tier = info->exports[j].tier;
				return info->name;
			}
	}
	return NULL;
}


/* --json: messages go to stderr, so that stdout is only the array. */
static void print_message_stderr(int level, const char *msg, void *data)
{
	(void)data;
	fprintf(stderr, "uhmm load: [%s] %s\n", level <= UHMM_LOG_ERR ? "error" :
		level <= UHMM_LOG_WARNING ? "warning" : "info", msg);
}

/* One loaded module as JSON: the text form's fields ("unload" added later). */
static struct json_object *loaded_json(struct uhmm_module **mods, int n, int i,
				       const char *file)
{
	const struct uhmm_modinfo *info = uhmm_module_info(mods[i]);
	struct json_object *o = json_object_new_object(), *imports = json_object_new_array();
	size_t j;

	json_object_object_add(o, "name", json_str(info->name));
	json_object_object_add(o, "filename", json_str(file));
	json_object_object_add(o, "init", json_str(info->init));
	json_object_object_add(o, "license", json_str(info->license));
	json_object_object_add(o, "taints", json_object_new_boolean(uhmm_module_taints(mods[i])));
	for (j = 0; j < info->nr_imports; j++) {
		enum uhmm_export_tier tier = UHMM_EXPORT_PLAIN;
		const char *owner = import_owner(info->imports[j], &tier);
		struct json_object *imp;

		if (!owner)
			owner = exporter(mods, n, info->imports[j], &tier);
		imp = import_json(info->imports[j], owner, tier);

		if (!owner)	/* bound by the dynamic linker, from a library: no tier */
			json_object_object_add(imp, "owner", json_str("system library"));
		json_object_array_add(imports, imp);
	}
	json_object_object_add(o, "imports", imports);
	json_object_object_add(o, "exports", exports_json(info));
	return o;
}

int cmd_load(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct json_object **objs = NULL;
	struct uhmm_module **mods;
	bool json = false;
	char taint[64];
	int n, i, ret, c;
	size_t j;

	while ((c = parse_options(argc, argv, "load", "j", longopts)) != -1) {
		if (c != 'j')
			return usage_error("load");
		json = true;
	}
	argv += optind - 1;	/* argv[1 .. n]: the files */
	n = argc - optind;
	if (n < 1) {
		fprintf(stderr, "uhmm load: no FILE given\n");
		return usage_error("load");
	}
	mods = calloc(n, sizeof(*mods));
	if (!mods)
		return 1;
	uhmm_set_log_fn(json ? print_message_stderr : print_message, NULL);
	uhmm_set_log_level(UHMM_LOG_INFO);
	if (!json)
		printf("loading %d module%s into a fresh instance:\n", n, n == 1 ? "" : "s");
	ret = uhmm_module_load_many((const char *const *)argv + 1, n, mods);
	if (ret) {
		if (json) {
			fprintf(stderr, "uhmm load: load failed: %s (%d)\n", strerror(-ret), ret);
		} else {
			printf("load failed: %s (%d)\n", strerror(-ret), ret);
			printf("%s\n", uhmm_print_tainted(taint, sizeof(taint)));
		}
		free(mods);
		return 1;
	}
	if (json) {
		struct json_object *a = json_object_new_array();

		objs = calloc(n, sizeof(*objs));
		for (i = 0; objs && i < n; i++) {
			objs[i] = loaded_json(mods, n, i, argv[i + 1]);
			json_object_array_add(a, objs[i]);
		}
		unload_modules(mods, n, objs, true);
		free(objs);
		free(mods);
		return json_print(a);
	}
	for (i = 0; i < n; i++) {
		const struct uhmm_modinfo *info = uhmm_module_info(mods[i]);

		printf("\n%s (%s): loaded, init %s ran; license '%s'%s\n", info->name, argv[i + 1],
		       info->init, info->license ? info->license : "unspecified",
		       uhmm_module_taints(mods[i]) ? ", taints (P)" : "");
		for (j = 0; j < info->nr_imports; j++) {
			enum uhmm_export_tier tier = UHMM_EXPORT_PLAIN;
			const char *owner = import_owner(info->imports[j], &tier);

			if (!owner)
				owner = exporter(mods, n, info->imports[j], &tier);
			if (owner)
				printf("  import %-40s <- %s (%s)\n", info->imports[j], owner,
				       tier_name(tier));
			else
				printf("  import %-40s <- system library\n", info->imports[j]);
		}
		for (j = 0; j < info->nr_exports; j++)
			printf("  export %-40s (%s)\n", info->exports[j].name,
			       tier_name(info->exports[j].tier));
	}
	printf("\n%s\n\nunloading:\n", uhmm_print_tainted(taint, sizeof(taint)));
	unload_modules(mods, n, NULL, true);
	free(mods);
	return 0;
}

/* Unload every module, importers before what they import from. */
/* With @objs, each result goes into the module's object as "unload", not to stdout. */
void unload_modules(struct uhmm_module **mods, int n, struct json_object **objs, bool report)
{
	bool progress = true;
	int i, ret;

	while (progress) {
		progress = false;
		for (i = n - 1; i >= 0; i--) {
			char name[64];

			if (!mods[i] || uhmm_module_refcount(mods[i]))
				continue;
			snprintf(name, sizeof(name), "%s", uhmm_module_name(mods[i]));
			ret = uhmm_module_unload(mods[i]);
			if (objs)
				json_object_object_add(objs[i], "unload",
						       json_str(ret ? strerror(-ret) : "exit ran, unloaded"));
			else if (!report && ret)
				fprintf(stderr, "uhmm: unloading %s: %s\n", name, strerror(-ret));
			else if (report)
				printf("  %s: %s\n", name, ret ? strerror(-ret) : "exit ran, unloaded");
			mods[i] = NULL;		/* unloaded, or never will be */
			progress = true;
		}
	}
}

int cmd_exports(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct uhmm_export *exp;
	bool json = false;
	size_t nr, i;
	int c;

	while ((c = parse_options(argc, argv, "exports", "j", longopts)) != -1) {
		if (c != 'j')
			return usage_error("exports");
		json = true;
	}
	if (optind < argc) {
		fprintf(stderr, "uhmm exports: unexpected argument '%s'\n", argv[optind]);
		return usage_error("exports");
	}
	exp = uhmm_core_exports(&nr);
	if (json) {
		struct json_object *a = json_object_new_array();

		for (i = 0; i < nr; i++) {
			struct json_object *e = json_object_new_object();

			json_object_object_add(e, "name", json_str(exp[i].name));
			json_object_object_add(e, "tier", json_str(tier_name(exp[i].tier)));
			json_object_array_add(a, e);
		}
		return json_print(a);
	}
	for (i = 0; i < nr; i++)
		printf("%-44s %s\n", exp[i].name,
		       exp[i].tier == UHMM_EXPORT_GPL ? "EXPORT_SYMBOL_GPL" : "EXPORT_SYMBOL");
	return 0;
}

/*
 * The drivers/ of the meson build tree this uhmm runs from, or "" if it is
 * not in one (an installed uhmm carries no build-tree path).
 */
static void build_tree_module_dir(char *dir, size_t len)
{
	char exe[PATH_MAX], probe[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	dir[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';		/* BUILD/tools */
	snprintf(probe, sizeof(probe), "%s/../build.ninja", exe);
	if (access(probe, R_OK) == 0)
		snprintf(dir, len, "%s/../drivers", exe);
}

int find_module_file(const char *name, char *path, size_t len)
{
	char build_dir[PATH_MAX + 16];
	const char *dirs[3];
	size_t i;

	build_tree_module_dir(build_dir, sizeof(build_dir));
	dirs[0] = getenv("UHMM_MODULE_DIR");
	dirs[1] = build_dir[0] ? build_dir : NULL;
	dirs[2] = UHMM_INSTALL_MODULE_DIR;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (!dirs[i] || !dirs[i][0])
			continue;
		snprintf(path, len, "%s/%s.so", dirs[i], name);
		if (access(path, R_OK) == 0)
			return 0;
	}
	fprintf(stderr, "uhmm: module %s not found; searched:", name);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (dirs[i] && dirs[i][0])
			fprintf(stderr, " %s", dirs[i]);
	fprintf(stderr, "%s\n", dirs[0] ? "" : " (UHMM_MODULE_DIR adds a directory)");
	return -ENOENT;
}
