/*
 * connrate: the raw rate of PostgreSQL connections on this machine, the limit of a
 * detached libetl task (each opens its own).  connrate CONNINFO N K: opens and closes
 * N connections (PQconnectdb + PQfinish), K loops at once (processes), and prints
 * connections per second.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	long n, k, i, j;
	double t0;
	int st, bad = 0;

	if (argc != 4 || (n = atol(argv[2])) <= 0 || (k = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: connrate CONNINFO N K\n");
		return 2;
	}
	t0 = now();
	for (j = 0; j < k; j++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			for (i = j; i < n; i += k) {
				PGconn *c = PQconnectdb(argv[1]);

				if (PQstatus(c) != CONNECTION_OK) {
					fprintf(stderr, "connrate: %s", PQerrorMessage(c));
					_exit(1);
				}
				PQfinish(c);
			}
			_exit(0);
		}
	}
	while (wait(&st) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	if (bad)
		return 1;
	printf("%.0f\n", (double)n / (now() - t0));
	return 0;
}
