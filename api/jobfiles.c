/*
 * jobfiles.c: a job's files, the downloads an application's task leaves for its users
 * (CoVE's converted spreadsheets, say) in --files DIR/JOB_ID/.  GET /api/v1/jobs/ID/files
 * lists them; GET /api/v1/jobs/ID/files/NAME sends one.  The job must exist for the
 * caller's role; names are plain ([A-Za-z0-9._-], no leading dot), opened below the
 * folder with O_NOFOLLOW from a directory descriptor, so no request reaches another
 * path.  A folder removed (the data expired) answers 410 when the job has ended.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "xmalloc.h"

#define NAME_MAX_LEN 128

static int
name_ok(const char *n)
{
	size_t i, len = strlen(n);

	if (len == 0 || len > NAME_MAX_LEN || n[0] == '.')
		return 0;
	for (i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
		    (n[i] >= '0' && n[i] <= '9') || n[i] == '.' || n[i] == '_' || n[i] == '-'))
			return 0;
	return 1;
}

static const char *
type_of(const char *n)
{
	const char *dot = strrchr(n, '.');

	if (dot == NULL)
		return "application/octet-stream";
	if (strcmp(dot, ".json") == 0)
		return "application/json";
	if (strcmp(dot, ".csv") == 0)
		return "text/csv; charset=utf-8";
	if (strcmp(dot, ".txt") == 0 || strcmp(dot, ".log") == 0)
		return "text/plain; charset=utf-8";
	return "application/octet-stream";
}

/* The job's state for the caller's role ("" when not found, NULL and a reply on error). */
static char *
job_state(const struct api_req *r, struct api_reply *rp, const char *id)
{
	etl_error err;
	etl_conn *c;
	cJSON *all;
	const cJSON *st;
	char *t, *state;

	etl_error_clear(&err);
	if ((c = pool_get(r->role, &err)) == NULL) {
		reply_etl_error(rp, &err);
		return NULL;
	}
	t = etl_view_job(c, id, &err);
	pool_put(c);
	if (t == NULL) {
		reply_etl_error(rp, &err);
		return NULL;
	}
	all = cJSON_Parse(t);
	free(t);
	st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(all, "job"), "state");
	state = xstrdup(cJSON_IsString(st) ? st->valuestring : "");
	cJSON_Delete(all);
	return state;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list(struct api_reply *rp, int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	struct stat sb;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	cJSON *arr, *o;

	if (d == NULL) {
		close(dfd);
		reply_error(rp, 500, "reading the job's files: %s", strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (!name_ok(e->d_name) || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), by_name);
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", names[i]);
			cJSON_AddNumberToObject(o, "size", (double)sb.st_size);
			cJSON_AddItemToArray(arr, o);
		}
		free(names[i]);
	}
	free(names);
	closedir(d);
	reply_json(rp, 200, cJSON_PrintUnformatted(arr));
	cJSON_Delete(arr);
}

void
job_files(const struct api_req *r, struct api_reply *rp, const char *id, const char *name)
{
	struct stat sb;
	char *state;
	int root, dfd, fd;

	if (api_cfg.files_dir == NULL) {
		reply_error(rp, 404, "etl-api serves no job files (no --files folder)");
		return;
	}
	if (name != NULL && !name_ok(name)) {
		reply_error(rp, 404, "no file '%.64s': names are [A-Za-z0-9._-], no leading dot",
		    name);
		return;
	}
	if ((state = job_state(r, rp, id)) == NULL)
		return;
	if ((root = open(api_cfg.files_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		reply_error(rp, 500, "the --files folder cannot be opened: %s", strerror(errno));
		free(state);
		return;
	}
	dfd = openat(root, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(root);
	if (dfd < 0) {
		/* a job that ended and has no folder: its files were removed (expired) */
		if (strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
		    strcmp(state, "cancelled") == 0)
			reply_error(rp, 410, "the files of job %s are gone (removed, or never made)", id);
		else
			reply_error(rp, 404, "job %s has no files yet", id);
		free(state);
		return;
	}
	free(state);
	if (name == NULL) {
		list(rp, dfd);
		return;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	close(dfd);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		reply_error(rp, 404, "job %s has no file '%s'", id, name);
		if (fd >= 0)
			close(fd);
		return;
	}
	rp->status = 200;
	rp->fd = fd + 1;
	rp->fd_size = (uint64_t)sb.st_size;
	rp->type = type_of(name);
	snprintf(rp->filename, sizeof(rp->filename), "%s", name);
}
