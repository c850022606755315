// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The module loader: license rules and taint, imports, exports, use counts,
 * init and exit, and every refusal with the kernel's message.
 */
#include <dlfcn.h>
#include <sys/stat.h>

#include <uhmm/uhmm.h>
#include <uhmm/module.h>

#include "harness.h"

#define MOD(name) TEST_MODULE_DIR "/" name ".so"

static char log_buf[8192];

static void capture(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	strncat(log_buf, msg, sizeof(log_buf) - strlen(log_buf) - 2);
	strcat(log_buf, "\n");
}

static void start_capture(void)
{
	log_buf[0] = '\0';
	uhmm_set_log_fn(capture, NULL);
	uhmm_set_log_level(UHMM_LOG_INFO);
}

/* Is a module's image mapped in the process? (the loader maps it from a memfd) */
static bool mapped(const char *name)
{
	char line[512], pattern[128];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	ASSERT_NONNULL(f);
	snprintf(pattern, sizeof(pattern), "/memfd:%s ", name);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, pattern))
			found = true;
	fclose(f);
	return found;
}

static bool logged(const char *text)
{
	return strstr(log_buf, text) != NULL;
}

/* The region gpl_ok's init claims and its exit releases. */
static int gpl_ok_region(void)
{
	return uhmm_region_intersects(1ULL << 45, 1ULL << 20, UHMM_IORESOURCE_MEM, 0);
}

TEST(modinfo_reads_the_descriptor_without_running_it)
{
	struct uhmm_modinfo *info = uhmm_modinfo_read(MOD("gpl_ok"));
	size_t i;
	bool helper_gpl = false, plain = false, imports_ref = false;

	ASSERT_NONNULL(info);
	ASSERT_STREQ(info->name, "gpl_ok");
	ASSERT_STREQ(info->license, "GPL");
	ASSERT_STREQ(info->author, "uhmm tests");
	ASSERT_STREQ(info->version, "1.0");
	ASSERT_STREQ(info->init, "gpl_ok_init");
	ASSERT_STREQ(info->exit, "gpl_ok_exit");
	ASSERT_EQ(info->abi, UHMM_MODULE_ABI);
	ASSERT_EQ(info->nr_exports, 2);
	for (i = 0; i < info->nr_exports; i++) {
		if (!strcmp(info->exports[i].name, "gpl_ok_helper"))
			helper_gpl = info->exports[i].tier == UHMM_EXPORT_GPL;
		if (!strcmp(info->exports[i].name, "gpl_ok_plain"))
			plain = info->exports[i].tier == UHMM_EXPORT_PLAIN;
	}
	ASSERT_TRUE(helper_gpl && plain);
	for (i = 0; i < info->nr_imports; i++)
		if (!strcmp(info->imports[i], "uhmm_percpu_ref_init"))
			imports_ref = true;
	ASSERT_TRUE(imports_ref);
	ASSERT_EQ(uhmm_get_taint(), 0);		/* reading runs nothing */
	ASSERT_NULL(uhmm_module_find("gpl_ok"));
	uhmm_modinfo_free(info);
	uhmm_modinfo_free(NULL);

	errno = 0;
	ASSERT_NULL(uhmm_modinfo_read(MOD("does_not_exist")));
	ASSERT_EQ(errno, ENOENT);
	errno = 0;
	ASSERT_NULL(uhmm_modinfo_read(NULL));
	ASSERT_EQ(errno, EINVAL);
}

TEST(only_regular_files_are_read)
{
	char fifo[64];

	/* The old reader blocked forever opening a FIFO without a writer. */
	alarm(10);
	snprintf(fifo, sizeof(fifo), "/tmp/uhmm-test-module-fifo-%d", getpid());
	unlink(fifo);
	ASSERT_EQ(mkfifo(fifo, 0600), 0);
	start_capture();
	errno = 0;
	ASSERT_NULL(uhmm_modinfo_read(fifo));
	ASSERT_EQ(errno, EINVAL);
	ASSERT_TRUE(logged("-fifo-"));
	ASSERT_TRUE(logged(": not a regular file"));
	ASSERT_EQ(uhmm_module_load(fifo, NULL), -EINVAL);
	unlink(fifo);
	ASSERT_EQ(uhmm_module_load("/dev/null", NULL), -EINVAL);
	ASSERT_EQ(uhmm_module_load(TEST_MODULE_DIR, NULL), -EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_modinfo_read(TEST_MODULE_DIR));
	ASSERT_EQ(errno, EINVAL);
}

