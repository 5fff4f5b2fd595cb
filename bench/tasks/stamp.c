/*
 * stamp: the latency benchmark's task.  Its first instruction reads CLOCK_REALTIME and
 * prints it (seconds.nanoseconds) to its log, then it exits 0.
 */
#include <stdio.h>
#include <time.h>

int
main(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	printf("%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
	return 0;
}
