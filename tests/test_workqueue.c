// SPDX-License-Identifier: LGPL-2.1-or-later
/* Ordered work queues (lib/core/workqueue.c). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/core/internal.h"
#include "harness.h"

#define ITEMS	2000

struct item {
	struct work_struct work;
	int id;
	int *log;		/* where func records its id, in the order it ran */
	int *nr;
	int *released;		/* atomic */
	int slow_ms;
	int *on_queue_thread;
	const struct workqueue *wq;
};

static void record(struct work_struct *work)
{
	struct item *it = container_of(work, struct item, work);

	if (it->slow_ms)
		usleep(it->slow_ms * 1000);
	if (it->on_queue_thread)
		*it->on_queue_thread = current_is_workqueue(it->wq);
	it->log[__atomic_fetch_add(it->nr, 1, __ATOMIC_ACQ_REL)] = it->id;
}

static void release(struct work_struct *work)
{
	struct item *it = container_of(work, struct item, work);

	__atomic_add_fetch(it->released, 1, __ATOMIC_ACQ_REL);
	free(it);
}

static struct item *item_new(const struct workqueue *wq, int id, int *log, int *nr, int *released)
{
	struct item *it = calloc(1, sizeof(*it));

	ASSERT_NONNULL(it);
	*it = (struct item){
		.work = { .func = record, .release = release },
		.id = id, .log = log, .nr = nr, .released = released, .wq = wq,
	};
	return it;
}

static bool any(const struct work_struct *work, const void *arg)
{
	(void)work;
	(void)arg;
	return true;
}

static bool has_id(const struct work_struct *work, const void *arg)
{
	return container_of(work, struct item, work)->id == *(const int *)arg;
}

static void wait_released(int *released, int n)
{
	int i;

	for (i = 0; i < 10000 && __atomic_load_n(released, __ATOMIC_ACQUIRE) < n; i++)
		usleep(1000);
}

/* Items run one at a time, in the order queued, on the queue's own thread; each is released. */
TEST(runs_in_order_on_its_thread)
{
	static struct workqueue wq = WORKQUEUE_INIT(wq, "test-wq");
	static int log[ITEMS];
	int nr = 0, released = 0, on_thread = 0, i;
	struct item *first;

	ASSERT_FALSE(current_is_workqueue(&wq));
	first = item_new(&wq, 0, log, &nr, &released);
	first->on_queue_thread = &on_thread;
	ASSERT_EQ(queue_work(&wq, &first->work), 0);
	for (i = 1; i < ITEMS; i++)
		ASSERT_EQ(queue_work(&wq, &item_new(&wq, i, log, &nr, &released)->work), 0);
	workqueue_wait(&wq, any, NULL);
	ASSERT_EQ(nr, ITEMS);
	for (i = 0; i < ITEMS; i++)
		ASSERT_EQ(log[i], i);
	ASSERT_EQ(on_thread, 1);
	wait_released(&released, ITEMS);	/* release follows the wake-up */
	ASSERT_EQ(released, ITEMS);
}

/* workqueue_wait() waits for a matching item that is running, not only a queued one. */
TEST(wait_covers_the_running_item)
{
	static struct workqueue wq = WORKQUEUE_INIT(wq, "test-wq-wait");
	static int log[4];
	int nr = 0, released = 0, id = 7;
	struct item *slow = item_new(&wq, 7, log, &nr, &released);

	slow->slow_ms = 200;
	ASSERT_EQ(queue_work(&wq, &slow->work), 0);
	usleep(50000);		/* running by now, most likely; queued will do too */
	workqueue_wait(&wq, has_id, &id);
	ASSERT_EQ(nr, 1);
	ASSERT_EQ(log[0], 7);
}

/* Paused, a queue runs nothing new; resumed, it runs what was queued, in order. */
TEST(pause_holds_and_resume_runs)
{
	static struct workqueue wq = WORKQUEUE_INIT(wq, "test-wq-pause");
	static int log[8];
	int nr = 0, released = 0, i;

	ASSERT_EQ(queue_work(&wq, &item_new(&wq, 0, log, &nr, &released)->work), 0);
	workqueue_wait(&wq, any, NULL);
	workqueue_pause(&wq);
	for (i = 1; i < 8; i++)
		ASSERT_EQ(queue_work(&wq, &item_new(&wq, i, log, &nr, &released)->work), 0);
	usleep(50000);
	ASSERT_EQ(__atomic_load_n(&nr, __ATOMIC_ACQUIRE), 1);	/* nothing ran */
	workqueue_resume(&wq);
	workqueue_wait(&wq, any, NULL);
	ASSERT_EQ(nr, 8);
	for (i = 0; i < 8; i++)
		ASSERT_EQ(log[i], i);
}

/* What was queued (paused) at fork() runs in the child, on a thread of its own. */
TEST(queued_work_runs_in_a_forked_child)
{
	static struct workqueue wq = WORKQUEUE_INIT(wq, "test-wq-fork");
	static int log[8];
	int nr = 0, released = 0, status, i;
	pid_t pid;

	ASSERT_EQ(queue_work(&wq, &item_new(&wq, 0, log, &nr, &released)->work), 0);
	workqueue_wait(&wq, any, NULL);
	workqueue_pause(&wq);
	for (i = 1; i < 4; i++)
		ASSERT_EQ(queue_work(&wq, &item_new(&wq, i, log, &nr, &released)->work), 0);
	workqueue_lock(&wq);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (workqueue_fork_child(&wq))
			_exit(2);
		workqueue_wait(&wq, any, NULL);
		_exit(nr == 4 && log[1] == 1 && log[3] == 3 ? 0 : 1);
	}
	workqueue_unlock(&wq);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	ASSERT_EQ(nr, 1);		/* the parent's stay paused */
	workqueue_resume(&wq);
	workqueue_wait(&wq, any, NULL);
	ASSERT_EQ(nr, 4);
}
