/*
 * pool.c: etl-api's database connections.  A fixed number, opened when first needed and
 * lent to one request at a time; before a request's statements the connection takes the
 * caller's database role (SET ROLE etl_viewer, etl_sender or etl_admin), so the
 * database's grants decide what each caller may do, whatever the API checked first.  A
 * connection that broke is closed and opened again at its next loan.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include <libpq-fe.h>

#include "api.h"
#include "log.h"
#include "xmalloc.h"

struct slot {
	etl_conn	*conn;
	enum api_role	 role;		/* the role it runs as now (ROLE_NONE: its login) */
	int		 lent;
};

static struct slot *slots;
static unsigned nslots;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;

void
pool_init(unsigned size)
{
	nslots = size ? size : 1;
	slots = xcalloc(nslots, sizeof(*slots));
}

void
pool_fini(void)
{
	unsigned i;

	for (i = 0; i < nslots; i++)
		etl_disconnect(slots[i].conn);
	FREE(slots);
	nslots = 0;
}

static int
set_role(struct slot *s, enum api_role role, etl_error *err)
{
	char sql[64];
	PGresult *res;

	if (!api_cfg.set_role || s->role == role)
		return 0;
	snprintf(sql, sizeof(sql), "SET ROLE %s", role_db(role));
	res = PQexec(etl_conn_pg(s->conn), sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		err->code = ETL_EDB;
		strlcpy(err->sqlstate, st ? st : "", sizeof(err->sqlstate));
		snprintf(err->message, sizeof(err->message), "the API's login cannot act as %s "
		    "(grant it the role): %s", role_db(role), PQerrorMessage(etl_conn_pg(s->conn)));
		err->message[strcspn(err->message, "\n")] = '\0';
		PQclear(res);
		return -1;
	}
	PQclear(res);
	s->role = role;
	return 0;
}

etl_conn *
pool_get(enum api_role role, etl_error *err)
{
	struct slot *s = NULL;
	unsigned i;

	pthread_mutex_lock(&mu);
	for (;;) {
		/* one already in this role, else any free one */
		for (i = 0; i < nslots; i++)
			if (!slots[i].lent && slots[i].conn != NULL && slots[i].role == role) {
				s = &slots[i];
				break;
			}
		for (i = 0; s == NULL && i < nslots; i++)
			if (!slots[i].lent)
				s = &slots[i];
		if (s != NULL || api_stopping)
			break;
		pthread_cond_wait(&freed, &mu);
	}
	if (s != NULL)
		s->lent = 1;
	pthread_mutex_unlock(&mu);
	if (s == NULL) {
		etl_error_clear(err);
		err->code = ETL_EDB;
		strlcpy(err->message, "etl-api is stopping", sizeof(err->message));
		return NULL;
	}
	if (s->conn == NULL) {
		if ((s->conn = etl_connect(api_cfg.pg_env, err)) == NULL)
			goto fail;
		s->role = ROLE_NONE;
	}
	if (set_role(s, role, err) != 0)
		goto fail;
	return s->conn;
fail:
	if (s->conn != NULL && PQstatus(etl_conn_pg(s->conn)) != CONNECTION_OK) {
		etl_disconnect(s->conn);
		s->conn = NULL;
	}
	pthread_mutex_lock(&mu);
	s->lent = 0;
	pthread_cond_signal(&freed);
	pthread_mutex_unlock(&mu);
	return NULL;
}

void
pool_put(etl_conn *c)
{
	unsigned i;

	if (c == NULL)
		return;
	pthread_mutex_lock(&mu);
	for (i = 0; i < nslots; i++)
		if (slots[i].conn == c) {
			PGconn *pg = etl_conn_pg(c);

			/* broken, or left inside a transaction by a failed call: start over */
			if (PQstatus(pg) != CONNECTION_OK ||
			    PQtransactionStatus(pg) != PQTRANS_IDLE) {
				etl_disconnect(c);
				slots[i].conn = NULL;
				slots[i].role = ROLE_NONE;
			}
			slots[i].lent = 0;
			break;
		}
	pthread_cond_signal(&freed);
	pthread_mutex_unlock(&mu);
}
