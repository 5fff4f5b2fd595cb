/*
 * runner.c: what any runner of a job's task shares (etl run and the controller): what a
 * wait status means, giving a job its context and INITIAL event before the task starts,
 * and recording its end (FINAL or ERROR, then complete or fail) after.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

enum etl_outcome
etl_outcome_of(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return ETL_OUT_SIGNAL;
	if (!WIFEXITED(wstatus))
		return ETL_OUT_FAIL;
	switch (WEXITSTATUS(wstatus)) {
	case 0:
		return ETL_OUT_OK;
	case 75:
		return ETL_OUT_TEMPFAIL;
	case 64:
	case 65:
		return ETL_OUT_PERMFAIL;
	case 126:
	case 127:
		return ETL_OUT_EXEC;
	default:
		return ETL_OUT_FAIL;
	}
}

const char *
etl_wstatus_text(int wstatus, char *buf, size_t bufsz)
{
	if (WIFSIGNALED(wstatus)) {
		int sig = WTERMSIG(wstatus);
		const char *abbrev = sigabbrev_np(sig);

		snprintf(buf, bufsz, "killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
		    WCOREDUMP(wstatus) ? ", core dumped" : "");
	} else if (WIFEXITED(wstatus)) {
		int st = WEXITSTATUS(wstatus);

		snprintf(buf, bufsz, "exit status %d%s", st,
		    st == 127 ? " (could not execute the task)" :
		    st == 126 ? " (task not executable)" :
		    st == 75 ? " (temporary failure)" :
		    st == 65 ? " (bad input)" : st == 64 ? " (usage)" : "");
	} else {
		snprintf(buf, bufsz, "wait status 0x%x", (unsigned)wstatus);
	}
	return buf;
}

char *
etl_initial_text(const etl_job *job, const char *queue_pg_env, etl_error *err)
{
	char type[256], *head = NULL, *mtext = NULL, *s = NULL;
	cJSON *ev, *meta;
	size_t hlen;

	snprintf(type, sizeof(type), "%s:INITIAL", etl__task_base(job->task));
	ev = cJSON_CreateObject();
	meta = cJSON_CreateObject();
	if (ev == NULL || meta == NULL || cJSON_AddStringToObject(ev, "type", type) == NULL)
		goto done;
	cJSON_AddNumberToObject(meta, "etl_context_id", (double)job->etl_context_id);
	cJSON_AddStringToObject(meta, "pg_env", job->pg_env[0] ? job->pg_env :
	    (queue_pg_env ? queue_pg_env : ""));
	cJSON_AddStringToObject(meta, "job_id", job->id);
	cJSON_AddStringToObject(meta, "queue", job->queue);
	cJSON_AddStringToObject(meta, "task", etl__task_base(job->task));
	cJSON_AddNumberToObject(meta, "attempt", job->retry_count + 1);
	cJSON_AddStringToObject(meta, "queue_pg_env", queue_pg_env ? queue_pg_env : "");
	/* the run's proof: only on the task's stdin, never stored */
	if (job->secret != NULL) {
		cJSON_AddNumberToObject(meta, "run", job->run);
		cJSON_AddStringToObject(meta, "run_token", job->secret);
	}
	if ((head = cJSON_PrintUnformatted(ev)) == NULL ||
	    (mtext = cJSON_PrintUnformatted(meta)) == NULL)
		goto done;
	/*
	 * The payload goes in as the database gave it (jsonb's text), never through a
	 * parser: what the task reads is exactly what its INITIAL event records, big
	 * integers and deep nesting included.
	 */
	hlen = strlen(head) - 1;	/* without its closing brace */
	if (asprintf(&s, "%.*s,\"payload\":%s,\"meta\":%s}", (int)hlen, head,
	    job->data != NULL && job->data[0] != '\0' ? job->data : "null", mtext) < 0)
		s = NULL;
done:
	cJSON_Delete(ev);
	cJSON_Delete(meta);
	free(head);
	free(mtext);
	if (s == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return s;
}

