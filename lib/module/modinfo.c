// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading a module's descriptor from its file, without running any of it:
 * the ELF section headers, the .modinfo strings and the export tables; and
 * checking what the dynamic linker will read once the loader maps the file
 * (program headers, the dynamic section and its tables), which also gives
 * the module's imports.  Every offset, size, index and string of the file
 * is checked before use; the input may be anything (it is fuzzed).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uhmm/module.h>

#include "../core/internal.h"
#include "module_internal.h"

#if defined(__x86_64__)
#define ELF_HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define ELF_HOST_MACHINE EM_AARCH64
#else
#error "uhmm modules: unknown host machine"
#endif

#define MODINFO_MAX_ENTRIES	4096
#define MODINFO_MAX_VALUE	4096
#define KSYM_NAME_LEN		512
#define MODULE_NAME_LEN		56
#define MAX_SYMBOLS		(1U << 20)
#define MODULE_MAX_FILE		(256U << 20)
#define MAX_LOADS		16	/* PT_LOAD segments of a module */

struct elf_image {
	const char *file;		/* for messages */
	const unsigned char *base;
	size_t len;
	Elf64_Ehdr eh;
	const char *shstr;
	size_t shstr_len;
};

/*
 * What uhmm_modinfo_parse() returns: the public descriptor first, then what
 * only the loader needs.  Every descriptor is allocated here, so the loader
 * may reach the rest with container_of().
 */
struct modinfo_private {
	struct uhmm_modinfo info;
	struct module_import *imports;	/* every undefined symbol; owns the names */
	size_t nr_imports;
	char **needed;			/* DT_NEEDED */
	size_t nr_needed;
	struct {
		uint64_t start, end;
	} code[MAX_LOADS];		/* executable PT_LOAD segments, link-time addresses */
	unsigned int nr_code;
	struct module_ctors ctors;
};

static struct modinfo_private *to_private(const struct uhmm_modinfo *info)
{
	return container_of(info, struct modinfo_private, info);
}

/* [off, off + size) lies inside the image. */
static bool in_image(const struct elf_image *img, uint64_t off, uint64_t size)
{
	return off <= img->len && size <= img->len - off;
}

static int read_shdr(const struct elf_image *img, unsigned int idx, Elf64_Shdr *sh)
{
	if (idx >= img->eh.e_shnum)
		return -ENOEXEC;
	memcpy(sh, img->base + img->eh.e_shoff + (uint64_t)idx * sizeof(*sh), sizeof(*sh));
	return 0;
}

/* The bytes of a section, or -ENOEXEC if they are not all in the file. */
static int section_data(const struct elf_image *img, const Elf64_Shdr *sh,
			const unsigned char **data, size_t *size)
{
	if (sh->sh_type == SHT_NOBITS || !in_image(img, sh->sh_offset, sh->sh_size)) {
		pr_err("%s: section data outside the file (offset %#llx, size %#llx)", img->file,
		       (unsigned long long)sh->sh_offset, (unsigned long long)sh->sh_size);
		return -ENOEXEC;
	}
	*data = img->base + sh->sh_offset;
	*size = sh->sh_size;
	return 0;
}

/* A NUL-terminated string at @off of a table of @size bytes, or NULL. */
static const char *table_string(const char *table, size_t size, uint64_t off)
{
	if (off >= size || !memchr(table + off, '\0', size - off))
		return NULL;
	return table + off;
}

static int elf_open(struct elf_image *img, const void *image, size_t len, const char *file)
{
	Elf64_Shdr shstr;
	const unsigned char *data;
	int ret;

	img->file = file;
	img->base = image;
	img->len = len;
	if (len < sizeof(img->eh)) {
		pr_err("%s: Invalid ELF header len %zu", file, len);
		return -ENOEXEC;
	}
	memcpy(&img->eh, image, sizeof(img->eh));
	if (memcmp(img->eh.e_ident, ELFMAG, SELFMAG)) {
		pr_err("%s: Invalid ELF header magic", file);
		return -ENOEXEC;
	}
	if (img->eh.e_ident[EI_CLASS] != ELFCLASS64 || img->eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    img->eh.e_machine != ELF_HOST_MACHINE) {
		pr_err("%s: not a 64-bit little-endian object for this machine", file);
		return -ENOEXEC;
	}
	if (img->eh.e_type != ET_DYN) {
		pr_err("%s: Invalid ELF header type: %u != %u (a module is a shared object)", file,
		       img->eh.e_type, ET_DYN);
		return -ENOEXEC;
	}
	if (img->eh.e_shentsize != sizeof(Elf64_Shdr) || img->eh.e_shnum == 0 ||
	    !in_image(img, img->eh.e_shoff, (uint64_t)img->eh.e_shnum * sizeof(Elf64_Shdr))) {
		pr_err("%s: section headers outside the file or malformed", file);
		return -ENOEXEC;
	}
	if (read_shdr(img, img->eh.e_shstrndx, &shstr) || shstr.sh_type != SHT_STRTAB) {
		pr_err("%s: no section name table", file);
		return -ENOEXEC;
	}
	ret = section_data(img, &shstr, &data, &img->shstr_len);
	if (ret)
		return ret;
	img->shstr = (const char *)data;
	return 0;
}

/* Find the section called @name; 0 if absent, -ENOEXEC if the file is bad. */
static int find_section(const struct elf_image *img, const char *name, Elf64_Shdr *out)
{
	unsigned int i;

	for (i = 1; i < img->eh.e_shnum; i++) {
		Elf64_Shdr sh;
		const char *sname;

		read_shdr(img, i, &sh);
		sname = table_string(img->shstr, img->shstr_len, sh.sh_name);
		if (!sname) {
			pr_err("%s: section %u has a bad name", img->file, i);
			return -ENOEXEC;
		}
		if (!strcmp(sname, name)) {
			*out = sh;
			return 1;
		}
	}
	return 0;
}

