/*
 * routes.c: the resources under /api/v1/, each a call into libetl (the CLI's own calls,
 * its --json shapes), run on a pooled connection under the caller's database role.  A
 * role too low for a call is refused here (403) before the database would refuse it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define SEG(i)	(r->nseg > (i) ? r->segs[i] : NULL)
#define IS(i, s) (r->nseg > (i) && strcmp(r->segs[i], (s)) == 0)

static int
method(const struct api_req *r, const char *m)
{
	return strcmp(r->method, m) == 0 || (strcmp(m, "GET") == 0 &&
	    strcmp(r->method, "HEAD") == 0);
}

static int
not_allowed(struct api_reply *rp, const char *allow)
{
	rp->allow = allow;
	reply_error(rp, 405, "method not allowed here: use %s", allow);
	return 0;
}

/* The caller has at least role want; else a 403 and 0. */
static int
may(const struct api_req *r, struct api_reply *rp, enum api_role want)
{
	if (r->role >= want)
		return 1;
	reply_error(rp, 403, "%s (%s) may not do this: it needs the %s role", r->who,
	    role_name(r->role), role_name(want));
	return 0;
}

/* A pooled connection for the request, or a reply saying why not. */
static etl_conn *
conn(const struct api_req *r, struct api_reply *rp)
{
	etl_error err;
	etl_conn *c;

	etl_error_clear(&err);
	if ((c = pool_get(r->role, &err)) == NULL) {
		if (err.sqlstate[0] == '\0')
			strlcpy(err.sqlstate, "08000", sizeof(err.sqlstate));
		reply_etl_error(rp, &err);
	}
	return c;
}

/* Query argument name as a long in [min, max] (def when absent); -1 and a 400 if bad. */
static int
arg_long(const struct api_req *r, struct api_reply *rp, const char *name, long min,
    long max, long def, long *out)
{
	const char *s = req_arg(r, name);
	char *end;
	long v;

	*out = def;
	if (s == NULL)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		reply_error(rp, 400, "bad %s '%.40s': want an integer from %ld to %ld", name, s,
		    min, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* A result text (or the error that kept it). */
static void
text_or_error(struct api_reply *rp, char *text, const etl_error *err)
{
	if (text != NULL)
		reply_json(rp, 200, text);
	else
		reply_etl_error(rp, err);
}

/* The body as JSON (an object, when want_object), or a 400. */
static cJSON *
body_json(const struct api_req *r, struct api_reply *rp, int want_object)
{
	cJSON *j;

	if (r->body == NULL || r->len == 0) {
		reply_error(rp, 400, "a JSON body is needed");
		return NULL;
	}
	if (strlen(r->body) != r->len || (j = cJSON_ParseWithLength(r->body, r->len)) == NULL) {
		reply_error(rp, 400, "the body is not valid JSON");
		return NULL;
	}
	if (want_object && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		reply_error(rp, 400, "the body must be a JSON object");
		return NULL;
	}
	return j;
}

static char *
jfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
jfmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s ? s : xstrdup("{}");
}

/* Whether the request asks for an event stream (?follow or Accept: text/event-stream). */
static int
wants_stream(const struct api_req *r)
{
	const char *a = req_header(r, "Accept"), *f = req_arg(r, "follow");

	return (f != NULL && strcmp(f, "0") != 0 && strcmp(f, "false") != 0) ||
	    (a != NULL && strstr(a, "text/event-stream") != NULL);
}

/* Where a stream resumes: Last-Event-ID, else ?after. */
static int
stream_after(const struct api_req *r, struct api_reply *rp, long *after)
{
	const char *l = req_header(r, "Last-Event-ID");
	char *end;

	if (l != NULL && *l != '\0') {
		errno = 0;
		*after = strtol(l, &end, 10);
		if (errno != 0 || *end != '\0' || *after < 0) {
			reply_error(rp, 400, "bad Last-Event-ID '%.40s'", l);
			return -1;
		}
		return 0;
	}
	return arg_long(r, rp, "after", 0, LONG_MAX, 0, after);
}

/* ---- queues ---- */

/* Whether queue name exists (0 with err->code set on error). */
static int
queue_exists(etl_conn *c, const char *name, etl_error *err)
{
	cJSON *all = etl_queue_list(c, err), *q;
	int found = 0;

	cJSON_ArrayForEach(q, all) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(q, "name");

		if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
			found = 1;
	}
	cJSON_Delete(all);
	return found;
}

