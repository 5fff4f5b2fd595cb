/*
 * dataset_manager: seed 000's single worker for a dataset's state changes.  A dataset
 * (schema dsm of the job's pg_env) moves created -> updated -> finalized, or to error
 * keeping the status and step it failed at, so that a retry resumes there.  The steps
 * depend on the status and, for an update, on current_update ({"data": true} reloads,
 * {"schema": true} re-analyzes, {} is metadata only).  Several steps run in one process,
 * each with its own progress; a short journal of meaningful events ends in finalize-end.
 * Payload {"dataset": ID, "create": true, "fail_once_at": STEP (a test hook)}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

#define DSM_SCHEMA \
	"CREATE SCHEMA IF NOT EXISTS dsm; " \
	"CREATE TABLE IF NOT EXISTS dsm.dataset (id text PRIMARY KEY, status text NOT NULL " \
	"  CHECK (status IN ('created', 'updated', 'finalized', 'error')), current_update jsonb, " \
	"  error jsonb, failed_once text[] NOT NULL DEFAULT '{}', steps_done int NOT NULL DEFAULT 0, " \
	"  updated_on timestamptz NOT NULL DEFAULT now()); " \
	"CREATE TABLE IF NOT EXISTS dsm.journal (id bigserial PRIMARY KEY, dataset_id text NOT NULL, " \
	"  event text NOT NULL, data jsonb, at timestamptz NOT NULL DEFAULT clock_timestamp())"

static const char *const all_steps[] = { "load", "analyze", "index", "finalize", NULL };

struct ds {
	etl_conn	*c;
	const char	*id;
	char		 status[16];	/* the status whose plan runs */
	cJSON		*update;	/* current_update */
	int		 from;		/* resume at this step of the plan */
};

static PGresult *
x(struct ds *d, const char *sql, int n, const char *const *p, char *why, size_t whysz)
{
	PGresult *res = PQexecParams(etl_conn_pg(d->c), sql, n, NULL, p, NULL, NULL, 0);
	etl_error err;

	if (etl_result_ok(res, etl_conn_pg(d->c), &err) != 0) {
		snprintf(why, whysz, "%s", err.message);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* A line in the dataset's journal (meaningful events only). */
static void
journal(struct ds *d, const char *event, const cJSON *data)
{
	char *t = data ? cJSON_PrintUnformatted(data) : NULL, why[256];
	const char *p[3] = { d->id, event, t };

	PQclear(x(d, "INSERT INTO dsm.journal (dataset_id, event, data) VALUES ($1, $2, $3::jsonb)",
	    3, p, why, sizeof(why)));
	free(t);
	(void)etl_dispatch(":journal", data, NULL);
}

/* The steps for status (and an update's current_update), into plan; their count. */
static int
plan_of(const char *status, const cJSON *update, const char *plan[5])
{
	int n = 0, i;

	if (strcmp(status, "created") == 0) {
		for (i = 0; all_steps[i]; i++)
			plan[n++] = all_steps[i];
	} else if (strcmp(status, "updated") == 0) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(update, "data")))
			plan[n++] = "load";
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(update, "data")) ||
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(update, "schema"))) {
			plan[n++] = "analyze";
			plan[n++] = "index";
		}
		plan[n++] = "finalize";
	}
	plan[n] = NULL;
	return n;
}

