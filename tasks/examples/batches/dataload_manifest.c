/*
 * dataload_manifest: seed 003's on_success callback ("update dataverse"): reads the
 * outputs of every file_copy job of its batch and writes one manifest, DEST/manifest.json
 * (files, sizes, MD5s), through a temporary file and a rename.  FINAL {"manifest", "files"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etl.h"

static cJSON *
manifest(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(p, "batch_id");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
	const cJSON *dest = cJSON_GetObjectItemCaseSensitive(data, "dest");
	const char *params[1];
	char path[4096], tmp[4200], *text;
	etl_error err;
	etl_conn *qc;
	PGresult *res;
	cJSON *files, *out;
	FILE *f;
	int nfiles;

	if (!cJSON_IsString(bid) || !cJSON_IsString(dest))
		return etl_fail_task(65, "dataload_manifest is a batch callback: it wants "
		    "{\"batch_id\", \"data\": {\"dest\"}}");
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	params[0] = bid->valuestring;
	res = PQexecParams(etl_conn_pg(qc), "SELECT coalesce(jsonb_agg(jsonb_build_object("
	    "'file', output->>'dest', 'size', (output->>'size')::bigint, 'md5', output->>'md5') "
	    "ORDER BY output->>'dest'), '[]')::text FROM etl.job "
	    "WHERE batch_id = $1::uuid AND state = 'completed'", 1, NULL, params, NULL, NULL, 0);
	if (etl_result_ok(res, etl_conn_pg(qc), &err) != 0) {
		PQclear(res);
		return etl_fail_task(75, "%s", err.message);
	}
	files = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "batch_id", bid->valuestring);
	cJSON_AddItemToObject(out, "files", files);
	text = cJSON_Print(out);
	snprintf(path, sizeof(path), "%s/manifest.json", dest->valuestring);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "we")) == NULL || fputs(text, f) == EOF || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		free(text);
		cJSON_Delete(out);
		return etl_fail_task(75, "cannot write %s", path);
	}
	free(text);
	nfiles = cJSON_GetArraySize(files);
	printf("wrote %s: %d files\n", path, nfiles);
	cJSON_DeleteItemFromObject(out, "files");
	cJSON_AddStringToObject(out, "manifest", path);
	cJSON_AddNumberToObject(out, "files", nfiles);
	return out;
}

ETL_TASK_MAIN(manifest)