static bool valid_symbol_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= KSYM_NAME_LEN || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static bool valid_module_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < MODULE_NAME_LEN && strspn(s, "abcdefghijklmnopqrstuvwxyz"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Split a section of NUL-terminated strings; @fn sees each non-empty one. */
static int for_each_string(const struct elf_image *img, const char *what,
			   const unsigned char *data, size_t size, unsigned int max,
			   int (*fn)(const char *s, void *arg), void *arg)
{
	size_t off = 0;
	unsigned int n = 0;
	int ret;

	while (off < size) {
		const char *s = (const char *)data + off;
		const char *nul = memchr(s, '\0', size - off);

		if (!nul) {
			pr_err("%s: unterminated string in %s", img->file, what);
			return -ENOEXEC;
		}
		off += nul - s + 1;
		if (nul == s)
			continue;	/* padding */
		if (++n > max) {
			pr_err("%s: more than %u entries in %s", img->file, max, what);
			return -ENOEXEC;
		}
		ret = fn(s, arg);
		if (ret)
			return ret;
	}
	return 0;
}

struct parse_ctx {
	const struct elf_image *img;
	struct modinfo_private *priv;
	struct uhmm_modinfo *info;
	enum uhmm_export_tier tier;
	size_t cap_exports;
};

static int set_once(const char **field, const char *value)
{
	if (*field)
		return 0;	/* the first one counts, as the kernel's get_modinfo() */
	*field = strdup(value);
	return *field ? 0 : -ENOMEM;
}

static int modinfo_entry(const char *s, void *arg)
{
	struct parse_ctx *ctx = arg;
	struct uhmm_modinfo *info = ctx->info;
	const char *eq = strchr(s, '=');
	const char *value;
	size_t klen;

	if (!eq || eq == s) {
		pr_err("%s: malformed .modinfo entry (no key=value)", ctx->img->file);
		return -ENOEXEC;
	}
	klen = eq - s;
	value = eq + 1;
	if (strlen(value) > MODINFO_MAX_VALUE) {
		pr_err("%s: .modinfo value of %.*s longer than %d bytes", ctx->img->file,
		       (int)klen, s, MODINFO_MAX_VALUE);
		return -ENOEXEC;
	}
#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(s, k, klen))
	if (KEY("name"))
		return set_once(&info->name, value);
	if (KEY("license"))
		return set_once(&info->license, value);
	if (KEY("version"))
		return set_once(&info->version, value);
	if (KEY("description"))
		return set_once(&info->description, value);
	if (KEY("author"))
		return set_once(&info->author, value);
	if (KEY("init"))
		return set_once(&info->init, value);
	if (KEY("exit"))
		return set_once(&info->exit, value);
	if (KEY("uhmm_abi")) {
		char *end;
		long abi = strtol(value, &end, 10);

		if (!*value || *end || abi <= 0 || abi > INT_MAX) {
			pr_err("%s: bad uhmm_abi '%s'", ctx->img->file, value);
			return -ENOEXEC;
		}
		if (!info->abi)
			info->abi = (int)abi;
		return 0;
	}
#undef KEY
	return 0;	/* other keys (alias, parm, ...) are kept by the kernel, ignored here */
}

static int grow(void **array, size_t *cap, size_t need, size_t elem)
{
	void *p;
	size_t ncap;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*array, ncap * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

static int export_entry(const char *s, void *arg)
{
	struct parse_ctx *ctx = arg;
	struct uhmm_modinfo *info = ctx->info;
	char *name;

	if (!valid_symbol_name(s)) {
		pr_err("%s: bad exported symbol name", ctx->img->file);
		return -ENOEXEC;
	}
	if (grow((void **)&info->exports, &ctx->cap_exports, info->nr_exports + 1,
		 sizeof(*info->exports)))
		return -ENOMEM;
	name = strdup(s);
	if (!name)
		return -ENOMEM;
	info->exports[info->nr_exports].name = name;
	info->exports[info->nr_exports].tier = ctx->tier;
	info->nr_exports++;
	return 0;
}

static int read_exports(struct parse_ctx *ctx, const char *section, enum uhmm_export_tier tier)
{
	const unsigned char *data;
	Elf64_Shdr sh;
	size_t size;
	int ret;

	ret = find_section(ctx->img, section, &sh);
	if (ret <= 0)
		return ret;
	ret = section_data(ctx->img, &sh, &data, &size);
	if (ret)
		return ret;
	ctx->tier = tier;
	return for_each_string(ctx->img, section, data, size, MAX_SYMBOLS, export_entry, ctx);
}

/* --- what the dynamic linker reads --------------------------------------------- */

/*
 * dlopen() trusts the object it maps: it follows the program headers, the
 * dynamic section and every table that points to, and writes where the
 * relocations say, without a bounds check, so one bad offset crashes the
 * process inside the dynamic linker.  Before a module is mapped, everything
 * the dynamic linker will read, write or call is checked here, the way it
 * will reach it: through the PT_LOAD segments' addresses (it never looks at
 * the section headers).  What the module's own code does is not checked:
 * that is for its init to get right, as in the kernel.
 */

#if defined(__x86_64__)
#define MOD_R_NONE		R_X86_64_NONE
#define MOD_R_ABS64		R_X86_64_64
#define MOD_R_GLOB_DAT		R_X86_64_GLOB_DAT
#define MOD_R_JUMP_SLOT		R_X86_64_JUMP_SLOT
#define MOD_R_RELATIVE		R_X86_64_RELATIVE
#define MOD_R_TLS_DTPMOD	R_X86_64_DTPMOD64
#define MOD_R_TLS_DTPREL	R_X86_64_DTPOFF64
#define MOD_R_TLS_TPREL		R_X86_64_TPOFF64
#define MOD_R_TLSDESC		R_X86_64_TLSDESC
#elif defined(__aarch64__)
#define MOD_R_NONE		R_AARCH64_NONE
#define MOD_R_ABS64		R_AARCH64_ABS64
#define MOD_R_GLOB_DAT		R_AARCH64_GLOB_DAT
#define MOD_R_JUMP_SLOT		R_AARCH64_JUMP_SLOT
#define MOD_R_RELATIVE		R_AARCH64_RELATIVE
#define MOD_R_TLS_DTPMOD	1028
#define MOD_R_TLS_DTPREL	1029
#define MOD_R_TLS_TPREL		1030
#define MOD_R_TLSDESC		1031
#endif

#ifndef DT_RELRSZ
#define DT_RELRSZ		35
#define DT_RELR			36
#define DT_RELRENT		37
#endif

#define MAX_PHDRS		128
#define MAX_NEEDED		64
#define MAX_VERSION_RECORDS	4096
#define MAX_FUNCTION_ARRAY	256	/* entries of DT_INIT_ARRAY or DT_FINI_ARRAY */
#define MAX_NOTES_SIZE		(64U << 10)
#define MAX_TLS_SIZE		(1U << 20)
#define MAX_ADDRESS		(1ULL << 32)	/* segments end below 4 GiB */

/* The dynamic entries the loader checks; the last of each tag counts, as in ld.so. */
enum dyn_slot {
	DYN_STRTAB, DYN_STRSZ, DYN_SYMTAB, DYN_SYMENT, DYN_HASH, DYN_GNU_HASH,
	DYN_RELA, DYN_RELASZ, DYN_RELAENT, DYN_RELACOUNT, DYN_JMPREL, DYN_PLTRELSZ,
	DYN_PLTREL, DYN_RELR, DYN_RELRSZ, DYN_RELRENT, DYN_VERSYM, DYN_VERNEED,
	DYN_VERDEF, DYN_INIT, DYN_FINI, DYN_INIT_ARRAY, DYN_INIT_ARRAYSZ,
	DYN_FINI_ARRAY, DYN_FINI_ARRAYSZ, DYN_FLAGS, DYN_SONAME, DYN_RPATH,
	DYN_RUNPATH, NR_DYN_SLOTS
};

static const struct {
	int64_t tag;
	const char *name;
} dyn_slots[NR_DYN_SLOTS] = {
#define SLOT(s) [DYN_##s] = { DT_##s, "DT_" #s }
	SLOT(STRTAB), SLOT(STRSZ), SLOT(SYMTAB), SLOT(SYMENT), SLOT(HASH), SLOT(GNU_HASH),
	SLOT(RELA), SLOT(RELASZ), SLOT(RELAENT), SLOT(RELACOUNT), SLOT(JMPREL),
	SLOT(PLTRELSZ), SLOT(PLTREL), SLOT(RELR), SLOT(RELRSZ), SLOT(RELRENT),
	SLOT(VERSYM), SLOT(VERNEED), SLOT(VERDEF), SLOT(INIT), SLOT(FINI),
	SLOT(INIT_ARRAY), SLOT(INIT_ARRAYSZ), SLOT(FINI_ARRAY), SLOT(FINI_ARRAYSZ),
	SLOT(FLAGS), SLOT(SONAME), SLOT(RPATH), SLOT(RUNPATH),
#undef SLOT
};

/* Tags a module may not carry, and why. */
static const struct {
	int64_t tag;
	const char *name;
	const char *why;
} dyn_refused[] = {
	{ DT_TEXTREL, "DT_TEXTREL", "text relocations" },
	{ DT_REL, "DT_REL", "REL relocations on a RELA machine" },
	{ DT_RELSZ, "DT_RELSZ", "REL relocations on a RELA machine" },
	{ DT_RELENT, "DT_RELENT", "REL relocations on a RELA machine" },
	{ DT_PREINIT_ARRAY, "DT_PREINIT_ARRAY", "only executables have one" },
	{ DT_PREINIT_ARRAYSZ, "DT_PREINIT_ARRAYSZ", "only executables have one" },
	{ DT_FILTER, "DT_FILTER", "it would load a library the loader never checked" },
	{ DT_AUXILIARY, "DT_AUXILIARY", "it would load a library the loader never checked" },
};

/* A module as the dynamic linker will see it; offsets are into the file. */
struct elf_dynamic {
	const struct elf_image *img;
	Elf64_Phdr load[MAX_LOADS];	/* PT_LOAD, in address order */
	unsigned int nr_load;
	Elf64_Phdr dynamic;		/* PT_DYNAMIC */
	uint64_t tls_size;		/* PT_TLS's p_memsz, 0 if none */
	uint64_t val[NR_DYN_SLOTS];
	uint64_t entry_off[NR_DYN_SLOTS];	/* where each entry is in the file */
	uint32_t present;		/* bit per dyn_slot */
	uint64_t needed[MAX_NEEDED];	/* DT_NEEDED string offsets */
	unsigned int nr_needed;
	uint64_t strtab, strsz;
	uint64_t symtab, nsyms;
	uint64_t versym;		/* if DT_VERSYM */
	unsigned int version_high;	/* highest version index needed or defined */
};

static int refuse(const struct elf_dynamic *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Log why the file is refused, naming it; return -ENOEXEC. */
static int refuse(const struct elf_dynamic *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s: %s", d->img->file, msg);
	return -ENOEXEC;
}

static bool has(const struct elf_dynamic *d, enum dyn_slot slot)
{
	return d->present & (1U << slot);
}

/* Fixed-size reads at an offset the caller has checked is in the image. */
static uint16_t read16(const struct elf_image *img, uint64_t off)
{
	uint16_t v;

	memcpy(&v, img->base + off, sizeof(v));
	return v;
}

static uint32_t read32(const struct elf_image *img, uint64_t off)
{
	uint32_t v;

	memcpy(&v, img->base + off, sizeof(v));
	return v;
}

static uint64_t read64(const struct elf_image *img, uint64_t off)
{
	uint64_t v;

	memcpy(&v, img->base + off, sizeof(v));
	return v;
}

static bool is_power_of_2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* [vaddr, vaddr + size) lies inside [start, start + len). */
static bool in_range(uint64_t vaddr, uint64_t size, uint64_t start, uint64_t len)
{
	return vaddr >= start && vaddr - start <= len && size <= len - (vaddr - start);
}

/*
 * The file offset of [vaddr, vaddr + size), if one segment maps all of it
 * from the file (the dynamic linker reads its tables there).
 */
static bool file_offset(const struct elf_dynamic *d, uint64_t vaddr, uint64_t size, uint64_t *off)
{
	unsigned int i;

	for (i = 0; i < d->nr_load; i++) {
		const Elf64_Phdr *ph = &d->load[i];

		if (in_range(vaddr, size, ph->p_vaddr, ph->p_filesz)) {
			*off = ph->p_offset + (vaddr - ph->p_vaddr);
			return true;
		}
	}
	return false;
}

/* Is [vaddr, vaddr + size) in the memory of one segment with all of @flags? */
static bool mapped(const struct elf_dynamic *d, uint64_t vaddr, uint64_t size, uint32_t flags)
{
	unsigned int i;

	for (i = 0; i < d->nr_load; i++) {
		const Elf64_Phdr *ph = &d->load[i];

		if ((ph->p_flags & flags) == flags && in_range(vaddr, size, ph->p_vaddr, ph->p_memsz))
			return true;
	}
	return false;
}

/* Is @vaddr an address in the module's code (where the dynamic linker may call)? */
static bool in_code(const struct elf_dynamic *d, uint64_t vaddr)
{
	unsigned int i;

	for (i = 0; i < d->nr_load; i++) {
		const Elf64_Phdr *ph = &d->load[i];

		if ((ph->p_flags & PF_X) && in_range(vaddr, 1, ph->p_vaddr, ph->p_filesz))
			return true;
	}
	return false;
}

/*
 * A PT_LOAD segment: its bytes in the file, its alignment as the dynamic
 * linker maps it, after the previous one without sharing a page with it
 * (a shared page would hold the other segment's bytes, not those checked).
 */
static int add_load_segment(struct elf_dynamic *d, const Elf64_Phdr *ph, unsigned int idx)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (d->nr_load == MAX_LOADS)
		return refuse(d, "more than %d PT_LOAD segments", MAX_LOADS);
	/* The dynamic linker reads its tables wherever the segments put them. */
	if (!(ph->p_flags & PF_R))
		return refuse(d, "program header %u: PT_LOAD p_flags %#x is not readable", idx,
			      ph->p_flags);
	if (ph->p_filesz > ph->p_memsz || !in_image(d->img, ph->p_offset, ph->p_filesz))
		return refuse(d, "program header %u: PT_LOAD p_offset %#llx p_filesz %#llx outside the file",
			      idx, (unsigned long long)ph->p_offset,
			      (unsigned long long)ph->p_filesz);
	if (!is_power_of_2(ph->p_align) || ph->p_align < page ||
	    (ph->p_vaddr - ph->p_offset) % ph->p_align)
		return refuse(d, "program header %u: PT_LOAD p_align %#llx does not fit p_vaddr %#llx",
			      idx, (unsigned long long)ph->p_align,
			      (unsigned long long)ph->p_vaddr);
	if (ph->p_vaddr >= MAX_ADDRESS || ph->p_memsz > MAX_ADDRESS - ph->p_vaddr)
		return refuse(d, "program header %u: PT_LOAD p_vaddr %#llx p_memsz %#llx too large",
			      idx, (unsigned long long)ph->p_vaddr,
			      (unsigned long long)ph->p_memsz);
	if (d->nr_load) {
		const Elf64_Phdr *prev = &d->load[d->nr_load - 1];

		if (ALIGN_DOWN(ph->p_vaddr, page) < ALIGN_UP(prev->p_vaddr + prev->p_memsz, page))
			return refuse(d, "program header %u: PT_LOAD p_vaddr %#llx overlaps or precedes the previous segment",
				      idx, (unsigned long long)ph->p_vaddr);
	}
	d->load[d->nr_load++] = *ph;
	return 0;
}

/* Gather the PT_LOAD segments and the one PT_DYNAMIC. */
static int read_load_segments(struct elf_dynamic *d)
{
	const Elf64_Ehdr *eh = &d->img->eh;
	bool have_dynamic = false;
	unsigned int i;
	int ret;

	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS ||
	    !in_image(d->img, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return refuse(d, "program headers outside the file or malformed (e_phoff %#llx, e_phnum %u, e_phentsize %u)",
			      (unsigned long long)eh->e_phoff, eh->e_phnum, eh->e_phentsize);
	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, d->img->base + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD) {
			ret = add_load_segment(d, &ph, i);
			if (ret)
				return ret;
		} else if (ph.p_type == PT_DYNAMIC) {
			if (have_dynamic)
				return refuse(d, "program header %u: a second PT_DYNAMIC", i);
			d->dynamic = ph;
			have_dynamic = true;
		}
	}
	if (!d->nr_load)
		return refuse(d, "no PT_LOAD segment");
	if (!have_dynamic)
		return refuse(d, "no PT_DYNAMIC segment");
	return 0;
}

/*
 * GNU property notes, which the dynamic linker walks in memory on its own
 * bounds: every note and every property inside it must fit.
 */
static int check_property_notes(const struct elf_dynamic *d, const Elf64_Phdr *ph, uint64_t off)
{
	const struct elf_image *img = d->img;
	uint64_t pos = 0, size = ph->p_memsz;

	if (ph->p_align != 8)
		return 0;	/* the dynamic linker ignores it */
	while (pos + sizeof(Elf64_Nhdr) < size) {
		uint64_t namesz = read32(img, off + pos), descsz = read32(img, off + pos + 4);
		uint64_t desc = ALIGN_UP(sizeof(Elf64_Nhdr) + namesz, 8), p = 0;

		if (desc + ALIGN_UP(descsz, 8) > size - pos)
			return refuse(d, "PT_GNU_PROPERTY: note at %#llx runs past the segment",
				      (unsigned long long)pos);
		if (namesz == 4 && read32(img, off + pos + 8) == NT_GNU_PROPERTY_TYPE_0 &&
		    !memcmp(img->base + off + pos + sizeof(Elf64_Nhdr), "GNU", 4)) {
			if (descsz < 8 || descsz % 8)
				return refuse(d, "PT_GNU_PROPERTY: property note of %llu bytes",
					      (unsigned long long)descsz);
			while (p < descsz) {
				uint64_t datasz = p + 8 <= descsz ?
						  read32(img, off + pos + desc + p + 4) : UINT64_MAX;

				if (datasz > descsz - p - 8)
					return refuse(d, "PT_GNU_PROPERTY: property at %#llx runs past its note",
						      (unsigned long long)p);
				p += 8 + ALIGN_UP(datasz, 8);
			}
		}
		pos += desc + ALIGN_UP(descsz, 8);
	}
	return 0;
}

/* Check one program header other than PT_LOAD against the segments. */
static int check_segment(struct elf_dynamic *d, const Elf64_Phdr *ph, unsigned int idx)
{
	const Elf64_Ehdr *eh = &d->img->eh;
	uint64_t off;

	switch (ph->p_type) {
	case PT_DYNAMIC:
		/* The dynamic linker relocates the entries in place. */
		if (ph->p_filesz < sizeof(Elf64_Dyn) ||
		    !file_offset(d, ph->p_vaddr, ph->p_filesz, &off) ||
		    !mapped(d, ph->p_vaddr, ph->p_filesz, PF_W))
			return refuse(d, "program header %u: PT_DYNAMIC p_vaddr %#llx p_filesz %#llx not in a writable segment of the file",
				      idx, (unsigned long long)ph->p_vaddr,
				      (unsigned long long)ph->p_filesz);
		return 0;
	case PT_PHDR:
		if (!file_offset(d, ph->p_vaddr, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), &off) ||
		    off != eh->e_phoff)
			return refuse(d, "program header %u: PT_PHDR p_vaddr %#llx does not map the program headers",
				      idx, (unsigned long long)ph->p_vaddr);
		return 0;
	case PT_TLS:
		if (ph->p_filesz > ph->p_memsz || ph->p_memsz > MAX_TLS_SIZE ||
		    (ph->p_align > 1 && !is_power_of_2(ph->p_align)) ||
		    (ph->p_filesz && !file_offset(d, ph->p_vaddr, ph->p_filesz, &off)))
			return refuse(d, "program header %u: PT_TLS p_vaddr %#llx p_memsz %#llx p_align %#llx malformed",
				      idx, (unsigned long long)ph->p_vaddr,
				      (unsigned long long)ph->p_memsz,
				      (unsigned long long)ph->p_align);
		d->tls_size = ph->p_memsz;
		return 0;
	case PT_GNU_RELRO:
		if (!mapped(d, ph->p_vaddr, ph->p_memsz, 0))
			return refuse(d, "program header %u: PT_GNU_RELRO p_vaddr %#llx p_memsz %#llx outside the segments",
				      idx, (unsigned long long)ph->p_vaddr,
				      (unsigned long long)ph->p_memsz);
		return 0;
	case PT_NOTE:
		/* Read with pread() into a buffer the size of p_filesz. */
		if (ph->p_filesz > MAX_NOTES_SIZE || !in_image(d->img, ph->p_offset, ph->p_filesz))
			return refuse(d, "program header %u: PT_NOTE p_offset %#llx p_filesz %#llx outside the file",
				      idx, (unsigned long long)ph->p_offset,
				      (unsigned long long)ph->p_filesz);
		return 0;
	case PT_GNU_PROPERTY:
		if (!file_offset(d, ph->p_vaddr, ph->p_memsz, &off))
			return refuse(d, "program header %u: PT_GNU_PROPERTY p_vaddr %#llx p_memsz %#llx outside the segments",
				      idx, (unsigned long long)ph->p_vaddr,
				      (unsigned long long)ph->p_memsz);
		return check_property_notes(d, ph, off);
	case PT_GNU_EH_FRAME:
		/* The unwinder finds it through the program headers. */
		if (ph->p_memsz && !file_offset(d, ph->p_vaddr, ph->p_memsz, &off))
			return refuse(d, "program header %u: PT_GNU_EH_FRAME p_vaddr %#llx outside the segments",
				      idx, (unsigned long long)ph->p_vaddr);
		return 0;
	default:
		return 0;
	}
}

