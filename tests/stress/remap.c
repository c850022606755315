// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * remap: a 256-page buffer moves between two addresses with
 * mremap(MREMAP_MAYMOVE | MREMAP_FIXED), or is unmapped and mapped afresh
 * at the same address, round after round, while another thread migrates
 * random ranges of it (at the address it last saw) to device 0 or 1 and
 * back.  After each round every page is checked in full: a moved page keeps
 * its content, a fresh mapping reads as zeros (a stale device page must not
 * come back into it), and a fresh mapping migrated at once comes back intact
 * (a late UNMAP of the old mapping must not erase the new one's pages).
 *
 * A page's key is its index in the buffer and the mapping's generation, so
 * a page that moved with its mapping is right at its new address.
 *
 * uhmm registers with userfaultfd only the ranges it migrates, and a mapping
 * partly registered is several mappings to the kernel, which mremap() of the
 * whole buffer refuses (EFAULT; since Linux 6.17 after moving the first
 * ones).  The kernel's migration never splits a mapping, so this is a
 * failure here.  -o whole migrates each new mapping in full once (so it is
 * registered in one piece), to look past that at the rest.
 *
 *	stress-remap [-t SECONDS] [-s SEED] [-w WATCHDOG] [-o whole]
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uhmm/uhmm.h>

#include "stress.h"
#include "../far_mmap.h"

#define NPAGES		256UL
#define LEN		(NPAGES * STRESS_PAGE)
#define WRITES		32		/* pages rewritten per round */

static struct stress_dmirror api;
static int fds[HMM_DMIRROR_NR_DEVICES];
static char *area[2];			/* where the buffer may be; the other is reserved */
static char *cur;			/* atomic: where it is now */
static uint32_t gen = 1;		/* the mapping's generation (main only) */
static uint32_t version[NPAGES];	/* main only */
static struct stress_hist hist[NPAGES];
static uint64_t keys[2 * NPAGES];	/* this generation's and the last one's */
static uint64_t migrations, migrated_pages, ret_counts[4];	/* atomic */

enum round { MOVE, REPLACE, REPLACE_MIGRATE, NR_ROUNDS };
static const char *const round_names[NR_ROUNDS] = {
	"mremap to the other address", "munmap and a new mapping",
	"munmap, a new mapping, migrated at once",
};
static uint64_t rounds[NR_ROUNDS];
static bool broken;			/* the buffer is not where it should be: stop */
/*
 * -o whole: the migrator's commands hold it for reading, and main holds it
 * for writing from the munmap of a round to the registration of the new
 * mapping, so that no migration registers a part of that mapping first.
 */
static pthread_rwlock_t whole_lock = PTHREAD_RWLOCK_INITIALIZER;

/* The mappings over both places, as the kernel has them, with their flags (um, uw: userfaultfd). */
static void print_maps(void)
{
	uintptr_t lo = (uintptr_t)area[0], hi = (uintptr_t)area[1] + LEN;
	char line[512], range[160] = "";
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return;
	fprintf(stderr, "#     mappings from %p to %p:\n", (void *)lo, (void *)hi);
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3) {
			in = end > lo && start < hi;
			snprintf(range, sizeof(range), "%lx-%lx %s (%lu pages)", start, end, perms,
				 (end - start) / STRESS_PAGE);
		} else if (in && !strncmp(line, "VmFlags:", 8)) {
			line[strcspn(line, "\n")] = '\0';
			fprintf(stderr, "#       %s %s\n", range, line);
		}
	}
	fclose(f);
}

static uint64_t key(uint32_t g, unsigned long i)
{
	return 0x52454d4150000000ULL ^ (uint64_t)g << 12 ^ i;
}

static void set_keys(void)
{
	unsigned long i;

	for (i = 0; i < NPAGES; i++) {
		keys[i] = key(gen, i);
		keys[NPAGES + i] = gen > 1 ? key(gen - 1, i) : key(gen, i);
	}
}

