/*
 * stream.c: Server-Sent Events.  A stream waits on the live feed (live.c) and, when what
 * it shows may have moved, reads it with the caller's role and sends it:
 *   events    a job's (or context's) events, each message a JSON array of the events
 *             since the last, its id the last event's id (Last-Event-ID resumes there);
 *   tree      a context tree: its contexts (task, status, job, latest progress) and the
 *             tree's new events, as one JSON object;
 *   overview  queues, controllers and running jobs, when they changed.
 * Reads are at most five a second per stream (a burst of events is one message); a
 * comment line goes out when nothing did for --keepalive seconds, which is also how a
 * gone client is noticed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define MIN_GAP_MS 200

struct api_stream {
	enum stream_kind kind;
	enum api_role	 role;
	char		 job[ETL_ID_LEN];	/* "" when it follows a context */
	int64_t		 ctx;			/* 0: the job has none yet */
	int64_t		 after;			/* the last event id sent */
	uint64_t	 seen;			/* the feed's generation last read at */
	char		*out;
	size_t		 len, off;
	int		 started;
	int		 ended;
	char		*last;			/* the overview last sent */
	struct timespec	 read_at;
	struct timespec	 sent_at;		/* when bytes last went out */
};

/* The overview last read, by role: streams that ask within OVERVIEW_FRESH_MS share it
 * (100 open overviews cost one read, not 100). */
#define OVERVIEW_FRESH_MS 500
static pthread_mutex_t ov_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char		*text;
	struct timespec	 at;
} ov_cache[ROLE_ADMIN + 1];

static char *view_overview_read(etl_conn *, etl_error *);

char *
view_overview(etl_conn *c, enum api_role role, etl_error *err)
{
	struct timespec now;
	char *s = NULL;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&ov_mu);
	if (ov_cache[role].text != NULL && (now.tv_sec - ov_cache[role].at.tv_sec) * 1000 +
	    (now.tv_nsec - ov_cache[role].at.tv_nsec) / 1000000 < OVERVIEW_FRESH_MS)
		s = xstrdup(ov_cache[role].text);
	pthread_mutex_unlock(&ov_mu);
	if (s != NULL)
		return s;
	if ((s = view_overview_read(c, err)) == NULL)
		return NULL;
	pthread_mutex_lock(&ov_mu);
	free(ov_cache[role].text);
	ov_cache[role].text = xstrdup(s);
	ov_cache[role].at = now;
	pthread_mutex_unlock(&ov_mu);
	return s;
}

static char *
view_overview_read(etl_conn *c, etl_error *err)
{
	char *q, *k, *r, *s = NULL;

	if ((q = etl_view_queues(c, err)) == NULL)
		return NULL;
	if ((k = etl_view_controllers(c, err)) != NULL &&
	    (r = etl_view_running(c, 200, err)) != NULL) {
		xasprintf(&s, "{\"queues\": %s, \"controllers\": %s, \"running\": %s}", q, k, r);
		free(r);
	}
	free(q);
	free(k);
	return s;
}

struct api_stream *
stream_new(enum stream_kind kind, enum api_role role, const char *job, int64_t ctx,
    int64_t after)
{
	struct api_stream *s = xcalloc(1, sizeof(*s));

	s->kind = kind;
	s->role = role;
	if (job != NULL)
		strlcpy(s->job, job, sizeof(s->job));
	s->ctx = ctx;
	s->after = after > 0 ? after : 0;
	return s;
}

void
stream_free(struct api_stream *s)
{
	if (s == NULL)
		return;
	free(s->out);
	free(s->last);
	free(s);
}

/* Append one message: event NAME, id (when > 0), data split into lines. */
static void
emit(struct api_stream *s, const char *event, int64_t id, const char *data)
{
	size_t need, n, lines = 1;
	const char *p, *nl;
	char *o;

	/* exactly: the event and id lines, and "data: " and a newline per line of data */
	for (p = data; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	need = strlen(event) + 40 + strlen(data) + lines * 7 + 2;
	s->out = xreallocarray(s->out, s->len + need, 1);
	o = s->out + s->len;
	n = (size_t)snprintf(o, need, "event: %s\n", event);
	if (id > 0)
		n += (size_t)snprintf(o + n, need - n, "id: %lld\n", (long long)id);
	for (p = data; ; p = nl + 1) {
		size_t l;

		nl = strchr(p, '\n');
		l = nl ? (size_t)(nl - p) : strlen(p);
		memcpy(o + n, "data: ", 6);
		memcpy(o + n + 6, p, l);
		n += 6 + l;
		o[n++] = '\n';
		if (nl == NULL)
			break;
	}
	o[n++] = '\n';
	o[n] = '\0';
	s->len += n;
}

static void
emit_error(struct api_stream *s, const char *msg)
{
	cJSON *j = cJSON_CreateObject();
	char *t;

	cJSON_AddStringToObject(j, "error", msg);
	t = cJSON_PrintUnformatted(j);
	emit(s, "error", 0, t ? t : "{}");
	free(t);
	cJSON_Delete(j);
}

/* The greatest event_id among the objects of arr (0 when none). */
static int64_t
max_event_id(const cJSON *arr)
{
	const cJSON *e, *id;
	int64_t m = 0;

	cJSON_ArrayForEach(e, arr) {
		id = cJSON_GetObjectItemCaseSensitive(e, "event_id");
		if (cJSON_IsNumber(id) && (int64_t)id->valuedouble > m)
			m = (int64_t)id->valuedouble;
	}
	return m;
}

/* The job's context, once it has one. */
static int
resolve_ctx(struct api_stream *s, etl_conn *c, etl_error *err)
{
	const cJSON *id;
	cJSON *j;
	char *t;

	if ((t = etl_view_job(c, s->job, err)) == NULL)
		return -1;
	j = cJSON_Parse(t);
	free(t);
	id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "job"),
	    "etl_context_id");
	if (cJSON_IsNumber(id))
		s->ctx = (int64_t)id->valuedouble;
	cJSON_Delete(j);
	return 0;
}

