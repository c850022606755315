// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The module loader: license rules, import checks, use counts, taint.
 *
 * A load reads the file once, checks the descriptor and every import before
 * anything of the file runs, then maps the very file it checked (through
 * its open descriptor), pins the modules it imports from, and runs init.
 * module_mutex serialises loads and unloads; modules_lock guards the list
 * for the lookups made from other threads (pinning a driver's module at
 * bind time, symbol_get).
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/module.h>

#include "../core/internal.h"
#include "../core/list.h"
#include "../core/owner.h"
#include "core_exports.h"
#include "module_internal.h"

enum module_state {
	MODULE_STATE_COMING,	/* init running */
	MODULE_STATE_LIVE,
	MODULE_STATE_GOING,	/* exit running */
};

/* The cookie a pin hands out (see core/owner.h): whose pin it is. */
struct module_ref {
	struct uhmm_module *mod;
};

struct uhmm_module {
	struct list_head list;		/* in modules; protected by modules_lock */
	struct uhmm_modinfo *info;
	int memfd;			/* the checked image, mapped from here */
	void *handle;
	const void *base;		/* where the object is mapped (dladdr's dli_fbase) */
	uintptr_t bias;			/* load address minus link-time address */
	enum module_state state;	/* protected by modules_lock */
	atomic_int refcnt;		/* every pin: devices, pgmaps, symbol_get, importers */
	/*
	 * Of those, the module's own (see pin_is_own()): its exit releases
	 * them, so they do not keep it loaded, as a kernel module's own
	 * devices and pgmaps do not.
	 */
	atomic_int own_refs;
	pthread_t init_thread;		/* the thread running init, while COMING */
	struct module_ref ref_own, ref_other;
	int nr_importers;		/* modules importing from this one; module_mutex */
	unsigned long taints;
	bool using_gplonly_symbols;
	struct uhmm_module **uses;	/* the modules this one imports from */
	size_t nr_uses;
	int (*init)(void);
	void (*exit)(void);
};

static pthread_mutex_t module_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t modules_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct list_head modules = LIST_HEAD_INIT(modules);
static atomic_ulong tainted_mask;

#define TAINT_P		(1UL << UHMM_TAINT_PROPRIETARY_MODULE)

/* --- lookups ---------------------------------------------------------- */

static int cmp_export(const void *key, const void *elem)
{
	return strcmp(key, ((const struct uhmm_export *)elem)->name);
}

static const struct uhmm_export *find_core_export(const char *name)
{
	return bsearch(name, core_exports, nr_core_exports, sizeof(core_exports[0]), cmp_export);
}

UHMM_EXPORT const struct uhmm_export *uhmm_core_exports(size_t *nr)
{
	if (nr)
		*nr = nr_core_exports;
	return core_exports;
}

/* The loaded module exporting @name, and the export; caller holds a lock. */
static struct uhmm_module *find_module_export(const char *name, const struct uhmm_export **exp)
{
	struct uhmm_module *mod;
	size_t i;

	list_for_each_entry(mod, &modules, list)
		for (i = 0; i < mod->info->nr_exports; i++)
			if (!strcmp(mod->info->exports[i].name, name)) {
				*exp = &mod->info->exports[i];
				return mod;
			}
	return NULL;
}

static struct uhmm_module *find_module_locked(const char *name)
{
	struct uhmm_module *mod;

	list_for_each_entry(mod, &modules, list)
		if (!strcmp(mod->info->name, name))
			return mod;
	return NULL;
}

UHMM_EXPORT struct uhmm_module *uhmm_module_find(const char *name)
{
	struct uhmm_module *mod;

	if (!name)
		return NULL;
	pthread_rwlock_rdlock(&modules_lock);
	mod = find_module_locked(name);
	pthread_rwlock_unlock(&modules_lock);
	return mod;
}

UHMM_EXPORT int uhmm_module_for_each(int (*fn)(struct uhmm_module *mod, void *data), void *data)
{
	struct uhmm_module *mod;
	int ret = 0;

	if (!fn)
		return -EINVAL;
	pthread_rwlock_rdlock(&modules_lock);
	list_for_each_entry(mod, &modules, list) {
		ret = fn(mod, data);
		if (ret)
			break;
	}
	pthread_rwlock_unlock(&modules_lock);
	return ret;
}

/* The load base of the object holding @addr, or NULL. */
static const void *object_base(const void *addr)
{
	Dl_info dli;

	return dladdr(addr, &dli) ? dli.dli_fbase : NULL;
}

