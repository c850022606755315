// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A module with an ELF constructor and destructor.  The loader calls them,
 * so the constructor finds its module loading (listed, before init); inside
 * dlopen() it would not be listed yet.
 */
#include <uhmm/module.h>

static int ctor_saw_module = -1;

__attribute__((constructor)) static void ctor_order_ctor(void)
{
	ctor_saw_module = uhmm_module_find("ctor_order") != NULL;
}

static int ctor_order_init(void)
{
	return ctor_saw_module == 1 ? 0 : -5;
}

static void ctor_order_exit(void)
{
}

module_init(ctor_order_init);
module_exit(ctor_order_exit);
MODULE_LICENSE("GPL");
