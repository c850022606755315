// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The fork gate: fork() waits until no migration, fault or deferred put is
 * in flight, and none starts until it has forked.
 *
 * A migration leaves migration entries that point into its caller's arrays
 * and pages locked by its caller from migrate_vma_setup() to
 * migrate_vma_finalize(); a child copied in between would inherit them with
 * no one to finish them.  So each of those holds a reference on the gate
 * (mm_fork_enter() / mm_fork_exit()), from any thread: finalize() may run
 * on another thread than setup(), which a lock's owner rule would forbid.
 *
 * Entering never waits for a fork() that is only waiting: a fault holds a
 * reference while the driver's migrate_to_ram() sets up a migration, which
 * enters again; making it wait would deadlock against a fork() waiting for
 * the fault.  fork() therefore waits for a moment with nothing in flight
 * (as a reader-preferring rwlock's writer does), and says in the log what
 * it waits for if that takes long.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "../core/internal.h"
#include "mm_internal.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;		/* inflight reached 0, or closed cleared */
	unsigned long inflight;		/* lock: references held */
	bool closed;			/* lock: a fork() is under way */
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

void mm_fork_enter(void)
{
	pthread_mutex_lock(&gate.lock);
	while (gate.closed)
		pthread_cond_wait(&gate.changed, &gate.lock);
	gate.inflight++;
	pthread_mutex_unlock(&gate.lock);
}

void mm_fork_exit(void)
{
	pthread_mutex_lock(&gate.lock);
	if (!WARN(!gate.inflight, "mm_fork_exit() without mm_fork_enter()") &&
	    !--gate.inflight)
		pthread_cond_broadcast(&gate.changed);
	pthread_mutex_unlock(&gate.lock);
}

/* fork()'s prepare: waits for nothing in flight, then holds new ones off. */
void mm_fork_close(void)
{
	unsigned int period = mm_wait_log_s, waited = 0;
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += period;
	pthread_mutex_lock(&gate.lock);
	while (gate.inflight) {
		if (pthread_cond_timedwait(&gate.changed, &gate.lock, &deadline) != ETIMEDOUT)
			continue;
		waited += period;
		pr_warn("fork() has waited %u s for %lu migrations or faults in flight "
			"(a migrate_vma_setup() without its migrate_vma_finalize()?)",
			waited, gate.inflight);
		deadline.tv_sec += period;
	}
	gate.closed = true;
	pthread_mutex_unlock(&gate.lock);
}

/* fork()'s parent side: migrations may start again. */
void mm_fork_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.closed = false;
	pthread_cond_broadcast(&gate.changed);
	pthread_mutex_unlock(&gate.lock);
}

/* The child: one thread, nothing in flight (the parent waited for that). */
void mm_fork_gate_child(void)
{
	pthread_mutex_init(&gate.lock, NULL);
	pthread_cond_init(&gate.changed, NULL);
	gate.inflight = 0;
	gate.closed = false;
}
