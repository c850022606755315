// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading a module's descriptor from its file, without running any of it:
 * the ELF section headers, the .modinfo strings, the export tables and the
 * undefined dynamic symbols.  Every offset, size, index and string of the
 * file is checked before use; the input may be anything (it is fuzzed).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

struct elf_image {
	const char *file;		/* for messages */
	const unsigned char *base;
	size_t len;
	Elf64_Ehdr eh;
	const char *shstr;
	size_t shstr_len;
};

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
	struct uhmm_modinfo *info;
	enum uhmm_export_tier tier;
	size_t cap_exports, cap_imports;
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

/* The undefined, non-weak dynamic symbols: what the module needs bound. */
static int read_imports(struct parse_ctx *ctx)
{
	const struct elf_image *img = ctx->img;
	struct uhmm_modinfo *info = ctx->info;
	const unsigned char *syms, *strs;
	Elf64_Shdr symsh = { 0 }, strsh;
	size_t symsize, strsize, i, n;
	unsigned int idx;
	int ret;

	for (idx = 1; idx < img->eh.e_shnum; idx++) {
		read_shdr(img, idx, &symsh);
		if (symsh.sh_type == SHT_DYNSYM)
			break;
	}
	if (idx == img->eh.e_shnum)
		return 0;	/* imports nothing */
	if (symsh.sh_entsize != sizeof(Elf64_Sym) || read_shdr(img, symsh.sh_link, &strsh) ||
	    strsh.sh_type != SHT_STRTAB) {
		pr_err("%s: malformed dynamic symbol table", img->file);
		return -ENOEXEC;
	}
	ret = section_data(img, &symsh, &syms, &symsize);
	if (!ret)
		ret = section_data(img, &strsh, &strs, &strsize);
	if (ret)
		return ret;
	n = symsize / sizeof(Elf64_Sym);
	if (symsize % sizeof(Elf64_Sym) || n > MAX_SYMBOLS) {
		pr_err("%s: dynamic symbol table of %zu bytes", img->file, symsize);
		return -ENOEXEC;
	}
	for (i = 1; i < n; i++) {
		Elf64_Sym sym;
		const char *name;
		char *copy;

		memcpy(&sym, syms + i * sizeof(sym), sizeof(sym));
		if (sym.st_shndx != SHN_UNDEF || ELF64_ST_BIND(sym.st_info) != STB_GLOBAL)
			continue;
		name = table_string((const char *)strs, strsize, sym.st_name);
		if (!name || !valid_symbol_name(name)) {
			pr_err("%s: dynamic symbol %zu has a bad name", img->file, i);
			return -ENOEXEC;
		}
		if (grow((void **)&info->imports, &ctx->cap_imports, info->nr_imports + 1,
			 sizeof(*info->imports)))
			return -ENOMEM;
		copy = strdup(name);
		if (!copy)
			return -ENOMEM;
		info->imports[info->nr_imports++] = copy;
	}
	return 0;
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
	size_t i;

	if (!info)
		return;
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
	for (i = 0; i < info->nr_imports; i++)
		free((char *)info->imports[i]);
	free(info->imports);
	free(info);
}

UHMM_EXPORT struct uhmm_modinfo *uhmm_modinfo_parse(const void *image, size_t len,
						    const char *file)
{
	struct uhmm_modinfo *info;
	struct parse_ctx ctx = { 0 };
	struct elf_image img;
	const unsigned char *data;
	Elf64_Shdr sh;
	size_t size;
	int ret;

	if (!image || !file) {
		errno = EINVAL;
		return NULL;
	}
	info = calloc(1, sizeof(*info));
	if (!info) {
		errno = ENOMEM;
		return NULL;
	}
	ctx.img = &img;
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
		ret = read_imports(&ctx);
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
