// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The shared library's exports: every symbol of the version script resolves
 * in its node, and the two tiers hold exactly the symbols listed here, so a
 * change of tier is always a deliberate change to this file too.
 */
#include <dlfcn.h>

#include "harness.h"

static const char *const plain_tier[] = {
	"uhmm_set_log_fn", "uhmm_set_log_level", "uhmm_warn_count", "uhmm_version",
	"uhmm_version_string",
	"uhmm_device_create", "uhmm_device_get", "uhmm_device_put", "uhmm_dev_name",
	"uhmm_dev_set_drvdata", "uhmm_dev_get_drvdata", "uhmm_device_bind",
	"uhmm_device_unbind", "uhmm_device_driver", "uhmm_devres_count", "uhmm_device_for_each",
	"uhmm_iomem_resource", "uhmm_system_ram_size", "uhmm_request_mem_region",
	"uhmm_release_mem_region", "uhmm_request_resource", "uhmm_release_resource",
	"uhmm_iomem_print",
	"uhmm_pfn_to_page", "uhmm_get_page", "uhmm_put_page", "uhmm_lock_page",
	"uhmm_trylock_page", "uhmm_unlock_page", "uhmm_page_locked",
	"uhmm_migrate_pfn_to_page", "uhmm_migrate_vma_setup", "uhmm_migrate_vma_pages",
	"uhmm_migrate_vma_finalize", "uhmm_migrate_device_range", "uhmm_migrate_device_pages",
	"uhmm_migrate_device_finalize", "uhmm_alloc_page", "uhmm_page_address",
	"uhmm_set_fault_around_bytes", "uhmm_set_migrate_policy", "uhmm_get_migrate_policy",
	"uhmm_mm_get_stats", "uhmm_mm_reset_stats", "uhmm_mm_read_stats", "uhmm_mm_init",
	"uhmm_vma_lookup", "uhmm_fail_nth",
	"uhmm_inject_delay",
	"uhmm_hmm_range_fault", "uhmm_access_process_vm",
	"uhmm_core_exports", "uhmm_modinfo_read", "uhmm_modinfo_parse", "uhmm_modinfo_free",
	"uhmm_license_is_gpl_compatible", "uhmm_module_load", "uhmm_module_load_many",
	"uhmm_module_unload",
	"uhmm_module_find", "uhmm_module_for_each", "uhmm_module_name", "uhmm_module_info", "uhmm_module_refcount",
	"uhmm_module_taints", "uhmm_get_taint", "uhmm_print_tainted",
	NULL
};

static const char *const gpl_tier[] = {
	"uhmm_mmu_interval_notifier_insert", "uhmm_mmu_interval_notifier_remove",
	"uhmm_mmu_interval_read_begin", "uhmm_mmu_interval_read_retry",
	"uhmm_mmu_interval_check_retry", "uhmm_mmu_interval_set_seq",
	"uhmm_make_device_exclusive",
	"uhmm_devm_add_action", "uhmm_devm_add_action_or_reset", "uhmm_devm_remove_action",
	"uhmm_devm_release_action", "uhmm_devm_kmalloc", "uhmm_devm_kzalloc",
	"uhmm_devm_kfree",
	"uhmm_region_intersects", "uhmm_request_free_mem_region",
	"uhmm_devm_request_free_mem_region",
	"uhmm_percpu_ref_init", "uhmm_percpu_ref_exit", "uhmm_percpu_ref_get",
	"uhmm_percpu_ref_get_many", "uhmm_percpu_ref_tryget", "uhmm_percpu_ref_tryget_many",
	"uhmm_percpu_ref_tryget_live", "uhmm_percpu_ref_put", "uhmm_percpu_ref_put_many",
	"uhmm_percpu_ref_kill", "uhmm_percpu_ref_kill_and_confirm",
	"uhmm_percpu_ref_switch_to_atomic_sync", "uhmm_percpu_ref_switch_to_percpu",
	"uhmm_percpu_ref_is_zero", "uhmm_percpu_ref_is_dying", "uhmm_percpu_ref_resurrect",
	"uhmm_percpu_ref_reinit",
	"uhmm_memremap_pages", "uhmm_memunmap_pages", "uhmm_devm_memremap_pages",
	"uhmm_devm_memunmap_pages", "uhmm_get_dev_pagemap", "uhmm_put_dev_pagemap",
	"uhmm_pgmap_pfn_first", "uhmm_pgmap_pfn_end", "uhmm_pgmap_get_stats",
	"uhmm_pgmap_for_each", "uhmm_pgmap_type_name", "uhmm_zone_device_page_init",
	"uhmm_symbol_get", "uhmm_symbol_put",
	NULL
};