/* --- pinning the module behind a callback (see core/owner.h) -------------- */

/* Is the caller @mod's own init, taking a pin on @mod? (modules_lock held) */
static bool pinned_by_own_init(const struct uhmm_module *mod)
{
	return mod->state == MODULE_STATE_COMING && pthread_equal(mod->init_thread, pthread_self());
}

/*
 * Is a pin on @mod behind @addr one its exit releases?  The core pins the
 * module for a bound driver (@addr: its probe, in the module's code) and
 * for a mapped pgmap (@addr: its ops, the module's data).
 *
 * A pgmap whose ops are the module's was mapped by the module's own code:
 * in its init, later (dmirror maps its device memory chunk by chunk, as
 * migrations need it), or in the probe of a device bound to its driver.
 * The module unmaps it, in its exit or in that device's unbind; the
 * unmapping waits for its pages, so nothing runs its page_free afterwards.
 * So a pgmap never keeps its module loaded, as in the kernel, where
 * memremap_pages() takes no module reference at all.
 *
 * A device bound to its driver is its own only if its init bound it;
 * someone else bound the others, and must unbind them: they pin it.
 */
static bool pin_is_own(const struct uhmm_module *mod, const void *addr)
{
	return pinned_by_own_init(mod) ||
	       !modinfo_in_code(mod->info, (uintptr_t)addr - mod->bias);
}

static int module_owner_get(const void *addr, void **owner)
{
	const void *base = object_base(addr);
	struct uhmm_module *mod;
	int ret = 0;

	*owner = NULL;
	pthread_rwlock_rdlock(&modules_lock);
	list_for_each_entry(mod, &modules, list) {
		if (mod->base != base)
			continue;
		if (mod->state == MODULE_STATE_GOING) {
			ret = -ENODEV;
		} else if (pin_is_own(mod, addr)) {
			atomic_fetch_add(&mod->refcnt, 1);
			atomic_fetch_add(&mod->own_refs, 1);
			*owner = &mod->ref_own;
		} else {
			atomic_fetch_add(&mod->refcnt, 1);
			*owner = &mod->ref_other;
		}
		break;
	}
	pthread_rwlock_unlock(&modules_lock);
	return ret;
}

/*
 * Own pins drop own_refs before refcnt, and module_users() reads refcnt
 * first: a racing read may count a user too many, never one too few.
 */
static void module_owner_put(void *owner)
{
	struct module_ref *ref = owner;
	struct uhmm_module *mod = ref->mod;

	if (ref == &mod->ref_own)
		WARN_ON(atomic_fetch_sub(&mod->own_refs, 1) <= 0);
	WARN_ON(atomic_fetch_sub(&mod->refcnt, 1) <= 0);
}

/* The pins that keep @mod loaded: all but those its exit releases. */
static int module_users(const struct uhmm_module *mod)
{
	int all = atomic_load(&mod->refcnt);

	return all - atomic_load(&mod->own_refs);
}

static const struct code_owner_ops module_owner_ops = {
	.get = module_owner_get,
	.put = module_owner_put,
};

/* --- taint ---------------------------------------------------------------- */

static void add_taint_module(struct uhmm_module *mod, int flag)
{
	mod->taints |= 1UL << flag;
	atomic_fetch_or(&tainted_mask, 1UL << flag);
}

static void module_license_taint_check(struct uhmm_module *mod)
{
	const char *license = mod->info->license ? mod->info->license : "unspecified";

	if (uhmm_license_is_gpl_compatible(mod->info->license))
		return;
	if (!(atomic_load(&tainted_mask) & TAINT_P))
		pr_warn("%s: module license '%s' taints kernel.", mod->info->name, license);
	add_taint_module(mod, UHMM_TAINT_PROPRIETARY_MODULE);
}

UHMM_EXPORT unsigned long uhmm_get_taint(void)
{
	return atomic_load(&tainted_mask);
}

UHMM_EXPORT const char *uhmm_print_tainted(char *buf, size_t len)
{
	unsigned long mask = uhmm_get_taint();

	if (!buf || !len)
		return buf;
	if (!mask)
		snprintf(buf, len, "Not tainted");
	else
		snprintf(buf, len, "Tainted: %s", mask & TAINT_P ? "P" : "");
	return buf;
}

/* --- resolving imports -------------------------------------------------- */

static bool module_is_gpl(const struct uhmm_module *mod)
{
	return !(mod->taints & TAINT_P);
}

