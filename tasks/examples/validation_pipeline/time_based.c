/*
 * time_based: seed 001's time-based checks: compares the dataset with its previous one
 * (item counts and mean value), records the result, and sends report.
 */
#include "pipeline.h"

static cJSON *
time_based(const cJSON *initial)
{
	const char *ds;
	const char *params[1];
	etl_error err;
	etl_conn *c;
	PGresult *res;
	cJSON *out;

	if (pl_begin(initial, "time_based", &ds, &c) != 0)
		return NULL;
	params[0] = ds;
	res = pl_exec(c, "WITH d AS (SELECT id, previous FROM pipeline.dataset WHERE id = $1), "
	    "r AS (SELECT jsonb_build_object('items', (SELECT count(*) FROM pipeline.item WHERE "
	    "dataset_id = d.id), 'previous_items', (SELECT count(*) FROM pipeline.item WHERE "
	    "dataset_id = d.previous), 'mean', (SELECT avg((data->>'value')::int) FROM "
	    "pipeline.item WHERE dataset_id = d.id)) AS result, d.previous FROM d), "
	    "ins AS (INSERT INTO pipeline.time_check (dataset_id, previous, result) "
	    "SELECT $1, previous, result FROM r ON CONFLICT (dataset_id) DO NOTHING) "
	    "SELECT result::text FROM r", 1, params, &err);
	etl_disconnect(c);
	if (res == NULL)
		return etl_fail_task(75, "%s", err.message);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return etl_fail_task(65, "no dataset %s", ds);
	}
	out = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (pl_next("report", ds, &err) != 0) {
		cJSON_Delete(out);
		return etl_fail_task(75, "%s", err.message);
	}
	return out;
}

ETL_TASK_MAIN(time_based)
