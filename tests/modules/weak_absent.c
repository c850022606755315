// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A proprietary module with weak references the tiers allow: one to a plain
 * export, bound, and one to a symbol nothing defines, left NULL.
 */
#include <uhmm/module.h>
#include <uhmm/resource.h>

extern __typeof__(uhmm_system_ram_size) uhmm_system_ram_size __attribute__((weak));
extern int weak_absent_nothing_defines_this(void) __attribute__((weak));

static int weak_absent_init(void)
{
	if (!uhmm_system_ram_size || weak_absent_nothing_defines_this)
		return -22;
	return 0;
}

static void weak_absent_exit(void)
{
}

module_init(weak_absent_init);
module_exit(weak_absent_exit);
MODULE_LICENSE("Proprietary");
