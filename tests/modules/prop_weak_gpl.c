// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A proprietary module that declares a GPL-only symbol weak, hoping the
 * dynamic linker binds it anyway: must be refused like a plain import.
 */
#include <uhmm/memremap.h>
#include <uhmm/module.h>

extern int uhmm_memremap_pages(struct uhmm_dev_pagemap *pgmap) __attribute__((weak));

static int prop_weak_gpl_init(void)
{
	return uhmm_memremap_pages ? 0 : -2;
}

static void prop_weak_gpl_exit(void)
{
}

module_init(prop_weak_gpl_init);
module_exit(prop_weak_gpl_exit);
MODULE_LICENSE("Proprietary");