static int add_use(struct uhmm_module *mod, struct uhmm_module *target)
{
	struct uhmm_module **uses;
	size_t i;

	for (i = 0; i < mod->nr_uses; i++)
		if (mod->uses[i] == target)
			return 0;
	uses = realloc(mod->uses, (mod->nr_uses + 1) * sizeof(*uses));
	if (!uses)
		return -ENOMEM;
	mod->uses = uses;
	mod->uses[mod->nr_uses++] = target;
	return 0;
}

enum global_definition {
	DEFINED_NOWHERE,	/* a weak reference to it stays NULL */
	DEFINED_BY_SYSTEM,	/* a library that is neither libuhmm nor a module */
	DEFINED_BY_UHMM,	/* libuhmm or a module, outside their export tables */
};

/* A library @mod links, if it is loaded already (by name, never by path). */
static void *loaded_library(const char *name)
{
	return strchr(name, '/') ? NULL : dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
}

/*
 * Who defines @name where the dynamic linker will look for it: the
 * process's global scope, then the libraries @mod links (NULL: none).
 */
static enum global_definition global_definition(const struct uhmm_module *mod, const char *name)
{
	const void *addr = dlsym(RTLD_DEFAULT, name);
	const char *const *needed = NULL;
	const void *base;
	struct uhmm_module *other;
	size_t i, n = 0;

	if (mod)
		needed = modinfo_needed(mod->info, &n);
	for (i = 0; !addr && i < n; i++) {
		void *handle = loaded_library(needed[i]);

		if (handle) {
			addr = dlsym(handle, name);
			dlclose(handle);	/* still loaded: it was before */
		}
	}
	if (!addr)
		return DEFINED_NOWHERE;
	base = object_base(addr);
	if (!base || base == object_base((const void *)uhmm_module_load))
		return DEFINED_BY_UHMM;
	list_for_each_entry(other, &modules, list)
		if (other->base == base)
			return DEFINED_BY_UHMM;
	return DEFINED_BY_SYSTEM;
}

/*
 * What looks symbols up, or walks the loaded objects, at run time: through
 * these a module would find libuhmm's GPL-only functions without importing
 * them.  The kernel closed the same door in 5.7 by unexporting
 * kallsyms_lookup_name(); what remains open in one address space is listed
 * in the README.
 */
static const char *const symbol_lookups[] = {
	"dlsym", "dlvsym", "dlopen", "dlmopen", "dlinfo", "dladdr", "dladdr1",
	"dl_iterate_phdr", "_dl_find_object", "_r_debug", "_dl_sym", "_dl_vsym",
	"__libc_dlsym", "__libc_dlvsym", "__libc_dlopen_mode",
};

static bool is_symbol_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(symbol_lookups); i++)
		if (!strcmp(name, symbol_lookups[i]))
			return true;
	return false;
}

static const char *license_of(const struct uhmm_module *mod)
{
	return mod->info->license ? mod->info->license : "unspecified";
}

/*
 * The kernel's inherit_taint(): a module that binds GPL-only symbols may not
 * use a proprietary module's exports; another module using them becomes
 * proprietary itself.
 */
static bool inherit_taint(struct uhmm_module *mod, struct uhmm_module *owner, const char *name)
{
	if (!owner || !(owner->taints & TAINT_P))
		return true;
	if (mod->using_gplonly_symbols) {
		pr_err("%s: module using GPL-only symbols uses symbols %s from proprietary module %s.",
		       mod->info->name, name, owner->info->name);
		return false;
	}
	if (!(mod->taints & TAINT_P)) {
		pr_warn("%s: module uses symbols %s from proprietary module %s, inheriting taint.",
			mod->info->name, name, owner->info->name);
		add_taint_module(mod, UHMM_TAINT_PROPRIETARY_MODULE);
	}
	return true;
}

/*
 * What a module that is not GPL-compatible may not import whatever the
 * symbol's name: a version of libuhmm's GPL-only node, or a run-time lookup.
 * -ENOENT, saying why if @report.
 */
static int check_non_gpl_import(struct uhmm_module *mod, const struct module_import *imp,
				bool report)
{
	if (module_is_gpl(mod))
		return 0;
	if (imp->version && !strncmp(imp->version, "UHMM_GPL_", 9)) {
		if (report)
			pr_info("%s: %s@%s is in libuhmm's GPL-only version node and license '%s' is not GPL-compatible",
				mod->info->name, imp->name, imp->version, license_of(mod));
		return -ENOENT;
	}
	if (is_symbol_lookup(imp->name)) {
		if (report)
			pr_info("%s: %s looks up symbols at run time, around the export tiers; license '%s' is not GPL-compatible",
				mod->info->name, imp->name, license_of(mod));
		return -ENOENT;
	}
	return 0;
}

