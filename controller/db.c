/*
 * db.c: the controller's database connections on the event loop: DB_MAIN (claims,
 * LISTEN, heartbeats), DB_ENDS (the pids and ends of tasks) and DB_MAINT (maintenance:
 * retention, orphans, counts), so that a claim, an end statement and a retention batch
 * run at once on three server backends.  On each, statements
 * wait in a FIFO and go one at a time (PQsendQueryParams); answers and NOTIFYs arrive
 * through an ev_io on the socket.  When a connection is lost, every statement waiting on
 * it is answered with an error (its owner keeps what it must retry) and it reconnects
 * with backoff.  Never a blocking libpq call here.
 *
 * Deadlines: a connection attempt or a statement with no answer after --db-timeout
 * seconds (a stopped backend, a blackholed path) drops the connection and makes a new
 * one, whose first statement ends the old backend (it may still hold our liveness lock);
 * libpq's TCP keepalives and user timeout (libetl) catch a dead peer between statements.
 */
#include <bsd/sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "stats.h"
#include "xmalloc.h"

struct pending {
	etl_stmt		 st;
	db_cb			 cb;
	void			*arg;
	TAILQ_ENTRY(pending)	 link;
};
TAILQ_HEAD(pendq, pending);

struct dbc {
	int			 which;
	struct ev_loop		*loop;
	char			*pg_env;
	struct db_hooks		 hooks;
	etl_conn		*conn;
	int			 up;
	int			 connecting;
	ev_io			 io;
	ev_timer		 retry;
	double			 backoff;
	struct pendq		 queue;
	struct pending		*inflight;
	PGresult		*result;	/* the in-flight statement's first result */
	int			 shutting_down;
	ev_timer		 deadline;	/* the in-flight statement's or connect's */
	double			 since;		/* when it was sent (ev_now), 0: none */
	int			 stale_pid;	/* the backend we left hanging: to end */
	char			 stale_buf[16];
};
static struct dbc dbs[DB_NCONN];
/* how the log names each connection */
static const char *const conn_for[DB_NCONN] = { "", " for ends", " for maintenance" };
static const char *const conn_nth[DB_NCONN] = { "", " (second connection: ends)",
    " (third connection: maintenance)" };
static double db_timeout = 30;

void
db_set_timeout(double seconds)
{
	db_timeout = seconds;
}

double
db_stalled(void)
{
	const struct dbc *d = &dbs[DB_MAIN];

	if (d->loop == NULL || d->since == 0)
		return 0;
	return ev_now(d->loop) - d->since;
}

double
db_timeout_seconds(void)
{
	return db_timeout;
}

static void
deadline_arm(struct dbc *d)
{
	ev_timer_stop(d->loop, &d->deadline);
	d->since = ev_now(d->loop);
	ev_timer_set(&d->deadline, db_timeout, 0);
	ev_timer_start(d->loop, &d->deadline);
}

static void
deadline_disarm(struct dbc *d)
{
	ev_timer_stop(d->loop, &d->deadline);
	d->since = 0;
}

static void	db_connect(struct dbc *);
static void	db_kick(struct dbc *);

static void
stale_cb(PGresult *res, const char *why, void *arg)
{
	(void)arg;
	if (res == NULL)
		log_warnx("ending the backend we gave up on: %s", why);
	else
		log_info("the backend we gave up on %s", *PQgetvalue(res, 0, 0) == 't' ?
		    "is being ended" : "had ended");
}

int
db_up_on(int which)
{
	return dbs[which].up;
}

int
db_is_up(void)
{
	return db_up_on(DB_MAIN);
}

int
db_idle(void)
{
	int i;

	for (i = 0; i < DB_NCONN; i++)
		if (dbs[i].inflight != NULL || !TAILQ_EMPTY(&dbs[i].queue))
			return 0;
	return 1;
}

static void
io_set(struct dbc *d, int fd, int events)
{
	if (ev_is_active(&d->io))
		ev_io_stop(d->loop, &d->io);
	if (fd < 0 || events == 0)
		return;
	ev_io_set(&d->io, fd, events);
	ev_io_start(d->loop, &d->io);
}

