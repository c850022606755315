/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by lib/module's files; never installed. */
#ifndef UHMM_LIB_MODULE_INTERNAL_H
#define UHMM_LIB_MODULE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uhmm/module.h>

/*
 * Open and read a whole module file, refusing anything but a regular file
 * (-EINVAL) before reading; the caller closes *fdp and frees *imagep.
 */
int module_read_file(const char *path, int *fdp, void **imagep, size_t *lenp);

/**
 * struct module_import - one undefined dynamic symbol, as the dynamic linker sees it
 * @name: the symbol
 * @version: the version it requires (".gnu.version_r"), or NULL
 * @weak: a weak reference: the dynamic linker binds it if anything defines
 *	it, and leaves it NULL otherwise
 *
 * uhmm_modinfo's @imports lists the non-weak ones only (what the module
 * needs bound); the loader checks all of them against the export tiers.
 */
struct module_import {
	const char *name;
	const char *version;
	bool weak;
};

/* Every undefined dynamic symbol of a descriptor from uhmm_modinfo_parse(). */
const struct module_import *modinfo_all_imports(const struct uhmm_modinfo *info, size_t *nr);

/* The libraries the module links (its DT_NEEDED entries). */
const char *const *modinfo_needed(const struct uhmm_modinfo *info, size_t *nr);

/**
 * struct module_ctors - what the dynamic linker would call in the module
 * @init, @fini: DT_INIT and DT_FINI, link-time addresses, or 0
 * @init_array, @fini_array: DT_INIT_ARRAY and DT_FINI_ARRAY, or 0
 * @nr_init_array, @nr_fini_array: their entries
 * @entries, @nr_entries: the file offsets of those dynamic entries
 *
 * The loader hides these entries from the dynamic linker and calls the
 * functions itself, so that no code of the module runs inside dlopen().
 */
struct module_ctors {
	uint64_t init, fini;
	uint64_t init_array, fini_array;
	size_t nr_init_array, nr_fini_array;
	uint64_t entries[6];
	unsigned int nr_entries;
};

/* The constructors and destructors of a descriptor from uhmm_modinfo_parse(). */
const struct module_ctors *modinfo_ctors(const struct uhmm_modinfo *info);

/* Is link-time address @vaddr inside one of the module's executable segments? */
bool modinfo_in_code(const struct uhmm_modinfo *info, uint64_t vaddr);

#endif