static int check_program_headers(struct elf_dynamic *d)
{
	const Elf64_Ehdr *eh = &d->img->eh;
	unsigned int i;
	int ret;

	ret = read_load_segments(d);
	for (i = 0; !ret && i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, d->img->base + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		ret = check_segment(d, &ph, i);
	}
	return ret;
}

/* Record one dynamic entry (at @off in the file), or refuse a tag a module may not have. */
static int record_dynamic_entry(struct elf_dynamic *d, const Elf64_Dyn *dyn, uint64_t off)
{
	unsigned int i;

	if (dyn->d_tag == DT_NEEDED) {
		if (d->nr_needed == MAX_NEEDED)
			return refuse(d, "more than %d DT_NEEDED entries", MAX_NEEDED);
		d->needed[d->nr_needed++] = dyn->d_un.d_val;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(dyn_refused); i++)
		if (dyn->d_tag == dyn_refused[i].tag)
			return refuse(d, "%s in a module: %s", dyn_refused[i].name,
				      dyn_refused[i].why);
	for (i = 0; i < NR_DYN_SLOTS; i++)
		if (dyn->d_tag == dyn_slots[i].tag) {
			/* The dynamic linker would use the last; the linker writes one. */
			if (has(d, i))
				return refuse(d, "%s given twice", dyn_slots[i].name);
			d->val[i] = dyn->d_un.d_val;
			d->entry_off[i] = off;
			d->present |= 1U << i;
			return 0;
		}
	return 0;	/* the dynamic linker ignores it, or only tests that it is there */
}

