/*
 * event.c: dispatching events into a context's event store, and progress.  The store's
 * rules (one INITIAL first, done is done, status changes, NOTIFY) are enforced by the
 * schema's trigger; here we only build the row.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "context.h"

/* TYPE is "<prefix>:<NAME>" with NAME of [A-Za-z0-9_.-]+; 0 if so. */
static int
type_valid(const char *type)
{
	const char *colon = strrchr(type, ':'), *p;

	if (colon == NULL || colon[1] == '\0' || strlen(type) > 200)
		return -1;
	if (memchr(type, ':', (size_t)(colon - type)) != NULL)
		return -1;
	for (p = colon + 1; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return -1;
	return 0;
}

int64_t
etl_dispatch_ctx(etl_context *ctx, const char *type, const cJSON *payload, const cJSON *meta,
    etl_error *err)
{
	char full[256], idbuf[24];
	const char *p[4], *kind;
	char *ptext = NULL, *mtext = NULL;
	etl_conn *c;
	PGresult *res;
	int64_t id;

	if (type == NULL)
		type = "";
	if (type[0] == ':')
		snprintf(full, sizeof(full), "%s%s", ctx->task, type);
	else
		snprintf(full, sizeof(full), "%s", type);
	if (type_valid(full) != 0) {
		etl__err(err, ETL_EINVAL, "bad event type '%.100s': want TASK:NAME, NAME of "
		    "letters, digits, '_', '-', '.'", full);
		return -1;
	}
	if ((c = etl_context_conn(ctx, err)) == NULL)
		return -1;
	if (payload != NULL && (ptext = cJSON_PrintUnformatted(payload)) == NULL)
		goto oom;
	if (meta != NULL && (mtext = cJSON_PrintUnformatted(meta)) == NULL)
		goto oom;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)ctx->id);
	p[0] = idbuf;
	p[1] = full;
	p[2] = ptext;
	p[3] = mtext;
	if (etl__ctx_proves(ctx)) {
		/* a task: into its own run's context only (etl.task_event checks) */
		const char *tp[7] = { ctx->job_id, ctx->runbuf, ctx->secret, idbuf, full, ptext,
		    mtext };

		res = etl__exec(c, "SELECT etl.task_event($1::uuid, $2::int, $3, $4::bigint, $5, "
		    "$6::jsonb, $7::jsonb)", 7, tp, err);
	} else {
		res = etl__exec(c, "INSERT INTO etl.event (etl_context_id, type, payload, meta) "
		    "VALUES ($1, $2, $3::jsonb, $4::jsonb) RETURNING event_id", 4, p, err);
	}
	free(ptext);
	free(mtext);
	if (res == NULL)
		return -1;
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	kind = strrchr(full, ':') + 1;
	if (strcmp(kind, "FINAL") == 0)
		ctx->finaled = 1;
	else if (strcmp(kind, "ERROR") == 0)
		ctx->errored = 1;
	etl__beat_maybe(ctx);	/* an event is a heartbeat too */
	return id;
oom:
	free(ptext);
	free(mtext);
	etl__err(err, ETL_ESYS, "out of memory");
	return -1;
}

int64_t
etl_dispatch(const char *type, const cJSON *payload, const cJSON *meta)
{
	etl_context *ctx = etl_context_current();

	if (ctx == NULL)
		return -1;
	return etl_dispatch_ctx(ctx, type, payload, meta, &ctx->err);
}

int
etl_progress_ctx(etl_context *ctx, double done, double total, const char *message,
    etl_error *err)
{
	struct timespec now;
	char *text;
	const char *p[2];
	cJSON *pl;
	etl_conn *qc;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	/* at most four writes a second, but the last one always lands */
	if (done < total && ctx->last_progress.tv_sec != 0 &&
	    (now.tv_sec - ctx->last_progress.tv_sec) * 1000 +
	    (now.tv_nsec - ctx->last_progress.tv_nsec) / 1000000 < 250)
		return 0;
	ctx->last_progress = now;
	if ((pl = cJSON_CreateObject()) == NULL ||
	    cJSON_AddNumberToObject(pl, "done", done) == NULL ||
	    cJSON_AddNumberToObject(pl, "total", total) == NULL ||
	    (message != NULL && cJSON_AddStringToObject(pl, "message", message) == NULL)) {
		cJSON_Delete(pl);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	if (etl_dispatch_ctx(ctx, ":PROGRESS", pl, NULL, err) < 0)
		rc = -1;
	if (rc == 0 && ctx->job_id != NULL) {
		if ((qc = etl__context_qconn(ctx, err)) == NULL ||
		    (text = cJSON_PrintUnformatted(pl)) == NULL) {
			rc = -1;
		} else {
			p[0] = ctx->job_id;
			p[1] = text;
			/* progress is a heartbeat too */
			if (etl__ctx_proves(ctx)) {
				const char *tp[4] = { ctx->job_id, ctx->runbuf, ctx->secret, text };

				rc = etl__exec_cmd(qc, "SELECT etl.task_progress($1::uuid, $2::int, $3, "
				    "$4::jsonb)", 4, tp, err);
			} else {
				rc = etl__exec_cmd(qc, "UPDATE etl.job SET progress = $2::jsonb, "
				    "heartbeat_on = now() WHERE id = $1::uuid AND state = 'active'", 2,
				    p, err);
			}
			free(text);
		}
	}
	cJSON_Delete(pl);
	return rc;
}

int
etl_progress(double done, double total, const char *message)
{
	etl_context *ctx = etl_context_current();

	if (ctx == NULL)
		return -1;
	return etl_progress_ctx(ctx, done, total, message, &ctx->err);
}

cJSON *
etl_events_list(etl_conn *c, int64_t id, int64_t after, etl_error *err)
{
	char ibuf[24], abuf[24];
	const char *p[2] = { ibuf, abuf };
	PGresult *res;
	cJSON *j;

	snprintf(ibuf, sizeof(ibuf), "%lld", (long long)id);
	snprintf(abuf, sizeof(abuf), "%lld", (long long)after);
	res = etl__exec(c, "SELECT coalesce(jsonb_agg(e ORDER BY e.event_id), '[]')::text FROM "
	    "(SELECT * FROM etl.event WHERE etl_context_id = $1::bigint "
	    " AND event_id > $2::bigint ORDER BY event_id LIMIT 10000) e", 2, p, err);
	if (res == NULL)
		return NULL;
	j = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (j == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return j;
}

cJSON *
etl_context_get(etl_conn *c, int64_t id, etl_error *err)
{
	char ibuf[24];
	const char *p[1] = { ibuf };
	PGresult *res;
	cJSON *j;

	snprintf(ibuf, sizeof(ibuf), "%lld", (long long)id);
	res = etl__exec(c, "SELECT to_jsonb(c)::text FROM etl.etl_context c "
	    "WHERE etl_context_id = $1::bigint", 1, p, err);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		etl__err(err, ETL_ENOTFOUND, "no etl_context %lld in pg_env '%s'", (long long)id,
		    c->pg_env);
		return NULL;
	}
	j = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (j == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return j;
}
