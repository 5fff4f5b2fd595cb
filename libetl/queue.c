/*
 * queue.c: queues and jobs in the controller database: add/remove queues, send, claim,
 * complete, fail (retry, backoff, dead letter), cancel, retry, read.  All SQL takes
 * parameters; the one statement with built column names uses only names from a fixed
 * table here, never from input.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* etl.queue columns a user may set, and the SQL type of each. */
static const struct qcol {
	const char	*name;
	const char	*type;
	int		 kind;	/* 's' string, 'i' integer, 'b' bool */
	int		 nullable;
} qcols[] = {
	{ "task", "text", 's', 0 },
	{ "policy", "text", 's', 0 },
	{ "concurrency", "int", 'i', 1 },
	{ "retry_limit", "int", 'i', 0 },
	{ "retry_delay", "int", 'i', 0 },
	{ "retry_backoff", "bool", 'b', 0 },
	{ "retry_delay_max", "int", 'i', 0 },
	{ "expire_seconds", "int", 'i', 0 },
	{ "heartbeat_seconds", "int", 'i', 1 },
	{ "retention_seconds", "int", 'i', 0 },
	{ "dead_letter", "text", 's', 1 },
	{ "pg_env", "text", 's', 1 },
	{ "keep_cores", "bool", 'b', 0 },
	{ "run_as", "text", 's', 1 },
	{ "rlimit_as", "bigint", 'i', 1 },
	{ "rlimit_cpu", "int", 'i', 1 },
	{ "rlimit_nofile", "int", 'i', 1 },
	{ "nice", "int", 'i', 1 },
	{ "mode", "text", 's', 0 },
};
#define NQCOLS (sizeof(qcols) / sizeof(qcols[0]))

static const struct qcol *
qcol_find(const char *name)
{
	size_t i;

	for (i = 0; i < NQCOLS; i++)
		if (strcmp(qcols[i].name, name) == 0)
			return &qcols[i];
	return NULL;
}

/* The text parameter for value v of column col into buf; NULL for SQL NULL; -1 bad. */
static int
qcol_value(const struct qcol *col, const cJSON *v, char *buf, size_t bufsz,
    const char **out, etl_error *err)
{
	if (cJSON_IsNull(v)) {
		if (!col->nullable) {
			etl__err(err, ETL_EINVAL, "queue option %s may not be null", col->name);
			return -1;
		}
		*out = NULL;
		return 0;
	}
	switch (col->kind) {
	case 's':
		if (!cJSON_IsString(v)) {
			etl__err(err, ETL_EINVAL, "queue option %s wants a string", col->name);
			return -1;
		}
		*out = v->valuestring;
		return 0;
	case 'i':
		if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
		    fabs(v->valuedouble) > 9.2e18) {
			etl__err(err, ETL_EINVAL, "queue option %s wants a whole number", col->name);
			return -1;
		}
		snprintf(buf, bufsz, "%.0f", v->valuedouble);
		*out = buf;
		return 0;
	case 'b':
		if (!cJSON_IsBool(v)) {
			etl__err(err, ETL_EINVAL, "queue option %s wants true or false", col->name);
			return -1;
		}
		*out = cJSON_IsTrue(v) ? "true" : "false";
		return 0;
	}
	etl__err(err, ETL_EINVAL, "queue option %s: bad kind", col->name);
	return -1;
}

