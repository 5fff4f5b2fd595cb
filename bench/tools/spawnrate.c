/*
 * spawnrate: the raw limit of starting processes on this machine, no database.
 * spawnrate PROGRAM N K [MIB]: starts PROGRAM N times with posix_spawn, K at a time,
 * reaping each, and prints processes per second.  With MIB, the parent first touches
 * that much memory (a big controller), and a second figure is printed for fork+exec.
 */
#include <sys/wait.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static pid_t
start(const char *prog, int use_fork)
{
	char *argv[2] = { (char *)prog, NULL };
	pid_t pid;

	if (use_fork) {
		if ((pid = fork()) == 0) {
			execve(prog, argv, environ);
			_exit(127);
		}
		return pid;
	}
	if (posix_spawn(&pid, prog, NULL, NULL, argv, environ) != 0)
		return -1;
	return pid;
}

static double
rate(const char *prog, long n, long k, int use_fork)
{
	long started = 0, done = 0, inflight = 0;
	double t0 = now();
	int st;

	while (done < n) {
		while (inflight < k && started < n) {
			if (start(prog, use_fork) < 0) {
				perror("spawn");
				exit(1);
			}
			started++;
			inflight++;
		}
		if (wait(&st) > 0) {
			done++;
			inflight--;
		}
	}
	return (double)n / (now() - t0);
}

int
main(int argc, char **argv)
{
	long n, k, mib = 0;

	if (argc < 4 || (n = atol(argv[2])) <= 0 || (k = atol(argv[3])) <= 0) {
		fprintf(stderr, "usage: spawnrate PROGRAM N K [MIB]\n");
		return 2;
	}
	if (argc > 4 && (mib = atol(argv[4])) > 0) {
		char *m = malloc((size_t)mib << 20);

		if (m == NULL)
			return 1;
		memset(m, 1, (size_t)mib << 20);
		printf("%.0f %.0f\n", rate(argv[1], n, k, 0), rate(argv[1], n, k, 1));
		free(m);
		return 0;
	}
	printf("%.0f\n", rate(argv[1], n, k, 0));
	return 0;
}
