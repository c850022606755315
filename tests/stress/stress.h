/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the stress programs share: a page pattern every byte of which is
 * checked, a per-page history of who did what to it, a registry of threads
 * with what each is doing, a watchdog that turns a hang into a failure, and
 * the dmirror commands.
 *
 * A program runs for its time, prints one line "ok - NAME ..." or
 * "not ok - NAME: why" and exits 0 (passed), 1 (wrong data, a WARN, an
 * unexpected error), 2 (a hang: the watchdog fired) or 77 (skipped: no fault
 * engine here).  A crash is a signal; it prints the threads first.
 */
#ifndef UHMM_STRESS_H
#define UHMM_STRESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "dmirror/hmm_dmirror.h"

#define STRESS_PAGE		4096UL
#define STRESS_WORDS		(STRESS_PAGE / sizeof(uint64_t))

enum stress_exit {
	STRESS_PASS = 0,
	STRESS_FAIL = 1,
	STRESS_HANG = 2,
	STRESS_SKIP = 77,
};

struct stress_opts {
	double seconds;		/* -t: how long to run (default 60) */
	unsigned int seed;	/* -s: the random seed (default: from the clock) */
	unsigned int watchdog;	/* -w: seconds without progress that fail (default 20) */
	unsigned int threads;	/* -j: worker threads, where a program has a count */
	bool verbose;		/* -v: more lines as it goes */
	const char *extra;	/* -o WORD,WORD: a program's own switches */
};

/* True if -o named @word. */
bool stress_opt(const char *word);

extern struct stress_opts stress_opts;

/*
 * Parses "-t SECONDS -s SEED -w WATCHDOG -j THREADS -o WORDS -v" (STRESS_SEED and
 * STRESS_WATCHDOG in the environment too), sets up logging and the crash
 * handlers, and prints the program's first line.
 */
void stress_init(int argc, char **argv, const char *name, unsigned int default_threads);

/* Milliseconds since stress_init(). */
uint64_t stress_ms(void);
/* True until the program's time is up (or a fatal failure asked to stop). */
bool stress_running(void);
/* Ask every thread to stop now. */
void stress_stop(void);

/* --- threads ---------------------------------------------------------------- */

#define STRESS_MAX_THREADS	64

struct stress_thread {
	char name[16];
	int index;
	pid_t tid;
	/* What it is doing; read by the watchdog (all accessed atomically). */
	const char *op;
	uint64_t addr;
	uint64_t npages;
	uint64_t since_ms;
	uint64_t progress;
};

