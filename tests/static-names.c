// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A program whose own functions share names with libuhmm's internals
 * (vma_find, handle_mm_fault, pt_get).  Linked statically against the
 * installed libuhmm.a by tests/install-check: that archive exports only
 * libuhmm.map's symbols, as libuhmm.so does, so the link must succeed and
 * each call must reach the program's own function.
 */
#include <stdio.h>

#include <uhmm/log.h>
#include <uhmm/migrate.h>

int vma_find(unsigned long addr, void *vma);
int handle_mm_fault(void);
int pt_get(void);

int vma_find(unsigned long addr, void *vma)
{
	(void)vma;
	return (int)(addr & 1);
}

int handle_mm_fault(void)
{
	return 7;
}

int pt_get(void)
{
	return 11;
}

int main(void)
{
	int ret;

	/* Pulls lib/mm, with its own vma_find() and friends, into the link. */
	uhmm_set_log_level(UHMM_LOG_ERR - 1);	/* its "no args" is expected */
	ret = uhmm_migrate_vma_setup(NULL);

	if (ret != -22 || vma_find(3, NULL) != 1 || handle_mm_fault() != 7 ||
	    pt_get() != 11) {
		fprintf(stderr, "static-names: setup(NULL) = %d, own functions %d %d %d\n",
			ret, vma_find(3, NULL), handle_mm_fault(), pt_get());
		return 1;
	}
	return 0;
}
