// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing the module descriptor reader: whatever the bytes, it returns a
 * descriptor or NULL with ENOEXEC/ENOMEM, never crashes, never reads outside
 * the buffer (run under ASan).  That includes the check of what the dynamic
 * linker will read (program headers, the dynamic section and its tables):
 * whatever it accepts must be consistent, for the loader relies on it.
 *
 * Two drivers: LLVMFuzzerTestOneInput for libFuzzer (scripts/run fuzz), and
 * a test for the suite that mutates real module files with structure-aware
 * mutations (section and program headers, the ELF header, .modinfo strings,
 * dynamic entries and the tables they point to), a bounded number of times,
 * deterministically.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/log.h>
#include <uhmm/module.h>

#include "../lib/module/module_internal.h"

/* What the loader takes from an accepted descriptor must hold together. */
static void check_loader_view(const struct uhmm_modinfo *info)
{
	const struct module_ctors *ctors = modinfo_ctors(info);
	const struct module_import *all;
	const char *const *needed;
	size_t i, n, strong = 0;

	all = modinfo_all_imports(info, &n);
	for (i = 0; i < n; i++) {
		if (!all[i].name[0] || (all[i].version && strlen(all[i].version) > 65536))
			abort();
		strong += !all[i].weak;
	}
	if (strong != info->nr_imports)
		abort();
	needed = modinfo_needed(info, &n);
	for (i = 0; i < n; i++)
		if (strlen(needed[i]) > 65536)
			abort();
	if ((ctors->init && !modinfo_in_code(info, ctors->init)) ||
	    (ctors->fini && !modinfo_in_code(info, ctors->fini)) ||
	    ctors->nr_init_array > 256 || ctors->nr_fini_array > 256 || ctors->nr_entries > 6)
		abort();
}

static int check_one(const uint8_t *data, size_t size)
{
	struct uhmm_modinfo *info = uhmm_modinfo_parse(data, size, "fuzz.so");

	if (info) {
		/* Whatever it accepted must be self-consistent. */
		size_t i, n = 0;

		for (i = 0; i < info->nr_exports; i++)
			n += strlen(info->exports[i].name);
		for (i = 0; i < info->nr_imports; i++)
			n += strlen(info->imports[i]);
		if (!info->name || info->abi != UHMM_MODULE_ABI)
			abort();
		check_loader_view(info);
		uhmm_modinfo_free(info);
		return n > 0;
	}
	if (errno != ENOEXEC && errno != ENOMEM)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;

	if (!quiet++)
		uhmm_set_log_level(0);
	check_one(data, size);
	return 0;
}

#ifndef UHMM_LIBFUZZER
#include "harness.h"

#define SEEDS_DIR TEST_MODULE_DIR
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t *read_seed(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s.so", SEEDS_DIR, name);
	f = fopen(path, "rb");
	ASSERT_NONNULL(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n);
	ASSERT_EQ(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = n;
	return buf;
}

static const uint64_t interesting[] = {
	0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x100000000ULL,
	UINT64_MAX, UINT64_MAX - 7, 1ULL << 40,
};

/* Overwrite @width bytes at @off with an interesting or random value. */
static void poke(uint8_t *buf, size_t len, size_t off, int width)
{
	uint64_t v = rnd() & 1 ? interesting[rnd() % ARRAY_SIZE(interesting)] : rnd();

	if (off + width <= len)
		memcpy(buf + off, &v, width);
}

/* Where a seed keeps what the dynamic linker reads (from the pristine file). */
struct dyn_layout {
	uint64_t phoff, phnum;
	uint64_t dyn_off, dyn_size;
	uint64_t table_off[8], table_size[8];	/* symbols, strings, hash, versions, relocations */
	int nr_tables;
};

/* The file offset of link-time address @vaddr, or 0 if no PT_LOAD maps it. */
static uint64_t seed_offset(const uint8_t *buf, const Elf64_Ehdr *eh, uint64_t vaddr)
{
	int i;

	for (i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz)
			return ph.p_offset + vaddr - ph.p_vaddr;
	}
	return 0;
}