/* Answer every waiting statement with why, and forget the connection. */
static void
db_lost(struct dbc *d, const char *why)
{
	struct pending *p;
	int was_up = d->up;

	io_set(d, -1, 0);
	deadline_disarm(d);
	if (d->result != NULL) {
		PQclear(d->result);
		d->result = NULL;
	}
	etl_disconnect(d->conn);
	d->conn = NULL;
	d->up = 0;
	if (d == &dbs[DB_MAIN])
		ctl_stats.db_up = 0;
	d->connecting = 0;
	if ((p = d->inflight) != NULL) {
		d->inflight = NULL;
		p->cb(NULL, why, p->arg);
		etl_stmt_clear(&p->st);
		free(p);
	}
	while ((p = TAILQ_FIRST(&d->queue)) != NULL) {
		TAILQ_REMOVE(&d->queue, p, link);
		p->cb(NULL, why, p->arg);
		etl_stmt_clear(&p->st);
		free(p);
	}
	if (was_up && d->hooks.down)
		d->hooks.down();
	if (d->shutting_down)
		return;
	log_warnx("database connection%s lost (%s); reconnecting in %.1f s",
	    conn_for[d->which], why, d->backoff);
	ev_timer_set(&d->retry, d->backoff, 0);
	ev_timer_start(d->loop, &d->retry);
	d->backoff = d->backoff * 2 > 5.0 ? 5.0 : d->backoff * 2;
}

static void
handle_notifies(struct dbc *d)
{
	PGnotify *n;

	while (d->conn != NULL && (n = PQnotifies(etl_conn_pg(d->conn))) != NULL) {
		if (d->hooks.notify)
			d->hooks.notify(n->relname, n->extra);
		PQfreemem(n);
	}
}

/* Collect the in-flight statement's results; answer it when complete. */
static void
read_results(struct dbc *d)
{
	PGconn *pg = etl_conn_pg(d->conn);
	PGresult *r;
	int readonly;

	while (d->inflight != NULL && !PQisBusy(pg)) {
		r = PQgetResult(pg);
		if (r != NULL) {
			if (d->result == NULL)
				d->result = r;
			else
				PQclear(r);
			continue;
		}
		/* NULL: the statement is done */
		struct pending *p = d->inflight;
		PGresult *res = d->result;
		etl_error err;

		d->inflight = NULL;
		d->result = NULL;
		deadline_disarm(d);
		readonly = 0;
		if (res != NULL && etl_result_ok(res, pg, &err) == 0) {
			p->cb(res, NULL, p->arg);
		} else {
			p->cb(NULL, res ? err.message : "no result", p->arg);
			/* 25006: a failover left us on a standby, or the server turned read-only */
			readonly = res != NULL && strcmp(err.sqlstate, "25006") == 0;
		}
		PQclear(res);
		etl_stmt_clear(&p->st);
		free(p);
		if (d->conn == NULL)	/* the callback may have shut us down */
			return;
		if (readonly) {
			/* a new session finds a writable server, or waits for one */
			db_lost(d, "the database is read-only");
			return;
		}
		pg = etl_conn_pg(d->conn);
		db_kick(d);
	}
}

