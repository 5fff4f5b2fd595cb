/*
 * sleeper: a libetl task for the tests.  Payload {"seconds": S, "fork": bool,
 * "ignore_term": bool, "at": 0..1}: records progress 0 (then AT when given), optionally forks a grandchild that sleeps
 * as long, sleeps S seconds (stopping early when cancelled unless ignore_term), and
 * returns {"slept": S}.
 */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "etl.h"

static cJSON *
sleeper(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "seconds");
	int ignore = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "ignore_term"));
	double secs = cJSON_IsNumber(s) ? s->valuedouble : 1.0;
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	double slept = 0;
	cJSON *out;

	if (ignore)
		signal(SIGTERM, SIG_IGN);
	/* progress is rate-limited: one record at the start */
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "at")))
		etl_progress(cJSON_GetObjectItemCaseSensitive(p, "at")->valuedouble * 100, 100,
		    "working");
	else
		etl_progress(0, 1, "sleeping");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "fork"))) {
		pid_t pid = fork();
		if (pid == 0) {
			/* the grandchild: same process group, sleeps on its own */
			double g = 0;
			while (g < secs) {
				nanosleep(&tick, NULL);
				g += 0.02;
			}
			_exit(0);
		}
		printf("forked grandchild %d\n", (int)pid);
		fflush(stdout);
	}
	while (slept < secs) {
		if (!ignore && etl_cancelled())
			return etl_fail_task(75, "cancelled after %.1f s", slept);
		nanosleep(&tick, NULL);
		slept += 0.02;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "slept", secs);
	return out;
}

ETL_TASK_MAIN(sleeper)
