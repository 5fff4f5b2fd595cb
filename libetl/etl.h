/*
 * etl.h: the one public header of libetl, the library every etl program and C task links.
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
#define ETL_SCHEMA_VERSION_MAX 2	/* the newest migration this build knows */

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

/* ---- schema ---- */

/* Create or upgrade the schema; *from and *to get the versions.  Safe when run at once. */
int	etl_migrate(etl_conn *, int *from, int *to, etl_error *);
/* 0 when the schema exists and is not newer than this build. */
int	etl_schema_check(etl_conn *, etl_error *);

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
/* Parse TEXT (length len) as a JSON value, with size limit; NULL and err on failure. */
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

/* ---- queues and jobs (SPEC section 5) ---- */

/*
 * Add or update queue NAME.  opts is an object whose keys are etl.queue columns
 * (task, policy, concurrency, retry_limit, ...); unknown keys are refused.
 * created gets 1 when the queue is new.
 */
int	 etl_queue_add(etl_conn *, const char *name, const cJSON *opts, int *created,
	     etl_error *);
int	 etl_queue_rm(etl_conn *, const char *name, etl_error *);
/* All queues as an array of objects (caller frees). */
cJSON	*etl_queue_list(etl_conn *, etl_error *);

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
/*
 * Enqueue n jobs whose data are the JSON texts texts[0..n-1] (already valid JSON), in
 * statements of many rows.  Returns the number sent, -1 on error (nothing sent).
 */
long	etl_send_many(etl_conn *, const char *queue, const char *const *texts, size_t n,
	    const etl_send_opts *, etl_error *);

/* A job as claimed: what a runner needs to start it.  Strings are owned by the job. */
typedef struct etl_job {
	char	 id[ETL_ID_LEN];
	char	*queue;
	char	*task;
	char	*data;		/* JSON text, never NULL ("null") */
	char	*pg_env;	/* "" = the controller's */
	int64_t	 etl_context_id;	/* 0 = none yet */
	int64_t	 since;		/* events after this are this run's; -1: not prepared */
	int	 retry_count;
	int	 retry_limit;
	int	 expire_seconds;
	int	 priority;
	int	 debug_wait;
	int	 keep_cores;
	char	*batch_id;	/* NULL when in no batch */
	char	*run_as;	/* NULL: the controller's choice */
	int64_t	 rlimit_as;	/* 0: none */
	int	 rlimit_cpu;
	int	 rlimit_nofile;
	int	 nice;		/* 0 unless the queue says */
	int	 inprocess;	/* the queue's mode: run TASK.so on a controller thread */
	int	 fresh;		/* the claim opened its context (this is its first run) */
	/* filled by etl_mine_result only */
	pid_t	 pid;
	int64_t	 pid_start_time;
	double	 started_on;	/* epoch seconds */
	int	 lock_held;
} etl_job;

void	etl_job_free(etl_job *);
void	etl_jobs_free(etl_job **, size_t n);

/*
 * Claim up to limit ready jobs of the given queues (NULL or n=0: all) for controller_id on
 * host, best first, FOR UPDATE SKIP LOCKED, each queue's concurrency respected.  Jobs
 * whose events live in the claiming database (pg_env "" or qconn's) get their context and
 * INITIAL event in the same transaction (since >= 0); others need etl_job_prepare.
 * *out gets an array of jobs (caller frees with etl_jobs_free; NULL when none).  Returns
 * the count or -1.
 */
long	etl_claim(etl_conn *, const char *const *queues, size_t nqueues, long limit,
	    const char *controller_id, const char *host, etl_job ***out, etl_error *);

/* Mark jobs completed with outputs[i] (JSON text or NULL).  Returns rows changed or -1. */
long	etl_complete(etl_conn *, const char *const *ids, const char *const *outputs,
	    size_t n, etl_error *);
/*
 * Fail jobs with outputs[i]; a job with retries left (and no_retry[i] 0) goes to retry
 * with its delay and backoff, else to failed, with a copy to its dead letter queue.
 * no_retry may be NULL.  Returns rows changed or -1.
 */