int
etl_job_prepare(etl_conn *qconn, etl_conn *cconn, etl_job *job, char **initial,
    int64_t *since, etl_error *err)
{
	char idbuf[24], sbuf[24];
	const char *p[5];
	PGresult *res;
	char *text;

	*initial = NULL;
	if (job->etl_context_id == 0) {
		cJSON *meta = cJSON_CreateObject();
		char *mtext, type[256];

		if (meta == NULL || cJSON_AddStringToObject(meta, "job_id", job->id) == NULL ||
		    cJSON_AddStringToObject(meta, "queue", job->queue) == NULL ||
		    cJSON_AddStringToObject(meta, "task", etl__task_base(job->task)) == NULL ||
		    (mtext = cJSON_PrintUnformatted(meta)) == NULL) {
			cJSON_Delete(meta);
			etl__err(err, ETL_ESYS, "out of memory");
			return -1;
		}
		cJSON_Delete(meta);
		snprintf(type, sizeof(type), "%s:INITIAL", etl__task_base(job->task));
		p[0] = NULL;
		p[1] = mtext;
		p[2] = type;
		p[3] = job->data;
		p[4] = mtext;
		res = etl__exec(cconn, "SELECT etl_context_id, event_id FROM "
		    "etl.context_open($1::bigint, $2::jsonb, $3, $4::jsonb, $5::jsonb)", 5, p, err);
		free(mtext);
		if (res == NULL)
			return -1;
		job->etl_context_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*since = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
		snprintf(idbuf, sizeof(idbuf), "%lld", (long long)job->etl_context_id);
		p[0] = job->id;
		p[1] = idbuf;
		snprintf(sbuf, sizeof(sbuf), "%lld", (long long)*since);
		p[2] = sbuf;
		if (etl__exec_cmd(qconn, "UPDATE etl.job SET etl_context_id = $2::bigint, "
		    "event_since = $3::bigint WHERE id = $1::uuid", 3, p, err) != 0)
			return -1;
	} else {
		snprintf(idbuf, sizeof(idbuf), "%lld", (long long)job->etl_context_id);
		p[0] = idbuf;
		res = etl__exec(cconn, "SELECT etl.context_latest(etl_context_id) FROM "
		    "etl.etl_context WHERE etl_context_id = $1::bigint", 1, p, err);
		if (res == NULL)
			return -1;
		if (PQntuples(res) != 1) {
			PQclear(res);
			etl__err(err, ETL_ENOTFOUND, "job %s: its etl_context %s is missing in "
			    "pg_env '%s'", job->id, idbuf, cconn->pg_env);
			return -1;
		}
		*since = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		p[0] = job->id;
		p[1] = idbuf;
		snprintf(sbuf, sizeof(sbuf), "%lld", (long long)*since);
		p[2] = sbuf;
		if (etl__exec_cmd(qconn, "UPDATE etl.job SET event_since = $3::bigint "
		    "WHERE id = $1::uuid AND etl_context_id = $2::bigint", 3, p, err) != 0)
			return -1;
	}
	job->since = *since;
	if ((text = etl_initial_text(job, qconn->pg_env, err)) == NULL)
		return -1;
	*initial = text;
	return 0;
}

