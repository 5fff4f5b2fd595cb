/*
 * conn.c: pg_env connections.  A pg_env is a libpq service name (SPEC section 2);
 * the empty one means libpq's defaults.  Every statement goes through etl__exec.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int
etl_pg_env_valid(const char *name)
{
	size_t i;

	if (name == NULL)
		return -1;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		if (i >= 63)
			return -1;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return -1;
	}
	return 0;
}

/* libpq prints NOTICEs to stderr by default; a library must not */
static void
ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A connection to pg_env, started (blocking or not), or NULL with err. */
static etl_conn *
conn_open(const char *pg_env, int nonblock, etl_error *err)
{
	const char *keys[12], *vals[12];
	etl_conn *c;
	int n = 0;

	if (pg_env == NULL)
		pg_env = getenv("ETL_PG_ENV");
	if (pg_env == NULL)
		pg_env = "";
	if (etl_pg_env_valid(pg_env) != 0) {
		etl__err(err, ETL_EINVAL, "bad pg_env name '%.64s': use letters, digits, "
		    "'_', '-' and '.' (at most 63)", pg_env);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->pg_env = strdup(pg_env)) == NULL) {
		free(c);
		etl__err(err, ETL_ESYS, "out of memory");
		return NULL;
	}
	if (*pg_env != '\0') {
		keys[n] = "service";
		vals[n++] = pg_env;
	}
	if (nonblock) {
		/*
		 * A controller writes: a read-only server (a standby after a failover, or
		 * default_transaction_read_only) is refused at connect, so it keeps trying
		 * until a writable one answers instead of holding a session that cannot claim.
		 */
		keys[n] = "target_session_attrs";
		vals[n++] = "read-write";
	}
	keys[n] = "fallback_application_name";
	vals[n++] = "etl";
	/*
	 * A peer that vanished (a host down, a blackholed path) is found in about a minute
	 * rather than the kernel's two hours: TCP keepalives, and a user timeout on data
	 * sent but not acknowledged (TCP only; a unix socket ignores them).
	 */
	keys[n] = "keepalives";
	vals[n++] = "1";
	keys[n] = "keepalives_idle";
	vals[n++] = "30";
	keys[n] = "keepalives_interval";
	vals[n++] = "10";
	keys[n] = "keepalives_count";
	vals[n++] = "3";
	keys[n] = "tcp_user_timeout";
	vals[n++] = "60000";
	keys[n] = NULL;
	vals[n] = NULL;
	c->pg = nonblock ? PQconnectStartParams(keys, vals, 0) : PQconnectdbParams(keys, vals, 0);
	if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD ||
	    (!nonblock && PQstatus(c->pg) != CONNECTION_OK)) {
		char msg[400];
		size_t len;

		snprintf(msg, sizeof(msg), "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
		len = strlen(msg);
		while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
			msg[--len] = '\0';
		/* keep only the first line: libpq may add a second one per address */
		msg[strcspn(msg, "\n")] = '\0';
		etl__err(err, ETL_EDB, "cannot connect to pg_env '%s': %s", pg_env, msg);
		etl_disconnect(c);
		return NULL;
	}
	PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
	return c;
}

etl_conn *
etl_connect(const char *pg_env, etl_error *err)
{
	return conn_open(pg_env, 0, err);
}

etl_conn *
etl_connect_start(const char *pg_env, etl_error *err)
{
	return conn_open(pg_env, 1, err);
}

void
etl_disconnect(etl_conn *c)
{
	if (c == NULL)
		return;
	if (c->pg != NULL)
		PQfinish(c->pg);
	free(c->pg_env);
	free(c);
}

PGconn *
etl_conn_pg(etl_conn *c)
{
	return c->pg;
}

const char *
etl_conn_pg_env(const etl_conn *c)
{
	return c->pg_env;
}

