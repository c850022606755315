// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A proprietary module that reaches a GPL-only function through a library
 * it links (shim_lib.c), which the dynamic linker would load with it.  The
 * reference is weak: nothing defines it before that library is loaded.
 */
#include <uhmm/module.h>
#include <uhmm/percpu_ref.h>

int uhmmtest_shim_ref_init(struct uhmm_percpu_ref *ref) __attribute__((weak));

static struct uhmm_percpu_ref ref;

static int prop_via_lib_init(void)
{
	return uhmmtest_shim_ref_init ? uhmmtest_shim_ref_init(&ref) : -2;
}

static void prop_via_lib_exit(void)
{
}

module_init(prop_via_lib_init);
module_exit(prop_via_lib_exit);
MODULE_LICENSE("Proprietary");