/*
 * Find what @imp binds to; NULL *exp for a system symbol or a weak
 * reference to nothing.  -ENOENT if nothing may; then say why if @report.
 * A weak reference is checked like any other: the dynamic linker binds it
 * to whatever defines it.
 */
static int lookup_import(struct uhmm_module *mod, const struct module_import *imp,
			 struct uhmm_module **owner, const struct uhmm_export **exp, bool report)
{
	const char *name = imp->name;
	int ret;

	*owner = NULL;
	*exp = NULL;
	ret = check_non_gpl_import(mod, imp, report);
	if (ret)
		return ret;
	*exp = find_core_export(name);
	if (!*exp)
		*owner = find_module_export(name, exp);
	if (*exp) {
		if ((*exp)->tier == UHMM_EXPORT_GPL && !module_is_gpl(mod)) {
			if (report)
				pr_info("%s: %s is exported GPL-only and license '%s' is not GPL-compatible",
					mod->info->name, name, license_of(mod));
			return -ENOENT;
		}
		return 0;
	}
	/* libuhmm's namespace is reached only through its export table. */
	if (!strncmp(name, "uhmm_", 5))
		return -ENOENT;
	switch (global_definition(mod, name)) {
	case DEFINED_BY_SYSTEM:
		return 0;
	case DEFINED_NOWHERE:
		return imp->weak ? 0 : -ENOENT;
	default:
		return -ENOENT;
	}
}

/*
 * Check every import before the object is mapped.  Two passes, so that
 * whether the module binds GPL-only symbols is known before any proprietary
 * module's export is judged (the kernel's answer depends on symbol order).
 */
static int resolve_imports(struct uhmm_module *mod)
{
	const struct module_import *imports;
	const struct uhmm_export *exp;
	struct uhmm_module *owner;
	int ret = 0, err;
	size_t i, n;

	imports = modinfo_all_imports(mod->info, &n);
	for (i = 0; i < n; i++)
		if (!lookup_import(mod, &imports[i], &owner, &exp, false) && exp &&
		    exp->tier == UHMM_EXPORT_GPL)
			mod->using_gplonly_symbols = true;

	for (i = 0; i < n; i++) {
		const char *name = imports[i].name;

		err = lookup_import(mod, &imports[i], &owner, &exp, true);
		if (!err && !inherit_taint(mod, owner, name))
			err = -ENOENT;
		if (!err && owner)
			err = add_use(mod, owner);
		if (err == -ENOENT)
			pr_warn("%s: Unknown symbol %s (err %d)", mod->info->name, name, err);
		if (err && !ret)
			ret = err;
	}
	return ret;
}

/*
 * A library a module links is loaded with it, and nothing checks that
 * library's own imports: a module that is not GPL-compatible may link only
 * libraries the process has already loaded, by name.
 */
static int check_linked_libraries(struct uhmm_module *mod)
{
	const char *const *needed;
	size_t i, n;

	if (module_is_gpl(mod))
		return 0;
	needed = modinfo_needed(mod->info, &n);
	for (i = 0; i < n; i++) {
		void *handle = loaded_library(needed[i]);

		if (handle) {
			dlclose(handle);
			continue;
		}
		pr_err("%s: links %s, which is not loaded; license '%s' is not GPL-compatible",
		       mod->info->name, needed[i], license_of(mod));
		return -ENOENT;
	}
	return 0;
}

/* The kernel's verify_exported_symbols(): one owner per exported name. */
static int verify_exported_symbols(struct uhmm_module *mod)
{
	const struct uhmm_modinfo *info = mod->info;
	const struct uhmm_export *exp;
	struct uhmm_module *owner;
	size_t i, j;

	for (i = 0; i < info->nr_exports; i++) {
		const char *name = info->exports[i].name;
		const char *owner_name = NULL;

		if (find_core_export(name))
			owner_name = "uhmm";
		else if ((owner = find_module_export(name, &exp)))
			owner_name = owner->info->name;
		for (j = 0; j < i && !owner_name; j++)
			if (!strcmp(info->exports[j].name, name))
				owner_name = info->name;
		if (owner_name) {
			pr_err("%s: exports duplicate symbol %s (owned by %s)", info->name, name,
			       owner_name);
			return -ENOEXEC;
		}
	}
	return 0;
}

