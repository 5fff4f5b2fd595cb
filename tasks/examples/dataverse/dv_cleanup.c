/*
 * dv_cleanup: seed 003's CleanupCallbackJob: batch 2's on_success and on_discard
 * callback, and batch 1's on_discard.  A load that ended well leaves every copy (each
 * is a file of the dataset now); a discarded one removes the copies Dataverse did not
 * take (none were sent when batch 1 was discarded), so the file store keeps no orphan.
 * Callbacks fire once per batch, so this runs once per load; it acts once the batch has
 * nothing pending (a discard fires at the first failure, while others may still copy).
 * FINAL {"stage", "outcome": "success"|"discarded", "registered", "removed"}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etl.h"

static cJSON *
query(etl_conn *qc, const char *sql, const char *arg)
{
	const char *params[1] = { arg };
	PGresult *res = PQexecParams(etl_conn_pg(qc), sql, 1, NULL, params, NULL, NULL, 0);
	cJSON *j = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		j = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	return j;
}

static cJSON *
dv_cleanup(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *bid = cJSON_GetObjectItemCaseSensitive(p, "batch_id");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(p, "data");
	const cJSON *stage = cJSON_GetObjectItemCaseSensitive(data, "stage");
	const cJSON *fb = cJSON_GetObjectItemCaseSensitive(data, "files_batch"), *f, *r;
	int copy_stage, discarded, removed = 0, registered = 0, pending, tries;
	cJSON *b, *copies, *reg, *out;
	etl_error err;
	etl_conn *qc;

	if (!cJSON_IsString(bid) || !cJSON_IsString(stage))
		return etl_fail_task(65, "dv_cleanup is a batch callback: it wants {\"batch_id\", "
		    "\"data\": {\"stage\"}}");
	copy_stage = strcmp(stage->valuestring, "copy") == 0;
	if (!copy_stage && !cJSON_IsString(fb))
		return etl_fail_task(65, "dv_cleanup: the register stage names its files_batch");
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	/* a discard fires at the first job failed for good: the others may still run (and
	 * copy); wait until none is pending, so no copy is made after this looked */
	for (tries = 0; ; tries++) {
		b = query(qc, "SELECT json_build_object('discarded', failed + cancelled > 0, "
		    "'pending', pending) FROM etl.batch WHERE id = $1::uuid", bid->valuestring);
		if (b == NULL)
			return etl_fail_task(75, "batch %s cannot be read", bid->valuestring);
		discarded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "discarded"));
		pending = cJSON_GetObjectItemCaseSensitive(b, "pending")->valueint;
		cJSON_Delete(b);
		if (pending == 0)
			break;
		if (tries == 3000)
			return etl_fail_task(75, "batch %s still has %d jobs pending", bid->valuestring,
			    pending);
		if (tries == 0)
			etl_progress(0, 1, "waiting for the batch's last jobs");
		usleep(200000);
	}
	/* the copies made, and the storage identifiers Dataverse took */
	copies = query(qc, "SELECT coalesce(json_agg(json_build_object('sid', "
	    "output->>'storageIdentifier', 'dest', output->>'dest')), '[]') FROM etl.job "
	    "WHERE batch_id = $1::uuid AND state = 'completed'",
	    copy_stage ? bid->valuestring : fb->valuestring);
	reg = copy_stage ? cJSON_CreateArray() : query(qc, "SELECT coalesce(json_agg("
	    "f->>'storageIdentifier'), '[]') FROM etl.job j, jsonb_array_elements("
	    "j.output->'files') f WHERE j.batch_id = $1::uuid AND j.state = 'completed'",
	    bid->valuestring);
	if (copies == NULL || reg == NULL) {
		cJSON_Delete(copies);
		cJSON_Delete(reg);
		return etl_fail_task(75, "the batch's jobs cannot be read");
	}
	registered = cJSON_GetArraySize(reg);
	if (discarded) {
		cJSON_ArrayForEach(f, copies) {
			const cJSON *sid = cJSON_GetObjectItemCaseSensitive(f, "sid");
			const cJSON *dest = cJSON_GetObjectItemCaseSensitive(f, "dest");
			char taken[160];
			int keep = 0;

			if (!cJSON_IsString(sid) || !cJSON_IsString(dest))
				continue;
			snprintf(taken, sizeof(taken), "file://%s", sid->valuestring);
			cJSON_ArrayForEach(r, reg)
				if (cJSON_IsString(r) && strcmp(r->valuestring, taken) == 0)
					keep = 1;
			if (keep)
				continue;
			if (unlink(dest->valuestring) == 0 || errno == ENOENT)
				removed++;
			else
				fprintf(stderr, "dv_cleanup: %s: %s\n", dest->valuestring, strerror(errno));
		}
	}
	printf("load %s at stage %s: %d registered, %d copies removed\n",
	    discarded ? "discarded" : "done", stage->valuestring, registered, removed);
	cJSON_Delete(copies);
	cJSON_Delete(reg);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "stage", stage->valuestring);
	cJSON_AddStringToObject(out, "outcome", discarded ? "discarded" : "success");
	cJSON_AddNumberToObject(out, "registered", registered);
	cJSON_AddNumberToObject(out, "removed", removed);
	return out;
}

ETL_TASK_MAIN(dv_cleanup)
