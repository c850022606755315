// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * memremap benchmarks:
 *  - get_dev_pagemap + put at random pfns over 64 pgmaps, against reading a
 *    plain array indexed by pfn >> 9 (one entry per 2 MiB subsection);
 *  - memremap_pages of 16 GiB, against memset of as many bytes of fresh
 *    memory as its metadata takes (allocated the same way: mmap, THP advice);
 *  - metadata bytes per page, against the 64-byte budget.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <uhmm/uhmm.h>

#include "bench.h"

#define NR_PGMAPS	64
#define PGMAP_SIZE	(UINT64_C(128) << 20)
#define NR_SAMPLES	(1UL << 20)
#define NR_LOOKUPS	(1UL << 23)
#define BIG_SIZE	(UINT64_C(16) << 30)

static void bench_page_free(struct uhmm_page *page)
{
	(void)page;
}

static uhmm_vm_fault_t bench_migrate_to_ram(struct uhmm_vm_fault *vmf)
{
	(void)vmf;
	return UHMM_VM_FAULT_SIGBUS;
}

static const struct uhmm_dev_pagemap_ops bench_ops = {
	.page_free = bench_page_free,
	.migrate_to_ram = bench_migrate_to_ram,
};

static int map_private(struct uhmm_dev_pagemap *pgmap, struct uhmm_resource **res,
		       uint64_t size)
{
	*res = uhmm_request_free_mem_region(uhmm_iomem_resource(), size, "bench");
	if (!*res)
		return -1;
	memset(pgmap, 0, sizeof(*pgmap));
	pgmap->type = UHMM_MEMORY_DEVICE_PRIVATE;
	pgmap->range.start = (*res)->start;
	pgmap->range.end = (*res)->end;
	pgmap->nr_range = 1;
	pgmap->ops = &bench_ops;
	pgmap->owner = pgmap;
	return uhmm_memremap_pages(pgmap);
}

static void unmap_private(struct uhmm_dev_pagemap *pgmap, struct uhmm_resource *res)
{
	uhmm_memunmap_pages(pgmap);
	uhmm_release_mem_region(res->start, res->end - res->start + 1);
}