static void report(unsigned long i, const char *page, uint32_t expect, const char *what,
		   unsigned long round)
{
	char desc[512];

	if (expect)
		stress_describe(page, key(gen, i), expect, expect, keys, 2 * NPAGES, desc, sizeof(desc));
	else
		snprintf(desc, sizeof(desc), "not zero: %#018" PRIx64 " %s", *(const uint64_t *)page,
			 "(generation and page of the old content, if known, below)");
	stress_report_lock();
	stress_fail("round %lu (%s): page %lu at %p wrong: %s", round, what, i, (void *)page, desc);
	if (!expect) {
		stress_describe(page, key(gen, i), 1, 1, keys, 2 * NPAGES, desc, sizeof(desc));
		fprintf(stderr, "#     against version 1 and the known pages: %s\n", desc);
	}
	if (stress_failures() < 8)
		stress_hist_print(&hist[i]);
	stress_report_unlock();
}

static bool page_zero(const char *p)
{
	const uint64_t *w = (const uint64_t *)p;
	unsigned long i;

	for (i = 0; i < STRESS_WORDS; i++)
		if (w[i])
			return false;
	return true;
}

static void write_page(unsigned long i)
{
	stress_fill(cur + i * STRESS_PAGE, key(gen, i), ++version[i]);
	stress_hist_add(&hist[i], EV_WRITE, -1, 0, version[i]);
}

static unsigned long check_all(struct stress_thread *t, const char *what, unsigned long round)
{
	unsigned long i, bad = 0;

	for (i = 0; i < NPAGES; i++) {
		const char *p = cur + i * STRESS_PAGE;

		stress_op(t, "check page", (uintptr_t)p, 1);
		if (!stress_check(p, key(gen, i), version[i])) {
			stress_hist_add(&hist[i], EV_CHECK, -1, -1, version[i]);
			report(i, p, version[i], what, round);
			bad++;
			stress_fill(cur + i * STRESS_PAGE, key(gen, i), version[i]);
		}
	}
	return bad;
}

static void *migrator(void *arg)
{
	struct stress_thread *t = stress_thread_register("migrate");
	uint64_t rnd = stress_opts.seed * 17 + 1000;

	(void)arg;
	while (stress_running()) {
		char *base = __atomic_load_n(&cur, __ATOMIC_ACQUIRE);
		int dev = (int)stress_rand_below(&rnd, 2);
		bool to = stress_rand_below(&rnd, 3) != 0;
		unsigned long request = to ? HMM_DMIRROR_MIGRATE_TO_DEV : HMM_DMIRROR_MIGRATE_TO_SYS;
		unsigned long first = stress_rand_below(&rnd, NPAGES);
		unsigned long n = 1 + stress_rand_below(&rnd, NPAGES - first);
		uint64_t cpages = 0;
		int ret;

		stress_op(t, to ? "MIGRATE_TO_DEV" : "MIGRATE_TO_SYS", (uintptr_t)base + first * STRESS_PAGE,
			  n);
		stress_hist_add_range(&hist[first], n, to ? EV_TO_DEV : EV_TO_SYS, dev,
				      STRESS_EV_BEGIN, (uint32_t)n);
		if (stress_opt("whole"))
			pthread_rwlock_rdlock(&whole_lock);
		ret = stress_cmd(&api, fds[dev], request, base + first * STRESS_PAGE, NULL, n, &cpages);
		if (stress_opt("whole"))
			pthread_rwlock_unlock(&whole_lock);
		stress_hist_add_range(&hist[first], n, to ? EV_TO_DEV : EV_TO_SYS, dev, ret, (uint32_t)n);
		/* The buffer may have moved under it: -EINVAL, -ENOENT are its answers to that. */
		switch (ret) {
		case 0:
			__atomic_add_fetch(&ret_counts[0], 1, __ATOMIC_RELAXED);
			break;
		case -ENOENT:
			__atomic_add_fetch(&ret_counts[1], 1, __ATOMIC_RELAXED);
			break;
		case -EINVAL:
			__atomic_add_fetch(&ret_counts[2], 1, __ATOMIC_RELAXED);
			break;
		default:
			__atomic_add_fetch(&ret_counts[3], 1, __ATOMIC_RELAXED);
			stress_note(false, "%s of device %d at %p: %s", stress_cmd_name(request), dev,
				    (void *)(base + first * STRESS_PAGE), stress_errname(ret));
		}
		__atomic_add_fetch(&migrations, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&migrated_pages, cpages, __ATOMIC_RELAXED);
		stress_progress(t);
	}
	stress_op(t, "done", 0, 0);
	return NULL;
}

