/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pinning the code behind a callback: while a driver is bound or a pgmap is
 * mapped, the module that holds its code must not be unloaded (the kernel's
 * try_module_get(drv->owner)).  lib/core and lib/mm only know addresses;
 * the module layer, above them, registers how to map an address to the
 * module holding it.  Without modules every address is the process's own.
 */
#ifndef UHMM_LIB_OWNER_H
#define UHMM_LIB_OWNER_H

struct code_owner_ops {
	/* Pin the module holding @addr: 0 with *@owner set (NULL if none), or -ENODEV. */
	int (*get)(const void *addr, void **owner);
	void (*put)(void *owner);
};

void code_owner_register(const struct code_owner_ops *ops);
int code_owner_get(const void *addr, void **owner);
void code_owner_put(void *owner);

#endif
