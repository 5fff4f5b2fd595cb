/*
 * db.h: the controller's one database connection, driven by libpq's asynchronous API
 * on the libev loop: connect without blocking, a FIFO of statements with one in flight,
 * LISTEN/NOTIFY, and reconnection with capped backoff.  It never blocks the loop.
 */
#ifndef ETL_CONTROLLER_DB_H
#define ETL_CONTROLLER_DB_H

#include <ev.h>

#include "etl.h"

/* A statement's answer: res on success (freed after the call), else NULL and why. */
typedef void (*db_cb)(PGresult *res, const char *why, void *arg);

struct db_hooks {
	void	(*up)(void);				/* connected (again) */
	void	(*down)(void);				/* connection lost */
	void	(*notify)(const char *channel, const char *payload);
};

void	db_init(struct ev_loop *, const char *pg_env, const struct db_hooks *);
/* Queue st (taken: cleared after sending) for sending when connected. */
void	db_submit(etl_stmt *st, db_cb cb, void *arg);
int	db_is_up(void);
/* Nothing queued or in flight. */
int	db_idle(void);
const char *db_pg_env(void);
void	db_shutdown(void);

#endif