/* The dynamic linker reads entries up to DT_NULL, however far that is. */
static int read_dynamic_entries(struct elf_dynamic *d)
{
	uint64_t off = 0, i, n = d->dynamic.p_filesz / sizeof(Elf64_Dyn);
	int ret;

	file_offset(d, d->dynamic.p_vaddr, d->dynamic.p_filesz, &off);
	for (i = 0; i < n; i++) {
		Elf64_Dyn dyn;

		memcpy(&dyn, d->img->base + off + i * sizeof(dyn), sizeof(dyn));
		if (dyn.d_tag == DT_NULL)
			return 0;
		ret = record_dynamic_entry(d, &dyn, off + i * sizeof(dyn));
		if (ret)
			return ret;
	}
	return refuse(d, "no DT_NULL inside PT_DYNAMIC");
}

/* @slot must be there if @if_slot is (the dynamic linker dereferences it). */
static int require(const struct elf_dynamic *d, enum dyn_slot if_slot, enum dyn_slot slot)
{
	if (has(d, if_slot) && !has(d, slot))
		return refuse(d, "%s without %s", dyn_slots[if_slot].name, dyn_slots[slot].name);
	return 0;
}

/* Entries that go together, and the values the dynamic linker asserts. */
static int check_dynamic_entries(const struct elf_dynamic *d)
{
	static const enum dyn_slot pairs[][2] = {
		{ DYN_RELA, DYN_RELASZ }, { DYN_RELA, DYN_RELAENT }, { DYN_PLTREL, DYN_JMPREL },
		{ DYN_JMPREL, DYN_PLTREL }, { DYN_PLTREL, DYN_PLTRELSZ }, { DYN_RELR, DYN_RELRSZ },
		{ DYN_RELR, DYN_RELRENT }, { DYN_RELACOUNT, DYN_RELA },
		{ DYN_INIT_ARRAY, DYN_INIT_ARRAYSZ }, { DYN_FINI_ARRAY, DYN_FINI_ARRAYSZ },
	};
	unsigned int i;
	int ret;

	if (!has(d, DYN_STRTAB) || !has(d, DYN_STRSZ) || !has(d, DYN_SYMTAB))
		return refuse(d, "no DT_STRTAB, DT_STRSZ or DT_SYMTAB");
	if (!has(d, DYN_HASH) && !has(d, DYN_GNU_HASH))
		return refuse(d, "no DT_HASH or DT_GNU_HASH");
	for (i = 0; i < ARRAY_SIZE(pairs); i++) {
		ret = require(d, pairs[i][0], pairs[i][1]);
		if (ret)
			return ret;
	}
	if (has(d, DYN_SYMENT) && d->val[DYN_SYMENT] != sizeof(Elf64_Sym))
		return refuse(d, "DT_SYMENT %llu", (unsigned long long)d->val[DYN_SYMENT]);
	if (has(d, DYN_RELAENT) && d->val[DYN_RELAENT] != sizeof(Elf64_Rela))
		return refuse(d, "DT_RELAENT %llu", (unsigned long long)d->val[DYN_RELAENT]);
	if (has(d, DYN_RELRENT) && d->val[DYN_RELRENT] != sizeof(Elf64_Addr))
		return refuse(d, "DT_RELRENT %llu", (unsigned long long)d->val[DYN_RELRENT]);
	if (has(d, DYN_PLTREL) && d->val[DYN_PLTREL] != DT_RELA)
		return refuse(d, "DT_PLTREL %llu is not DT_RELA",
			      (unsigned long long)d->val[DYN_PLTREL]);
	if (has(d, DYN_FLAGS) && (d->val[DYN_FLAGS] & DF_TEXTREL))
		return refuse(d, "DT_FLAGS has DF_TEXTREL: text relocations in a module");
	return 0;
}

/* The string at @off of the dynamic string table, or NULL if out of range. */
static const char *dyn_string(const struct elf_dynamic *d, uint64_t off)
{
	return off < d->strsz ? (const char *)d->img->base + d->strtab + off : NULL;
}

/* The string table, NUL-terminated, and every name the dynamic entries give. */
static int check_strings(struct elf_dynamic *d)
{
	static const enum dyn_slot names[] = { DYN_SONAME, DYN_RPATH, DYN_RUNPATH };
	unsigned int i;

	d->strsz = d->val[DYN_STRSZ];
	if (!d->strsz || !file_offset(d, d->val[DYN_STRTAB], d->strsz, &d->strtab))
		return refuse(d, "DT_STRTAB %#llx DT_STRSZ %#llx outside the file",
			      (unsigned long long)d->val[DYN_STRTAB],
			      (unsigned long long)d->strsz);
	/* Then every offset below DT_STRSZ starts a terminated string. */
	if (d->img->base[d->strtab + d->strsz - 1] != '\0')
		return refuse(d, "DT_STRTAB does not end with a NUL");
	for (i = 0; i < d->nr_needed; i++)
		if (!dyn_string(d, d->needed[i]))
			return refuse(d, "DT_NEEDED %#llx beyond DT_STRSZ",
				      (unsigned long long)d->needed[i]);
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (has(d, names[i]) && !dyn_string(d, d->val[names[i]]))
			return refuse(d, "%s %#llx beyond DT_STRSZ", dyn_slots[names[i]].name,
				      (unsigned long long)d->val[names[i]]);
	return 0;
}

/*
 * DT_GNU_HASH: the dynamic linker indexes the bloom filter with a mask (so
 * its size must be a power of two) and walks each bucket's chain until an
 * entry with bit 0 set.  Chains of a well-formed table are disjoint and in
 * bucket order; that bounds the walk and gives the symbol count.
 */
