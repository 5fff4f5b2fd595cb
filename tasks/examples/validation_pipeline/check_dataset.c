/*
 * check_dataset: seed 001's dataset-level check, the on_success callback of extract's
 * batch: it runs once, after every item was checked.  Checks that all items are ok,
 * records the check, and sends time_based.
 */
#include "pipeline.h"

static cJSON *
check_dataset(const cJSON *initial)
{
	const char *ds;
	const char *params[1];
	etl_error err;
	etl_conn *c;
	PGresult *res;
	cJSON *out;
	int items, okn;

	if (pl_begin(initial, "check_dataset", &ds, &c) != 0)
		return NULL;
	params[0] = ds;
	res = pl_exec(c, "WITH s AS (SELECT count(*) AS items, count(*) FILTER (WHERE state = 'ok') "
	    "AS ok FROM pipeline.item WHERE dataset_id = $1), "
	    "ins AS (INSERT INTO pipeline.dataset_check (dataset_id, items, ok) "
	    "SELECT $1, items, ok FROM s ON CONFLICT (dataset_id) DO NOTHING), "
	    "up AS (UPDATE pipeline.dataset SET phase = 'checked' WHERE id = $1) "
	    "SELECT items, ok FROM s", 1, params, &err);
	etl_disconnect(c);
	if (res == NULL)
		return etl_fail_task(75, "%s", err.message);
	items = atoi(PQgetvalue(res, 0, 0));
	okn = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	if (okn != items)
		return etl_fail_task(75, "dataset %s: %d of %d items checked", ds, okn, items);
	if (pl_next("time_based", ds, &err) != 0)
		return etl_fail_task(75, "%s", err.message);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "dataset", ds);
	cJSON_AddNumberToObject(out, "items", items);
	cJSON_AddNumberToObject(out, "ok", okn);
	return out;
}

ETL_TASK_MAIN(check_dataset)
