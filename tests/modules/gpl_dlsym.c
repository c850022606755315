// SPDX-License-Identifier: LGPL-2.1-or-later
/* A GPL module may look symbols up at run time: it may bind them anyway. */
#include <dlfcn.h>

#include <uhmm/module.h>

static int gpl_dlsym_init(void)
{
	return dlsym(RTLD_DEFAULT, "uhmm_memremap_pages") ? 0 : -2;
}

static void gpl_dlsym_exit(void)
{
}

module_init(gpl_dlsym_init);
module_exit(gpl_dlsym_exit);
MODULE_LICENSE("GPL");