static int check_gnu_hash(const struct elf_dynamic *d, uint64_t *nsyms)
{
	const struct elf_image *img = d->img;
	uint64_t vaddr = d->val[DYN_GNU_HASH], off, chains, next, b;
	uint32_t nbuckets, symbias, nwords;

	if (!file_offset(d, vaddr, 16, &off))
		return refuse(d, "DT_GNU_HASH %#llx outside the file", (unsigned long long)vaddr);
	nbuckets = read32(img, off);
	symbias = read32(img, off + 4);
	nwords = read32(img, off + 8);
	if (!is_power_of_2(nwords) || nwords > MAX_SYMBOLS || nbuckets > MAX_SYMBOLS ||
	    symbias > MAX_SYMBOLS)
		return refuse(d, "DT_GNU_HASH header: %u buckets, symbol bias %u, %u bloom words",
			      nbuckets, symbias, nwords);
	chains = 16 + (uint64_t)nwords * 8 + (uint64_t)nbuckets * 4;
	if (!file_offset(d, vaddr, chains, &off))
		return refuse(d, "DT_GNU_HASH tables outside the file");
	*nsyms = symbias;
	for (b = 0, next = symbias; b < nbuckets; b++) {
		uint64_t i = read32(img, off + 16 + (uint64_t)nwords * 8 + b * 4), coff;
		uint32_t h;

		if (!i)
			continue;
		if (i < next)
			return refuse(d, "DT_GNU_HASH bucket %llu starts at symbol %llu, inside another chain",
				      (unsigned long long)b, (unsigned long long)i);
		do {
			if (i >= MAX_SYMBOLS ||
			    !file_offset(d, vaddr + chains + (i - symbias) * 4, 4, &coff))
				return refuse(d, "DT_GNU_HASH chain of bucket %llu runs outside the file",
					      (unsigned long long)b);
			h = read32(img, coff);
			i++;
		} while (!(h & 1));
		next = i;
	}
	if (next > *nsyms)
		*nsyms = next;
	return 0;
}

/* DT_HASH: every bucket and chain index a symbol, every chain ends, none loops. */
static int check_sysv_hash(const struct elf_dynamic *d, uint64_t *nsyms)
{
	const struct elf_image *img = d->img;
	uint64_t vaddr = d->val[DYN_HASH], off, b;
	uint32_t nbucket, nchain;
	unsigned char *seen;
	int ret = 0;

	if (!file_offset(d, vaddr, 8, &off))
		return refuse(d, "DT_HASH %#llx outside the file", (unsigned long long)vaddr);
	nbucket = read32(img, off);
	nchain = read32(img, off + 4);
	if (nbucket > MAX_SYMBOLS || nchain > MAX_SYMBOLS ||
	    !file_offset(d, vaddr, 8 + ((uint64_t)nbucket + nchain) * 4, &off))
		return refuse(d, "DT_HASH of %u buckets and %u chains outside the file", nbucket,
			      nchain);
	seen = calloc(nchain ? nchain : 1, 1);
	if (!seen)
		return -ENOMEM;
	for (b = 0; b < nbucket && !ret; b++) {
		uint64_t i = read32(img, off + 8 + b * 4);

		while (i && !ret) {
			if (i >= nchain || seen[i])
				ret = refuse(d, "DT_HASH chain of bucket %llu %s",
					     (unsigned long long)b,
					     i >= nchain ? "leaves the table" : "loops or is shared");
			else
				seen[i] = 1;
			i = ret ? 0 : read32(img, off + 8 + ((uint64_t)nbucket + i) * 4);
		}
	}
	free(seen);
	*nsyms = nchain;
	return ret;
}

/* A defined symbol's value where the dynamic linker and others will use it. */
static int check_symbol(const struct elf_dynamic *d, uint64_t idx, const Elf64_Sym *sym)
{
	unsigned int type = ELF64_ST_TYPE(sym->st_info);

	if (sym->st_name >= d->strsz)
		return refuse(d, "dynamic symbol %llu: name %#x beyond DT_STRSZ",
			      (unsigned long long)idx, sym->st_name);
	/*
	 * The dynamic linker binds a local or non-default-visibility symbol
	 * to the module itself, at its value: for an undefined one, nowhere.
	 */
	if (sym->st_shndx == SHN_UNDEF && idx &&
	    (ELF64_ST_BIND(sym->st_info) == STB_LOCAL ||
	     ELF64_ST_VISIBILITY(sym->st_other) != STV_DEFAULT))
		return refuse(d, "dynamic symbol %s: undefined, but local or not of default visibility",
			      dyn_string(d, sym->st_name));
	if (sym->st_shndx == SHN_UNDEF || sym->st_shndx == SHN_ABS)
		return 0;
	if (type == STT_GNU_IFUNC)
		return refuse(d, "dynamic symbol %s: an ifunc resolver would run before module_init",
			      dyn_string(d, sym->st_name));
	if (type == STT_FUNC && !in_code(d, sym->st_value))
		return refuse(d, "dynamic symbol %s: function at %#llx outside the code",
			      dyn_string(d, sym->st_name), (unsigned long long)sym->st_value);
	if (type == STT_OBJECT && !mapped(d, sym->st_value, 0, 0))
		return refuse(d, "dynamic symbol %s: object at %#llx outside the segments",
			      dyn_string(d, sym->st_name), (unsigned long long)sym->st_value);
	if (type == STT_TLS && sym->st_value > d->tls_size)
		return refuse(d, "dynamic symbol %s: TLS offset %#llx outside PT_TLS",
			      dyn_string(d, sym->st_name), (unsigned long long)sym->st_value);
	return 0;
}

static Elf64_Sym read_symbol(const struct elf_dynamic *d, uint64_t idx)
{
	Elf64_Sym sym;

	memcpy(&sym, d->img->base + d->symtab + idx * sizeof(sym), sizeof(sym));
	return sym;
}

/* The symbol table, as long as the hash tables say, and each symbol in it. */
static int check_symbols(struct elf_dynamic *d)
{
	uint64_t gnu = 0, sysv = 0, i;
	int ret = 0;

	if (has(d, DYN_GNU_HASH))
		ret = check_gnu_hash(d, &gnu);
	if (!ret && has(d, DYN_HASH))
		ret = check_sysv_hash(d, &sysv);
	if (ret)
		return ret;
	d->nsyms = gnu > sysv ? gnu : sysv;
	if (!d->nsyms)
		d->nsyms = 1;
	if (!file_offset(d, d->val[DYN_SYMTAB], d->nsyms * sizeof(Elf64_Sym), &d->symtab))
		return refuse(d, "DT_SYMTAB %#llx of %llu symbols outside the file",
			      (unsigned long long)d->val[DYN_SYMTAB],
			      (unsigned long long)d->nsyms);
	for (i = 0; i < d->nsyms && !ret; i++) {
		Elf64_Sym sym = read_symbol(d, i);

		ret = check_symbol(d, i, &sym);
	}
	return ret;
}

/* One Verneed record at @vaddr and its chain of Vernaux; return the next record's offset. */
static int check_verneed_record(struct elf_dynamic *d, uint64_t vaddr, unsigned int *records,
				uint32_t *next)
{
	const struct elf_image *img = d->img;
	uint64_t off, aux;
	const char *file;
	unsigned int i;

	if (++*records > MAX_VERSION_RECORDS)
		return refuse(d, "more than %d version records", MAX_VERSION_RECORDS);
	if (!file_offset(d, vaddr, sizeof(Elf64_Verneed), &off))
		return refuse(d, "DT_VERNEED record at %#llx outside the file",
			      (unsigned long long)vaddr);
	if (read16(img, off) != 1)
		return refuse(d, "DT_VERNEED record at %#llx: vn_version %u",
			      (unsigned long long)vaddr, read16(img, off));
	file = dyn_string(d, read32(img, off + offsetof(Elf64_Verneed, vn_file)));
	if (!file)
		return refuse(d, "DT_VERNEED record at %#llx: vn_file beyond DT_STRSZ",
			      (unsigned long long)vaddr);
	/* The dynamic linker asserts that the object is loaded with the module. */
	for (i = 0; i < d->nr_needed && strcmp(file, dyn_string(d, d->needed[i])); i++)
		;
	if (i == d->nr_needed)
		return refuse(d, "DT_VERNEED names %.64s, which is not a DT_NEEDED library", file);
	aux = vaddr + read32(img, off + offsetof(Elf64_Verneed, vn_aux));
	*next = read32(img, off + offsetof(Elf64_Verneed, vn_next));
	for (;;) {
		uint64_t aoff;
		uint32_t anext;

		if (++*records > MAX_VERSION_RECORDS)
			return refuse(d, "more than %d version records", MAX_VERSION_RECORDS);
		if (!file_offset(d, aux, sizeof(Elf64_Vernaux), &aoff) ||
		    !dyn_string(d, read32(img, aoff + offsetof(Elf64_Vernaux, vna_name))))
			return refuse(d, "DT_VERNEED auxiliary record at %#llx malformed",
				      (unsigned long long)aux);
		if ((read16(img, aoff + offsetof(Elf64_Vernaux, vna_other)) & 0x7fff) >
		    d->version_high)
			d->version_high = read16(img, aoff + offsetof(Elf64_Vernaux, vna_other)) &
					  0x7fff;
		anext = read32(img, aoff + offsetof(Elf64_Vernaux, vna_next));
		if (!anext)
			return 0;
		aux += anext;
	}
}