static void find_layout(const uint8_t *buf, struct dyn_layout *l)
{
	static const struct {
		int64_t tag, size_tag;
		uint64_t size;
	} tables[] = {
		{ DT_SYMTAB, 0, 64 * sizeof(Elf64_Sym) }, { DT_STRTAB, DT_STRSZ, 0 },
		{ DT_GNU_HASH, 0, 64 }, { DT_VERSYM, 0, 64 }, { DT_VERNEED, 0, 64 },
		{ DT_RELA, DT_RELASZ, 0 }, { DT_JMPREL, DT_PLTRELSZ, 0 },
	};
	Elf64_Ehdr eh;
	uint64_t i, j;

	memcpy(&eh, buf, sizeof(eh));
	memset(l, 0, sizeof(*l));
	l->phoff = eh.e_phoff;
	l->phnum = eh.e_phnum;
	for (i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_DYNAMIC) {
			l->dyn_off = ph.p_offset;
			l->dyn_size = ph.p_filesz;
		}
	}
	ASSERT_GT(l->dyn_size, 0);
	for (j = 0; j < ARRAY_SIZE(tables); j++) {
		uint64_t vaddr = 0, size = tables[j].size;

		for (i = 0; i < l->dyn_size / sizeof(Elf64_Dyn); i++) {
			Elf64_Dyn dyn;

			memcpy(&dyn, buf + l->dyn_off + i * sizeof(dyn), sizeof(dyn));
			if (dyn.d_tag == tables[j].tag)
				vaddr = dyn.d_un.d_ptr;
			if (tables[j].size_tag && dyn.d_tag == tables[j].size_tag)
				size = dyn.d_un.d_val;
		}
		if (vaddr && size && seed_offset(buf, &eh, vaddr)) {
			l->table_off[l->nr_tables] = seed_offset(buf, &eh, vaddr);
			l->table_size[l->nr_tables++] = size;
		}
	}
}

static void mutate(uint8_t *buf, size_t *len, const struct dyn_layout *l)
{
	Elf64_Ehdr eh;
	int kind = rnd() % 9, n, i, t;

	memcpy(&eh, buf, sizeof(eh) < *len ? sizeof(eh) : *len);
	switch (kind) {
	case 0:		/* a few random bytes anywhere */
		for (n = 1 + rnd() % 8, i = 0; i < n; i++)
			buf[rnd() % *len] = rnd();
		break;
	case 1:		/* an ELF header field */
		poke(buf, *len, 16 + rnd() % (sizeof(eh) - 16), 1 << (rnd() % 4));
		break;
	case 2:		/* a field of a section header */
		if (eh.e_shoff < *len && eh.e_shnum)
			poke(buf, *len, eh.e_shoff + (rnd() % eh.e_shnum) * sizeof(Elf64_Shdr) +
			     rnd() % sizeof(Elf64_Shdr), 1 << (rnd() % 4));
		break;
	case 3:		/* truncate */
		*len = rnd() % *len + 1;
		break;
	case 4:		/* clear or set NULs: unterminated and split strings */
		for (n = 1 + rnd() % 16, i = 0; i < n; i++) {
			size_t off = rnd() % *len;

			buf[off] = buf[off] ? 0 : 'A';
		}
		break;
	case 5:		/* a dynamic symbol's name offset, as st_name lives at the start */
		poke(buf, *len, rnd() % *len & ~3UL, 4);
		break;
	case 6:		/* a field of a program header */
		poke(buf, *len, l->phoff + (rnd() % l->phnum) * sizeof(Elf64_Phdr) +
		     rnd() % sizeof(Elf64_Phdr), 1 << (rnd() % 4));
		break;
	case 7:		/* a dynamic entry's tag or value */
		poke(buf, *len, l->dyn_off + (rnd() % (l->dyn_size / 8)) * 8, 1 << (rnd() % 4));
		break;
	case 8:		/* a word of a table the dynamic linker reads */
		if (!l->nr_tables)
			break;
		t = rnd() % l->nr_tables;
		poke(buf, *len, l->table_off[t] + (rnd() % l->table_size[t] & ~1UL),
		     1 << (rnd() % 3));
		break;
	}
}

