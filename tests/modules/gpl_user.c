// SPDX-License-Identifier: LGPL-2.1-or-later
/* A GPL module using gpl_ok's GPL-only export. */
#include <uhmm/module.h>

int gpl_ok_helper(void);
int gpl_user_result;

static int gpl_user_init(void)
{
	gpl_user_result = gpl_ok_helper();
	return gpl_user_result == 42 ? 0 : -22;
}

static void gpl_user_exit(void)
{
}

module_init(gpl_user_init);
module_exit(gpl_user_exit);
MODULE_LICENSE("GPL v2");
