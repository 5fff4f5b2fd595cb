/*
 * bulk_send: the enqueue benchmark's libetl side.  bulk_send QUEUE N: builds N small
 * JSON payloads, sends them with one etl_send_many call on $ETL_PG_ENV, and prints the
 * seconds the call took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "etl_admin.h"

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	etl_error err;
	etl_conn *c;
	char **texts;
	long i, n, sent;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: bulk_send QUEUE N\n");
		return 2;
	}
	if ((c = etl_connect(getenv("ETL_PG_ENV"), &err)) == NULL) {
		fprintf(stderr, "bulk_send: %s\n", err.message);
		return 1;
	}
	/* one block for all the texts: n slots of 32 bytes */
	if ((texts = calloc((size_t)n, sizeof(*texts))) == NULL ||
	    (texts[0] = malloc((size_t)n * 32)) == NULL) {
		fprintf(stderr, "bulk_send: out of memory\n");
		free(texts);
		return 1;
	}
	for (i = 0; i < n; i++) {
		texts[i] = texts[0] + i * 32;
		snprintf(texts[i], 32, "{\"n\": %ld}", i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sent = etl_send_many(c, argv[1], (const char *const *)texts, (size_t)n, NULL, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (sent != n) {
		fprintf(stderr, "bulk_send: %s\n", sent < 0 ? err.message : "short send");
		return 1;
	}
	printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	free(texts[0]);
	free(texts);
	etl_disconnect(c);
	return 0;
}
