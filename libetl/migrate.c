/*
 * migrate.c: creating and upgrading the schema from the SQL compiled into libetl, and
 * refusing a schema newer than this build.  The numbered migrations (tables, types,
 * indexes) run once each; the function files (functions and triggers, CREATE OR
 * REPLACE) are applied again whenever their hash differs from the one recorded, so a
 * function is written once, in one file.  All in one transaction under an advisory
 * lock, so any number of processes may run it at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(hashtext('etl.migrate'))"

int
etl_schema_version(void)
{
	return etl__schema_version;
}

static int
read_version(etl_conn *c, int *v, char *hash, size_t hashsz, etl_error *err)
{
	PGresult *res = etl__exec(c, "SELECT version, coalesce(functions, '') FROM etl.version",
	    0, NULL, err);

	if (res == NULL)
		return -1;
	*v = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	snprintf(hash, hashsz, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 1) : "");
	PQclear(res);
	return 0;
}

/* Run a compiled-in constant of several statements (the simple protocol). */
static int
run_script(etl_conn *c, const char *sql, const char *what, etl_error *err)
{
	PGresult *res = PQexec(c->pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		etl__err_pg(err, res, c->pg, what);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

int
etl_migrate(etl_conn *c, int *from, int *to, etl_error *err)
{
	char vbuf[16], hash[64], what[64];
	const char *p[2];
	int v, i;

	if (etl__exec_cmd(c, "BEGIN", 0, NULL, err) != 0)
		return -1;
	if (etl__exec_cmd(c, MIGRATE_LOCK, 0, NULL, err) != 0 ||
	    etl__exec_cmd(c, "CREATE SCHEMA IF NOT EXISTS etl", 0, NULL, err) != 0 ||
	    etl__exec_cmd(c, "CREATE TABLE IF NOT EXISTS etl.version ("
	    " version int NOT NULL,"
	    " functions text,"
	    " one bool PRIMARY KEY DEFAULT true CHECK (one))", 0, NULL, err) != 0 ||
	    read_version(c, &v, hash, sizeof(hash), err) != 0)
		goto fail;
	if (from)
		*from = v;
	if (v > etl__schema_version) {
		etl__err(err, ETL_ESCHEMA, "the etl schema is version %d, newer than this etl "
		    "(%s knows up to %d): upgrade etl", v, ETL_VERSION, etl__schema_version);
		goto fail;
	}
	for (i = v; i < etl__schema_version; i++) {
		snprintf(what, sizeof(what), "migration %04d", i + 1);
		if (run_script(c, etl__migrations[i], what, err) != 0)
			goto fail;
	}
	if (i != v || strcmp(hash, etl__functions_hash) != 0) {
		for (i = 0; etl__functions[i] != NULL; i++) {
			snprintf(what, sizeof(what), "function file %d", i + 1);
			if (run_script(c, etl__functions[i], what, err) != 0)
				goto fail;
		}
		snprintf(vbuf, sizeof(vbuf), "%d", etl__schema_version);
		p[0] = vbuf;
		p[1] = etl__functions_hash;
		if (etl__exec_cmd(c, "INSERT INTO etl.version (version, functions) VALUES ($1, $2) "
		    "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version, "
		    "functions = EXCLUDED.functions", 2, p, err) != 0)
			goto fail;
	}
	if (etl__exec_cmd(c, "COMMIT", 0, NULL, err) != 0)
		goto fail;
	if (to)
		*to = etl__schema_version;
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
