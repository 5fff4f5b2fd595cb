/*
 * names.c: checking what users name: queues, tasks (confined to the task path), job ids,
 * and JSON payloads (parsed with a size limit).  Pure functions, no database.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int
etl_queue_name_valid(const char *name, etl_error *err)
{
	size_t i, len = name ? strlen(name) : 0;

	if (len == 0 || len > 63)
		goto bad;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
			continue;
		if (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '.'))
			continue;
		goto bad;
	}
	return 0;
bad:
	etl__err(err, ETL_EINVAL, "bad queue name '%.64s': start with a letter or '_', then "
	    "letters, digits, '_', '-' or '.' (at most 63)", name ? name : "");
	return -1;
}

/* A relative task name: [A-Za-z0-9_.-/], no empty, "." or ".." component. */
static int
task_name_ok(const char *name)
{
	const char *p, *comp = name;
	size_t len = strlen(name);

	if (len == 0 || len > 255 || name[0] == '/')
		return 0;
	for (p = name; ; p++) {
		if (*p == '/' || *p == '\0') {
			size_t clen = (size_t)(p - comp);
			if (clen == 0 || (clen == 1 && comp[0] == '.') ||
			    (clen == 2 && comp[0] == '.' && comp[1] == '.'))
				return 0;
			if (*p == '\0')
				return 1;
			comp = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	}
}

/* 0 if the real path rp is an executable regular file; err filled otherwise. */
static int
check_exec(const char *name, const char *rp, etl_error *err)
{
	struct stat st;

	if (stat(rp, &st) != 0) {
		etl__err(err, ETL_ENOTFOUND, "task '%s': %s: %s", name, rp, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || access(rp, X_OK) != 0) {
		etl__err(err, ETL_ENOTFOUND, "task '%s' (%s) is not an executable file", name, rp);
		return -1;
	}
	return 0;
}

int
etl_task_resolve(const char *path, const char *name, int allow_absolute, char *out,
    size_t outsz, etl_error *err)
{
	char dir[PATH_MAX], cand[PATH_MAX], rdir[PATH_MAX], rcand[PATH_MAX];
	const char *p, *end;

	if (name == NULL || *name == '\0') {
		etl__err(err, ETL_EINVAL, "empty task name");
		return -1;
	}
	if (name[0] == '/') {
		if (!allow_absolute) {
			etl__err(err, ETL_EINVAL, "task '%.200s': absolute task paths are allowed "
			    "only in a queue's configuration", name);
			return -1;
		}
		if (realpath(name, rcand) == NULL) {
			etl__err(err, ETL_ENOTFOUND, "task '%.200s': %s", name, strerror(errno));
			return -1;
		}
		if (check_exec(name, rcand, err) != 0)
			return -1;
		goto found;
	}
	if (!task_name_ok(name)) {
		etl__err(err, ETL_EINVAL, "bad task name '%.200s': use letters, digits, '_', '-', "
		    "'.' and '/' between names, never '..'", name);
		return -1;
	}
	if (path == NULL)
		path = etl_task_path_default();
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		size_t len;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		if (len == 0 || len >= sizeof(dir))
			continue;
		memcpy(dir, p, len);
		dir[len] = '\0';
		if (snprintf(cand, sizeof(cand), "%s/%s", dir, name) >= (int)sizeof(cand))
			continue;
		if (realpath(cand, rcand) == NULL)
			continue;
		if (realpath(dir, rdir) == NULL)
			continue;
		len = strlen(rdir);
		/* a symlink may not lead out of the folder the task was found in */
		if (strncmp(rcand, rdir, len) != 0 || rcand[len] != '/') {
			etl__err(err, ETL_EINVAL, "task '%s' resolves to %s, outside the task "
			    "folder %s", name, rcand, rdir);
			return -1;
		}
		if (check_exec(name, rcand, err) != 0)
			return -1;
		goto found;
	}
	etl__err(err, ETL_ENOTFOUND, "no task named '%s' on the task path %s (set "
	    "ETL_TASK_PATH)", name, path);
	return -1;
found:
	if (strlen(rcand) >= outsz) {
		etl__err(err, ETL_EINVAL, "task path too long: %s", rcand);
		return -1;
	}
	memcpy(out, rcand, strlen(rcand) + 1);
	return 0;
}

static char task_path_buf[2 * PATH_MAX + 2];
static pthread_once_t task_path_once = PTHREAD_ONCE_INIT;

/* Next to the program: <bin>/../libexec/etl/tasks when installed, <bin>/../tasks in the build. */
static void
task_path_init(void)
{
	char exe[PATH_MAX], d[PATH_MAX + 32];
	struct stat st;
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(task_path_buf, sizeof(task_path_buf), "/usr/local/libexec/etl/tasks");
		return;
	}
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(d, sizeof(d), "%s/../libexec/etl/tasks", exe);
	if (stat(d, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(task_path_buf, sizeof(task_path_buf), "%s", d);
		return;
	}
	snprintf(task_path_buf, sizeof(task_path_buf), "%s/../tasks", exe);
}

const char *
etl_task_path_default(void)
{
	const char *e = getenv("ETL_TASK_PATH");

	if (e != NULL && *e != '\0')
		return e;
	pthread_once(&task_path_once, task_path_init);
	return task_path_buf;
}

const char *
etl__task_base(const char *task)
{
	const char *s;

	if (task == NULL)
		return "task";
	s = strrchr(task, '/');
	return s ? s + 1 : task;
}

size_t
etl_payload_max(void)
{
	const char *e = getenv("ETL_MAX_PAYLOAD");
	char *end;
	unsigned long long v;

	if (e == NULL || *e == '\0')
		return 1024 * 1024;
	errno = 0;
	v = strtoull(e, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return 1024 * 1024;
	return (size_t)v;
}

/* The length of the UTF-8 character at s (at most n bytes); 0 when it is not one. */
static size_t
utf8_len(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len, i;
	unsigned cp;

	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		len = 2;
		cp = u[0] & 0x1f;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		len = 3;
		cp = u[0] & 0x0f;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		len = 4;
		cp = u[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (u[i] & 0x3f);
	}
	/* overlong forms, surrogates, past U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * What a payload may be beyond JSON's grammar: at most max bytes, nested at most
 * ETL_JSON_MAX_DEPTH deep (the depth cJSON reads), valid UTF-8, and no \u0000, which
 * PostgreSQL's jsonb cannot store.  A scan of the text, outside and inside strings.
 */
int
etl__json_limits(const char *text, size_t len, size_t max, etl_error *err)
{
	size_t i;
	int depth = 0, deepest = 0, instr = 0;

	if (len > max) {
		etl__err(err, ETL_EINVAL, "payload is %zu bytes, over the limit of %zu "
		    "(ETL_MAX_PAYLOAD)", len, max);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char ch = text[i];
		size_t u = utf8_len(text + i, len - i);

		if (u == 0) {
			etl__err(err, ETL_EINVAL, "payload is not valid UTF-8 at byte %zu", i);
			return -1;
		}
		if (u > 1) {
			i += u - 1;	/* a multibyte character: only ever inside a string */
			continue;
		}
		if (instr) {
			if (ch == '"') {
				instr = 0;
			} else if (ch == '\\' && i + 1 < len) {
				if (text[i + 1] == 'u' && i + 5 < len &&
				    strncmp(text + i + 2, "0000", 4) == 0) {
					etl__err(err, ETL_EINVAL, "payload has \\u0000 at byte %zu: "
					    "PostgreSQL cannot store a NUL character in jsonb", i);
					return -1;
				}
				i++;
			}
		} else if (ch == '"') {
			instr = 1;
		} else if (ch == '[' || ch == '{') {
			if (++depth > deepest)
				deepest = depth;
		} else if (ch == ']' || ch == '}') {
			depth--;
		}
	}
	if (deepest > ETL_JSON_MAX_DEPTH) {
		etl__err(err, ETL_EINVAL, "payload is nested %d deep, over the limit of %d",
		    deepest, ETL_JSON_MAX_DEPTH);
		return -1;
	}
	return 0;
}

int
etl_json_check(const char *text, size_t len, size_t max, etl_error *err)
{
	cJSON *j = etl_json_parse(text, len, max, err);

	if (j == NULL)
		return -1;
	cJSON_Delete(j);
	return 0;
}

cJSON *
etl_json_parse(const char *text, size_t len, size_t max, etl_error *err)
{
	int cut;

	return etl__json_parse_cut(text, len, max, &cut, err);
}

cJSON *
etl__json_parse_cut(const char *text, size_t len, size_t max, int *cut, etl_error *err)
{
	const char *end = NULL;
	cJSON *j;

	*cut = 0;
	if (etl__json_limits(text, len, max, err) != 0)
		return NULL;
	j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (j == NULL) {
		/* on failure cJSON points end at the error (thread-safe, unlike GetErrorPtr);
		 * a text that stops before its value is complete fails at its last byte */
		size_t off = (end && end >= text && end <= text + len) ? (size_t)(end - text) : 0;

		*cut = len > 0 && off + 1 >= len;
		etl__err(err, ETL_EINVAL, "malformed JSON at byte %zu%s", off,
		    *cut ? " (the text ends before the value does)" : "");
		return NULL;
	}
	while (end != NULL && end < text + len && (*end == ' ' || *end == '\n' ||
	    *end == '\t' || *end == '\r'))
		end++;
	if (end != NULL && end < text + len && *end != '\0') {
		etl__err(err, ETL_EINVAL, "malformed JSON: unexpected text at byte %zu",
		    (size_t)(end - text));
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

int
etl_uuid_valid(const char *id)
{
	int i;

	if (id == NULL || strlen(id) != 36)
		return -1;
	for (i = 0; i < 36; i++) {
		char c = id[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -1;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F')))
			return -1;
	}
	return 0;
}
