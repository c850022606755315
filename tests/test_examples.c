// SPDX-License-Identifier: LGPL-2.1-or-later
/* The examples (examples/) run and say what they should. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static char out[8192];

static int run(const char *program)
{
	return harness_popen(program, out, sizeof(out));
}

TEST(hello_maps_device_memory)
{
	ASSERT_EQ(run(EXAMPLE_HELLO), 0);
	ASSERT_TRUE(strstr(out, "has its page, refcount 0") != NULL);
}

/* probe, migrate, fault back, migrate again, unbind with remove() evicting. */
TEST(the_example_driver_moves_its_buffer_and_evicts_at_unbind)
{
	int ret = run(EXAMPLE_DRIVER " 2>&1");

	if (ret == 77)
		SKIP("the fault engine cannot start here: %s", out);
	ASSERT_EQ(ret, 0);
	ASSERT_TRUE(strstr(out, "1. moved 64 of 64 pages into device memory") != NULL);
	ASSERT_TRUE(strstr(out, "every byte right\n3. moved 64 pages in again") != NULL);
	ASSERT_TRUE(strstr(out, "4. after unbind: 0 fault(s) to read them, every byte right") != NULL);
}
