/*
 * etl.h: libetl for task authors and simple clients: errors, pg_env connections, the
 * EtlContext and its events, progress, sending jobs, batches and sub-tasks, processing
 * steps, and a task's main (ETL_TASK_MAIN).  Programs that run and manage jobs (the CLI,
 * the controller) add etl_admin.h; the controller's loop adds etl_stmt.h.
 *
 * libetl knows the SQL, the schema and the event format; nothing else in etl does.
 * It never prints and never exits: every call that can fail returns -1 or NULL and fills
 * the caller's etl_error.  Everything here has the etl_ prefix.
 */
#ifndef ETL_H
#define ETL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ETL_VERSION "0.1.0"
/* The schema version this build makes and needs (generated: its count of migrations). */
int	etl_schema_version(void);

/* What went wrong, in the caller's hands.  code is one of ETL_E*. */
enum etl_errcode {
	ETL_EOK = 0,
	ETL_EDB,		/* the database said no, or could not be reached */
	ETL_EINVAL,		/* bad input: malformed JSON, bad name, too large */
	ETL_ENOTFOUND,		/* no such queue, job, context or task */
	ETL_ESCHEMA,		/* schema missing or newer than this build */
	ETL_ESYS,		/* a system call failed (errno in the message) */
	ETL_EDONE		/* the context is DONE: it accepts no more events */
};

typedef struct etl_error {
	int	code;
	char	sqlstate[6];
	char	message[512];
} etl_error;

void	etl_error_clear(etl_error *);

/* Exit status a program should use for an error (SPEC section 7: 1 failed, 2 usage, 3 not found). */
int	etl_error_exit_status(const etl_error *);

/* ---- pg_env connections (SPEC section 2) ---- */

typedef struct etl_conn etl_conn;

/* Connect to pg_env NAME (libpq service NAME; "" = libpq defaults; NULL = $ETL_PG_ENV). */
etl_conn	*etl_connect(const char *pg_env, etl_error *);
void		 etl_disconnect(etl_conn *);
PGconn		*etl_conn_pg(etl_conn *);
const char	*etl_conn_pg_env(const etl_conn *);
/* 0 if NAME may name a pg_env (letters, digits, _ . -; at most 63). */
int		 etl_pg_env_valid(const char *name);
/* For a task that runs its own SQL on etl_conn_pg(): 0 if res is a success; else -1
 * with err filled from it (message and SQLSTATE). */
int		 etl_result_ok(PGresult *res, PGconn *, etl_error *);

/* ---- names ---- */

/* 0 if NAME is a valid queue name; else -1 with err filled. */
int	etl_queue_name_valid(const char *name, etl_error *);
/*
 * Find task NAME on PATH (colon-separated folders).  NAME may not be absolute, may not
 * contain "..", and its real path must stay inside the folder it was found in.  Absolute
 * names are accepted only when allow_absolute is set (a queue's owner configured it).
 * Fills out (size outsz) with the real path.
 */
int	etl_task_resolve(const char *path, const char *name, int allow_absolute,
	    char *out, size_t outsz, etl_error *);
/* The default task path: $ETL_TASK_PATH, else next to the running program. */
const char *etl_task_path_default(void);

/* ---- payload limits ---- */

/* The largest payload accepted by send/run ($ETL_MAX_PAYLOAD bytes, default 1 MiB). */
size_t	etl_payload_max(void);
/* The deepest nesting of arrays and objects a payload may have. */
#define ETL_JSON_MAX_DEPTH 1000
/*
 * 0 when TEXT (length len) is one JSON value etl accepts as a payload: at most max
 * bytes, nested at most ETL_JSON_MAX_DEPTH deep, no \u0000 (jsonb cannot store it);
 * else -1 with a one-line reason.  The text is not rewritten: etl passes payloads on as
 * they were written, numbers exact.
 */
int	etl_json_check(const char *text, size_t len, size_t max, etl_error *);
/* Parse TEXT (length len) as a JSON value, with those limits; NULL and err on failure. */
cJSON	*etl_json_parse(const char *text, size_t len, size_t max, etl_error *);

/* ---- EtlContext (SPEC section 2) ---- */

typedef struct etl_context etl_context;

/* The calling thread's current context, or NULL. */
etl_context	*etl_context_current(void);
/* Run fn(arg) with ctx as the current context of this thread; restore the previous one. */
void		*etl_context_run(etl_context *ctx, void *(*fn)(void *), void *arg);
/* Make ctx current (NULL clears); returns the previous one. */
etl_context	*etl_context_set(etl_context *ctx);

/*
 * A handle on context ID in pg_env (no query made).  The handle owns a lazily opened
 * connection.  task is the event type prefix.  Any string may be NULL.
 */
etl_context	*etl_context_new(const char *pg_env, int64_t id, const char *task,
		    const char *job_id, const char *queue_pg_env);
void		 etl_context_free(etl_context *);
/* Create a new context row (with parent, 0 = none) and return a handle on it. */
etl_context	*etl_context_create(const char *pg_env, int64_t parent, const char *task,
		    const cJSON *meta, etl_error *);

