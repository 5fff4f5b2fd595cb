/*
 * chaos_task: the task of the chaos suite.  Records :RUN_START (attempt, pid), works
 * "ms" milliseconds (stopping when cancelled), records :RUN_END, returns {"ok": true}.
 * With {"fail": true} it exits 1 at once, every time (a crash loop).
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "etl.h"

static cJSON *
chaos_task(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(p, "ms");
	const char *att = getenv("ETL_ATTEMPT");
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	double left = cJSON_IsNumber(ms) ? ms->valuedouble : 50;
	cJSON *ev, *out;

	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "fail")))
		exit(1);
	ev = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev, "attempt", att ? atoi(att) : 0);
	cJSON_AddNumberToObject(ev, "pid", (double)getpid());
	if (etl_dispatch(":RUN_START", ev, NULL) < 0) {
		cJSON_Delete(ev);
		return etl_fail_task(75, "%s", etl_context_error(etl_context_current())->message);
	}
	while (left > 0 && !etl_cancelled()) {
		nanosleep(&tick, NULL);
		left -= 5;
	}
	if (etl_dispatch(":RUN_END", ev, NULL) < 0) {
		cJSON_Delete(ev);
		return etl_fail_task(75, "%s", etl_context_error(etl_context_current())->message);
	}
	cJSON_Delete(ev);
	out = cJSON_CreateObject();
	cJSON_AddTrueToObject(out, "ok");
	return out;
}

ETL_TASK_MAIN(chaos_task)
