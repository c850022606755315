// SPDX-License-Identifier: LGPL-2.1-or-later
/* A GPL module binding GPL-only symbols and a proprietary module's export: refused. */
#include <uhmm/module.h>
#include <uhmm/percpu_ref.h>

int prop_fn(void);
static struct uhmm_percpu_ref ref;

static int gpl_uses_prop_init(void)
{
	return uhmm_percpu_ref_init(&ref, NULL, 0) + prop_fn() - 1;
}

static void gpl_uses_prop_exit(void)
{
}

module_init(gpl_uses_prop_init);
module_exit(gpl_uses_prop_exit);
MODULE_LICENSE("GPL");
