/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Embedding the xenstore daemon in your own event loop: one fd, one
 * process() call.  Here the loop also watches stdin; type a line to stop.
 *
 *   ./embed_store /tmp/xs.sock &
 *   XENSTORED_PATH=/tmp/xs.sock xenstore-write /hello world
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <vbd/store.h>

int main(int argc, char **argv)
{
	vbd_store_options o = VBD_STORE_OPTIONS_INIT;
	vbd_store_stats st = { .size = sizeof(st) };
	vbd_store *s;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	o.socket_path = argv[1];
	o.limits.nodes_per_domain = 200;    /* tighter than cxenstored's 1000 */
	r = vbd_store_new(&s, &o, NULL);
	if (r < 0) {
		fprintf(stderr, "vbd_store_new: %s\n", strerror(-r));
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = vbd_store_get_fd(s), .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0)
			break;
		if (p[1].revents)
			break;
		if (vbd_store_process(s) < 0)
			break;
	}
	vbd_store_get_stats(s, &st);
	printf("served %llu requests, %llu nodes\n", (unsigned long long)st.requests,
	       (unsigned long long)st.nodes);
	vbd_store_free(s);
	return 0;
}
