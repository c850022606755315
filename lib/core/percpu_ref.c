// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * percpu_ref in user space.
 *
 * Each ref owns UHMM_PERCPU_SLOTS cache lines, one per thread slot.  A thread
 * claims a slot the first time it uses any ref and gives it back when it
 * exits; a slot is written only by its owner, with a single non-locked add,
 * which is safe against a signal handler on the same thread.  The shared
 * counter holds a large bias while the ref is in percpu mode, so it never
 * reads zero then.
 *
 * Switching to atomic mode sets the ATOMIC bit, waits for an RCU grace period
 * so that no thread is still inside a per-slot update, then folds the slots
 * into the shared counter and removes the bias.  Every get/put runs inside an
 * RCU read-side critical section for exactly that reason.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uhmm/percpu_ref.h>

#include "internal.h"
#include "rcu.h"

#define UHMM_PERCPU_SLOTS	64

#define REF_ATOMIC	1UL
#define REF_DEAD	2UL
#define REF_ATOMIC_DEAD	(REF_ATOMIC | REF_DEAD)
#define REF_FLAG_BITS	2
#define COUNT_BIAS	(1UL << 63)

#define REF_INIT_FLAGS	(UHMM_PERCPU_REF_INIT_ATOMIC | UHMM_PERCPU_REF_INIT_DEAD | \
			 UHMM_PERCPU_REF_ALLOW_REINIT)

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

static _Atomic uint64_t slots_in_use;
static pthread_key_t slot_key;
static pthread_once_t slot_key_once = PTHREAD_ONCE_INIT;
static __thread int this_slot __attribute__((tls_model("initial-exec"))) = SLOT_UNCLAIMED;

static void slot_release(void *arg)
{
	int slot = (int)(uintptr_t)arg - 1;

	atomic_fetch_and(&slots_in_use, ~(UINT64_C(1) << slot));
}

static void slot_key_create(void)
{
	if (pthread_key_create(&slot_key, slot_release))
		pr_err("percpu_ref: no thread key, every thread counts on the shared counter");
}

static int slot_claim(void)
{
	uint64_t used = atomic_load(&slots_in_use);
	int slot;

	pthread_once(&slot_key_once, slot_key_create);
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

/* A single add instruction: not atomic across CPUs, but atomic against signals. */
static inline void slot_add(struct percpu_slot *slot, unsigned long nr)
{
#if defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
	__asm__ volatile("addq %1, %0" : "+m"(slot->count) : "r"(nr));
#else
	__atomic_fetch_add(&slot->count, nr, __ATOMIC_RELAXED);
#endif
}

/* --- the fast path --------------------------------------------------- */

static inline unsigned long load_ptr(struct uhmm_percpu_ref *ref)
{
	return __atomic_load_n(&ref->percpu_count_ptr, __ATOMIC_ACQUIRE);
}

/*
 * Return the calling thread's slot if @ptr (a value of percpu_count_ptr) is
 * in percpu mode and the thread has a slot, else NULL.  Caller is in an RCU
 * read-side critical section.
 */
static inline struct percpu_slot *ptr_this_slot(unsigned long ptr)
{
	int slot;

	if (unlikely(ptr & REF_ATOMIC_DEAD))
		return NULL;
	slot = this_thread_slot();
	if (unlikely(slot < 0))
		return NULL;
	return (struct percpu_slot *)ptr + slot;
}

static inline struct percpu_slot *ref_this_slot(struct uhmm_percpu_ref *ref)
{
	return ptr_this_slot(load_ptr(ref));
}

UHMM_EXPORT void uhmm_percpu_ref_get_many(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	struct percpu_slot *slot;

	rcu_read_lock();
	slot = ref_this_slot(ref);
	if (likely(slot))
		slot_add(slot, nr);
	else
		atomic_fetch_add(&ref->data->count, nr);
	rcu_read_unlock();
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
	struct percpu_slot *slot;
	bool ret = true;

	rcu_read_lock();
	slot = ref_this_slot(ref);
	if (likely(slot))
		slot_add(slot, nr);
	else
		ret = count_inc_not_zero(ref->data, nr);
	rcu_read_unlock();
	return ret;
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget(struct uhmm_percpu_ref *ref)
{
	return uhmm_percpu_ref_tryget_many(ref, 1);
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget_live_rcu(struct uhmm_percpu_ref *ref)
{
	unsigned long ptr = load_ptr(ref);
	struct percpu_slot *slot = ptr_this_slot(ptr);

	if (likely(slot)) {
		slot_add(slot, 1);
		return true;
	}
	if (ptr & REF_DEAD)
		return false;
	return count_inc_not_zero(ref->data, 1);
}

UHMM_EXPORT bool uhmm_percpu_ref_tryget_live(struct uhmm_percpu_ref *ref)
{
	bool ret;

	rcu_read_lock();
	ret = uhmm_percpu_ref_tryget_live_rcu(ref);
	rcu_read_unlock();
	return ret;
}

UHMM_EXPORT void uhmm_percpu_ref_put_many(struct uhmm_percpu_ref *ref, unsigned long nr)
{
	struct uhmm_percpu_ref_data *data = ref->data;
	struct percpu_slot *slot;
	bool release = false;

	rcu_read_lock();
	slot = ref_this_slot(ref);
	if (likely(slot))
		slot_add(slot, -nr);
	else
		release = atomic_fetch_sub(&data->count, nr) == nr;
	rcu_read_unlock();

	if (release && data->release)
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
	__atomic_store_n(&ref->percpu_count_ptr, ptr | REF_ATOMIC, __ATOMIC_RELEASE);
	synchronize_rcu();

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
