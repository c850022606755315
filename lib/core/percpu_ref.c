// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * percpu_ref in user space.
 *
 * The kernel counts in per-CPU variables and relies on preemption being off
 * for the few instructions of a get or put.  uhmm counts per thread instead:
 * a thread claims one of UHMM_PERCPU_SLOTS slots the first time it uses any
 * ref and gives it back when it exits.  Each ref has one cache line per slot,
 * written only by the slot's owner with a single non-locked add (safe against
 * a signal handler on the same thread).  The shared counter holds a large
 * bias while the ref is in percpu mode, so it never reads zero then.
 *
 * Switching to atomic mode must not lose an add that a thread is making to
 * its slot at that moment.  A thread marks itself active around the few
 * instructions that read the mode and add to its slot; the switch sets the
 * ATOMIC bit, issues membarrier() so that every thread has either published
 * its "active" mark or will see the new mode, then waits until each active
 * thread has left its section, and only then folds the slots into the shared
 * counter.  The fast path costs two plain stores and no fence: the grace
 * period of RCU, specialised to a section of a handful of instructions.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <uhmm/percpu_ref.h>

#include "internal.h"

#define UHMM_PERCPU_SLOTS	64

#define REF_ATOMIC	1UL
#define REF_DEAD	2UL
#define REF_ATOMIC_DEAD	(REF_ATOMIC | REF_DEAD)
#define REF_FLAG_BITS	2
#define COUNT_BIAS	(1UL << 63)

#define REF_INIT_FLAGS	(UHMM_PERCPU_REF_INIT_ATOMIC | UHMM_PERCPU_REF_INIT_DEAD | \
			 UHMM_PERCPU_REF_ALLOW_REINIT)

/* Not in Debian 12's headers everywhere; values from the kernel's uapi. */
#define MEMBARRIER_CMD_GLOBAL				(1 << 0)
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED		(1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED	(1 << 4)

struct percpu_slot {
	unsigned long count;
} __attribute__((aligned(64)));

struct uhmm_percpu_ref_data {
	atomic_ulong count;			/* shared counter (+ bias in percpu mode) */
	uhmm_percpu_ref_func_t release;
	bool force_atomic;			/* protected by switch_lock */
	bool allow_reinit;			/* protected by switch_lock */
	struct percpu_slot *slots;		/* NULL once freed; protected by switch_lock */
};

/* Serialises mode switches of all refs, like the kernel's percpu_ref_switch_lock. */
static pthread_mutex_t switch_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- thread slots ------------------------------------------------------- */

#define SLOT_UNCLAIMED	(-1)
#define SLOT_NONE	(-2)	/* all slots taken: use the shared counter */

/* Per thread slot: is its owner inside a fast-path section (nesting depth)? */
struct thread_slot {
	unsigned long active;
} __attribute__((aligned(64)));

static struct thread_slot thread_slots[UHMM_PERCPU_SLOTS];
static _Atomic uint64_t slots_in_use;
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;
static __thread int this_slot __attribute__((tls_model("initial-exec"))) = SLOT_UNCLAIMED;

/* How switch_to_atomic() makes every thread's marks visible; set by slot_init(). */
static int membarrier_cmd;
static pid_t membarrier_pid;	/* the process that registered; protected by switch_lock */

static void slot_release(void *arg)
{
	int slot = (int)(uintptr_t)arg - 1;

	atomic_fetch_and(&slots_in_use, ~(UINT64_C(1) << slot));
}

/*
 * After fork only the forking thread exists in the child: free the other
 * threads' slots, whose "active" marks would otherwise never clear.
 */
static void slot_atfork_child(void)
{
	uint64_t mine = this_slot >= 0 ? UINT64_C(1) << this_slot : 0;
	int i;

	for (i = 0; i < UHMM_PERCPU_SLOTS; i++)
		if (i != this_slot)
			thread_slots[i].active = 0;
	atomic_store(&slots_in_use, mine);
	membarrier_pid = 0;
}

static void slot_init(void)
{
	if (pthread_key_create(&slot_key, slot_release))
		pr_err("percpu_ref: no thread key, every thread counts on the shared counter");
	pthread_atfork(NULL, NULL, slot_atfork_child);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0) {
		membarrier_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
		membarrier_pid = getpid();
	} else if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) {
		membarrier_cmd = MEMBARRIER_CMD_GLOBAL;
	} else {
		/* Without membarrier the per-thread mode cannot be left safely. */
		pr_warn("percpu_ref: membarrier() unavailable; refs count atomically");
		membarrier_cmd = 0;
	}
}

