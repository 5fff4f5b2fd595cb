/*
 * dataload: seed 003's batch of file jobs.  Payload {"dir": SRC, "dest": DEST,
 * "file_queue": "file_copy", "on_success": "dataload_manifest", "on_finish":
 * "dataload_cleanup", "on_discard": "dataload_discard"}: walks SRC (one level), makes a
 * batch whose callbacks are those queues (data {dir, dest}), sends one file_copy job per
 * entry, closes the batch.  FINAL {"batch_id", "files"}.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

static const char *
str(const cJSON *p, const char *k, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static cJSON *
dataload(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const char *dir = str(p, "dir", NULL), *dest = str(p, "dest", NULL);
	char batch[ETL_ID_LEN], id[ETL_ID_LEN], path[PATH_MAX];
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *d;
	etl_send_opts o;
	etl_error err;
	etl_conn *qc;
	cJSON *data, *job, *out;
	DIR *dp;

	if (dir == NULL || dest == NULL)
		return etl_fail_task(65, "dataload wants {\"dir\": SRC, \"dest\": DEST}");
	if ((dp = opendir(dir)) == NULL)
		return etl_fail_task(65, "%s: cannot read the folder", dir);
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 64) * sizeof(*names));

			if (nn == NULL) {
				closedir(dp);
				while (n > 0)
					free(names[--n]);
				free(names);
				return etl_fail_task(75, "out of memory listing %s", dir);
			}
			names = nn;
			cap = cap ? cap * 2 : 64;
		}
		if ((names[n] = strdup(d->d_name)) == NULL)
			continue;
		n++;
	}
	closedir(dp);
	if (n > 0)
		qsort(names, n, sizeof(char *), by_name);
	if ((qc = etl_context_queue_conn(etl_context_current(), &err)) == NULL) {
		out = etl_fail_task(75, "%s", err.message);
		goto done;
	}
	data = cJSON_CreateObject();
	cJSON_AddStringToObject(data, "dir", dir);
	cJSON_AddStringToObject(data, "dest", dest);
	if (etl_batch_new(qc, str(p, "on_success", "dataload_manifest"),
	    str(p, "on_discard", "dataload_discard"), str(p, "on_finish", "dataload_cleanup"),
	    data, batch, &err) != 0) {
		cJSON_Delete(data);
		out = etl_fail_task(err.code == ETL_ENOTFOUND ? 65 : 75, "%s", err.message);
		goto done;
	}
	cJSON_Delete(data);
	memset(&o, 0, sizeof(o));
	o.batch_id = batch;
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		job = cJSON_CreateObject();
		cJSON_AddStringToObject(job, "source", path);
		cJSON_AddStringToObject(job, "dest_dir", dest);
		if (etl_send(qc, str(p, "file_queue", "file_copy"), job, &o, id, &err) < 0) {
			cJSON_Delete(job);
			out = etl_fail_task(75, "%s", err.message);
			goto done;
		}
		cJSON_Delete(job);
		etl_progress((double)(i + 1), (double)n, "queued");
	}
	/* no more files come: the callbacks fire once every copy has finished */
	if (etl_batch_close(qc, batch, &err) != 0) {
		out = etl_fail_task(75, "%s", err.message);
		goto done;
	}
	printf("batch %s: %zu files\n", batch, n);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "batch_id", batch);
	cJSON_AddNumberToObject(out, "files", (double)n);
done:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return out;
}

ETL_TASK_MAIN(dataload)
