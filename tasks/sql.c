/*
 * sql: run SQL against the job's pg_env.  Payload {"sql": "..."} (one or more
 * statements), or {"sql": "...", "params": [...]} (one statement with $1, $2 ...), or
 * {"file": "path.sql"}.  FINAL: {"command": "INSERT 0 3", "rows": 3} for the last
 * statement (rows affected or returned).  Runs on a connection of its own, so what the
 * SQL does to its session (an open transaction, unlocking) cannot touch the task's own.
 * A syntax or data error is bad input (exit 65); a lost connection, a deadlock or a
 * serialization failure may be retried (exit 75).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

#define SQL_FILE_MAX (16 * 1024 * 1024)

/* Whether an error of this SQLSTATE may pass on a retry. */
static int
transient(const char *st)
{
	return st != NULL && (strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	    strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0);
}

static char *
read_file(const char *path, char *why, size_t whysz)
{
	size_t len;
	char *buf;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(why, whysz, "%s: cannot open", path);
		return NULL;
	}
	buf = malloc(SQL_FILE_MAX + 1);
	len = buf ? fread(buf, 1, SQL_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (buf == NULL || len > SQL_FILE_MAX) {
		snprintf(why, whysz, "%s: over %d bytes", path, SQL_FILE_MAX);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static cJSON *
sql(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(p, "sql");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(p, "file");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(p, "params");
	etl_context *ctx = etl_context_current();
	const char **pv = NULL;
	char why[600], *owned = NULL, **pown = NULL;
	const char *q;
	PGresult *res, *last = NULL;
	etl_error err;
	etl_conn *c;
	cJSON *out;
	int n = 0, i;

	if (cJSON_IsString(text))
		q = text->valuestring;
	else if (cJSON_IsString(file)) {
		if ((owned = read_file(file->valuestring, why, sizeof(why))) == NULL)
			return etl_fail_task(65, "%s", why);
		q = owned;
	} else
		return etl_fail_task(65, "sql wants {\"sql\": \"...\"} or {\"file\": \"...\"}");
	if (params != NULL && !cJSON_IsArray(params)) {
		free(owned);
		return etl_fail_task(65, "params must be an array");
	}
	if ((c = etl_connect(etl_context_pg_env(ctx), &err)) == NULL) {
		free(owned);
		return etl_fail_task(75, "%s", err.message);
	}
	if (params != NULL) {
		const cJSON *v;

		n = cJSON_GetArraySize(params);
		pv = calloc((size_t)n + 1, sizeof(*pv));
		pown = calloc((size_t)n + 1, sizeof(*pown));
		i = 0;
		cJSON_ArrayForEach(v, params) {
			if (cJSON_IsNull(v))
				pv[i] = NULL;
			else if (cJSON_IsString(v))
				pv[i] = v->valuestring;
			else	/* numbers, booleans, objects: their JSON text */
				pv[i] = pown[i] = cJSON_PrintUnformatted(v);
			i++;
		}
		last = PQexecParams(etl_conn_pg(c), q, n, NULL, pv, NULL, NULL, 0);
	} else {
		/* several statements: the simple protocol; keep the last result */
		if (PQsendQuery(etl_conn_pg(c), q))
			while ((res = PQgetResult(etl_conn_pg(c))) != NULL) {
				PQclear(last);
				last = res;
				if (PQresultStatus(res) == PGRES_FATAL_ERROR)
					break;
			}
		while ((res = PQgetResult(etl_conn_pg(c))) != NULL)
			PQclear(res);
	}
	for (i = 0; i < n; i++)
		free(pown[i]);
	free(pown);
	free(pv);
	free(owned);
	if (last == NULL || etl_result_ok(last, etl_conn_pg(c), &err) != 0) {
		const char *st = last ? PQresultErrorField(last, PG_DIAG_SQLSTATE) : NULL;
		int status = transient(st) || last == NULL ? 75 : 65;

		snprintf(why, sizeof(why), "%s", last ? err.message : PQerrorMessage(etl_conn_pg(c)));
		PQclear(last);
		etl_disconnect(c);
		return etl_fail_task(status, "%s", why);
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "command", PQcmdStatus(last));
	cJSON_AddNumberToObject(out, "rows", PQresultStatus(last) == PGRES_TUPLES_OK ?
	    PQntuples(last) : atof(PQcmdTuples(last)));
	printf("%s\n", PQcmdStatus(last));
	PQclear(last);
	etl_disconnect(c);
	return out;
}

ETL_TASK_MAIN(sql)
