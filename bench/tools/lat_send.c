/*
 * lat_send: the latency benchmark's sender, connected once as the peers' senders are.
 * lat_send QUEUE N: sends N jobs one by one with etl_send_text, each after the one
 * before completed, and prints, for each, the milliseconds from just before the send
 * call to the first instruction of its task (bench/tasks/stamp.c writes that time,
 * CLOCK_REALTIME, into its log, the job's log_path).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etl_admin.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct timespec pause = { 0, 1000000 }, gap = { 0, 20000000 };
	char id[ETL_ID_LEN];
	etl_error err;
	etl_conn *c;
	PGresult *res;
	long i, n, tries;
	double t0, stamp;
	char line[256];
	int got;

	if (argc != 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: lat_send QUEUE N\n");
		return 2;
	}
	if ((c = etl_connect(getenv("ETL_PG_ENV"), &err)) == NULL) {
		fprintf(stderr, "lat_send: %s\n", err.message);
		return 1;
	}
	for (i = 0; i < n; i++) {
		const char *p[1] = { id };
		FILE *f;

		t0 = now();
		if (etl_send_text(c, argv[1], "{}", NULL, id, &err) != 0) {
			fprintf(stderr, "lat_send: %s\n", err.message);
			return 1;
		}
		/* bounded: 10 s a job */
		for (tries = 0;; tries++) {
			res = PQexecParams(etl_conn_pg(c), "SELECT log_path FROM etl.job WHERE id = $1 "
			    "AND state = 'completed'", 1, NULL, p, NULL, NULL, 0);
			if (PQresultStatus(res) != PGRES_TUPLES_OK) {
				fprintf(stderr, "lat_send: %s", PQerrorMessage(etl_conn_pg(c)));
				return 1;
			}
			if (PQntuples(res) == 1)
				break;
			PQclear(res);
			if (tries > 10000) {
				fprintf(stderr, "lat_send: job %s did not complete\n", id);
				return 1;
			}
			nanosleep(&pause, NULL);
		}
		/* the first line of the task's own: the controller's run marker comes first */
		got = 0;
		if ((f = fopen(PQgetvalue(res, 0, 0), "r")) != NULL) {
			while (!got && fgets(line, sizeof(line), f) != NULL)
				if (strncmp(line, "--- etl: ", 9) != 0)
					got = sscanf(line, "%lf", &stamp) == 1;
			fclose(f);
		}
		if (!got) {
			fprintf(stderr, "lat_send: no stamp in %s\n", PQgetvalue(res, 0, 0));
			return 1;
		}
		PQclear(res);
		printf("%.3f\n", (stamp - t0) * 1000);
		nanosleep(&gap, NULL);
	}
	etl_disconnect(c);
	return 0;
}
