// SPDX-License-Identifier: LGPL-2.1-or-later
/* Exports a name gpl_ok already exports: refused while gpl_ok is loaded. */
#include <uhmm/module.h>

int gpl_ok_plain(void);
int gpl_ok_plain(void)
{
	return 8;
}
EXPORT_SYMBOL(gpl_ok_plain);

static int dup_export_init(void)
{
	return 0;
}

static void dup_export_exit(void)
{
}

module_init(dup_export_init);
module_exit(dup_export_exit);
MODULE_LICENSE("GPL");