static void
queue_opts_strip(cJSON *o)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, "name");
}

static void
queues(struct api_req *r, struct api_reply *rp)
{
	const char *name = SEG(3), *verb = SEG(4);
	etl_error err;
	etl_conn *c;
	cJSON *o;
	char *t;
	long n;
	int created;

	etl_error_clear(&err);
	if (name == NULL) {
		if (method(r, "GET")) {
			if ((c = conn(r, rp)) == NULL)
				return;
			t = etl_view_queues(c, &err);
			pool_put(c);
			text_or_error(rp, t, &err);
			return;
		}
		if (!method(r, "POST")) {
			not_allowed(rp, "GET, POST");
			return;
		}
		/* add: {"name": ..., "task": ..., other etl.queue columns} */
		if (!may(r, rp, ROLE_ADMIN) || (o = body_json(r, rp, 1)) == NULL)
			return;
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "name"))) {
			cJSON_Delete(o);
			reply_error(rp, 400, "a queue needs a \"name\"");
			return;
		}
		t = xstrdup(cJSON_GetObjectItemCaseSensitive(o, "name")->valuestring);
		queue_opts_strip(o);
		if ((c = conn(r, rp)) != NULL) {
			if (etl_queue_add(c, t, o, &created, &err) != 0)
				reply_etl_error(rp, &err);
			else
				reply_json(rp, created ? 201 : 200, jfmt("{\"queue\": \"%s\", "
				    "\"created\": %s}", t, created ? "true" : "false"));
			pool_put(c);
		}
		free(t);
		cJSON_Delete(o);
		return;
	}
	if (etl_queue_name_valid(name, &err) != 0) {
		reply_etl_error(rp, &err);
		return;
	}
	if (verb == NULL) {
		if (method(r, "GET")) {
			cJSON *all, *q;

			if ((c = conn(r, rp)) == NULL)
				return;
			t = etl_view_queues(c, &err);
			pool_put(c);
			if (t == NULL) {
				reply_etl_error(rp, &err);
				return;
			}
			/* one queue of the list (counts are small integers: exact as doubles) */
			all = cJSON_Parse(t);
			free(t);
			cJSON_ArrayForEach(q, all) {
				const cJSON *nm = cJSON_GetObjectItemCaseSensitive(q, "name");

				if (cJSON_IsString(nm) && strcmp(nm->valuestring, name) == 0)
					break;
			}
			if (q != NULL)
				reply_json(rp, 200, cJSON_PrintUnformatted(q));
			else
				reply_error(rp, 404, "no queue %s", name);
			cJSON_Delete(all);
			return;
		}
		if (method(r, "PATCH")) {
			if (!may(r, rp, ROLE_ADMIN) || (o = body_json(r, rp, 1)) == NULL)
				return;
			queue_opts_strip(o);
			if ((c = conn(r, rp)) != NULL) {
				if (!queue_exists(c, name, &err))
					err.code ? reply_etl_error(rp, &err) :
					    reply_error(rp, 404, "no queue %s", name);
				else if (etl_queue_add(c, name, o, &created, &err) != 0)
					reply_etl_error(rp, &err);
				else
					reply_json(rp, 200, jfmt("{\"queue\": \"%s\", "
					    "\"created\": false}", name));
				pool_put(c);
			}
			cJSON_Delete(o);
			return;
		}
		if (method(r, "DELETE")) {
			if (!may(r, rp, ROLE_ADMIN) || (c = conn(r, rp)) == NULL)
				return;
			if (etl_queue_rm(c, name, &err) != 0)
				reply_etl_error(rp, &err);
			else
				reply_json(rp, 200, jfmt("{\"deleted\": \"%s\"}", name));
			pool_put(c);
			return;
		}
		not_allowed(rp, "GET, PATCH, DELETE");
		return;
	}
	if (r->nseg > 5) {
		reply_error(rp, 404, "no such resource");
		return;
	}
	if (strcmp(verb, "pause") == 0 || strcmp(verb, "resume") == 0) {
		if (!method(r, "POST")) {
			not_allowed(rp, "POST");
			return;
		}
		if (!may(r, rp, ROLE_ADMIN) || (c = conn(r, rp)) == NULL)
			return;
		if (etl_queue_pause(c, name, verb[0] == 'p', &err) != 0)
			reply_etl_error(rp, &err);
		else
			reply_json(rp, 200, jfmt("{\"queue\": \"%s\", \"paused\": %s}", name,
			    verb[0] == 'p' ? "true" : "false"));
		pool_put(c);
		return;
	}
	if (strcmp(verb, "retry") == 0 || strcmp(verb, "cancel") == 0 ||
	    strcmp(verb, "redrive") == 0) {
		const char *state = req_arg(r, "state");
		long limit;

		if (!method(r, "POST")) {
			not_allowed(rp, "POST");
			return;
		}
		if (arg_long(r, rp, "limit", 1, 1000000000L, 0, &limit) != 0)
			return;
		if (!may(r, rp, ROLE_SENDER) || (c = conn(r, rp)) == NULL)
			return;
		if (verb[0] == 'r' && verb[2] == 't')
			n = etl_retry_where(c, name, state, &err);
		else if (verb[0] == 'c')
			n = etl_cancel_where(c, name, state, &err);
		else
			n = etl_redrive_limit(c, name, limit, &err);
		pool_put(c);
		if (n < 0)
			reply_etl_error(rp, &err);
		else
			reply_json(rp, 200, jfmt("{\"%s\": %ld}", verb[0] == 'c' ? "cancelled" :
			    verb[2] == 't' ? "retried" : "redriven", n));
		return;
	}
	if (strcmp(verb, "jobs") == 0) {
		etl_send_opts so = { 0 };
		const char *type = req_header(r, "Content-Type"), *s;
		char id[ETL_ID_LEN], *after_buf = NULL;
		const char *after_ids[64];
		long v;
		int rc;

		if (method(r, "GET")) {
			etl_job_filter f = { 0 };

			f.queue = name;
			f.state = req_arg(r, "state");
			if (arg_long(r, rp, "limit", 1, 1000, 100, &f.limit) != 0 ||
			    (c = conn(r, rp)) == NULL)
				return;
			f.before = req_arg(r, "before");
			t = etl_view_jobs(c, &f, &err);
			pool_put(c);
			text_or_error(rp, t, &err);
			return;
		}
		if (!method(r, "POST")) {
			not_allowed(rp, "GET, POST");
			return;
		}
		if (!may(r, rp, ROLE_SENDER))
			return;
		/* the options of etl send, as query arguments */
		if (arg_long(r, rp, "priority", INT_MIN, INT_MAX, 0, &v) != 0)
			return;
		so.priority = (int)v;
		if (arg_long(r, rp, "start_after", 0, 100L * 365 * 86400, 0, &v) != 0)
			return;
		so.start_after = (double)v;
		so.start_at = req_arg(r, "start_at");
		so.singleton_key = req_arg(r, "singleton_key");
		if (arg_long(r, rp, "singleton_seconds", 0, 100L * 365 * 86400, 0, &v) != 0)
			return;
		so.singleton_seconds = (double)v;
		so.debounce = req_arg(r, "debounce") != NULL;
		so.batch_id = req_arg(r, "batch");
		so.run_on_host = NULL;
		if ((s = req_arg(r, "after")) != NULL) {
			char *save = NULL, *tok, *p;

			after_buf = xstrdup(s);
			for (p = after_buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
				if (so.nafter == 64) {
					free(after_buf);
					reply_error(rp, 400, "at most 64 jobs in after");
					return;
				}
				after_ids[so.nafter++] = tok;
			}
			so.after = after_ids;
		}
		if (type != NULL && strncmp(type, "application/x-ndjson", 20) == 0) {
			/* one job per line, all or none: etl send --ndjson */
			char **texts = NULL, *line, *save = NULL, *p;
			size_t nt = 0, cap = 0, lineno = 0, i;

			for (p = r->body ? r->body : (char *)""; (line = strtok_r(p, "\n", &save)) !=
			    NULL; p = NULL) {
				size_t l = strlen(line);

				lineno++;
				while (l > 0 && line[l - 1] == '\r')
					line[--l] = '\0';
				if (strspn(line, " \t") == l)
					continue;
				if (etl_json_check(line, l, etl_payload_max(), &err) != 0) {
					reply_error(rp, 400, "line %zu: %s; nothing was sent", lineno,
					    err.message);
					free(texts);
					free(after_buf);
					return;
				}
				if (nt == cap) {
					cap = cap ? cap * 2 : 64;
					texts = xreallocarray(texts, cap, sizeof(*texts));
				}
				texts[nt++] = line;
			}
			if (nt == 0) {
				reply_error(rp, 400, "no job in the body (one JSON text a line)");
				free(after_buf);
				return;
			}
			if ((c = conn(r, rp)) != NULL) {
				n = etl_send_many(c, name, (const char *const *)texts, nt, &so, &err);
				pool_put(c);
				if (n < 0)
					reply_etl_error(rp, &err);
				else
					reply_json(rp, 201, jfmt("{\"sent\": %ld}", n));
			}
			(void)i;
			free(texts);
			free(after_buf);
			return;
		}
		/* one job: the body is its data, sent as written (numbers exact) */
		if (r->body != NULL && (strlen(r->body) != r->len ||
		    etl_json_check(r->body, r->len, etl_payload_max(), &err) != 0)) {
			reply_error(rp, 400, "the body is not the job's data: %s",
			    strlen(r->body) != r->len ? "a NUL byte" : err.message);
			free(after_buf);
			return;
		}
		if ((c = conn(r, rp)) == NULL) {
			free(after_buf);
			return;
		}
		rc = etl_send_text(c, name, r->body && r->len ? r->body : "{}", &so, id, &err);
		pool_put(c);
		free(after_buf);
		if (rc < 0)
			reply_etl_error(rp, &err);
		else if (rc == 1)
			reply_json(rp, 200, jfmt("{\"id\": null, \"reason\": \"%s\"}",
			    "kept out by the queue's policy or throttle"));
		else
			reply_json(rp, 201, jfmt("{\"id\": \"%s\"}", id));
		return;
	}
	reply_error(rp, 404, "no such resource");
}