/* Registers the calling thread (and names it): its state, for the watchdog. */
struct stress_thread *stress_thread_register(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
/* The calling thread's entry, or NULL. */
struct stress_thread *stress_self(void);

static inline void stress_op(struct stress_thread *t, const char *op, uint64_t addr,
			     uint64_t npages)
{
	__atomic_store_n(&t->addr, addr, __ATOMIC_RELAXED);
	__atomic_store_n(&t->npages, npages, __ATOMIC_RELAXED);
	__atomic_store_n(&t->since_ms, stress_ms(), __ATOMIC_RELAXED);
	__atomic_store_n(&t->op, op, __ATOMIC_RELEASE);
}

static inline void stress_progress(struct stress_thread *t)
{
	__atomic_add_fetch(&t->progress, 1, __ATOMIC_RELAXED);
}

/*
 * Starts the watchdog: if no thread's progress counter moves for
 * stress_opts.watchdog seconds, it prints every thread's state and stacks
 * and exits with STRESS_HANG.
 */
void stress_watchdog_start(void);
/*
 * In a forked child: forget the parent's threads, and watch only this one
 * (the caller registers it and may start the watchdog again).
 */
void stress_child_reset(void);
/* Prints the threads' states, then the stacks of @pid (0: this process). */
void stress_dump(const char *why, pid_t pid);

/* --- failures ---------------------------------------------------------------- */

/* Serialise multi-line reports. */
void stress_report_lock(void);
void stress_report_unlock(void);

/* Prints "# FAIL [t] ..." and counts a failure. */
void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A new phase (the final checks): its failures are printed again, even
 * after the first ones of the run filled the report.
 */
void stress_phase(const char *name);
/* Prints "# [t] ..." (with -v only when @verbose_only). */
void stress_note(bool verbose_only, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned long stress_failures(void);
/* Called after a wrong page's history is printed, for a program's own state. */
extern void (*stress_report_hook)(void);
/* Milliseconds at the first failure, or 0. */
uint64_t stress_first_failure_ms(void);

/*
 * Ends the program: checks the WARN count, prints the result line with
 * @summary and returns the exit code.
 */
int stress_finish(const char *summary);

/* --- the page pattern ---------------------------------------------------------- */

/*
 * Word i of a page with identity @key at @version: the version in the high
 * half, a hash of (key, version, i) in the low half.  Version 0 is never
 * written, so a zeroed page is always wrong.
 */
static inline uint64_t stress_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline uint64_t stress_word(uint64_t key, uint32_t version, unsigned long i)
{
	return (uint64_t)version << 32 |
	       (uint32_t)stress_mix(key * 0x9e3779b97f4a7c15ULL ^ (uint64_t)version << 40 ^ i);
}

void stress_fill(void *page, uint64_t key, uint32_t version);
/* Every word is @version's. */
bool stress_check(const void *page, uint64_t key, uint32_t version);
/*
 * Every word is some version in [lo, hi]'s (a device read racing a CPU
 * write may see a page half old, half new, never anything else).
 */
bool stress_check_between(const void *page, uint64_t key, uint32_t lo, uint32_t hi);
/*
 * Says what a wrong page holds: how many words are wrong, the first one,
 * whether it is zero, an older or newer version, or (among @keys) another
 * page's content.
 */
void stress_describe(const void *page, uint64_t key, uint32_t lo, uint32_t hi,
		     const uint64_t *keys, size_t nkeys, char *buf, size_t len);
/*
 * The mapping holding @addr as /proc/self/smaps shows it: its range and its
 * VmFlags ("um": registered with userfaultfd for missing pages, "uw": for
 * write-protection), or "no mapping".
 */
void stress_vma_flags(const void *addr, char *buf, size_t len);

/* --- per-page history ------------------------------------------------------------ */

enum stress_ev {
	EV_NONE,
	EV_WRITE,	/* arg: version written */
	EV_TO_DEV,	/* MIGRATE_TO_DEV: arg npages of the command */
	EV_TO_SYS,	/* MIGRATE_TO_SYS */
	EV_READ,	/* HMM_DMIRROR_READ through the mirror */
	EV_RELEASE,	/* HMM_DMIRROR_RELEASE of the device */
	EV_REOPEN,	/* the handle closed and opened again */
	EV_FORK,	/* a fork(); arg: the child's number */
	EV_MUNMAP,
	EV_MREMAP,	/* the page moved with its mapping; arg: round */
	EV_MMAP,	/* a new mapping here; arg: generation */
	EV_CHECK,	/* checked; ret != 0 if wrong; arg: expected version */
	EV_NR
};

/* ret value of an event that has begun and not yet ended */
#define STRESS_EV_BEGIN	31

#define STRESS_HIST	32

struct stress_hist {
	uint32_t next;
	uint64_t ev[STRESS_HIST];
};

/*
 * Records an event for one page: @dev the device (or -1), @ret 0, a
 * negative errno, or STRESS_EV_BEGIN, @arg a version or a page count.
 */
void stress_hist_add(struct stress_hist *h, enum stress_ev ev, int dev, int ret, uint32_t arg);
void stress_hist_add_range(struct stress_hist *h, unsigned long n, enum stress_ev ev, int dev,
			   int ret, uint32_t arg);
/* Prints the history, oldest first, one "#     " line per event. */
void stress_hist_print(const struct stress_hist *h);

/* --- dmirror -------------------------------------------------------------------- */

struct stress_dmirror {
	dmirror_open_fn open;
	dmirror_close_fn close;
	dmirror_ioctl_fn ioctl;
};

/* Starts the fault engine and loads dmirror; exits STRESS_SKIP where it cannot run. */
void stress_dmirror_load(struct stress_dmirror *api);
/* Opens device @index; exits with a failure if it cannot. */
int stress_dmirror_open(struct stress_dmirror *api, int index);
/* One command; fills *cpages (may be NULL) on success.  Returns 0 or -errno. */
int stress_cmd(struct stress_dmirror *api, int fd, unsigned long request, const void *addr,
	       void *ptr, unsigned long npages, uint64_t *cpages);
const char *stress_cmd_name(unsigned long request);
/* "-ENOENT" etc. */
const char *stress_errname(int ret);

/* A private random stream per thread. */
static inline uint64_t stress_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return stress_mix(*state);
}

static inline unsigned long stress_rand_below(uint64_t *state, unsigned long n)
{
	return n ? (unsigned long)(stress_rand(state) % n) : 0;
}

#endif
