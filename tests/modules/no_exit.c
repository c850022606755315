// SPDX-License-Identifier: LGPL-2.1-or-later
/* No module_exit: loads, but cannot be unloaded (as in the kernel). */
#include <uhmm/module.h>

static int no_exit_init(void)
{
	return 0;
}

module_init(no_exit_init);
MODULE_LICENSE("GPL");