PGresult *
etl__exec(etl_conn *c, const char *sql, int n, const char *const *params, etl_error *err)
{
	PGresult *res;
	ExecStatusType st;

	res = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	etl__err_pg(err, res, c->pg, c->pg_env[0] ? c->pg_env : "database");
	PQclear(res);
	return NULL;
}

int
etl__exec_cmd(etl_conn *c, const char *sql, int n, const char *const *params, etl_error *err)
{
	PGresult *res = etl__exec(c, sql, n, params, err);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * etl__exec without JIT, for the views that count per queue: their estimates (a small
 * table never analyzed, subplans per row) cross jit_above_cost, and compiling cost 700
 * ms of a 15 ms read at 300,000 jobs.  SET LOCAL, in a transaction of its own when none
 * is open, so nothing of it outlives the read (a transaction pooler sees one
 * transaction); inside a caller's transaction it lasts to that transaction's end.
 */
PGresult *
etl__exec_nojit(etl_conn *c, const char *sql, int n, const char *const *params,
    etl_error *err)
{
	int own = PQtransactionStatus(c->pg) == PQTRANS_IDLE;
	PGresult *res;
	etl_error e2;

	if (own && etl__exec_cmd(c, "BEGIN", 0, NULL, err) != 0)
		return NULL;
	if (etl__exec_cmd(c, "SET LOCAL jit = off", 0, NULL, err) != 0 ||
	    (res = etl__exec(c, sql, n, params, err)) == NULL) {
		if (own)
			(void)etl__exec_cmd(c, "ROLLBACK", 0, NULL, &e2);
		return NULL;
	}
	if (own && etl__exec_cmd(c, "COMMIT", 0, NULL, err) != 0) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The server pid behind c's next statement, or -1. */
static long
backend_pid(etl_conn *c, etl_error *err)
{
	PGresult *res = etl__exec(c, "SELECT pg_backend_pid()", 0, NULL, err);
	long pid;

	if (res == NULL)
		return -1;
	pid = PQntuples(res) == 1 ? strtol(PQgetvalue(res, 0, 0), NULL, 10) : -1;
	PQclear(res);
	return pid;
}

/*
 * Is pg_env served through a transaction (or statement) pooler?  Two sessions ask in
 * turn for the server pid behind them.  Without a pooler, or in session mode, each
 * session has a server of its own for its life: the pids differ and stay.  A
 * transaction pooler lets the server go after each statement: the first session may
 * be handed another one, and the second is handed the one just let go (PgBouncer
 * reuses the server released last first).  Never a false alarm; asked three times so
 * that other clients of the pool hardly hide it.  1: pooled, 0: not seen, -1: err.
 */
int
etl_pg_env_pooled(const char *pg_env, etl_error *err)
{
	etl_conn *a, *b = NULL;
	long pa, pb, pa2;
	int i, rc = -1;

	if ((a = etl_connect(pg_env, err)) == NULL || (b = etl_connect(pg_env, err)) == NULL)
		goto out;
	for (i = 0; i < 3; i++) {
		if ((pa = backend_pid(a, err)) < 0 || (pb = backend_pid(b, err)) < 0 ||
		    (pa2 = backend_pid(a, err)) < 0)
			goto out;
		if (pa == pb || pa != pa2) {
			rc = 1;
			goto out;
		}
	}
	rc = 0;
out:
	etl_disconnect(b);
	etl_disconnect(a);
	return rc;
}

char *
etl__strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

char *
etl__json_text(const cJSON *j)
{
	if (j == NULL)
		return strdup("null");
	return cJSON_PrintUnformatted(j);
}

cJSON *
etl__json_result(PGresult *res, etl_error *err)
{
	cJSON *j;

	if (res == NULL)
		return NULL;
	j = cJSON_Parse(PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ? "null" :
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	if (j == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return j;
}

char *
etl__json_take(cJSON *j, etl_error *err)
{
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	if (s == NULL)
		etl__err(err, ETL_ESYS, "out of memory");
	return s;
}
