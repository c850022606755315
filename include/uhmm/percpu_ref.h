/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uhmm percpu_ref: a reference count that is cheap to get and put until it is
 * killed, with the kernel's semantics.
 *
 * In percpu mode every thread counts in its own cache line, so get and put
 * never touch a line another thread writes and use no locked instruction.
 * Killing the ref switches it to atomic mode: once no thread can still be
 * adding to its own count, the per-thread counts are folded into one shared
 * counter, and from then on the ref behaves like an atomic count whose
 * release callback runs exactly once, when it reaches zero.
 *
 * Threads: the first 64 threads alive at once get a private counter; further
 * threads count on the shared counter (correct, only slower).
 */
#ifndef UHMM_PERCPU_REF_H
#define UHMM_PERCPU_REF_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct uhmm_percpu_ref;
struct uhmm_percpu_ref_data;

typedef void (*uhmm_percpu_ref_func_t)(struct uhmm_percpu_ref *ref);

/* Flags for uhmm_percpu_ref_init(). */
enum {
	/* Start in atomic mode; uhmm_percpu_ref_switch_to_percpu() leaves it. */
	UHMM_PERCPU_REF_INIT_ATOMIC = 1 << 0,
	/* Start dead, at count zero; uhmm_percpu_ref_reinit() brings it to life. */
	UHMM_PERCPU_REF_INIT_DEAD = 1 << 1,
	/* Keep the per-thread counters after a kill, so reinit returns to percpu mode. */
	UHMM_PERCPU_REF_ALLOW_REINIT = 1 << 2,
};

/*
 * The ref itself; embed it in the object it counts.  The fields are private
 * to uhmm: use the functions below.
 */
struct uhmm_percpu_ref {
	unsigned long percpu_count_ptr;	/* per-thread counters | mode bits */
	struct uhmm_percpu_ref_data *data;
};

/**
 * uhmm_percpu_ref_init() - initialise a ref at count 1
 * @ref: the ref
 * @release: called once when the count of a killed ref reaches zero; may be NULL
 * @flags: UHMM_PERCPU_REF_* flags
 *
 * INIT_DEAD starts the ref killed and at zero (@release is not called), and
 * implies ALLOW_REINIT.
 *
 * Return: 0, -EINVAL for a NULL @ref or an unknown flag, -ENOMEM.
 */
int uhmm_percpu_ref_init(struct uhmm_percpu_ref *ref, uhmm_percpu_ref_func_t release,
			 unsigned int flags);

/**
 * uhmm_percpu_ref_exit() - free what uhmm_percpu_ref_init() allocated
 * @ref: a ref that is at zero, or was never used
 *
 * After exit, uhmm_percpu_ref_is_zero() still answers; nothing else may be
 * called until the ref is initialised again.  Exiting an uninitialised
 * (zeroed) ref is a no-op.
 */
void uhmm_percpu_ref_exit(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_get_many() - take @nr references
 * @ref: a ref the caller knows to be above zero
 * @nr: how many
 *
 * Lock-free and async-signal-safe once the calling thread has used any ref
 * before (the first use claims a thread slot); in percpu mode it writes only
 * the calling thread's counter.
 */
void uhmm_percpu_ref_get_many(struct uhmm_percpu_ref *ref, unsigned long nr);
/** uhmm_percpu_ref_get() - take one reference; see uhmm_percpu_ref_get_many() */
void uhmm_percpu_ref_get(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_tryget_many() - take @nr references unless the count is zero
 * Return: true if the references were taken.  Succeeds on a dying ref that is
 * not yet at zero.
 */
bool uhmm_percpu_ref_tryget_many(struct uhmm_percpu_ref *ref, unsigned long nr);
/** uhmm_percpu_ref_tryget() - uhmm_percpu_ref_tryget_many() with @nr = 1 */
bool uhmm_percpu_ref_tryget(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_tryget_live() - take a reference unless the ref is dying
 *
 * Fails once a kill has been confirmed (see uhmm_percpu_ref_kill_and_confirm()).
 * Return: true if a reference was taken.
 */
bool uhmm_percpu_ref_tryget_live(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_put_many() - drop @nr references
 *
 * If the ref is dead and this drops the count to zero, the release callback
 * runs, in the calling thread, before this returns.
 */
void uhmm_percpu_ref_put_many(struct uhmm_percpu_ref *ref, unsigned long nr);
/** uhmm_percpu_ref_put() - drop one reference; see uhmm_percpu_ref_put_many() */
void uhmm_percpu_ref_put(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_kill_and_confirm() - kill the ref, then drop the initial reference
 * @ref: a live ref
 * @confirm_kill: called once every later tryget_live is sure to fail; may be NULL
 *
 * Switches @ref to atomic mode, which waits (briefly) until no thread is in
 * the middle of a get or put of any ref; so it must not be called from a
 * signal handler, nor from a release callback.  Killing a ref twice is a bug
 * and is WARNed about.
 */
void uhmm_percpu_ref_kill_and_confirm(struct uhmm_percpu_ref *ref,
				      uhmm_percpu_ref_func_t confirm_kill);
/** uhmm_percpu_ref_kill() - uhmm_percpu_ref_kill_and_confirm() without a callback */
void uhmm_percpu_ref_kill(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_switch_to_atomic_sync() - leave percpu mode and stay out of it
 *
 * The ref keeps its count; gets and puts go to the shared counter until
 * uhmm_percpu_ref_switch_to_percpu().  Waits as uhmm_percpu_ref_kill() does.
 */
void uhmm_percpu_ref_switch_to_atomic_sync(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_switch_to_percpu() - return to percpu mode
 *
 * Clears a sticky atomic mode (INIT_ATOMIC or switch_to_atomic_sync); the ref
 * goes to percpu mode now if it is live and still has its counters.
 */
void uhmm_percpu_ref_switch_to_percpu(struct uhmm_percpu_ref *ref);

/** uhmm_percpu_ref_is_zero() - true if the ref is in atomic mode at count zero */
bool uhmm_percpu_ref_is_zero(struct uhmm_percpu_ref *ref);

/** uhmm_percpu_ref_is_dying() - true once the ref was killed (and until reinit) */
bool uhmm_percpu_ref_is_dying(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_resurrect() - bring a killed ref back to life
 * @ref: a dead ref; its count need not be zero
 *
 * Takes a new initial reference and returns to percpu mode where allowed.
 * Resurrecting a live ref is WARNed about and ignored.
 */
void uhmm_percpu_ref_resurrect(struct uhmm_percpu_ref *ref);

/**
 * uhmm_percpu_ref_reinit() - restart a ref that was killed and reached zero
 *
 * Like the kernel, only a ref at zero may be reinitialised (WARN otherwise).
 */
void uhmm_percpu_ref_reinit(struct uhmm_percpu_ref *ref);

#ifdef __cplusplus
}
#endif
#endif /* UHMM_PERCPU_REF_H */