TEST(gpl_module_loads_runs_init_and_exit_once)
{
	struct uhmm_module *mod;
	char buf[64];

	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &mod), 0);
	ASSERT_TRUE(mapped("gpl_ok"));
	ASSERT_TRUE(uhmm_module_find("gpl_ok") == mod);
	ASSERT_STREQ(uhmm_module_name(mod), "gpl_ok");
	ASSERT_EQ(uhmm_module_taints(mod), 0);
	ASSERT_STREQ(uhmm_print_tainted(buf, sizeof(buf)), "Not tainted");
	/* init claimed its region (a second init would fail to). */
	ASSERT_EQ(gpl_ok_region(), UHMM_REGION_INTERSECTS);
	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), NULL), -EEXIST);
	ASSERT_EQ(gpl_ok_region(), UHMM_REGION_INTERSECTS);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	ASSERT_NULL(uhmm_module_find("gpl_ok"));
	ASSERT_FALSE(mapped("gpl_ok"));
	ASSERT_EQ(gpl_ok_region(), UHMM_REGION_DISJOINT);	/* exit released it */
	ASSERT_EQ(uhmm_module_unload(NULL), -EINVAL);
	/* It loads again, and its init runs again. */
	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(proprietary_module_cannot_bind_gpl_only_symbols)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_gpl"), NULL), -ENOENT);
	ASSERT_FALSE(mapped("prop_gpl"));	/* refused before anything of it ran */
	ASSERT_TRUE(logged("prop_gpl: module license 'Proprietary' taints kernel."));
	ASSERT_TRUE(logged("prop_gpl: Unknown symbol uhmm_percpu_ref_init (err -2)"));
	ASSERT_TRUE(logged("is exported GPL-only"));
	ASSERT_NULL(uhmm_module_find("prop_gpl"));
	/* The attempt taints, as in the kernel. */
	ASSERT_EQ(uhmm_get_taint(), 1UL << UHMM_TAINT_PROPRIETARY_MODULE);
}

TEST(proprietary_module_with_plain_imports_loads_and_taints)
{
	struct uhmm_module *mod;
	char buf[64];

	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_plain"), &mod), 0);
	ASSERT_TRUE(logged("prop_plain: module license 'Proprietary' taints kernel."));
	ASSERT_EQ(uhmm_module_taints(mod), 1UL << UHMM_TAINT_PROPRIETARY_MODULE);
	ASSERT_STREQ(uhmm_print_tainted(buf, sizeof(buf)), "Tainted: P");
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	/* Taint outlives the module. */
	ASSERT_EQ(uhmm_get_taint(), 1UL << UHMM_TAINT_PROPRIETARY_MODULE);
}

TEST(missing_license_taints_as_unspecified)
{
	struct uhmm_module *mod;

	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("no_license"), &mod), 0);
	ASSERT_TRUE(logged("no_license: module license 'unspecified' taints kernel."));
	ASSERT_EQ(uhmm_module_taints(mod), 1UL << UHMM_TAINT_PROPRIETARY_MODULE);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(the_six_gpl_compatible_licenses)
{
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("GPL"));
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("GPL v2"));
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("GPL and additional rights"));
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("Dual BSD/GPL"));
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("Dual MIT/GPL"));
	ASSERT_TRUE(uhmm_license_is_gpl_compatible("Dual MPL/GPL"));
	ASSERT_FALSE(uhmm_license_is_gpl_compatible("GPLv2"));
	ASSERT_FALSE(uhmm_license_is_gpl_compatible("gpl"));
	ASSERT_FALSE(uhmm_license_is_gpl_compatible("Proprietary"));
	ASSERT_FALSE(uhmm_license_is_gpl_compatible("MIT"));
	ASSERT_FALSE(uhmm_license_is_gpl_compatible(NULL));
}

