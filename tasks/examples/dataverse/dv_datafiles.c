/*
 * dv_datafiles: seed 003's CreateDatafilesInDataverseCallbackJob, batch 1's on_success
 * callback.  Reads what every dv_file job of the batch made (storage identifier, name,
 * folder, MIME type, MD5) and, in one transaction, makes batch 2 (on_success and
 * on_discard: dv_cleanup) with one dv_register job per per_request files, and closes it.
 * Once: a retry finds the batch it committed.  FINAL {"batch_id", "requests", "files"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

static int
sql(etl_conn *c, const char *q)
{
	PGresult *r = PQexec(etl_conn_pg(c), q);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok ? 0 : -1;
}

static cJSON *
dv_datafiles(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(p, "batch_id");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(data, "per_request"), *f;
	char batch[ETL_ID_LEN], id[ETL_ID_LEN];
	const char *params[1];
	int per = cJSON_IsNumber(pr) && pr->valueint > 0 ? pr->valueint : 50, nreq = 0, nf;
	etl_send_opts o;
	etl_error err;
	etl_conn *qc;
	PGresult *res;
	cJSON *files, *d2, *job = NULL, *chunk = NULL, *out;

	if (!cJSON_IsString(bid) || !cJSON_IsObject(data))
		return etl_fail_task(65, "dv_datafiles is batch 1's callback: it wants "
		    "{\"batch_id\", \"data\"}");
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	params[0] = bid->valuestring;
	res = PQexecParams(etl_conn_pg(qc), "SELECT id, jobs FROM etl.batch WHERE "
	    "data->>'files_batch' = $1", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "batch_id", PQgetvalue(res, 0, 0));
		cJSON_AddNumberToObject(out, "requests", atof(PQgetvalue(res, 0, 1)));
		PQclear(res);
		return out;
	}
	PQclear(res);
	res = PQexecParams(etl_conn_pg(qc), "SELECT coalesce(jsonb_agg(output "
	    "ORDER BY output->>'storageIdentifier'), '[]')::text FROM etl.job "
	    "WHERE batch_id = $1::uuid AND state = 'completed'", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		out = etl_fail_task(75, "%s", PQerrorMessage(etl_conn_pg(qc)));
		PQclear(res);
		return out;
	}
	files = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	nf = cJSON_GetArraySize(files);
	d2 = cJSON_Duplicate(data, 1);
	cJSON_ReplaceItemInObjectCaseSensitive(d2, "stage", cJSON_CreateString("register"));
	cJSON_AddStringToObject(d2, "files_batch", bid->valuestring);
	if (sql(qc, "BEGIN") != 0 ||
	    etl_batch_new(qc, "dv_cleanup", "dv_cleanup", NULL, d2, batch, &err) != 0) {
		cJSON_Delete(d2);
		cJSON_Delete(files);
		(void)sql(qc, "ROLLBACK");
		return etl_fail_task(75, "batch: %s", err.message);
	}
	cJSON_Delete(d2);
	memset(&o, 0, sizeof(o));
	o.batch_id = batch;
	for (f = files ? files->child : NULL; ; f = f->next) {
		if (chunk != NULL && (f == NULL || cJSON_GetArraySize(chunk) == per)) {
			if (etl_send(qc, "dv_register", job, &o, id, &err) < 0) {
				cJSON_Delete(job);
				cJSON_Delete(files);
				(void)sql(qc, "ROLLBACK");
				return etl_fail_task(75, "%s", err.message);
			}
			cJSON_Delete(job);
			chunk = NULL;
			nreq++;
		}
		if (f == NULL)
			break;
		if (chunk == NULL) {
			job = cJSON_CreateObject();
			cJSON_AddItemToObject(job, "doi", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(data, "doi"), 1));
			cJSON_AddItemToObject(job, "dataverse", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(data, "dataverse"), 1));
			cJSON_AddItemToObject(job, "key_file", cJSON_Duplicate(
			    cJSON_GetObjectItemCaseSensitive(data, "key_file"), 1));
			chunk = cJSON_AddArrayToObject(job, "files");
		}
		cJSON_AddItemToArray(chunk, cJSON_Duplicate(f, 1));
	}
	cJSON_Delete(files);
	if (etl_batch_close(qc, batch, &err) != 0 || sql(qc, "COMMIT") != 0) {
		(void)sql(qc, "ROLLBACK");
		return etl_fail_task(75, "closing batch %s: %s", batch, err.message);
	}
	printf("batch %s: %d files in %d requests\n", batch, nf, nreq);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "batch_id", batch);
	cJSON_AddNumberToObject(out, "requests", nreq);
	cJSON_AddNumberToObject(out, "files", nf);
	return out;
}

ETL_TASK_MAIN(dv_datafiles)