static void bench_lookup(struct bench_ctx *ctx)
{
	static struct uhmm_dev_pagemap pgmaps[NR_PGMAPS];
	struct uhmm_resource *res[NR_PGMAPS];
	unsigned long *pfns, lo = ~0UL, hi = 0, i;
	double *t_uhmm, *t_array, *t_page;
	struct uhmm_dev_pagemap **table;
	volatile unsigned long sink = 0;
	int n, run;

	pfns = malloc(NR_SAMPLES * sizeof(*pfns));
	t_uhmm = calloc(ctx->runs, sizeof(double));
	t_array = calloc(ctx->runs, sizeof(double));
	t_page = calloc(ctx->runs, sizeof(double));
	for (n = 0; n < NR_PGMAPS; n++) {
		if (map_private(&pgmaps[n], &res[n], PGMAP_SIZE)) {
			fprintf(stderr, "bench: cannot map pgmap %d\n", n);
			exit(1);
		}
		lo = UHMM_PHYS_PFN(res[n]->start) < lo ? UHMM_PHYS_PFN(res[n]->start) : lo;
		hi = UHMM_PHYS_PFN(res[n]->end) > hi ? UHMM_PHYS_PFN(res[n]->end) : hi;
	}
	srandom(42);
	for (i = 0; i < NR_SAMPLES; i++) {
		const struct uhmm_resource *r = res[random() % NR_PGMAPS];

		pfns[i] = UHMM_PHYS_PFN(r->start) + random() % (PGMAP_SIZE / UHMM_PAGE_SIZE);
	}
	table = calloc((hi >> 9) - (lo >> 9) + 1, sizeof(*table));
	for (n = 0; n < NR_PGMAPS; n++)
		for (i = UHMM_PHYS_PFN(res[n]->start); i <= UHMM_PHYS_PFN(res[n]->end); i += 512)
			table[(i >> 9) - (lo >> 9)] = &pgmaps[n];

	for (run = 0; run < ctx->runs; run++) {
		double t0 = bench_now_ns();

		for (i = 0; i < NR_LOOKUPS; i++) {
			struct uhmm_dev_pagemap *pgmap =
				uhmm_get_dev_pagemap(pfns[i & (NR_SAMPLES - 1)]);

			sink += pgmap->type;
			uhmm_put_dev_pagemap(pgmap);
		}
		t_uhmm[run] = (bench_now_ns() - t0) / NR_LOOKUPS;

		t0 = bench_now_ns();
		for (i = 0; i < NR_LOOKUPS; i++) {
			unsigned long pfn = pfns[i & (NR_SAMPLES - 1)];

			sink += table[(pfn >> 9) - (lo >> 9)]->type;
		}
		t_array[run] = (bench_now_ns() - t0) / NR_LOOKUPS;

		/* The table walk alone: no reference taken. */
		t0 = bench_now_ns();
		for (i = 0; i < NR_LOOKUPS; i++)
			sink += (uintptr_t)uhmm_pfn_to_page(pfns[i & (NR_SAMPLES - 1)]);
		t_page[run] = (bench_now_ns() - t0) / NR_LOOKUPS;
	}
	bench_add(ctx, "get_dev_pagemap+put (64 pgmaps)", bench_median(t_uhmm, ctx->runs),
		  "ns/op", bench_median(t_array, ctx->runs), "array[pfn >> 9] read",
		  "ratio <= 4");
	bench_samples(ctx, t_uhmm, t_array);
	bench_add(ctx, "pfn_to_page (64 pgmaps)", bench_median(t_page, ctx->runs), "ns/op",
		  bench_median(t_array, ctx->runs), "array[pfn >> 9] read", "(information)");
	bench_samples(ctx, t_page, t_array);

	for (n = 0; n < NR_PGMAPS; n++)
		unmap_private(&pgmaps[n], res[n]);
	free(table);
	free(pfns);
	free(t_uhmm);
	free(t_array);
	free(t_page);
	(void)sink;
}

static void bench_memremap_big(struct bench_ctx *ctx)
{
	size_t bytes = BIG_SIZE / UHMM_PAGE_SIZE * sizeof(struct uhmm_page);
	double *t_map = calloc(ctx->runs, sizeof(double));
	double *t_memset = calloc(ctx->runs, sizeof(double));
	static struct uhmm_dev_pagemap pgmap;
	struct uhmm_resource *res;
	int run;

	for (run = 0; run < ctx->runs; run++) {
		double t0 = bench_now_ns();
		void *buf;

		if (map_private(&pgmap, &res, BIG_SIZE)) {
			fprintf(stderr, "bench: cannot map 16 GiB\n");
			exit(1);
		}
		t_map[run] = (bench_now_ns() - t0) / 1e6;
		unmap_private(&pgmap, res);

		t0 = bench_now_ns();
		buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (buf == MAP_FAILED) {
			perror("bench: mmap");
			exit(1);
		}
		madvise(buf, bytes, MADV_HUGEPAGE);
		memset(buf, 0x5a, bytes);
		t_memset[run] = (bench_now_ns() - t0) / 1e6;
		munmap(buf, bytes);
	}
	bench_add(ctx, "memremap_pages 16 GiB", bench_median(t_map, ctx->runs), "ms",
		  bench_median(t_memset, ctx->runs), "memset of its metadata bytes, fresh",
		  "ratio <= 2");
	bench_samples(ctx, t_map, t_memset);
	free(t_map);
	free(t_memset);
}

void bench_memremap(struct bench_ctx *ctx)
{
	uhmm_set_log_level(UHMM_LOG_ERR);
	bench_lookup(ctx);
	bench_memremap_big(ctx);
	bench_add(ctx, "metadata per page", sizeof(struct uhmm_page), "bytes", 64,
		  "the 64-byte budget", "ratio <= 1");
}