static void *map_fixed(void *addr, int prot)
{
	void *p = mmap(addr, LEN, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
		       (prot == PROT_NONE ? MAP_NORESERVE : 0), -1, 0);

	if (p != addr) {
		stress_fail("mmap(%p, MAP_FIXED): %s", addr, strerror(errno));
		broken = true;
		stress_stop();
	}
	return p;
}

/* -o whole: the new mapping registered in one piece, by a migration of all of it. */
static void register_whole(struct stress_thread *t, char *base)
{
	int ret;

	if (!stress_opt("whole"))
		return;
	stress_op(t, "MIGRATE_TO_DEV+SYS of all (-o whole)", (uintptr_t)base, NPAGES);
	ret = stress_cmd(&api, fds[0], HMM_DMIRROR_MIGRATE_TO_DEV, base, NULL, NPAGES, NULL);
	if (!ret || ret == -ENOENT)
		ret = stress_cmd(&api, fds[0], HMM_DMIRROR_MIGRATE_TO_SYS, base, NULL, NPAGES, NULL);
	if (ret)
		stress_fail("migrating the whole new mapping: %s", stress_errname(ret));
}

static void one_round(struct stress_thread *t, uint64_t *rnd, unsigned long round)
{
	enum round r = (enum round)stress_rand_below(rnd, NR_ROUNDS);
	char *from = cur, *to = from == area[0] ? area[1] : area[0];
	unsigned long i;
	int dev, ret;

	for (i = 0; i < WRITES; i++) {
		unsigned long p = stress_rand_below(rnd, NPAGES);

		stress_op(t, "write page", (uintptr_t)(cur + p * STRESS_PAGE), 1);
		write_page(p);
	}
	stress_note(true, "round %lu: %s, at %p", round, round_names[r], (void *)from);
	switch (r) {
	case MOVE:
		stress_op(t, "mremap", (uintptr_t)from, NPAGES);
		if (mremap(from, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, to) != to) {
			stress_report_lock();
			stress_fail("round %lu: mremap(%p -> %p) of the whole buffer: %s", round,
				    (void *)from, (void *)to, strerror(errno));
			print_maps();
			stress_report_unlock();
			broken = true;
			stress_stop();
			return;
		}
		__atomic_store_n(&cur, to, __ATOMIC_RELEASE);
		stress_hist_add_range(hist, NPAGES, EV_MREMAP, -1, 0, (uint32_t)round);
		stress_op(t, "reserve the old address", (uintptr_t)from, NPAGES);
		map_fixed(from, PROT_NONE);
		check_all(t, round_names[r], round);
		break;
	case REPLACE:
	case REPLACE_MIGRATE:
		stress_op(t, "munmap", (uintptr_t)from, NPAGES);
		if (stress_opt("whole"))
			pthread_rwlock_wrlock(&whole_lock);
		if (munmap(from, LEN)) {
			stress_fail("munmap: %s", strerror(errno));
			broken = true;
			stress_stop();
			if (stress_opt("whole"))
				pthread_rwlock_unlock(&whole_lock);
			return;
		}
		stress_hist_add_range(hist, NPAGES, EV_MUNMAP, -1, 0, gen);
		stress_op(t, "mmap at the same address", (uintptr_t)from, NPAGES);
		map_fixed(from, PROT_READ | PROT_WRITE);
		register_whole(t, from);
		if (stress_opt("whole"))
			pthread_rwlock_unlock(&whole_lock);
		gen++;
		set_keys();
		stress_hist_add_range(hist, NPAGES, EV_MMAP, -1, 0, gen);
		for (i = 0; i < NPAGES; i++) {
			const char *p = from + i * STRESS_PAGE;

			stress_op(t, "check fresh page is zero", (uintptr_t)p, 1);
			if (!page_zero(p)) {
				stress_hist_add(&hist[i], EV_CHECK, -1, -1, 0);
				report(i, p, 0, round_names[r], round);
			}
			version[i] = 0;
			write_page(i);
		}
		if (r == REPLACE_MIGRATE) {
			dev = (int)stress_rand_below(rnd, 2);
			stress_op(t, "MIGRATE_TO_DEV of the new mapping", (uintptr_t)from, NPAGES);
			stress_hist_add_range(hist, NPAGES, EV_TO_DEV, dev, STRESS_EV_BEGIN, NPAGES);
			ret = stress_cmd(&api, fds[dev], HMM_DMIRROR_MIGRATE_TO_DEV, from, NULL, NPAGES,
					 NULL);
			stress_hist_add_range(hist, NPAGES, EV_TO_DEV, dev, ret, NPAGES);
			if (ret && ret != -ENOENT)
				stress_fail("round %lu: MIGRATE_TO_DEV of the new mapping: %s", round,
					    stress_errname(ret));
			/* Let a late UNMAP of the old mapping land, if one is coming. */
			usleep(1000);
		}
		check_all(t, round_names[r], round);
		break;
	default:
		break;
	}
	rounds[r]++;
}

