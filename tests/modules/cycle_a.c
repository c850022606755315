// SPDX-License-Identifier: LGPL-2.1-or-later
/* cycle_a and cycle_b import from each other: neither can load first. */
#include <uhmm/module.h>

int cycle_b_fn(void);
int cycle_a_fn(void);
int cycle_a_fn(void)
{
	return cycle_b_fn();
}
EXPORT_SYMBOL(cycle_a_fn);

static int cycle_a_init(void)
{
	return 0;
}

static void cycle_a_exit(void)
{
}

module_init(cycle_a_init);
module_exit(cycle_a_exit);
MODULE_LICENSE("GPL");