TEST(module_exports_pin_their_exporter)
{
	struct uhmm_module *ok, *user;

	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &ok), 0);
	/* Its init fails unless gpl_ok's export answers 42. */
	ASSERT_EQ(uhmm_module_load(MOD("gpl_user"), &user), 0);
	ASSERT_EQ(uhmm_module_refcount(ok), 1);
	start_capture();
	ASSERT_EQ(uhmm_module_unload(ok), -EBUSY);
	ASSERT_TRUE(logged("gpl_ok: in use by 1 other module(s)"));
	ASSERT_EQ(uhmm_module_unload(user), 0);
	ASSERT_EQ(uhmm_module_refcount(ok), 0);
	ASSERT_EQ(uhmm_module_unload(ok), 0);
}

TEST(importing_an_export_of_a_module_not_loaded_fails)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("gpl_user"), NULL), -ENOENT);
	ASSERT_TRUE(logged("gpl_user: Unknown symbol gpl_ok_helper (err -2)"));
}

TEST(gpl_module_using_gpl_symbols_cannot_use_proprietary_exports)
{
	struct uhmm_module *prop;

	ASSERT_EQ(uhmm_module_load(MOD("prop_plain"), &prop), 0);
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("gpl_uses_prop"), NULL), -ENOENT);
	ASSERT_TRUE(logged("gpl_uses_prop: module using GPL-only symbols uses symbols prop_fn "
			   "from proprietary module prop_plain."));
	ASSERT_EQ(uhmm_module_refcount(prop), 0);
	ASSERT_EQ(uhmm_module_unload(prop), 0);
}

TEST(module_using_proprietary_exports_inherits_the_taint)
{
	struct uhmm_module *prop, *user;

	ASSERT_EQ(uhmm_module_load(MOD("prop_plain"), &prop), 0);
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("plain_uses_prop"), &user), 0);
	ASSERT_TRUE(logged("plain_uses_prop: module uses symbols prop_fn from proprietary "
			   "module prop_plain, inheriting taint."));
	ASSERT_EQ(uhmm_module_taints(user), 1UL << UHMM_TAINT_PROPRIETARY_MODULE);
	ASSERT_EQ(uhmm_module_unload(user), 0);
	ASSERT_EQ(uhmm_module_unload(prop), 0);
}

TEST(unknown_symbols_are_refused_each_named)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("unknown_sym"), NULL), -ENOENT);
	ASSERT_TRUE(logged("unknown_sym: Unknown symbol uhmm_no_such_function (err -2)"));
	ASSERT_TRUE(logged("unknown_sym: Unknown symbol not_exported_anywhere (err -2)"));
	ASSERT_NULL(uhmm_module_find("unknown_sym"));
}

TEST(failed_init_unloads_and_returns_its_error)
{
	ASSERT_EQ(uhmm_module_load(MOD("init_fails"), NULL), -EIO);
	ASSERT_NULL(uhmm_module_find("init_fails"));
	ASSERT_FALSE(mapped("init_fails"));	/* nothing of it is left */
}

TEST(init_that_fails_but_leaves_a_bound_device_keeps_its_code_mapped)
{
	unsigned long warns = uhmm_warn_count();

	uhmm_set_log_level(0);
	ASSERT_EQ(uhmm_module_load(MOD("init_leaks"), NULL), -EIO);
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	ASSERT_NULL(uhmm_module_find("init_leaks"));
	/* The device still runs the module's code, so it must stay mapped. */
	ASSERT_TRUE(mapped("init_leaks"));
}

TEST(module_without_exit_cannot_be_unloaded)
{
	struct uhmm_module *mod;

	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("no_exit"), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	ASSERT_TRUE(logged("no_exit: has no module_exit() and cannot be unloaded"));
}

TEST(duplicate_exports_are_refused)
{
	struct uhmm_module *ok, *dup;

	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &ok), 0);
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("dup_export"), NULL), -ENOEXEC);
	ASSERT_TRUE(logged("dup_export: exports duplicate symbol gpl_ok_plain (owned by gpl_ok)"));
	ASSERT_EQ(uhmm_module_load(MOD("dup_core"), NULL), -ENOEXEC);
	ASSERT_TRUE(logged("dup_core: exports duplicate symbol uhmm_warn_count (owned by uhmm)"));
	ASSERT_EQ(uhmm_module_unload(ok), 0);
	/* With gpl_ok gone, the name is free. */
	ASSERT_EQ(uhmm_module_load(MOD("dup_export"), &dup), 0);
	ASSERT_EQ(uhmm_module_unload(dup), 0);
}

