/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vbdctl io: I/O inside a domain, as the client of its frontend's socket
 * (cmd_frontend.c says the protocol).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vbd/ctx.h"
#include "vbd/disk.h"
#include "io_request.h"
#include "sim.h"
#include "vbdctl.h"

static const char io_usage[] =
	"Usage: vbdctl io DOM VDEV read|write|discard OFFSET LEN [--file F] [--dir DIR]\n"
	"       vbdctl io DOM VDEV flush|info [--dir DIR]\n"
	"\n"
	"I/O inside a domain, through the vbdctl frontend that serves it, the shared\n"
	"ring and the backend: read writes LEN bytes from byte OFFSET to stdout (or\n"
	"--file), write takes them from stdin (or --file); info prints the frontend's\n"
	"view (sectors, sector size, queues, ring order, persistent grants, indirect\n"
	"segments, features).  OFFSET and LEN are multiples of the sector size.\n"
	"DIR (where the frontend's socket is) is $VBD_SIM_DIR, else the simulated\n"
	"host's whose DIR/xenstored.sock $XENSTORED_PATH names, else " VBDCTL_SIM_DEFAULT_DIR ".\n"
	"\n"
	"Exit status: 0 done, 1 failed, 2 usage error.\n";

/* ------------------------------------------------------------------ */
/* vbdctl io: the client of a frontend's socket                     */