int
etl_queue_add(etl_conn *c, const char *name, const cJSON *opts, int *created, etl_error *err)
{
	char sql[4096], cols[1024] = "name", vals[1024] = "$1", sets[2048] = "updated_on = now()";
	char nbuf[NQCOLS][24];
	const char *params[NQCOLS + 1];
	const cJSON *it;
	PGresult *res;
	int n = 1;

	if (etl_queue_name_valid(name, err) != 0)
		return -1;
	if (opts != NULL && !cJSON_IsObject(opts)) {
		etl__err(err, ETL_EINVAL, "queue options must be a JSON object");
		return -1;
	}
	params[0] = name;
	cJSON_ArrayForEach(it, opts) {
		const struct qcol *col = qcol_find(it->string);
		char piece[160];

		if (col == NULL) {
			etl__err(err, ETL_EINVAL, "unknown queue option '%.64s'", it->string);
			return -1;
		}
		if (n > (int)NQCOLS) {
			etl__err(err, ETL_EINVAL, "queue option %s given twice", col->name);
			return -1;
		}
		if (qcol_value(col, it, nbuf[n - 1], sizeof(nbuf[0]), &params[n], err) != 0)
			return -1;
		if (strcmp(col->name, "task") == 0 && params[n] != NULL &&
		    params[n][0] != '/') {
			char dummy[8];
			etl_error e;
			/* only the shape: the task may live on another host */
			if (etl_task_resolve("/nonexistent", params[n], 0, dummy, sizeof(dummy),
			    &e) != 0 && e.code == ETL_EINVAL) {
				*err = e;
				return -1;
			}
		}
		if (strcmp(col->name, "pg_env") == 0 && params[n] != NULL &&
		    etl_pg_env_valid(params[n]) != 0) {
			etl__err(err, ETL_EINVAL, "bad pg_env name '%.64s'", params[n]);
			return -1;
		}
		n++;
		/* col->name and col->type come from qcols[], never from the caller */
		snprintf(piece, sizeof(piece), ", %s", col->name);
		strlcat(cols, piece, sizeof(cols));
		snprintf(piece, sizeof(piece), ", $%d::%s", n, col->type);
		strlcat(vals, piece, sizeof(vals));
		snprintf(piece, sizeof(piece), ", %s = $%d::%s", col->name, n, col->type);
		strlcat(sets, piece, sizeof(sets));
	}
	/*
	 * Update the queue if it exists, else insert it.  Not INSERT .. ON CONFLICT: a new
	 * row missing its task fails NOT NULL before the conflict is seen.
	 */
	snprintf(sql, sizeof(sql), "WITH u AS (UPDATE etl.queue SET %s WHERE name = $1 "
	    "RETURNING 1) INSERT INTO etl.queue (%s) SELECT %s WHERE NOT EXISTS (SELECT 1 FROM u) "
	    "RETURNING true", sets, cols, vals);
	res = etl__exec(c, sql, n, params, err);
	if (res == NULL) {
		if (strcmp(err->sqlstate, "23502") == 0)
			etl__err(err, ETL_EINVAL, "queue '%s' is new: it needs a task (--task)", name);
		else if (strcmp(err->sqlstate, "23503") == 0)
			etl__err(err, ETL_ENOTFOUND, "queue '%s': its dead_letter queue does not "
			    "exist", name);
		return -1;
	}
	if (created)
		*created = PQntuples(res) == 1;
	PQclear(res);
	return 0;
}

int
etl_queue_rm(etl_conn *c, const char *name, etl_error *err)
{
	const char *p[1] = { name };
	PGresult *res;
	int found;

	if (etl_queue_name_valid(name, err) != 0)
		return -1;
	/* jobs still waiting in the queue would wait forever: cancelled with it */
	res = etl__exec(c, "SELECT etl.queue_rm($1)", 1, p, err);
	if (res == NULL)
		return -1;
	found = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!found) {
		etl__err(err, ETL_ENOTFOUND, "no queue named '%s'", name);
		return -1;
	}
	return 0;
}