static __attribute__((noinline, cold)) int slot_claim(void)
{
	uint64_t used;
	int slot;

	pthread_once(&slot_once, slot_init);
	if (!membarrier_cmd)
		return this_slot = SLOT_NONE;
	used = atomic_load(&slots_in_use);
	do {
		if (used == UINT64_MAX)
			return this_slot = SLOT_NONE;
		slot = __builtin_ctzll(~used);
	} while (!atomic_compare_exchange_weak(&slots_in_use, &used,
					       used | (UINT64_C(1) << slot)));
	if (pthread_setspecific(slot_key, (void *)(uintptr_t)(slot + 1))) {
		slot_release((void *)(uintptr_t)(slot + 1));
		return this_slot = SLOT_NONE;
	}
	return this_slot = slot;
}

static inline int this_thread_slot(void)
{
	int slot = this_slot;

	if (likely(slot >= 0) || slot == SLOT_NONE)
		return slot;
	return slot_claim();
}

/* Make every thread's stores so far visible, and every later load see ours. */
static void membarrier_all_threads(void)
{
	if (membarrier_cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED && membarrier_pid != getpid()) {
		/* A forked child registers again. */
		syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
		membarrier_pid = getpid();
	}
	if (syscall(SYS_membarrier, membarrier_cmd, 0, 0))
		WARN(1, "percpu_ref: membarrier failed: %d", errno);
}

/* Wait until no thread is inside a fast-path section it entered before now. */
static void wait_for_slot_sections(void)
{
	uint64_t used = atomic_load(&slots_in_use);
	int i;

	membarrier_all_threads();
	for (i = 0; i < UHMM_PERCPU_SLOTS; i++) {
		if (!(used & (UINT64_C(1) << i)) || i == this_slot)
			continue;
		while (__atomic_load_n(&thread_slots[i].active, __ATOMIC_ACQUIRE))
			sched_yield();
	}
}

/* --- the fast path --------------------------------------------------- */

/* A single add instruction: not atomic across CPUs, but atomic against signals. */
static inline void slot_add(struct percpu_slot *slot, unsigned long nr)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("addq %1, %0" : "+m"(slot->count) : "r"(nr) : "memory");
#else
	__atomic_fetch_add(&slot->count, nr, __ATOMIC_RELAXED);
#endif
}

static inline unsigned long load_ptr(struct uhmm_percpu_ref *ref)
{
	return __atomic_load_n(&ref->percpu_count_ptr, __ATOMIC_RELAXED);
}

/*
 * Add @nr to the calling thread's count of @ref if @ref is in percpu mode.
 * Return 0 if it did; otherwise the caller uses the shared counter, and the
 * value returned (never 0: REF_ATOMIC is set) carries the mode bits seen.
 */
