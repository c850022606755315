// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Migration policy: which block a CPU fault on a device page brings back
 * (the fault-around window), and which pages bounce between the CPU and a
 * device so often that they had better stay put (thrashing).
 *
 * The kernel leaves both to each driver; uhmm decides them in the core, as
 * NVIDIA UVM's prefetcher and thrashing detector do, so that every driver
 * gets them and one knob (struct uhmm_migrate_policy, UHMM_MIGRATE_POLICY)
 * sets them.  The window is chosen from uhmm's own page table: of the
 * aligned blocks around the faulting page, the largest that would be mostly
 * CPU-resident once the fault is served is migrated whole.  Dense and
 * sequential faults so grow the window; random ones keep it small.
 *
 * The policy and the thrashing table are read and written under pt_lock,
 * by the fault path and migrate_vma_setup(), which hold it anyway.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uhmm/migrate.h>

#include "../core/internal.h"
#include "mm_internal.h"

#define POLICY_ENV	"UHMM_MIGRATE_POLICY"

/* pt_lock */
static struct uhmm_migrate_policy policy = {
	.size = sizeof(struct uhmm_migrate_policy),
	.window_min = UHMM_PAGE_SIZE,
	.window_max = UHMM_FAULT_AROUND_MAX,
	.thrash_threshold = 3,
	.thrash_lapse_us = 500,
	.thrash_pin_ms = 0,
};

/*
 * Recent history of pages a fault brought back, one slot per page address
 * hash: a collision forgets the older page, which only makes detection
 * miss it.  pt_lock.
 */
#define THRASH_SLOTS	16384
struct thrash_slot {
	unsigned long addr;		/* the page; 0: empty */
	uint64_t back_ns;		/* a fault brought it back then; 0: since consumed */
	uint64_t pinned_until_ns;	/* stays in system memory until then */
	uint32_t bounces;		/* in a row, each within the lapse */
};
static struct thrash_slot thrash[THRASH_SLOTS];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* What is wrong with @p, or NULL. */
static const char *policy_invalid(const struct uhmm_migrate_policy *p)
{
	if (!is_pow2(p->window_min) || p->window_min < UHMM_PAGE_SIZE)
		return "window_min is not a power of two of a page or more";
	if (!is_pow2(p->window_max) || p->window_max > UHMM_FAULT_AROUND_MAX)
		return "window_max is not a power of two up to 2 MiB";
	if (p->window_min > p->window_max)
		return "window_min is larger than window_max";
	if (p->thrash_threshold && !p->thrash_lapse_us)
		return "thrash_threshold without a thrash_lapse_us";
	if (p->reserved)
		return "reserved is not 0";
	return NULL;
}

static void policy_store(const struct uhmm_migrate_policy *p)
{
	pthread_mutex_lock(&init_mm.pt_lock);
	policy = *p;
	policy.size = sizeof(policy);
	pthread_mutex_unlock(&init_mm.pt_lock);
}

/* One "key=value" of UHMM_MIGRATE_POLICY into @p; false if it is not one. */
static bool policy_parse_item(char *item, struct uhmm_migrate_policy *p)
{
	static const struct {
		const char *key;
		size_t offset;
		bool wide;		/* uint64_t, a size that may say K or M */
	} keys[] = {
		{ "window_min", offsetof(struct uhmm_migrate_policy, window_min), true },
		{ "window_max", offsetof(struct uhmm_migrate_policy, window_max), true },
		{ "thrash_threshold", offsetof(struct uhmm_migrate_policy, thrash_threshold), false },
		{ "thrash_lapse_us", offsetof(struct uhmm_migrate_policy, thrash_lapse_us), false },
		{ "thrash_pin_ms", offsetof(struct uhmm_migrate_policy, thrash_pin_ms), false },
	};
	char *value = strchr(item, '='), *end;
	unsigned long long v;
	size_t i;

	if (!value || value[1] < '0' || value[1] > '9')
		return false;
	*value++ = '\0';
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno)
		return false;
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(item, keys[i].key))
			continue;
		if (keys[i].wide) {
			unsigned int shift = *end == 'K' || *end == 'k' ? 10 :
					     *end == 'M' || *end == 'm' ? 20 : 0;

			end += shift != 0;
			if (*end || v > (1ULL << 40) >> shift)
				return false;
			*(uint64_t *)((char *)p + keys[i].offset) = v << shift;
		} else {
			if (*end || v > UINT32_MAX)
				return false;
			*(uint32_t *)((char *)p + keys[i].offset) = (uint32_t)v;
		}
		return true;
	}
	return false;
}

