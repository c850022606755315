// SPDX-License-Identifier: LGPL-2.1-or-later
/* A proprietary module that imports a GPL-only symbol: must be refused. */
#include <uhmm/module.h>
#include <uhmm/percpu_ref.h>

static struct uhmm_percpu_ref ref;

static int prop_gpl_init(void)
{
	return uhmm_percpu_ref_init(&ref, NULL, 0);
}

static void prop_gpl_exit(void)
{
}

module_init(prop_gpl_init);
module_exit(prop_gpl_exit);
MODULE_LICENSE("Proprietary");
