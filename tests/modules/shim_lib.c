// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Not a module: an ordinary library that calls a GPL-only function for
 * whoever links it.  The loader never sees its imports.
 */
#include <uhmm/percpu_ref.h>

int uhmmtest_shim_ref_init(struct uhmm_percpu_ref *ref);
int uhmmtest_shim_ref_init(struct uhmm_percpu_ref *ref)
{
	return uhmm_percpu_ref_init(ref, NULL, 0);
}