/* ---- jobs ---- */

/* The context of job id (0 when it has none yet); -1 and a reply when not found. */
static int64_t
job_ctx(const struct api_req *r, struct api_reply *rp, etl_conn *c, const char *id,
    char **log_path, char **host)
{
	etl_error err;
	const cJSON *j, *x;
	cJSON *all;
	char *t;
	int64_t ctx = 0;

	etl_error_clear(&err);
	(void)r;
	if ((t = etl_view_job(c, id, &err)) == NULL) {
		reply_etl_error(rp, &err);
		return -1;
	}
	all = cJSON_Parse(t);
	free(t);
	j = cJSON_GetObjectItemCaseSensitive(all, "job");
	if (cJSON_IsNumber(x = cJSON_GetObjectItemCaseSensitive(j, "etl_context_id")))
		ctx = (int64_t)x->valuedouble;
	if (log_path != NULL)
		*log_path = cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(j, "log_path")) ?
		    xstrdup(x->valuestring) : NULL;
	if (host != NULL)
		*host = cJSON_IsString(x = cJSON_GetObjectItemCaseSensitive(j, "host")) ?
		    xstrdup(x->valuestring) : NULL;
	cJSON_Delete(all);
	return ctx;
}

/* The job's log: ?tail=BYTES (default 64 KiB) or ?offset=&length=, from this host. */
static void
job_log(struct api_req *r, struct api_reply *rp, const char *id)
{
	char *path = NULL, *host = NULL, real[PATH_MAX], dir[PATH_MAX], me[256];
	long tail, off, len;
	struct stat sb;
	etl_conn *c;
	char *buf;
	ssize_t n;
	int fd;

	if (arg_long(r, rp, "tail", 1, 16L << 20, 65536, &tail) != 0 ||
	    arg_long(r, rp, "offset", 0, LONG_MAX, -1, &off) != 0 ||
	    arg_long(r, rp, "length", 1, 16L << 20, 65536, &len) != 0)
		return;
	if ((c = conn(r, rp)) == NULL)
		return;
	if (job_ctx(r, rp, c, id, &path, &host) < 0) {
		pool_put(c);
		return;
	}
	pool_put(c);
	gethostname(me, sizeof(me));
	me[sizeof(me) - 1] = '\0';
	if (path == NULL) {
		reply_error(rp, 404, "job %s has no log (not run yet, or run by etl run)", id);
		goto out;
	}
	if (realpath(path, real) == NULL) {
		if (host != NULL && strcmp(host, me) != 0)
			reply_error(rp, 404, "the log of job %s is on host %s (etl-api runs on %s)",
			    id, host, me);
		else
			reply_error(rp, 404, "the log of job %s is gone (%s)", id, strerror(errno));
		goto out;
	}
	if (api_cfg.log_dir != NULL && (realpath(api_cfg.log_dir, dir) == NULL ||
	    strncmp(real, dir, strlen(dir)) != 0 || real[strlen(dir)] != '/')) {
		reply_error(rp, 403, "the log of job %s is not under --log-dir", id);
		goto out;
	}
	if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW)) < 0 ||
	    fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		reply_error(rp, 404, "the log of job %s cannot be read: %s", id, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (off < 0) {
		off = sb.st_size > tail ? (long)sb.st_size - tail : 0;
		len = (long)sb.st_size - off;
	}
	buf = xmalloc((size_t)len + 1);
	n = pread(fd, buf, (size_t)len, off);
	close(fd);
	if (n < 0) {
		free(buf);
		reply_error(rp, 500, "reading the log of job %s: %s", id, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	/* the log's bytes; NULs would end them early here: shown as spaces */
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	rp->status = 200;
	rp->body = buf;
	rp->type = "text/plain; charset=utf-8";
out:
	free(path);
	free(host);
}

/* POST /jobs/retry|cancel {"ids": [...]} */
static void
jobs_bulk(struct api_req *r, struct api_reply *rp, int retry)
{
	const char *ids[1000];
	const cJSON *a, *e;
	etl_error err;
	etl_conn *c;
	cJSON *o;
	size_t n = 0;
	long done;

	if (!may(r, rp, ROLE_SENDER) || (o = body_json(r, rp, 1)) == NULL)
		return;
	a = cJSON_GetObjectItemCaseSensitive(o, "ids");
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsString(e) || etl_uuid_valid(e->valuestring) != 0 || n == 1000) {
			cJSON_Delete(o);
			reply_error(rp, 400, "\"ids\" must be at most 1000 job ids");
			return;
		}
		ids[n++] = e->valuestring;
	}
	if (!cJSON_IsArray(a) || n == 0) {
		cJSON_Delete(o);
		reply_error(rp, 400, "want {\"ids\": [job ids]}");
		return;
	}
	etl_error_clear(&err);
	if ((c = conn(r, rp)) != NULL) {
		done = retry ? etl_retry(c, ids, n, &err) : etl_cancel(c, ids, n, &err);
		pool_put(c);
		if (done < 0)
			reply_etl_error(rp, &err);
		else
			reply_json(rp, 200, jfmt("{\"%s\": %ld}", retry ? "retried" : "cancelled",
			    done));
	}
	cJSON_Delete(o);
}