int64_t		 etl_context_id(const etl_context *);
const char	*etl_context_pg_env(const etl_context *);
const char	*etl_context_task(const etl_context *);
const char	*etl_context_job_id(const etl_context *);
/* The context's connection (opened on first use); NULL and err on failure. */
etl_conn	*etl_context_conn(etl_context *, etl_error *);
/* The connection to the database of the context's job (queue pg_env), for a task that
 * sends jobs or reads its batch; owned by the context. */
etl_conn	*etl_context_queue_conn(etl_context *, etl_error *);
/* The last error a convenience call (etl_dispatch, etl_progress) met in this context. */
const etl_error	*etl_context_error(const etl_context *);
/* "OPEN", "DONE" or "ERROR" read from the database into buf; -1 on error. */
int		 etl_context_status(etl_context *, char *buf, size_t, etl_error *);

/* ---- events (SPEC section 3) ---- */

/*
 * Record event TYPE in ctx.  A TYPE starting with ':' gets the context's task prefixed.
 * payload and meta may be NULL; neither is taken.  Returns the event id, -1 on error
 * (ETL_EDONE when the context is DONE).
 */
int64_t	etl_dispatch_ctx(etl_context *ctx, const char *type, const cJSON *payload,
	    const cJSON *meta, etl_error *);
/* The same in the current context; the error is kept in etl_context_error(). */
int64_t	etl_dispatch(const char *type, const cJSON *payload, const cJSON *meta);

/* Record progress (rate-limited to one write per 250 ms but the last); 0 or -1. */
int	etl_progress(double done, double total, const char *message);
int	etl_progress_ctx(etl_context *, double done, double total, const char *message,
	    etl_error *);

/* ---- sending jobs (SPEC section 5) ---- */

typedef struct etl_send_opts {
	int		 priority;
	double		 start_after;	/* seconds from now; 0 = now */
	const char	*start_at;	/* or a timestamp (wins over start_after) */
	const char	*singleton_key;
	double		 singleton_seconds;	/* throttle: one job per key per slot */
	int		 debounce;	/* throttled: take the next slot instead */
	const char	*pg_env;	/* the job's pg_env; NULL = the controller's */
	int		 debug_wait;
	const char	*parent_id;
	const char	*run_on_host;
	const char	*batch_id;
	const char *const *after;	/* wait for these jobs to complete */
	size_t		 nafter;
	const char	*idempotency_key;	/* with parent_id: a sub-task */
	int64_t		 parent_context_id;
} etl_send_opts;

#define ETL_ID_LEN 37	/* a uuid and its NUL */

/*
 * Enqueue one job with data (may be NULL); its id into id.  Returns 0 when sent, 1 when
 * the queue's policy or the throttle kept it out (why in err->message, code ETL_EOK),
 * -1 on error (ETL_ENOTFOUND: no such queue, batch or job to wait for).  A job sent but
 * cancelled at once (a job it waits for failed) returns 0 with the reason in err.
 */
int	etl_send(etl_conn *, const char *queue, const cJSON *data,
	    const etl_send_opts *, char id[ETL_ID_LEN], etl_error *);
/* The same with data as JSON text (NULL: null), sent as it is written once checked. */
int	etl_send_text(etl_conn *, const char *queue, const char *json,
	    const etl_send_opts *, char id[ETL_ID_LEN], etl_error *);
/* The same in a group (etl_group_set caps how many of a group's jobs run at once,
 * across queues; NULL: none). */
int	etl_send_group(etl_conn *, const char *queue, const char *json,
	    const etl_send_opts *, const char *group, char id[ETL_ID_LEN], etl_error *);
/*
 * Enqueue n jobs whose data are the JSON texts texts[0..n-1] (already valid JSON), in
 * statements of many rows.  Returns the number sent, -1 on error (nothing sent).
 */
long	etl_send_many(etl_conn *, const char *queue, const char *const *texts, size_t n,
	    const etl_send_opts *, etl_error *);

/*
 * A new batch (good_job's semantics) with callback queues (any may be NULL) and data
 * for their payloads; its id into id.
 */
int	etl_batch_new(etl_conn *, const char *on_success, const char *on_discard,
	    const char *on_finish, const cJSON *data, char id[ETL_ID_LEN], etl_error *);
/* No more jobs come; a closed batch with nothing pending fires its callbacks now. */
int	etl_batch_close(etl_conn *, const char *id, etl_error *);
/* Queue the batch's failed jobs again and re-arm its callbacks; how many, or -1. */
long	etl_batch_retry(etl_conn *, const char *id, etl_error *);
/* The batch with its counters, as an object (caller frees). */
cJSON	*etl_batch_get(etl_conn *, const char *id, etl_error *);


/*
 * From inside a task: run a sub-task in queue with payload and wait for it.  The child
 * gets its own context under the current one; :<queue>_QUEUED and :<queue>_DONE events
 * go to the current context.  A retried parent finds the child by its idempotency key
 * and does not queue it again.  Returns the child's FINAL payload (caller frees; JSON
 * null when it had none), or NULL when it failed or was cancelled, or on error
 * (etl_context_error says which).
 */
