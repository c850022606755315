// SPDX-License-Identifier: LGPL-2.1-or-later
/* Imports a symbol nobody exports. */
#include <uhmm/module.h>

int uhmm_no_such_function(void);
int not_exported_anywhere(void);

static int unknown_sym_init(void)
{
	return uhmm_no_such_function() + not_exported_anywhere();
}

static void unknown_sym_exit(void)
{
}

module_init(unknown_sym_init);
module_exit(unknown_sym_exit);
MODULE_LICENSE("GPL");