static int check_verneed(struct elf_dynamic *d)
{
	uint64_t vaddr = d->val[DYN_VERNEED];
	unsigned int records = 0;
	uint32_t next = 0;
	int ret;

	do {
		ret = check_verneed_record(d, vaddr, &records, &next);
		vaddr += next;
	} while (!ret && next);
	return ret;
}

/* The Verdef chain: each record and the first name of each. */
static int check_verdef(struct elf_dynamic *d)
{
	const struct elf_image *img = d->img;
	uint64_t vaddr = d->val[DYN_VERDEF], off, aoff;
	unsigned int records = 0;
	uint32_t next;

	do {
		if (++records > MAX_VERSION_RECORDS)
			return refuse(d, "more than %d version records", MAX_VERSION_RECORDS);
		if (!file_offset(d, vaddr, sizeof(Elf64_Verdef), &off) || read16(img, off) != 1)
			return refuse(d, "DT_VERDEF record at %#llx malformed",
				      (unsigned long long)vaddr);
		if (!file_offset(d, vaddr + read32(img, off + offsetof(Elf64_Verdef, vd_aux)),
				 sizeof(Elf64_Verdaux), &aoff) ||
		    !dyn_string(d, read32(img, aoff)))
			return refuse(d, "DT_VERDEF record at %#llx: name malformed",
				      (unsigned long long)vaddr);
		if ((read16(img, off + offsetof(Elf64_Verdef, vd_ndx)) & 0x7fff) > d->version_high)
			d->version_high = read16(img, off + offsetof(Elf64_Verdef, vd_ndx)) & 0x7fff;
		next = read32(img, off + offsetof(Elf64_Verdef, vd_next));
		vaddr += next;
	} while (next);
	return 0;
}

/*
 * The dynamic linker sizes its table of versions by the highest index the
 * records use, then indexes it with each symbol's DT_VERSYM entry.
 */
static int check_versions(struct elf_dynamic *d)
{
	uint64_t i;
	int ret = 0;

	if (has(d, DYN_VERNEED))
		ret = check_verneed(d);
	if (!ret && has(d, DYN_VERDEF))
		ret = check_verdef(d);
	if (ret)
		return ret;
	if (d->version_high && !has(d, DYN_VERSYM))
		return refuse(d, "version records without DT_VERSYM");
	if (!has(d, DYN_VERSYM))
		return 0;
	if (!d->version_high)
		return refuse(d, "DT_VERSYM without DT_VERNEED or DT_VERDEF records");
	if (!file_offset(d, d->val[DYN_VERSYM], d->nsyms * 2, &d->versym))
		return refuse(d, "DT_VERSYM %#llx outside the file",
			      (unsigned long long)d->val[DYN_VERSYM]);
	for (i = 0; i < d->nsyms; i++)
		if ((read16(d->img, d->versym + i * 2) & 0x7fff) > d->version_high)
			return refuse(d, "DT_VERSYM entry %llu: version %u, highest defined %u",
				      (unsigned long long)i, read16(d->img, d->versym + i * 2) & 0x7fff,
				      d->version_high);
	return 0;
}

typedef int (*rela_fn)(struct elf_dynamic *d, const Elf64_Rela *r, bool counted,
		       const char *table, uint64_t idx, void *arg);

/* One table of Elf64_Rela at @vaddr, @size bytes; the first @counted are RELATIVE. */
static int walk_rela_table(struct elf_dynamic *d, const char *table, uint64_t vaddr,
			   uint64_t size, uint64_t counted, rela_fn fn, void *arg)
{
	uint64_t off, i;
	int ret;

	if (size % sizeof(Elf64_Rela) || !file_offset(d, vaddr, size, &off))
		return refuse(d, "%s %#llx of %#llx bytes outside the file", table,
			      (unsigned long long)vaddr, (unsigned long long)size);
	if (counted > size / sizeof(Elf64_Rela))
		return refuse(d, "DT_RELACOUNT %llu beyond the %llu entries of DT_RELA",
			      (unsigned long long)counted,
			      (unsigned long long)(size / sizeof(Elf64_Rela)));
	for (i = 0; i < size / sizeof(Elf64_Rela); i++) {
		Elf64_Rela r;

		memcpy(&r, d->img->base + off + i * sizeof(r), sizeof(r));
		ret = fn(d, &r, i < counted, table, i, arg);
		if (ret)
			return ret;
	}
	return 0;
}

/* Every RELA relocation, in the order the dynamic linker applies them. */
static int walk_rela(struct elf_dynamic *d, rela_fn fn, void *arg)
{
	int ret = 0;

	if (has(d, DYN_RELA))
		ret = walk_rela_table(d, "DT_RELA", d->val[DYN_RELA], d->val[DYN_RELASZ],
				      has(d, DYN_RELACOUNT) ? d->val[DYN_RELACOUNT] : 0, fn, arg);
	if (!ret && has(d, DYN_PLTREL))
		ret = walk_rela_table(d, "DT_JMPREL", d->val[DYN_JMPREL], d->val[DYN_PLTRELSZ],
				      0, fn, arg);
	return ret;
}

typedef int (*relr_fn)(struct elf_dynamic *d, uint64_t where, void *arg);

/* Every word DT_RELR relocates: an address entry, then bitmaps of the 63 words after. */
static int walk_relr(struct elf_dynamic *d, relr_fn fn, void *arg)
{
	uint64_t off, i, where = 0, size = d->val[DYN_RELRSZ];
	unsigned int bit;
	int ret;

	if (!has(d, DYN_RELR))
		return 0;
	if (size % sizeof(uint64_t) || !file_offset(d, d->val[DYN_RELR], size, &off))
		return refuse(d, "DT_RELR %#llx of %#llx bytes outside the file",
			      (unsigned long long)d->val[DYN_RELR], (unsigned long long)size);
	for (i = 0; i < size / sizeof(uint64_t); i++) {
		uint64_t entry = read64(d->img, off + i * sizeof(uint64_t));

		if (!(entry & 1)) {
			ret = fn(d, entry, arg);
			if (ret)
				return ret;
			where = entry + 8;
			continue;
		}
		if (!i)
			return refuse(d, "DT_RELR starts with a bitmap, not an address");
		for (bit = 1; bit < 64; bit++) {
			if (!((entry >> bit) & 1))
				continue;
			ret = fn(d, where + (bit - 1) * 8, arg);
			if (ret)
				return ret;
		}
		where += 63 * 8;
	}
	return 0;
}

/* A write of @width bytes at @vaddr: in a writable segment, not over the dynamic section. */
static int check_write(const struct elf_dynamic *d, uint64_t vaddr, uint64_t width,
		       const char *table, uint64_t idx)
{
	const Elf64_Phdr *dyn = &d->dynamic;

	if (!mapped(d, vaddr, width, PF_W))
		return refuse(d, "%s entry %llu: writes %#llx, not in a writable segment", table,
			      (unsigned long long)idx, (unsigned long long)vaddr);
	if (vaddr < dyn->p_vaddr + dyn->p_memsz && dyn->p_vaddr < vaddr + width)
		return refuse(d, "%s entry %llu: writes %#llx, inside the dynamic section", table,
			      (unsigned long long)idx, (unsigned long long)vaddr);
	return 0;
}

static int check_relr_word(struct elf_dynamic *d, uint64_t where, void *arg)
{
	(void)arg;
	return check_write(d, where, 8, "DT_RELR", where);
}

/* TLS relocations need a TLS block: the module's own, or a TLS symbol it imports. */
static bool tls_reloc_ok(const struct elf_dynamic *d, uint64_t symidx)
{
	Elf64_Sym sym = read_symbol(d, symidx);

	if (sym.st_shndx == SHN_UNDEF && symidx)
		return ELF64_ST_TYPE(sym.st_info) == STT_TLS;
	return d->tls_size > 0;
}

