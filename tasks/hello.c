/*
 * hello: the smallest real task.  INITIAL {"name": "x"} -> FINAL {"greeting": "hello, x"},
 * with a progress event on the way.  A payload without a string "name" is bad input
 * (exit 65, no retry).
 */
#include <stdio.h>

#include "etl.h"

static cJSON *
hello(const cJSON *initial)
{
	const cJSON *payload = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(payload, "name");
	char greeting[512];
	cJSON *out;

	if (!cJSON_IsString(name))
		return etl_fail_task(65, "hello wants {\"name\": \"...\"}");
	etl_progress(0, 1, "greeting");
	snprintf(greeting, sizeof(greeting), "hello, %s", name->valuestring);
	printf("%s\n", greeting);
	etl_progress(1, 1, "greeted");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "greeting", greeting);
	return out;
}

ETL_TASK_MAIN(hello)
