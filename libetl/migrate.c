/*
 * migrate.c: creating and upgrading the schema from the migrations compiled into libetl,
 * and refusing a schema newer than this build.  Migrations run in one transaction under
 * an advisory lock, so any number of processes may run them at once.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(hashtext('etl.migrate'))"

static int
read_version(etl_conn *c, int *v, etl_error *err)
{
	PGresult *res = etl__exec(c, "SELECT version FROM etl.version", 0, NULL, err);

	if (res == NULL)
		return -1;
	*v = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	return 0;
}

int
etl_migrate(etl_conn *c, int *from, int *to, etl_error *err)
{
	char vbuf[16];
	const char *p[1];
	int v, i;

	if (etl__exec_cmd(c, "BEGIN", 0, NULL, err) != 0)
		return -1;
	if (etl__exec_cmd(c, MIGRATE_LOCK, 0, NULL, err) != 0 ||
	    etl__exec_cmd(c, "CREATE SCHEMA IF NOT EXISTS etl", 0, NULL, err) != 0 ||
	    etl__exec_cmd(c, "CREATE TABLE IF NOT EXISTS etl.version ("
	    " version int NOT NULL,"
	    " one bool PRIMARY KEY DEFAULT true CHECK (one))", 0, NULL, err) != 0 ||
	    read_version(c, &v, err) != 0)
		goto fail;
	if (from)
		*from = v;
	if (v > ETL_SCHEMA_VERSION_MAX) {
		etl__err(err, ETL_ESCHEMA, "the etl schema is version %d, newer than this etl "
		    "(%s knows up to %d): upgrade etl", v, ETL_VERSION, ETL_SCHEMA_VERSION_MAX);
		goto fail;
	}
	for (i = v; i < etl__nmigrations && i < ETL_SCHEMA_VERSION_MAX; i++) {
		/* a compiled-in constant, several statements: the simple protocol */
		PGresult *res = PQexec(c->pg, etl__migrations[i]);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			char what[64];

			snprintf(what, sizeof(what), "migration %04d", i + 1);
			etl__err_pg(err, res, c->pg, what);
			PQclear(res);
			goto fail;
		}
		PQclear(res);
	}
	if (i != v) {
		snprintf(vbuf, sizeof(vbuf), "%d", i);
		p[0] = vbuf;
		if (etl__exec_cmd(c, "INSERT INTO etl.version (version) VALUES ($1) "
		    "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version", 1, p, err) != 0)
			goto fail;
	}
	if (etl__exec_cmd(c, "COMMIT", 0, NULL, err) != 0)
		goto fail;
	if (to)
		*to = i;
	return 0;
fail:
	PQclear(PQexec(c->pg, "ROLLBACK"));
	return -1;
}

int
etl_schema_check(etl_conn *c, etl_error *err)
{
	etl_stmt st;
	PGresult *res;
	int rc;

	etl_stmt_schema(&st);
	res = PQexecParams(c->pg, st.sql, 0, NULL, NULL, NULL, NULL, 0);
	rc = etl_schema_result(res, c->pg_env, err);
	PQclear(res);
	etl_stmt_clear(&st);
	return rc;
}