int vbdctl_io(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *dir = NULL, *file = NULL, *op;
	uint64_t off = 0, len = 0;
	uint32_t devid;
	unsigned domid;
	vbd_ctx *c = NULL;
	char hdr[160], line[640], sock_env[PATH_MAX], dirbuf[PATH_MAX];
	int o, fd = -1, io = -1, r, ret = VBDCTL_EXIT_FAIL;
	size_t i = 0;

	optind = 1;
	while ((o = getopt_long(argc, argv, "d:f:h", opts, NULL)) != -1) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'f': file = optarg; break;
		case 'h': fputs(io_usage, stdout); return VBDCTL_EXIT_OK;
		default: fputs(io_usage, stderr); return VBDCTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 3) {
		fputs(io_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	dir = vbdctl_sim_client_dir(dir, dirbuf, sizeof(dirbuf));
	op = argv[optind + 2];
	if (!strcmp(op, "read") || !strcmp(op, "write") || !strcmp(op, "discard")) {
		if (argc - optind != 5 || vbdctl_parse_u64("offset", argv[optind + 3], UINT64_MAX, &off) < 0 ||
		    vbdctl_parse_u64("length", argv[optind + 4], VBDCTL_IO_MAX_LEN, &len) < 0) {
			fputs(io_usage, stderr);
			return VBDCTL_EXIT_USAGE;
		}
	} else if (strcmp(op, "flush") && strcmp(op, "info")) {
		vbdctl_err("io: unknown operation '%s'", op);
		return VBDCTL_EXIT_USAGE;
	} else if (argc - optind != 3) {
		fputs(io_usage, stderr);
		return VBDCTL_EXIT_USAGE;
	}
	if (vbd_vdev_to_devid(argv[optind + 1], &devid) < 0) {
		vbdctl_err("io: bad vdev '%s'", argv[optind + 1]);
		return VBDCTL_EXIT_USAGE;
	}
	/* The guest by name or id: through the simulated host's xenstore when
	 * one runs in dir and nothing else was chosen. */
	snprintf(sock_env, sizeof(sock_env), "%s/xenstored.sock", dir);
	if (!getenv("XENSTORED_PATH") && access(sock_env, F_OK) == 0)
		setenv("XENSTORED_PATH", sock_env, 1);
	if ((r = vbd_ctx_new(&c, NULL, NULL)) < 0) {
		vbdctl_err("io: cannot connect to xenstore: %s", vbd_strerror(r));
		return VBDCTL_EXIT_FAIL;
	}
	r = vbd_ctx_domain_lookup(c, argv[optind], &domid);
	if (r < 0) {
		vbdctl_err("io: %s", vbd_ctx_last_error(c));
		goto out;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/guest%u.sock", dir, domid);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		vbdctl_err("io: no vbdctl frontend serves domain %u (%s: %s)", domid, sa.sun_path,
		           strerror(errno));
		goto out;
	}
	if (file) {
		io = open(file, !strcmp(op, "read") ? O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC :
		                                      O_RDONLY | O_CLOEXEC, 0644);
		if (io < 0) {
			vbdctl_err("io: %s: %s", file, strerror(errno));
			goto out;
		}
	} else {
		io = !strcmp(op, "read") || !strcmp(op, "info") ? 1 : 0;
	}
	{
		vbdctl_io_req q = { .devid = devid, .offset = off, .len = len };
		int n;

		for (q.op = VBDCTL_IO_READ; strcmp(vbdctl_io_op_name(q.op), op); q.op++)
			;
		n = vbdctl_io_format(hdr, sizeof(hdr) - 1, &q);
		if (n < 0 || vbdctl_io_parse(hdr, &q) < 0) {
			vbdctl_err("io: %s at %" PRIu64 " of %" PRIu64 " bytes does not fit the device",
			           op, off, len);
			goto out;
		}
		hdr[n] = '\n';
		if (vbdctl_write_all(fd, hdr, (size_t)n + 1) < 0)
			goto lost;
	}
	if (!strcmp(op, "write")) {
		char *buf = malloc(VBDCTL_IO_CHUNK);
		uint64_t done = 0;

		if (!buf)
			goto out;
		while (done < len) {
			size_t n = len - done > VBDCTL_IO_CHUNK ? VBDCTL_IO_CHUNK : (size_t)(len - done);

			if (vbdctl_read_all(io, buf, n) < 0) {
				vbdctl_err("io: the input ended before %" PRIu64 " bytes", len);
				free(buf);
				goto out;
			}
			if (vbdctl_write_all(fd, buf, n) < 0) {
				free(buf);
				goto lost;
			}
			done += n;
		}
		free(buf);
	}
	while (i < sizeof(line) - 1 && read(fd, &line[i], 1) == 1 && line[i] != '\n')
		i++;
	line[i] = 0;
	if (!strncmp(line, "err ", 4)) {
		char *msg = strchr(line + 4, ' ');
		vbdctl_err("io: %s %s: %s", op, argv[optind + 1], msg ? msg + 1 : line);
		goto out;
	}
	if (strncmp(line, "ok ", 3) != 0)
		goto lost;
	len = strtoull(line + 3, NULL, 10);
	{
		char buf[65536];
		uint64_t done = 0;

		while (done < len) {
			size_t n = len - done > sizeof(buf) ? sizeof(buf) : (size_t)(len - done);

			if (vbdctl_read_all(fd, buf, n) < 0)
				goto lost;
			/* info is text from the guest, for a person: escaped (term.c),
			 * line by line.  Data read from the disk is written as it is. */
			if (!strcmp(op, "info") && !file) {
				char *p = buf, *e = buf + n, *nl;

				for (; p < e; p = nl + 1) {
					nl = memchr(p, '\n', (size_t)(e - p));
					vbdctl_escape(stdout, p, (size_t)((nl ? nl : e) - p));
					if (!nl)
						break;
					putchar('\n');
				}
			} else if (vbdctl_write_all(io, buf, n) < 0) {
				vbdctl_err("io: writing the output: %s", strerror(errno));
				goto out;
			}
			done += n;
		}
	}
	ret = VBDCTL_EXIT_OK;
	goto out;
lost:
	vbdctl_err("io: the guest closed the connection");
out:
	if (fd >= 0)
		close(fd);
	if (io > 1 && file)
		close(io);
	vbd_ctx_free(c);
	return ret;
}

