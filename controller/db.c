/*
 * db.c: the controller's database connection on the event loop.  Statements wait in a
 * FIFO and go one at a time (PQsendQueryParams); answers and NOTIFYs arrive through an
 * ev_io on the socket.  When the connection is lost, every waiting statement is answered
 * with an error (its owner keeps what it must retry) and we reconnect with backoff.
 * Never a blocking libpq call here.
 */
#include <bsd/sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

struct pending {
	etl_stmt		 st;
	db_cb			 cb;
	void			*arg;
	TAILQ_ENTRY(pending)	 link;
};
TAILQ_HEAD(pendq, pending);

static struct {
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
} db;

static void	db_connect(void);
static void	db_kick(void);

int
db_is_up(void)
{
	return db.up;
}

int
db_idle(void)
{
	return db.inflight == NULL && TAILQ_EMPTY(&db.queue);
}

const char *
db_pg_env(void)
{
	return db.pg_env;
}

static void
io_set(int fd, int events)
{
	if (ev_is_active(&db.io))
		ev_io_stop(db.loop, &db.io);
	if (fd < 0 || events == 0)
		return;
	ev_io_set(&db.io, fd, events);
	ev_io_start(db.loop, &db.io);
}

/* Answer every waiting statement with why, and forget the connection. */
static void
db_lost(const char *why)
{
	struct pending *p;
	int was_up = db.up;

	io_set(-1, 0);
	if (db.result != NULL) {
		PQclear(db.result);
		db.result = NULL;
	}
	etl_disconnect(db.conn);
	db.conn = NULL;
	db.up = 0;
	db.connecting = 0;
	if ((p = db.inflight) != NULL) {
		db.inflight = NULL;
		p->cb(NULL, why, p->arg);
		etl_stmt_clear(&p->st);
		free(p);
	}
	while ((p = TAILQ_FIRST(&db.queue)) != NULL) {
		TAILQ_REMOVE(&db.queue, p, link);
		p->cb(NULL, why, p->arg);
		etl_stmt_clear(&p->st);
		free(p);
	}
	if (was_up && db.hooks.down)
		db.hooks.down();
	if (db.shutting_down)
		return;
	log_warnx("database connection lost (%s); reconnecting in %.1f s", why, db.backoff);
	ev_timer_set(&db.retry, db.backoff, 0);
	ev_timer_start(db.loop, &db.retry);
	db.backoff = db.backoff * 2 > 5.0 ? 5.0 : db.backoff * 2;
}

static void
handle_notifies(void)
{
	PGnotify *n;

	while (db.conn != NULL && (n = PQnotifies(etl_conn_pg(db.conn))) != NULL) {
		if (db.hooks.notify)
			db.hooks.notify(n->relname, n->extra);
		PQfreemem(n);
	}
}

/* Collect the in-flight statement's results; answer it when complete. */
static void
read_results(void)
{
	PGconn *pg = etl_conn_pg(db.conn);
	PGresult *r;

	while (db.inflight != NULL && !PQisBusy(pg)) {
		r = PQgetResult(pg);
		if (r != NULL) {
			if (db.result == NULL)
				db.result = r;
			else
				PQclear(r);
			continue;
		}
		/* NULL: the statement is done */
		struct pending *p = db.inflight;
		PGresult *res = db.result;
		etl_error err;

		db.inflight = NULL;
		db.result = NULL;
		if (res != NULL && etl_result_ok(res, pg, &err) == 0)
			p->cb(res, NULL, p->arg);
		else
			p->cb(NULL, res ? err.message : "no result", p->arg);
		PQclear(res);
		etl_stmt_clear(&p->st);
		free(p);
		if (db.conn == NULL)	/* the callback may have shut us down */
			return;
		pg = etl_conn_pg(db.conn);
		db_kick();
	}
}

