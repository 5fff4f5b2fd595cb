/*
 * http.c: etl-api's HTTP server, on GNU libmicrohttpd: a thread per connection (an
 * event stream blocks its own thread only), bounded connections (in all and per
 * address), request headers (the connection's memory limit) and bodies (--max-body),
 * and idle time (--timeout, a slow client's too).  Each request is authenticated here,
 * then handed to the web view's files or to the resources (routes.c).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "xmalloc.h"

#define MAX_DAEMONS 8

static struct MHD_Daemon *daemons[MAX_DAEMONS];
static int ndaemons;
static char *tls_key, *tls_cert;

/* One request's state across the server's calls. */
struct req_state {
	struct api_req	 req;
	size_t		 cap;
	int		 too_big;
	struct timespec	 t0;
};

const char *
req_arg(const struct api_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
req_header(const struct api_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void
reply_json(struct api_reply *rp, int status, char *text)
{
	free(rp->body);
	rp->status = status;
	rp->body = text;
	rp->type = NULL;
}

/* s as a JSON string literal (caller frees). */
static char *
json_string(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *out = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	return out ? out : xstrdup("\"out of memory\"");
}

void
reply_error(struct api_reply *rp, int status, const char *fmt, ...)
{
	char msg[600], *q, *body;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	q = json_string(msg);
	xasprintf(&body, "{\"error\": %s, \"status\": %d}", q, status);
	free(q);
	reply_json(rp, status, body);
}

void
reply_etl_error(struct api_reply *rp, const etl_error *e)
{
	int st = 500;

	switch (e->code) {
	case ETL_EINVAL:
		st = 400;
		break;
	case ETL_ENOTFOUND:
		st = 404;
		break;
	case ETL_EDONE:
		st = 409;
		break;
	case ETL_EDB:
		/* the database's word: privileges, bad values, conflicts, reachability */
		if (strcmp(e->sqlstate, "42501") == 0)
			st = 403;
		else if (strncmp(e->sqlstate, "22", 2) == 0 || strncmp(e->sqlstate, "23", 2) == 0)
			st = strcmp(e->sqlstate, "23505") == 0 ? 409 : 400;
		else if (strncmp(e->sqlstate, "08", 2) == 0 || e->sqlstate[0] == '\0' ||
		    strcmp(e->sqlstate, "57P01") == 0 || strcmp(e->sqlstate, "25006") == 0)
			st = 503;
		else if (strcmp(e->sqlstate, "P0002") == 0)
			st = 404;
		break;
	default:
		break;
	}
	reply_error(rp, st, "%s", e->message);
}

/* ---- event streams: the server pulls from stream_read on the connection's thread ---- */

static ssize_t
stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	ssize_t n;

	(void)pos;
	n = stream_read(cls, buf, max);
	return n < 0 ? (ssize_t)MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void
stream_free_cb(void *cls)
{
	stream_free(cls);
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, struct api_reply *rp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rp->stream != NULL) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_cb,
		    rp->stream, stream_free_cb);
		if (r == NULL) {
			stream_free(rp->stream);
			rp->stream = NULL;
			return MHD_NO;
		}
		rp->stream = NULL;
		MHD_add_response_header(r, "Content-Type", "text/event-stream");
		MHD_add_response_header(r, "Cache-Control", "no-store");
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	} else if (rp->fd != 0) {
		char disp[200];

		/* the response owns the descriptor from here, failed or not */
		r = MHD_create_response_from_fd64(rp->fd_size, rp->fd - 1);
		if (r == NULL) {
			close(rp->fd - 1);
			rp->fd = 0;
			return MHD_NO;
		}
		rp->fd = 0;
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", rp->filename);
		MHD_add_response_header(r, "Content-Type", rp->type);
		MHD_add_response_header(r, "Content-Disposition", disp);
		MHD_add_response_header(r, "Cache-Control", "no-store");
	} else {
		size_t len = rp->body ? strlen(rp->body) : 0;
		int json = rp->type == NULL;

		if (json && rp->body != NULL) {
			/* every JSON body ends its line (curl, terminals) */
			rp->body = xreallocarray(rp->body, len + 2, 1);
			rp->body[len++] = '\n';
			rp->body[len] = '\0';
		}
		r = MHD_create_response_from_buffer(len, rp->body ? rp->body : (char *)"",
		    rp->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (r == NULL)
			return MHD_NO;
		rp->body = NULL;
		MHD_add_response_header(r, "Content-Type", json ? "application/json" : rp->type);
		MHD_add_response_header(r, "Cache-Control", "no-store");
		if (rp->allow != NULL)
			MHD_add_response_header(r, "Allow", rp->allow);
		if (rp->status == 401)
			MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"etl\"");
	}
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; "
	    "img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'");
	ret = MHD_queue_response(c, (unsigned)rp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Split the path into segments ("/api/v1/jobs/ID" -> api, v1, jobs, ID). */
static int
split_path(struct api_req *r)
{
	char *s, *tok, *save = NULL;

	r->path = xstrdup(r->url);
	r->nseg = 0;
	for (s = r->path; (tok = strtok_r(s, "/", &save)) != NULL; s = NULL) {
		if (r->nseg == API_MAX_SEGS)
			return -1;
		r->segs[r->nseg++] = tok;
	}
	return 0;
}

static void
handle(struct req_state *st, struct api_reply *rp)
{
	struct api_req *r = &st->req;
	const char *authz, *who = NULL, *type;
	char *file;
	size_t flen;

	if (split_path(r) != 0) {
		reply_error(rp, 404, "no such resource");
		return;
	}
	/* the web view's files and the health check need no credentials */
	if (r->nseg == 0 || strcmp(r->segs[0], "api") != 0) {
		if (r->nseg == 1 && strcmp(r->segs[0], "healthz") == 0) {
			reply_json(rp, 200, xstrdup("{\"ok\": true}"));
			return;
		}
		if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
			rp->allow = "GET, HEAD";
			reply_error(rp, 405, "the web view's files are read with GET");
			return;
		}
		if ((file = files_get(r->url, &flen, &type)) == NULL) {
			reply_error(rp, 404, "no such page");
			return;
		}
		rp->status = 200;
		rp->body = file;
		rp->type = type;
		return;
	}
	authz = req_header(r, "Authorization");
	if (authz != NULL) {
		r->role = auth_check(authz, &who);
		if (r->role == ROLE_NONE) {
			reply_error(rp, 401, "bad credentials: want Authorization: Bearer TOKEN "
			    "with a token of the token file");
			return;
		}
		r->who = who;
	} else if (api_cfg.anonymous != ROLE_NONE) {
		r->role = api_cfg.anonymous;
		r->who = "anonymous";
	} else {
		reply_error(rp, 401, "credentials needed: Authorization: Bearer TOKEN");
		return;
	}
	routes_dispatch(r, rp);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req_state *st = *con_cls;
	struct api_reply rp = { 0 };
	enum MHD_Result ret;
	const char *cl;

	(void)cls;
	(void)version;
	if (st == NULL) {
		st = xcalloc(1, sizeof(*st));
		clock_gettime(CLOCK_MONOTONIC, &st->t0);
		st->req.conn = c;
		st->req.method = method;
		st->req.url = url;
		*con_cls = st;
		/* a body announced too large is refused before it is read */
		cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		if (cl != NULL && strtoull(cl, NULL, 10) > api_cfg.max_body) {
			reply_error(&rp, 413, "request body over %zu bytes", api_cfg.max_body);
			return send_reply(c, &rp);
		}
		return MHD_YES;
	}
	if (*upload_size != 0) {
		size_t n = *upload_size;

		if (!st->too_big && st->req.len + n > api_cfg.max_body) {
			st->too_big = 1;
			FREE(st->req.body);
			st->req.len = st->cap = 0;
		}
		if (!st->too_big) {
			if (st->req.len + n + 1 > st->cap) {
				st->cap = (st->req.len + n + 1) * 2;
				if (st->cap > api_cfg.max_body + 1)
					st->cap = api_cfg.max_body + 1;
				st->req.body = xreallocarray(st->req.body, st->cap, 1);
			}
			memcpy(st->req.body + st->req.len, upload, n);
			st->req.len += n;
			st->req.body[st->req.len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->too_big)
		reply_error(&rp, 413, "request body over %zu bytes", api_cfg.max_body);
	else
		handle(st, &rp);
	if (rp.status == 0)
		reply_error(&rp, 500, "no reply");
	log_debug("%s %s %d %s %.1f ms", method, url, rp.status,
	    st->req.who ? st->req.who : "-", ms_since(&st->t0));
	ret = send_reply(c, &rp);
	free(rp.body);
	return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (st == NULL)
		return;
	free(st->req.body);
	free(st->req.path);
	free(st);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("http: %s", buf);
}

/* Split ADDR:PORT, [V6]:PORT, :PORT or PORT into host (NULL: every address) and port. */
static int
split_listen(const char *s, char *host, size_t hlen, char *port, size_t plen)
{
	const char *colon;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':' || (size_t)(end - s - 1) >= hlen)
			return -1;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end + 1;
	} else if ((colon = strrchr(s, ':')) == NULL) {
		host[0] = '\0';
		colon = s - 1;
	} else {
		if (strchr(s, ':') != colon || (size_t)(colon - s) >= hlen)
			return -1;	/* a bare v6 address wants brackets */
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= plen ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) || atoi(colon + 1) > 65535)
		return -1;
	strlcpy(port, colon + 1, plen);
	return 0;
}

