/*
 * view.c: what people read about jobs, queues, contexts, batches, schedules and
 * controllers, as JSON text built by PostgreSQL (numbers exact, never through a double):
 * the reads etl-api serves and the CLI shares.  Each returns text the caller frees, or
 * NULL and err.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl_admin.h"
#include "internal.h"

/* The first field of a one-row result (freed), as owned text; SQL NULL -> "null". */
static char *
text_result(PGresult *res, etl_error *err)
{
	char *s;

	if (res == NULL)
		return NULL;
	s = etl__strdup(PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ? "null" :
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	if (s == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return s;
}

/* The columns a job list shows (a job page shows them all). */
#define JOB_COLS \
    "j.id, j.queue, j.task, j.state, j.priority, j.data, j.retry_count, j.retry_limit, " \
    "j.singleton_key, j.batch_id, j.parent_id, j.created_on, j.start_after, j.started_on, " \
    "j.completed_on, j.progress, j.host, j.controller_id, j.etl_context_id, j.run, " \
    "j.stopping, CASE WHEN j.state IN ('failed', 'retry', 'cancelled') THEN " \
    "coalesce(j.output->>'message', j.output->>'error') END AS error"

char *
etl_view_jobs(etl_conn *c, const etl_job_filter *f, etl_error *err)
{
	enum etl_job_state st;
	char lbuf[24];
	const char *p[10];

	if (f->queue != NULL && etl_queue_name_valid(f->queue, err) != 0)
		return NULL;
	if (f->state != NULL && etl_job_state_parse(f->state, &st) != 0) {
		etl__err(err, ETL_EINVAL, "unknown state '%.32s': want created, retry, active, "
		    "completed, cancelled or failed", f->state);
		return NULL;
	}
	if ((f->batch_id != NULL && etl_uuid_valid(f->batch_id) != 0) ||
	    (f->before != NULL && etl_uuid_valid(f->before) != 0)) {
		etl__err(err, ETL_EINVAL, "bad %s: want a uuid",
		    f->before != NULL && etl_uuid_valid(f->before) != 0 ? "cursor" : "batch id");
		return NULL;
	}
	if (f->data != NULL && etl_json_check(f->data, strlen(f->data), 65536, err) != 0)
		return NULL;
	snprintf(lbuf, sizeof(lbuf), "%ld", f->limit > 0 && f->limit <= 1000 ? f->limit : 100);
	p[0] = f->queue; p[1] = f->state; p[2] = f->key; p[3] = f->batch_id; p[4] = f->text;
	p[5] = f->data; p[6] = f->since; p[7] = f->until; p[8] = f->before; p[9] = lbuf;
	return text_result(etl__exec(c,
	    "SELECT json_build_object('jobs', coalesce(json_agg(x ORDER BY x.created_on DESC, "
	    "  x.id DESC), '[]'), 'next', CASE WHEN count(*) = $10::int THEN "
	    "  (array_agg(x.id ORDER BY x.created_on, x.id))[1] END) FROM ("
	    " SELECT " JOB_COLS " FROM etl.job j "
	    " WHERE ($1::text IS NULL OR j.queue = $1) "
	    "   AND ($2::etl.job_state IS NULL OR j.state = $2::etl.job_state) "
	    "   AND ($3::text IS NULL OR j.singleton_key = $3) "
	    "   AND ($4::uuid IS NULL OR j.batch_id = $4::uuid) "
	    "   AND ($5::text IS NULL OR strpos(lower(j.data::text), lower($5)) > 0) "
	    "   AND ($6::jsonb IS NULL OR j.data @> $6::jsonb) "
	    "   AND ($7::timestamptz IS NULL OR j.created_on >= $7::timestamptz) "
	    "   AND ($8::timestamptz IS NULL OR j.created_on < $8::timestamptz) "
	    "   AND ($9::uuid IS NULL OR (j.created_on, j.id) < "
	    "        (SELECT b.created_on, b.id FROM etl.job b WHERE b.id = $9::uuid)) "
	    " ORDER BY j.created_on DESC, j.id DESC LIMIT $10::int) x", 10, p, err), err);
}

char *
etl_view_job(etl_conn *c, const char *id, etl_error *err)
{
	const char *p[1] = { id };
	char *s;

	if (etl_uuid_valid(id) != 0) {
		etl__err(err, ETL_EINVAL, "bad job id '%.64s': want a uuid", id);
		return NULL;
	}
	/* the row in the table's order, its context, and its runs: each run's end as the
	 * context's journal has it (FINAL or ERROR events after the INITIAL) */
	s = text_result(etl__exec(c,
	    "SELECT json_build_object('job', to_jsonb(j) - 'run_secret', "
	    " 'context', (SELECT row_to_json(x) FROM etl.etl_context x "
	    "   WHERE x.etl_context_id = j.etl_context_id), "
	    " 'runs', (SELECT coalesce(json_agg(json_build_object('event_id', e.event_id, "
	    "   'type', e.type, 'error', e.error, 'at', e.created_on, 'payload', e.payload) "
	    "   ORDER BY e.event_id), '[]') FROM etl.event e "
	    "   WHERE e.etl_context_id = j.etl_context_id "
	    "     AND (e.type LIKE '%:FINAL' OR e.type LIKE '%:ERROR')), "
	    " 'dependents', (SELECT count(*) FROM etl.job_dep d WHERE d.after_id = j.id), "
	    " 'children', (SELECT count(*) FROM etl.job k WHERE k.parent_id = j.id)) "
	    "FROM etl.job j WHERE j.id = $1::uuid", 1, p, err), err);
	if (s != NULL && strcmp(s, "null") == 0) {
		free(s);
		etl__err(err, ETL_ENOTFOUND, "no job %s", id);
		return NULL;
	}
	return s;
}

char *
etl_view_events(etl_conn *c, int64_t ctx, int64_t after, long limit, etl_error *err)
{
	char ibuf[24], abuf[24], lbuf[24];
	const char *p[3] = { ibuf, abuf, lbuf };

	snprintf(ibuf, sizeof(ibuf), "%lld", (long long)ctx);
	snprintf(abuf, sizeof(abuf), "%lld", (long long)after);
	snprintf(lbuf, sizeof(lbuf), "%ld", limit > 0 && limit <= 10000 ? limit : 1000);
	return text_result(etl__exec(c, "SELECT coalesce(json_agg(e ORDER BY e.event_id), '[]') "
	    "FROM (SELECT * FROM etl.event WHERE etl_context_id = $1::bigint "
	    " AND event_id > $2::bigint ORDER BY event_id LIMIT $3::int) e", 3, p, err), err);
}

char *
etl_view_tree(etl_conn *c, int64_t ctx, int64_t after, etl_error *err)
{
	char ibuf[24], abuf[24];
	const char *p[2] = { ibuf, abuf };

	snprintf(ibuf, sizeof(ibuf), "%lld", (long long)ctx);
	snprintf(abuf, sizeof(abuf), "%lld", (long long)after);
	/* each context of the tree with its task, status, latest progress (from its
	 * PROGRESS events), its job, and its events after `after` (at most 1000 in all) */
	return text_result(etl__exec(c,
	    "WITH RECURSIVE t AS ("
	    "  SELECT etl_context_id, parent_context_id, status, 0 AS depth, "
	    "         ARRAY[etl_context_id] AS path "
	    "  FROM etl.etl_context WHERE etl_context_id = $1::bigint "
	    "  UNION ALL "
	    "  SELECT x.etl_context_id, x.parent_context_id, x.status, t.depth + 1, "
	    "         t.path || x.etl_context_id "
	    "  FROM etl.etl_context x JOIN t ON x.parent_context_id = t.etl_context_id "
	    "  WHERE t.depth < 50) "
	    "SELECT json_build_object('contexts', coalesce(json_agg(json_build_object("
	    "  'etl_context_id', t.etl_context_id, 'parent_context_id', t.parent_context_id, "
	    "  'status', t.status, 'depth', t.depth, "
	    "  'task', (SELECT split_part(e.type, ':', 1) FROM etl.event e "
	    "           WHERE e.etl_context_id = t.etl_context_id ORDER BY e.event_id LIMIT 1), "
	    "  'job', (SELECT json_build_object('id', j.id, 'queue', j.queue, 'state', j.state) "
	    "          FROM etl.job j WHERE j.etl_context_id = t.etl_context_id LIMIT 1), "
	    "  'progress', (SELECT e.payload FROM etl.event e WHERE e.etl_context_id = "
	    "     t.etl_context_id AND e.type LIKE '%:PROGRESS' ORDER BY e.event_id DESC LIMIT 1)) "
	    "  ORDER BY t.path), '[]'), "
	    " 'events', (SELECT coalesce(json_agg(e ORDER BY e.event_id), '[]') FROM ("
	    "   SELECT e.* FROM etl.event e WHERE e.etl_context_id IN "
	    "     (SELECT etl_context_id FROM t) AND e.event_id > $2::bigint "
	    "   ORDER BY e.event_id LIMIT 1000) e)) FROM t", 2, p, err), err);
}

char *
etl_view_queues(etl_conn *c, etl_error *err)
{
	/* per queue: counts by state (finished ones of the last hour), ready and deferred,
	 * the oldest ready job's age, completions per minute over the last hour (a
	 * sparkline, oldest first) and throughput (completed in the last hour / 3600) */
	return text_result(etl__exec_nojit(c,
	    "SELECT coalesce(json_agg(x ORDER BY x.name), '[]') FROM ("
	    " SELECT q.name, q.task, q.mode, q.policy, q.concurrency, q.paused, "
	    "  (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state IN "
	    "    ('created', 'retry') AND j.waiting = 0 AND j.start_after <= now()) AS ready, "
	    "  (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state IN "
	    "    ('created', 'retry') AND (j.waiting > 0 OR j.start_after > now())) AS deferred, "
	    "  (SELECT count(*) FROM etl.job j WHERE j.queue = q.name AND j.state = 'active') "
	    "    AS active, "
	    "  (SELECT round(extract(epoch FROM now() - min(j.created_on))::numeric, 1) "
	    "    FROM etl.job j WHERE j.queue = q.name AND j.state IN ('created', 'retry') "
	    "    AND j.waiting = 0 AND j.start_after <= now()) AS oldest_ready_seconds, "
	    "  f.completed, f.failed, f.cancelled, "
	    "  round(f.completed / 3600.0, 3) AS completed_per_second, "
	    "  (SELECT array_agg(coalesce(m.n, 0) ORDER BY s.i) FROM generate_series(59, 0, -1) "
	    "    s(i) LEFT JOIN (SELECT floor(extract(epoch FROM now() - j.completed_on) / 60)::int "
	    "     AS i, count(*) AS n FROM etl.job j WHERE j.queue = q.name "
	    "     AND j.state = 'completed' AND j.completed_on > now() - interval '1 hour' "
	    "     GROUP BY 1) m ON m.i = s.i) AS per_minute "
	    " FROM etl.queue q, LATERAL (SELECT "
	    "   count(*) FILTER (WHERE j.state = 'completed') AS completed, "
	    "   count(*) FILTER (WHERE j.state = 'failed') AS failed, "
	    "   count(*) FILTER (WHERE j.state = 'cancelled') AS cancelled "
	    "   FROM etl.job j WHERE j.queue = q.name AND j.state IN "
	    "   ('completed', 'failed', 'cancelled') AND j.completed_on > now() - interval '1 hour') f"
	    ") x", 0, NULL, err), err);
}

char *
etl_view_controllers(etl_conn *c, etl_error *err)
{
	return text_result(etl__exec(c,
	    "SELECT coalesce(json_agg(x ORDER BY x.id), '[]') FROM ("
	    " SELECT k.id, k.host, k.pid, k.version, k.started_on, k.heartbeat_on, k.capacity, "
	    "  round(extract(epoch FROM now() - k.heartbeat_on)::numeric, 1) AS heartbeat_age, "
	    "  (SELECT count(*) FROM etl.job j WHERE j.controller_id = k.id "
	    "    AND j.state = 'active') AS running "
	    " FROM etl.controller k) x", 0, NULL, err), err);
}

char *
etl_view_running(etl_conn *c, long limit, etl_error *err)
{
	char lbuf[24];
	const char *p[1] = { lbuf };

	snprintf(lbuf, sizeof(lbuf), "%ld", limit > 0 && limit <= 1000 ? limit : 200);
	return text_result(etl__exec(c,
	    "SELECT coalesce(json_agg(x ORDER BY x.started_on, x.id), '[]') FROM ("
	    " SELECT j.id, j.queue, j.task, j.host, j.pid, j.started_on, j.etl_context_id, "
	    "  j.parent_id, round(extract(epoch FROM now() - j.started_on)::numeric, 1) AS "
	    "  seconds, j.progress FROM etl.job j WHERE j.state = 'active' "
	    " ORDER BY j.started_on, j.id LIMIT $1::int) x", 1, p, err), err);
}

char *
etl_view_failures(etl_conn *c, etl_error *err)
{
	/* failed jobs grouped by queue and the error their last run ended with */
	return text_result(etl__exec_nojit(c,
	    "SELECT coalesce(json_agg(x ORDER BY x.count DESC, x.queue, x.error), '[]') FROM ("
	    " SELECT j.queue, coalesce(j.output->>'message', j.output->>'error', "
	    "  left(j.output::text, 200), '(no output)') AS error, count(*) AS count, "
	    "  max(j.completed_on) AS last, (array_agg(j.id ORDER BY j.completed_on DESC))[1:5] "
	    "  AS examples FROM etl.job j WHERE j.state = 'failed' GROUP BY 1, 2) x",
	    0, NULL, err), err);
}

char *
etl_view_batches(etl_conn *c, const char *id, long limit, etl_error *err)
{
	char lbuf[24];
	const char *p[2] = { id, lbuf };

	if (id != NULL && etl_uuid_valid(id) != 0) {
		etl__err(err, ETL_EINVAL, "bad batch id '%.64s': want a uuid", id);
		return NULL;
	}
	snprintf(lbuf, sizeof(lbuf), "%ld", limit > 0 && limit <= 1000 ? limit : 100);
	return text_result(etl__exec(c,
	    "SELECT coalesce(json_agg(b ORDER BY b.created_on DESC, b.id), '[]') FROM ("
	    " SELECT * FROM etl.batch WHERE $1::uuid IS NULL OR id = $1::uuid "
	    " ORDER BY created_on DESC, id LIMIT $2::int) b", 2, p, err), err);
}

char *
etl_view_schedules(etl_conn *c, etl_error *err)
{
	/* each schedule with its next three fire times (the minutes of the coming 8 days
	 * its cron matches, in its time zone) */
	return text_result(etl__exec(c,
	    "SELECT coalesce(json_agg(x ORDER BY x.name), '[]') FROM ("
	    " SELECT s.name, s.queue, s.cron, s.timezone, s.data, s.options, s.last_tick, "
	    "  (SELECT coalesce(json_agg(t.m AT TIME ZONE s.timezone ORDER BY t.m), '[]') FROM "
	    "    (SELECT m FROM generate_series(date_trunc('minute', now() AT TIME ZONE "
	    "      s.timezone) + interval '1 minute', (now() AT TIME ZONE s.timezone) + "
	    "      interval '8 days', interval '1 minute') m "
	    "     WHERE etl.cron_match(s, m) ORDER BY m LIMIT 3) t) AS next "
	    " FROM etl.schedule s) x", 0, NULL, err), err);
}
