/*
 * beat.c: a detached task's heartbeat, for jobs of queues with heartbeat_seconds.  The
 * controller hands the length to the task ($ETL_HEARTBEAT_SECONDS) and stops a job whose
 * heartbeat (etl.job.heartbeat_on) is older.  A libetl task beats from a thread of its
 * own, on a connection of its own, a third of the length apart, while its process
 * lives; its events and progress beat too, at most as often, so a task in another
 * language beats with `etl dispatch` and `etl progress`.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "context.h"

#define BEAT_SQL	"SELECT etl.beat($1::uuid)"
/* a task proves its run */
#define BEAT_TASK_SQL	"SELECT etl.beat($1::uuid, $2::int, $3)"

/* A third of $ETL_HEARTBEAT_SECONDS (at least 0.1 s); 0 when the job has none. */
static double
beat_every(void)
{
	const char *s = getenv("ETL_HEARTBEAT_SECONDS");
	double v;

	if (s == NULL || (v = atof(s)) <= 0)
		return 0;
	return v / 3 > 0.1 ? v / 3 : 0.1;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
etl__beat_maybe(etl_context *ctx)
{
	static double last;
	const char *p[1];
	double every = beat_every(), t;
	etl_conn *c;
	etl_error e;

	if (every == 0 || ctx->job_id == NULL || ((t = mono()) - last < every && last != 0))
		return;
	last = t;
	p[0] = ctx->job_id;
	if ((c = etl__context_qconn(ctx, &e)) == NULL)
		return;
	if (etl__ctx_proves(ctx)) {
		const char *tp[3] = { ctx->job_id, ctx->runbuf, ctx->secret };

		(void)etl__exec_cmd(c, BEAT_TASK_SQL, 3, tp, &e);
	} else {
		(void)etl__exec_cmd(c, BEAT_SQL, 1, p, &e);
	}
}

struct beat_arg {
	char	*job_id;
	char	*pg_env;
	char	*secret;	/* NULL: no proof */
	char	 run[16];
	double	 every;
};

static void *
beat_thread(void *arg)
{
	struct beat_arg *a = arg;
	const char *p[3] = { a->job_id, a->run, a->secret };
	etl_conn *c = NULL;
	etl_error e;

	for (;;) {
		struct timespec ts;

		if (c == NULL)
			c = etl_connect(a->pg_env, &e);
		if (c != NULL && etl__exec_cmd(c, a->secret ? BEAT_TASK_SQL : BEAT_SQL,
		    a->secret ? 3 : 1, p, &e) != 0) {
			etl_disconnect(c);	/* tried again on a new connection */
			c = NULL;
		}
		ts.tv_sec = (time_t)a->every;
		ts.tv_nsec = (long)((a->every - (double)ts.tv_sec) * 1e9);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
	return NULL;
}

void
etl__beat_start(const etl_context *ctx)
{
	static int started;
	struct beat_arg *a;
	pthread_attr_t attr;
	pthread_t t;
	sigset_t all, old;
	double every = beat_every();

	if (started || every == 0 || ctx->job_id == NULL)
		return;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->job_id = strdup(ctx->job_id)) == NULL ||
	    (a->pg_env = strdup(ctx->queue_pg_env ? ctx->queue_pg_env : ctx->pg_env ?
	    ctx->pg_env : "")) == NULL)
		goto fail;
	a->every = every;
	if (etl__ctx_proves(ctx)) {
		if ((a->secret = strdup(ctx->secret)) == NULL)
			goto fail;
		snprintf(a->run, sizeof(a->run), "%d", ctx->run);
	}
	/* the task's signals (SIGTERM: stop) are for its own thread, never this one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, beat_thread, a) == 0)
		started = 1;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started)
		return;
fail:
	if (a != NULL) {
		free(a->job_id);
		free(a->pg_env);
		free(a->secret);
		free(a);
	}
}
