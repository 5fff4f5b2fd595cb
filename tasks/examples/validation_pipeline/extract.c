/*
 * extract: seed 001's first worker.  Payload {"dataset": ID, "n": N, "previous": ID}:
 * creates the dataset and its N items, then fans out one check_item job per item in a
 * batch whose on_success is check_dataset, so the dataset check runs once, after the
 * last item.  A retry finds the batch already made and sends nothing twice.
 */
#include "pipeline.h"

static cJSON *
extract(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *nj = cJSON_GetObjectItemCaseSensitive(p, "n");
	const char *ds = pl_arg(initial, "dataset"), *prev = pl_arg(initial, "previous");
	char nbuf[16], batch[ETL_ID_LEN], **texts;
	const char *params[3];
	etl_send_opts o;
	etl_error err;
	etl_conn *c, *qc;
	PGresult *res;
	cJSON *out, *data;
	long i, n = cJSON_IsNumber(nj) ? (long)nj->valuedouble : 0;

	if (ds == NULL || n <= 0 || n > 1000000)
		return etl_fail_task(65, "extract wants {\"dataset\": ID, \"n\": 1..1000000}");
	if ((c = pl_connect(&err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	PQclear(PQexec(etl_conn_pg(c), "SELECT pg_advisory_lock(hashtext('pipeline schema'))"));
	PQclear(PQexec(etl_conn_pg(c), PIPELINE_SCHEMA));
	PQclear(PQexec(etl_conn_pg(c), "SELECT pg_advisory_unlock(hashtext('pipeline schema'))"));
	snprintf(nbuf, sizeof(nbuf), "%ld", n);
	params[0] = ds;
	params[1] = nbuf;
	params[2] = prev;
	res = pl_exec(c, "WITH d AS (INSERT INTO pipeline.dataset (id, phase, n, previous) "
	    "VALUES ($1, 'extracted', $2::int, $3) ON CONFLICT (id) DO NOTHING), "
	    "i AS (INSERT INTO pipeline.item (dataset_id, n, data) "
	    "SELECT $1, g, jsonb_build_object('value', g % 97) FROM generate_series(1, $2::int) g "
	    "ON CONFLICT DO NOTHING) "
	    "SELECT (SELECT batch_id::text FROM pipeline.dataset WHERE id = $1)", 3, params, &err);
	if (res == NULL) {
		etl_disconnect(c);
		return etl_fail_task(75, "%s", err.message);
	}
	if (!PQgetisnull(res, 0, 0)) {
		snprintf(batch, sizeof(batch), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		etl_disconnect(c);
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "dataset", ds);
		cJSON_AddStringToObject(out, "batch_id", batch);
		cJSON_AddBoolToObject(out, "already_sent", 1);
		return out;
	}
	PQclear(res);
	etl_progress(1, 3, "items extracted");
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL) {
		etl_disconnect(c);
		return etl_fail_task(75, "%s", err.message);
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "dataset", ds);
	if (etl_batch_new(qc, "check_dataset", NULL, NULL, data, batch, &err) != 0) {
		cJSON_Delete(data);
		etl_disconnect(c);
		return etl_fail_task(err.code == ETL_ENOTFOUND ? 65 : 75, "%s", err.message);
	}
	cJSON_Delete(data);
	texts = calloc((size_t)n, sizeof(*texts));
	for (i = 0; i < n; i++) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "dataset", ds);
		cJSON_AddNumberToObject(j, "item", (double)(i + 1));
		texts[i] = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
	}
	memset(&o, 0, sizeof(o));
	o.batch_id = batch;
	if (etl_send_many(qc, "check_item", (const char *const *)texts, (size_t)n, &o, &err) < 0 ||
	    etl_batch_close(qc, batch, &err) != 0) {
		for (i = 0; i < n; i++)
			free(texts[i]);
		free(texts);
		etl_disconnect(c);
		return etl_fail_task(75, "%s", err.message);
	}
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	params[1] = batch;
	PQclear(pl_exec(c, "UPDATE pipeline.dataset SET batch_id = $2::uuid WHERE id = $1", 2,
	    params, &err));
	etl_disconnect(c);
	etl_progress(3, 3, "checks sent");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "dataset", ds);
	cJSON_AddNumberToObject(out, "items", (double)n);
	cJSON_AddStringToObject(out, "batch_id", batch);
	return out;
}

ETL_TASK_MAIN(extract)
