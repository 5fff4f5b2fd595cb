/*
 * db.h: the controller's database connections, driven by libpq's asynchronous API on
 * the libev loop: connect without blocking, a FIFO of statements with one in flight on
 * each, LISTEN/NOTIFY, and reconnection with capped backoff.  It never blocks the loop.
 * DB_MAIN claims, listens and beats; DB_ENDS records pids and ends, in parallel;
 * DB_MAINT runs maintenance (retention batches, orphans, counts), so that nothing of it
 * waits before a claim or a heartbeat.
 */
#ifndef ETL_CONTROLLER_DB_H
#define ETL_CONTROLLER_DB_H

#include <ev.h>

#include "etl_stmt.h"

/* A statement's answer: res on success (freed after the call), else NULL and why. */
typedef void (*db_cb)(PGresult *res, const char *why, void *arg);

struct db_hooks {
	void	(*up)(void);				/* connected (again) */
	void	(*down)(void);				/* connection lost */
	void	(*notify)(const char *channel, const char *payload);
};

#define DB_MAIN		0
#define DB_ENDS		1
#define DB_MAINT	2
#define DB_NCONN	3

void	db_init(struct ev_loop *, int which, const char *pg_env, const struct db_hooks *);
/* Queue st (taken: cleared after sending) for sending on a connection when it is up. */
void	db_submit_on(int which, etl_stmt *st, db_cb cb, void *arg);
/* The same on DB_MAIN. */
void	db_submit(etl_stmt *st, db_cb cb, void *arg);
int	db_up_on(int which);
/* DB_MAIN is up. */
int	db_is_up(void);
/* Nothing queued or in flight on any connection. */
int	db_idle(void);
void	db_shutdown(void);
/* --db-timeout: a statement or connect with no answer this long drops its connection. */
void	db_set_timeout(double seconds);
double	db_timeout_seconds(void);
/* How long DB_MAIN's in-flight statement has waited (0: none in flight). */
double	db_stalled(void);

#endif
