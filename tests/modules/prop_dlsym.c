// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A proprietary module that looks a GPL-only function up at run time
 * instead of importing it: must be refused before it runs.
 */
#include <dlfcn.h>

#include <uhmm/module.h>

static int prop_dlsym_init(void)
{
	return dlsym(RTLD_DEFAULT, "uhmm_memremap_pages") ? 0 : -2;
}

static void prop_dlsym_exit(void)
{
}

module_init(prop_dlsym_init);
module_exit(prop_dlsym_exit);
MODULE_LICENSE("Proprietary");
