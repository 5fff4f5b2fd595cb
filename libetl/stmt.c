/*
 * stmt.c: statements for callers that drive libpq on their own event loop (the
 * controller), and the readers of their results.  The blocking calls of queue.c and
 * runner.c are built from the same pieces, so each statement exists once.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void
etl_stmt_clear(etl_stmt *st)
{
	int i;

	for (i = 0; i < (int)(sizeof(st->owned) / sizeof(st->owned[0])); i++) {
		free(st->owned[i]);
		st->owned[i] = NULL;
	}
	st->sql = NULL;
	st->nparams = 0;
}

/* Set parameter i to s, taking ownership of s (NULL stays SQL NULL). */
static void
own(etl_stmt *st, int i, char *s)
{
	free(st->owned[i]);
	st->owned[i] = s;
	st->params[i] = s;
}

/* Whether parameters 0 .. n-1 were all made (own of a failed strdup leaves NULL); if
 * not, st is cleared and err says out of memory. */
static int
owned_all(etl_stmt *st, int n, etl_error *err)
{
	int i;

	for (i = 0; i < n; i++)
		if (st->params[i] == NULL) {
			etl_stmt_clear(st);
			etl__err(err, ETL_ESYS, "out of memory");
			return -1;
		}
	return 0;
}

int
etl_result_ok(PGresult *res, PGconn *pg, etl_error *err)
{
	ExecStatusType s = PQresultStatus(res);

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
		return 0;
	etl__err_pg(err, res, pg, "database");
	return -1;
}

int
etl_stmt_send(etl_conn *c, const etl_stmt *st, etl_error *err)
{
	if (PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, st->params, NULL, NULL, 0))
		return 0;
	etl__err_pg(err, NULL, c->pg, "database");
	return -1;
}

PGresult *
etl_stmt_exec(etl_conn *c, const etl_stmt *st, etl_error *err)
{
	return etl__exec(c, st->sql, st->nparams, st->params, err);
}

long
etl_count_result(PGresult *res)
{
	const char *t;

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return PQntuples(res);
	t = PQcmdTuples(res);
	return *t ? atol(t) : 0;
}