/* The symbols of node @node in the version script, as one string "a b c ". */
static char *map_node(const char *node)
{
	static char text[65536];
	char *out = calloc(1, sizeof(text)), *p, *end, open[64];
	FILE *f = fopen(UHMM_MAP_FILE, "r");
	size_t len;

	ASSERT_NONNULL(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	snprintf(open, sizeof(open), "\n%s {", node);
	p = strstr(text, open);
	ASSERT_NONNULL(p);
	p = strstr(p, "global:");
	end = strstr(p, "}");
	ASSERT_TRUE(p && end);
	for (p += strlen("global:"); p < end; ) {
		char name[128];
		int n;

		if (sscanf(p, " %127[a-z0-9_]%n", name, &n) == 1) {
			if (strcmp(name, "local")) {
				strcat(out, name);
				strcat(out, " ");
			}
			p += n;
		} else {
			p++;
		}
	}
	return out;
}

static void check_tier(const char *const *expected, const char *node)
{
	char *listed = map_node(node);
	void *lib = dlopen(UHMM_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
	int n = 0, i;

	ASSERT_NONNULL(lib);
	for (i = 0; expected[i]; i++) {
		char word[130];

		snprintf(word, sizeof(word), "%s ", expected[i]);
		if (!strstr(listed, word))
			HARNESS_FAIL("%s is not in node %s of the version script", expected[i], node);
		if (!dlvsym(lib, expected[i], node))
			HARNESS_FAIL("%s@%s does not resolve in libuhmm.so", expected[i], node);
		n++;
	}
	/* Nothing listed in the node beyond the expected ones. */
	for (i = 0; listed[i]; i++)
		if (listed[i] == ' ')
			n--;
	ASSERT_EQ(n, 0);
	dlclose(lib);
	free(listed);
}

TEST(plain_tier_is_exactly_the_expected_symbols)
{
	check_tier(plain_tier, "UHMM_0.1");
}

TEST(gpl_tier_is_exactly_the_expected_symbols)
{
	check_tier(gpl_tier, "UHMM_GPL_0.1");
}

TEST(internal_symbols_are_hidden)
{
	void *lib = dlopen(UHMM_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);

	ASSERT_NONNULL(lib);
	ASSERT_NULL(dlsym(lib, "sparse_insert"));
	ASSERT_NULL(dlsym(lib, "memmap_alloc"));
	ASSERT_NULL(dlsym(lib, "uhmm_log"));
	ASSERT_NULL(dlsym(lib, "devres_release_all"));
	dlclose(lib);
}

/* The USDT probes (lib/core/trace.h) are in the shared library, provider uhmm. */
TEST(usdt_probes_are_in_the_library)
{
#ifdef UHMM_HAVE_SDT
	static const char *const probes[] = {
		"fault", "fault_zero", "migrate_vma_setup", "migrate_vma_finalize",
		"migrate_device_range", "invalidate",
	};
	char line[512], seen[4096] = "\n";	/* "\nname\nname\n..." */
	FILE *p = popen("readelf -n " UHMM_SHARED_LIB " 2>&1", "r");
	bool provider = false;
	size_t i;

	ASSERT_NONNULL(p);
	while (fgets(line, sizeof(line), p)) {
		char *s = strstr(line, "Provider: ");

		if (s)
			provider = !strncmp(s + 10, "uhmm\n", 5);
		s = strstr(line, "Name: ");
		if (s && provider && strlen(seen) + strlen(s) < sizeof(seen))
			strcat(seen, s + 6);	/* "name\n" */
	}
	pclose(p);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n%s\n", probes[i]);
		if (!strstr(seen, want))
			HARNESS_FAIL("no USDT probe uhmm:%s in %s", probes[i], UHMM_SHARED_LIB);
	}
#else
	SKIP("built without <sys/sdt.h> (systemtap-sdt-dev): no USDT probes");
#endif
}
