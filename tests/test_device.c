// SPDX-License-Identifier: LGPL-2.1-or-later
/* Devices, binding, and device-managed resources. */
#include <uhmm/device.h>
#include <uhmm/log.h>

#include "harness.h"

static char order[32];
static int order_len;

static void record(void *data)
{
	order[order_len++] = (char)(long)data;
	order[order_len] = '\0';
}

static int probe_ok(struct uhmm_device *dev)
{
	int ret;

	ret = uhmm_devm_add_action(dev, record, (void *)'a');
	if (!ret)
		ret = uhmm_devm_add_action(dev, record, (void *)'b');
	if (!ret && !uhmm_devm_kzalloc(dev, 100))
		ret = -ENOMEM;
	if (!ret)
		ret = uhmm_devm_add_action(dev, record, (void *)'c');
	return ret;
}

static void remove_records(struct uhmm_device *dev)
{
	(void)dev;
	record((void *)'R');
}

static const struct uhmm_driver drv_ok = {
	.name = "ok", .probe = probe_ok, .remove = remove_records,
};

static int probe_fails_midway(struct uhmm_device *dev)
{
	uhmm_devm_add_action(dev, record, (void *)'x');
	uhmm_devm_add_action(dev, record, (void *)'y');
	return -EIO;
}

static const struct uhmm_driver drv_fail = {
	.name = "fail", .probe = probe_fails_midway, .remove = remove_records,
};

TEST(create_validates_name)
{
	char longname[100];

	errno = 0;
	ASSERT_NULL(uhmm_device_create(NULL));
	ASSERT_EQ(errno, EINVAL);
	ASSERT_NULL(uhmm_device_create(""));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	errno = 0;
	ASSERT_NULL(uhmm_device_create(longname));
	ASSERT_EQ(errno, EINVAL);
}

TEST(unbind_runs_remove_then_devres_newest_first)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");

	ASSERT_NONNULL(dev);
	ASSERT_STREQ(uhmm_dev_name(dev), "dev0");
	ASSERT_EQ(uhmm_device_bind(dev, &drv_ok), 0);
	ASSERT_TRUE(uhmm_device_driver(dev) == &drv_ok);
	ASSERT_EQ(uhmm_devres_count(dev), 4);
	ASSERT_EQ(order_len, 0);
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_STREQ(order, "Rcba");
	ASSERT_EQ(uhmm_devres_count(dev), 0);
	ASSERT_NULL(uhmm_device_driver(dev));
	uhmm_device_put(dev);
}

TEST(failed_probe_releases_its_devres_and_leaves_device_unbound)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");

	uhmm_set_log_level(0);
	ASSERT_EQ(uhmm_device_bind(dev, &drv_fail), -EIO);
	ASSERT_STREQ(order, "yx");	/* remove() is not called for a failed probe */
	ASSERT_NULL(uhmm_device_driver(dev));
	ASSERT_EQ(uhmm_devres_count(dev), 0);
	/* The device can be bound again. */
	ASSERT_EQ(uhmm_device_bind(dev, &drv_ok), 0);
	uhmm_device_put(dev);	/* last reference while bound: unbinds */
	ASSERT_STREQ(order, "yxRcba");
}

TEST(bind_and_unbind_errors)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");
	struct uhmm_driver no_probe = { .name = "none" };

	ASSERT_EQ(uhmm_device_bind(NULL, &drv_ok), -EINVAL);
	ASSERT_EQ(uhmm_device_bind(dev, NULL), -EINVAL);
	ASSERT_EQ(uhmm_device_bind(dev, &no_probe), -EINVAL);
	ASSERT_EQ(uhmm_device_unbind(dev), -ENODEV);
	ASSERT_EQ(uhmm_device_unbind(NULL), -EINVAL);
	ASSERT_EQ(uhmm_device_bind(dev, &drv_ok), 0);
	ASSERT_EQ(uhmm_device_bind(dev, &drv_ok), -EBUSY);
	ASSERT_EQ(uhmm_device_unbind(dev), 0);
	ASSERT_EQ(uhmm_device_unbind(dev), -ENODEV);
	uhmm_device_put(dev);
}

