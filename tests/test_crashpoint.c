/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The crash point hook (lib/util/crashpoint.c): a process with
 * VBD_CRASHPOINT=<name>[:<nth>] dies by SIGKILL at the nth pass of that
 * point and not before; any other name, no variable, or a malformed one
 * leaves it alive.  Each case runs in a child, since the variable is read
 * once per process.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/crashpoint.h"

/* Runs the point "a.b" `passes` times in a child with VBD_CRASHPOINT=env
 * (unset if NULL); returns the number of passes before it died (its exit
 * status encodes passes done when it lives), or -1 - passes if killed by
 * SIGKILL: the status as -(passes)-1. */
static int run(const char *env, int passes)
{
	int p[2], status, done = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int i;

		close(p[0]);
		if (env)
			setenv("VBD_CRASHPOINT", env, 1);
		else
			unsetenv("VBD_CRASHPOINT");
		for (i = 0; i < passes; i++) {
			vbd__crashpoint("other.point");
			vbd__crashpoint("a.b");
			(void)!write(p[1], "x", 1);
		}
		_exit(0);
	}
	close(p[1]);
	{
		char c;

		while (read(p[0], &c, 1) == 1)
			done++;
	}
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status)) {
		assert_int_equal(WTERMSIG(status), SIGKILL);
		return -1 - done;
	}
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return done;
}

static void test_first_pass(void **state)
{
	(void)state;
	assert_int_equal(run("a.b", 5), -1);       /* killed at the first pass */
}

static void test_nth_pass(void **state)
{
	(void)state;
	assert_int_equal(run("a.b:3", 5), -3);     /* passed twice, killed at the third */
	assert_int_equal(run("a.b:6", 5), 5);      /* never reached its sixth */
}

static void test_not_armed(void **state)
{
	(void)state;
	assert_int_equal(run(NULL, 5), 5);
	assert_int_equal(run("", 5), 5);
	assert_int_equal(run("a.c", 5), 5);        /* another point */
	assert_int_equal(run("a", 5), 5);          /* a prefix is not the name */
	assert_int_equal(run("a.b:0", 5), 5);      /* malformed counts: ignored */
	assert_int_equal(run("a.b:x", 5), 5);
	assert_int_equal(run("a.b:2x", 5), 5);
	assert_int_equal(run(":2", 5), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_pass),
		cmocka_unit_test(test_nth_pass),
		cmocka_unit_test(test_not_armed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