/* A queue list as a Postgres text[] literal, names validated first. */
static char *
queues_literal(const char *const *queues, size_t n, etl_error *err)
{
	size_t i, len = 3;
	char *s;

	for (i = 0; i < n; i++) {
		if (etl_queue_name_valid(queues[i], err) != 0)
			return NULL;
		len += strlen(queues[i]) + 1;
	}
	if ((s = malloc(len)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return NULL;
	}
	/* valid names hold no quote, comma, brace or space: no escaping needed */
	strlcpy(s, "{", len);
	for (i = 0; i < n; i++) {
		if (i)
			strlcat(s, ",", len);
		strlcat(s, queues[i], len);
	}
	strlcat(s, "}", len);
	return s;
}

static char *
fmt_long(long long v)
{
	char *s;

	return asprintf(&s, "%lld", v) < 0 ? NULL : s;
}

static char *
fmt_double(double v)
{
	char *s;

	return asprintf(&s, "%.3f", v) < 0 ? NULL : s;
}

int
etl_stmt_claim(etl_stmt *st, const char *const *queues, size_t nq, long limit,
    const char *controller_id, const char *host, const char *pg_env, etl_error *err)
{
	char *ql = NULL;

	memset(st, 0, sizeof(*st));
	if (queues != NULL && nq > 0 && (ql = queues_literal(queues, nq, err)) == NULL)
		return -1;
	st->sql = "SELECT id, queue, task, data, pg_env, coalesce(etl_context_id, 0), "
	    "coalesce(since, -1), retry_count, retry_limit, expire_seconds, priority, debug_wait, "
	    "keep_cores, batch_id, run_as, coalesce(rlimit_as, 0), coalesce(rlimit_cpu, 0), "
	    "coalesce(rlimit_nofile, 0), coalesce(nice, 0), mode, fresh, run, heartbeat_seconds, secret, "
	    "more FROM etl.claim($1::text[], $2::int, $3, $4, $5, $6::int, $7::bigint, $8::int, "
	    "$9::int)";
	st->nparams = 9;	/* $6, $7: see etl_stmt_claim_pid; $8, $9: _priority */
	own(st, 0, ql);
	own(st, 1, fmt_long(limit));
	own(st, 2, etl__strdup(controller_id));
	own(st, 3, etl__strdup(host));
	own(st, 4, etl__strdup(pg_env ? pg_env : ""));
	if (st->params[1] == NULL || st->params[2] == NULL || st->params[3] == NULL ||
	    st->params[4] == NULL) {
		etl_stmt_clear(st);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

int
etl_stmt_claim_priority(etl_stmt *st, const long *min, const long *max)
{
	if (min != NULL)
		own(st, 7, fmt_long(*min));
	if (max != NULL)
		own(st, 8, fmt_long(*max));
	return (min == NULL || st->params[7] != NULL) && (max == NULL || st->params[8] != NULL) ?
	    0 : -1;
}

int
etl_stmt_claim_pid(etl_stmt *st, pid_t pid, int64_t start_time)
{
	own(st, 5, fmt_long((long)pid));
	own(st, 6, fmt_long((long long)start_time));
	return st->params[5] != NULL && st->params[6] != NULL ? 0 : -1;
}

/* Jobs from rows of (id, queue, task, data, pg_env, ctx, since, retry_count, retry_limit,
 * expire_seconds, priority, debug_wait [, pid, pid_start_time, started_on, attached]). */
static long
jobs_of(PGresult *res, etl_job ***out, int mine, etl_error *err)
{
	etl_job **jobs;
	long i, n;

	*out = NULL;
	if (etl_result_ok(res, NULL, err) != 0)
		return -1;
	if ((n = PQntuples(res)) == 0)
		return 0;
	if (PQnfields(res) < (mine ? 18 : 24)) {
		etl__err(err, ETL_ESCHEMA, "a job statement returned %d columns, not %d: is the "
		    "schema this etl's? (etl migrate)", PQnfields(res), mine ? 18 : 24);
		return -1;
	}
	if ((jobs = calloc((size_t)n + 1, sizeof(etl_job *))) == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		etl_job *j = calloc(1, sizeof(*j));
		int r = (int)i;

		if (j == NULL)
			goto oom_jobs;
		jobs[i] = j;
		snprintf(j->id, sizeof(j->id), "%s", PQgetvalue(res, r, 0));
		j->queue = strdup(PQgetvalue(res, r, 1));
		j->task = strdup(PQgetvalue(res, r, 2));
		j->data = strdup(PQgetisnull(res, r, 3) ? "null" : PQgetvalue(res, r, 3));
		j->pg_env = strdup(PQgetvalue(res, r, 4));
		if (!j->queue || !j->task || !j->data || !j->pg_env)
			goto oom_jobs;
		j->etl_context_id = strtoll(PQgetvalue(res, r, 5), NULL, 10);
		j->since = strtoll(PQgetvalue(res, r, 6), NULL, 10);
		j->retry_count = atoi(PQgetvalue(res, r, 7));
		j->retry_limit = atoi(PQgetvalue(res, r, 8));
		j->expire_seconds = atoi(PQgetvalue(res, r, 9));
		j->priority = atoi(PQgetvalue(res, r, 10));
		j->debug_wait = PQgetvalue(res, r, 11)[0] == 't';
		if (!mine) {
			j->keep_cores = PQgetvalue(res, r, 12)[0] == 't';
			if (!PQgetisnull(res, r, 13) &&
			    (j->batch_id = strdup(PQgetvalue(res, r, 13))) == NULL)
				goto oom_jobs;
			if (!PQgetisnull(res, r, 14) &&
			    (j->run_as = strdup(PQgetvalue(res, r, 14))) == NULL)
				goto oom_jobs;
			j->rlimit_as = strtoll(PQgetvalue(res, r, 15), NULL, 10);
			j->rlimit_cpu = atoi(PQgetvalue(res, r, 16));
			j->rlimit_nofile = atoi(PQgetvalue(res, r, 17));
			j->nice = atoi(PQgetvalue(res, r, 18));
			j->inprocess = strcmp(PQgetvalue(res, r, 19), "inprocess") == 0;
			j->fresh = PQgetvalue(res, r, 20)[0] == 't';
			j->run = atoi(PQgetvalue(res, r, 21));
			j->heartbeat_seconds = PQgetisnull(res, r, 22) ? 0 :
			    atoi(PQgetvalue(res, r, 22));
			if (!PQgetisnull(res, r, 23) &&
			    (j->secret = strdup(PQgetvalue(res, r, 23))) == NULL)
				goto oom_jobs;
		}
		if (mine) {
			j->pid = (pid_t)atoi(PQgetvalue(res, r, 12));
			j->pid_start_time = PQgetisnull(res, r, 13) ? -1 :
			    strtoll(PQgetvalue(res, r, 13), NULL, 10);
			j->started_on = strtod(PQgetvalue(res, r, 14), NULL);
			j->attached = PQgetvalue(res, r, 15)[0] == 't';
			j->run = atoi(PQgetvalue(res, r, 16));
			j->cancelled = PQgetvalue(res, r, 17)[0] == 't';
		}
	}
	*out = jobs;
	return n;
oom_jobs:
	etl_jobs_free(jobs, (size_t)n);
oom:
	etl__err(err, ETL_ESYS, "out of memory reading %ld jobs", n);
	return -1;
}

long
etl_claim_result(PGresult *res, etl_job ***out, etl_error *err)
{
	return jobs_of(res, out, 0, err);
}

int
etl_claim_more(PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0 || PQnfields(res) < 25)
		return 0;
	return PQgetvalue(res, 0, 24)[0] == 't';
}

int
etl_stmt_mine(etl_stmt *st, const char *controller_id, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT id, queue, coalesce(task, ''), data::text, coalesce(pg_env, ''), "
	    "coalesce(etl_context_id, 0), coalesce(event_since, -1), retry_count, retry_limit, "
	    "expire_seconds, priority, debug_wait, coalesce(pid, 0), pid_start_time, "
	    "extract(epoch FROM started_on), attached, run, state = 'cancelled' "
	    "FROM etl.job WHERE controller_id = $1 AND (state = 'active' OR stopping)";
	st->nparams = 1;
	own(st, 0, etl__strdup(controller_id));
	if (st->params[0] == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

long
etl_mine_result(PGresult *res, etl_job ***out, etl_error *err)
{
	return jobs_of(res, out, 1, err);
}

/* The ERROR payload for a run's end; NULL on out of memory. */
static cJSON *
end_error(const etl_end *e)
{
	char what[160];
	cJSON *o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	if (e->unknown && e->reason == NULL) {
		cJSON_AddStringToObject(o, "message", "the task ended while no controller watched "
		    "it: its exit status is unknown");
	} else {
		etl_wstatus_text(e->wstatus, what, sizeof(what));
		if (e->reason != NULL) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s (%s)", e->reason, what);
			cJSON_AddStringToObject(o, "message", e->unknown || e->etl_context_id == 0 ?
			    e->reason : msg);
		} else {
			cJSON_AddStringToObject(o, "message", what);
		}
		if (!e->unknown && e->etl_context_id != 0) {
			if (WIFEXITED(e->wstatus))
				cJSON_AddNumberToObject(o, "exit_status", WEXITSTATUS(e->wstatus));
			if (WIFSIGNALED(e->wstatus)) {
				const char *ab = sigabbrev_np(WTERMSIG(e->wstatus));
				char name[32];

				snprintf(name, sizeof(name), "SIG%s", ab ? ab : "?");
				cJSON_AddNumberToObject(o, "signal", WTERMSIG(e->wstatus));
				cJSON_AddStringToObject(o, "signal_name", name);
			}
		}
	}
	if (e->reason != NULL && e->etl_context_id != 0)
		cJSON_AddStringToObject(o, "stopped", e->reason);
	if (e->core_file != NULL)
		cJSON_AddStringToObject(o, "core_file", e->core_file);
	if (e->limits != NULL && !e->unknown) {
		/* a task killed by its limits shows only a signal or an error: name them */
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
		char *msg;

		cJSON_AddStringToObject(o, "limits", e->limits);
		if (cJSON_IsString(m) && asprintf(&msg, "%s, under %s", m->valuestring,
		    e->limits) >= 0) {
			cJSON_ReplaceItemInObjectCaseSensitive(o, "message", cJSON_CreateString(msg));
			free(msg);
		}
	}
	if (e->log_tail != NULL && *e->log_tail != '\0')
		cJSON_AddStringToObject(o, "log_tail", e->log_tail);
	return o;
}

/* Whether the run ended well, and whether its failure may be retried. */
static void
end_verdict(const etl_end *e, int *ok, int *no_retry)
{
	enum etl_outcome oc = etl_outcome_of(e->wstatus);

	*ok = !e->unknown && e->reason == NULL && e->etl_context_id != 0 && oc == ETL_OUT_OK;
	*no_retry = e->no_retry ||
	    (!e->unknown && (oc == ETL_OUT_PERMFAIL || oc == ETL_OUT_EXEC));
}

/* An integer member, printed as one (cJSON prints every number as a double, checking
 * its round trip with sscanf: a hot path's cost). */
static int
add_int(cJSON *o, const char *name, long long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lld", v);
	return cJSON_AddRawToObject(o, name, buf) != NULL;
}

/* The [{id, ctx, since, ok, task, error, no_retry, release}] array for etl.finish (the
 * error only for a run that did not end well). */
static char *
ends_json(const etl_end *ends, size_t n, etl_error *err)
{
	cJSON *arr = cJSON_CreateArray(), *o, *eo;
	size_t i;

	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		const etl_end *e = &ends[i];
		int ok, no_retry;

		if (etl_uuid_valid(e->id) != 0) {
			etl__err(err, ETL_EINVAL, "bad job id '%.64s'", e->id);
			cJSON_Delete(arr);
			return NULL;
		}
		end_verdict(e, &ok, &no_retry);
		eo = NULL;
		if ((o = cJSON_CreateObject()) == NULL || (!ok && (eo = end_error(e)) == NULL)) {
			cJSON_Delete(o);
			goto oom;
		}
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "id", e->id) == NULL)
			goto oom;
		if (e->etl_context_id > 0 ? !add_int(o, "ctx", e->etl_context_id) :
		    cJSON_AddNullToObject(o, "ctx") == NULL)
			goto oom;
		if (e->since >= 0 && !add_int(o, "since", e->since))
			goto oom;
		cJSON_AddBoolToObject(o, "ok", ok);
		cJSON_AddStringToObject(o, "task", etl__task_base(e->task));
		if (eo != NULL)
			cJSON_AddItemToObject(o, "error", eo);
		if (ok && e->final != NULL &&
		    !cJSON_AddItemReferenceToObject(o, "output", (cJSON *)e->final))
			goto oom;
		if (cJSON_AddBoolToObject(o, "no_retry", no_retry) == NULL)
			goto oom;
		if (e->release && cJSON_AddBoolToObject(o, "release", 1) == NULL)
			goto oom;
		if (e->unstarted && cJSON_AddBoolToObject(o, "unstarted", 1) == NULL)
			goto oom;
		if (e->run > 0 && !add_int(o, "run", e->run))
			goto oom;
	}
	return etl__json_take(arr, err);
oom:
	cJSON_Delete(arr);
	etl__err(err, ETL_ESYS, "out of memory");
	return NULL;
}