long	etl_fail(etl_conn *, const char *const *ids, const char *const *outputs,
	    const int *no_retry, size_t n, etl_error *);
/* Cancel jobs not yet finished; retry jobs failed or cancelled.  Rows changed or -1. */
long	etl_cancel(etl_conn *, const char *const *ids, size_t n, etl_error *);
long	etl_retry(etl_conn *, const char *const *ids, size_t n, etl_error *);

/* One job as an object with every column (caller frees); ETL_ENOTFOUND if none. */
cJSON	*etl_job_get(etl_conn *, const char *id, etl_error *);
/* Jobs as an array, newest first, optionally of one queue and state. */
cJSON	*etl_job_list(etl_conn *, const char *queue, const char *state, long limit,
	    etl_error *);
/* 0 if id looks like a uuid. */
int	etl_uuid_valid(const char *id);

/* ---- flows: batches, sub-tasks, dead letters, schedules (issue: flows) ---- */

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

/* Move dead-lettered jobs of queue back to where they came from, once; how many or -1. */
long	etl_redrive(etl_conn *, const char *queue, etl_error *);

/* A parsed 5-field cron expression: the values each field allows, as bit sets. */
typedef struct etl_cron {
	uint64_t	minutes;	/* bit m: minute m (0-59) */
	uint32_t	hours;		/* 0-23 */
	uint32_t	doms;		/* bit d: day of month d (1-31) */
	uint16_t	months;		/* bit m: month m (1-12) */
	uint8_t		dows;		/* bit d: day of week d (0-6, Sunday 0) */
	int		dom_any;	/* the field was '*' */
	int		dow_any;
} etl_cron;

/* Parse "m h dom mon dow" (ranges, steps, lists, names, @hourly ...); -1 and err. */
int	etl_cron_parse(const char *expr, etl_cron *, etl_error *);
/* Does broken-down local time tm match (vixie cron: dom OR dow when both restricted)? */
int	etl_cron_match(const etl_cron *, int min, int hour, int mday, int mon, int wday);

/* Add or replace schedule name: cron in time zone tz (NULL = UTC) enqueues data. */
int	etl_schedule_add(etl_conn *, const char *name, const char *queue, const char *cron,
	    const cJSON *data, const char *tz, etl_error *);
int	etl_schedule_rm(etl_conn *, const char *name, etl_error *);
cJSON	*etl_schedule_list(etl_conn *, etl_error *);

/* What `etl top` shows: controllers, queues (queued, active, completed and failed in the
 * last hour) and running jobs with their progress, as one object (caller frees). */
cJSON	*etl_top_snapshot(etl_conn *, int max_running, etl_error *);

/* A context and its descendants (sub-tasks), depth first, each with its events. */
cJSON	*etl_context_tree(etl_conn *, int64_t id, etl_error *);

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
/* The result of an earlier step of this run (cached or fresh), or NULL; not to be freed. */
const cJSON *etl_steps_result(etl_steps *, const char *step);

/* ---- running a job's task (shared by etl run and the controller) ---- */

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

/*
 * Prepare job to run: give it a context in its pg_env (creating it and its INITIAL
 * event if it has none), and fill *initial with the INITIAL event text to write on the
 * task's stdin (caller frees).  *since gets the context's latest event id, for
 * etl_job_finish.  qconn is the job's (controller) database, cconn the job's pg_env's
 * (the same connection when the job has no pg_env of its own).
 */
int	etl_job_prepare(etl_conn *qconn, etl_conn *cconn, etl_job *job, char **initial,
	    int64_t *since, etl_error *);
/* The INITIAL event text for a prepared job (caller frees); NULL and err on failure. */
char	*etl_initial_text(const etl_job *job, const char *queue_pg_env, etl_error *);

/*
 * Record the end of job after its task ended with wstatus: FINAL (null payload) if the
 * task exited 0 without one, ERROR naming the status if it failed without one since
 * event `since`; then complete or fail the job.  log_tail (may be NULL) goes into the
 * ERROR.  wstatus -1 means unknown (the task ran under a debugger): completed if it
 * dispatched FINAL, else failed.  *final_state gets "completed", "retry" or "failed".
 */
