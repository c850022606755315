// SPDX-License-Identifier: LGPL-2.1-or-later
/* A proprietary module that imports plain symbols only: loads, taints. */
#include <uhmm/module.h>
#include <uhmm/resource.h>

int prop_fn(void);
int prop_fn(void)
{
	return 1;
}
EXPORT_SYMBOL(prop_fn);

static int prop_plain_init(void)
{
	return uhmm_system_ram_size() ? 0 : -22;
}

static void prop_plain_exit(void)
{
}

module_init(prop_plain_init);
module_exit(prop_plain_exit);
MODULE_LICENSE("Proprietary");
