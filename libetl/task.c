/*
 * task.c: the glue that makes a C function a task (SPEC section 4).  It reads the
 * INITIAL event from stdin, opens or creates the context, attaches to the job's run,
 * calls the task function with the context current, and turns the result into a FINAL
 * or ERROR event and an exit status.  It prints nothing: ETL_TASK_MAIN prints the error.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"

#define EX_OK_		0
#define EX_DATAERR_	65
#define EX_TEMPFAIL_	75
#define INITIAL_MAX	(64u * 1024 * 1024)
#define FREE_INITIAL() do { free(etl__task_initial); etl__task_initial = NULL; } while (0)

static volatile sig_atomic_t cancel_flag;
/* an in-process run: its runner's stop flag for the job on this thread */
static __thread volatile int *cancel_ptr;
static void (*notice_fn)(const char *);

/*
 * Set to 1 by contrib/gdb/etl.py when it is loaded: a `gdb -batch -p PID` that attaches
 * and detaches between two looks at TracerPid is still seen.
 */
volatile int etl__debugger_attached;

void
etl_task_set_notice(void (*fn)(const char *line))
{
	notice_fn = fn;
}

static void
notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
notice(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (notice_fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	notice_fn(line);
}

/* The pid of our tracer (from /proc/self/status), 0 when none. */
static int
tracer_pid(void)
{
	char line[256];
	int pid = 0;
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "TracerPid:", 10) == 0) {
			pid = atoi(line + 10);
			break;
		}
	fclose(f);
	return pid;
}

/* Say on the job's row what the task waits for (best effort: it is only a display). */
static etl_conn *
show_waiting(const char *msg)
{
	const char *job = getenv("ETL_JOB_ID"), *qenv = getenv("ETL_QUEUE_PG_ENV");
	const char *p[2];
	char *json;
	cJSON *o;
	etl_error err;
	etl_conn *c;

	if (job == NULL || etl_uuid_valid(job) != 0)
		return NULL;
	if ((c = etl_connect(qenv ? qenv : getenv("ETL_PG_ENV"), &err)) == NULL)
		return NULL;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "message", msg) == NULL ||
	    (json = cJSON_PrintUnformatted(o)) == NULL) {
		cJSON_Delete(o);
		return c;
	}
	cJSON_Delete(o);
	p[0] = job;
	p[1] = json;
	(void)etl__exec_cmd(c, "UPDATE etl.job SET progress = $2::jsonb WHERE id = $1::uuid",
	    2, p, &err);
	free(json);
	return c;
}

