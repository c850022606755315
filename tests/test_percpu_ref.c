// SPDX-License-Identifier: LGPL-2.1-or-later
/* percpu_ref: every function, every init flag, every misuse the kernel WARNs on. */
#include <pthread.h>

#include <uhmm/log.h>
#include <uhmm/percpu_ref.h>

#include "harness.h"

static int releases;
static struct uhmm_percpu_ref *released_ref;

static void count_release(struct uhmm_percpu_ref *ref)
{
	releases++;
	released_ref = ref;
}

static int confirms;
static bool tryget_live_at_confirm;

static void confirm_kill(struct uhmm_percpu_ref *ref)
{
	confirms++;
	tryget_live_at_confirm = uhmm_percpu_ref_tryget_live(ref);
}

static void quiet(void)
{
	uhmm_set_log_level(0);
}

TEST(init_rejects_bad_arguments)
{
	struct uhmm_percpu_ref ref = { 0 };

	ASSERT_EQ(uhmm_percpu_ref_init(NULL, count_release, 0), -EINVAL);
	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 1U << 7), -EINVAL);
}

TEST(kill_releases_once_when_last_put)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	uhmm_percpu_ref_get(&ref);
	uhmm_percpu_ref_get_many(&ref, 3);
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	ASSERT_FALSE(uhmm_percpu_ref_is_dying(&ref));
	uhmm_percpu_ref_kill(&ref);
	ASSERT_TRUE(uhmm_percpu_ref_is_dying(&ref));
	ASSERT_EQ(releases, 0);
	uhmm_percpu_ref_put_many(&ref, 3);
	ASSERT_EQ(releases, 0);
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_put(&ref);
	ASSERT_EQ(releases, 1);
	ASSERT_TRUE(released_ref == &ref);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_exit(&ref);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	ASSERT_EQ(releases, 1);
}

TEST(kill_without_other_refs_releases_at_once)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_exit(&ref);
}

static void *put_ten(void *arg)
{
	uhmm_percpu_ref_put_many(arg, 10);
	return NULL;
}

TEST(puts_on_other_threads_are_counted)
{
	struct uhmm_percpu_ref ref;
	pthread_t thr;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	uhmm_percpu_ref_get_many(&ref, 10);
	/* Another thread drops them: its own counter goes negative. */
	ASSERT_EQ(pthread_create(&thr, NULL, put_ten, &ref), 0);
	ASSERT_EQ(pthread_join(thr, NULL), 0);
	ASSERT_EQ(releases, 0);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_exit(&ref);
}

TEST(tryget_live_fails_after_kill_and_confirm_sees_it)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	ASSERT_TRUE(uhmm_percpu_ref_tryget_live(&ref));
	uhmm_percpu_ref_kill_and_confirm(&ref, confirm_kill);
	ASSERT_EQ(confirms, 1);
	ASSERT_FALSE(tryget_live_at_confirm);
	ASSERT_FALSE(uhmm_percpu_ref_tryget_live(&ref));
	/* A plain tryget still succeeds while the count is above zero. */
	ASSERT_TRUE(uhmm_percpu_ref_tryget(&ref));
	uhmm_percpu_ref_put(&ref);
	uhmm_percpu_ref_put(&ref);
	ASSERT_EQ(releases, 1);
	ASSERT_FALSE(uhmm_percpu_ref_tryget(&ref));
	ASSERT_FALSE(uhmm_percpu_ref_tryget_many(&ref, 2));
	uhmm_percpu_ref_exit(&ref);
}

TEST(double_kill_warns_and_does_not_double_put)
{
	struct uhmm_percpu_ref ref;
	unsigned long warns;

	quiet();
	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	uhmm_percpu_ref_get(&ref);
	uhmm_percpu_ref_kill(&ref);
	warns = uhmm_warn_count();
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	ASSERT_EQ(releases, 0);
	uhmm_percpu_ref_put(&ref);
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_exit(&ref);
}