int main(int argc, char **argv)
{
	unsigned long round;
	struct stress_thread *t;
	char summary[512];
	pthread_t th;
	uint64_t rnd;
	char *reserve;
	int dev;

	stress_init(argc, argv, "remap", 1);
	rnd = stress_opts.seed;
	stress_dmirror_load(&api);
	t = stress_thread_register("main");
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		fds[dev] = stress_dmirror_open(&api, dev);
	/*
	 * Two places with a gap between them, so that they never merge; far
	 * away, so that no mmap() of another thread lands in the hole a round
	 * leaves for a moment (the MAP_FIXED that fills it would destroy it).
	 */
	reserve = mmap_far(3 * LEN, PROT_NONE, MAP_NORESERVE);
	if (reserve == MAP_FAILED) {
		stress_fail("mmap: %s", strerror(errno));
		return stress_finish("");
	}
	area[0] = reserve;
	area[1] = reserve + 2 * LEN;
	cur = map_fixed(area[0], PROT_READ | PROT_WRITE);
	register_whole(t, cur);
	set_keys();
	for (round = 0; round < NPAGES; round++)
		write_page(round);
	stress_watchdog_start();
	pthread_create(&th, NULL, migrator, NULL);

	for (round = 1; stress_running() && !broken; round++) {
		one_round(t, &rnd, round);
		stress_progress(t);
	}
	stress_op(t, "joining", 0, 0);
	stress_stop();
	pthread_join(th, NULL);
	if (!broken)
		check_all(t, "the final check", round);

	snprintf(summary, sizeof(summary),
		 "(%lu rounds: %" PRIu64 " mremap, %" PRIu64 " munmap+mmap, %" PRIu64
		 " munmap+mmap+migrate; %" PRIu64 " migrations moving %" PRIu64 " pages: %" PRIu64
		 " 0, %" PRIu64 " -ENOENT, %" PRIu64 " -EINVAL, %" PRIu64 " other)",
		 round - 1, rounds[MOVE], rounds[REPLACE], rounds[REPLACE_MIGRATE], migrations,
		 migrated_pages, ret_counts[0], ret_counts[1], ret_counts[2], ret_counts[3]);
	munmap(reserve, 3 * LEN);
	for (dev = 0; dev < HMM_DMIRROR_NR_DEVICES; dev++)
		api.close(fds[dev]);
	return stress_finish(summary);
}