/* Read what the stream shows and queue it; -1 when the stream is to end. */
static int
produce(struct api_stream *s)
{
	etl_error err;
	etl_conn *c;
	char *t;
	cJSON *j;
	int64_t m;
	int rc = 0;

	etl_error_clear(&err);
	if ((c = pool_get(s->role, &err)) == NULL) {
		emit_error(s, err.message);
		return 0;
	}
	if (s->ctx == 0 && s->job[0] != '\0' && resolve_ctx(s, c, &err) != 0)
		goto fail;
	switch (s->kind) {
	case STREAM_EVENTS:
		if (s->ctx == 0)
			break;
		if ((t = etl_view_events(c, s->ctx, s->after, 1000, &err)) == NULL)
			goto fail;
		j = cJSON_Parse(t);
		if ((m = max_event_id(j)) > 0) {
			emit(s, "events", m, t);
			s->after = m;
		}
		cJSON_Delete(j);
		free(t);
		break;
	case STREAM_TREE:
		if (s->ctx == 0)
			break;
		if ((t = etl_view_tree(c, s->ctx, s->after, &err)) == NULL)
			goto fail;
		j = cJSON_Parse(t);
		m = max_event_id(cJSON_GetObjectItemCaseSensitive(j, "events"));
		if (m > 0 || !s->started) {
			emit(s, "tree", m > s->after ? m : s->after, t);
			if (m > s->after)
				s->after = m;
		}
		cJSON_Delete(j);
		free(t);
		break;
	case STREAM_OVERVIEW:
		if ((t = view_overview(c, s->role, &err)) == NULL)
			goto fail;
		if (s->last == NULL || strcmp(s->last, t) != 0) {
			emit(s, "overview", 0, t);
			free(s->last);
			s->last = t;
		} else {
			free(t);
		}
		break;
	}
	pool_put(c);
	return rc;
fail:
	pool_put(c);
	emit_error(s, err.message);
	/* a job that is gone will not come back */
	return err.code == ETL_ENOTFOUND || err.code == ETL_EINVAL ? -1 : 0;
}

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

ssize_t
stream_read(struct api_stream *s, char *buf, size_t max)
{
	for (;;) {
		struct timespec now;
		uint64_t g;
		long due;
		int relevant;

		if (s->off < s->len) {
			size_t n = s->len - s->off < max ? s->len - s->off : max;

			memcpy(buf, s->out + s->off, n);
			s->off += n;
			clock_gettime(CLOCK_MONOTONIC, &s->sent_at);
			if (s->off == s->len)
				s->off = s->len = 0;
			return (ssize_t)n;
		}
		if (s->ended || api_stopping)
			return -1;
		if (!s->started) {
			s->seen = live_gen();
			/* the retry hint, then what there is now */
			s->out = xreallocarray(s->out, 32, 1);
			s->len = (size_t)snprintf(s->out, 32, "retry: 2000\n\n");
			if (produce(s) != 0)
				s->ended = 1;
			s->started = 1;
			clock_gettime(CLOCK_MONOTONIC, &s->read_at);
			continue;
		}
		/* wake for the feed, or when the keep-alive falls due */
		clock_gettime(CLOCK_MONOTONIC, &now);
		due = (long)api_cfg.keepalive * 1000 - ms_between(&s->sent_at, &now);
		g = live_wait(s->seen, due > 0 ? (int)due : 1);
		if (api_stopping)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ms_between(&s->sent_at, &now) >= (long)api_cfg.keepalive * 1000) {
			s->out = xreallocarray(s->out, 16, 1);
			s->len = (size_t)snprintf(s->out, 16, ":\n\n");
			continue;
		}
		if (g == s->seen)
			continue;
		switch (s->kind) {
		case STREAM_EVENTS:
			relevant = s->ctx == 0 || live_ctx_touched(s->ctx, s->seen);
			break;
		case STREAM_TREE:
			relevant = live_ctx_touched(0, s->seen);
			break;
		default:
			relevant = 1;
			break;
		}
		if (!relevant) {
			s->seen = g;
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (ms_between(&s->read_at, &now) < MIN_GAP_MS) {
			struct timespec d = { 0, (MIN_GAP_MS - ms_between(&s->read_at, &now)) *
			    1000000L };

			nanosleep(&d, NULL);
		}
		s->seen = live_gen();
		clock_gettime(CLOCK_MONOTONIC, &s->read_at);
		if (produce(s) != 0)
			s->ended = 1;
	}
}