int
etl_job_finish(etl_conn *qconn, etl_conn *cconn, const etl_job *job, int64_t since,
    int wstatus, const char *log_tail, enum etl_job_state *state, etl_error *err)
{
	const char *p[1] = { job->id };
	etl_end e;
	etl_stmt st;
	PGresult *res;

	memset(&e, 0, sizeof(e));
	e.id = job->id;
	e.etl_context_id = job->etl_context_id;
	e.since = since;
	e.task = job->task;
	e.wstatus = wstatus < 0 ? 0 : wstatus;
	e.unknown = wstatus < 0;
	e.reason = wstatus < 0 ? "run under a debugger: its exit status is unknown" : NULL;
	e.log_tail = log_tail;
	if (cconn == qconn || cconn == NULL) {
		if (etl_stmt_finish(&st, &e, 1, err) != 0)
			return -1;
		res = etl_stmt_exec(qconn, &st, err);
		etl_stmt_clear(&st);
		if (res == NULL)
			return -1;
		PQclear(res);
	} else if (etl__finish_split(qconn, cconn, &e, err) != 0) {
		return -1;
	}
	res = etl__exec(qconn, "SELECT state FROM etl.job WHERE id = $1::uuid", 1, p, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0 || etl_job_state_parse(PQgetvalue(res, 0, 0), state) != 0) {
		etl__err(err, ETL_ENOTFOUND, "job %s is gone", job->id);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

/* A job from its strings (copied); NULL and err when out of memory. */
static etl_job *
job_of(const char *id, const char *queue, const char *task, const char *data,
    const char *pg_env, etl_error *err)
{
	etl_job *j = calloc(1, sizeof(*j));

	if (j != NULL) {
		snprintf(j->id, sizeof(j->id), "%s", id);
		j->queue = strdup(queue);
		j->task = strdup(task);
		j->data = strdup(data);
		j->pg_env = strdup(pg_env ? pg_env : "");
		j->expire_seconds = 900;
		if (j->queue && j->task && j->data && j->pg_env)
			return j;
	}
	etl_job_free(j);
	etl__err(err, ETL_ESYS, "out of memory");
	return NULL;
}

int
etl_job_create_running(etl_conn *c, const char *task, const char *data_json,
    const char *pg_env, const char *host, etl_job **out, etl_error *err)
{
	const char *base = etl__task_base(task);
	const char *p[5];
	etl_error e;
	etl_job *j;
	PGresult *res;

	*out = NULL;
	if (pg_env != NULL && etl_pg_env_valid(pg_env) != 0) {
		etl__err(err, ETL_EINVAL, "bad pg_env name '%.64s'", pg_env);
		return -1;
	}
	p[0] = etl_queue_name_valid(base, &e) == 0 ? base : "run";
	p[1] = task;
	p[2] = data_json;
	p[3] = pg_env;
	p[4] = host;
	res = etl__exec(c, "SELECT id, queue FROM etl.run_here($1, $2, $3::jsonb, $4, $5)", 5, p,
	    err);
	if (res == NULL)
		return -1;
	j = job_of(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), task, data_json, pg_env, err);
	PQclear(res);
	if (j == NULL)
		return -1;
	*out = j;
	return 0;
}

int
etl_job_set_process(etl_conn *c, const char *id, pid_t pid, int64_t start_time,
    const char *host, const char *log_path, etl_error *err)
{
	char pbuf[24], sbuf[24];
	const char *p[5];

	snprintf(pbuf, sizeof(pbuf), "%d", (int)pid);
	snprintf(sbuf, sizeof(sbuf), "%lld", (long long)start_time);
	p[0] = id;
	p[1] = pbuf;
	p[2] = start_time >= 0 ? sbuf : NULL;
	p[3] = host;
	p[4] = log_path;
	return etl__exec_cmd(c, "UPDATE etl.job SET pid = $2::int, pid_start_time = $3::bigint, "
	    "host = coalesce($4, host), log_path = $5 WHERE id = $1::uuid", 5, p, err);
}

int64_t
etl_pid_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	long long v = -1;
	ssize_t n;
	int fd, field;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	fd = fileno(f);
	n = read(fd, buf, sizeof(buf) - 1);
	fclose(f);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: count from the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ')' come fields 3 (state) onward; starttime is field 22 */
	for (field = 2; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtoll(p + 1, NULL, 10);
	return v;
}

int
etl_job_rerun(etl_conn *c, int64_t ctx_id, const char *host, etl_job **out, etl_error *err)
{
	char cbuf[24];
	const char *p[2];
	etl_job *j;
	PGresult *res;

	*out = NULL;
	snprintf(cbuf, sizeof(cbuf), "%lld", (long long)ctx_id);
	p[0] = cbuf;
	p[1] = host;
	res = etl__exec(c, "SELECT id, queue, task, data, pg_env, since "
	    "FROM etl.job_rerun($1::bigint, $2)", 2, p, err);
	if (res == NULL) {
		if (strcmp(err->sqlstate, "ET006") == 0 || strcmp(err->sqlstate, "ET007") == 0)
			err->code = ETL_EDB;	/* a state, not bad usage */
		return -1;
	}
	j = job_of(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
	    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), err);
	if (j != NULL) {
		j->since = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
		j->etl_context_id = ctx_id;
	}
	PQclear(res);
	if (j == NULL)
		return -1;
	*out = j;
	return 0;
}
