/*
 * etl_stmt.h: the controller's statements, for a caller that drives libpq on its own
 * event loop: libetl builds each statement (it is the only place that knows SQL) and
 * parses each result into structs; the caller only sends and receives.
 */
#ifndef ETL_STMT_H
#define ETL_STMT_H

#include "etl_admin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statements, for callers that drive libpq on their own event loop ---- */

/*
 * A statement built by libetl (the only place that knows SQL) for a caller to send with
 * PQsendQueryParams on its own loop (etl_stmt_send) and to read back with the matching
 * etl_*_result.  etl_stmt_clear frees what it owns.
 */
typedef struct etl_stmt {
	const char	*sql;
	int		 nparams;
	const char	*params[10];
	char		*owned[10];
} etl_stmt;

void	etl_stmt_clear(etl_stmt *);
int	etl_stmt_send(etl_conn *, const etl_stmt *, etl_error *);
/* Run it here and now (blocking); the result or NULL with err. */
PGresult *etl_stmt_exec(etl_conn *, const etl_stmt *, etl_error *);

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
	int		 run;		/* the run that ended (0: not fenced) */
	int		 release;	/* it could not start here (reason): back to the queue
					 * for another controller, not counted as a retry */
	int		 unstarted;	/* its task never got its INITIAL (our previous run died
					 * before writing it; the task exited 75 on EOF): back to
					 * the queue for anyone, not counted as a retry */
	const cJSON	*final;		/* NULL, or the FINAL payload to record when it ended well */
} etl_end;

int	etl_stmt_claim(etl_stmt *, const char *const *queues, size_t nqueues, long limit,
	    const char *controller_id, const char *host, const char *pg_env, etl_error *);
/*
 * Jobs of queues in mode inprocess run in the claiming process pid: the claim records
 * it with its start time (etl_pid_start_time) as their pid, so they may start at once.
 */
int	etl_stmt_claim_pid(etl_stmt *, pid_t pid, int64_t start_time);
/* Claim only jobs of priority >= *min and <= *max (NULL: no bound). */
int	etl_stmt_claim_priority(etl_stmt *, const long *min, const long *max);
long	etl_claim_result(PGresult *, etl_job ***out, etl_error *);
/* Whether a claim left ready jobs of its queues behind (it took all it could). */
int	etl_claim_more(PGresult *);
/* Record the end of n runs whose events live in this database; result: etl_count_result. */
int	etl_stmt_finish(etl_stmt *, const etl_end *ends, size_t n, etl_error *);
/* Record the pids of n started jobs (pids[i], log_paths[i] may be NULL). */
int	etl_stmt_started(etl_stmt *, etl_job *const *jobs, const pid_t *pids,
	    const char *const *log_paths, const char *host, size_t n, etl_error *);
/*
 * The controller's liveness lock, held by its connection (result: etl_lock_result; not
 * held when another session holds it: a second controller with the same id).
 */
int	etl_stmt_controller_lock(etl_stmt *, const char *id, etl_error *);
/* Upsert the controller's row with a fresh heartbeat, the users it allows its tasks
 * to run as (comma-separated; NULL: it runs every task as itself), the bound after
 * its beat by which its tasks are stopped if it beats no more (its lease; 0: none) and
 * how many jobs it runs at once (its capacity) and the queues it serves (comma-separated;
 * NULL: all). */
int	etl_stmt_controller_beat(etl_stmt *, const char *id, const char *host, pid_t pid,
	    const char *allow_users, double lease_bound, int capacity, const char *queues,
	    etl_error *);
/* Take (delete and return, rows: path) up to 1,000 logs of deleted jobs of host kept
 * under folder dir (etl.log_trash: retention records them). */
int	etl_stmt_log_trash(etl_stmt *, const char *host, const char *dir, etl_error *);
/* What a controller needs to answer wake-ups (etl.wake_view: rows kind, name, queues). */
int	etl_stmt_wake_view(etl_stmt *);
/* Whether run `run` of job id is cancelled (a row if so): a NOTIFY etl_cancel is only
 * a hint, which any client of the database may send. */
