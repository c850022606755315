// SPDX-License-Identifier: LGPL-2.1-or-later
/* A module without MODULE_LICENSE: loads, taints as 'unspecified'. */
#include <uhmm/module.h>

static int no_license_init(void)
{
	return 0;
}

static void no_license_exit(void)
{
}

module_init(no_license_init);
module_exit(no_license_exit);
