/*
 * context.c: the EtlContext, (pg_env, etl_context_id) plus its job, and the thread-local
 * "current context" that lets code deep in a task find it without threading arguments.
 * A context handle owns its connection(s), opened on first use.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "internal.h"
#include "context.h"

/* Named for gdb (contrib/gdb/etl.py reads them): this thread's context, and the task's. */
static __thread etl_context *etl__current_context;
etl_context *etl__task_context;
char *etl__task_initial;

etl_context *
etl_context_current(void)
{
	return etl__current_context;
}

etl_context *
etl_context_set(etl_context *ctx)
{
	etl_context *prev = etl__current_context;

	etl__current_context = ctx;
	return prev;
}

void *
etl_context_run(etl_context *ctx, void *(*fn)(void *), void *arg)
{
	etl_context *prev = etl_context_set(ctx);
	void *r = fn(arg);

	etl_context_set(prev);
	return r;
}

/*
 * A program started by a detached task (`etl dispatch` in a shell task) is that task's
 * run: its run number is in $ETL_RUN and its secret on the descriptor $ETL_RUN_TOKEN_FD
 * the controller opened for the task (never in the environment, which other processes
 * of the same user may read).  For its own job only.
 */
static void
proof_from_env(etl_context *ctx)
{
	const char *job = getenv("ETL_JOB_ID"), *run = getenv("ETL_RUN");
	const char *fds = getenv("ETL_RUN_TOKEN_FD");
	char buf[129];
	ssize_t n;
	int fd;

	if (ctx->job_id == NULL || job == NULL || run == NULL || fds == NULL ||
	    strcmp(job, ctx->job_id) != 0 || (fd = atoi(fds)) < 3)
		return;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	(void)etl__context_proof(ctx, atoi(run), buf);
	explicit_bzero(buf, sizeof(buf));
}

etl_context *
etl_context_new(const char *pg_env, int64_t id, const char *task, const char *job_id,
    const char *queue_pg_env)
{
	etl_context *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL)
		return NULL;
	ctx->id = id;
	ctx->pg_env = strdup(pg_env ? pg_env : "");
	ctx->task = strdup(etl__task_base(task));
	ctx->job_id = etl__strdup(job_id && *job_id ? job_id : NULL);
	ctx->queue_pg_env = etl__strdup(queue_pg_env);
	ctx->exit_status = 1;
	if (ctx->pg_env == NULL || ctx->task == NULL) {
		etl_context_free(ctx);
		return NULL;
	}
	proof_from_env(ctx);
	return ctx;
}

int
etl__context_proof(etl_context *ctx, int run, const char *secret)
{
	char *s = strdup(secret);

	if (s == NULL)
		return -1;
	if (ctx->secret != NULL)
		explicit_bzero(ctx->secret, strlen(ctx->secret));
	free(ctx->secret);
	ctx->secret = s;
	ctx->run = run;
	snprintf(ctx->runbuf, sizeof(ctx->runbuf), "%d", run);
	return 0;
}

void
etl_context_free(etl_context *ctx)
{
	if (ctx == NULL)
		return;
	if (etl__current_context == ctx)
		etl__current_context = NULL;
	if (etl__task_context == ctx)
		etl__task_context = NULL;
	if (ctx->qconn != NULL && ctx->qconn != ctx->conn)
		etl_disconnect(ctx->qconn);
	if (!ctx->conn_borrowed)
		etl_disconnect(ctx->conn);
	free(ctx->pg_env);
	free(ctx->task);
	free(ctx->job_id);
	free(ctx->queue_pg_env);
	if (ctx->secret != NULL)
		explicit_bzero(ctx->secret, strlen(ctx->secret));
	free(ctx->secret);
	free(ctx);
}

etl_conn *
etl_context_conn(etl_context *ctx, etl_error *err)
{
	if (ctx->conn != NULL)
		return ctx->conn;
	if (ctx->conn_slot == NULL)
		return ctx->conn = etl_connect(ctx->pg_env, err);
	/* a runner's connection: (re)opened here, kept by the runner after us */
	if (*ctx->conn_slot != NULL && PQstatus(etl_conn_pg(*ctx->conn_slot)) != CONNECTION_OK) {
		etl_disconnect(*ctx->conn_slot);
		*ctx->conn_slot = NULL;
	}
	if (*ctx->conn_slot == NULL)
		*ctx->conn_slot = etl_connect(ctx->pg_env, err);
	ctx->conn = *ctx->conn_slot;
	ctx->conn_borrowed = ctx->conn != NULL;
	return ctx->conn;
}

/* The connection to the database that holds the context's job row. */
etl_conn *
etl__context_qconn(etl_context *ctx, etl_error *err)
{
	if (ctx->qconn != NULL)
		return ctx->qconn;
	if (ctx->queue_pg_env == NULL || strcmp(ctx->queue_pg_env, ctx->pg_env) == 0)
		return ctx->qconn = etl_context_conn(ctx, err);
	return ctx->qconn = etl_connect(ctx->queue_pg_env, err);
}

etl_context *
etl_context_create(const char *pg_env, int64_t parent, const char *task, const cJSON *meta,
    etl_error *err)
{
	char pbuf[24];
	const char *p[2];
	etl_context *ctx;
	etl_conn *c;
	PGresult *res;
	char *mtext;

	if ((ctx = etl_context_new(pg_env, 0, task, NULL, NULL)) == NULL) {
		etl__err(err, ETL_ESYS, "out of memory");
		return NULL;
	}
	if ((c = etl_context_conn(ctx, err)) == NULL)
		goto fail;
	snprintf(pbuf, sizeof(pbuf), "%lld", (long long)parent);
	mtext = meta ? cJSON_PrintUnformatted(meta) : NULL;
	p[0] = parent > 0 ? pbuf : NULL;
	p[1] = mtext ? mtext : "{}";
	res = etl__exec(c, "INSERT INTO etl.etl_context (parent_context_id, meta) "
	    "VALUES ($1, $2::jsonb) RETURNING etl_context_id", 2, p, err);
	free(mtext);
	if (res == NULL)
		goto fail;
	ctx->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return ctx;
fail:
	etl_context_free(ctx);
	return NULL;
}

int64_t
etl_context_id(const etl_context *ctx)
{
	return ctx->id;
}

const char *
etl_context_pg_env(const etl_context *ctx)
{
	return ctx->pg_env;
}

const char *
etl_context_task(const etl_context *ctx)
{
	return ctx->task;
}

const char *
etl_context_job_id(const etl_context *ctx)
{
	return ctx->job_id;
}

const etl_error *
etl_context_error(const etl_context *ctx)
{
	return &ctx->err;
}

int
etl_context_status(etl_context *ctx, char *buf, size_t bufsz, etl_error *err)
{
	char idbuf[24];
	const char *p[1] = { idbuf };
	etl_conn *c;
	PGresult *res;

	if ((c = etl_context_conn(ctx, err)) == NULL)
		return -1;
	snprintf(idbuf, sizeof(idbuf), "%lld", (long long)ctx->id);
	/* a function: a task (role etl_task) may not read the table */
	res = etl__exec(c, "SELECT etl.context_status($1::bigint)", 1, p, err);
	if (res == NULL)
		return -1;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		etl__err(err, ETL_ENOTFOUND, "no etl_context %lld in pg_env '%s'",
		    (long long)ctx->id, ctx->pg_env);
		return -1;
	}
	snprintf(buf, bufsz, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

etl_conn *
etl_context_queue_conn(etl_context *ctx, etl_error *err)
{
	return etl__context_qconn(ctx, err);
}
