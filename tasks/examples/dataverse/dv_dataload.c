/*
 * dv_dataload: seed 003's CreateBatchForDataloadJob, as its diagram draws it.  Payload
 * {"dir": SRC, "doi": "doi:10.5072/FK2/X", "files_dir": the Dataverse file store,
 * "dataverse": URL, "key_file": FILE with the API key, "per_request": 50, "hold": S for
 * the crash tests}: walks SRC's
 * tree, gives each file its storage identifier (Dataverse's form: milliseconds in hex,
 * a dash, 12 hex digits), and in one transaction makes batch 1 (on_success dv_datafiles,
 * on_discard dv_cleanup) with one dv_file job per file, and closes it.  The fan-out is
 * once: a retry of this job finds the batch it committed and makes no other.
 * FINAL {"batch_id", "files"}.
 */
#include <sys/random.h>
#include <sys/time.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etl.h"

static char **paths;
static size_t npaths, cappaths;

static int
collect(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	char **np;

	(void)sb;
	(void)ftw;
	/* every entry but folders: a file that cannot be read fails its own job */
	if (flag == FTW_D || flag == FTW_DP || flag == FTW_DNR)
		return flag == FTW_DNR ? 1 : 0;
	if (npaths == cappaths) {
		cappaths = cappaths ? cappaths * 2 : 256;
		if ((np = realloc(paths, cappaths * sizeof(*paths))) == NULL)
			return 1;
		paths = np;
	}
	if ((paths[npaths] = strdup(path)) == NULL)
		return 1;
	npaths++;
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *
str(const cJSON *p, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
sql(etl_conn *c, const char *q)
{
	PGresult *r = PQexec(etl_conn_pg(c), q);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	PQclear(r);
	return ok ? 0 : -1;
}

static cJSON *
dv_dataload(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const char *dir = str(p, "dir"), *doi = str(p, "doi"), *fdir = str(p, "files_dir");
	const char *url = str(p, "dataverse"), *key = str(p, "key_file");
	const char *job = etl_context_job_id(etl_context_current());
	const cJSON *pr = cJSON_GetObjectItemCaseSensitive(p, "per_request");
	char batch[ETL_ID_LEN], id[ETL_ID_LEN], sid[32];
	const char *params[1];
	unsigned char rnd[6];
	struct timeval tv;
	etl_send_opts o;
	etl_error err;
	etl_conn *qc;
	PGresult *res;
	cJSON *data, *j, *out = NULL;
	size_t i, base;

	if (dir == NULL || doi == NULL || fdir == NULL || url == NULL || key == NULL ||
	    strncmp(doi, "doi:", 4) != 0)
		return etl_fail_task(65, "dv_dataload wants {\"dir\", \"doi\": \"doi:...\", "
		    "\"files_dir\", \"dataverse\", \"key_file\"}");
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL)
		return etl_fail_task(75, "%s", err.message);
	/* committed before? then that batch is this load's (a retry after a crash) */
	params[0] = job ? job : "";
	res = PQexecParams(etl_conn_pg(qc), "SELECT id, jobs FROM etl.batch WHERE "
	    "data->>'dataload_job' = $1 AND data->>'stage' = 'copy'", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "batch_id", PQgetvalue(res, 0, 0));
		cJSON_AddNumberToObject(out, "files", atof(PQgetvalue(res, 0, 1)));
		PQclear(res);
		printf("batch %s was made by an earlier run of this job\n",
		    cJSON_GetObjectItem(out, "batch_id")->valuestring);
		return out;
	}
	PQclear(res);
	npaths = 0;
	if (nftw(dir, collect, 32, FTW_PHYS) != 0)
		return etl_fail_task(65, "%s: cannot walk the folder", dir);
	if (npaths > 1)
		qsort(paths, npaths, sizeof(char *), by_name);
	base = strlen(dir);
	while (base > 1 && dir[base - 1] == '/')
		base--;
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "stage", "copy");
	cJSON_AddStringToObject(data, "doi", doi);
	cJSON_AddStringToObject(data, "files_dir", fdir);
	cJSON_AddStringToObject(data, "dataverse", url);
	cJSON_AddStringToObject(data, "key_file", key);
	cJSON_AddNumberToObject(data, "per_request", cJSON_IsNumber(pr) ? pr->valuedouble : 50);
	cJSON_AddStringToObject(data, "dataload_job", job ? job : "");
	if (sql(qc, "BEGIN") != 0 ||
	    etl_batch_new(qc, "dv_datafiles", "dv_cleanup", NULL, data, batch, &err) != 0) {
		cJSON_Delete(data);
		(void)sql(qc, "ROLLBACK");
		return etl_fail_task(75, "batch: %s", err.message);
	}
	cJSON_Delete(data);
	memset(&o, 0, sizeof(o));
	o.batch_id = batch;
	gettimeofday(&tv, NULL);
	for (i = 0; i < npaths; i++) {
		/* Dataverse's generateStorageIdentifier: time in ms (hex) - 12 random hex */
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			(void)sql(qc, "ROLLBACK");
			return etl_fail_task(75, "getrandom failed");
		}
		snprintf(sid, sizeof(sid), "%llx-%02x%02x%02x%02x%02x%02x",
		    (unsigned long long)tv.tv_sec * 1000 + (unsigned long long)tv.tv_usec / 1000,
		    rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
		j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "path", paths[i]);
		cJSON_AddStringToObject(j, "rel", paths[i][base] == '/' ? paths[i] + base + 1 :
		    paths[i] + base);
		cJSON_AddStringToObject(j, "doi", doi);
		cJSON_AddStringToObject(j, "files_dir", fdir);
		cJSON_AddStringToObject(j, "storage_id", sid);
		if (etl_send(qc, "dv_file", j, &o, id, &err) < 0) {
			cJSON_Delete(j);
			(void)sql(qc, "ROLLBACK");
			return etl_fail_task(err.code == ETL_ENOTFOUND ? 65 : 75, "%s", err.message);
		}
		cJSON_Delete(j);
	}
	if (etl_batch_close(qc, batch, &err) != 0 || sql(qc, "COMMIT") != 0) {
		(void)sql(qc, "ROLLBACK");
		return etl_fail_task(75, "closing batch %s: %s", batch, err.message);
	}
	etl_progress(1, 1, "batch made");
	/* "hold": seconds to wait here, after the point of no return (for the crash tests) */
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "hold")))
		sleep((unsigned)cJSON_GetObjectItemCaseSensitive(p, "hold")->valueint);
	printf("batch %s: %zu files of %s\n", batch, npaths, dir);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "batch_id", batch);
	cJSON_AddNumberToObject(out, "files", (double)npaths);
	for (i = 0; i < npaths; i++)
		free(paths[i]);
	free(paths);
	return out;
}

ETL_TASK_MAIN(dv_dataload)