static void
jobs(struct api_req *r, struct api_reply *rp)
{
	const char *id = SEG(3), *sub = SEG(4);
	etl_error err;
	etl_conn *c;
	int64_t ctx;
	long after;
	char *t;

	etl_error_clear(&err);
	if (id == NULL) {
		etl_job_filter f = { 0 };

		if (!method(r, "GET")) {
			not_allowed(rp, "GET");
			return;
		}
		f.queue = req_arg(r, "queue");
		f.state = req_arg(r, "state");
		f.key = req_arg(r, "key");
		f.batch_id = req_arg(r, "batch");
		f.text = req_arg(r, "q");
		f.data = req_arg(r, "data");
		f.since = req_arg(r, "since");
		f.until = req_arg(r, "until");
		f.before = req_arg(r, "before");
		if (arg_long(r, rp, "limit", 1, 1000, 100, &f.limit) != 0 ||
		    (c = conn(r, rp)) == NULL)
			return;
		t = etl_view_jobs(c, &f, &err);
		pool_put(c);
		text_or_error(rp, t, &err);
		return;
	}
	if ((strcmp(id, "retry") == 0 || strcmp(id, "cancel") == 0) && sub == NULL) {
		if (!method(r, "POST")) {
			not_allowed(rp, "POST");
			return;
		}
		jobs_bulk(r, rp, id[0] == 'r');
		return;
	}
	if (etl_uuid_valid(id) != 0) {
		reply_error(rp, 404, "bad job id '%.64s': want a uuid", id);
		return;
	}
	if (sub != NULL && strcmp(sub, "files") == 0 && r->nseg <= 6) {
		if (!method(r, "GET")) {
			not_allowed(rp, "GET");
			return;
		}
		job_files(r, rp, id, SEG(5));
		return;
	}
	if (r->nseg > 5) {
		reply_error(rp, 404, "no such resource");
		return;
	}
	if (sub == NULL) {
		if (method(r, "GET")) {
			if ((c = conn(r, rp)) == NULL)
				return;
			t = etl_view_job(c, id, &err);
			pool_put(c);
			text_or_error(rp, t, &err);
			return;
		}
		if (method(r, "DELETE")) {
			const char *ids[1] = { id };
			long n;

			if (!may(r, rp, ROLE_ADMIN) || (c = conn(r, rp)) == NULL)
				return;
			n = etl_delete(c, ids, 1, &err);
			ctx = n == 0 ? job_ctx(r, rp, c, id, NULL, NULL) : 0;	/* 404, or 409 */
			pool_put(c);
			if (n < 0)
				reply_etl_error(rp, &err);
			else if (n == 0 && ctx >= 0)
				reply_error(rp, 409, "job %s is not finished: cancel it first", id);
			else if (n > 0)
				reply_json(rp, 200, jfmt("{\"deleted\": \"%s\"}", id));
			return;
		}
		not_allowed(rp, "GET, DELETE");
		return;
	}
	if (strcmp(sub, "cancel") == 0 || strcmp(sub, "retry") == 0) {
		const char *ids[1] = { id };
		long n;

		if (!method(r, "POST")) {
			not_allowed(rp, "POST");
			return;
		}
		if (!may(r, rp, ROLE_SENDER) || (c = conn(r, rp)) == NULL)
			return;
		n = sub[0] == 'c' ? etl_cancel(c, ids, 1, &err) : etl_retry(c, ids, 1, &err);
		if (n == 0)
			ctx = job_ctx(r, rp, c, id, NULL, NULL);	/* 404, or a 409 below */
		else
			ctx = 0;
		pool_put(c);
		if (n < 0)
			reply_etl_error(rp, &err);
		else if (n == 0 && ctx >= 0)
			reply_error(rp, 409, "job %s cannot be %s in its state", id,
			    sub[0] == 'c' ? "cancelled" : "retried");
		else if (n > 0)
			reply_json(rp, 200, jfmt("{\"%s\": 1}", sub[0] == 'c' ? "cancelled" :
			    "retried"));
		return;
	}
	if (!method(r, "GET")) {
		not_allowed(rp, "GET");
		return;
	}
	if (strcmp(sub, "log") == 0) {
		job_log(r, rp, id);
		return;
	}
	if (strcmp(sub, "events") != 0 && strcmp(sub, "tree") != 0) {
		reply_error(rp, 404, "no such resource");
		return;
	}
	if (stream_after(r, rp, &after) != 0 || (c = conn(r, rp)) == NULL)
		return;
	ctx = job_ctx(r, rp, c, id, NULL, NULL);
	if (ctx < 0) {
		pool_put(c);
		return;
	}
	if (wants_stream(r)) {
		pool_put(c);
		rp->status = 200;
		rp->stream = stream_new(sub[0] == 'e' ? STREAM_EVENTS : STREAM_TREE, r->role, id,
		    ctx, after);
		return;
	}
	if (ctx == 0)
		t = xstrdup(sub[0] == 'e' ? "[]" : "{\"contexts\": [], \"events\": []}");
	else if (sub[0] == 'e')
		t = etl_view_events(c, ctx, after, 1000, &err);
	else
		t = etl_view_tree(c, ctx, after, &err);
	pool_put(c);
	text_or_error(rp, t, &err);
}