cJSON	*etl_subtask(const char *queue, const cJSON *payload, const char *idempotency_key);


/* ---- processing steps (seed 002): ordered, cached, re-run when stale ---- */

typedef struct etl_steps etl_steps;

/*
 * One step.  applicable (NULL: always) says whether it applies to this input at all;
 * needed (NULL: when its cached result is stale) may force it; process returns its
 * result (taken), or NULL after etl_fail_task.  reads names earlier steps whose results
 * it uses (NULL-terminated, may be NULL): when one of them runs again, so does it.
 */
typedef struct etl_step {
	const char	 *name;
	int		  version;
	const char *const *reads;
	int		(*applicable)(etl_steps *, void *arg);
	int		(*needed)(etl_steps *, void *arg);
	cJSON		*(*process)(etl_steps *, void *arg);
} etl_step;

/*
 * Run steps in order for cache key (NULL: the current context's id) in the current
 * context, each with its progress; cached results are reused while fresh.  versions
 * (may be NULL) overrides steps' versions by name.  Returns {"ran": [...], "cached":
 * [...], "skipped": [...], "results": {step: result}} (caller frees), or NULL when a
 * step failed or on error (etl_context_error says which).
 */
cJSON	*etl_steps_run(const etl_step *steps, size_t n, const char *key,
	    const cJSON *versions, void *arg);
/*
 * The same for one input: input_sum (its checksum, say SHA-256 in hex; NULL: none) is
 * part of what makes a cached result fresh, so a key run again on other input runs its
 * steps again instead of giving back the old input's results.
 */
cJSON	*etl_steps_run_input(const etl_step *steps, size_t n, const char *key,
	    const char *input_sum, const cJSON *versions, void *arg);
/* The result of an earlier step of this run (cached or fresh), or NULL; not to be freed. */
const cJSON *etl_steps_result(etl_steps *, const char *step);

/* ---- the task side (SPEC section 4) ---- */

/* What a wait status means for the job (SPEC section 4). */
enum etl_outcome {
	ETL_OUT_OK,		/* exit 0 */
	ETL_OUT_TEMPFAIL,	/* exit 75: retry */
	ETL_OUT_PERMFAIL,	/* exit 64/65: bad input, no retry */
	ETL_OUT_FAIL,		/* any other exit: retry per policy */
	ETL_OUT_SIGNAL,		/* killed by a signal: retry per policy */
	ETL_OUT_EXEC		/* 126/127: could not execute, no retry */
};
enum etl_outcome etl_outcome_of(int wstatus);
/* "exit status 3", "signal 9 (SIGKILL)", ... into buf. */
const char	*etl_wstatus_text(int wstatus, char *buf, size_t);

typedef cJSON *(*etl_task_fn)(const cJSON *initial_event);

/*
 * The main of a C task process: read the INITIAL event from stdin, set the context, call
 * fn, dispatch FINAL with its result (or ERROR), and return the exit status to use.
 * Fills err when it fails before or around fn; it prints nothing.
 */
int	etl_task_process(int argc, char **argv, etl_task_fn fn, etl_error *err);

/*
 * From inside a task: record an ERROR event with the message and make the task exit
 * with status (75 retry, 65 bad input, 1 other).  Returns NULL, so `return etl_fail_task(...)`.
 */
cJSON	*etl_fail_task(int status, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* Nonzero once the task was asked to stop (SIGTERM). */
int	etl_cancelled(void);

/*
 * With ETL_DEBUG_WAIT=1: announce "waiting for debugger: gdb -p PID" and wait until a
 * tracer attaches, at most ETL_DEBUG_WAIT_SECONDS (300).  1 attached, 0 not asked, -1 no
 * debugger came.  etl_task_process calls it before reading stdin.
 */
int	etl_debug_wait(void);
/* Where the task glue says what a person must see; ETL_TASK_MAIN sends it to stderr. */
void	etl_task_set_notice(void (*fn)(const char *line));

/*
 * ETL_TASK_MAIN(fn): the task's main, and etl_task_main, the entry a controller looks up
 * when the same source is built as TASK.so for a queue in inprocess mode.
 */
#define ETL_TASK_MAIN(fn)						\
cJSON *etl_task_main(const cJSON *initial_event);			\
cJSON *									\
etl_task_main(const cJSON *initial_event)				\
{									\
	return fn(initial_event);					\
}									\
static void								\
etl_notice_stderr_(const char *line)					\
{									\
	fprintf(stderr, "%s\n", line);					\
	fflush(stderr);							\
}									\
int									\
main(int argc, char **argv)						\
{									\
	etl_error err_;							\
	int st_;							\
	etl_task_set_notice(etl_notice_stderr_);			\
	st_ = etl_task_process(argc, argv, (fn), &err_);		\
	if (err_.code != ETL_EOK)					\
		fprintf(stderr, "%s: %s\n", argv[0], err_.message);	\
	return st_;							\
}

#ifdef __cplusplus
}
#endif
#endif /* ETL_H */
