/*
 * qtool: drives libetl's queue calls directly, for the end-to-end tests.
 *   qtool drain LIMIT            claim LIMIT at a time and complete, until none is left;
 *                                print each claimed id
 *   qtool claim [QUEUE]          claim one job, print its id (exit 3 if none)
 *   qtool fail ID [no-retry]     fail a claimed job
 *   qtool complete ID            complete a claimed job
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etl_admin.h"

static void
die(const etl_error *err)
{
	fprintf(stderr, "qtool: %s\n", err->message);
	exit(1);
}

int
main(int argc, char **argv)
{
	etl_error err;
	etl_conn *c;
	etl_job **jobs;
	long n, i;

	if (argc < 2) {
		fprintf(stderr, "usage: qtool drain LIMIT | claim [QUEUE] | fail ID [no-retry] | "
		    "complete ID\n");
		return 2;
	}
	if ((c = etl_connect(NULL, &err)) == NULL)
		die(&err);
	if (strcmp(argv[1], "drain") == 0 && argc == 3) {
		long limit = atol(argv[2]), empty = 0;
		char host[64];

		snprintf(host, sizeof(host), "qtool-%d", (int)getpid());
		while (empty < 3) {
			const char **ids;

			if ((n = etl_claim(c, NULL, 0, limit, host, host, &jobs, &err)) < 0)
				die(&err);
			if (n == 0) {
				empty++;
				usleep(20000);
				continue;
			}
			empty = 0;
			ids = calloc((size_t)n, sizeof(*ids));
			for (i = 0; i < n; i++) {
				printf("%s\n", jobs[i]->id);
				ids[i] = jobs[i]->id;
			}
			if (etl_complete(c, ids, NULL, (size_t)n, &err) != n)
				die(&err);
			free(ids);
			etl_jobs_free(jobs, (size_t)n);
		}
	} else if (strcmp(argv[1], "claim") == 0) {
		const char *q[1] = { argc > 2 ? argv[2] : NULL };

		if ((n = etl_claim(c, argc > 2 ? q : NULL, argc > 2, 1, "qtool", "qtool", &jobs,
		    &err)) < 0)
			die(&err);
		if (n == 0) {
			etl_disconnect(c);
			return 3;
		}
		printf("%s\n", jobs[0]->id);
		etl_jobs_free(jobs, (size_t)n);
	} else if (strcmp(argv[1], "fail") == 0 && argc >= 3) {
		const char *ids[1] = { argv[2] }, *outs[1] = { "{\"message\":\"qtool fail\"}" };
		int nr = argc > 3 && strcmp(argv[3], "no-retry") == 0;

		if (etl_fail(c, ids, outs, &nr, 1, &err) != 1)
			die(&err);
	} else if (strcmp(argv[1], "complete") == 0 && argc == 3) {
		const char *ids[1] = { argv[2] };

		if (etl_complete(c, ids, NULL, 1, &err) != 1)
			die(&err);
	} else {
		fprintf(stderr, "qtool: bad usage\n");
		return 2;
	}
	etl_disconnect(c);
	return 0;
}
