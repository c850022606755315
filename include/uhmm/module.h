/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm modules: drivers as loadable shared objects, with the kernel's license
 * rules for the two export tiers.
 *
 * A module is a shared object that says, in the kernel's words, what it is:
 *
 *	MODULE_LICENSE("GPL");
 *	MODULE_AUTHOR("...");
 *	MODULE_DESCRIPTION("...");
 *	module_init(my_init);
 *	module_exit(my_exit);
 *	EXPORT_SYMBOL_GPL(my_helper);
 *
 * These put NUL-terminated "key=value" strings in the object's .modinfo
 * section and exported names in __uhmm_ksymtab / __uhmm_ksymtab_gpl, so the
 * loader (and `uhmm modinfo`) read them from the file without running any of
 * it.  A module's imports are its undefined dynamic symbols; the loader checks
 * every one against the export tables (libuhmm's and other modules') and the
 * module's license before the object is mapped, as the kernel does.
 *
 * Build a module without linking libuhmm: its uhmm_* references are resolved
 * from the process, which has libuhmm loaded, once the loader has allowed them.
 */
#ifndef UHMM_MODULE_H
#define UHMM_MODULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The descriptor format this uhmm reads ("uhmm_abi=" in .modinfo). */
#define UHMM_MODULE_ABI		1

#define __UHMM_CAT2(a, b)	a##b
#define __UHMM_CAT(a, b)	__UHMM_CAT2(a, b)
#define __UHMM_UNIQUE(prefix)	__UHMM_CAT(prefix, __COUNTER__)

#define __UHMM_MODINFO(tag, info)						\
	static const char __UHMM_UNIQUE(__uhmm_modinfo_)[]			\
	__attribute__((section(".modinfo"), used, aligned(1))) = tag "=" info

/* Module metadata, as in the kernel. */
#define MODULE_LICENSE(license)		__UHMM_MODINFO("license", license)
#define MODULE_AUTHOR(author)		__UHMM_MODINFO("author", author)
#define MODULE_DESCRIPTION(desc)	__UHMM_MODINFO("description", desc)
#define MODULE_VERSION(version)		__UHMM_MODINFO("version", version)

/*
 * The module's name: UHMM_MODNAME if the build defines it (uhmm's meson
 * helpers do), else the file name without its ".so".
 */
#ifdef UHMM_MODNAME
#define __UHMM_MODNAME_INFO		__UHMM_MODINFO("name", UHMM_MODNAME);
#else
#define __UHMM_MODNAME_INFO
#endif

/**
 * module_init() - the function the loader runs once imports are bound
 *
 * It returns 0 or a negative errno; on an error the module is unloaded
 * again and the error returned to the loader's caller.  Exactly one per
 * module; it also records the descriptor format and the module's name.
 * The loader calls it through an entry point named after @fn, so give it a
 * name unique to the module (the kernel's habit: <module>_init).
 */