/* One relocation: a type the loader knows, a symbol in the table, a write it allows. */
static int check_rela(struct elf_dynamic *d, const Elf64_Rela *r, bool counted,
		      const char *table, uint64_t idx, void *arg)
{
	uint32_t type = ELF64_R_TYPE(r->r_info);
	uint64_t sym = ELF64_R_SYM(r->r_info), width = 8;

	(void)arg;
	/* The dynamic linker applies the first DT_RELACOUNT as RELATIVE, whatever their type. */
	if (counted && type != MOD_R_RELATIVE)
		return refuse(d, "%s entry %llu: type %u among the DT_RELACOUNT RELATIVE ones",
			      table, (unsigned long long)idx, type);
	if (sym >= d->nsyms)
		return refuse(d, "%s entry %llu: symbol %llu beyond the %llu dynamic symbols",
			      table, (unsigned long long)idx, (unsigned long long)sym,
			      (unsigned long long)d->nsyms);
	switch (type) {
	case MOD_R_NONE:
		return 0;
	case MOD_R_ABS64:
	case MOD_R_GLOB_DAT:
	case MOD_R_JUMP_SLOT:
	case MOD_R_RELATIVE:
		break;
	case MOD_R_TLSDESC:
		width = 16;
		/* fallthrough */
	case MOD_R_TLS_DTPMOD:
	case MOD_R_TLS_DTPREL:
	case MOD_R_TLS_TPREL:
		if (!tls_reloc_ok(d, sym))
			return refuse(d, "%s entry %llu: TLS relocation without a TLS block",
				      table, (unsigned long long)idx);
		break;
	default:
		return refuse(d, "%s entry %llu: relocation type %u is not supported in a module",
			      table, (unsigned long long)idx, type);
	}
	return check_write(d, r->r_offset, width, table, idx);
}

/* What one pointer-sized slot holds once the dynamic linker is done relocating. */
struct slot_value {
	uint64_t vaddr;
	uint64_t value;
	bool base_relative;	/* value + load base; else an absolute value */
	const char *why;	/* set if the loader cannot tell */
};

/* Does a write of @width bytes at @where touch the slot? */
static bool writes_slot(const struct slot_value *s, uint64_t where, uint64_t width)
{
	return where < s->vaddr + 8 && s->vaddr < where + width;
}

/* DT_RELR adds the load base to the word in place. */
static int relr_slot(struct elf_dynamic *d, uint64_t where, void *arg)
{
	struct slot_value *s = arg;

	(void)d;
	if (!writes_slot(s, where, 8))
		return 0;
	if (where != s->vaddr)
		s->why = "a relocation writes part of it";
	else if (s->base_relative)
		s->why = "DT_RELR relocates it twice";
	s->base_relative = true;
	return 0;
}

static int rela_slot(struct elf_dynamic *d, const Elf64_Rela *r, bool counted,
		     const char *table, uint64_t idx, void *arg)
{
	uint32_t type = ELF64_R_TYPE(r->r_info);
	struct slot_value *s = arg;
	Elf64_Sym sym;

	(void)counted;
	(void)table;
	(void)idx;
	if (type == MOD_R_NONE || !writes_slot(s, r->r_offset, type == MOD_R_TLSDESC ? 16 : 8))
		return 0;
	sym = read_symbol(d, ELF64_R_SYM(r->r_info));
	s->why = NULL;
	if (r->r_offset != s->vaddr) {
		s->why = "a relocation writes part of it";
	} else if (type == MOD_R_RELATIVE) {
		s->value = r->r_addend;
		s->base_relative = true;
	} else if (type == MOD_R_ABS64 && sym.st_shndx != SHN_UNDEF &&
		   ELF64_ST_TYPE(sym.st_info) == STT_FUNC) {
		s->value = sym.st_value + r->r_addend;
		s->base_relative = true;
	} else {
		s->why = "it is bound to something outside the module";
	}
	return 0;
}

/*
 * The functions of DT_INIT_ARRAY or DT_FINI_ARRAY, which the dynamic linker
 * calls, each after relocation: all must be in the module's code.
 */
static int check_function_array(struct elf_dynamic *d, enum dyn_slot array, enum dyn_slot size)
{
	uint64_t vaddr = d->val[array], n = d->val[size] / 8, i, off;
	int ret;

	if (!has(d, array))
		return 0;
	if (d->val[size] % 8 || n > MAX_FUNCTION_ARRAY || !mapped(d, vaddr, n * 8, 0))
		return refuse(d, "%s %#llx of %#llx bytes malformed", dyn_slots[array].name,
			      (unsigned long long)vaddr, (unsigned long long)d->val[size]);
	for (i = 0; i < n; i++) {
		struct slot_value s = { .vaddr = vaddr + i * 8 };

		if (file_offset(d, s.vaddr, 8, &off))
			s.value = read64(d->img, off);
		ret = walk_relr(d, relr_slot, &s);
		if (!ret)
			ret = walk_rela(d, rela_slot, &s);
		if (ret)
			return ret;
		if (s.why || !s.base_relative || !in_code(d, s.value))
			return refuse(d, "%s[%llu] is not an address in the module's code%s%s",
				      dyn_slots[array].name, (unsigned long long)i,
				      s.why ? ": " : "", s.why ? s.why : "");
	}
	return 0;
}

/* Everything the dynamic linker calls in the module before and after its init. */
static int check_entry_points(struct elf_dynamic *d)
{
	static const enum dyn_slot entries[] = { DYN_INIT, DYN_FINI };
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(entries); i++)
		if (has(d, entries[i]) && !in_code(d, d->val[entries[i]]))
			return refuse(d, "%s %#llx is not in the module's code",
				      dyn_slots[entries[i]].name,
				      (unsigned long long)d->val[entries[i]]);
	ret = check_function_array(d, DYN_INIT_ARRAY, DYN_INIT_ARRAYSZ);
	if (!ret)
		ret = check_function_array(d, DYN_FINI_ARRAY, DYN_FINI_ARRAYSZ);
	return ret;
}

/* Check all that the dynamic linker will read, write and call, in the order it does. */
static int check_dynamic(const struct elf_image *img, struct elf_dynamic *d)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->img = img;
	ret = check_program_headers(d);
	if (!ret)
		ret = read_dynamic_entries(d);
	if (!ret)
		ret = check_dynamic_entries(d);
	if (!ret)
		ret = check_strings(d);
	if (!ret)
		ret = check_symbols(d);
	if (!ret)
		ret = check_versions(d);
	if (!ret)
		ret = walk_relr(d, check_relr_word, NULL);
	if (!ret)
		ret = walk_rela(d, check_rela, NULL);
	if (!ret)
		ret = check_entry_points(d);
	return ret;
}

/* The name of version index @ndx among the versions the module needs, or NULL. */
static const char *needed_version(const struct elf_dynamic *d, unsigned int ndx)
{
	const struct elf_image *img = d->img;
	uint64_t vaddr = d->val[DYN_VERNEED], off = 0, aux, aoff = 0;
	uint32_t next, anext;

	if (!has(d, DYN_VERNEED))
		return NULL;
	do {
		file_offset(d, vaddr, sizeof(Elf64_Verneed), &off);
		aux = vaddr + read32(img, off + offsetof(Elf64_Verneed, vn_aux));
		do {
			file_offset(d, aux, sizeof(Elf64_Vernaux), &aoff);
			if ((read16(img, aoff + offsetof(Elf64_Vernaux, vna_other)) & 0x7fff) == ndx)
				return dyn_string(d, read32(img, aoff + offsetof(Elf64_Vernaux,
										 vna_name)));
			anext = read32(img, aoff + offsetof(Elf64_Vernaux, vna_next));
			aux += anext;
		} while (anext);
		next = read32(img, off + offsetof(Elf64_Verneed, vn_next));
		vaddr += next;
	} while (next);
	return NULL;
}

/* Copy one undefined symbol into the descriptor. */
static int add_import(struct modinfo_private *priv, const char *name, const char *version,
		      bool weak)
{
	struct module_import *imp = &priv->imports[priv->nr_imports];

	imp->name = strdup(name);
	imp->version = version ? strdup(version) : NULL;
	imp->weak = weak;
	priv->nr_imports++;
	return imp->name && (imp->version || !version) ? 0 : -ENOMEM;
}

/*
 * The undefined dynamic symbols, from the table the dynamic linker binds
 * (not the section headers, which it never reads): the non-weak ones are
 * what the module needs bound; all of them are checked against the tiers.
 */
