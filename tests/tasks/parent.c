/*
 * parent: a libetl task that runs three sub-tasks one after the other in queue
 * "child" (keys c1, c2, c3), each with payload {"seconds": S, "n": i}, and returns
 * {"children": [outputs]}.  For the sub-task tests.
 */
#include <stdio.h>

#include "etl.h"

static cJSON *
parent(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "seconds");
	cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "children");
	char key[16];
	int i;

	for (i = 1; i <= 3; i++) {
		cJSON *pl = cJSON_CreateObject(), *r;

		cJSON_AddNumberToObject(pl, "seconds", cJSON_IsNumber(s) ? s->valuedouble : 1);
		cJSON_AddNumberToObject(pl, "n", i);
		snprintf(key, sizeof(key), "c%d", i);
		printf("sub-task %s\n", key);
		fflush(stdout);
		r = etl_subtask("child", pl, key);
		cJSON_Delete(pl);
		if (r == NULL) {
			cJSON_Delete(out);
			return etl_fail_task(75, "sub-task %s: %s", key,
			    etl_context_error(etl_context_current())->message);
		}
		cJSON_AddItemToArray(arr, r);
	}
	return out;
}

ETL_TASK_MAIN(parent)