static inline unsigned long percpu_add(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	int slot = this_thread_slot();
	unsigned long ptr, depth;
	struct thread_slot *ts;

	if (unlikely(slot < 0))
		return load_ptr(ref) | REF_ATOMIC;
	ts = &thread_slots[slot];
	/*
	 * A nesting depth, so that a signal handler's section inside ours
	 * works: the handler leaves the depth as it found it, so restoring the
	 * value read here is right whatever interrupted us.
	 */
	depth = __atomic_load_n(&ts->active, __ATOMIC_RELAXED);
	__atomic_store_n(&ts->active, depth + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ptr = load_ptr(ref);
	if (likely(!(ptr & REF_ATOMIC_DEAD)))
		slot_add((struct percpu_slot *)ptr + slot, nr);
	__atomic_store_n(&ts->active, depth, __ATOMIC_RELEASE);
	return ptr & REF_ATOMIC_DEAD ? ptr | REF_ATOMIC : 0;
}

UHMM_EXPORT void uhmm_percpu_ref_get_many(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	if (unlikely(percpu_add(ref, nr)))
		atomic_fetch_add(&ref->data->count, nr);
}

UHMM_EXPORT void uhmm_percpu_ref_get(struct uhmm_percpu_ref *ref)
{
	uhmm_percpu_ref_get_many(ref, 1);
}

static bool count_inc_not_zero(struct uhmm_percpu_ref_data *data, unsigned long nr)
{
	unsigned long old = atomic_load(&data->count);

	do {
		if (!old)
			return false;
	} while (!atomic_compare_exchange_weak(&data->count, &old, old + nr));
	return true;
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget_many(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	if (likely(!percpu_add(ref, nr)))
		return true;
	return count_inc_not_zero(ref->data, nr);
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget(struct uhmm_percpu_ref *ref)
{
	return uhmm_percpu_ref_tryget_many(ref, 1);
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget_live(struct uhmm_percpu_ref *ref)
{
	unsigned long ptr = percpu_add(ref, 1);

	if (likely(!ptr))
		return true;
	if (ptr & REF_DEAD)
		return false;
	return count_inc_not_zero(ref->data, 1);
}

UHMM_EXPORT void uhmm_percpu_ref_put_many(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	struct uhmm_percpu_ref_data *data;

	if (likely(!percpu_add(ref, -nr)))
		return;
	data = ref->data;
	if (atomic_fetch_sub(&data->count, nr) == nr && data->release)
		data->release(ref);
}

UHMM_EXPORT void uhmm_percpu_ref_put(struct uhmm_percpu_ref *ref)
{
	uhmm_percpu_ref_put_many(ref, 1);
}

/* --- mode switches (switch_lock held) --------------------------------- */

/*
 * Fold the per-thread counts into the shared counter.  Takes an extra
 * reference first so the count cannot reach zero before it is folded; the
 * caller drops it with uhmm_percpu_ref_put() after releasing switch_lock.
 * Return: true if that extra reference was taken.
 */
static bool switch_to_atomic(struct uhmm_percpu_ref *ref, uhmm_percpu_ref_func_t confirm)
{
	struct uhmm_percpu_ref_data *data = ref->data;
	unsigned long ptr = ref->percpu_count_ptr;
	unsigned long sum = 0;
	int i;

	if (ptr & REF_ATOMIC) {
		if (confirm)
			confirm(ref);
		return false;
	}

	uhmm_percpu_ref_get(ref);
	__atomic_store_n(&ref->percpu_count_ptr, ptr | REF_ATOMIC, __ATOMIC_SEQ_CST);
	wait_for_slot_sections();

	for (i = 0; i < UHMM_PERCPU_SLOTS; i++) {
		sum += data->slots[i].count;
		data->slots[i].count = 0;
	}
	atomic_fetch_add(&data->count, sum - COUNT_BIAS);

	if (confirm)
		confirm(ref);
	if (!data->allow_reinit) {
		free(data->slots);
		data->slots = NULL;
		__atomic_store_n(&ref->percpu_count_ptr, (ptr & REF_DEAD) | REF_ATOMIC,
				 __ATOMIC_RELEASE);
	}
	return true;
}

static void switch_to_percpu(struct uhmm_percpu_ref *ref)
{
	struct uhmm_percpu_ref_data *data = ref->data;
	unsigned long ptr = ref->percpu_count_ptr;

	if (!(ptr & REF_ATOMIC) || !data->slots)
		return;
	/* The slots were zeroed when they were folded. */
	atomic_fetch_add(&data->count, COUNT_BIAS);
	__atomic_store_n(&ref->percpu_count_ptr, (unsigned long)data->slots, __ATOMIC_RELEASE);
}

static bool switch_mode(struct uhmm_percpu_ref *ref, uhmm_percpu_ref_func_t confirm)
{
	if (ref->data->force_atomic || (ref->percpu_count_ptr & REF_DEAD))
		return switch_to_atomic(ref, confirm);
	switch_to_percpu(ref);
	return false;
}

/* --- lifetime ------------------------------------------------------------ */

UHMM_EXPORT int uhmm_percpu_ref_init(struct uhmm_percpu_ref *ref,
				     uhmm_percpu_ref_func_t release, unsigned int flags)
{
	struct uhmm_percpu_ref_data *data;
	unsigned long start_count = 0;
	struct percpu_slot *slots;

	if (!ref || (flags & ~REF_INIT_FLAGS))
		return -EINVAL;

	slots = aligned_alloc(sizeof(*slots), UHMM_PERCPU_SLOTS * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	memset(slots, 0, UHMM_PERCPU_SLOTS * sizeof(*slots));
	data = calloc(1, sizeof(*data));
	if (!data) {
		free(slots);
		return -ENOMEM;
	}

	data->release = release;
	data->slots = slots;
	data->force_atomic = flags & UHMM_PERCPU_REF_INIT_ATOMIC;
	data->allow_reinit = flags & UHMM_PERCPU_REF_ALLOW_REINIT;
	ref->percpu_count_ptr = (unsigned long)slots;

	if (flags & (UHMM_PERCPU_REF_INIT_ATOMIC | UHMM_PERCPU_REF_INIT_DEAD)) {
		ref->percpu_count_ptr |= REF_ATOMIC;
		data->allow_reinit = true;
	} else {
		start_count += COUNT_BIAS;
	}
	if (flags & UHMM_PERCPU_REF_INIT_DEAD)
		ref->percpu_count_ptr |= REF_DEAD;
	else
		start_count++;

	atomic_init(&data->count, start_count);
	ref->data = data;
	return 0;
}

UHMM_EXPORT void uhmm_percpu_ref_exit(struct uhmm_percpu_ref *ref)
{
	struct uhmm_percpu_ref_data *data = ref->data;
	unsigned long count;

	if (!data)
		return;
	pthread_mutex_lock(&switch_lock);
	/* Keep the count readable for uhmm_percpu_ref_is_zero(), as the kernel does. */
	count = atomic_load(&data->count);
	if (!(ref->percpu_count_ptr & REF_ATOMIC))
		count = 1;	/* still in percpu mode: certainly not zero */
	ref->percpu_count_ptr = (count << REF_FLAG_BITS) | REF_ATOMIC_DEAD;
	ref->data = NULL;
	pthread_mutex_unlock(&switch_lock);
	free(data->slots);
	free(data);
}

UHMM_EXPORT void uhmm_percpu_ref_kill_and_confirm(struct uhmm_percpu_ref *ref,
						  uhmm_percpu_ref_func_t confirm_kill)
{
	bool extra;

	pthread_mutex_lock(&switch_lock);
	if (WARN(ref->percpu_count_ptr & REF_DEAD,
		 "percpu_ref_kill_and_confirm called more than once on %p", (void *)ref)) {
		pthread_mutex_unlock(&switch_lock);
		return;
	}
	__atomic_or_fetch(&ref->percpu_count_ptr, REF_DEAD, __ATOMIC_RELEASE);
	extra = switch_mode(ref, confirm_kill);
	pthread_mutex_unlock(&switch_lock);

	if (extra)
		uhmm_percpu_ref_put(ref);
	uhmm_percpu_ref_put(ref);	/* the initial reference */
}

UHMM_EXPORT void uhmm_percpu_ref_kill(struct uhmm_percpu_ref *ref)
{
	uhmm_percpu_ref_kill_and_confirm(ref, NULL);
}

UHMM_EXPORT void uhmm_percpu_ref_switch_to_atomic_sync(struct uhmm_percpu_ref *ref)
{
	bool extra;

	pthread_mutex_lock(&switch_lock);
	ref->data->force_atomic = true;
	extra = switch_to_atomic(ref, NULL);
	pthread_mutex_unlock(&switch_lock);
	if (extra)
		uhmm_percpu_ref_put(ref);
}

UHMM_EXPORT void uhmm_percpu_ref_switch_to_percpu(struct uhmm_percpu_ref *ref)
{
	bool extra;

	pthread_mutex_lock(&switch_lock);
	ref->data->force_atomic = false;
	extra = switch_mode(ref, NULL);
	pthread_mutex_unlock(&switch_lock);
	if (extra)
		uhmm_percpu_ref_put(ref);
}

UHMM_EXPORT bool uhmm_percpu_ref_is_zero(struct uhmm_percpu_ref *ref)
{
	unsigned long ptr = load_ptr(ref);

	if (!(ptr & REF_ATOMIC))
		return false;
	if (ref->data)
		return atomic_load(&ref->data->count) == 0;
	return (ptr >> REF_FLAG_BITS) == 0;	/* after exit */
}

UHMM_EXPORT bool uhmm_percpu_ref_is_dying(struct uhmm_percpu_ref *ref)
{
	return load_ptr(ref) & REF_DEAD;
}

UHMM_EXPORT void uhmm_percpu_ref_resurrect(struct uhmm_percpu_ref *ref)
{
	bool extra;

	pthread_mutex_lock(&switch_lock);
	if (WARN(!(ref->percpu_count_ptr & REF_DEAD),
		 "percpu_ref_resurrect on a live ref %p", (void *)ref)) {
		pthread_mutex_unlock(&switch_lock);
		return;
	}
	WARN_ON(!(ref->percpu_count_ptr & REF_ATOMIC));
	__atomic_and_fetch(&ref->percpu_count_ptr, ~REF_DEAD, __ATOMIC_RELEASE);
	atomic_fetch_add(&ref->data->count, 1);		/* the new initial reference */
	extra = switch_mode(ref, NULL);
	pthread_mutex_unlock(&switch_lock);
	if (extra)
		uhmm_percpu_ref_put(ref);
}

UHMM_EXPORT void uhmm_percpu_ref_reinit(struct uhmm_percpu_ref *ref)
{
	WARN(!uhmm_percpu_ref_is_zero(ref), "percpu_ref_reinit of a ref that is not at zero");
	uhmm_percpu_ref_resurrect(ref);
}
