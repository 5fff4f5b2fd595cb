/*
 * etl_admin.h: libetl for programs that run and manage jobs (the etl CLI, etl-controller,
 * tools of one's own): the schema, queues, the job's state and its moves, claiming and
 * ending runs, flows' administration, schedules, and what `etl run` and the controller
 * share to run a task.  A task needs only etl.h.
 */
#ifndef ETL_ADMIN_H
#define ETL_ADMIN_H

#include "etl.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The LISTEN/NOTIFY channels the schema's functions and triggers notify. */
#define ETL_CHANNEL_JOB		"etl_job"	/* payload "KEY N OFF QUEUE": N ready jobs
						 * of QUEUE (controller/wake.c) */
#define ETL_CHANNEL_CANCEL	"etl_cancel"	/* payload: the id of a cancelled active job */
#define ETL_CHANNEL_EVENT	"etl_event"	/* payload: "CONTEXT EVENT TYPE" */

/* ---- the job's state (SPEC section 5; its one rule: libetl/sql/jobs.sql) ---- */

/* The states of etl.job_state, in its order. */
enum etl_job_state {
	ETL_JOB_CREATED,
	ETL_JOB_RETRY,
	ETL_JOB_ACTIVE,
	ETL_JOB_COMPLETED,
	ETL_JOB_CANCELLED,
	ETL_JOB_FAILED,
	ETL_JOB_NSTATES
};
/* "created" ... "failed"; NULL for a value out of range. */
const char	*etl_job_state_name(enum etl_job_state);
/* The state named name into *out: 0, or -1 for an unknown name. */
int		 etl_job_state_parse(const char *name, enum etl_job_state *out);
/* Whether a job in this state is finished (completed, cancelled or failed). */
int		 etl_job_state_finished(enum etl_job_state);

/* ---- schema ---- */

/* Create or upgrade the schema; *from and *to get the versions.  Safe when run at once. */
int	etl_migrate(etl_conn *, int *from, int *to, etl_error *);
/* 0 when the schema exists and is not newer than this build. */
int	etl_schema_check(etl_conn *, etl_error *);

/* ---- queues and jobs (SPEC section 5) ---- */

/*
 * Add or update queue NAME.  opts is an object whose keys are etl.queue columns
 * (task, policy, concurrency, retry_limit, ...); unknown keys are refused.
 * created gets 1 when the queue is new.
 */
int	 etl_queue_add(etl_conn *, const char *name, const cJSON *opts, int *created,
	     etl_error *);
int	 etl_queue_rm(etl_conn *, const char *name, etl_error *);
/* Pause (1) or resume (0) a queue: a paused queue's jobs are not claimed. */
int	 etl_queue_pause(etl_conn *, const char *name, int paused, etl_error *);
/*
 * The live controllers (seen in the last 10 minutes) that run as root and would refuse
 * to run a task as user (not in their --user/--allow-user), as "id (on host), ..."
 * (caller frees); NULL when none, or on error (err->code set).
 */
char	*etl_run_as_refused(etl_conn *, const char *user, etl_error *);
/* All queues as an array of objects (caller frees). */
cJSON	*etl_queue_list(etl_conn *, etl_error *);