int	etl_job_finish(etl_conn *qconn, etl_conn *cconn, const etl_job *job, int64_t since,
	    int wstatus, const char *log_tail, char *final_state, size_t, etl_error *);

/*
 * A job row for a run in the foreground (etl run): active from the start, on this host,
 * no retries; queue is the task's name.  *out gets the job (caller frees).
 */
int	etl_job_create_running(etl_conn *, const char *task, const char *data_json,
	    const char *pg_env, const char *host, etl_job **out, etl_error *);
/*
 * Make the job of context ctx_id (in c's database, not DONE) run again here, in the
 * foreground: *out gets it, active, with its stored INITIAL payload and since set.
 */
int	etl_job_rerun(etl_conn *, int64_t ctx_id, const char *host, etl_job **out,
	    etl_error *);
/* Record the process running job id: pid, its start time, and its log file (may be NULL). */
int	etl_job_set_process(etl_conn *, const char *id, pid_t pid, int64_t start_time,
	    const char *host, const char *log_path, etl_error *);
/* The start time of process pid (clock ticks since boot, /proc/PID/stat); -1 if gone. */
int64_t	etl_pid_start_time(pid_t pid);

/* Events of context id with event_id > after, oldest first, as an array (caller frees). */
cJSON	*etl_events_list(etl_conn *, int64_t id, int64_t after, etl_error *);
/* A context as an object (etl_context row), ETL_ENOTFOUND if none. */
cJSON	*etl_context_get(etl_conn *, int64_t id, etl_error *);

/* ---- statements, for callers that drive libpq on their own event loop ---- */

/*
 * A statement built by libetl (the only place that knows SQL) for a caller to send with
 * PQsendQueryParams on its own loop (etl_stmt_send) and to read back with the matching
 * etl_*_result.  etl_stmt_clear frees what it owns.
 */
typedef struct etl_stmt {
	const char	*sql;
	int		 nparams;
	const char	*params[8];
	char		*owned[8];
} etl_stmt;

void	etl_stmt_clear(etl_stmt *);
int	etl_stmt_send(etl_conn *, const etl_stmt *, etl_error *);
/* Run it here and now (blocking); the result or NULL with err. */
PGresult *etl_stmt_exec(etl_conn *, const etl_stmt *, etl_error *);
/* 0 if res is a success; else -1 with err filled from it. */
int	etl_result_ok(PGresult *res, PGconn *, etl_error *);

/* How one run ended, for etl_stmt_finish. */
typedef struct etl_end {
	const char	*id;
	int64_t		 etl_context_id;	/* 0: it never started */
	int64_t		 since;
	const char	*task;
	int		 wstatus;
	int		 unknown;	/* ended while nobody watched: status unknown */
	const char	*reason;	/* NULL, or why it was stopped / never started */
	const char	*log_tail;	/* NULL or the last lines of its log */
	const char	*core_file;	/* NULL or the core it dumped */
	const char	*limits;	/* NULL or the resource limits it ran under */
	int		 no_retry;	/* fail for good whatever the status */
	const cJSON	*final;		/* NULL, or the FINAL payload to record when it ended well */
} etl_end;

int	etl_stmt_claim(etl_stmt *, const char *const *queues, size_t nqueues, long limit,
	    const char *controller_id, const char *host, const char *pg_env, etl_error *);
/*
 * Jobs of queues in mode inprocess run in the claiming process pid: the claim records
 * it with its start time (etl_pid_start_time) as their pid, so they may start at once.
 */
int	etl_stmt_claim_pid(etl_stmt *, pid_t pid, int64_t start_time);
long	etl_claim_result(PGresult *, etl_job ***out, etl_error *);
/* Record the end of n runs whose events live in this database; result: etl_count_result. */
int	etl_stmt_finish(etl_stmt *, const etl_end *ends, size_t n, etl_error *);
/* Record the pids of n started jobs (pids[i], log_paths[i] may be NULL). */
int	etl_stmt_started(etl_stmt *, etl_job *const *jobs, const pid_t *pids,
	    const char *const *log_paths, const char *host, size_t n, etl_error *);