/* --- load and unload ------------------------------------------------------ */

/* Pin (@delta 1) or unpin (-1) the modules @mod imports from; module_mutex held. */
static void pin_uses(struct uhmm_module *mod, int delta)
{
	size_t i;

	for (i = 0; i < mod->nr_uses; i++) {
		mod->uses[i]->nr_importers += delta;
		atomic_fetch_add(&mod->uses[i]->refcnt, delta);
	}
}

static void free_module(struct uhmm_module *mod)
{
	uhmm_modinfo_free(mod->info);
	free(mod->uses);
	free(mod);
}

/* --- constructors and destructors ------------------------------------------ */

/* A dynamic tag the dynamic linker ignores (DT_LOOS range, no glibc meaning). */
#define DT_UHMM_TAKEN	0x60756d6d

/*
 * No code of a module runs inside dlopen(): the dynamic linker maps and
 * relocates what was checked, and the module's constructors and destructors
 * (DT_INIT, DT_INIT_ARRAY and their DT_FINI twins) are hidden from it and
 * called by the loader, just before init and just after exit, as the
 * kernel's loader runs a module's ctors itself.  Whatever module code then
 * does, it does after the loader said so.
 */
static void hide_ctors(void *image, const struct module_ctors *ctors)
{
	unsigned int i;

	for (i = 0; i < ctors->nr_entries; i++) {
		Elf64_Dyn dyn;

		memcpy(&dyn, (char *)image + ctors->entries[i], sizeof(dyn));
		dyn.d_tag = DT_UHMM_TAKEN;
		memcpy((char *)image + ctors->entries[i], &dyn, sizeof(dyn));
	}
}

typedef void (*ctor_fn)(int argc, char **argv, char **envp);
typedef void (*dtor_fn)(void);

/* The relocated function pointer in slot @i of the array at link-time @array. */
static void *array_entry(const struct uhmm_module *mod, uint64_t array, size_t i)
{
	void *fn;

	memcpy(&fn, (const char *)(mod->bias + array) + i * sizeof(fn), sizeof(fn));
	return fn;
}

/* In the dynamic linker's order: DT_INIT, then DT_INIT_ARRAY in order. */
static void run_ctors(struct uhmm_module *mod)
{
	const struct module_ctors *c = modinfo_ctors(mod->info);
	size_t i;

	if (!c->init && !c->nr_init_array)
		return;
	pr_debug("%s: calling its constructors", mod->info->name);
	if (c->init)
		((ctor_fn)(mod->bias + c->init))(0, NULL, environ);
	for (i = 0; i < c->nr_init_array; i++)
		((ctor_fn)array_entry(mod, c->init_array, i))(0, NULL, environ);
}

/* DT_FINI_ARRAY in reverse, then DT_FINI. */
static void run_dtors(struct uhmm_module *mod)
{
	const struct module_ctors *c = modinfo_ctors(mod->info);
	size_t i;

	for (i = c->nr_fini_array; i--;)
		((dtor_fn)array_entry(mod, c->fini_array, i))();
	if (c->fini)
		((dtor_fn)(mod->bias + c->fini))();
}

/* --- mapping ------------------------------------------------------------ */

/*
 * Copy the checked image into a sealed memfd, so the object mapped is
 * byte for byte the one checked (but for the hidden constructors).  The memfd stays open while the module is
 * loaded, which also keeps its /proc/self/fd path unique among loaded
 * modules (the dynamic linker reuses an object whose path it has seen).
 */
static int image_memfd(const char *name, const void *image, size_t len)
{
	size_t done = 0;
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, (const char *)image + done, len - done);

		if (n <= 0) {
			close(fd);
			return n < 0 ? -errno : -EIO;
		}
		done += n;
	}
	fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
	return fd;
}

/* The module's own definition of @prefix@@fn, or NULL. */
static void *entry_point(struct uhmm_module *mod, const char *prefix, const char *fn)
{
	char sym[600];
	void *addr;

	if (!fn)
		return NULL;
	snprintf(sym, sizeof(sym), "%s%s", prefix, fn);
	addr = dlsym(mod->handle, sym);
	/* dlsym() searches the object's dependencies too: keep only its own code. */
	if (!addr || object_base(addr) != mod->base ||
	    !modinfo_in_code(mod->info, (uintptr_t)addr - mod->bias))
		return NULL;
	return addr;
}

/*
 * Map the checked image and find its entry points.  A module that exports
 * symbols is mapped RTLD_GLOBAL, so that modules loaded later bind them;
 * the others stay RTLD_LOCAL and add nothing to the process's namespace.
 */
