// SPDX-License-Identifier: LGPL-2.1-or-later
/* A module whose description is not UTF-8 (a Latin-1 byte) and has quotes. */
#include <uhmm/module.h>

static int odd_bytes_init(void)
{
	return 0;
}

module_init(odd_bytes_init);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("caf\xe9 \"quoted\" \\ tab\t end");