static int read_imports(struct parse_ctx *ctx, const struct elf_dynamic *d)
{
	struct modinfo_private *priv = ctx->priv;
	struct uhmm_modinfo *info = ctx->info;
	uint64_t i;
	size_t n;
	int ret;

	priv->imports = calloc(d->nsyms, sizeof(*priv->imports));
	info->imports = calloc(d->nsyms, sizeof(*info->imports));
	if (!priv->imports || !info->imports)
		return -ENOMEM;
	for (i = 1; i < d->nsyms; i++) {
		Elf64_Sym sym = read_symbol(d, i);
		unsigned int bind = ELF64_ST_BIND(sym.st_info);
		const char *name = dyn_string(d, sym.st_name), *version = NULL;

		if (sym.st_shndx != SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
			continue;
		if (!valid_symbol_name(name)) {
			pr_err("%s: dynamic symbol %llu has a bad name", ctx->img->file,
			       (unsigned long long)i);
			return -ENOEXEC;
		}
		if (has(d, DYN_VERSYM))
			version = needed_version(d, read16(d->img, d->versym + i * 2) & 0x7fff);
		ret = add_import(priv, name, version, bind == STB_WEAK);
		if (ret)
			return ret;
	}
	for (n = 0; n < priv->nr_imports; n++)
		if (!priv->imports[n].weak)
			info->imports[info->nr_imports++] = priv->imports[n].name;
	return 0;
}

/* What the dynamic linker would call: the loader calls it instead. */
static void read_ctors(struct module_ctors *c, const struct elf_dynamic *d)
{
	static const enum dyn_slot taken[] = {
		DYN_INIT, DYN_FINI, DYN_INIT_ARRAY, DYN_INIT_ARRAYSZ, DYN_FINI_ARRAY,
		DYN_FINI_ARRAYSZ,
	};
	unsigned int i;

	c->init = has(d, DYN_INIT) ? d->val[DYN_INIT] : 0;
	c->fini = has(d, DYN_FINI) ? d->val[DYN_FINI] : 0;
	if (has(d, DYN_INIT_ARRAY)) {
		c->init_array = d->val[DYN_INIT_ARRAY];
		c->nr_init_array = d->val[DYN_INIT_ARRAYSZ] / 8;
	}
	if (has(d, DYN_FINI_ARRAY)) {
		c->fini_array = d->val[DYN_FINI_ARRAY];
		c->nr_fini_array = d->val[DYN_FINI_ARRAYSZ] / 8;
	}
	for (i = 0; i < ARRAY_SIZE(taken); i++)
		if (has(d, taken[i]))
			c->entries[c->nr_entries++] = d->entry_off[taken[i]];
}

/* The libraries it links, where its code is, and its constructors, for the loader. */
static int read_loader_view(struct parse_ctx *ctx, const struct elf_dynamic *d)
{
	struct modinfo_private *priv = ctx->priv;
	unsigned int i;

	read_ctors(&priv->ctors, d);
	priv->needed = calloc(d->nr_needed ? d->nr_needed : 1, sizeof(*priv->needed));
	if (!priv->needed)
		return -ENOMEM;
	for (i = 0; i < d->nr_needed; i++) {
		priv->needed[i] = strdup(dyn_string(d, d->needed[i]));
		if (!priv->needed[i])
			return -ENOMEM;
		priv->nr_needed++;
	}
	for (i = 0; i < d->nr_load; i++)
		if (d->load[i].p_flags & PF_X) {
			priv->code[priv->nr_code].start = d->load[i].p_vaddr;
			priv->code[priv->nr_code].end = d->load[i].p_vaddr + d->load[i].p_filesz;
			priv->nr_code++;
		}
	return 0;
}

const struct module_import *modinfo_all_imports(const struct uhmm_modinfo *info, size_t *nr)
{
	*nr = to_private(info)->nr_imports;
	return to_private(info)->imports;
}

const char *const *modinfo_needed(const struct uhmm_modinfo *info, size_t *nr)
{
	*nr = to_private(info)->nr_needed;
	return (const char *const *)to_private(info)->needed;
}

const struct module_ctors *modinfo_ctors(const struct uhmm_modinfo *info)
{
	return &to_private(info)->ctors;
}

bool modinfo_in_code(const struct uhmm_modinfo *info, uint64_t vaddr)
{
	const struct modinfo_private *priv = to_private(info);
	unsigned int i;

	for (i = 0; i < priv->nr_code; i++)
		if (vaddr >= priv->code[i].start && vaddr < priv->code[i].end)
			return true;
	return false;
}

/* The file's base name without ".so". */
static char *default_name(const char *file)
{
	const char *base = strrchr(file, '/');
	size_t len;

	base = base ? base + 1 : file;
	len = strlen(base);
	if (len > 3 && !strcmp(base + len - 3, ".so"))
		len -= 3;
	return strndup(base, len);
}

UHMM_EXPORT void uhmm_modinfo_free(struct uhmm_modinfo *info)
{
	struct modinfo_private *priv;
	size_t i;

	if (!info)
		return;
	priv = to_private(info);
	free((char *)info->name);
	free((char *)info->license);
	free((char *)info->version);
	free((char *)info->description);
	free((char *)info->author);
	free((char *)info->init);
	free((char *)info->exit);
	for (i = 0; i < info->nr_exports; i++)
		free((char *)info->exports[i].name);
	free(info->exports);
	free(info->imports);	/* its names belong to priv->imports */
	for (i = 0; i < priv->nr_imports; i++) {
		free((char *)priv->imports[i].name);
		free((char *)priv->imports[i].version);
	}
	free(priv->imports);
	for (i = 0; i < priv->nr_needed; i++)
		free(priv->needed[i]);
	free(priv->needed);
	free(priv);
}

UHMM_EXPORT struct uhmm_modinfo *uhmm_modinfo_parse(const void *image, size_t len,
						    const char *file)
{
	struct modinfo_private *priv;
	struct uhmm_modinfo *info;
	struct parse_ctx ctx = { 0 };
	struct elf_dynamic dyn;
	struct elf_image img;
	const unsigned char *data;
	Elf64_Shdr sh;
	size_t size;
	int ret;

	if (!image || !file) {
		errno = EINVAL;
		return NULL;
	}
	priv = calloc(1, sizeof(*priv));
	if (!priv) {
		errno = ENOMEM;
		return NULL;
	}
	info = &priv->info;
	ctx.img = &img;
	ctx.priv = priv;
	ctx.info = info;

	ret = elf_open(&img, image, len, file);
	if (ret)
		goto err;
	ret = find_section(&img, ".modinfo", &sh);
	if (ret == 0) {
		pr_err("%s: not a uhmm module (no .modinfo section)", file);
		ret = -ENOEXEC;
	}
	if (ret < 0)
		goto err;
	ret = section_data(&img, &sh, &data, &size);
	if (!ret)
		ret = for_each_string(&img, ".modinfo", data, size, MODINFO_MAX_ENTRIES,
				      modinfo_entry, &ctx);
	if (ret)
		goto err;
	if (info->abi != UHMM_MODULE_ABI) {
		if (info->abi)
			pr_err("%s: descriptor format %d, this uhmm reads %d", file, info->abi,
			       UHMM_MODULE_ABI);
		else
			pr_err("%s: not a uhmm module (no uhmm_abi in .modinfo: no module_init?)",
			       file);
		ret = -ENOEXEC;
		goto err;
	}
	if (!info->name && !(info->name = default_name(file))) {
		ret = -ENOMEM;
		goto err;
	}
	if (!valid_module_name(info->name)) {
		pr_err("%s: bad module name '%.64s' (1 to %d letters, digits, '_' or '-')",
		       file, info->name, MODULE_NAME_LEN - 1);
		ret = -ENOEXEC;
		goto err;
	}
	ret = read_exports(&ctx, "__uhmm_ksymtab", UHMM_EXPORT_PLAIN);
	if (!ret)
		ret = read_exports(&ctx, "__uhmm_ksymtab_gpl", UHMM_EXPORT_GPL);
	if (!ret)
		ret = check_dynamic(&img, &dyn);
	if (!ret)
		ret = read_imports(&ctx, &dyn);
	if (!ret)
		ret = read_loader_view(&ctx, &dyn);
	if (ret)
		goto err;
	return info;
err:
	uhmm_modinfo_free(info);
	errno = -ret;
	return NULL;
}

int module_read_file(const char *path, int *fdp, void **imagep, size_t *lenp)
{
	struct stat st;
	size_t done = 0;
	void *image;
	int fd;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	/* Nothing but a regular file is read: a device or a FIFO could block forever. */
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > MODULE_MAX_FILE) {
		close(fd);
		return -EFBIG;
	}
	image = malloc(st.st_size ? st.st_size : 1);
	if (!image) {
		close(fd);
		return -ENOMEM;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = pread(fd, (char *)image + done, st.st_size - done, done);

		if (n <= 0) {
			free(image);
			close(fd);
			return n < 0 ? -errno : -ENOEXEC;
		}
		done += n;
	}
	*fdp = fd;
	*imagep = image;
	*lenp = done;
	return 0;
}

UHMM_EXPORT struct uhmm_modinfo *uhmm_modinfo_read(const char *path)
{
	struct uhmm_modinfo *info;
	size_t len;
	void *image;
	int fd, ret;

	if (!path) {
		errno = EINVAL;
		return NULL;
	}
	ret = module_read_file(path, &fd, &image, &len);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	close(fd);
	info = uhmm_modinfo_parse(image, len, path);
	ret = errno;
	free(image);
	errno = ret;
	return info;
}

UHMM_EXPORT bool uhmm_license_is_gpl_compatible(const char *license)
{
	static const char *const gpl_compatible[] = {
		"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
		"Dual MIT/GPL", "Dual MPL/GPL",
	};
	size_t i;

	for (i = 0; license && i < ARRAY_SIZE(gpl_compatible); i++)
		if (!strcmp(license, gpl_compatible[i]))
			return true;
	return false;
}
