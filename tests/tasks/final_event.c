/*
 * final_event: a libetl task that returns a FINAL event rather than a payload, as DAMA's
 * tasks did: {"type": T, "payload": {"as": "is"}} with T by the payload's "as": "own"
 * (final_event:FINAL), "bare" (:FINAL) or "plain" (a payload with a type member that is
 * not a FINAL event: wrapped as any payload).  For the tests.
 */
#include <string.h>

#include "etl.h"

static cJSON *
final_event(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *as = cJSON_GetObjectItemCaseSensitive(p, "as");
	const char *how = cJSON_IsString(as) ? as->valuestring : "own";
	cJSON *r = cJSON_CreateObject(), *pl = cJSON_CreateObject();

	cJSON_AddStringToObject(pl, "as", "is");
	if (strcmp(how, "plain") == 0) {
		cJSON_AddStringToObject(r, "type", "a kind of thing");
		cJSON_AddItemToObject(r, "payload", pl);
		return r;
	}
	cJSON_AddStringToObject(r, "type", strcmp(how, "bare") == 0 ? ":FINAL" :
	    "final_event:FINAL");
	cJSON_AddItemToObject(r, "payload", pl);
	return r;
}

ETL_TASK_MAIN(final_event)
