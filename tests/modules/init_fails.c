// SPDX-License-Identifier: LGPL-2.1-or-later
/* init fails: the load fails with its error and nothing stays. */
#include <uhmm/module.h>

static int init_fails_init(void)
{
	return -5;	/* -EIO */
}

static void init_fails_exit(void)
{
}

module_init(init_fails_init);
module_exit(init_fails_exit);
MODULE_LICENSE("GPL");