/* A job as claimed: what a runner needs to start it.  Strings are owned by the job. */
typedef struct etl_job {
	char	 id[ETL_ID_LEN];
	char	*queue;
	char	*task;
	char	*data;		/* JSON text ("null" for none; the controller frees it once
				 * its INITIAL holds it) */
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
	int	 run;		/* the run this claim started: its writes carry it (0: none) */
	int	 heartbeat_seconds;	/* the task must beat this often (0: no need) */
	char	*secret;	/* the run's secret (the task's proof; NULL: none) */
	/* filled by etl_mine_result only */
	pid_t	 pid;
	int64_t	 pid_start_time;
	double	 started_on;	/* epoch seconds */
	int	 attached;	/* a libetl task attached to its run */
	int	 cancelled;	/* cancelled while it ran: its task is to be stopped */
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
/* The same for every job of queue (in state, if not NULL) that can be: their count. */
long	etl_cancel_where(etl_conn *, const char *queue, const char *state, etl_error *);
/* Delete finished jobs (completed, cancelled, failed) and their dependency rows, as
 * retention does; a job not finished is left.  The count deleted, or -1. */
long	etl_delete(etl_conn *, const char *const *ids, size_t n, etl_error *);
long	etl_delete_where(etl_conn *, const char *queue, const char *state, etl_error *);
long	etl_retry_where(etl_conn *, const char *queue, const char *state, etl_error *);

/* One job as an object with every column (caller frees); ETL_ENOTFOUND if none. */
cJSON	*etl_job_get(etl_conn *, const char *id, etl_error *);
/* Jobs as an array, newest first, optionally of one queue and state. */
/* Jobs of queue, state, singleton key, whose data contains the JSON data (each NULL:
 * any), newest first, at most limit; an array (caller frees). */
cJSON	*etl_job_search(etl_conn *, const char *queue, const char *state, const char *key,
	    const char *data, long limit, etl_error *);
cJSON	*etl_job_list(etl_conn *, const char *queue, const char *state, long limit,
	    etl_error *);
/* 0 if id looks like a uuid. */
int	etl_uuid_valid(const char *id);



/* ---- views (view.c): JSON text built by PostgreSQL, numbers exact; caller frees ---- */

/* Which jobs etl_view_jobs lists; each NULL = any.  Newest first. */
typedef struct etl_job_filter {
	const char	*queue;
	const char	*state;
	const char	*key;		/* singleton key */
	const char	*batch_id;
	const char	*text;		/* a substring of the data's text, any case */
	const char	*data;		/* JSON the data contains (jsonb @>) */
	const char	*since;		/* created at or after (a timestamp) */
	const char	*until;		/* created before */
	const char	*before;	/* the page after this job (the last page's "next") */
	long		 limit;		/* 1-1000; 0: 100 */
} etl_job_filter;

/* {"jobs": [...], "next": id or null}. */
char	*etl_view_jobs(etl_conn *, const etl_job_filter *, etl_error *);
/* {"job": {every column}, "context", "runs": [each run's FINAL or ERROR], "dependents",
 * "children"}; ETL_ENOTFOUND if none. */
char	*etl_view_job(etl_conn *, const char *id, etl_error *);
/* Events of context ctx after event id `after`, oldest first, at most limit (0: 1000). */
char	*etl_view_events(etl_conn *, int64_t ctx, int64_t after, long limit, etl_error *);
/* {"contexts": [ctx and its descendants, depth first, each with its task, status, job and
 * latest progress], "events": [the tree's events after `after`]}. */
char	*etl_view_tree(etl_conn *, int64_t ctx, int64_t after, etl_error *);
/* Queues with counts (ready, deferred, active; finished in the last hour), the oldest
 * ready job's age, throughput and completions per minute over the last hour. */
char	*etl_view_queues(etl_conn *, etl_error *);
/* Controllers with their heartbeat's age and running count. */
char	*etl_view_controllers(etl_conn *, etl_error *);
/* Active jobs with their progress, oldest first (at most limit; 0: 200). */
char	*etl_view_running(etl_conn *, long limit, etl_error *);
/* Failed jobs grouped by queue and error: count, last, a few ids. */
char	*etl_view_failures(etl_conn *, etl_error *);
/* Batches, newest first (or the one id, when not NULL). */
char	*etl_view_batches(etl_conn *, const char *id, long limit, etl_error *);
/* Schedules with their next three fire times. */
char	*etl_view_schedules(etl_conn *, etl_error *);

/* Move dead-lettered jobs of queue back to where they came from, once; how many or -1. */
long	etl_redrive(etl_conn *, const char *queue, etl_error *);
/* The same for at most limit jobs, the oldest first (limit 0: all). */
long	etl_redrive_limit(etl_conn *, const char *queue, long limit, etl_error *);

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
/* Groups across queues: at most concurrency active jobs of group name (etl_send_group);
 * set (or change), remove (ETL_ENOTFOUND when none), list with active and waiting. */
int	etl_group_set(etl_conn *, const char *name, int concurrency, etl_error *);
int	etl_group_rm(etl_conn *, const char *name, etl_error *);
cJSON	*etl_group_list(etl_conn *, etl_error *);
int	etl_schedule_add(etl_conn *, const char *name, const char *queue, const char *cron,
	    const cJSON *data, const char *tz, etl_error *);
/* The same with options for each job it sends (etl.send's: priority, singleton_key,
 * singleton_seconds, retry_limit, retry_delay, expire_seconds, pg_env...; NULL: none). */
int	etl_schedule_add_opts(etl_conn *, const char *name, const char *queue, const char *cron,
	    const cJSON *data, const char *tz, const cJSON *options, etl_error *);
int	etl_schedule_rm(etl_conn *, const char *name, etl_error *);
cJSON	*etl_schedule_list(etl_conn *, etl_error *);

/* What `etl top` shows: controllers, queues (queued, active, completed and failed in the
 * last hour) and running jobs with their progress, as one object (caller frees). */
cJSON	*etl_top_snapshot(etl_conn *, int max_running, etl_error *);

/* A context and its descendants (sub-tasks), depth first, each with its events. */
cJSON	*etl_context_tree(etl_conn *, int64_t id, etl_error *);

/* ---- running a job's task (shared by etl run and the controller) ---- */

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
 * dispatched FINAL, else failed.  *state gets the job's state after it (completed, retry
 * or failed).
 */
int	etl_job_finish(etl_conn *qconn, etl_conn *cconn, const etl_job *job, int64_t since,
	    int wstatus, const char *log_tail, enum etl_job_state *state, etl_error *);

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

/*
 * The same for one job on the calling thread (a controller's in-process mode): the
 * INITIAL as text, *conn the runner's connection to the context's database, which the
 * run borrows and opens there when it needs one and *conn is NULL or broken (conn NULL:
 * the context opens its own and closes it), cancel a flag the runner sets to ask the task to stop
 * (etl_cancelled() reads it).  The context is current on this thread only.  Returns the
 * exit status the task would have exited with.  Flags:
 *   ETL_RUN_FRESH    the context was opened for this run (by the claim): no status check;
 *   ETL_RUN_NO_ATTACHno attach: the runner's own liveness stands for the task's;
 *   ETL_RUN_DEFER_FINAL  a result the task returns is not dispatched but handed back in
 *                    *final (the caller records the FINAL, as etl.finish does in bulk).
 */
#define ETL_RUN_FRESH		0x1
#define ETL_RUN_NO_ATTACH	0x2
#define ETL_RUN_DEFER_FINAL	0x4
int	etl_task_run(const char *initial, size_t len, etl_task_fn fn, etl_conn **conn,
	    volatile int *cancel, int flags, cJSON **final, etl_error *err);


/* Start connecting to pg_env without blocking: drive PQconnectPoll on etl_conn_pg(). */
etl_conn *etl_connect_start(const char *pg_env, etl_error *);

/*
 * Does pg_env reach PostgreSQL through a transaction (or statement) pooler, where a
 * session's state (LISTEN, session locks, SET) does not last?  1 yes, 0 not seen,
 * -1 with err (it could not ask: the database is down, say).
 */
int	etl_pg_env_pooled(const char *pg_env, etl_error *);


#ifdef __cplusplus
}
#endif
#endif /* ETL_ADMIN_H */
