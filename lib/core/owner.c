// SPDX-License-Identifier: LGPL-2.1-or-later
/* The registered way to pin the module behind a callback; see owner.h. */
#include <stdatomic.h>
#include <stddef.h>

#include "owner.h"

static _Atomic(const struct code_owner_ops *) owner_ops;

void code_owner_register(const struct code_owner_ops *ops)
{
	atomic_store(&owner_ops, ops);
}

int code_owner_get(const void *addr, void **owner)
{
	const struct code_owner_ops *ops = atomic_load(&owner_ops);

	*owner = NULL;
	return ops ? ops->get(addr, owner) : 0;
}

void code_owner_put(void *owner)
{
	const struct code_owner_ops *ops = atomic_load(&owner_ops);

	if (owner && ops)
		ops->put(owner);
}