int
etl_queue_pause(etl_conn *c, const char *name, int paused, etl_error *err)
{
	const char *p[2] = { name, paused ? "t" : "f" };
	PGresult *res;
	int n;

	if (etl_queue_name_valid(name, err) != 0)
		return -1;
	if ((res = etl__exec(c, "UPDATE etl.queue SET paused = $2::bool WHERE name = $1 "
	    "RETURNING name", 2, p, err)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	if (n == 0) {
		etl__err(err, ETL_ENOTFOUND, "no queue named '%s'", name);
		return -1;
	}
	/* resumed: the controllers look at once (NOTIFY etl_job, payload the queue) */
	if (!paused)
		(void)etl__exec_cmd(c, "SELECT pg_notify('" ETL_CHANNEL_JOB "', $1)", 1, p, err);
	return 0;
}

char *
etl_run_as_refused(etl_conn *c, const char *user, etl_error *err)
{
	const char *p[1] = { user };
	PGresult *res;
	char *s;

	/* controllers seen in the last 10 minutes that run as root and do not allow user */
	res = etl__exec(c, "SELECT string_agg(id || ' (on ' || host || ')', ', ' ORDER BY id) "
	    "FROM etl.controller WHERE heartbeat_on > now() - interval '10 minutes' "
	    "AND allow_users IS NOT NULL AND NOT ($1 = ANY (allow_users))", 1, p, err);
	if (res == NULL)
		return NULL;
	etl_error_clear(err);
	s = PQgetisnull(res, 0, 0) ? NULL : etl__strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return s;
}

cJSON *
etl_queue_list(etl_conn *c, etl_error *err)
{
	return etl__json_result(etl__exec(c, "SELECT coalesce(jsonb_agg(q ORDER BY q.name), '[]') "
	    "FROM etl.queue q", 0, NULL, err), err);
}

static const char send_many_sql[] =
    "INSERT INTO etl.job (queue, priority, data, retry_limit, retry_delay, retry_backoff, "
    "  retry_delay_max, expire_seconds, heartbeat_seconds, dead_letter, pg_env, "
    "  start_after, created_on, singleton_key, debug_wait, run_on_host, batch_id, policy) "
    "SELECT q.name, $2::int, d.data, q.retry_limit, q.retry_delay, q.retry_backoff, "
    "  q.retry_delay_max, q.expire_seconds, q.heartbeat_seconds, q.dead_letter, "
    "  coalesce($5, q.pg_env), now() + $4::double precision * interval '1 second', "
    "  clock_timestamp(), $6, $7::bool, $8, $9::uuid, q.policy "
    "FROM etl.queue q, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS d(data, n) "
    "WHERE q.name = $1 ORDER BY d.n "
    "ON CONFLICT DO NOTHING";

/* The options of a send as the JSON object etl.send() reads (group: a group key). */
static char *
send_opts_json(const etl_send_opts *o, const char *group, etl_error *err)
{
	cJSON *j = cJSON_CreateObject(), *arr;
	size_t i;
	char *s;

	if (j == NULL)
		goto oom;
	if (o->priority != 0)
		cJSON_AddNumberToObject(j, "priority", o->priority);
	if (o->start_at != NULL)
		cJSON_AddStringToObject(j, "start_at", o->start_at);
	else if (o->start_after > 0)
		cJSON_AddNumberToObject(j, "start_after", o->start_after);
	if (o->singleton_key != NULL)
		cJSON_AddStringToObject(j, "singleton_key", o->singleton_key);
	if (o->singleton_seconds > 0)
		cJSON_AddNumberToObject(j, "singleton_seconds", o->singleton_seconds);
	if (o->debounce)
		cJSON_AddTrueToObject(j, "debounce");
	if (o->pg_env != NULL)
		cJSON_AddStringToObject(j, "pg_env", o->pg_env);
	if (o->debug_wait)
		cJSON_AddTrueToObject(j, "debug_wait");
	if (o->parent_id != NULL)
		cJSON_AddStringToObject(j, "parent_id", o->parent_id);
	if (o->run_on_host != NULL)
		cJSON_AddStringToObject(j, "run_on_host", o->run_on_host);
	if (o->batch_id != NULL)
		cJSON_AddStringToObject(j, "batch_id", o->batch_id);
	if (o->idempotency_key != NULL)
		cJSON_AddStringToObject(j, "idempotency_key", o->idempotency_key);
	if (o->parent_context_id > 0)
		cJSON_AddNumberToObject(j, "parent_context_id", (double)o->parent_context_id);
	if (group != NULL)
		cJSON_AddStringToObject(j, "group_key", group);
	if (o->nafter > 0) {
		if ((arr = cJSON_AddArrayToObject(j, "after")) == NULL)
			goto oom;
		for (i = 0; i < o->nafter; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(o->after[i]));
	}
	if ((s = cJSON_PrintUnformatted(j)) == NULL)
		goto oom;
	cJSON_Delete(j);
	return s;
oom:
	cJSON_Delete(j);
	etl__err(err, ETL_ESYS, "out of memory");
	return NULL;
}

/* Check what a user may name in send options. */
static int
send_opts_valid(const char *queue, const etl_send_opts *o, etl_error *err)
{
	size_t i;

	if (etl_queue_name_valid(queue, err) != 0)
		return -1;
	if (o->pg_env != NULL && etl_pg_env_valid(o->pg_env) != 0) {
		etl__err(err, ETL_EINVAL, "bad pg_env name '%.64s'", o->pg_env);
		return -1;
	}
	if (o->parent_id != NULL && etl_uuid_valid(o->parent_id) != 0) {
		etl__err(err, ETL_EINVAL, "bad parent job id '%.64s'", o->parent_id);
		return -1;
	}
	if (o->batch_id != NULL && etl_uuid_valid(o->batch_id) != 0) {
		etl__err(err, ETL_EINVAL, "bad batch id '%.64s'", o->batch_id);
		return -1;
	}
	for (i = 0; i < o->nafter; i++)
		if (etl_uuid_valid(o->after[i]) != 0) {
			etl__err(err, ETL_EINVAL, "bad job id to wait for '%.64s'", o->after[i]);
			return -1;
		}
	if (!isfinite(o->start_after) || o->start_after < 0 || o->start_after > 3.2e9) {
		etl__err(err, ETL_EINVAL, "bad start_after: want seconds from now, >= 0");
		return -1;
	}
	if (!isfinite(o->singleton_seconds) || o->singleton_seconds < 0) {
		etl__err(err, ETL_EINVAL, "bad singleton_seconds: want seconds > 0");
		return -1;
	}
	return 0;
}

static void
no_queue(const char *queue, etl_error *err)
{
	etl__err(err, ETL_ENOTFOUND, "no queue named '%s' (create it with `etl queue add %s "
	    "--task TASK`)", queue, queue);
}

static int	send_text(etl_conn *, const char *, const char *, const etl_send_opts *,
		    const char *,
		    char [ETL_ID_LEN], int, etl_error *);

int
etl_send(etl_conn *c, const char *queue, const cJSON *data, const etl_send_opts *o,
    char id[ETL_ID_LEN], etl_error *err)
{
	char *text;
	int rc;

	if ((text = etl__json_text(data)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return -1;
	}
	/* printed by cJSON: valid JSON already; only the limits are checked again */
	rc = send_text(c, queue, text, o, NULL, id, 0, err);
	free(text);
	return rc;
}

int
etl_send_text(etl_conn *c, const char *queue, const char *json, const etl_send_opts *o,
    char id[ETL_ID_LEN], etl_error *err)
{
	return send_text(c, queue, json, o, NULL, id, 1, err);
}

int
etl_send_group(etl_conn *c, const char *queue, const char *json, const etl_send_opts *o,
    const char *group, char id[ETL_ID_LEN], etl_error *err)
{
	if (group != NULL && (*group == '\0' || strlen(group) > 200)) {
		etl__err(err, ETL_EINVAL, "a group key is 1 to 200 characters");
		return -1;
	}
	return send_text(c, queue, json, o, group, id, 1, err);
}

/* Send json (NULL: null), checked in full (grammar too) when parse, else its limits. */
static int
send_text(etl_conn *c, const char *queue, const char *json, const etl_send_opts *o,
    const char *group, char id[ETL_ID_LEN], int parse, etl_error *err)
{
	static const etl_send_opts none;
	const char *p[3];
	char *opts;
	PGresult *res;
	int rc;

	if (o == NULL)
		o = &none;
	id[0] = '\0';
	if (send_opts_valid(queue, o, err) != 0)
		return -1;
	if (json == NULL)
		json = "null";
	/* checked, never rewritten: PostgreSQL reads the text itself, numbers exact */
	if ((parse ? etl_json_check(json, strlen(json), etl_payload_max(), err) :
	    etl__json_limits(json, strlen(json), etl_payload_max(), err)) != 0)
		return -1;
	if ((opts = send_opts_json(o, group, err)) == NULL)
		return -1;
	p[0] = queue;
	p[1] = json;
	p[2] = opts;
	res = etl__exec(c, "SELECT id, note FROM etl.send($1, $2::jsonb, $3::jsonb)", 3, p, err);
	free(opts);
	if (res == NULL) {
		if (err->code == ETL_ENOTFOUND && strstr(err->message, "no queue named") != NULL)
			no_queue(queue, err);
		return -1;
	}
	etl_error_clear(err);
	if (!PQgetisnull(res, 0, 1))
		snprintf(err->message, sizeof(err->message), "%s", PQgetvalue(res, 0, 1));
	if (PQgetisnull(res, 0, 0)) {
		rc = 1;
	} else {
		snprintf(id, ETL_ID_LEN, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	}
	PQclear(res);
	return rc;
}

long
etl_send_many(etl_conn *c, const char *queue, const char *const *texts, size_t n,
    const etl_send_opts *o, etl_error *err)
{
	enum { CHUNK = 5000 };
	static const etl_send_opts none;
	char prio[16], after[32];
	const char *p[9];
	size_t i, j, len, cap = 0;
	char *buf = NULL;
	long sent = 0;
	PGresult *qres;

	if (o == NULL)
		o = &none;
	if (send_opts_valid(queue, o, err) != 0)
		return -1;
	if (o->nafter > 0 || o->singleton_seconds > 0 || o->idempotency_key != NULL ||
	    o->start_at != NULL) {
		etl__err(err, ETL_EINVAL, "a bulk send takes no --after, throttle, sub-task or "
		    "timestamp option: send those one by one");
		return -1;
	}
	snprintf(prio, sizeof(prio), "%d", o->priority);
	snprintf(after, sizeof(after), "%.6f", o->start_after);
	p[0] = queue;
	p[1] = prio;
	p[3] = after;
	p[4] = o->pg_env;
	p[5] = o->singleton_key;
	p[6] = o->debug_wait ? "true" : "false";
	p[7] = o->run_on_host;
	p[8] = o->batch_id;
	if (etl__exec_cmd(c, "BEGIN", 0, NULL, err) != 0)
		return -1;
	/* the queue and the batch must exist: say which does not, before any row */
	if ((qres = etl__exec(c, "SELECT (SELECT count(*) FROM etl.queue WHERE name = $1), "
	    "(SELECT count(*) FROM etl.batch WHERE id = $2::uuid)", 2,
	    (const char *[]){ queue, o->batch_id }, err)) == NULL)
		goto fail;
	if (atoi(PQgetvalue(qres, 0, 0)) == 0 ||
	    (o->batch_id != NULL && atoi(PQgetvalue(qres, 0, 1)) == 0)) {
		if (atoi(PQgetvalue(qres, 0, 0)) == 0)
			no_queue(queue, err);
		else
			etl__err(err, ETL_ENOTFOUND, "no batch %s", o->batch_id);
		PQclear(qres);
		goto fail;
	}
	PQclear(qres);
	for (i = 0; i < n; i = j) {
		PGresult *res;
		size_t at = 0;

		/* one JSON array of up to CHUNK jobs per statement */
		for (j = i; j < n && j - i < CHUNK; j++) {
			len = strlen(texts[j]);
			if (len > etl_payload_max()) {
				etl__err(err, ETL_EINVAL, "job %zu: payload is %zu bytes, over the "
				    "limit of %zu (ETL_MAX_PAYLOAD)", j + 1, len, etl_payload_max());
				goto fail;
			}
			if (at + len + 3 > cap) {
				size_t ncap = (at + len + 3) * 2;
				char *nb = realloc(buf, ncap);
				if (nb == NULL) {
					etl__err(err, ETL_ESYS, "out of memory");
					goto fail;
				}
				buf = nb;
				cap = ncap;
			}
			buf[at++] = j == i ? '[' : ',';
			memcpy(buf + at, texts[j], len);
			at += len;
		}
		buf[at++] = ']';
		buf[at] = '\0';
		p[2] = buf;
		if ((res = etl__exec(c, send_many_sql, 9, p, err)) == NULL)
			goto fail;
		/* fewer than sent: the queue's policy kept some out */
		sent += atol(PQcmdTuples(res));
		PQclear(res);
	}
	free(buf);
	if (etl__exec_cmd(c, "COMMIT", 0, NULL, err) != 0)
		return -1;
	return sent;
fail:
	free(buf);
	PQclear(PQexec(c->pg, "ROLLBACK"));
	return -1;
}

void
etl_job_free(etl_job *j)
{
	if (j == NULL)
		return;
	free(j->queue);
	free(j->task);
	free(j->data);
	free(j->pg_env);
	free(j->batch_id);
	free(j->run_as);
	if (j->secret != NULL)
		explicit_bzero(j->secret, strlen(j->secret));
	free(j->secret);
	free(j);
}

void
etl_jobs_free(etl_job **jobs, size_t n)
{
	size_t i;

	if (jobs == NULL)
		return;
	for (i = 0; i < n; i++)
		etl_job_free(jobs[i]);
	free(jobs);
}

long
etl_claim(etl_conn *c, const char *const *queues, size_t nq, long limit,
    const char *controller_id, const char *host, etl_job ***out, etl_error *err)
{
	etl_stmt st;
	PGresult *res;
	long n;

	*out = NULL;
	if (etl_stmt_claim(&st, queues, nq, limit, controller_id, host, c->pg_env, err) != 0)
		return -1;
	res = etl_stmt_exec(c, &st, err);
	etl_stmt_clear(&st);
	if (res == NULL)
		return -1;
	n = etl_claim_result(res, out, err);
	PQclear(res);
	return n;
}

/* [{"id":..,"output":..,"no_retry":..}, ...] for etl.complete / etl.fail. */
static char *
jobs_json(const char *const *ids, const char *const *outputs, const int *no_retry, size_t n,
    int with_retry, etl_error *err)
{
	cJSON *arr = cJSON_CreateArray(), *o, *v;
	size_t i;

	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		if (etl_uuid_valid(ids[i]) != 0) {
			etl__err(err, ETL_EINVAL, "bad job id '%.64s'", ids[i]);
			cJSON_Delete(arr);
			return NULL;
		}
		if ((o = cJSON_CreateObject()) == NULL)
			goto oom;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "id", ids[i]) == NULL)
			goto oom;
		if (outputs == NULL || outputs[i] == NULL)
			v = cJSON_CreateNull();
		else if ((v = cJSON_Parse(outputs[i])) == NULL)
			v = cJSON_CreateString(outputs[i]);	/* not JSON: keep it as text */
		if (v == NULL)
			goto oom;
		cJSON_AddItemToObject(o, "output", v);
		if (with_retry && cJSON_AddBoolToObject(o, "no_retry",
		    no_retry != NULL && no_retry[i]) == NULL)
			goto oom;
	}
	return etl__json_take(arr, err);
oom:
	cJSON_Delete(arr);
	etl__err(err, ETL_ESYS, "out of memory");
	return NULL;
}

static long
run_jobs_fn(etl_conn *c, const char *sql, char *json, etl_error *err)
{
	const char *p[1] = { json };
	PGresult *res;
	long n;

	if (json == NULL)
		return -1;
	res = etl__exec(c, sql, 1, p, err);
	free(json);
	if (res == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	return n;
}

long
etl_complete(etl_conn *c, const char *const *ids, const char *const *outputs, size_t n,
    etl_error *err)
{
	return run_jobs_fn(c, "SELECT * FROM etl.complete($1::jsonb)",
	    jobs_json(ids, outputs, NULL, n, 0, err), err);
}

long
etl_fail(etl_conn *c, const char *const *ids, const char *const *outputs,
    const int *no_retry, size_t n, etl_error *err)
{
	return run_jobs_fn(c, "SELECT * FROM etl.fail($1::jsonb)",
	    jobs_json(ids, outputs, no_retry, n, 1, err), err);
}

/* The ids of a jobs_json array, as the uuid[] the job functions take. */
#define JOB_IDS "ARRAY(SELECT (e->>'id')::uuid FROM jsonb_array_elements($1::jsonb) e)"

long
etl_cancel(etl_conn *c, const char *const *ids, size_t n, etl_error *err)
{
	/* the owner of an active job learns of it by NOTIFY and stops the task */
	return run_jobs_fn(c, "SELECT id FROM etl.cancel(" JOB_IDS ", 'cancelled', false)",
	    jobs_json(ids, NULL, NULL, n, 0, err), err);
}

long
etl_retry(etl_conn *c, const char *const *ids, size_t n, etl_error *err)
{
	return run_jobs_fn(c, "SELECT * FROM etl.retry(" JOB_IDS ")",
	    jobs_json(ids, NULL, NULL, n, 0, err), err);
}

/* Deleting finished jobs, as retention does: their dependency rows go with them (a job
 * waiting or running is someone's: cancel it first). */
#define DELETE_FINISHED(where) \
    "WITH d AS (DELETE FROM etl.job WHERE " where " AND state IN ('completed', 'cancelled', " \
    "'failed') RETURNING id), x AS (DELETE FROM etl.job_dep j USING d " \
    "WHERE j.after_id = d.id OR j.job_id = d.id) SELECT id FROM d"

long
etl_delete(etl_conn *c, const char *const *ids, size_t n, etl_error *err)
{
	return run_jobs_fn(c, DELETE_FINISHED("id = ANY(" JOB_IDS ")"),
	    jobs_json(ids, NULL, NULL, n, 0, err), err);
}

cJSON *
etl_job_get(etl_conn *c, const char *id, etl_error *err)
{
	const char *p[1] = { id };
	PGresult *res;

	if (etl_uuid_valid(id) != 0) {
		etl__err(err, ETL_EINVAL, "bad job id '%.64s': want a uuid", id);
		return NULL;
	}
	/* json, not jsonb: the fields in the table's order, as etl show prints them */
	res = etl__exec(c, "SELECT row_to_json(j) FROM etl.job j WHERE id = $1::uuid", 1, p, err);
	if (res == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		etl__err(err, ETL_ENOTFOUND, "no job %s", id);
		return NULL;
	}
	return etl__json_result(res, err);
}

static const char *const job_states[ETL_JOB_NSTATES] = {
	"created", "retry", "active", "completed", "cancelled", "failed"
};

const char *
etl_job_state_name(enum etl_job_state s)
{
	return (unsigned)s < ETL_JOB_NSTATES ? job_states[s] : NULL;
}

int
etl_job_state_parse(const char *name, enum etl_job_state *out)
{
	int i;

	for (i = 0; i < ETL_JOB_NSTATES; i++)
		if (name != NULL && strcmp(job_states[i], name) == 0) {
			*out = (enum etl_job_state)i;
			return 0;
		}
	return -1;
}

int
etl_job_state_finished(enum etl_job_state s)
{
	return s == ETL_JOB_COMPLETED || s == ETL_JOB_CANCELLED || s == ETL_JOB_FAILED;
}

/* A state name, checked: 0, or -1 with err. */
static int
state_arg(const char *state, etl_error *err)
{
	enum etl_job_state s;

	if (state != NULL && etl_job_state_parse(state, &s) != 0) {
		etl__err(err, ETL_EINVAL, "bad state '%.32s': want created, retry, active, "
		    "completed, cancelled or failed", state);
		return -1;
	}
	return 0;
}

cJSON *
etl_job_list(etl_conn *c, const char *queue, const char *state, long limit, etl_error *err)
{
	return etl_job_search(c, queue, state, NULL, NULL, limit, err);
}

cJSON *
etl_job_search(etl_conn *c, const char *queue, const char *state, const char *key,
    const char *data, long limit, etl_error *err)
{
	char lbuf[24];
	const char *p[5];

	if (state_arg(state, err) != 0)
		return NULL;
	if (queue != NULL && etl_queue_name_valid(queue, err) != 0)
		return NULL;
	if (data != NULL && etl_json_check(data, strlen(data), etl_payload_max(), err) != 0)
		return NULL;
	snprintf(lbuf, sizeof(lbuf), "%ld", limit > 0 ? limit : 100);
	p[0] = queue;
	p[1] = state;
	p[2] = lbuf;
	p[3] = key;
	p[4] = data;
	return etl__json_result(etl__exec(c,
	    "SELECT coalesce(jsonb_agg(x ORDER BY x.created_on DESC, x.id DESC), '[]') FROM ("
	    " SELECT id, queue, state, priority, retry_count, created_on, started_on, "
	    "  completed_on, etl_context_id, host, pid, progress, "
	    "  round(extract(epoch FROM now() - created_on)) AS age_seconds "
	    " FROM etl.job WHERE ($1::text IS NULL OR queue = $1) "
	    "  AND ($2::etl.job_state IS NULL OR state = $2::etl.job_state) "
	    "  AND ($4::text IS NULL OR singleton_key = $4) "
	    "  AND ($5::jsonb IS NULL OR data @> $5::jsonb) "
	    /* newest first down job_created; the state a constant of the plan (not a
	     * cast from text), so the partial indexes of states apply */
	    " ORDER BY created_on DESC, id DESC LIMIT $3::int) x", 5, p, err), err);
}

/* Run sql on every job of queue (in state): the count of its rows. */
static long
where_rows(etl_conn *c, const char *sql, const char *queue, const char *state,
    etl_error *err)
{
	const char *p[2] = { queue, state };
	PGresult *res;
	long n;

	if (etl_queue_name_valid(queue, err) != 0 || state_arg(state, err) != 0)
		return -1;
	if ((res = etl__exec(c, sql, 2, p, err)) == NULL)
		return -1;
	n = PQntuples(res);
	PQclear(res);
	return n;
}

long
etl_cancel_where(etl_conn *c, const char *queue, const char *state, etl_error *err)
{
	return where_rows(c, "SELECT id FROM etl.cancel(ARRAY(SELECT id FROM etl.job "
	    "WHERE queue = $1 AND state IN ('created', 'retry', 'active') "
	    "AND ($2::text IS NULL OR state = $2::etl.job_state)), 'cancelled', false)", queue,
	    state, err);
}

long
etl_delete_where(etl_conn *c, const char *queue, const char *state, etl_error *err)
{
	return where_rows(c, DELETE_FINISHED("queue = $1 AND ($2::text IS NULL OR "
	    "state = $2::etl.job_state)"), queue, state, err);
}

long
etl_retry_where(etl_conn *c, const char *queue, const char *state, etl_error *err)
{
	/* a cancelled job whose task has not ended yet is left for later (etl.retry refuses) */
	return where_rows(c, "SELECT * FROM etl.retry(ARRAY(SELECT id FROM etl.job "
	    "WHERE queue = $1 AND state IN ('failed', 'cancelled') AND NOT stopping "
	    "AND ($2::text IS NULL OR state = $2::etl.job_state)))", queue, state, err);
}