int
etl_stmt_finish(etl_stmt *st, const etl_end *ends, size_t n, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT id, state FROM etl.finish($1::jsonb)";
	st->nparams = 1;
	own(st, 0, ends_json(ends, n, err));
	return st->params[0] ? 0 : -1;
}

/* One end's record in the context's database, then its job in the queue's: for a job
 * whose pg_env is not the controller's.  *state gets the job's new state. */
int
etl__finish_split(etl_conn *qconn, etl_conn *cconn, const etl_end *e, etl_error *err)
{
	char cbuf[24], sbuf[24];
	const char *p[5], *ids[1], *outs[1];
	char *ej;
	cJSON *eo;
	PGresult *res;
	int ok, no_retry, done;
	long n;

	end_verdict(e, &ok, &no_retry);
	if ((eo = end_error(e)) == NULL || (ej = cJSON_PrintUnformatted(eo)) == NULL) {
		cJSON_Delete(eo);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	cJSON_Delete(eo);
	ids[0] = e->id;
	if (e->etl_context_id == 0) {
		outs[0] = ej;
		n = etl_fail(qconn, ids, outs, &no_retry, 1, err);
		free(ej);
		return n < 0 ? -1 : 0;
	}
	snprintf(cbuf, sizeof(cbuf), "%lld", (long long)e->etl_context_id);
	snprintf(sbuf, sizeof(sbuf), "%lld", (long long)e->since);
	p[0] = cbuf;
	p[1] = e->since >= 0 ? sbuf : NULL;
	p[2] = ok ? "true" : "false";
	p[3] = etl__task_base(e->task);
	p[4] = ej;
	res = etl__exec(cconn, "SELECT done, output::text FROM etl.record_end($1::bigint, "
	    "$2::bigint, $3::bool, $4, $5::jsonb)", 5, p, err);
	free(ej);
	if (res == NULL)
		return -1;
	done = PQgetvalue(res, 0, 0)[0] == 't';
	outs[0] = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	if (done)
		n = etl_complete(qconn, ids, outs, 1, err);
	else
		n = etl_fail(qconn, ids, outs, &no_retry, 1, err);
	PQclear(res);
	return n < 0 ? -1 : 0;
}

int
etl_stmt_started(etl_stmt *st, etl_job *const *jobs, const pid_t *pids,
    const char *const *log_paths, const char *host, size_t n, etl_error *err)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	size_t i;

	memset(st, 0, sizeof(*st));
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		long long t = etl_pid_start_time(pids[i]);

		if ((o = cJSON_CreateObject()) == NULL)
			goto oom;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "id", jobs[i]->id) == NULL ||
		    !add_int(o, "pid", pids[i]) || (t >= 0 && !add_int(o, "pid_start_time", t)))
			goto oom;
		if (log_paths != NULL && log_paths[i] != NULL)
			cJSON_AddStringToObject(o, "log_path", log_paths[i]);
		if (jobs[i]->run > 0 && !add_int(o, "run", jobs[i]->run))
			goto oom;
		if (host != NULL && cJSON_AddStringToObject(o, "host", host) == NULL)
			goto oom;
	}
	st->sql = "SELECT * FROM etl.job_started($1::jsonb)";
	st->nparams = 1;
	own(st, 0, cJSON_PrintUnformatted(arr));
	cJSON_Delete(arr);
	if (st->params[0] == NULL)
		goto oom;
	return 0;
