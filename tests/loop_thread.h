/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test fixtures' common part: an object driven by one fd and a process()
 * call (the embedded store, the simulated hypervisor, a blkback) run in a
 * thread of
 * the test process, so that blocking clients can talk to it from the test's
 * own thread; and the temporary directory its sockets live in.
 */
#ifndef VBD_TEST_LOOP_THREAD_H
#define VBD_TEST_LOOP_THREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct vbd_test_loop {
	pthread_t thread;
	pthread_mutex_t lock;       /* held while the object is processing */
	int stop_pipe[2];
	int wake_pipe[2];           /* makes the thread process after a call */
	bool running;
	void *obj;
	int (*get_fd)(void *obj);
	int (*get_timeout_ms)(void *obj);   /* NULL: events only */
	int (*process)(void *obj);
} vbd_test_loop;

/* Nothing running, no fds: what stop() accepts. */
void vbd_test_loop_init(vbd_test_loop *l);
/* Starts the thread over obj: poll get_fd (at most get_timeout_ms, if
 * given), then process.  0 or -errno (then nothing runs). */
int vbd_test_loop_start(vbd_test_loop *l, void *obj, int (*get_fd)(void *),
                        int (*get_timeout_ms)(void *), int (*process)(void *));
/* Stops and joins the thread, closes the pipes.  Idempotent. */
void vbd_test_loop_stop(vbd_test_loop *l);
/* fn(obj, arg) while the thread is not processing, then wakes it (fn may
 * have queued output its next process() sends).  Returns fn's value. */
int vbd_test_loop_call(vbd_test_loop *l, int (*fn)(void *obj, void *arg), void *arg);

struct vbd_blkback;
/* vbd_test_loop_start() over a blkback: its fd, its timeout (the resize
 * poll), its process(). */
int vbd_test_loop_start_blkback(vbd_test_loop *l, struct vbd_blkback *b);

/* A fresh directory "$TMPDIR/<prefix>.XXXXXX" into dir.  0 or -errno. */
int vbd_test_tmpdir(char *dir, size_t size, const char *prefix);
/* Removes it and all it holds; empties dir. */
void vbd_test_rmdir(char *dir);

#endif
