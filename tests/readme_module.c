// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The README's module example as it is written there; tests/install-check
 * builds it out of tree with -Wpedantic against the installed headers and
 * loads it with the installed uhmm.
 */
#include <uhmm/module.h>

static int mydrv_init(void) { return 0; }	/* 0 or -errno */
static void mydrv_exit(void) { }

int mydrv_helper(void) { return 42; }
EXPORT_SYMBOL_GPL(mydrv_helper);		/* for GPL-compatible modules only */

module_init(mydrv_init);
module_exit(mydrv_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("my driver");