static void
connect_step(struct dbc *d)
{
	PGconn *pg = etl_conn_pg(d->conn);

	switch (PQconnectPoll(pg)) {
	case PGRES_POLLING_READING:
		io_set(d, PQsocket(pg), EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		io_set(d, PQsocket(pg), EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		deadline_disarm(d);
		d->connecting = 0;
		d->up = 1;
		if (d == &dbs[DB_MAIN])
			ctl_stats.db_up = 1;
		d->backoff = 0.1;
		if (PQsetnonblocking(pg, 1) != 0) {
			db_lost(d, "cannot make the connection non-blocking");
			return;
		}
		io_set(d, PQsocket(pg), EV_READ);
		log_info("connected to pg_env '%s'%s", d->pg_env, conn_nth[d->which]);
		if (d->stale_pid > 0) {
			/* first: end the backend we gave up on (our liveness lock may be its) */
			etl_stmt st;

			memset(&st, 0, sizeof(st));
			snprintf(d->stale_buf, sizeof(d->stale_buf), "%d", d->stale_pid);
			st.sql = "SELECT pg_terminate_backend($1::int)";
			st.nparams = 1;
			st.params[0] = d->stale_buf;
			d->stale_pid = 0;
			db_submit_on(d->which, &st, stale_cb, NULL);
		}
		if (d->hooks.up)
			d->hooks.up();
		db_kick(d);
		return;
	default: {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		msg[strcspn(msg, "\n")] = '\0';
		db_lost(d, msg);
		return;
	}
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dbc *d = w->data;
	PGconn *pg;

	(void)loop;
	if (d->conn == NULL)
		return;
	if (d->connecting) {
		connect_step(d);
		return;
	}
	pg = etl_conn_pg(d->conn);
	if (revents & EV_WRITE) {
		int r = PQflush(pg);
		if (r < 0) {
			db_lost(d, "write failed");
			return;
		}
		if (r == 0)
			io_set(d, PQsocket(pg), EV_READ);
	}
	if (revents & EV_READ) {
		if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
			msg[strcspn(msg, "\n")] = '\0';
			db_lost(d, *msg ? msg : "connection closed");
			return;
		}
		handle_notifies(d);
		read_results(d);
		handle_notifies(d);
	}
}

/* Send the next statement if connected and nothing is in flight. */
static void
db_kick(struct dbc *d)
{
	struct pending *p;
	etl_error err;
	PGconn *pg;
	int r;

	if (!d->up || d->inflight != NULL || (p = TAILQ_FIRST(&d->queue)) == NULL)
		return;
	TAILQ_REMOVE(&d->queue, p, link);
	d->inflight = p;
	deadline_arm(d);
	if (etl_stmt_send(d->conn, &p->st, &err) != 0) {
		db_lost(d, err.message);
		return;
	}
	pg = etl_conn_pg(d->conn);
	if ((r = PQflush(pg)) < 0) {
		db_lost(d, "write failed");
		return;
	}
	io_set(d, PQsocket(pg), r == 1 ? EV_READ | EV_WRITE : EV_READ);
}

void
db_submit_on(int which, etl_stmt *st, db_cb cb, void *arg)
{
	struct dbc *d = &dbs[which];
	struct pending *p = xcalloc(1, sizeof(*p));

	p->st = *st;
	memset(st, 0, sizeof(*st));
	p->cb = cb;
	p->arg = arg;
	TAILQ_INSERT_TAIL(&d->queue, p, link);
	db_kick(d);
}

void
db_submit(etl_stmt *st, db_cb cb, void *arg)
{
	db_submit_on(DB_MAIN, st, cb, arg);
}

/* The server's warnings (a schedule that could not send, a batch callback lost) go to
 * our log; its notices are noise. */
static void
db_notice(void *arg, const char *msg)
{
	size_t len = strlen(msg);

	(void)arg;
	if (strncmp(msg, "WARNING:", 8) != 0)
		return;
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	log_warnx("database: %.*s", (int)len, msg);
}

static void
db_connect(struct dbc *d)
{
	etl_error err;

	if (d->shutting_down)
		return;
	if ((d->conn = etl_connect_start(d->pg_env, &err)) == NULL) {
		log_warnx("%s; retrying in %.1f s", err.message, d->backoff);
		ev_timer_set(&d->retry, d->backoff, 0);
		ev_timer_start(d->loop, &d->retry);
		d->backoff = d->backoff * 2 > 5.0 ? 5.0 : d->backoff * 2;
		return;
	}
	PQsetNoticeProcessor(etl_conn_pg(d->conn), db_notice, NULL);
	d->connecting = 1;
	deadline_arm(d);
	io_set(d, PQsocket(etl_conn_pg(d->conn)), EV_WRITE);
}

/* No answer in time: give the connection up (its backend is ended from the next one). */
static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct dbc *d = w->data;
	char why[128];

	(void)loop;
	(void)revents;
	if (d->conn == NULL)
		return;
	if (!d->connecting)
		d->stale_pid = PQbackendPID(etl_conn_pg(d->conn));
	snprintf(why, sizeof(why), "no answer in %g s (--db-timeout): a hung %s", db_timeout,
	    d->connecting ? "connection attempt" : "connection or backend");
	db_lost(d, why);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	db_connect(w->data);
}

void
db_init(struct ev_loop *loop, int which, const char *pg_env, const struct db_hooks *hooks)
{
	struct dbc *d = &dbs[which];

	d->which = which;
	d->loop = loop;
	d->pg_env = xstrdup(pg_env ? pg_env : "");
	d->hooks = *hooks;
	d->backoff = 0.1;
	TAILQ_INIT(&d->queue);
	ev_init(&d->io, io_cb);
	d->io.data = d;
	ev_init(&d->retry, retry_cb);
	d->retry.data = d;
	ev_init(&d->deadline, deadline_cb);
	d->deadline.data = d;
	db_connect(d);
}

void
db_shutdown(void)
{
	struct dbc *d;
	int i;

	for (i = 0; i < DB_NCONN; i++) {
		d = &dbs[i];
		if (d->loop == NULL)
			continue;
		d->shutting_down = 1;
		ev_timer_stop(d->loop, &d->retry);
		ev_timer_stop(d->loop, &d->deadline);
		if (d->conn != NULL || d->inflight != NULL || !TAILQ_EMPTY(&d->queue))
			db_lost(d, "shutting down");
		FREE(d->pg_env);
	}
}