static cJSON *
dataset_manager(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *idv = cJSON_GetObjectItemCaseSensitive(p, "dataset");
	const cJSON *fail_at = cJSON_GetObjectItemCaseSensitive(p, "fail_once_at");
	const char *plan[5], *params[4];
	char why[512], msg[128], nbuf[16];
	struct ds d = { 0 };
	etl_error err;
	PGresult *res;
	cJSON *out, *ran, *ev;
	int n, i;

	if (!cJSON_IsString(idv))
		return etl_fail_task(65, "dataset_manager wants {\"dataset\": ID}");
	d.id = idv->valuestring;
	if ((d.c = etl_connect(etl_context_pg_env(etl_context_current()), &err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	PQclear(PQexec(etl_conn_pg(d.c), "SELECT pg_advisory_lock(hashtext('dsm schema'))"));
	PQclear(PQexec(etl_conn_pg(d.c), DSM_SCHEMA));
	PQclear(PQexec(etl_conn_pg(d.c), "SELECT pg_advisory_unlock(hashtext('dsm schema'))"));
	params[0] = d.id;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "create")))
		PQclear(x(&d, "INSERT INTO dsm.dataset (id, status) VALUES ($1, 'created') "
		    "ON CONFLICT (id) DO NOTHING", 1, params, why, sizeof(why)));
	/* an error resumes the plan of the status it failed from, at the step it failed */
	res = x(&d, "SELECT CASE WHEN status = 'error' THEN error->>'status' ELSE status END, "
	    "coalesce(current_update, error->'current_update', '{}')::text, "
	    "CASE WHEN status = 'error' THEN coalesce((error->>'step_index')::int, 0) ELSE 0 END, "
	    "status FROM dsm.dataset WHERE id = $1", 1, params, why, sizeof(why));
	if (res == NULL || PQntuples(res) == 0) {
		PQclear(res);
		etl_disconnect(d.c);
		return etl_fail_task(65, "no dataset %s", d.id);
	}
	snprintf(d.status, sizeof(d.status), "%s", PQgetvalue(res, 0, 0));
	d.update = cJSON_Parse(PQgetvalue(res, 0, 1));
	d.from = atoi(PQgetvalue(res, 0, 2));
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "status", PQgetvalue(res, 0, 3));
	PQclear(res);
	if (strcmp(d.status, "finalized") == 0) {
		cJSON_Delete(ev);
		cJSON_Delete(d.update);
		etl_disconnect(d.c);
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "status", "finalized");
		cJSON_AddBoolToObject(out, "nothing_to_do", 1);
		return out;
	}
	if ((n = plan_of(d.status, d.update, plan)) == 0) {
		cJSON_Delete(ev);
		cJSON_Delete(d.update);
		etl_disconnect(d.c);
		return etl_fail_task(65, "dataset %s: no steps for status '%s'", d.id, d.status);
	}
	if (d.from > 0)
		cJSON_AddStringToObject(ev, "resume_at", plan[d.from < n ? d.from : n - 1]);
	journal(&d, "process-start", ev);
	cJSON_Delete(ev);
	ran = cJSON_CreateArray();
	for (i = d.from; i < n; i++) {
		snprintf(msg, sizeof(msg), "%s (step %d of %d)", plan[i], i + 1, n);
		etl_progress(0, 1, msg);
		/* the step's work would go here: load a file, analyze a schema, index rows */
		params[1] = plan[i];
		if (cJSON_IsString(fail_at) && strcmp(fail_at->valuestring, plan[i]) == 0) {
			res = x(&d, "UPDATE dsm.dataset SET failed_once = failed_once || $2 WHERE id = $1 "
			    "AND NOT ($2 = ANY (failed_once)) RETURNING 1", 2, params, why, sizeof(why));
			if (res != NULL && PQntuples(res) == 1) {
				cJSON *e = cJSON_CreateObject();
				char *et;

				PQclear(res);
				/* error keeps where it failed, so that the retry resumes there */
				cJSON_AddStringToObject(e, "status", d.status);
				cJSON_AddStringToObject(e, "step", plan[i]);
				cJSON_AddNumberToObject(e, "step_index", i);
				cJSON_AddItemToObject(e, "current_update", cJSON_Duplicate(d.update, 1));
				cJSON_AddStringToObject(e, "message", "simulated failure");
				et = cJSON_PrintUnformatted(e);
				params[1] = et;
				PQclear(x(&d, "UPDATE dsm.dataset SET status = 'error', error = $2::jsonb, "
				    "current_update = NULL, updated_on = now() WHERE id = $1", 2, params,
				    why, sizeof(why)));
				free(et);
				journal(&d, "error", e);
				cJSON_Delete(e);
				cJSON_Delete(ran);
				cJSON_Delete(d.update);
				etl_disconnect(d.c);
				return etl_fail_task(75, "dataset %s: step %s failed", d.id, plan[i]);
			}
			PQclear(res);
		}
		snprintf(nbuf, sizeof(nbuf), "%d", i + 1);
		params[1] = nbuf;
		PQclear(x(&d, "UPDATE dsm.dataset SET steps_done = $2::int WHERE id = $1", 2, params,
		    why, sizeof(why)));
		cJSON_AddItemToArray(ran, cJSON_CreateString(plan[i]));
		etl_progress(1, 1, msg);
	}
	PQclear(x(&d, "UPDATE dsm.dataset SET status = 'finalized', error = NULL, "
	    "current_update = NULL, updated_on = now() WHERE id = $1", 1, params, why, sizeof(why)));
	ev = cJSON_CreateObject();
	cJSON_AddItemToObject(ev, "steps", cJSON_Duplicate(ran, 1));
	journal(&d, "finalize-end", ev);
	cJSON_Delete(ev);
	cJSON_Delete(d.update);
	etl_disconnect(d.c);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "status", "finalized");
	cJSON_AddItemToObject(out, "ran", ran);
	return out;
}

ETL_TASK_MAIN(dataset_manager)