/* The environment's policy, once, before any call or fault uses one. */
static void policy_from_env(void)
{
	const char *env = getenv(POLICY_ENV);
	struct uhmm_migrate_policy p = policy;
	const char *why;
	char *copy, *item, *save;

	if (!env || !*env)
		return;
	copy = strdup(env);
	if (!copy) {
		pr_err("%s: out of memory; the default policy stays", POLICY_ENV);
		return;
	}
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *shown = strdup(item);

		if (!policy_parse_item(item, &p)) {
			pr_err("%s: '%s' is not key=number (keys: window_min, window_max, "
			       "thrash_threshold, thrash_lapse_us, thrash_pin_ms); the default "
			       "policy stays", POLICY_ENV, shown ? shown : item);
			free(shown);
			free(copy);
			return;
		}
		free(shown);
	}
	free(copy);
	why = policy_invalid(&p);
	if (why) {
		pr_err("%s=\"%s\": %s; the default policy stays", POLICY_ENV, env, why);
		return;
	}
	policy_store(&p);
	pr_info("%s: window %lu-%lu bytes, thrashing %u bounces in %u us, pinned %u ms",
		POLICY_ENV, (unsigned long)p.window_min, (unsigned long)p.window_max,
		p.thrash_threshold, p.thrash_lapse_us, p.thrash_pin_ms);
}

void policy_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, policy_from_env);
}

UHMM_EXPORT int uhmm_set_migrate_policy(const struct uhmm_migrate_policy *p)
{
	struct uhmm_migrate_policy n;
	const char *why;
	size_t i;

	if (!p || p->size < offsetof(struct uhmm_migrate_policy, thrash_threshold)) {
		pr_err("set_migrate_policy: %s", !p ? "no policy" :
		       "size too small to hold window_min and window_max");
		return -EINVAL;
	}
	/* The kernel's copy_struct_from_user(): unknown trailing bytes must be 0. */
	for (i = sizeof(n); i < p->size; i++)
		if (((const char *)p)[i]) {
			pr_err("set_migrate_policy: byte %zu of the policy is unknown here and not 0",
			       i);
			return -E2BIG;
		}
	policy_init();
	pthread_mutex_lock(&init_mm.pt_lock);
	n = policy;		/* fields an older caller does not know keep their values */
	pthread_mutex_unlock(&init_mm.pt_lock);
	memcpy(&n, p, p->size < sizeof(n) ? p->size : sizeof(n));
	why = policy_invalid(&n);
	if (why) {
		pr_err("set_migrate_policy: %s", why);
		return -EINVAL;
	}
	policy_store(&n);
	return 0;
}

UHMM_EXPORT int uhmm_get_migrate_policy(struct uhmm_migrate_policy *p)
{
	struct uhmm_migrate_policy cur;
	size_t n;

	if (!p || p->size < sizeof(p->size))
		return -EINVAL;
	policy_init();
	pthread_mutex_lock(&init_mm.pt_lock);
	cur = policy;
	pthread_mutex_unlock(&init_mm.pt_lock);
	n = p->size < sizeof(cur) ? p->size : sizeof(cur);
	memcpy((char *)p + sizeof(p->size), (const char *)&cur + sizeof(cur.size),
	       n - sizeof(p->size));
	return 0;
}

UHMM_EXPORT int uhmm_set_fault_around_bytes(unsigned long bytes)
{
	if (bytes < UHMM_PAGE_SIZE || bytes > UHMM_FAULT_AROUND_MAX || !is_pow2(bytes))
		return -EINVAL;
	policy_init();
	pthread_mutex_lock(&init_mm.pt_lock);
	policy.window_min = policy.window_max = bytes;
	pthread_mutex_unlock(&init_mm.pt_lock);
	return 0;
}

/* --- the fault-around window ----------------------------------------------- */