TEST(modinfo_survives_mutated_module_files)
{
	static const char *const seeds[] = { "gpl_ok", "drvmod", "no_license", "cycle_a",
					     "gpl_dlsym" };
	const char *env = getenv("UHMM_FUZZ_ITERS");
	long iters = env ? atol(env) : 100000, it, accepted = 0, with_symbols = 0;

	uhmm_set_log_level(0);
	for (it = 0; it < iters; it++) {
		size_t len, orig;
		uint8_t *seed = read_seed(seeds[it % ARRAY_SIZE(seeds)], &orig);
		int rounds = 1 + rnd() % 4, r, ret;
		struct dyn_layout layout;

		find_layout(seed, &layout);
		len = orig;
		for (r = 0; r < rounds; r++)
			mutate(seed, &len, &layout);
		/* A copy of exactly len bytes, so ASan sees any read past the end. */
		uint8_t *exact = malloc(len);

		memcpy(exact, seed, len);
		errno = 0;
		ret = check_one(exact, len);
		if (errno == 0) {
			accepted++;
			with_symbols += ret;
		}
		free(exact);
		free(seed);
	}
	printf("# %ld mutated files: %ld accepted (%ld with symbols), %ld refused\n", iters,
	       accepted, with_symbols, iters - accepted);
	/* The mutations must reach both outcomes, or the test proves little. */
	ASSERT_GT(accepted, 0);
	ASSERT_LT(accepted, iters);
}

TEST(modinfo_refuses_the_classic_malformations)
{
	size_t len;
	uint8_t *img = read_seed("gpl_ok", &len);
	Elf64_Ehdr eh;

	uhmm_set_log_level(0);
	memcpy(&eh, img, sizeof(eh));
	/* Too short, bad magic, wrong type, headers past the end, bad string index. */
	errno = 0;
	ASSERT_NULL(uhmm_modinfo_parse(img, 10, "short.so"));
	ASSERT_EQ(errno, ENOEXEC);
	img[1] = 'X';
	ASSERT_NULL(uhmm_modinfo_parse(img, len, "magic.so"));
	img[1] = 'E';
	((Elf64_Ehdr *)img)->e_type = ET_REL;
	ASSERT_NULL(uhmm_modinfo_parse(img, len, "type.so"));
	((Elf64_Ehdr *)img)->e_type = ET_DYN;
	((Elf64_Ehdr *)img)->e_shoff = len - 10;
	ASSERT_NULL(uhmm_modinfo_parse(img, len, "shoff.so"));
	((Elf64_Ehdr *)img)->e_shoff = eh.e_shoff;
	((Elf64_Ehdr *)img)->e_shstrndx = eh.e_shnum;
	ASSERT_NULL(uhmm_modinfo_parse(img, len, "shstrndx.so"));
	((Elf64_Ehdr *)img)->e_shstrndx = eh.e_shstrndx;
	/* Intact again: accepted. */
	uhmm_modinfo_free(uhmm_modinfo_parse(img, len, "gpl_ok.so"));
	ASSERT_NULL(uhmm_modinfo_parse(NULL, len, "null.so"));
	ASSERT_EQ(errno, EINVAL);
	free(img);
}

static char log_buf[4096];

static void capture(int level, const char *msg, void *data)
{
	(void)level;
	(void)data;
	snprintf(log_buf, sizeof(log_buf), "%s", msg);
}