static int map_module(struct uhmm_module *mod, void *image, size_t len)
{
	int mode = RTLD_NOW | (mod->info->nr_exports ? RTLD_GLOBAL : RTLD_LOCAL);
	struct uhmm_module *other;
	struct link_map *map;
	Dl_info dli;
	char path[64];

	hide_ctors(image, modinfo_ctors(mod->info));
	mod->memfd = image_memfd(mod->info->name, image, len);
	if (mod->memfd < 0)
		return mod->memfd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mod->memfd);
	mod->handle = dlopen(path, mode);
	if (!mod->handle) {
		pr_err("%s: cannot map module: %s", mod->info->name, dlerror());
		goto err_close;
	}
	if (dlinfo(mod->handle, RTLD_DI_LINKMAP, &map) || !dladdr((void *)map->l_ld, &dli)) {
		pr_err("%s: cannot find where the module is mapped", mod->info->name);
		goto err_dlclose;
	}
	mod->base = dli.dli_fbase;
	mod->bias = map->l_addr;
	list_for_each_entry(other, &modules, list)
		if (WARN(other->base == mod->base, "%s: mapped onto %s", mod->info->name,
			 other->info->name))
			goto err_dlclose;
	mod->init = (int (*)(void))entry_point(mod, "__uhmm_init_", mod->info->init);
	mod->exit = (void (*)(void))entry_point(mod, "__uhmm_exit_", mod->info->exit);
	if (!mod->init) {
		pr_err("%s: no module_init() entry point in the object", mod->info->name);
		goto err_dlclose;
	}
	return 0;

err_dlclose:
	dlclose(mod->handle);
err_close:
	close(mod->memfd);
	mod->memfd = -1;
	return -ENOEXEC;
}

/* Run the destructors of a module whose constructors ran, and unmap it. */
static void unmap_module(struct uhmm_module *mod)
{
	run_dtors(mod);
	dlclose(mod->handle);
	close(mod->memfd);
}

static void register_owner_ops(void)
{
	code_owner_register(&module_owner_ops);
}

UHMM_EXPORT int uhmm_module_load(const char *path, struct uhmm_module **modp)
{
	static pthread_once_t owner_once = PTHREAD_ONCE_INIT;
	struct uhmm_module *mod;
	size_t len;
	void *image;
	int fd, ret;

	if (!path)
		return -EINVAL;
	pthread_once(&owner_once, register_owner_ops);
	ret = module_read_file(path, &fd, &image, &len);
	if (ret)
		return ret;
	mod = calloc(1, sizeof(*mod));
	if (!mod) {
		ret = -ENOMEM;
		goto out_file;
	}
	mod->ref_own.mod = mod;
	mod->ref_other.mod = mod;
	mod->info = uhmm_modinfo_parse(image, len, path);
	if (!mod->info) {
		ret = -errno;
		goto err_free;
	}

	pthread_mutex_lock(&module_mutex);
	if (uhmm_module_find(mod->info->name)) {
		pr_err("%s: module is already loaded", mod->info->name);
		ret = -EEXIST;
		goto err_unlock;
	}
	module_license_taint_check(mod);
	ret = verify_exported_symbols(mod);
	if (!ret)
		ret = resolve_imports(mod);
	if (!ret)
		ret = check_linked_libraries(mod);
	if (!ret)
		ret = map_module(mod, image, len);
	if (ret)
		goto err_unlock;

	pin_uses(mod, 1);
	mod->state = MODULE_STATE_COMING;
	mod->init_thread = pthread_self();
	pthread_rwlock_wrlock(&modules_lock);
	list_add_tail(&mod->list, &modules);
	pthread_rwlock_unlock(&modules_lock);

	run_ctors(mod);
	pr_debug("%s: calling %s", mod->info->name, mod->info->init);
	ret = mod->init();
	if (ret) {
		pr_info("%s: init failed with error %d", mod->info->name, ret);
		pthread_rwlock_wrlock(&modules_lock);
		list_del(&mod->list);
		pthread_rwlock_unlock(&modules_lock);
		pin_uses(mod, -1);
		/*
		 * A failed init must undo itself.  If it left users (a bound
		 * device, a mapped pgmap), they still point into the module:
		 * its code stays mapped and its record stays allocated.
		 */
		if (WARN(atomic_load(&mod->refcnt), "%s: init failed but left %d users",
			 mod->info->name, atomic_load(&mod->refcnt))) {
			pthread_mutex_unlock(&module_mutex);
			goto out_file;
		}
		unmap_module(mod);
		goto err_unlock;
	}
	pthread_rwlock_wrlock(&modules_lock);
	mod->state = MODULE_STATE_LIVE;
	pthread_rwlock_unlock(&modules_lock);
	pthread_mutex_unlock(&module_mutex);
	if (modp)
		*modp = mod;
	goto out_file;

err_unlock:
	pthread_mutex_unlock(&module_mutex);
err_free:
	free_module(mod);
out_file:
	free(image);
	close(fd);
	return ret;
}