#define module_init(fn)								\
	int __uhmm_init_##fn(void);						\
	__attribute__((used, visibility("default"))) int __uhmm_init_##fn(void)	\
	{									\
		return fn();							\
	}									\
	__UHMM_MODINFO("uhmm_abi", "1");					\
	__UHMM_MODNAME_INFO							\
	__UHMM_MODINFO("init", #fn)	/* the caller's ';' ends it */

/** module_exit() - the function run once when the module is unloaded */
#define module_exit(fn)								\
	void __uhmm_exit_##fn(void);						\
	__attribute__((used, visibility("default"))) void __uhmm_exit_##fn(void)	\
	{									\
		fn();								\
	}									\
	__UHMM_MODINFO("exit", #fn)	/* the caller's ';' ends it */

#define __UHMM_EXPORT(sym, sec)							\
	extern __typeof__(sym) sym;						\
	static const char __UHMM_UNIQUE(__uhmm_ksymtab_)[]			\
	__attribute__((section(sec), used, aligned(1))) = #sym

/* Export @sym to other modules, to any license (EXPORT_SYMBOL). */
#define EXPORT_SYMBOL(sym)	__UHMM_EXPORT(sym, "__uhmm_ksymtab")
/* Export @sym to modules with a GPL-compatible license only (EXPORT_SYMBOL_GPL). */
#define EXPORT_SYMBOL_GPL(sym)	__UHMM_EXPORT(sym, "__uhmm_ksymtab_gpl")

/* --- the loader ------------------------------------------------------------ */

struct uhmm_module;

/* Taint flags, the kernel's letters. */
#define UHMM_TAINT_PROPRIETARY_MODULE	0	/* 'P' */

/** enum uhmm_export_tier - who may bind an exported symbol */
enum uhmm_export_tier {
	UHMM_EXPORT_PLAIN,	/* EXPORT_SYMBOL: any module */
	UHMM_EXPORT_GPL,	/* EXPORT_SYMBOL_GPL: GPL-compatible modules only */
};

/** struct uhmm_export - one exported symbol */
struct uhmm_export {
	const char *name;
	enum uhmm_export_tier tier;
};

/**
 * uhmm_core_exports() - libuhmm's own export table
 * @nr: set to the number of entries
 *
 * Every public function of libuhmm, each in exactly one tier.
 */
const struct uhmm_export *uhmm_core_exports(size_t *nr);

/**
 * struct uhmm_modinfo - what a module file says about itself
 * @name, @license, @version, @description, @author: NULL when absent
 * @init, @exit: the names given to module_init() / module_exit(), or NULL
 * @abi: the descriptor format (UHMM_MODULE_ABI)
 * @exports, @nr_exports: symbols it exports, with their tier
 * @imports, @nr_imports: its undefined dynamic symbols (what it needs bound)
 *
 * All strings point into memory owned by the structure.
 */
struct uhmm_modinfo {
	const char *name;
	const char *license;
	const char *version;
	const char *description;
	const char *author;
	const char *init;
	const char *exit;
	int abi;
	struct uhmm_export *exports;
	size_t nr_exports;
	const char **imports;
	size_t nr_imports;
};

/**
 * uhmm_modinfo_read() - read and validate a module file's descriptor
 * @path: the shared object
 *
 * Nothing of the file is run.  Return: the descriptor, to be freed with
 * uhmm_modinfo_free(), or NULL with errno ENOENT (no file), ENOEXEC (not a
 * valid ELF shared object, or a malformed, truncated or unsupported
 * descriptor; the reason is logged), EFBIG (larger than 256 MiB), ENOMEM.
 */
struct uhmm_modinfo *uhmm_modinfo_read(const char *path);

/**
 * uhmm_modinfo_parse() - uhmm_modinfo_read() on a file already in memory
 * @name: the file's name, for messages and the default module name
 * Return: as uhmm_modinfo_read().
 */
struct uhmm_modinfo *uhmm_modinfo_parse(const void *image, size_t len, const char *name);

/** uhmm_modinfo_free() - free a descriptor; NULL is a no-op */
void uhmm_modinfo_free(struct uhmm_modinfo *info);

/** uhmm_license_is_gpl_compatible() - the kernel's list of six licenses */
bool uhmm_license_is_gpl_compatible(const char *license);

/**
 * uhmm_module_load() - load a module, bind its imports, run its init
 * @path: the module file
 * @modp: set to the module on success; may be NULL
 *
 * Checks, in the kernel's order and with its messages: the descriptor; that
 * no module of that name is loaded (-EEXIST); the license (a license that is
 * not GPL-compatible, or none, taints the process: 'P'); every import,
 * against libuhmm's exports and those of loaded modules ("Unknown symbol"
 * and -ENOENT for an unknown one, or a GPL-only one the license may not
 * bind; a module that binds GPL-only symbols may not use a proprietary
 * module's exports); that its exports are not already exported (-ENOEXEC).
 * Then the object is mapped, the modules it imports from are pinned, and
 * its init runs.  Serialised with every other load and unload.
 *
 * Return: 0 or a negative errno; on any error nothing stays loaded.
 */
int uhmm_module_load(const char *path, struct uhmm_module **modp);

/**
 * uhmm_module_load_many() - load several modules, each after those it imports from
 * @paths: @n module files
 * @mods: @n slots; mods[i] gets the module loaded from paths[i]
 *
 * Reads every descriptor first.  An import that libuhmm, a loaded module,
 * another of @paths or the system libraries cannot provide is a missing
 * dependency (-ENOENT); modules importing from each other in a circle are a
 * cycle (-ELOOP); either is reported before anything is loaded.  If a load
 * fails, the modules this call loaded are unloaded again.
 * Return: 0 or a negative errno, as uhmm_module_load().
 */
int uhmm_module_load_many(const char *const *paths, size_t n, struct uhmm_module **mods);

/**
 * uhmm_module_unload() - run a module's exit and unmap it
 *
 * The module's own devices (bound by its init) and pgmaps (mapped with its
 * ops, at any time) do not keep it: its exit must unbind and unmap them,
 * which waits for their pages.  If it leaves one, the unload WARNs and keeps
 * the module's code mapped.  Serialised with every other load and unload.
 *
 * Return: 0; -EINVAL for NULL; -EBUSY while another module imports from it,
 * a device someone else bound is bound to one of its drivers, or a
 * uhmm_symbol_get() of one of its exports is held.
 */
int uhmm_module_unload(struct uhmm_module *mod);

/** uhmm_module_find() - the loaded module called @name, or NULL */
struct uhmm_module *uhmm_module_find(const char *name);

/**
 * uhmm_module_for_each() - call @fn for every loaded module, in load order
 *
 * Stops at the first non-zero return of @fn and returns it; 0 when @fn
 * returned 0 for all, -EINVAL for a NULL @fn.  @fn runs under the list's
 * lock: it may read the module (uhmm_module_name(), _info(), _refcount(),
 * _taints()), but must not load or unload one.  A module still running its
 * init is listed.
 */
int uhmm_module_for_each(int (*fn)(struct uhmm_module *mod, void *data), void *data);

/** uhmm_module_name() - the module's name */
const char *uhmm_module_name(const struct uhmm_module *mod);

/** uhmm_module_info() - the module's descriptor, valid while it is loaded */
const struct uhmm_modinfo *uhmm_module_info(const struct uhmm_module *mod);

/** uhmm_module_refcount() - its users: importers, devices others bound, symbol_get holders */
int uhmm_module_refcount(const struct uhmm_module *mod);

/** uhmm_module_taints() - the module's own taint flags (bit UHMM_TAINT_*) */
unsigned long uhmm_module_taints(const struct uhmm_module *mod);

/**
 * uhmm_symbol_get() - the address of a GPL-only symbol exported by a loaded
 * module, pinning that module (the kernel's symbol_get)
 * Return: the address, or NULL if no loaded module exports @name GPL-only.
 */
void *uhmm_symbol_get(const char *name);

/** uhmm_symbol_put() - drop the pin taken by uhmm_symbol_get() */
void uhmm_symbol_put(const char *name);

/** uhmm_get_taint() - the process's taint flags (bit UHMM_TAINT_*) */
unsigned long uhmm_get_taint(void);

/**
 * uhmm_print_tainted() - the kernel's taint string: "Not tainted" or
 * "Tainted: P"; into @buf of @len bytes, which is returned
 */
const char *uhmm_print_tainted(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_MODULE_H */