/* The file offset of the dynamic entry with @tag in @img (0 if none). */
static uint64_t dyn_entry(const uint8_t *img, int64_t tag)
{
	struct dyn_layout l;
	uint64_t i;

	find_layout(img, &l);
	for (i = 0; i < l.dyn_size / sizeof(Elf64_Dyn); i++) {
		Elf64_Dyn dyn;

		memcpy(&dyn, img + l.dyn_off + i * sizeof(dyn), sizeof(dyn));
		if (dyn.d_tag == tag)
			return l.dyn_off + i * sizeof(dyn);
	}
	return 0;
}

static uint64_t dyn_value(const uint8_t *img, int64_t tag)
{
	Elf64_Dyn dyn;

	memcpy(&dyn, img + dyn_entry(img, tag), sizeof(dyn));
	return dyn.d_un.d_val;
}

/* The file offset of the table dynamic entry @tag points to. */
static uint64_t dyn_table(const uint8_t *img, int64_t tag)
{
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh));
	return seed_offset(img, &eh, dyn_value(img, tag));
}

/* The file offset of the first DT_RELA entry of @type, or writing @r_offset if @type < 0. */
static uint64_t find_rela(const uint8_t *img, long type, uint64_t r_offset)
{
	uint64_t rela = dyn_table(img, DT_RELA), n = dyn_value(img, DT_RELASZ) / sizeof(Elf64_Rela);
	uint64_t i;

	for (i = 0; i < n; i++) {
		Elf64_Rela r;

		memcpy(&r, img + rela + i * sizeof(r), sizeof(r));
		if (type >= 0 ? ELF64_R_TYPE(r.r_info) == (uint64_t)type : r.r_offset == r_offset)
			return rela + i * sizeof(r);
	}
	HARNESS_FAIL("no such relocation");
}

static void put64(uint8_t *img, uint64_t off, uint64_t v)
{
	memcpy(img + off, &v, sizeof(v));
}

static void put32(uint8_t *img, uint64_t off, uint32_t v)
{
	memcpy(img + off, &v, sizeof(v));
}

static void put16(uint8_t *img, uint64_t off, uint16_t v)
{
	memcpy(img + off, &v, sizeof(v));
}

/* A module with one field broken is refused, and the message names the field. */
static void expect_refused(const uint8_t *img, size_t len, const char *message)
{
	struct uhmm_modinfo *info;

	log_buf[0] = '\0';
	errno = 0;
	info = uhmm_modinfo_parse(img, len, "broken.so");
	if (info)
		HARNESS_FAIL("accepted, expected \"%s\"", message);
	ASSERT_EQ(errno, ENOEXEC);
	if (!strstr(log_buf, message))
		HARNESS_FAIL("expected \"%s\" in \"%s\"", message, log_buf);
}