UHMM_EXPORT int uhmm_module_unload(struct uhmm_module *mod)
{
	int users;

	if (!mod)
		return -EINVAL;
	pthread_mutex_lock(&module_mutex);
	if (mod->nr_importers) {
		pr_err("%s: in use by %d other module(s)", mod->info->name, mod->nr_importers);
		pthread_mutex_unlock(&module_mutex);
		return -EBUSY;
	}
	pthread_rwlock_wrlock(&modules_lock);
	users = module_users(mod);
	if (!users && !mod->exit) {
		pr_err("%s: has no module_exit() and cannot be unloaded", mod->info->name);
		users = -1;
	}
	if (!users)
		mod->state = MODULE_STATE_GOING;
	pthread_rwlock_unlock(&modules_lock);
	if (users) {
		if (users > 0)
			pr_err("%s: in use (%d users: devices others bound to its drivers, symbol_get)",
			       mod->info->name, users);
		pthread_mutex_unlock(&module_mutex);
		return -EBUSY;
	}

	pr_debug("%s: calling %s", mod->info->name, mod->info->exit);
	mod->exit();
	pthread_rwlock_wrlock(&modules_lock);
	list_del(&mod->list);
	pthread_rwlock_unlock(&modules_lock);
	pin_uses(mod, -1);
	/*
	 * An exit that leaves a device bound or a pgmap mapped leaves
	 * something that still runs the module's code: keep it mapped, and
	 * its record, as for a failed init.
	 */
	if (WARN(atomic_load(&mod->refcnt), "%s: exit left %d users", mod->info->name,
		 atomic_load(&mod->refcnt))) {
		pthread_mutex_unlock(&module_mutex);
		return 0;
	}
	unmap_module(mod);
	pthread_mutex_unlock(&module_mutex);
	free_module(mod);
	return 0;
}

UHMM_EXPORT const char *uhmm_module_name(const struct uhmm_module *mod)
{
	return mod->info->name;
}

UHMM_EXPORT const struct uhmm_modinfo *uhmm_module_info(const struct uhmm_module *mod)
{
	return mod->info;
}

UHMM_EXPORT int uhmm_module_refcount(const struct uhmm_module *mod)
{
	return module_users(mod);
}

UHMM_EXPORT unsigned long uhmm_module_taints(const struct uhmm_module *mod)
{
	return mod->taints;
}

UHMM_EXPORT void *uhmm_symbol_get(const char *name)
{
	const struct uhmm_export *exp;
	struct uhmm_module *mod;
	void *addr = NULL;

	if (!name)
		return NULL;
	pthread_rwlock_rdlock(&modules_lock);
	mod = find_module_export(name, &exp);
	if (mod && exp->tier != UHMM_EXPORT_GPL) {
		pr_warn("failing symbol_get of non-GPLONLY symbol %s.", name);
	} else if (mod && mod->state != MODULE_STATE_GOING) {
		addr = dlsym(mod->handle, name);
		if (addr)
			atomic_fetch_add(&mod->refcnt, 1);
	}
	pthread_rwlock_unlock(&modules_lock);
	return addr;
}

UHMM_EXPORT void uhmm_symbol_put(const char *name)
{
	const struct uhmm_export *exp;
	struct uhmm_module *mod;

	if (!name)
		return;
	pthread_rwlock_rdlock(&modules_lock);
	mod = find_module_export(name, &exp);
	if (!WARN(!mod, "symbol_put of %s, which no module exports", name))
		module_owner_put(&mod->ref_other);
	pthread_rwlock_unlock(&modules_lock);
}

/* --- loading a set in dependency order ------------------------------------ */

struct load_set {
	size_t n;
	const char *const *paths;
	struct uhmm_modinfo **info;
	size_t *order;			/* load order, filled by visit() */
	size_t nr_ordered;
	unsigned char *mark;		/* 0 new, 1 on the path, 2 done */
	size_t *path;			/* the DFS path, for a cycle's message */
	size_t depth;
};

