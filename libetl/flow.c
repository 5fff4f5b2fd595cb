/*
 * flow.c: workflows on top of jobs: batches, sub-tasks, dead-letter redrive, cron
 * schedules and the context tree.  The rules live in the schema's functions and
 * triggers (etl.send, etl.batch_*, etl.job_after_state, etl.maintain); this file builds
 * their calls.
 */
#include <time.h>

#include <stdlib.h>
#include <string.h>

#include "context.h"

static int
queue_or_null_valid(const char *q, etl_error *err)
{
	return q == NULL ? 0 : etl_queue_name_valid(q, err);
}

int
etl_batch_new(etl_conn *c, const char *on_success, const char *on_discard,
    const char *on_finish, const cJSON *data, char id[ETL_ID_LEN], etl_error *err)
{
	const char *p[4];
	char *text = NULL;
	PGresult *res;

	if (queue_or_null_valid(on_success, err) != 0 ||
	    queue_or_null_valid(on_discard, err) != 0 ||
	    queue_or_null_valid(on_finish, err) != 0)
		return -1;
	if (data != NULL && (text = cJSON_PrintUnformatted(data)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	p[0] = on_success;
	p[1] = on_discard;
	p[2] = on_finish;
	p[3] = text;
	/* a callback queue must exist when the batch is made, not when it finishes */
	res = etl__exec(c, "WITH missing AS (SELECT x FROM unnest(ARRAY[$1, $2, $3]) x "
	    "  WHERE x IS NOT NULL AND NOT EXISTS (SELECT 1 FROM etl.queue q WHERE q.name = x)), "
	    "ins AS (INSERT INTO etl.batch (on_success, on_discard, on_finish, data) "
	    "  SELECT $1, $2, $3, $4::jsonb WHERE NOT EXISTS (SELECT 1 FROM missing) "
	    "  RETURNING id) "
	    "SELECT (SELECT id FROM ins), (SELECT min(x) FROM missing)", 4, p, err);
	free(text);
	if (res == NULL)
		return -1;
	if (PQgetisnull(res, 0, 0)) {
		etl__err(err, ETL_ENOTFOUND, "no queue named '%s' for a batch callback",
		    PQgetvalue(res, 0, 1));
		PQclear(res);
		return -1;
	}
	snprintf(id, ETL_ID_LEN, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
batch_id_valid(const char *id, etl_error *err)
{
	if (etl_uuid_valid(id) == 0)
		return 0;
	etl__err(err, ETL_EINVAL, "bad batch id '%.64s': want a uuid", id ? id : "");
	return -1;
}

int
etl_batch_close(etl_conn *c, const char *id, etl_error *err)
{
	const char *p[1] = { id };

	if (batch_id_valid(id, err) != 0)
		return -1;
	return etl__exec_cmd(c, "SELECT etl.batch_close($1::uuid)", 1, p, err);
}

long
etl_batch_retry(etl_conn *c, const char *id, etl_error *err)
{
	const char *p[1] = { id };
	PGresult *res;
	long n;

	if (batch_id_valid(id, err) != 0)
		return -1;
	if ((res = etl__exec(c, "SELECT etl.batch_retry($1::uuid)", 1, p, err)) == NULL)
		return -1;
	n = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return n;
}

cJSON *
etl_batch_get(etl_conn *c, const char *id, etl_error *err)
{
	const char *p[1] = { id };
	PGresult *res;

	if (batch_id_valid(id, err) != 0)
		return NULL;
	res = etl__exec(c, "SELECT to_jsonb(b) || jsonb_build_object('states', "
	    "(SELECT coalesce(jsonb_object_agg(state, n), '{}') FROM (SELECT state, count(*) n "
	    " FROM etl.job WHERE batch_id = b.id GROUP BY state) s)) "
	    "FROM etl.batch b WHERE id = $1::uuid", 1, p, err);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		etl__err(err, ETL_ENOTFOUND, "no batch %s", id);
		return NULL;
	}
	return etl__json_result(res, err);
}

long
etl_redrive(etl_conn *c, const char *queue, etl_error *err)
{
	return etl_redrive_limit(c, queue, 0, err);
}

long
etl_redrive_limit(etl_conn *c, const char *queue, long limit, etl_error *err)
{
	char lbuf[24];
	const char *p[2] = { queue, limit > 0 ? lbuf : NULL };
	PGresult *res;
	long n;

	if (etl_queue_name_valid(queue, err) != 0)
		return -1;
	snprintf(lbuf, sizeof(lbuf), "%ld", limit);
	if ((res = etl__exec(c, "SELECT * FROM etl.redrive($1, $2::int)", 2, p, err)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	return n;
}

/*
 * Sleep ms before the next look at a sub-task (a signal, say a cancel, ends it early).
 * A parent polls rather than LISTENs: a LISTEN is session state, lost behind a
 * transaction pooler (and it would leave the pooled server connection listening).
 */
static void
poll_pause(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

cJSON *
etl_subtask(const char *queue, const cJSON *payload, const char *key)
{
	etl_context *ctx = etl_context_current();
	etl_send_opts o;
	char id[ETL_ID_LEN], type[128];
	const char *p[1];
	etl_conn *qc;
	etl_error *err;
	enum etl_job_state st;
	PGresult *res;
	cJSON *out = NULL, *ev;
	int rc, pause = 10;

	if (ctx == NULL)
		return NULL;
	err = &ctx->err;
	if (ctx->job_id == NULL) {
		etl__err(err, ETL_EINVAL, "etl_subtask: the task runs for no job (by hand)");
		return NULL;
	}
	if ((qc = etl__context_qconn(ctx, err)) == NULL)
		return NULL;
	memset(&o, 0, sizeof(o));
	o.parent_id = ctx->job_id;
	o.idempotency_key = key;
	/* the child's context hangs under ours when both live in the job's database */
	if (ctx->queue_pg_env == NULL || *ctx->queue_pg_env == '\0' ||
	    strcmp(ctx->pg_env, ctx->queue_pg_env) == 0)
		o.parent_context_id = ctx->id;
	rc = etl_send(qc, queue, payload, &o, id, err);
	if (rc != 0) {
		if (rc == 1)
			err->code = ETL_EDB;
		return NULL;
	}
	if (strcmp(err->message, "exists") != 0) {
		snprintf(type, sizeof(type), ":%s_QUEUED", queue);
		if ((ev = cJSON_CreateObject()) != NULL) {
			cJSON_AddStringToObject(ev, "job_id", id);
			if (key != NULL)
				cJSON_AddStringToObject(ev, "idempotency_key", key);
			(void)etl_dispatch_ctx(ctx, type, ev, NULL, err);
			cJSON_Delete(ev);
		}
	}
	p[0] = id;
	for (;;) {
		res = etl__exec(qc, "SELECT state, coalesce(output::text, 'null') FROM etl.job "
		    "WHERE id = $1::uuid", 1, p, err);
		if (res == NULL)
			return NULL;
		if (PQntuples(res) == 0) {
			PQclear(res);
			etl__err(err, ETL_ENOTFOUND, "sub-task job %s is gone", id);
			return NULL;
		}
		if (etl_job_state_parse(PQgetvalue(res, 0, 0), &st) != 0)
			st = ETL_JOB_ACTIVE;	/* a state this build does not know: wait */
		if (st == ETL_JOB_COMPLETED) {
			out = cJSON_Parse(PQgetvalue(res, 0, 1));
			PQclear(res);
			break;
		}
		if (etl_job_state_finished(st)) {
			etl__err(err, ETL_EDB, "sub-task %s (queue %s) %s: %.300s", id, queue,
			    etl_job_state_name(st), PQgetvalue(res, 0, 1));
			PQclear(res);
			return NULL;
		}
		PQclear(res);
		if (etl_cancelled()) {
			etl__err(err, ETL_EDB, "cancelled while waiting for sub-task %s", id);
			return NULL;
		}
		/* 10 ms, doubled up to 1 s: a quick child is seen quickly, a slow one costs
		 * one indexed read a second */
		poll_pause(pause);
		pause = pause * 2 > 1000 ? 1000 : pause * 2;
	}
	snprintf(type, sizeof(type), "%s:%s_DONE", ctx->task, queue);
	/* a retried parent walks its sub-tasks again: record each end once */
	{
		char cbuf[24];
		const char *q[3] = { cbuf, type, id };
		etl_conn *cc = etl_context_conn(ctx, err);

		snprintf(cbuf, sizeof(cbuf), "%lld", (long long)ctx->id);
		res = cc ? etl__exec(cc, "SELECT 1 FROM etl.event WHERE etl_context_id = $1::bigint "
		    "AND type = $2 AND payload->>'job_id' = $3", 3, q, err) : NULL;
		if (res != NULL && PQntuples(res) > 0) {
			PQclear(res);
			return out;
		}
		PQclear(res);
	}
	if ((ev = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(ev, "job_id", id);
		cJSON_AddItemToObject(ev, "output", cJSON_Duplicate(out, 1));
		(void)etl_dispatch_ctx(ctx, type, ev, NULL, err);
		cJSON_Delete(ev);
	}
	return out;
}

int
etl_schedule_add(etl_conn *c, const char *name, const char *queue, const char *cron,
    const cJSON *data, const char *tz, etl_error *err)
{
	return etl_schedule_add_opts(c, name, queue, cron, data, tz, NULL, err);
}

int
etl_schedule_add_opts(etl_conn *c, const char *name, const char *queue, const char *cron,
    const cJSON *data, const char *tz, const cJSON *options, etl_error *err)
{
	char sets[5][256];
	const char *p[10];
	uint64_t bits[5];
	char *text, *otext;
	etl_cron cr;
	int f, v, rc;

	if (etl_queue_name_valid(name, err) != 0) {
		etl__err(err, ETL_EINVAL, "bad schedule name '%.64s': the rules of queue names",
		    name);
		return -1;
	}
	if (etl_queue_name_valid(queue, err) != 0 || etl_cron_parse(cron, &cr, err) != 0)
		return -1;
	bits[0] = cr.minutes;
	bits[1] = cr.hours;
	bits[2] = cr.doms;
	bits[3] = cr.months;
	bits[4] = cr.dows;
	for (f = 0; f < 5; f++) {
		size_t len = 0;

		sets[f][len++] = '{';
		for (v = 0; v < 64; v++)
			if (bits[f] >> v & 1)
				len += (size_t)snprintf(sets[f] + len, sizeof(sets[f]) - len, "%s%d",
				    len > 1 ? "," : "", v);
		snprintf(sets[f] + len, sizeof(sets[f]) - len, "}");
	}
	if (options != NULL && !cJSON_IsObject(options)) {
		etl__err(err, ETL_EINVAL, "a schedule's job options are a JSON object");
		return -1;
	}
	if ((text = etl__json_text(data)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	if ((otext = options ? cJSON_PrintUnformatted(options) : strdup("{}")) == NULL) {
		free(text);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	p[0] = name;
	p[1] = queue;
	p[2] = cron;
	p[3] = tz ? tz : "UTC";
	p[4] = text;
	for (f = 0; f < 5; f++)
		p[5 + f] = sets[f];
	/* the queue must exist, and the time zone be one PostgreSQL knows */
	rc = etl__exec_cmd(c, "INSERT INTO etl.schedule (name, queue, cron, timezone, data, "
	    "  minutes, hours, doms, months, dows, dom_any, dow_any, options) "
	    "SELECT $1, q.name, $3, $4, $5::jsonb, $6::int[], $7::int[], $8::int[], $9::int[], "
	    "  $10::int[], $11::bool, $12::bool, $13::jsonb "
	    "FROM etl.queue q WHERE q.name = $2 AND (now() AT TIME ZONE $4) IS NOT NULL "
	    "ON CONFLICT (name) DO UPDATE SET queue = EXCLUDED.queue, cron = EXCLUDED.cron, "
	    "  timezone = EXCLUDED.timezone, data = EXCLUDED.data, minutes = EXCLUDED.minutes, "
	    "  hours = EXCLUDED.hours, doms = EXCLUDED.doms, months = EXCLUDED.months, "
	    "  dows = EXCLUDED.dows, dom_any = EXCLUDED.dom_any, dow_any = EXCLUDED.dow_any, "
	    "  options = EXCLUDED.options, updated_on = now()",
	    13, (const char *[]){ p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9],
	    cr.dom_any ? "true" : "false", cr.dow_any ? "true" : "false", otext }, err);
	free(text);
	free(otext);
	if (rc != 0) {
		if (strcmp(err->sqlstate, "22023") == 0)
			etl__err(err, ETL_EINVAL, "unknown time zone '%.64s'", tz);
		return -1;
	}
	/* did it land?  No row means no such queue */
	{
		const char *q[1] = { name };
		PGresult *res = etl__exec(c, "SELECT 1 FROM etl.schedule WHERE name = $1", 1, q,
		    err);

		if (res == NULL)
			return -1;
		rc = PQntuples(res) == 1 ? 0 : -1;
		PQclear(res);
		if (rc != 0)
			etl__err(err, ETL_ENOTFOUND, "no queue named '%s'", queue);
	}
	return rc;
}

int
etl_schedule_rm(etl_conn *c, const char *name, etl_error *err)
{
	const char *p[1] = { name };
	PGresult *res;
	long n;

	if ((res = etl__exec(c, "DELETE FROM etl.schedule WHERE name = $1", 1, p, err)) == NULL)
		return -1;
	n = atol(PQcmdTuples(res));
	PQclear(res);
	if (n == 0) {
		etl__err(err, ETL_ENOTFOUND, "no schedule named '%.64s'", name);
		return -1;
	}
	return 0;
}

cJSON *
etl_schedule_list(etl_conn *c, etl_error *err)
{
	return etl__json_result(etl__exec(c, "SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, "
	    "'queue', queue, 'cron', cron, 'timezone', timezone, 'data', data, "
	    "'last_tick', last_tick) ORDER BY name), '[]') FROM etl.schedule", 0, NULL, err),
	    err);
}

cJSON *
etl_context_tree(etl_conn *c, int64_t id, etl_error *err)
{
	char ibuf[24];
	const char *p[1] = { ibuf };
	PGresult *res;

	snprintf(ibuf, sizeof(ibuf), "%lld", (long long)id);
	res = etl__exec(c,
	    "WITH RECURSIVE t AS ("
	    "  SELECT etl_context_id, parent_context_id, status, 0 AS depth, "
	    "         ARRAY[etl_context_id] AS path "
	    "  FROM etl.etl_context WHERE etl_context_id = $1::bigint "
	    "  UNION ALL "
	    "  SELECT c.etl_context_id, c.parent_context_id, c.status, t.depth + 1, "
	    "         t.path || c.etl_context_id "
	    "  FROM etl.etl_context c JOIN t ON c.parent_context_id = t.etl_context_id "
	    "  WHERE t.depth < 50) "
	    "SELECT coalesce(jsonb_agg(jsonb_build_object('etl_context_id', t.etl_context_id, "
	    "  'parent_context_id', t.parent_context_id, 'status', t.status, 'depth', t.depth, "
	    "  'events', (SELECT coalesce(jsonb_agg(e ORDER BY e.event_id), '[]') "
	    "             FROM etl.event e WHERE e.etl_context_id = t.etl_context_id)) "
	    "  ORDER BY t.path), '[]') FROM t", 1, p, err);
	if (res == NULL)
		return NULL;
	return etl__json_result(res, err);
}

cJSON *
etl_top_snapshot(etl_conn *c, int max_running, etl_error *err)
{
	char lbuf[16];
	const char *p[1] = { lbuf };

	snprintf(lbuf, sizeof(lbuf), "%d", max_running > 0 ? max_running : 50);
	return etl__json_result(etl__exec_nojit(c, "SELECT jsonb_build_object("
	    "'now', to_char(now(), 'HH24:MI:SS'), "
	    "'controllers', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'host', host, "
	    "  'pid', pid, 'heartbeat_age', round(extract(epoch FROM now() - heartbeat_on))) "
	    "  ORDER BY id), '[]') FROM etl.controller), "
	    "'queues', (SELECT coalesce(jsonb_agg(to_jsonb(x) ORDER BY x.name), '[]') FROM ("
	    "  SELECT q.name, "
	    "   (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state IN ('created', 'retry')) AS queued, "
	    "   (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state = 'active') AS active, "
	    "   (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state = 'completed' "
	    "     AND j.completed_on > now() - interval '1 hour') AS completed, "
	    "   (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state = 'failed' "
	    "     AND j.completed_on > now() - interval '1 hour') AS failed "
	    "  FROM etl.queue q) x), "
	    "'running', (SELECT coalesce(jsonb_agg(to_jsonb(r) ORDER BY r.started_on), '[]') FROM ("
	    "  SELECT id, queue, host, pid, started_on, "
	    "   round(extract(epoch FROM now() - started_on)) AS seconds, progress "
	    "  FROM etl.job WHERE state = 'active' ORDER BY started_on LIMIT $1::int) r))",
	    1, p, err), err);
}

int
etl_group_set(etl_conn *c, const char *name, int concurrency, etl_error *err)
{
	char nbuf[16];
	const char *p[2] = { name, nbuf };

	if (name == NULL || *name == '\0' || strlen(name) > 200) {
		etl__err(err, ETL_EINVAL, "a group key is 1 to 200 characters");
		return -1;
	}
	if (concurrency < 1) {
		etl__err(err, ETL_EINVAL, "a group's concurrency is at least 1");
		return -1;
	}
	snprintf(nbuf, sizeof(nbuf), "%d", concurrency);
	return etl__exec_cmd(c, "INSERT INTO etl.job_group (name, concurrency) VALUES ($1, $2::int) "
	    "ON CONFLICT (name) DO UPDATE SET concurrency = EXCLUDED.concurrency", 2, p, err);
}

int
etl_group_rm(etl_conn *c, const char *name, etl_error *err)
{
	const char *p[1] = { name };
	PGresult *res;
	long n;

	if ((res = etl__exec(c, "DELETE FROM etl.job_group WHERE name = $1", 1, p, err)) == NULL)
		return -1;
	n = atol(PQcmdTuples(res));
	PQclear(res);
	if (n == 0) {
		etl__err(err, ETL_ENOTFOUND, "no group named '%.64s'", name);
		return -1;
	}
	return 0;
}

cJSON *
etl_group_list(etl_conn *c, etl_error *err)
{
	return etl__json_result(etl__exec(c, "SELECT coalesce(jsonb_agg(jsonb_build_object("
	    "'name', g.name, 'concurrency', g.concurrency, 'active', (SELECT count(*) FROM etl.job a "
	    " WHERE a.group_key = g.name AND a.state = 'active'), 'waiting', (SELECT count(*) "
	    " FROM etl.job w WHERE w.group_key = g.name AND w.state IN ('created', 'retry'))) "
	    "ORDER BY g.name), '[]') FROM etl.job_group g", 0, NULL, err), err);
}
