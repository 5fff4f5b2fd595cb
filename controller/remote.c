/*
 * remote.c: the controller's blocking connections to other pg_envs (see remote.h).
 * Never used for a job whose events live in the controller's own database.
 */
#include <bsd/sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "xmalloc.h"

struct foreign {
	char		*pg_env;
	etl_conn	*conn;
	SLIST_ENTRY(foreign) link;
};

static struct {
	const char		*pg_env;
	etl_conn		*qsync;		/* to the controller's database */
	SLIST_HEAD(, foreign)	 foreign;
} R;

void
remote_init(const char *pg_env)
{
	R.pg_env = pg_env;
	SLIST_INIT(&R.foreign);
}

int
remote_is_local(const etl_job *ej)
{
	return ej->pg_env[0] == '\0' || strcmp(ej->pg_env, R.pg_env) == 0;
}

/* A blocking connection to pg_env, opened once and reset when broken. */
static etl_conn *
foreign_conn(const char *pg_env, etl_error *err)
{
	struct foreign *f;

	SLIST_FOREACH(f, &R.foreign, link)
		if (strcmp(f->pg_env, pg_env) == 0) {
			if (PQstatus(etl_conn_pg(f->conn)) == CONNECTION_OK)
				return f->conn;
			PQreset(etl_conn_pg(f->conn));
			if (PQstatus(etl_conn_pg(f->conn)) == CONNECTION_OK)
				return f->conn;
			etl_error_clear(err);
			snprintf(err->message, sizeof(err->message), "pg_env '%s' unreachable",
			    pg_env);
			err->code = ETL_EDB;
			return NULL;
		}
	f = xcalloc(1, sizeof(*f));
	if ((f->conn = etl_connect(pg_env, err)) == NULL) {
		free(f);
		return NULL;
	}
	f->pg_env = xstrdup(pg_env);
	SLIST_INSERT_HEAD(&R.foreign, f, link);
	return f->conn;
}

static etl_conn *
qsync_conn(etl_error *err)
{
	if (R.qsync != NULL && PQstatus(etl_conn_pg(R.qsync)) != CONNECTION_OK) {
		etl_disconnect(R.qsync);
		R.qsync = NULL;
	}
	if (R.qsync == NULL)
		R.qsync = etl_connect(R.pg_env, err);
	return R.qsync;
}

int
remote_prepare(etl_job *ej, char **initial, etl_error *err)
{
	etl_conn *cc, *qc;

	if ((cc = foreign_conn(ej->pg_env, err)) == NULL || (qc = qsync_conn(err)) == NULL)
		return -1;
	return etl_job_prepare(qc, cc, ej, initial, &ej->since, err);
}

int
remote_finish(const etl_job *ej, int wstatus, const char *log_tail,
    enum etl_job_state *state, etl_error *err)
{
	etl_conn *cc = NULL, *qc;
	etl_error cerr;

	/* a job that never started has no context: its end is the job's only */
	if (ej->etl_context_id != 0)
		cc = foreign_conn(ej->pg_env, &cerr);
	if ((qc = qsync_conn(err)) == NULL)
		return -1;
	return etl_job_finish(qc, cc ? cc : qc, ej, ej->since, wstatus, log_tail, state, err);
}

void
remote_free(void)
{
	struct foreign *f;

	while ((f = SLIST_FIRST(&R.foreign)) != NULL) {
		SLIST_REMOVE_HEAD(&R.foreign, link);
		etl_disconnect(f->conn);
		free(f->pg_env);
		free(f);
	}
	etl_disconnect(R.qsync);
	R.qsync = NULL;
}
