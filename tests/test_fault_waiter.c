// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Whether a thread sleeps in a userfaultfd fault (mm_thread_waits_for_fault(),
 * lib/mm/memory.c): a failed fault sends SIGBUS only to a thread that still
 * waits for it, so a thread that runs on (its fault message was stale and it
 * went on to munmap() the buffer, say) must never be taken for one.
 * Internal: this test links the static library.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "../lib/mm/mm_internal.h"

#define PAGE	4096UL

struct waiter {
	pid_t tid;		/* atomic */
	int stop;		/* atomic */
	const volatile char *touch;
};

static void *spin(void *arg)
{
	struct waiter *w = arg;
	unsigned long n = 0;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		n++;
	return (void *)n;
}

static void *nap(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static void *fault(void *arg)
{
	struct waiter *w = arg;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	return (void *)(unsigned long)w->touch[0];
}

static pid_t start(pthread_t *t, void *(*fn)(void *), struct waiter *w)
{
	pid_t tid;

	ASSERT_EQ(pthread_create(t, NULL, fn, w), 0);
	while (!(tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE)))
		usleep(100);
	usleep(20000);	/* let it get where it is going */
	return tid;
}

/* The bug: a running thread's wchan reads "0", which was taken for a sleeper. */
TEST(a_running_thread_does_not_wait)
{
	struct waiter w = { 0 };
	pthread_t t;
	pid_t tid = start(&t, spin, &w);
	int i;

	for (i = 0; i < 100; i++)
		ASSERT_FALSE(mm_thread_waits_for_fault(tid));
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_join(t, NULL), 0);
}

TEST(a_thread_asleep_elsewhere_does_not_wait)
{
	struct waiter w = { 0 };
	pthread_t t;
	pid_t tid = start(&t, nap, &w);
	int i;

	for (i = 0; i < 20; i++) {
		ASSERT_FALSE(mm_thread_waits_for_fault(tid));
		usleep(1000);
	}
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(pthread_join(t, NULL), 0);
}

TEST(a_thread_in_a_userfault_waits)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_zeropage zero = { 0 };
	struct waiter w = { 0 };
	pthread_t t;
	char *p;
	int uffd;
	pid_t tid;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		uffd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		SKIP("userfaultfd is not available here (%s)", strerror(errno));
	ASSERT_EQ(ioctl(uffd, UFFDIO_API, &api), 0);
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(p != MAP_FAILED);
	reg.range.start = (unsigned long)p;
	reg.range.len = PAGE;
	ASSERT_EQ(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	w.touch = p;
	tid = start(&t, fault, &w);
	ASSERT_TRUE(mm_thread_waits_for_fault(tid));
	/* Resolve it: the thread reads a zero and ends. */
	zero.range.start = (unsigned long)p;
	zero.range.len = PAGE;
	ASSERT_EQ(ioctl(uffd, UFFDIO_ZEROPAGE, &zero), 0);
	ASSERT_EQ(pthread_join(t, NULL), 0);
	close(uffd);
	munmap(p, PAGE);
}
