// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Fuzzing the module descriptor reader: whatever the bytes, it returns a
 * descriptor or NULL with ENOEXEC/ENOMEM, never crashes, never reads outside
 * the buffer (run under ASan).
 *
 * Two drivers: LLVMFuzzerTestOneInput for libFuzzer (scripts/run fuzz), and
 * a test for the suite that mutates real module files with structure-aware
 * mutations (section headers, the ELF header, .modinfo strings), a bounded
 * number of times, deterministically.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/log.h>
#include <uhmm/module.h>

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

static void mutate(uint8_t *buf, size_t *len)
{
	Elf64_Ehdr eh;
	int kind = rnd() % 6, n, i;

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
	}
}

TEST(modinfo_survives_mutated_module_files)
{
	static const char *const seeds[] = { "gpl_ok", "drvmod", "no_license", "cycle_a" };
	const char *env = getenv("UHMM_FUZZ_ITERS");
	long iters = env ? atol(env) : 100000, it, accepted = 0, with_symbols = 0;

	uhmm_set_log_level(0);
	for (it = 0; it < iters; it++) {
		size_t len, orig;
		uint8_t *seed = read_seed(seeds[it % ARRAY_SIZE(seeds)], &orig);
		int rounds = 1 + rnd() % 4, r, ret;

		len = orig;
		for (r = 0; r < rounds; r++)
			mutate(seed, &len);
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
#endif