int
etl_debug_wait(void)
{
	const char *e = getenv("ETL_DEBUG_WAIT"), *s = getenv("ETL_DEBUG_WAIT_SECONDS");
	struct timespec tick = { 0, 50 * 1000 * 1000 }, t0, now;
	double limit = s && atof(s) > 0 ? atof(s) : 300;
	char msg[128];
	etl_conn *c;
	int tracer;

	if (e == NULL || strcmp(e, "1") != 0)
		return 0;
	/* with Yama ptrace_scope 1 only an ancestor may attach: allow any tracer of ours */
	(void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	snprintf(msg, sizeof(msg), "waiting for debugger: gdb -p %d", (int)getpid());
	notice("%s (for %.0f s at most)", msg, limit);
	c = show_waiting(msg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if ((tracer = tracer_pid()) != 0 || etl__debugger_attached) {
			if (tracer > 0)
				notice("debugger attached (pid %d)", tracer);
			else
				notice("debugger attached (and gone)");
			tracer = 1;
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= limit) {
			notice("no debugger attached after %.0f s: going on", limit);
			tracer = -1;
			break;
		}
		nanosleep(&tick, NULL);
	}
	if (c != NULL) {
		const char *p[1] = { getenv("ETL_JOB_ID") };
		etl_error err;

		(void)etl__exec_cmd(c, "UPDATE etl.job SET progress = NULL WHERE id = $1::uuid",
		    1, p, &err);
		etl_disconnect(c);
	}
	return tracer > 0 ? 1 : tracer;
}

static void
on_term(int sig)
{
	(void)sig;
	cancel_flag = 1;
}

int
etl_cancelled(void)
{
	return cancel_flag != 0 || (cancel_ptr != NULL && *cancel_ptr != 0);
}

/* All of stdin, at most INITIAL_MAX bytes; NULL with err on failure. */
static char *
read_stdin(size_t *lenp, etl_error *err)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	if (buf == NULL)
		goto oom;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= INITIAL_MAX) {
				free(buf);
				etl__err(err, ETL_EINVAL, "INITIAL event on stdin is over %u bytes",
				    INITIAL_MAX);
				return NULL;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL)
				goto oom;
			buf = nb;
			cap *= 2;
		}
		n = read(STDIN_FILENO, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			etl__err(err, ETL_ESYS, "reading the INITIAL event from stdin: %s",
			    strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
oom:
	free(buf);
	etl__err(err, ETL_ESYS, "out of memory");
	return NULL;
}

/* The string member k of o, or NULL. */
static const char *
str_member(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Open the context named by the INITIAL's meta, or create one for a run by hand. */
static etl_context *
open_context(const cJSON *ev, const char *task, etl_conn **conn, etl_error *err)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(ev, "meta");
	const cJSON *idv = cJSON_GetObjectItemCaseSensitive(meta, "etl_context_id");
	const char *pg_env = str_member(meta, "pg_env");
	const char *job_id = str_member(meta, "job_id");
	const char *qenv = str_member(meta, "queue_pg_env");
	etl_context *ctx;
	int64_t id = 0;

	if (pg_env == NULL)
		pg_env = getenv("ETL_PG_ENV");
	if (qenv == NULL)
		qenv = getenv("ETL_QUEUE_PG_ENV");
	if (cJSON_IsNumber(idv))
		id = (int64_t)idv->valuedouble;
	else if (cJSON_IsString(idv))
		id = strtoll(idv->valuestring, NULL, 10);
	if (job_id != NULL && etl_uuid_valid(job_id) != 0) {
		etl__err(err, ETL_EINVAL, "bad job_id in the INITIAL event's meta");
		return NULL;
	}
	if (id > 0) {
		const char *secret = str_member(meta, "run_token");
		const cJSON *run = cJSON_GetObjectItemCaseSensitive(meta, "run");

		ctx = etl_context_new(pg_env, id, task, job_id, qenv);
		if (ctx == NULL) {
			etl__err(err, ETL_ESYS, "out of memory");
			return NULL;
		}
		ctx->conn_slot = conn;
		/* the run's proof, for the etl.task_* functions */
		if (secret != NULL && job_id != NULL && cJSON_IsNumber(run) &&
		    etl__context_proof(ctx, (int)run->valuedouble, secret) != 0) {
			etl_context_free(ctx);
			etl__err(err, ETL_ESYS, "out of memory");
			return NULL;
		}
		return ctx;
	}
	/* by hand: a new context records this run like any other */
	if ((ctx = etl_context_create(pg_env, 0, task, meta, err)) == NULL)
		return NULL;
	if (etl_dispatch_ctx(ctx, cJSON_GetObjectItemCaseSensitive(ev, "type")->valuestring,
	    cJSON_GetObjectItemCaseSensitive(ev, "payload"), meta, err) < 0) {
		etl_context_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * Attach to the job's run: the run's proof is checked and the job says a libetl task
 * runs it.  Nothing of the session outlives the statement (no lock, no LISTEN), so the
 * task may reach its database through a transaction pooler: its liveness is its
 * keeper's and its controller's lease.
 */
static int
attach_run(etl_context *ctx, etl_error *err)
{
	const char *p[1] = { ctx->job_id };
	etl_conn *c;

	if (ctx->job_id == NULL)
		return 0;
	if (etl__ctx_proves(ctx)) {
		const char *tp[3] = { ctx->job_id, ctx->runbuf, ctx->secret };

		if ((c = etl_context_conn(ctx, err)) == NULL)
			return -1;
		return etl__exec_cmd(c, "SELECT etl.task_attach($1::uuid, $2::int, $3)", 3, tp,
		    err);
	}
	if ((c = etl__context_qconn(ctx, err)) == NULL)
		return -1;
	return etl__exec_cmd(c, "UPDATE etl.job SET attached = true WHERE id = $1::uuid", 1, p,
	    err);
}

cJSON *
etl__initial_parse(const char *text, size_t len, size_t max, char *task, size_t tasksz,
    int *cut, etl_error *err)
{
	const char *type, *colon;
	cJSON *ev;

	if ((ev = etl__json_parse_cut(text, len, max, cut, err)) == NULL) {
		snprintf(err->message + strlen(err->message),
		    sizeof(err->message) - strlen(err->message), " in the INITIAL event on stdin%s",
		    *cut ? ": cut short, its controller died while handing it over?" : "");
		return NULL;
	}
	type = str_member(ev, "type");
	colon = type ? strrchr(type, ':') : NULL;
	if (!cJSON_IsObject(ev) || colon == NULL || strcmp(colon, ":INITIAL") != 0 ||
	    (size_t)(colon - type) >= tasksz) {
		etl__err(err, ETL_EINVAL, "stdin must carry an INITIAL event: "
		    "{\"type\":\"TASK:INITIAL\",\"payload\":...,\"meta\":{...}}");
		cJSON_Delete(ev);
		return NULL;
	}
	memcpy(task, type, (size_t)(colon - type));
	task[colon - type] = '\0';
	return ev;
}

/*
 * Whether result is a FINAL event rather than a payload: an object with a string "type"
 * ending in ":FINAL" and no members but type, payload and meta.  Its type into buf.
 */
static int
final_event(const cJSON *result, char *buf, size_t len)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(result, "type"), *m;
	size_t n;

	if (!cJSON_IsObject(result) || !cJSON_IsString(t) ||
	    (n = strlen(t->valuestring)) < 6 || n >= len ||
	    strcmp(t->valuestring + n - 6, ":FINAL") != 0)
		return 0;
	cJSON_ArrayForEach(m, result)
		if (strcmp(m->string, "type") != 0 && strcmp(m->string, "payload") != 0 &&
		    strcmp(m->string, "meta") != 0)
			return 0;
	memcpy(buf, t->valuestring, n + 1);
	return 1;
}

/*
 * One run of fn for the INITIAL in text (SPEC section 4): open the context, attach to
 * the run, call fn with the context current, record FINAL or ERROR.  Returns the
 * exit status.  conn, when not NULL, holds a connection to the context's database that
 * the run borrows, opened there on first use (in-process); a task process (process)
 * opens its own and is named for gdb.
 */
static int
run_task(const char *text, size_t len, etl_task_fn fn, etl_conn **conn, int process,
    int flags, cJSON **final, etl_error *err)
{
	char task[200], status[16], ftype[201];
	etl_context *ctx = NULL;
	cJSON *ev = NULL, *result;
	int rc, cut;

	/* cut short (the controller died midway through writing it): try again, like an
	 * empty one; else bad input */
	if ((ev = etl__initial_parse(text, len, INITIAL_MAX, task, sizeof(task), &cut,
	    err)) == NULL)
		return cut ? EX_TEMPFAIL_ : EX_DATAERR_;
	if ((ctx = open_context(ev, task, conn, err)) == NULL) {
		rc = err->code == ETL_EINVAL ? EX_DATAERR_ : EX_TEMPFAIL_;
		goto out;
	}
	if (!(flags & ETL_RUN_FRESH)) {
		if (etl_context_status(ctx, status, sizeof(status), err) != 0) {
			rc = err->code == ETL_ENOTFOUND ? EX_DATAERR_ : EX_TEMPFAIL_;
			goto out;
		}
		if (strcmp(status, "DONE") == 0) {
			/* delivered twice: done is done */
			rc = EX_OK_;
			goto out;
		}
	}
	if (!(flags & ETL_RUN_NO_ATTACH) && attach_run(ctx, err) != 0) {
		rc = EX_TEMPFAIL_;
		goto out;
	}

	if (process) {
		etl__task_context = ctx;
		etl__beat_start(ctx);
	}
	etl_context_set(ctx);
	result = fn(ev);
	etl_context_set(NULL);

	/* a result that is a FINAL event itself ({"type": "T:FINAL", "payload": P}, as DAMA's
	 * tasks return them) is recorded as it is: its type and payload, not wrapped */
	if (!ctx->finaled && result != NULL && final_event(result, ftype, sizeof(ftype))) {
		cJSON *pl = cJSON_DetachItemFromObjectCaseSensitive(result, "payload");

		cJSON_Delete(result);
		result = pl != NULL ? pl : cJSON_CreateNull();
		size_t tl = strlen(task);
		int own = strcmp(ftype, ":FINAL") == 0 || (strlen(ftype) == tl + 6 &&
		    strncmp(ftype, task, tl) == 0);

		if (!own && result != NULL) {
			/* another task's name on it: dispatched here, with that type */
			if (etl_dispatch_ctx(ctx, ftype, result, NULL, err) < 0)
				rc = err->code == ETL_EDONE ? EX_OK_ : EX_TEMPFAIL_;
			else
				rc = EX_OK_;
			cJSON_Delete(result);
			goto out;
		}
	}
	if (ctx->finaled) {
		cJSON_Delete(result);
		rc = EX_OK_;
	} else if (result != NULL && final != NULL && (flags & ETL_RUN_DEFER_FINAL)) {
		*final = result;	/* the caller records it */
		rc = EX_OK_;
	} else if (result != NULL) {
		if (etl_dispatch_ctx(ctx, ":FINAL", result, NULL, err) < 0)
			rc = err->code == ETL_EDONE ? EX_OK_ : EX_TEMPFAIL_;
		else
			rc = EX_OK_;
		cJSON_Delete(result);
	} else if (ctx->errored) {
		rc = ctx->exit_status;
	} else {
		cJSON *pl = cJSON_CreateObject();

		cJSON_AddStringToObject(pl, "message", "the task returned no result");
		etl_dispatch_ctx(ctx, ":ERROR", pl, NULL, err);
		cJSON_Delete(pl);
		etl__err(err, ETL_EINVAL, "the task returned no result");
		rc = 1;
	}
out:
	etl_context_free(ctx);
	cJSON_Delete(ev);
	return rc;
}

int
etl_task_process(int argc, char **argv, etl_task_fn fn, etl_error *err)
{
	struct sigaction sa;
	char *text;
	size_t len;
	int rc;

	(void)argc;
	(void)argv;
	etl_error_clear(err);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);

	(void)etl_debug_wait();
	if ((text = read_stdin(&len, err)) == NULL)
		return err->code == ETL_ESYS ? 1 : EX_DATAERR_;
	if (len == 0) {
		/* its controller died between recording it and handing it its INITIAL: retry */
		free(text);
		etl__err(err, ETL_EINVAL, "no INITIAL event on stdin (empty): its controller "
		    "died before handing it over?");
		return EX_TEMPFAIL_;
	}
	/* kept for gdb's etl-initial until the task ends */
	etl__task_initial = text;
	rc = run_task(text, len, fn, NULL, 1, 0, NULL, err);
	FREE_INITIAL();
	return rc;
}

int
etl_task_run(const char *initial, size_t len, etl_task_fn fn, etl_conn **conn,
    volatile int *cancel, int flags, cJSON **final, etl_error *err)
{
	int rc;

	etl_error_clear(err);
	if (final != NULL)
		*final = NULL;
	cancel_ptr = cancel;
	rc = run_task(initial, len, fn, conn, 0, flags, final, err);
	cancel_ptr = NULL;
	return rc;
}

cJSON *
etl_fail_task(int status, const char *fmt, ...)
{
	etl_context *ctx = etl_context_current();
	char msg[1024];
	va_list ap;
	cJSON *pl;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ctx == NULL)
		return NULL;
	ctx->exit_status = status == 0 ? 1 : status;
	if ((pl = cJSON_CreateObject()) != NULL &&
	    cJSON_AddStringToObject(pl, "message", msg) != NULL)
		etl_dispatch_ctx(ctx, ":ERROR", pl, NULL, &ctx->err);
	cJSON_Delete(pl);
	/* even if the ERROR could not be written, the exit status says it failed */
	ctx->errored = 1;
	return NULL;
}