/*
 * The controller's liveness lock, held by its connection (result: one bool, false when
 * another session holds it: a second controller with the same id).
 */
int	etl_stmt_controller_lock(etl_stmt *, const char *id, etl_error *);
/* Upsert the controller's row with a fresh heartbeat. */
int	etl_stmt_controller_beat(etl_stmt *, const char *id, const char *host, pid_t pid,
	    etl_error *);
/* The controller's active jobs; result: etl_mine_result. */
int	etl_stmt_mine(etl_stmt *, const char *controller_id, etl_error *);
long	etl_mine_result(PGresult *, etl_job ***out, etl_error *);
/* Put back jobs claimed by controller_id but never started, except keep[0..n-1]. */
int	etl_stmt_release(etl_stmt *, const char *controller_id, const char *const *keep,
	    size_t n, etl_error *);
/* Finish jobs of controllers silent for bound seconds whose tasks are dead. */
int	etl_stmt_reap_orphans(etl_stmt *, int bound, const char *me, const char *pg_env,
	    etl_error *);
/* LISTEN to the channel of ready jobs (which 0) or of cancelled jobs (which 1). */
int	etl_stmt_listen(etl_stmt *, int which);
#define ETL_CHANNEL_JOB		"etl_job"	/* payload: the queue of a ready job */
#define ETL_CHANNEL_CANCEL	"etl_cancel"	/* payload: the id of a cancelled active job */
#define ETL_CHANNEL_EVENT	"etl_event"	/* payload: "CONTEXT EVENT TYPE" */
/* Jobs by queue and state (rows: queue, state, count), for a controller's metrics. */
int	etl_stmt_job_counts(etl_stmt *);
/* Cron ticks and retention, for a controller's maintenance timer; result: 2 rows. */
int	etl_stmt_maintain(etl_stmt *);
/* The schema check as a statement; etl_schema_result reads it. */
int	etl_stmt_schema(etl_stmt *);
int	etl_schema_result(PGresult *, const char *pg_env, etl_error *);
/* Rows returned (or affected) by a result, or -1. */
long	etl_count_result(PGresult *);

/* Start connecting to pg_env without blocking: drive PQconnectPoll on etl_conn_pg(). */
etl_conn *etl_connect_start(const char *pg_env, etl_error *);

/* ---- the task side (SPEC section 4) ---- */

typedef cJSON *(*etl_task_fn)(const cJSON *initial_event);

/*
 * The main of a C task process: read the INITIAL event from stdin, set the context, call
 * fn, dispatch FINAL with its result (or ERROR), and return the exit status to use.
 * Fills err when it fails before or around fn; it prints nothing.
 */
int	etl_task_process(int argc, char **argv, etl_task_fn fn, etl_error *err);

/*
 * The same for one job on the calling thread (a controller's in-process mode): the
 * INITIAL as text, *conn the runner's connection to the context's database, which the
 * run borrows and opens there when it needs one and *conn is NULL or broken (conn NULL:
 * the context opens its own and closes it), cancel a flag the runner sets to ask the task to stop
 * (etl_cancelled() reads it).  The context is current on this thread only.  Returns the
 * exit status the task would have exited with.  Flags:
 *   ETL_RUN_FRESH    the context was opened for this run (by the claim): no status check;
 *   ETL_RUN_NO_LOCK  no liveness lock: the runner's own liveness stands for the task's;
 *   ETL_RUN_DEFER_FINAL  a result the task returns is not dispatched but handed back in
 *                    *final (the caller records the FINAL, as etl.finish does in bulk).
 */
#define ETL_RUN_FRESH		0x1
#define ETL_RUN_NO_LOCK		0x2
#define ETL_RUN_DEFER_FINAL	0x4
int	etl_task_run(const char *initial, size_t len, etl_task_fn fn, etl_conn **conn,
	    volatile int *cancel, int flags, cJSON **final, etl_error *err);

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
