// SPDX-License-Identifier: LGPL-2.1-or-later
/* A GPL module that binds GPL-only and plain symbols and exports both tiers. */
#include <uhmm/module.h>
#include <uhmm/percpu_ref.h>
#include <uhmm/resource.h>

/* What init claims and exit releases, so a test can see both ran. */
#define GPL_OK_REGION	(1ULL << 45)
#define GPL_OK_SIZE	(1ULL << 20)

static struct uhmm_percpu_ref ref;

int gpl_ok_helper(void);
int gpl_ok_helper(void)
{
	return 42;
}
EXPORT_SYMBOL_GPL(gpl_ok_helper);

int gpl_ok_plain(void);
int gpl_ok_plain(void)
{
	return 7;
}
EXPORT_SYMBOL(gpl_ok_plain);

static int gpl_ok_init(void)
{
	/* A GPL-only import and a plain one. */
	if (uhmm_percpu_ref_init(&ref, NULL, 0))
		return -12;
	return uhmm_request_mem_region(GPL_OK_REGION, GPL_OK_SIZE, "gpl_ok") ? 0 : -16;
}

static void gpl_ok_exit(void)
{
	uhmm_release_mem_region(GPL_OK_REGION, GPL_OK_SIZE);
	uhmm_percpu_ref_kill(&ref);
	uhmm_percpu_ref_exit(&ref);
}

module_init(gpl_ok_init);
module_exit(gpl_ok_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("uhmm tests");
MODULE_DESCRIPTION("binds both tiers, exports both tiers");
MODULE_VERSION("1.0");