/* The index of the module in @set exporting @name, or -1. */
static long set_exporter(const struct load_set *set, const char *name)
{
	size_t i, j;

	for (i = 0; i < set->n; i++)
		for (j = 0; j < set->info[i]->nr_exports; j++)
			if (!strcmp(set->info[i]->exports[j].name, name))
				return (long)i;
	return -1;
}

/* Does something other than the set provide @name? (module_mutex held) */
static bool provided_outside_set(const char *name)
{
	const struct uhmm_export *exp;

	return find_core_export(name) || find_module_export(name, &exp) ||
	       (strncmp(name, "uhmm_", 5) && global_definition(NULL, name) == DEFINED_BY_SYSTEM);
}

/*
 * A name given twice, or one already loaded, would fail with -EEXIST after
 * the first of them was loaded: refuse the set before loading any of it.
 * module_mutex held.
 */
static int check_set_names(const struct load_set *set)
{
	size_t i, j;

	for (i = 0; i < set->n; i++) {
		const char *name = set->info[i]->name;

		if (find_module_locked(name)) {
			pr_err("%s: module is already loaded", name);
			return -EEXIST;
		}
		for (j = 0; j < i; j++)
			if (!strcmp(set->info[j]->name, name)) {
				pr_err("%s: given twice (%s and %s)", name, set->paths[j],
				       set->paths[i]);
				return -EEXIST;
			}
	}
	return 0;
}

static int visit(struct load_set *set, size_t i)
{
	const struct uhmm_modinfo *info = set->info[i];
	size_t k;
	int ret;

	if (set->mark[i] == 2)
		return 0;
	set->path[set->depth++] = i;
	if (set->mark[i] == 1) {
		char msg[512] = "";
		size_t start = 0;

		while (set->path[start] != i)
			start++;
		for (k = start; k < set->depth; k++)
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg), "%s%s",
				 k > start ? " -> " : "", set->info[set->path[k]]->name);
		pr_err("dependency cycle: %s", msg);
		return -ELOOP;
	}
	set->mark[i] = 1;
	for (k = 0; k < info->nr_imports; k++) {
		const char *name = info->imports[k];
		long dep;

		if (provided_outside_set(name))
			continue;
		dep = set_exporter(set, name);
		if (dep < 0) {
			pr_err("%s: needs %s, which no module given or loaded exports",
			       info->name, name);
			return -ENOENT;
		}
		if ((size_t)dep == i)
			continue;
		ret = visit(set, dep);
		if (ret)
			return ret;
	}
	set->mark[i] = 2;
	set->depth--;
	set->order[set->nr_ordered++] = i;
	return 0;
}

UHMM_EXPORT int uhmm_module_load_many(const char *const *paths, size_t n,
				      struct uhmm_module **mods)
{
	struct load_set set = { .n = n, .paths = paths };
	size_t i, loaded = 0;
	int ret = 0;

	if ((!paths || !mods) && n)
		return -EINVAL;
	if (!n)
		return 0;
	set.info = calloc(n, sizeof(*set.info));
	set.order = calloc(n, sizeof(*set.order));
	set.mark = calloc(n, 1);
	set.path = calloc(n + 1, sizeof(*set.path));
	if (!set.info || !set.order || !set.mark || !set.path) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n && !ret; i++) {
		set.info[i] = paths[i] ? uhmm_modinfo_read(paths[i]) : NULL;
		if (!set.info[i])
			ret = paths[i] ? -errno : -EINVAL;
	}
	pthread_mutex_lock(&module_mutex);
	if (!ret)
		ret = check_set_names(&set);
	for (i = 0; i < n && !ret; i++)
		ret = visit(&set, i);
	pthread_mutex_unlock(&module_mutex);

	/* Another thread may load or unload in between: each load checks again. */
	for (loaded = 0; loaded < n && !ret; loaded++) {
		ret = uhmm_module_load(paths[set.order[loaded]], &mods[set.order[loaded]]);
		if (ret)
			break;
	}
	while (ret && loaded--)
		WARN(uhmm_module_unload(mods[set.order[loaded]]),
		     "%s: loaded by a failed load_many, and cannot be unloaded again",
		     uhmm_module_name(mods[set.order[loaded]]));
out:
	for (i = 0; set.info && i < n; i++)
		uhmm_modinfo_free(set.info[i]);
	free(set.info);
	free(set.order);
	free(set.mark);
	free(set.path);
	return ret;
}
