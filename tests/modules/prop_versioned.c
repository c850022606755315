// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A proprietary module linked against libuhmm.so, so that its GPL-only
 * import names its version node (uhmm_percpu_ref_init@UHMM_GPL_0.1).
 */
#include <uhmm/module.h>
#include <uhmm/percpu_ref.h>

static struct uhmm_percpu_ref ref;

static int prop_versioned_init(void)
{
	return uhmm_percpu_ref_init(&ref, NULL, 0);
}

static void prop_versioned_exit(void)
{
	uhmm_percpu_ref_exit(&ref);
}

module_init(prop_versioned_init);
module_exit(prop_versioned_exit);
MODULE_LICENSE("Proprietary");
