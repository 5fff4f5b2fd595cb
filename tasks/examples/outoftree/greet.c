/*
 * greet: a task built out of tree: `cc greet.c $(pkg-config --cflags --libs libetl)`.
 * INITIAL {"who": "x"} -> FINAL {"greeting": "greetings, x"}.
 */
#include <stdio.h>

#include <etl.h>

static cJSON *
greet(const cJSON *initial)
{
	const cJSON *who = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(initial, "payload"), "who");
	char buf[256];
	cJSON *out;

	if (!cJSON_IsString(who))
		return etl_fail_task(65, "greet wants {\"who\": \"...\"}");
	snprintf(buf, sizeof(buf), "greetings, %s", who->valuestring);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "greeting", buf);
	return out;
}

ETL_TASK_MAIN(greet)