TEST(init_atomic_counts_on_shared_counter_and_switches)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, UHMM_PERCPU_REF_INIT_ATOMIC), 0);
	uhmm_percpu_ref_get(&ref);
	uhmm_percpu_ref_switch_to_percpu(&ref);
	uhmm_percpu_ref_get_many(&ref, 5);
	uhmm_percpu_ref_switch_to_atomic_sync(&ref);
	uhmm_percpu_ref_put_many(&ref, 6);	/* back to the initial reference */
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_exit(&ref);
}

TEST(init_dead_starts_at_zero_and_reinit_revives)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, UHMM_PERCPU_REF_INIT_DEAD), 0);
	ASSERT_TRUE(uhmm_percpu_ref_is_dying(&ref));
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	ASSERT_FALSE(uhmm_percpu_ref_tryget_live(&ref));
	ASSERT_EQ(releases, 0);
	uhmm_percpu_ref_reinit(&ref);
	ASSERT_FALSE(uhmm_percpu_ref_is_dying(&ref));
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	ASSERT_TRUE(uhmm_percpu_ref_tryget_live(&ref));
	uhmm_percpu_ref_put(&ref);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_exit(&ref);
}

TEST(allow_reinit_cycles_kill_and_reinit)
{
	struct uhmm_percpu_ref ref;
	int round;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, UHMM_PERCPU_REF_ALLOW_REINIT), 0);
	for (round = 1; round <= 5; round++) {
		uhmm_percpu_ref_get_many(&ref, 2);
		uhmm_percpu_ref_kill(&ref);
		ASSERT_EQ(releases, round - 1);
		uhmm_percpu_ref_put_many(&ref, 2);
		ASSERT_EQ(releases, round);
		uhmm_percpu_ref_reinit(&ref);
		ASSERT_FALSE(uhmm_percpu_ref_is_dying(&ref));
	}
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 6);
	uhmm_percpu_ref_exit(&ref);
}

TEST(resurrect_a_dying_ref_that_is_not_zero)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, UHMM_PERCPU_REF_ALLOW_REINIT), 0);
	uhmm_percpu_ref_get(&ref);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_FALSE(uhmm_percpu_ref_tryget_live(&ref));
	uhmm_percpu_ref_resurrect(&ref);
	ASSERT_TRUE(uhmm_percpu_ref_tryget_live(&ref));
	uhmm_percpu_ref_put(&ref);
	uhmm_percpu_ref_put(&ref);	/* the get before the kill */
	ASSERT_EQ(releases, 0);
	uhmm_percpu_ref_kill(&ref);	/* drops the resurrected initial reference */
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_exit(&ref);
}

TEST(resurrect_and_reinit_misuse_warns)
{
	struct uhmm_percpu_ref ref;
	unsigned long warns;

	quiet();
	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, UHMM_PERCPU_REF_ALLOW_REINIT), 0);
	warns = uhmm_warn_count();
	uhmm_percpu_ref_resurrect(&ref);	/* live: WARN, ignored */
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	uhmm_percpu_ref_get(&ref);
	uhmm_percpu_ref_kill(&ref);
	uhmm_percpu_ref_reinit(&ref);		/* not at zero: WARN */
	ASSERT_GE(uhmm_warn_count(), warns + 2);
	uhmm_percpu_ref_put(&ref);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_exit(&ref);
}

TEST(without_allow_reinit_reinit_stays_atomic_and_correct)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, count_release, 0), 0);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 1);
	uhmm_percpu_ref_reinit(&ref);
	uhmm_percpu_ref_get_many(&ref, 4);
	uhmm_percpu_ref_put_many(&ref, 4);
	ASSERT_FALSE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_kill(&ref);
	ASSERT_EQ(releases, 2);
	uhmm_percpu_ref_exit(&ref);
}

TEST(exit_of_zeroed_ref_is_noop)
{
	struct uhmm_percpu_ref ref = { 0 };

	uhmm_percpu_ref_exit(&ref);
	ASSERT_EQ(releases, 0);
}

TEST(null_release_is_allowed)
{
	struct uhmm_percpu_ref ref;

	ASSERT_EQ(uhmm_percpu_ref_init(&ref, NULL, 0), 0);
	uhmm_percpu_ref_kill(&ref);
	ASSERT_TRUE(uhmm_percpu_ref_is_zero(&ref));
	uhmm_percpu_ref_exit(&ref);
}