static int
start_on(int fd)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_POLL | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	char name[INET6_ADDRSTRLEN + 8], serv[16];
	struct sockaddr_storage ss = { 0 };
	socklen_t sl = sizeof(ss);

	if (tls_cert != NULL)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, api_cfg.max_conns,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, api_cfg.max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, api_cfg.timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, tls_key,
	    MHD_OPTION_END);
	if (d == NULL) {
		log_warnx("could not start the HTTP server%s", tls_cert ? " (is the TLS "
		    "certificate and key a pair?)" : "");
		return -1;
	}
	daemons[ndaemons++] = d;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, name, sizeof(name), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		int v6 = ss.ss_family == AF_INET6;

		log_info("listening on %s://%s%s%s:%s/", tls_cert ? "https" : "http",
		    v6 ? "[" : "", name, v6 ? "]" : "", serv);
	}
	return 0;
}

int
http_start(void)
{
	char host[256], port[8];
	struct addrinfo hints = { 0 }, *res, *ai;
	int rc, fd, one = 1, bound = 0;

	if (split_listen(api_cfg.listen, host, sizeof(host), port, sizeof(port)) != 0) {
		log_warnx("bad --listen '%s': want ADDR:PORT, [IPV6]:PORT, HOST:PORT or :PORT",
		    api_cfg.listen);
		return -1;
	}
	if (api_cfg.tls_cert != NULL) {
		size_t n;

		if ((tls_cert = file_slurp(api_cfg.tls_cert, 1 << 20, &n)) == NULL ||
		    (tls_key = file_slurp(api_cfg.tls_key, 1 << 20, &n)) == NULL) {
			log_warn("reading the TLS %s", tls_cert ? "key" : "certificate");
			return -1;
		}
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
		log_warnx("--listen %s: %s", api_cfg.listen, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && ndaemons < MAX_DAEMONS; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
			log_warn("--listen %s", api_cfg.listen);
			close(fd);
			continue;
		}
		if (start_on(fd) != 0) {
			close(fd);
			continue;
		}
		bound++;
	}
	freeaddrinfo(res);
	if (bound == 0) {
		log_warnx("nothing to listen on for %s", api_cfg.listen);
		return -1;
	}
	return 0;
}

void
http_stop(void)
{
	while (ndaemons > 0)
		MHD_stop_daemon(daemons[--ndaemons]);
	FREE(tls_cert);
	FREE(tls_key);
}
