// SPDX-License-Identifier: LGPL-2.1-or-later
/* A GPL module binding only plain symbols and a proprietary export: inherits the taint. */
#include <uhmm/module.h>

int prop_fn(void);

static int plain_uses_prop_init(void)
{
	return prop_fn() - 1;
}

static void plain_uses_prop_exit(void)
{
}

module_init(plain_uses_prop_init);
module_exit(plain_uses_prop_exit);
MODULE_LICENSE("Dual BSD/GPL");
