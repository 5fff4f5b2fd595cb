/*
 * report: seed 001's last worker: the dataset's report (its checks, the comparison with
 * the previous dataset, a few example items), stored and returned as the FINAL.
 */
#include "pipeline.h"

static cJSON *
report(const cJSON *initial)
{
	const char *ds;
	const char *params[1];
	etl_error err;
	etl_conn *c;
	PGresult *res;
	cJSON *out;

	if (pl_begin(initial, "report", &ds, &c) != 0)
		return NULL;
	params[0] = ds;
	res = pl_exec(c, "WITH r AS (SELECT jsonb_build_object('dataset', $1::text, "
	    "'check', (SELECT to_jsonb(x) - 'dataset_id' FROM pipeline.dataset_check x WHERE dataset_id = $1), "
	    "'time_based', (SELECT result FROM pipeline.time_check WHERE dataset_id = $1), "
	    "'examples', (SELECT jsonb_agg(data ORDER BY n) FROM (SELECT n, data FROM pipeline.item "
	    " WHERE dataset_id = $1 ORDER BY n LIMIT 3) e)) AS report), "
	    "ins AS (INSERT INTO pipeline.report (dataset_id, report) SELECT $1, report FROM r "
	    "ON CONFLICT (dataset_id) DO UPDATE SET report = EXCLUDED.report), "
	    "up AS (UPDATE pipeline.dataset SET phase = 'reported' WHERE id = $1) "
	    "SELECT report::text FROM r", 1, params, &err);
	etl_disconnect(c);
	if (res == NULL)
		return etl_fail_task(75, "%s", err.message);
	out = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

ETL_TASK_MAIN(report)
