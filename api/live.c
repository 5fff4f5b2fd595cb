/*
 * live.c: the feed the event streams wait on.  One thread holds a connection that
 * LISTENs on the channels the schema notifies (events, ready jobs, cancels); each
 * notification moves a generation counter on and wakes every stream, which then reads
 * what it shows.  Which contexts had events is kept for the last LIVE_RING
 * notifications, so a stream of one job's events reads only when its context moved.
 * The counter also moves once a second (what changes without a notification: claims,
 * ends of plain tasks, controllers), and when the connection is lost it is opened again.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "api.h"
#include "log.h"

#define LIVE_RING 4096

static pthread_t thread;
static int started;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t moved;
static uint64_t gen;
static struct {
	uint64_t	gen;
	int64_t		ctx;
} ring[LIVE_RING];
static uint64_t pushed;		/* entries ever pushed */

static void
bump(int64_t ctx)
{
	pthread_mutex_lock(&mu);
	gen++;
	if (ctx > 0) {
		ring[pushed % LIVE_RING].gen = gen;
		ring[pushed % LIVE_RING].ctx = ctx;
		pushed++;
	}
	pthread_cond_broadcast(&moved);
	pthread_mutex_unlock(&mu);
}

uint64_t
live_gen(void)
{
	uint64_t g;

	pthread_mutex_lock(&mu);
	g = gen;
	pthread_mutex_unlock(&mu);
	return g;
}

uint64_t
live_wait(uint64_t seen, int ms)
{
	struct timespec until;
	uint64_t g;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&mu);
	while (gen == seen && !api_stopping)
		if (pthread_cond_timedwait(&moved, &mu, &until) == ETIMEDOUT)
			break;
	g = gen;
	pthread_mutex_unlock(&mu);
	return g;
}

int
live_ctx_touched(int64_t ctx, uint64_t from)
{
	uint64_t i, lo;
	int hit = 0;

	pthread_mutex_lock(&mu);
	lo = pushed > LIVE_RING ? pushed - LIVE_RING : 0;
	/* the ring forgot part of the span: say yes, the stream reads and sees */
	if (lo > 0 && ring[lo % LIVE_RING].gen > from + 1)
		hit = 1;
	for (i = pushed; !hit && i > lo; i--) {
		if (ring[(i - 1) % LIVE_RING].gen <= from)
			break;
		if (ctx == 0 || ring[(i - 1) % LIVE_RING].ctx == ctx)
			hit = 1;
	}
	pthread_mutex_unlock(&mu);
	return hit;
}

static etl_conn *
listen_conn(void)
{
	etl_error err;
	etl_conn *c;
	PGconn *pg;
	PGresult *res;

	if ((c = etl_connect(api_cfg.pg_env, &err)) == NULL) {
		log_warnx("live feed: %s", err.message);
		return NULL;
	}
	pg = etl_conn_pg(c);
	res = PQexec(pg, "LISTEN " ETL_CHANNEL_EVENT "; LISTEN " ETL_CHANNEL_JOB "; LISTEN "
	    ETL_CHANNEL_CANCEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		log_warnx("live feed: LISTEN: %s", PQerrorMessage(pg));
		PQclear(res);
		etl_disconnect(c);
		return NULL;
	}
	PQclear(res);
	log_debug("live feed: listening");
	return c;
}

static void *
run(void *arg)
{
	etl_conn *c = NULL;
	PGconn *pg;
	time_t last = 0;

	(void)arg;
	while (!api_stopping) {
		struct pollfd pfd;
		PGnotify *n;
		time_t now = time(NULL);

		if (now != last) {
			last = now;
			bump(0);
		}
		if (c == NULL && (c = listen_conn()) == NULL) {
			usleep(250000);
			continue;
		}
		pg = etl_conn_pg(c);
		pfd.fd = PQsocket(pg);
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 250) < 0 && errno != EINTR)
			break;
		if (PQconsumeInput(pg) == 0) {
			log_warnx("live feed: %s", PQerrorMessage(pg));
			etl_disconnect(c);
			c = NULL;
			continue;
		}
		while ((n = PQnotifies(pg)) != NULL) {
			int64_t ctx = 0;

			if (strcmp(n->relname, ETL_CHANNEL_EVENT) == 0)
				ctx = strtoll(n->extra, NULL, 10);
			bump(ctx);
			PQfreemem(n);
		}
	}
	etl_disconnect(c);
	return NULL;
}

int
live_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&moved, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&thread, NULL, run, NULL) != 0)
		return -1;
	started = 1;
	return 0;
}

void
live_stop(void)
{
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&moved);
	pthread_mutex_unlock(&mu);
	if (started)
		pthread_join(thread, NULL);
	started = 0;
}