TEST(dynamic_checks_refuse_each_bad_field_by_name)
{
	size_t len;
	uint8_t *orig = read_seed("gpl_dlsym", &len), *img = malloc(len);
	struct uhmm_modinfo *info;
	Elf64_Ehdr eh;
	uint64_t off, glob_dat, init_array, dynvaddr = 0;

	uhmm_set_log_fn(capture, NULL);
	uhmm_set_log_level(UHMM_LOG_ERR);
	memcpy(&eh, orig, sizeof(eh));
	info = uhmm_modinfo_parse(orig, len, "gpl_dlsym.so");
	ASSERT_NONNULL(info);
	uhmm_modinfo_free(info);
	glob_dat = find_rela(orig, R_X86_64_GLOB_DAT, 0);
	init_array = find_rela(orig, -1, dyn_value(orig, DT_INIT_ARRAY));
	/* The first PT_LOAD, holding the tables, mapped without read permission. */
	memcpy(img, orig, len);
	put32(img, eh.e_phoff + offsetof(Elf64_Phdr, p_flags), 0);
	expect_refused(img, len, "PT_LOAD p_flags 0 is not readable");

	memcpy(img, orig, len);
	put64(img, dyn_entry(img, DT_STRSZ) + 8, len * 2);
	expect_refused(img, len, "DT_STRSZ");

	memcpy(img, orig, len);
	put32(img, dyn_table(img, DT_GNU_HASH) + 8, 3);	/* bloom words */
	expect_refused(img, len, "DT_GNU_HASH header");

	memcpy(img, orig, len);
	put32(img, dyn_table(img, DT_VERNEED) + offsetof(Elf64_Verneed, vn_file), 1 << 20);
	expect_refused(img, len, "vn_file beyond DT_STRSZ");

	memcpy(img, orig, len);
	put32(img, dyn_table(img, DT_VERNEED) + offsetof(Elf64_Verneed, vn_next), 1 << 24);
	expect_refused(img, len, "DT_VERNEED record at");

	memcpy(img, orig, len);
	put32(img, dyn_table(img, DT_VERNEED) + sizeof(Elf64_Verneed) +
	      offsetof(Elf64_Vernaux, vna_name), 1 << 20);
	expect_refused(img, len, "DT_VERNEED auxiliary record");

	memcpy(img, orig, len);
	put16(img, dyn_table(img, DT_VERSYM) + 2, 0x7ffe);
	expect_refused(img, len, "DT_VERSYM entry 1");

	/* A relocation writing into the dynamic section the dynamic linker reads. */
	memcpy(img, orig, len);
	for (off = 0; off < (uint64_t)eh.e_phnum; off++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + off * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_DYNAMIC)
			dynvaddr = ph.p_vaddr;
	}
	put64(img, glob_dat + offsetof(Elf64_Rela, r_offset), dynvaddr + 8);
	expect_refused(img, len, "inside the dynamic section");

	memcpy(img, orig, len);
	put64(img, glob_dat + offsetof(Elf64_Rela, r_info),
	      ELF64_R_INFO(0xffffff, R_X86_64_GLOB_DAT));
	expect_refused(img, len, "beyond the");

	memcpy(img, orig, len);
	put64(img, glob_dat + offsetof(Elf64_Rela, r_info), ELF64_R_INFO(1, R_X86_64_COPY));
	expect_refused(img, len, "relocation type 5 is not supported");

	/* The relocation of DT_INIT_ARRAY[0], pointed outside the code. */
	memcpy(img, orig, len);
	put64(img, init_array + offsetof(Elf64_Rela, r_addend), 0);
	expect_refused(img, len, "DT_INIT_ARRAY[0] is not an address in the module's code");

	memcpy(img, orig, len);
	put64(img, dyn_entry(img, DT_INIT) + 8, 0);
	expect_refused(img, len, "DT_INIT 0 is not in the module's code");

	/* An undefined symbol the dynamic linker would bind to the module itself. */
	memcpy(img, orig, len);
	img[dyn_table(img, DT_SYMTAB) + sizeof(Elf64_Sym) + offsetof(Elf64_Sym, st_other)] =
		STV_HIDDEN;
	expect_refused(img, len, "undefined, but local or not of default visibility");

	memcpy(img, orig, len);
	put64(img, dyn_entry(img, DT_PLTREL) + 8, DT_REL);
	expect_refused(img, len, "DT_PLTREL 17 is not DT_RELA");

	memcpy(img, orig, len);
	put64(img, dyn_entry(img, DT_SYMENT), DT_TEXTREL);
	expect_refused(img, len, "DT_TEXTREL in a module");

	memcpy(img, orig, len);
	put64(img, dyn_entry(img, DT_SYMENT), DT_STRTAB);
	put64(img, dyn_entry(img, DT_SYMENT) + 8, dyn_value(img, DT_STRTAB));
	expect_refused(img, len, "DT_STRTAB given twice");

	/* Every DT_NULL, padding included, made something else. */
	memcpy(img, orig, len);
	while ((off = dyn_entry(img, DT_NULL)))
		put64(img, off, DT_DEBUG);
	expect_refused(img, len, "no DT_NULL inside PT_DYNAMIC");
	uhmm_set_log_fn(NULL, NULL);
	free(orig);
	free(img);
}
#endif