int	etl_stmt_cancelled(etl_stmt *, const char *id, int run, etl_error *);
/* Wake the controllers again (NOTIFY etl_job) with payload (a hand-on). */
int	etl_stmt_wake(etl_stmt *, const char *payload, etl_error *);
/* The controller's active jobs; result: etl_mine_result. */
int	etl_stmt_mine(etl_stmt *, const char *controller_id, etl_error *);
long	etl_mine_result(PGresult *, etl_job ***out, etl_error *);
/* Put back jobs claimed by controller_id but never started, except keep[0..n-1]. */
int	etl_stmt_release(etl_stmt *, const char *controller_id, const char *const *keep,
	    size_t n, etl_error *);
/* Finish jobs of controllers silent for bound seconds whose tasks are dead. */
int	etl_stmt_reap_orphans(etl_stmt *, int bound, const char *me, const char *pg_env,
	    etl_error *);
/* A controller's running jobs whose heartbeat is older than their heartbeat_seconds. */
int	etl_stmt_stale_beats(etl_stmt *, const char *me, etl_error *);
typedef struct etl_stale {
	char	id[ETL_ID_LEN];
	int	age;		/* seconds since its last beat */
	int	seconds;	/* its heartbeat_seconds */
} etl_stale;
long	etl_stale_result(PGresult *, etl_stale **out, etl_error *);
/* LISTEN to the channel of ready jobs (which 0) or of cancelled jobs (which 1). */
int	etl_stmt_listen(etl_stmt *, int which);
/* Jobs by queue and state (rows: queue, state, count, lag), for a controller's metrics:
 * every queue and state, from the live controller with the smallest id only (me). */
int	etl_stmt_job_counts(etl_stmt *, const char *me, int dead_after);
/* Cron ticks, retention and the journal, for a controller's maintenance timer; result: 3 rows. */
int	etl_stmt_maintain(etl_stmt *);
/* The most finished jobs one maintenance call removes (libetl/sql/maintain.sql). */
#define ETL_RETENTION_BATCH	5000
/* The schema check as a statement; etl_schema_result reads it. */
int	etl_stmt_schema(etl_stmt *);
int	etl_schema_result(PGresult *, const char *pg_env, etl_error *);
/* A job's new state, as etl_stmt_finish's and etl_stmt_reap_orphans' answers give it. */
typedef struct etl_moved {
	char			id[ETL_ID_LEN];
	enum etl_job_state	state;	/* ETL_JOB_NSTATES: a state this build does not know */
} etl_moved;
/* The rows of a finish or a reaping into *out (caller frees); their count or -1. */
long	etl_moved_result(PGresult *, etl_moved **out, etl_error *);
/* Jobs by queue and state, as etl_stmt_job_counts answers. */
typedef struct etl_job_count {
	char			queue[64];
	enum etl_job_state	state;
	long			count;
	double			lag;	/* its queue's oldest ready job's age, seconds */
} etl_job_count;
long	etl_job_counts_result(PGresult *, etl_job_count **out, etl_error *);
/* What a maintenance run did: cron jobs sent, finished jobs deleted. */
int	etl_maintain_result(PGresult *, long *cron_ticks, long *deleted, etl_error *);
/* The controller's liveness lock: taken, or held by another session (whose controller's
 * row names its host and pid, as last recorded). */
typedef struct etl_lock_holder {
	int	held;		/* we hold it now */
	char	host[256];	/* else: the holder's, "?" when it has no row */
	int	pid;
} etl_lock_holder;
int	etl_lock_result(PGresult *, etl_lock_holder *, etl_error *);
/* Rows returned (or affected) by a result, or -1. */
long	etl_count_result(PGresult *);



#ifdef __cplusplus
}
#endif
#endif /* ETL_STMT_H */