static void
connect_step(void)
{
	PGconn *pg = etl_conn_pg(db.conn);

	switch (PQconnectPoll(pg)) {
	case PGRES_POLLING_READING:
		io_set(PQsocket(pg), EV_READ);
		return;
	case PGRES_POLLING_WRITING:
		io_set(PQsocket(pg), EV_WRITE);
		return;
	case PGRES_POLLING_OK:
		db.connecting = 0;
		db.up = 1;
		db.backoff = 0.1;
		if (PQsetnonblocking(pg, 1) != 0) {
			db_lost("cannot make the connection non-blocking");
			return;
		}
		io_set(PQsocket(pg), EV_READ);
		log_info("connected to pg_env '%s'", db.pg_env);
		if (db.hooks.up)
			db.hooks.up();
		db_kick();
		return;
	default: {
		char msg[256];

		snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
		msg[strcspn(msg, "\n")] = '\0';
		db_lost(msg);
		return;
	}
	}
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	PGconn *pg;

	(void)loop;
	(void)w;
	if (db.conn == NULL)
		return;
	if (db.connecting) {
		connect_step();
		return;
	}
	pg = etl_conn_pg(db.conn);
	if (revents & EV_WRITE) {
		int r = PQflush(pg);
		if (r < 0) {
			db_lost("write failed");
			return;
		}
		if (r == 0)
			io_set(PQsocket(pg), EV_READ);
	}
	if (revents & EV_READ) {
		if (!PQconsumeInput(pg) || PQstatus(pg) != CONNECTION_OK) {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", PQerrorMessage(pg));
			msg[strcspn(msg, "\n")] = '\0';
			db_lost(*msg ? msg : "connection closed");
			return;
		}
		handle_notifies();
		read_results();
		handle_notifies();
	}
}

/* Send the next statement if connected and nothing is in flight. */
static void
db_kick(void)
{
	struct pending *p;
	etl_error err;
	PGconn *pg;
	int r;

	if (!db.up || db.inflight != NULL || (p = TAILQ_FIRST(&db.queue)) == NULL)
		return;
	TAILQ_REMOVE(&db.queue, p, link);
	db.inflight = p;
	if (etl_stmt_send(db.conn, &p->st, &err) != 0) {
		db_lost(err.message);
		return;
	}
	pg = etl_conn_pg(db.conn);
	if ((r = PQflush(pg)) < 0) {
		db_lost("write failed");
		return;
	}
	io_set(PQsocket(pg), r == 1 ? EV_READ | EV_WRITE : EV_READ);
}

void
db_submit(etl_stmt *st, db_cb cb, void *arg)
{
	struct pending *p = xcalloc(1, sizeof(*p));

	p->st = *st;
	memset(st, 0, sizeof(*st));
	p->cb = cb;
	p->arg = arg;
	TAILQ_INSERT_TAIL(&db.queue, p, link);
	db_kick();
}

static void
db_connect(void)
{
	etl_error err;

	if (db.shutting_down)
		return;
	if ((db.conn = etl_connect_start(db.pg_env, &err)) == NULL) {
		log_warnx("%s; retrying in %.1f s", err.message, db.backoff);
		ev_timer_set(&db.retry, db.backoff, 0);
		ev_timer_start(db.loop, &db.retry);
		db.backoff = db.backoff * 2 > 5.0 ? 5.0 : db.backoff * 2;
		return;
	}
	db.connecting = 1;
	io_set(PQsocket(etl_conn_pg(db.conn)), EV_WRITE);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	db_connect();
}

void
db_init(struct ev_loop *loop, const char *pg_env, const struct db_hooks *hooks)
{
	db.loop = loop;
	db.pg_env = xstrdup(pg_env ? pg_env : "");
	db.hooks = *hooks;
	db.backoff = 0.1;
	TAILQ_INIT(&db.queue);
	ev_init(&db.io, io_cb);
	ev_init(&db.retry, retry_cb);
	db_connect();
}

void
db_shutdown(void)
{
	db.shutting_down = 1;
	ev_timer_stop(db.loop, &db.retry);
	if (db.conn != NULL || db.inflight != NULL || !TAILQ_EMPTY(&db.queue))
		db_lost("shutting down");
	FREE(db.pg_env);
}
