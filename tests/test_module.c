// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The module loader: license rules and taint, imports, exports, use counts,
 * init and exit, and every refusal with the kernel's message.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
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

TEST(weak_reference_to_a_gpl_only_symbol_is_refused_for_a_proprietary_module)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_weak_gpl"), NULL), -ENOENT);
	ASSERT_TRUE(logged("prop_weak_gpl: uhmm_memremap_pages is exported GPL-only"));
	ASSERT_TRUE(logged("prop_weak_gpl: Unknown symbol uhmm_memremap_pages (err -2)"));
	ASSERT_NULL(uhmm_module_find("prop_weak_gpl"));
	ASSERT_FALSE(mapped("prop_weak_gpl"));
}

TEST(weak_references_the_tiers_allow_still_load)
{
	struct uhmm_module *mod;

	/* Its init fails unless the plain one is bound and the other is NULL. */
	ASSERT_EQ(uhmm_module_load(MOD("weak_absent"), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(proprietary_module_importing_dlsym_is_refused)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_dlsym"), NULL), -ENOENT);
	ASSERT_TRUE(logged("prop_dlsym: dlsym looks up symbols at run time, around the export "
			   "tiers; license 'Proprietary' is not GPL-compatible"));
	ASSERT_TRUE(logged("prop_dlsym: Unknown symbol dlsym (err -2)"));
	ASSERT_NULL(uhmm_module_find("prop_dlsym"));
	ASSERT_FALSE(mapped("prop_dlsym"));
}

TEST(gpl_module_may_import_dlsym)
{
	struct uhmm_module *mod;

	/* Its init finds uhmm_memremap_pages with dlsym, or fails. */
	ASSERT_EQ(uhmm_module_load(MOD("gpl_dlsym"), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(proprietary_module_importing_libuhmm_gpl_version_node_is_refused)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_versioned"), NULL), -ENOENT);
	ASSERT_TRUE(logged("prop_versioned: uhmm_percpu_ref_init@UHMM_GPL_0.1 is in libuhmm's "
			   "GPL-only version node"));
	ASSERT_TRUE(logged("prop_versioned: Unknown symbol uhmm_percpu_ref_init (err -2)"));
	ASSERT_NULL(uhmm_module_find("prop_versioned"));
	ASSERT_FALSE(mapped("prop_versioned"));
}

TEST(proprietary_module_cannot_bring_in_a_library_the_loader_never_checked)
{
	start_capture();
	ASSERT_EQ(uhmm_module_load(MOD("prop_via_lib"), NULL), -ENOENT);
	ASSERT_TRUE(logged("prop_via_lib: links libuhmmtest_shim.so, which is not loaded; "
			   "license 'Proprietary' is not GPL-compatible"));
	ASSERT_NULL(uhmm_module_find("prop_via_lib"));
	ASSERT_FALSE(mapped("prop_via_lib"));
	ASSERT_NULL(dlopen("libuhmmtest_shim.so", RTLD_LAZY | RTLD_NOLOAD));
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

TEST(constructors_run_when_the_loader_calls_them_before_init)
{
	struct uhmm_module *mod;

	start_capture();
	uhmm_set_log_level(UHMM_LOG_DEBUG);
	/* Its init fails unless its constructor found it listed, as loading. */
	ASSERT_EQ(uhmm_module_load(MOD("ctor_order"), &mod), 0);
	ASSERT_TRUE(strstr(log_buf, "ctor_order: calling its constructors") <
		    strstr(log_buf, "ctor_order: calling ctor_order_init"));
	ASSERT_TRUE(logged("ctor_order: calling its constructors"));
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	ASSERT_FALSE(mapped("ctor_order"));
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
typedef struct uhmm_device *(*own_device_get_fn)(void);

TEST(devices_a_module_binds_in_its_init_do_not_pin_it)
{
	struct uhmm_module *mod;
	struct uhmm_device *dev;
	own_device_get_fn get;

	ASSERT_EQ(uhmm_module_load(MOD("own_device"), &mod), 0);
	/* Its device is bound and its probe mapped a pgmap; neither counts. */
	ASSERT_EQ(uhmm_module_refcount(mod), 0);
	get = (own_device_get_fn)uhmm_symbol_get("own_device_get");
	ASSERT_NONNULL(get);
	dev = uhmm_device_get(get());
	uhmm_symbol_put("own_device_get");
	ASSERT_NONNULL(uhmm_device_driver(dev));
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	/* Its exit unbound the device. */
	ASSERT_NULL(uhmm_device_driver(dev));
	ASSERT_FALSE(mapped("own_device"));
	uhmm_device_put(dev);
	/* And it loads again. */
	ASSERT_EQ(uhmm_module_load(MOD("own_device"), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

TEST(a_device_someone_else_binds_still_pins_a_module_with_its_own)
{
	struct uhmm_module *mod;
	struct uhmm_device *dev = uhmm_device_create("other0");
	bind_fn bind;

	ASSERT_EQ(uhmm_module_load(MOD("own_device"), &mod), 0);
	bind = (bind_fn)uhmm_symbol_get("own_device_bind");
	ASSERT_NONNULL(bind);
	ASSERT_EQ(bind(dev), 0);
	uhmm_symbol_put("own_device_bind");
	/* The device; the pgmap its probe mapped is the module's own, unmapped at unbind. */
	ASSERT_EQ(uhmm_module_refcount(mod), 1);
	start_capture();
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	ASSERT_TRUE(logged("own_device: in use (1 users"));
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	uhmm_device_put(dev);
}

TEST(dmirror_unloads)
{
	char path[512];
	struct uhmm_module *mod;

	snprintf(path, sizeof(path), "%s", DEMO_MODULE);
	strcpy(strrchr(path, '/') + 1, "dmirror.so");
	ASSERT_EQ(uhmm_module_load(path, &mod), 0);
	ASSERT_EQ(uhmm_module_refcount(mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	ASSERT_NULL(uhmm_module_find("dmirror"));
	ASSERT_FALSE(mapped("dmirror"));
}

#include "dmirror/hmm_dmirror.h"

/* dmirror.so sits beside demo.so. */
static const char *dmirror_path(void)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s", DEMO_MODULE);
	strcpy(strrchr(path, '/') + 1, "dmirror.so");
	return path;
}

struct dmirror_calls {
	dmirror_open_fn open;
	dmirror_close_fn close;
	dmirror_ioctl_fn ioctl;
};

static struct dmirror_calls dmirror_calls_get(void)
{
	struct dmirror_calls c = {
		.open = (dmirror_open_fn)uhmm_symbol_get("dmirror_open"),
		.close = (dmirror_close_fn)uhmm_symbol_get("dmirror_close"),
		.ioctl = (dmirror_ioctl_fn)uhmm_symbol_get("dmirror_ioctl"),
	};

	ASSERT_TRUE(c.open && c.close && c.ioctl);
	return c;
}

static void dmirror_calls_put(void)
{
	uhmm_symbol_put("dmirror_open");
	uhmm_symbol_put("dmirror_close");
	uhmm_symbol_put("dmirror_ioctl");
}

static void require_fault_engine(void)
{
	int ret = uhmm_mm_init();

	if (ret == -ENOSYS || ret == -EPERM || ret == -EOPNOTSUPP)
		SKIP("the fault engine cannot start on this kernel (%s)", strerror(-ret));
	ASSERT_EQ(ret, 0);
}

/* Migrate @npages pages at @buf to the device behind @fd; how many moved. */
static uint64_t migrate_to_device(struct dmirror_calls *c, int fd, void *buf,
				  unsigned long npages)
{
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)buf, .npages = npages };

	ASSERT_EQ(c->ioctl(fd, HMM_DMIRROR_MIGRATE_TO_DEV, &cmd), 0);
	return cmd.cpages;
}

/* dmirror's device memory comes in chunks of 256 MiB, each one pgmap. */
#define DMIRROR_CHUNK_PAGES	((256UL << 20) / 4096)

/*
 * dmirror maps its device memory chunk by chunk, as migrations need it,
 * long after its init: those pgmaps are its own, and its exit unmaps them
 * (evicting their pages first), so they do not keep it loaded.
 */
TEST(device_memory_a_module_maps_after_init_does_not_pin_it)
{
	unsigned long npages = DMIRROR_CHUNK_PAGES + 512, few = 16, i;
	size_t size = npages * 4096;
	struct uhmm_module *mod;
	struct dmirror_calls c;
	unsigned long *words;
	int fd0, fd1;

	require_fault_engine();
	ASSERT_EQ(uhmm_module_load(dmirror_path(), &mod), 0);
	c = dmirror_calls_get();
	words = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(words != MAP_FAILED);
	for (i = 0; i < size / sizeof(*words); i++)
		words[i] = i ^ 0x5a5a;
	fd0 = c.open(0);
	fd1 = c.open(1);
	ASSERT_GE(fd0, 0);
	ASSERT_GE(fd1, 0);
	/* More than device 0's first chunk holds: it maps a second one. */
	ASSERT_EQ(migrate_to_device(&c, fd0, words, npages - few), npages - few);
	ASSERT_EQ(migrate_to_device(&c, fd1, (char *)words + (npages - few) * 4096, few), few);
	ASSERT_EQ(c.close(fd0), 0);
	ASSERT_EQ(c.close(fd1), 0);
	dmirror_calls_put();

	ASSERT_EQ(uhmm_module_refcount(mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
	ASSERT_NULL(uhmm_module_find("dmirror"));
	ASSERT_FALSE(mapped("dmirror"));
	/* Its exit brought every page back before its code went. */
	for (i = 0; i < size / sizeof(*words); i++)
		if (words[i] != (i ^ 0x5a5a))
			HARNESS_FAIL("word %lu is %#lx after the unload", i, words[i]);
	munmap(words, size);
	/* And it loads again, with no device memory yet. */
	ASSERT_EQ(uhmm_module_load(dmirror_path(), &mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

/* An open handle pins dmirror, as an open /dev/hmm_dmirror0 pins test_hmm. */
TEST(an_open_dmirror_handle_pins_the_module)
{
	struct uhmm_module *mod;
	struct dmirror_calls c;
	int fd;

	ASSERT_EQ(uhmm_module_load(dmirror_path(), &mod), 0);
	c = dmirror_calls_get();
	fd = c.open(0);
	ASSERT_GE(fd, 0);
	dmirror_calls_put();
	ASSERT_EQ(uhmm_module_refcount(mod), 1);
	start_capture();
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	ASSERT_TRUE(logged("dmirror: in use (1 users"));
	c = dmirror_calls_get();
	ASSERT_EQ(c.close(fd), 0);
	dmirror_calls_put();
	ASSERT_EQ(uhmm_module_refcount(mod), 0);
	ASSERT_EQ(uhmm_module_unload(mod), 0);
}

/* The first PFN of the first iomem region called @name, or 0. */
static unsigned long region_first_pfn(const char *name)
{
	char buf[4096] = "", line[256], pattern[64];
	unsigned long long start = 0, end;
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	ASSERT_NONNULL(f);
	ASSERT_EQ(uhmm_iomem_print(f), 0);
	fclose(f);
	f = fmemopen(buf, strlen(buf), "r");
	ASSERT_NONNULL(f);
	snprintf(pattern, sizeof(pattern), " : %s\n", name);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, pattern) && sscanf(line, " %llx-%llx", &start, &end) == 2)
			break;
	fclose(f);
	return (unsigned long)(start / 4096);
}

struct unloader {
	struct uhmm_module *mod;
	int ret;
	bool done;	/* atomic */
};

static void *unload_thread(void *arg)
{
	struct unloader *u = arg;

	u->ret = uhmm_module_unload(u->mod);
	__atomic_store_n(&u->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A device page someone else holds keeps dmirror's exit waiting, in
 * memunmap_pages(), which says so, until the page is freed: the module's
 * code stays until its page_free has run for the last time.
 */
TEST(dmirror_exit_waits_for_a_device_page_someone_else_holds)
{
	struct unloader u = { 0 };
	struct uhmm_page *page;
	struct dmirror_calls c;
	unsigned long *words;
	pthread_t thread;
	int fd, i;

	require_fault_engine();
	ASSERT_EQ(uhmm_module_load(dmirror_path(), &u.mod), 0);
	c = dmirror_calls_get();
	words = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(words != MAP_FAILED);
	words[7] = 0xfeed;
	fd = c.open(0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(migrate_to_device(&c, fd, words, 1), 1);
	/* The first page handed out is the chunk's first. */
	page = uhmm_pfn_to_page(region_first_pfn("hmm_dmirror"));
	ASSERT_NONNULL(page);
	ASSERT_TRUE(uhmm_is_device_private_page(page));
	ASSERT_GE(uhmm_page_ref_count(page), 1);
	uhmm_get_page(page);
	ASSERT_EQ(c.close(fd), 0);
	dmirror_calls_put();

	setenv("UHMM_MEMUNMAP_WARN_MS", "50", 1);
	start_capture();
	ASSERT_EQ(pthread_create(&thread, NULL, unload_thread, &u), 0);
	for (i = 0; i < 5000 && !logged("memunmap_pages: pgmap"); i++)
		usleep(1000);
	ASSERT_TRUE(logged("still waits"));
	ASSERT_FALSE(__atomic_load_n(&u.done, __ATOMIC_ACQUIRE));
	ASSERT_TRUE(mapped("dmirror"));
	uhmm_put_page(page);
	/* Eviction could not move a page with an extra reference: the CPU's touch does. */
	ASSERT_EQ(words[7], 0xfeed);
	pthread_join(thread, NULL);
	unsetenv("UHMM_MEMUNMAP_WARN_MS");
	ASSERT_EQ(u.ret, 0);
	ASSERT_TRUE(logged("every page freed"));
	ASSERT_NULL(uhmm_module_find("dmirror"));
	ASSERT_FALSE(mapped("dmirror"));
	munmap(words, 4096);
}

TEST(load_many_of_one_module_twice_loads_nothing)
{
	const char *twice[] = { MOD("own_device"), MOD("own_device") };
	const char *loaded[] = { MOD("gpl_ok"), MOD("own_device") };
	struct uhmm_module *mods[2], *ok;

	start_capture();
	ASSERT_EQ(uhmm_module_load_many(twice, 2, mods), -EEXIST);
	ASSERT_TRUE(logged("own_device: given twice"));
	ASSERT_NULL(uhmm_module_find("own_device"));
	ASSERT_FALSE(mapped("own_device"));
	/* One of the set already loaded: the others are not loaded either. */
	ASSERT_EQ(uhmm_module_load(MOD("gpl_ok"), &ok), 0);
	ASSERT_EQ(uhmm_module_load_many(loaded, 2, mods), -EEXIST);
	ASSERT_NULL(uhmm_module_find("own_device"));
	ASSERT_EQ(uhmm_module_unload(ok), 0);
}

TEST(load_many_unloads_a_module_with_its_own_devices_when_a_later_one_fails)
{
	const char *paths[] = { MOD("own_device"), MOD("init_fails") };
	struct uhmm_module *mods[2];

	ASSERT_EQ(uhmm_module_load_many(paths, 2, mods), -EIO);
	ASSERT_NULL(uhmm_module_find("own_device"));
	ASSERT_FALSE(mapped("own_device"));
}

TEST(bound_devices_pin_the_driver_module_the_pgmaps_their_probe_mapped_do_not)
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
	/* symbol_get + the bound driver; the pgmap its probe mapped goes with the unbind */
	ASSERT_EQ(uhmm_module_refcount(mod), 2);
	uhmm_symbol_put("drvmod_bind");
	start_capture();
	ASSERT_EQ(uhmm_module_unload(mod), -EBUSY);
	ASSERT_TRUE(logged("drvmod: in use (1 users"));
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

/* --- corrupted modules ---------------------------------------------------- */

static uint64_t corrupt_rng = 0x2545F4914F6CDD1DULL;

static uint64_t corrupt_rnd(void)
{
	corrupt_rng ^= corrupt_rng << 13;
	corrupt_rng ^= corrupt_rng >> 7;
	corrupt_rng ^= corrupt_rng << 17;
	return corrupt_rng;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ASSERT_NONNULL(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n);
	ASSERT_NONNULL(buf);
	ASSERT_EQ(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = n;
	return buf;
}

/*
 * The file bytes of the executable segments: the module's machine code,
 * which nothing short of running it can check.  Everything else is what
 * the loader and the dynamic linker read, and may be corrupted.
 */
struct code_bytes {
	uint64_t start[8], end[8];
	int n;
};

static void find_code(const uint8_t *img, size_t len, struct code_bytes *code)
{
	Elf64_Ehdr eh;
	int i;

	memcpy(&eh, img, sizeof(eh));
	ASSERT_LE(eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr), len);
	code->n = 0;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
			continue;
		ASSERT_LT(code->n, 8);
		code->start[code->n] = ph.p_offset;
		code->end[code->n++] = ph.p_offset + ph.p_filesz;
	}
	ASSERT_GT(code->n, 0);
}

static bool is_code(const struct code_bytes *code, uint64_t off)
{
	int i;

	for (i = 0; i < code->n; i++)
		if (off >= code->start[i] && off < code->end[i])
			return true;
	return false;
}

static void corrupt(uint8_t *img, size_t len, const struct code_bytes *code, int nbytes)
{
	while (nbytes) {
		uint64_t off = corrupt_rnd() % len;

		if (is_code(code, off))
			continue;
		img[off] = corrupt_rnd();
		nbytes--;
	}
}

enum corrupt_outcome { LOADED, REFUSED, FAULTED_IN_MODULE_CODE, DIED_IN_LOADER };

/* The child's exit codes; anything else (a sanitizer's exit) ended it abnormally. */
#define CHILD_LOADED	10
#define CHILD_REFUSED	11

/* Set in the child once the loader calls into the module's own code. */
static volatile int *calling_module;

static void mark_calls(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	if (strstr(msg, ": calling "))
		*calling_module = 1;
}

/*
 * Load @fd's module in a child, unload it if it loads; how did that go?
 * The child's output goes nowhere: what a corrupt module's own code makes a
 * sanitizer report is not this test's failure, and the loader's faults show
 * in how the child ends.  *@how: the signal, or 256 + an unexpected exit code.
 */
static enum corrupt_outcome load_in_child(int fd, int *how)
{
	char path[64];
	int status;
	pid_t pid;

	*calling_module = 0;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct uhmm_module *mod;
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		alarm(5);	/* a load takes milliseconds; a hang is a death */
		uhmm_set_log_fn(mark_calls, NULL);
		uhmm_set_log_level(UHMM_LOG_DEBUG);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (uhmm_module_load(path, &mod))
			_exit(CHILD_REFUSED);
		uhmm_module_unload(mod);
		_exit(CHILD_LOADED);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_LOADED)
		return LOADED;
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_REFUSED)
		return REFUSED;
	*how = WIFSIGNALED(status) ? WTERMSIG(status) : 256 + WEXITSTATUS(status);
	return *calling_module ? FAULTED_IN_MODULE_CODE : DIED_IN_LOADER;
}

/*
 * Copies of dmirror.so with random bytes changed anywhere but in its code:
 * each one loads or is refused, and the loader and the dynamic linker never
 * crash on it.  A copy whose own data is corrupt may still fault once the
 * loader has called into the module (its init), as a corrupt kernel module
 * oopses in its init: those are counted, not failed.
 */
#if defined(__SANITIZE_ADDRESS__)
/* An instrumented module's corrupt globals can wedge ASan's runtime until the alarm. */
#define CORRUPT_ITERS	60
#else
#define CORRUPT_ITERS	300
#endif

TEST(corrupted_module_files_load_or_are_refused_never_crash_the_loader)
{
	const char *env = getenv("UHMM_CORRUPT_ITERS");
	long iters = env ? atol(env) : CORRUPT_ITERS, it;
	long count[4] = { 0 };
	struct code_bytes code;
	char path[512];
	uint8_t *orig, *copy;
	size_t len;

	snprintf(path, sizeof(path), "%s", DEMO_MODULE);
	strcpy(strrchr(path, '/') + 1, "dmirror.so");
	orig = read_whole(path, &len);
	copy = malloc(len);
	ASSERT_NONNULL(copy);
	find_code(orig, len, &code);
	calling_module = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(calling_module != MAP_FAILED);
	for (it = 0; it < iters; it++) {
		/* Mostly a few bytes, so that some copies still load; now and then 200. */
		int nbytes = it % 4 == 3 ? 200 : 1 + corrupt_rnd() % 8, how = 0;
		int fd = memfd_create("corrupt", 0);
		enum corrupt_outcome outcome;

		ASSERT_GE(fd, 0);
		memcpy(copy, orig, len);
		corrupt(copy, len, &code, nbytes);
		ASSERT_EQ(write(fd, copy, len), (ssize_t)len);
		outcome = load_in_child(fd, &how);
		close(fd);
		if (outcome == DIED_IN_LOADER)
			printf("# copy %ld (%d bytes changed): %s %d before the module ran\n", it,
			       nbytes, how < 256 ? "signal" : "exit", how % 256);
		count[outcome]++;
	}
	printf("# %ld corrupted copies: %ld loaded, %ld refused, %ld faulted in the module's own "
	       "code, %ld died in the loader\n", iters, count[LOADED], count[REFUSED],
	       count[FAULTED_IN_MODULE_CODE], count[DIED_IN_LOADER]);
	ASSERT_EQ(count[DIED_IN_LOADER], 0);
	ASSERT_GT(count[LOADED], 0);
	ASSERT_GT(count[REFUSED], 0);
	free(orig);
	free(copy);
}