TEST(load_many_orders_by_dependency)
{
	const char *paths[] = { MOD("gpl_user"), MOD("gpl_ok") };
	struct uhmm_module *mods[2];

	ASSERT_EQ(uhmm_module_load_many(paths, 2, mods), 0);
	ASSERT_STREQ(uhmm_module_name(mods[0]), "gpl_user");
	ASSERT_STREQ(uhmm_module_name(mods[1]), "gpl_ok");
	ASSERT_EQ(uhmm_module_refcount(mods[1]), 1);
	ASSERT_EQ(uhmm_module_unload(mods[0]), 0);
	ASSERT_EQ(uhmm_module_unload(mods[1]), 0);
}

TEST(load_many_refuses_a_cycle_and_a_missing_dependency)
{
	const char *cycle[] = { MOD("cycle_a"), MOD("cycle_b") };
	const char *missing[] = { MOD("gpl_ok"), MOD("gpl_user"), MOD("plain_uses_prop") };
	struct uhmm_module *mods[3];

	start_capture();
	ASSERT_EQ(uhmm_module_load_many(cycle, 2, mods), -ELOOP);
	ASSERT_TRUE(logged("dependency cycle: cycle_a -> cycle_b -> cycle_a"));
	ASSERT_NULL(uhmm_module_find("cycle_a"));
	ASSERT_NULL(uhmm_module_find("cycle_b"));

	ASSERT_EQ(uhmm_module_load_many(missing, 3, mods), -ENOENT);
	ASSERT_TRUE(logged("plain_uses_prop: needs prop_fn, which no module given or loaded "
			   "exports"));
	/* Nothing of the set was loaded. */
	ASSERT_NULL(uhmm_module_find("gpl_ok"));
	ASSERT_NULL(uhmm_module_find("gpl_user"));
	ASSERT_EQ(uhmm_module_load_many(NULL, 1, mods), -EINVAL);
	ASSERT_EQ(uhmm_module_load_many(cycle, 0, mods), 0);
}

TEST(load_many_unloads_what_it_loaded_when_one_fails)
{
	const char *paths[] = { MOD("gpl_ok"), MOD("init_fails") };
	struct uhmm_module *mods[2];

	ASSERT_EQ(uhmm_module_load_many(paths, 2, mods), -EIO);
	ASSERT_NULL(uhmm_module_find("gpl_ok"));
}

typedef int (*bind_fn)(struct uhmm_device *dev);

