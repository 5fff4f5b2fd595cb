/*
 * pipeline.h: what the validation pipeline's tasks share (seed 001): a connection to the
 * job's pg_env, the pipeline's tables, and a query helper.  Header-only: each task is one
 * program.
 */
#ifndef PIPELINE_H
#define PIPELINE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

#define PIPELINE_SCHEMA \
	"CREATE SCHEMA IF NOT EXISTS pipeline; " \
	"CREATE TABLE IF NOT EXISTS pipeline.dataset (id text PRIMARY KEY, phase text NOT NULL, " \
	"  previous text, n int NOT NULL, batch_id uuid, created_on timestamptz DEFAULT now()); " \
	"CREATE TABLE IF NOT EXISTS pipeline.item (dataset_id text, n int, data jsonb, " \
	"  state text NOT NULL DEFAULT 'in-progress', checks int NOT NULL DEFAULT 0, " \
	"  checked_on timestamptz, PRIMARY KEY (dataset_id, n)); " \
	"CREATE TABLE IF NOT EXISTS pipeline.dataset_check (dataset_id text PRIMARY KEY, " \
	"  items int, ok int, checked_on timestamptz DEFAULT clock_timestamp()); " \
	"CREATE TABLE IF NOT EXISTS pipeline.time_check (dataset_id text PRIMARY KEY, " \
	"  previous text, result jsonb, checked_on timestamptz DEFAULT clock_timestamp()); " \
	"CREATE TABLE IF NOT EXISTS pipeline.report (dataset_id text PRIMARY KEY, report jsonb, " \
	"  created_on timestamptz DEFAULT clock_timestamp())"

/* The job's database (its own connection: the task's SQL never shares the event one). */
static inline etl_conn *
pl_connect(etl_error *err)
{
	return etl_connect(etl_context_pg_env(etl_context_current()), err);
}

/* Run sql with parameters; NULL and err on failure. */
static inline PGresult *
pl_exec(etl_conn *c, const char *sql, int n, const char *const *p, etl_error *err)
{
	PGresult *res = PQexecParams(etl_conn_pg(c), sql, n, NULL, p, NULL, NULL, 0);

	if (etl_result_ok(res, etl_conn_pg(c), err) != 0) {
		PQclear(res);
		return NULL;
	}
	return res;
}

/* The string member k of the INITIAL's payload, or NULL. */
static inline const char *
pl_arg(const cJSON *initial, const char *k)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "data");

	if (cJSON_IsString(v))
		return v->valuestring;
	/* a batch callback carries the batch's data */
	v = cJSON_GetObjectItemCaseSensitive(d, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * The start of a step: the dataset it works on and a connection for it.  0, or -1 after
 * recording why (bad input 65, no database 75): the step then returns NULL.
 */
static inline int
pl_begin(const cJSON *initial, const char *task, const char **ds, etl_conn **c)
{
	etl_error err;

	if ((*ds = pl_arg(initial, "dataset")) == NULL) {
		(void)etl_fail_task(65, "%s wants {\"dataset\": ID}", task);
		return -1;
	}
	if ((*c = pl_connect(&err)) == NULL) {
		(void)etl_fail_task(75, "%s", err.message);
		return -1;
	}
	return 0;
}

/* Send the next step of the pipeline for dataset ds. */
static inline int
pl_next(const char *queue, const char *ds, etl_error *err)
{
	etl_conn *qc = etl_context_queue_conn(etl_context_current(), err);
	char id[ETL_ID_LEN];
	cJSON *p;
	int rc;

	if (qc == NULL)
		return -1;
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "dataset", ds);
	rc = etl_send(qc, queue, p, NULL, id, err);
	cJSON_Delete(p);
	return rc == 0 ? 0 : -1;
}

#endif