TEST(remove_and_release_action)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");

	ASSERT_EQ(uhmm_devm_add_action(dev, record, (void *)'a'), 0);
	ASSERT_EQ(uhmm_devm_add_action(dev, record, (void *)'b'), 0);
	ASSERT_EQ(uhmm_devm_add_action(dev, record, (void *)'c'), 0);
	ASSERT_EQ(uhmm_devm_remove_action(dev, record, (void *)'b'), 0);
	ASSERT_EQ(order_len, 0);
	ASSERT_EQ(uhmm_devm_release_action(dev, record, (void *)'c'), 0);
	ASSERT_STREQ(order, "c");
	ASSERT_EQ(uhmm_devm_remove_action(dev, record, (void *)'b'), -ENOENT);
	ASSERT_EQ(uhmm_devm_release_action(dev, record, (void *)'z'), -ENOENT);
	ASSERT_EQ(uhmm_devm_add_action(dev, NULL, NULL), -EINVAL);
	ASSERT_EQ(uhmm_devm_add_action(NULL, record, NULL), -EINVAL);
	uhmm_device_put(dev);	/* unbound device: its devres go with it */
	ASSERT_STREQ(order, "ca");
}

TEST(add_action_or_reset_runs_action_on_failure)
{
	ASSERT_EQ(uhmm_devm_add_action_or_reset(NULL, record, (void *)'r'), -EINVAL);
	ASSERT_STREQ(order, "r");
}

TEST(devm_kmalloc_and_kfree)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");
	unsigned char *p, *q;
	unsigned long warns;
	int i;

	p = uhmm_devm_kzalloc(dev, 4096);
	ASSERT_NONNULL(p);
	for (i = 0; i < 4096; i++)
		ASSERT_EQ(p[i], 0);
	q = uhmm_devm_kmalloc(dev, 16);
	ASSERT_NONNULL(q);
	ASSERT_EQ(((unsigned long)q) % sizeof(long double), 0);
	ASSERT_EQ(uhmm_devres_count(dev), 2);
	uhmm_devm_kfree(dev, p);
	ASSERT_EQ(uhmm_devres_count(dev), 1);
	uhmm_set_log_level(0);
	warns = uhmm_warn_count();
	uhmm_devm_kfree(dev, p);	/* not owned any more */
	ASSERT_EQ(uhmm_warn_count(), warns + 1);
	uhmm_devm_kfree(dev, NULL);
	errno = 0;
	ASSERT_NULL(uhmm_devm_kmalloc(dev, 0));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_devm_kmalloc(NULL, 8));
	ASSERT_EQ(errno, EINVAL);
	errno = 0;
	ASSERT_NULL(uhmm_devm_kmalloc(dev, (size_t)-1));
	ASSERT_EQ(errno, ENOMEM);
	uhmm_device_put(dev);
}

TEST(drvdata_and_refcount)
{
	struct uhmm_device *dev = uhmm_device_create("dev0");
	int x;

	uhmm_dev_set_drvdata(dev, &x);
	ASSERT_TRUE(uhmm_dev_get_drvdata(dev) == &x);
	ASSERT_TRUE(uhmm_device_get(dev) == dev);
	ASSERT_EQ(uhmm_devm_add_action(dev, record, (void *)'k'), 0);
	uhmm_device_put(dev);
	ASSERT_EQ(order_len, 0);	/* a reference is still held */
	uhmm_device_put(dev);
	ASSERT_STREQ(order, "k");
}

struct seen {
	const char *names[4];
	int n;
	int stop_at;
};

static int see_device(struct uhmm_device *dev, void *data)
{
	struct seen *s = data;

	if (s->n < 4)
		s->names[s->n] = uhmm_dev_name(dev);
	return ++s->n == s->stop_at ? 9 : 0;
}

/* Every device from create to its last put, oldest first; a non-zero return stops the walk. */
TEST(for_each_sees_live_devices_in_creation_order)
{
	struct uhmm_device *a = uhmm_device_create("first"), *b = uhmm_device_create("second");
	struct seen s = { .stop_at = -1 };

	ASSERT_NONNULL(a);
	ASSERT_NONNULL(b);
	ASSERT_EQ(uhmm_device_for_each(see_device, &s), 0);
	ASSERT_EQ(s.n, 2);
	ASSERT_STREQ(s.names[0], "first");
	ASSERT_STREQ(s.names[1], "second");
	s = (struct seen){ .stop_at = 1 };
	ASSERT_EQ(uhmm_device_for_each(see_device, &s), 9);
	ASSERT_EQ(s.n, 1);
	uhmm_device_get(a);
	uhmm_device_put(a);	/* not the last put: still listed */
	uhmm_device_put(b);
	s = (struct seen){ .stop_at = -1 };
	ASSERT_EQ(uhmm_device_for_each(see_device, &s), 0);
	ASSERT_EQ(s.n, 1);
	ASSERT_STREQ(s.names[0], "first");
	uhmm_device_put(a);
	s = (struct seen){ .stop_at = -1 };
	ASSERT_EQ(uhmm_device_for_each(see_device, &s), 0);
	ASSERT_EQ(s.n, 0);
	ASSERT_EQ(uhmm_device_for_each(NULL, NULL), -EINVAL);
}