TEST(bound_devices_and_mapped_pgmaps_pin_the_driver_module)
{
	struct uhmm_module *mod;
	struct uhmm_device *dev;
	bind_fn bind;

	ASSERT_EQ(uhmm_module_load(MOD("drvmod"), &mod), 0);
	bind = (bind_fn)uhmm_symbol_get("drvmod_bind");
	ASSERT_NONNULL(bind);
	ASSERT_EQ(uhmm_module_refcount(mod), 1);	/* the symbol_get */
	dev = uhmm_device_create("drv0");
	ASSERT_EQ(bind(dev), 0);
	/* symbol_get + the bound driver + the pgmap its probe mapped */
	ASSERT_EQ(uhmm_module_refcount(mod), 3);
	uhmm_symbol_put("drvmod_bind");
	start_capture();
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	ASSERT_TRUE(logged("drvmod: in use (2 users"));
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_EQ(uhmm_module_refcount(mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	uhmm_device_put(dev);
}

TEST(symbol_get_only_for_gpl_only_exports)
{
	struct uhmm_module *mod;

	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &mod), 0);
	start_capture();
	ASSERT_NULL(uhmm_symbol_get("gpl_ok_plain"));
	ASSERT_TRUE(logged("failing symbol_get of non-GPLONLY symbol gpl_ok_plain."));
	ASSERT_NULL(uhmm_symbol_get("nothing_exports_this"));
	ASSERT_NULL(uhmm_symbol_get(NULL));
	ASSERT_NONNULL(uhmm_symbol_get("gpl_ok_helper"));
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	uhmm_symbol_put("gpl_ok_helper");
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(core_export_table_has_both_tiers_sorted)
{
	size_t nr, i;
	const struct uhmm_export *exp = uhmm_core_exports(&nr);
	bool memremap_gpl = false, iomem_plain = false;

	ASSERT_GT(nr, 50);
	for (i = 0; i < nr; i++) {
		if (i)
			ASSERT_LT(strcmp(exp[i - 1].name, exp[i].name), 0);
		if (!strcmp(exp[i].name, "uhmm_memremap_pages"))
			memremap_gpl = exp[i].tier == UHMM_EXPORT_GPL;
		if (!strcmp(exp[i].name, "uhmm_iomem_resource"))
			iomem_plain = exp[i].tier == UHMM_EXPORT_PLAIN;
	}
	ASSERT_TRUE(memremap_gpl && iomem_plain);
}

#include "demo/demo.h"

TEST(demo_driver_module_maps_allocates_and_unloads)
{
	struct uhmm_module *mod;
	struct uhmm_device *dev = uhmm_device_create("demo0");
	struct uhmm_page *page;
	struct demo_stats st;
	demo_bind_fn bind;
	demo_alloc_page_fn alloc_page;
	demo_get_stats_fn get_stats;

	ASSERT_EQ(uhmm_module_load(DEMO_MODULE, &mod), 0);
	ASSERT_EQ(uhmm_module_taints(mod), 0);
	bind = (demo_bind_fn)uhmm_symbol_get("demo_bind");
	alloc_page = (demo_alloc_page_fn)uhmm_symbol_get("demo_alloc_page");
	get_stats = (demo_get_stats_fn)uhmm_symbol_get("demo_get_stats");
	ASSERT_TRUE(bind && alloc_page && get_stats);
	ASSERT_EQ(bind(dev, 256ULL << 20), 0);
	get_stats(dev, &st);
	ASSERT_EQ(st.nr_free, st.nr_pages);
	page = alloc_page(dev);
	ASSERT_NONNULL(page);
	ASSERT_TRUE(uhmm_page_pgmap(page) == st.pgmap);
	get_stats(dev, &st);
	ASSERT_EQ(st.nr_free, st.nr_pages - 1);
	uhmm_put_page(page);
	get_stats(dev, &st);
	ASSERT_EQ(st.nr_free, st.nr_pages);
	ASSERT_EQ(st.nr_page_free_calls, 1);
	uhmm_symbol_put("demo_bind");
	uhmm_symbol_put("demo_alloc_page");
	uhmm_symbol_put("demo_get_stats");
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);	/* device bound, pgmap mapped */
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	uhmm_device_put(dev);
}

#include <pthread.h>

struct churn {
	const char *path;
	int rounds;
	int failures;
};

static void *load_unload(void *arg)
{
	struct churn *c = arg;
	struct uhmm_module *mod;
	int i;

	for (i = 0; i < c->rounds; i++) {
		if (uhmm_module_load(c->path, &mod) || uhmm_module_unload(mod))
			c->failures++;
	}
	return NULL;
}

static void *bind_unbind(void *arg)
{
	struct churn *c = arg;
	bind_fn bind = (bind_fn)uhmm_symbol_get("drvmod_bind");
	int i;

	for (i = 0; i < c->rounds; i++) {
		struct uhmm_device *dev = uhmm_device_create("churn");

		if (!bind || bind(dev) || uhmm_device_unbind(dev))
			c->failures++;
		uhmm_device_put(dev);
	}
	uhmm_symbol_put("drvmod_bind");
	return NULL;
}

TEST(loads_unloads_and_binds_from_several_threads)
{
	struct churn a = { MOD("gpl_ok"), 300, 0 }, b = { MOD("prop_plain"), 300, 0 };
	struct churn c = { NULL, 300, 0 };
	struct uhmm_module *drv;
	pthread_t ta, tb, tc;

	uhmm_set_log_level(0);
	ASSERT_EQ(uhmm_module_load(MOD("drvmod"), &drv), 0);
	ASSERT_EQ(pthread_create(&ta, NULL, load_unload, &a), 0);
	ASSERT_EQ(pthread_create(&tb, NULL, load_unload, &b), 0);
	ASSERT_EQ(pthread_create(&tc, NULL, bind_unbind, &c), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_join(tc, NULL);
	ASSERT_EQ(a.failures + b.failures + c.failures, 0);
	ASSERT_NULL(uhmm_module_find("gpl_ok"));
	ASSERT_NULL(uhmm_module_find("prop_plain"));
	ASSERT_EQ(uhmm_module_refcount(drv), 0);
	ASSERT_EQ(uhmm_module_unload(drv), 0);
}
