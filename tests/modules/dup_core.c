// SPDX-License-Identifier: LGPL-2.1-or-later
/* Exports a name libuhmm exports: always refused. */
#include <uhmm/log.h>
#include <uhmm/module.h>

unsigned long uhmm_warn_count(void)
{
	return 0;
}
EXPORT_SYMBOL(uhmm_warn_count);

static int dup_core_init(void)
{
	return 0;
}

static void dup_core_exit(void)
{
}

module_init(dup_core_init);
module_exit(dup_core_exit);
MODULE_LICENSE("GPL");
