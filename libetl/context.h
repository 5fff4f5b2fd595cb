/*
 * context.h: the inside of an EtlContext handle, shared by libetl's context, event and
 * task files.  Callers see only the opaque etl_context of etl.h.
 */
#ifndef ETL_CONTEXT_H
#define ETL_CONTEXT_H

#include <time.h>

#include "internal.h"

struct etl_context {
	int64_t		 id;
	char		*pg_env;
	char		*task;		/* the event type prefix */
	char		*job_id;	/* NULL outside a job */
	char		*queue_pg_env;	/* where the job row lives; NULL = pg_env */
	etl_conn	*conn;		/* the context's database */
	int		 conn_borrowed;	/* conn is a runner's: not ours to close */
	etl_conn	**conn_slot;	/* the runner's connection, opened on first use */
	etl_conn	*qconn;		/* the job's database (may be conn) */
	etl_error	 err;		/* last error of a convenience call */
	struct timespec	 last_progress;
	int		 finaled;	/* dispatched :FINAL */
	int		 errored;	/* dispatched :ERROR */
	int		 exit_status;	/* for a task that failed itself */
	int		 run;		/* the job's run this process is (with secret) */
	char		*secret;	/* its proof (NULL: a trusted caller, no proof) */
	char		 runbuf[16];	/* run as text, for statements */
};

/*
 * Whether this context writes as a task proving its run (etl.task_* functions): it has
 * a run's secret and its events live with its job (a job of another pg_env is not
 * fenced).
 */
#define etl__ctx_proves(ctx) ((ctx)->secret != NULL && (ctx)->job_id != NULL && \
	((ctx)->queue_pg_env == NULL || strcmp((ctx)->queue_pg_env, (ctx)->pg_env) == 0))
/* Set a context's run and secret (copied). */
int		 etl__context_proof(etl_context *, int run, const char *secret);

etl_conn	*etl__context_qconn(etl_context *, etl_error *);
/* The job's heartbeat (beat.c): a thread that beats while the task lives, and a beat
 * with its events and progress, for jobs with $ETL_HEARTBEAT_SECONDS. */
void		 etl__beat_start(const etl_context *);
void		 etl__beat_maybe(etl_context *);

extern etl_context *etl__task_context;	/* the task's context, for gdb */
extern char *etl__task_initial;		/* the task's INITIAL text, for gdb */

#endif