oom:
	cJSON_Delete(arr);
	etl__err(err, ETL_ESYS, "out of memory");
	return -1;
}

int
etl_stmt_controller_lock(etl_stmt *st, const char *id, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	/* the row read is the holder's: it is ours only once this lock is held */
	st->sql = "SELECT pg_try_advisory_lock(etl.controller_lock_key($1)), c.host, c.pid "
	    "FROM (VALUES (1)) v LEFT JOIN etl.controller c ON c.id = $1";
	st->nparams = 1;
	own(st, 0, etl__strdup(id));
	if (st->params[0] == NULL) {
		etl_stmt_clear(st);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

int
etl_stmt_controller_beat(etl_stmt *st, const char *id, const char *host, pid_t pid,
    const char *allow_users, double lease_bound, int capacity, const char *queues,
    etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "INSERT INTO etl.controller (id, host, pid, version, allow_users, lease_bound, "
	    "capacity, queues) VALUES ($1, $2, $3::int, $4, string_to_array($5, ','), $6::float8, "
	    "$7::int, string_to_array($8, ',')) "
	    "ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, "
	    "version = EXCLUDED.version, heartbeat_on = now(), capacity = EXCLUDED.capacity, "
	    "allow_users = EXCLUDED.allow_users, lease_bound = EXCLUDED.lease_bound, "
	    "queues = EXCLUDED.queues, "
	    "started_on = CASE WHEN etl.controller.pid = EXCLUDED.pid "
	    "THEN etl.controller.started_on ELSE now() END";
	st->nparams = 8;
	if (queues != NULL)
		own(st, 7, etl__strdup(queues));
	if (lease_bound > 0)
		own(st, 5, fmt_double(lease_bound));
	own(st, 6, fmt_long(capacity));
	own(st, 0, etl__strdup(id));
	own(st, 1, etl__strdup(host));
	own(st, 2, fmt_long(pid));
	own(st, 3, etl__strdup(ETL_VERSION));
	if (allow_users != NULL)
		own(st, 4, etl__strdup(allow_users));
	if (!st->params[0] || !st->params[1] || !st->params[2] || !st->params[3] ||
	    (allow_users != NULL && !st->params[4]) || (lease_bound > 0 && !st->params[5]) ||
	    !st->params[6] || (queues != NULL && !st->params[7])) {
		etl_stmt_clear(st);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

int
etl_stmt_release(etl_stmt *st, const char *controller_id, const char *const *keep, size_t n,
    etl_error *err)
{
	size_t i, len = 3;
	char *lit;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < n; i++) {
		if (etl_uuid_valid(keep[i]) != 0) {
			etl__err(err, ETL_EINVAL, "bad job id '%.64s'", keep[i]);
			return -1;
		}
		len += 37;
	}
	if ((lit = malloc(len)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	strlcpy(lit, "{", len);
	for (i = 0; i < n; i++) {
		if (i)
			strlcat(lit, ",", len);
		strlcat(lit, keep[i], len);
	}
	strlcat(lit, "}", len);
	st->sql = "SELECT * FROM etl.release_unstarted($1, $2::uuid[])";
	st->nparams = 2;
	own(st, 0, etl__strdup(controller_id));
	own(st, 1, lit);
	return 0;
}

int
etl_stmt_reap_orphans(etl_stmt *st, int bound, const char *me, const char *pg_env,
    etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT id, state FROM etl.reap_orphans($1::int, $2, $3)";
	st->nparams = 3;
	own(st, 0, fmt_long(bound));
	own(st, 1, etl__strdup(me));
	own(st, 2, etl__strdup(pg_env ? pg_env : ""));
	if (!st->params[0] || !st->params[1] || !st->params[2]) {
		etl_stmt_clear(st);
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

int
etl_stmt_log_trash(etl_stmt *st, const char *host, const char *dir, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "DELETE FROM etl.log_trash t WHERE t.ctid = ANY (ARRAY("
	    "SELECT x.ctid FROM etl.log_trash x WHERE x.host = $1 "
	    "AND left(x.path, length($2) + 1) = $2 || '/' LIMIT 1000)) RETURNING t.path";
	st->nparams = 2;
	own(st, 0, etl__strdup(host));
	own(st, 1, etl__strdup(dir));
	return owned_all(st, 2, err);
}

int
etl_stmt_wake_view(etl_stmt *st)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT kind, name, queues FROM etl.wake_view()";
	return 0;
}

int
etl_stmt_cancelled(etl_stmt *st, const char *id, int run, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	if (etl_uuid_valid(id) != 0) {
		etl__err(err, ETL_EINVAL, "bad job id '%.64s'", id);
		return -1;
	}
	st->sql = "SELECT 1 FROM etl.job WHERE id = $1::uuid AND state = 'cancelled' "
	    "AND run = $2::int";
	st->nparams = 2;
	own(st, 0, etl__strdup(id));
	own(st, 1, fmt_long(run));
	return owned_all(st, 2, err);
}

int
etl_stmt_wake(etl_stmt *st, const char *payload, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT pg_notify('" ETL_CHANNEL_JOB "', $1)";
	st->nparams = 1;
	own(st, 0, etl__strdup(payload));
	return owned_all(st, 1, err);
}

int
etl_stmt_listen(etl_stmt *st, int which)
{
	memset(st, 0, sizeof(*st));
	st->sql = which == 0 ? "LISTEN " ETL_CHANNEL_JOB : "LISTEN " ETL_CHANNEL_CANCEL;
	return 0;
}

int
etl_stmt_schema(etl_stmt *st)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT version, coalesce(functions, '') FROM etl.version";
	return 0;
}

int
etl_schema_result(PGresult *res, const char *pg_env, etl_error *err)
{
	int v;

	if (etl_result_ok(res, NULL, err) != 0) {
		if (err->code == ETL_ESCHEMA)
			etl__err(err, ETL_ESCHEMA, "no etl schema in pg_env '%s': run `etl migrate`",
			    pg_env);
		return -1;
	}
	v = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	if (v > etl__schema_version) {
		etl__err(err, ETL_ESCHEMA, "the etl schema in pg_env '%s' is version %d, newer "
		    "than this etl (%s knows up to %d): upgrade etl", pg_env, v, ETL_VERSION,
		    etl__schema_version);
		return -1;
	}
	if (v < etl__schema_version) {
		etl__err(err, ETL_ESCHEMA, "the etl schema in pg_env '%s' is version %d, older "
		    "than this etl's %d: run `etl migrate`", pg_env, v, etl__schema_version);
		return -1;
	}
	if (PQnfields(res) > 1 && strcmp(PQgetvalue(res, 0, 1), etl__functions_hash) != 0) {
		etl__err(err, ETL_ESCHEMA, "the etl functions in pg_env '%s' are not this etl's "
		    "(%s): run `etl migrate`", pg_env, ETL_VERSION);
		return -1;
	}
	return 0;
}

int
etl_stmt_maintain(etl_stmt *st)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT what, n FROM etl.maintain()";
	return 0;
}

int
etl_stmt_job_counts(etl_stmt *st, const char *me, int dead_after)
{
	memset(st, 0, sizeof(*st));
	/*
	 * Cluster-wide series come from one controller, the live one with the smallest id
	 * (every controller exporting them made sum() count each job once per controller);
	 * every queue has every unfinished state (0 rather than a missing series), and its
	 * lag: the age of its oldest ready job.  Others get no rows.  Finished jobs are not
	 * counted here (that read the whole table: 149 ms at a million jobs, every tick):
	 * etl_jobs_finished_total counts them as they finish.
	 */
	st->sql = "WITH lead AS (SELECT $1 = (SELECT min(c.id) FROM etl.controller c "
	    "  WHERE c.heartbeat_on > now() - $2::int * interval '1 second') AS me), "
	    "counts AS (SELECT j.queue, j.state, count(*) AS n FROM etl.job j "
	    "  WHERE (SELECT me FROM lead) AND j.state IN ('created', 'retry') GROUP BY 1, 2 "
	    "  UNION ALL SELECT j.queue, j.state, count(*) FROM etl.job j "
	    "  WHERE (SELECT me FROM lead) AND j.state = 'active' GROUP BY 1, 2), "
	    "lag AS (SELECT j.queue, extract(epoch FROM now() - min(j.start_after))::float8 AS s "
	    "  FROM etl.job j WHERE (SELECT me FROM lead) AND j.state IN ('created', 'retry') "
	    "  AND j.waiting = 0 AND j.start_after <= now() GROUP BY 1) "
	    "SELECT q.name, s.state::text, coalesce(c.n, 0), coalesce(l.s, 0) "
	    "  FROM etl.queue q CROSS JOIN unnest('{created,retry,active}'::etl.job_state[]) "
	    "  AS s(state) "
	    "  LEFT JOIN counts c ON c.queue = q.name AND c.state = s.state "
	    "  LEFT JOIN lag l ON l.queue = q.name "
	    " WHERE (SELECT me FROM lead) ORDER BY 1, 2";
	st->nparams = 2;
	own(st, 0, etl__strdup(me));
	own(st, 1, fmt_long(dead_after));
	if (!st->params[0] || !st->params[1]) {
		etl_stmt_clear(st);
		return -1;
	}
	return 0;
}

/* *out gets an array of one element of size sz per row of res (zeroed); the count. */
static long
rows_of(PGresult *res, size_t sz, void **out, etl_error *err)
{
	long n;

	*out = NULL;
	if (etl_result_ok(res, NULL, err) != 0)
		return -1;
	if ((n = PQntuples(res)) > 0 && (*out = calloc((size_t)n, sz)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return n;
}

/* Column col of row i as a job state; ETL_JOB_NSTATES when unknown to this build. */
static enum etl_job_state
state_of(PGresult *res, long i, int col)
{
	enum etl_job_state s;

	return etl_job_state_parse(PQgetvalue(res, (int)i, col), &s) == 0 ? s : ETL_JOB_NSTATES;
}

long
etl_moved_result(PGresult *res, etl_moved **out, etl_error *err)
{
	long i, n = rows_of(res, sizeof(**out), (void **)out, err);

	for (i = 0; i < n; i++) {
		strlcpy((*out)[i].id, PQgetvalue(res, (int)i, 0), sizeof((*out)[i].id));
		(*out)[i].state = state_of(res, i, 1);
	}
	return n;
}

int
etl_stmt_stale_beats(etl_stmt *st, const char *me, etl_error *err)
{
	memset(st, 0, sizeof(*st));
	st->sql = "SELECT id, age, heartbeat_seconds FROM etl.stale_beats($1)";
	st->nparams = 1;
	own(st, 0, etl__strdup(me));
	if (st->params[0] == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	return 0;
}

long
etl_stale_result(PGresult *res, etl_stale **out, etl_error *err)
{
	long i, n = rows_of(res, sizeof(**out), (void **)out, err);

	for (i = 0; i < n; i++) {
		strlcpy((*out)[i].id, PQgetvalue(res, (int)i, 0), sizeof((*out)[i].id));
		(*out)[i].age = atoi(PQgetvalue(res, (int)i, 1));
		(*out)[i].seconds = atoi(PQgetvalue(res, (int)i, 2));
	}
	return n;
}

long
etl_job_counts_result(PGresult *res, etl_job_count **out, etl_error *err)
{
	long i, n = rows_of(res, sizeof(**out), (void **)out, err);

	for (i = 0; i < n; i++) {
		strlcpy((*out)[i].queue, PQgetvalue(res, (int)i, 0), sizeof((*out)[i].queue));
		(*out)[i].state = state_of(res, i, 1);
		(*out)[i].count = atol(PQgetvalue(res, (int)i, 2));
		(*out)[i].lag = PQnfields(res) > 3 ? atof(PQgetvalue(res, (int)i, 3)) : 0;
	}
	return n;
}

int
etl_maintain_result(PGresult *res, long *cron_ticks, long *deleted, etl_error *err)
{
	int i;

	*cron_ticks = *deleted = 0;
	if (etl_result_ok(res, NULL, err) != 0)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 0), "cron") == 0)
			*cron_ticks = atol(PQgetvalue(res, i, 1));
		else if (strcmp(PQgetvalue(res, i, 0), "retention") == 0)
			*deleted = atol(PQgetvalue(res, i, 1));
	}
	return 0;
}

int
etl_lock_result(PGresult *res, etl_lock_holder *h, etl_error *err)
{
	memset(h, 0, sizeof(*h));
	if (etl_result_ok(res, NULL, err) != 0)
		return -1;
	if (PQntuples(res) != 1) {
		etl__err(err, ETL_EDB, "the liveness lock's statement returned %d rows",
		    PQntuples(res));
		return -1;
	}
	h->held = PQgetvalue(res, 0, 0)[0] == 't';
	strlcpy(h->host, PQgetisnull(res, 0, 1) ? "?" : PQgetvalue(res, 0, 1), sizeof(h->host));
	h->pid = PQgetisnull(res, 0, 2) ? 0 : atoi(PQgetvalue(res, 0, 2));
	return 0;
}
