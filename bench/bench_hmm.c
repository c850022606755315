// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Mirroring: hmm_range_fault() over 256 MiB of present pages, against one
 * bare PAGEMAP_SCAN of the same range (the kernel walk it is built on); and
 * a dmirror READ of 256 MiB through its mirrored page table, against
 * memcpy() of the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "dmirror/hmm_dmirror.h"
#include "bench.h"

#define PAGE	4096UL
#define BIG	(256UL << 20)
#define NPAGES	(BIG / PAGE)

/* PAGEMAP_SCAN, from Linux 6.7's <linux/fs.h> */
struct scan_region {
	uint64_t start, end, categories;
};
struct scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define SCAN_IOCTL	_IOWR('f', 16, struct scan_arg)
#define SCAN_CATEGORIES	((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6))

static double scan_ns(int fd, char *p)
{
	struct scan_region vec[128];
	struct scan_arg arg = {
		.size = sizeof(arg), .start = (uintptr_t)p, .end = (uintptr_t)p + BIG,
		.vec = (uintptr_t)vec, .vec_len = 128, .return_mask = SCAN_CATEGORIES,
	};
	double t0 = bench_now_ns();

	if (ioctl(fd, SCAN_IOCTL, &arg) < 0)
		return -1;
	return bench_now_ns() - t0;
}

static bool nop_invalidate(struct uhmm_mmu_interval_notifier *sub,
			   const struct uhmm_mmu_notifier_range *range, unsigned long seq)
{
	(void)range;
	uhmm_mmu_interval_set_seq(sub, seq);
	return true;
}

static const struct uhmm_mmu_interval_notifier_ops nop_ops = { .invalidate = nop_invalidate };

static double range_fault_ns(struct uhmm_mmu_interval_notifier *sub, char *p,
			     unsigned long *pfns)
{
	struct uhmm_hmm_range range = {
		.notifier = sub, .start = (uintptr_t)p, .end = (uintptr_t)p + BIG,
		.hmm_pfns = pfns, .default_flags = UHMM_HMM_PFN_REQ_FAULT,
	};
	double t0;
	int ret;

	range.notifier_seq = uhmm_mmu_interval_read_begin(sub);
	t0 = bench_now_ns();
	ret = uhmm_hmm_range_fault(&range);
	return ret ? -1 : bench_now_ns() - t0;
}

static double device_read_gib_s(struct bench_dmirror *d, char *p, char *dst)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)p, .ptr = (uintptr_t)dst, .npages = NPAGES,
	};
	double t0 = bench_now_ns();

	if (d->ioctl(d->fd, HMM_DMIRROR_READ, &cmd) || cmd.cpages != NPAGES)
		return -1;
	return bench_gib_s(BIG, bench_now_ns() - t0);
}

void bench_hmm(struct bench_ctx *ctx)
{
	double *fault = calloc(ctx->runs, sizeof(double)), *scan = calloc(ctx->runs, sizeof(double));
	double *rd = calloc(ctx->runs, sizeof(double)), *cpy = calloc(ctx->runs, sizeof(double));
	unsigned long *pfns = calloc(NPAGES, sizeof(*pfns));
	struct uhmm_mmu_interval_notifier sub;
	struct bench_dmirror d;
	char *p, *dst;
	int i, fd = -1, ret;

	ret = bench_dmirror_open(ctx, &d);
	if (ret) {
		fprintf(stderr, "uhmm bench: hmm: skipped, the fault engine or dmirror is "
			"unavailable (%s)\n", strerror(-ret));
		goto out;
	}
	fd = open("/proc/self/pagemap", O_RDONLY);
	p = bench_map(BIG);
	dst = bench_map(BIG);
	memset(p, 1, BIG);
	memset(dst, 2, BIG);
	if (fd < 0 || uhmm_mmu_interval_notifier_insert(&sub, (uintptr_t)p, BIG, &nop_ops)) {
		fprintf(stderr, "uhmm bench: hmm: skipped, no pagemap or notifier\n");
		goto out_unmap;
	}
	/* The first look registers the range: not what is measured. */
	range_fault_ns(&sub, p, pfns);
	device_read_gib_s(&d, p, dst);
	for (i = 0; i < ctx->runs; i++) {
		scan[i] = scan_ns(fd, p);
		fault[i] = range_fault_ns(&sub, p, pfns);
		cpy[i] = bench_memcpy_gib_s(dst, p, BIG);
		rd[i] = device_read_gib_s(&d, p, dst);
		if (scan[i] < 0 || fault[i] < 0 || rd[i] < 0) {
			fprintf(stderr, "uhmm bench: hmm: a look or a read failed\n");
			goto out_remove;
		}
		scan[i] = NPAGES / scan[i] * 1e3;	/* Mpages/s */
		fault[i] = NPAGES / fault[i] * 1e3;
	}
	bench_add(ctx, "hmm_range_fault, 256 MiB present", bench_median(fault, ctx->runs),
		  "Mpages/s", bench_median(scan, ctx->runs), "one bare PAGEMAP_SCAN",
		  ">= 0.5 (at most 2x the time)");
	bench_samples(ctx, fault, scan);
	bench_add(ctx, "device READ 256 MiB, mirrored", bench_median(rd, ctx->runs), "GiB/s",
		  bench_median(cpy, ctx->runs), "memcpy 256 MiB", ">= 0.5");
	bench_samples(ctx, rd, cpy);
out_remove:
	uhmm_mmu_interval_notifier_remove(&sub);
out_unmap:
	munmap(p, BIG);
	munmap(dst, BIG);
	if (fd >= 0)
		close(fd);
out:
	free(fault);
	free(scan);
	free(rd);
	free(cpy);
	free(pfns);
}