/* GET /contexts/CTX/events|tree: the same by context */
static void
contexts(struct api_req *r, struct api_reply *rp)
{
	const char *sub = SEG(4);
	etl_error err;
	etl_conn *c;
	long long ctx;
	long after;
	char *end, *t;

	etl_error_clear(&err);
	if (SEG(3) == NULL || sub == NULL || r->nseg > 5 ||
	    (strcmp(sub, "events") != 0 && strcmp(sub, "tree") != 0)) {
		reply_error(rp, 404, "no such resource: /api/v1/contexts/ID/events or /tree");
		return;
	}
	errno = 0;
	ctx = strtoll(r->segs[3], &end, 10);
	if (errno != 0 || *end != '\0' || ctx <= 0) {
		reply_error(rp, 404, "bad context id '%.40s'", r->segs[3]);
		return;
	}
	if (!method(r, "GET")) {
		not_allowed(rp, "GET");
		return;
	}
	if (stream_after(r, rp, &after) != 0)
		return;
	if (wants_stream(r)) {
		rp->status = 200;
		rp->stream = stream_new(sub[0] == 'e' ? STREAM_EVENTS : STREAM_TREE, r->role, NULL,
		    ctx, after);
		return;
	}
	if ((c = conn(r, rp)) == NULL)
		return;
	t = sub[0] == 'e' ? etl_view_events(c, ctx, after, 1000, &err) :
	    etl_view_tree(c, ctx, after, &err);
	pool_put(c);
	text_or_error(rp, t, &err);
}

