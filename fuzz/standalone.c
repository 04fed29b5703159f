/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A main() for fuzz targets built without libFuzzer: replays files, and
 * directories of files (recursively, in name order so that runs repeat), as
 * inputs to LLVMFuzzerTestOneInput().  CTest runs it over each corpus as a
 * regression test; a bug makes the target abort, which fails the test.
 *
 *     fuzz_xs_wire_replay fuzz/corpus/fuzz_xs_wire crash-1234
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long inputs;

static int run_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t size = 0, cap = 0, n;
	int r = -1;

	if (!fp) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (size == cap) {
			uint8_t *nb;

			cap = cap ? cap * 2 : 65536;
			nb = realloc(buf, cap);
			if (!nb) {
				fprintf(stderr, "%s: out of memory\n", path);
				goto out;
			}
			buf = nb;
		}
		n = fread(buf + size, 1, cap - size, fp);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "%s: read error\n", path);
		goto out;
	}
	/* Exact size, so that ASan catches reads past the end of the input. */
	{
		uint8_t *copy = malloc(size ? size : 1);

		if (!copy) {
			fprintf(stderr, "%s: out of memory\n", path);
			goto out;
		}
		memcpy(copy, buf, size);
		LLVMFuzzerTestOneInput(copy, size);
		free(copy);
	}
	inputs++;
	r = 0;
out:
	free(buf);
	fclose(fp);
	return r;
}

static int run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, i, r = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(path) + strlen(name) + 2;
		char *sub;

		if (name[0] == '.') {   /* ., .. and hidden files */
			free(names[i]);
			continue;
		}
		sub = malloc(len);
		if (!sub) {
			r = -1;
		} else {
			snprintf(sub, len, "%s/%s", path, name);
			if (run_path(sub) < 0)
				r = -1;
			free(sub);
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	int i, r = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (run_path(argv[i]) < 0)
			r = 1;
	printf("%lu inputs ok\n", inputs);
	return r;
}
