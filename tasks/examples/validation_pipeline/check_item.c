/*
 * check_item: seed 001's per-item check.  Payload {"dataset", "item"}: runs the item's
 * field-level checks (here: its value is in range) and marks it checked.  Many run at
 * once, on any controller.
 */
#include "pipeline.h"

static cJSON *
check_item(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(p, "item");
	const char *ds = pl_arg(initial, "dataset");
	const char *params[2];
	char nbuf[16];
	etl_error err;
	etl_conn *c;
	PGresult *res;
	cJSON *out;
	int okv;

	if (ds == NULL || !cJSON_IsNumber(it))
		return etl_fail_task(65, "check_item wants {\"dataset\": ID, \"item\": N}");
	if ((c = pl_connect(&err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	snprintf(nbuf, sizeof(nbuf), "%d", (int)it->valuedouble);
	params[0] = ds;
	params[1] = nbuf;
	res = pl_exec(c, "UPDATE pipeline.item SET state = 'ok', checks = checks + 1, "
	    "checked_on = clock_timestamp() WHERE dataset_id = $1 AND n = $2::int "
	    "RETURNING (data->>'value')::int BETWEEN 0 AND 96", 2, params, &err);
	etl_disconnect(c);
	if (res == NULL)
		return etl_fail_task(75, "%s", err.message);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return etl_fail_task(65, "no item %s of dataset %s", nbuf, ds);
	}
	okv = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "item", it->valuedouble);
	cJSON_AddBoolToObject(out, "ok", okv);
	return out;
}

ETL_TASK_MAIN(check_item)
