// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Ordered work queues (the kernel's alloc_ordered_workqueue()): one named
 * library thread per queue, started on first use, runs the queued items
 * one at a time in the order they were queued.  The caller owns an item
 * until its function has run; then the queue calls its release function,
 * if it has one.  Nothing here knows what the work is.
 */
#include <signal.h>

#include "internal.h"

static __thread const struct workqueue *current_wq;

bool current_is_workqueue(const struct workqueue *wq)
{
	return current_wq == wq;
}

static void *worker_thread(void *arg)
{
	struct workqueue *wq = arg;
	sigset_t all;

	current_wq = wq;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		struct work_struct *work;

		pthread_mutex_lock(&wq->lock);
		while (!wq->head || wq->paused)
			pthread_cond_wait(&wq->more, &wq->lock);
		work = wq->head;
		wq->head = work->next;
		if (!wq->head)
			wq->tail = &wq->head;
		wq->current = work;
		pthread_mutex_unlock(&wq->lock);

		work->func(work);

		pthread_mutex_lock(&wq->lock);
		wq->current = NULL;
		pthread_cond_broadcast(&wq->idle);
		pthread_mutex_unlock(&wq->lock);
		if (work->release)
			work->release(work);
	}
	return NULL;
}

static int worker_start(struct workqueue *wq)
{
	int ret;

	lockdep_assert_held(&wq->lock);
	if (wq->running)
		return 0;
	ret = kthread_run(worker_thread, wq, wq->name);
	wq->running = !ret;
	return ret;
}

int queue_work(struct workqueue *wq, struct work_struct *work)
{
	int ret;

	pthread_mutex_lock(&wq->lock);
	ret = worker_start(wq);
	if (!ret) {
		work->next = NULL;
		*wq->tail = work;
		wq->tail = &work->next;
		pthread_cond_signal(&wq->more);
	}
	pthread_mutex_unlock(&wq->lock);
	return ret;
}

static bool work_pending_match(struct workqueue *wq,
			       bool (*match)(const struct work_struct *, const void *),
			       const void *arg)
{
	const struct work_struct *work;

	lockdep_assert_held(&wq->lock);
	if (wq->current && match(wq->current, arg))
		return true;
	for (work = wq->head; work; work = work->next)
		if (match(work, arg))
			return true;
	return false;
}

void workqueue_wait(struct workqueue *wq,
		    bool (*match)(const struct work_struct *, const void *), const void *arg)
{
	WARN_ON(current_is_workqueue(wq));
	pthread_mutex_lock(&wq->lock);
	while (work_pending_match(wq, match, arg))
		pthread_cond_wait(&wq->idle, &wq->lock);
	pthread_mutex_unlock(&wq->lock);
}

void workqueue_pause(struct workqueue *wq)
{
	WARN_ON(current_is_workqueue(wq));
	pthread_mutex_lock(&wq->lock);
	wq->paused = true;
	while (wq->current)
		pthread_cond_wait(&wq->idle, &wq->lock);
	pthread_mutex_unlock(&wq->lock);
}

void workqueue_resume(struct workqueue *wq)
{
	pthread_mutex_lock(&wq->lock);
	wq->paused = false;
	pthread_cond_signal(&wq->more);
	pthread_mutex_unlock(&wq->lock);
}

void workqueue_lock(struct workqueue *wq)
{
	pthread_mutex_lock(&wq->lock);
}

void workqueue_unlock(struct workqueue *wq)
{
	pthread_mutex_unlock(&wq->lock);
}

int workqueue_fork_child(struct workqueue *wq)
{
	int ret;

	pthread_mutex_init(&wq->lock, NULL);
	pthread_cond_init(&wq->more, NULL);
	pthread_cond_init(&wq->idle, NULL);
	wq->current = NULL;
	wq->paused = false;
	wq->running = false;
	if (!wq->head)
		return 0;
	pthread_mutex_lock(&wq->lock);
	ret = worker_start(wq);
	pthread_mutex_unlock(&wq->lock);
	return ret;
}