/* [@start, @start + @size) inside [@lo, @hi). */
static void clip(unsigned long start, unsigned long size, unsigned long lo, unsigned long hi,
		 unsigned long *rs, unsigned long *re)
{
	unsigned long end = start + size < start ? hi : start + size;

	*rs = start < lo ? lo : start;
	*re = end > hi ? hi : end;
}

/*
 * Whether more than half of [@start, @end) is CPU-resident once the
 * @base_dev device pages of the fault's own block have come back.  Pages
 * uhmm's table does not hold are the CPU's (present or never touched).
 */
static bool mostly_resident(unsigned long start, unsigned long end, unsigned long base_dev)
{
	unsigned long n = (end - start) >> UHMM_PAGE_SHIFT;
	unsigned long dev = pt_count(start, end);

	return 2 * (n - dev + base_dev) > n;
}

bool policy_fault_window(unsigned long addr, unsigned long lo, unsigned long hi,
			 unsigned long *startp, unsigned long *endp)
{
	unsigned long min = policy.window_min, max = policy.window_max;
	unsigned long start, end, base, size, block, rs, re;
	unsigned long base_dev;

	lockdep_assert_held(&init_mm.pt_lock);
	clip(ALIGN_DOWN(addr, min), min, lo, hi, &start, &end);
	base = end - start;
	if (min == max)
		goto out;
	base_dev = pt_count(start, end);
	for (size = 2 * min; size <= max; size *= 2) {
		clip(ALIGN_DOWN(addr, size), size, lo, hi, &rs, &re);
		if (re - rs > end - start && mostly_resident(rs, re, base_dev)) {
			start = rs;
			end = re;
		}
	}
	/*
	 * A scan that has crossed into a new block: its aligned neighbour on
	 * either side, with this block, is mostly resident.
	 */
	block = ALIGN_DOWN(addr, max);
	clip(block, max, lo, hi, &rs, &re);
	if (end - start < re - rs) {
		unsigned long ns, ne;
		bool seq = false;

		if (block >= max && block - max >= lo) {
			clip(block - max, 2 * max, lo, hi, &ns, &ne);
			seq = mostly_resident(ns, ne, base_dev);
		}
		if (!seq && block + max < hi && block + max > block) {
			clip(block, 2 * max, lo, hi, &ns, &ne);
			seq = mostly_resident(ns, ne, base_dev);
		}
		if (seq) {
			start = rs;
			end = re;
		}
	}
out:
	*startp = start;
	*endp = end;
	return end - start > base;
}

/* --- thrashing ------------------------------------------------------------- */

static struct thrash_slot *thrash_slot(unsigned long addr)
{
	return &thrash[((addr >> UHMM_PAGE_SHIFT) * 0x9E3779B97F4A7C15ULL) >> 50];
}

void policy_fault_back(unsigned long addr, uint64_t *now)
{
	struct thrash_slot *s = thrash_slot(addr);

	lockdep_assert_held(&init_mm.pt_lock);
	if (!policy.thrash_threshold)
		return;
	if (!*now)
		*now = now_ns();
	if (s->addr != addr)
		*s = (struct thrash_slot){ .addr = addr };
	s->back_ns = *now;
}

bool policy_keep_in_ram(unsigned long addr, uint64_t *now)
{
	struct thrash_slot *s = thrash_slot(addr);

	lockdep_assert_held(&init_mm.pt_lock);
	if (s->addr != addr || !policy.thrash_threshold)
		return false;
	if (!*now)
		*now = now_ns();
	if (policy.thrash_pin_ms && s->pinned_until_ns > *now) {
		mm_count(thrash_pinned, 1);
		return true;
	}
	if (!s->back_ns)
		return false;
	if (*now - s->back_ns > (uint64_t)policy.thrash_lapse_us * 1000) {
		s->bounces = 0;		/* a slow bounce starts the count again */
		s->back_ns = 0;
		return false;
	}
	s->back_ns = 0;
	if (++s->bounces < policy.thrash_threshold)
		return false;
	s->bounces = 0;
	mm_count(thrash_events, 1);
	if (!policy.thrash_pin_ms)
		return false;
	s->pinned_until_ns = *now + (uint64_t)policy.thrash_pin_ms * 1000000;
	mm_count(thrash_pinned, 1);
	return true;
}
