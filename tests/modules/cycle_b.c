// SPDX-License-Identifier: LGPL-2.1-or-later
/* cycle_b and cycle_a import from each other: neither can load first. */
#include <uhmm/module.h>

int cycle_a_fn(void);
int cycle_b_fn(void);
int cycle_b_fn(void)
{
	return cycle_a_fn();
}
EXPORT_SYMBOL(cycle_b_fn);

static int cycle_b_init(void)
{
	return 0;
}

static void cycle_b_exit(void)
{
}

module_init(cycle_b_init);
module_exit(cycle_b_exit);
MODULE_LICENSE("GPL");
