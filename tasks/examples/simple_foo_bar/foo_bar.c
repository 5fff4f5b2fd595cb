/*
 * foo_bar: DAMA's simple_foo_bar worker in C.  INITIAL {"msg": "foo"} -> FINAL
 * {"msg": "bar"}; any other msg is bad input.
 */
#include <string.h>

#include "etl.h"

static cJSON *
foo_bar(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "msg");
	cJSON *out;

	if (!cJSON_IsString(msg) || strcmp(msg->valuestring, "foo") != 0)
		return etl_fail_task(65, "foo_bar wants {\"msg\": \"foo\"}");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "msg", "bar");
	return out;
}

ETL_TASK_MAIN(foo_bar)