/* The simple reads: overview, controllers, failures, batches, schedules. */
static void
reads(struct api_req *r, struct api_reply *rp, const char *what)
{
	etl_error err;
	etl_conn *c;
	char *t;

	etl_error_clear(&err);
	if (!method(r, "GET")) {
		not_allowed(rp, "GET");
		return;
	}
	if (strcmp(what, "overview") == 0 && wants_stream(r)) {
		rp->status = 200;
		rp->stream = stream_new(STREAM_OVERVIEW, r->role, NULL, 0, 0);
		return;
	}
	if (strcmp(what, "batches") != 0 && r->nseg > 3) {
		reply_error(rp, 404, "no such resource");
		return;
	}
	if ((c = conn(r, rp)) == NULL)
		return;
	if (strcmp(what, "overview") == 0)
		t = view_overview(c, r->role, &err);
	else if (strcmp(what, "controllers") == 0)
		t = etl_view_controllers(c, &err);
	else if (strcmp(what, "failures") == 0)
		t = etl_view_failures(c, &err);
	else if (strcmp(what, "schedules") == 0)
		t = etl_view_schedules(c, &err);
	else if (strcmp(what, "running") == 0)
		t = etl_view_running(c, 200, &err);
	else {
		t = etl_view_batches(c, SEG(3), 100, &err);
		if (t != NULL && SEG(3) != NULL) {
			/* one batch: the object, not a list of one */
			size_t l = strlen(t);

			if (l <= 2) {
				free(t);
				t = NULL;
				err.code = ETL_ENOTFOUND;
				snprintf(err.message, sizeof(err.message), "no batch %s", SEG(3));
			} else {
				memmove(t, t + 1, l - 2);
				t[l - 2] = '\0';
			}
		}
	}
	pool_put(c);
	text_or_error(rp, t, &err);
}

void
routes_dispatch(struct api_req *r, struct api_reply *rp)
{
	const char *res = SEG(2);
	char *file;
	size_t len;
	const char *type;

	if (!IS(1, "v1") || res == NULL) {
		reply_error(rp, 404, "no such resource: the API is under /api/v1/");
		return;
	}
	if (strcmp(res, "openapi.json") == 0 && r->nseg == 3) {
		if ((file = files_get("/api/v1/openapi.json", &len, &type)) == NULL) {
			reply_error(rp, 404, "no OpenAPI document in the web folder");
			return;
		}
		reply_json(rp, 200, file);
		return;
	}
	if (strcmp(res, "me") == 0 && r->nseg == 3) {
		reply_json(rp, 200, jfmt("{\"name\": \"%s\", \"role\": \"%s\"}", r->who,
		    role_name(r->role)));
		return;
	}
	if (strcmp(res, "queues") == 0)
		queues(r, rp);
	else if (strcmp(res, "jobs") == 0)
		jobs(r, rp);
	else if (strcmp(res, "contexts") == 0)
		contexts(r, rp);
	else if (strcmp(res, "overview") == 0 || strcmp(res, "controllers") == 0 ||
	    strcmp(res, "failures") == 0 || strcmp(res, "batches") == 0 ||
	    strcmp(res, "schedules") == 0 || strcmp(res, "running") == 0)
		reads(r, rp, res);
	else
		reply_error(rp, 404, "no such resource: %s", res);
}
