/*
 * http.h: one HTTP request as the resources see it, and the reply they fill in (a body,
 * or a stream of Server-Sent Events).  The server (http.c) owns both.
 */
#ifndef ETL_API_HTTP_H
#define ETL_API_HTTP_H

#include <sys/types.h>

#include "api.h"

#define API_MAX_SEGS 8

struct api_req {
	void		*conn;		/* the server's connection */
	const char	*method;
	const char	*url;
	char		*body;		/* NUL-terminated, len bytes */
	size_t		 len;
	enum api_role	 role;
	const char	*who;		/* the token's name, or "anonymous" */
	char		*path;		/* url's copy, split into segs */
	char		*segs[API_MAX_SEGS];
	int		 nseg;
};

struct api_stream;

struct api_reply {
	int		 status;
	char		*body;		/* owned */
	const char	*type;		/* NULL: application/json */
	const char	*allow;		/* for 405: the methods the resource has */
	struct api_stream *stream;	/* instead of body: an event stream */
	int		 fd;		/* instead of body: a file's descriptor + 1 (0: none) */
	uint64_t	 fd_size;
	char		 filename[136];	/* its download name */
};

/* A query argument or header of req (NULL if absent). */
const char	*req_arg(const struct api_req *, const char *name);
const char	*req_header(const struct api_req *, const char *name);

/* Fill reply with JSON text (owned), or with {"error": message}. */
void	reply_json(struct api_reply *, int status, char *text);
void	reply_error(struct api_reply *, int status, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* An etl_error as its status: 400 bad input, 403 refused by the database, 404 not
 * found, 409 conflict, 503 database unreachable, 500 otherwise. */
void	reply_etl_error(struct api_reply *, const etl_error *);

/* ---- routes.c ---- */
void	routes_dispatch(struct api_req *, struct api_reply *);

/* ---- jobfiles.c ---- */
/* GET a job's files (name NULL: the list) from under --files. */
void	job_files(const struct api_req *, struct api_reply *, const char *id, const char *name);

/* ---- stream.c: Server-Sent Events ---- */
enum stream_kind { STREAM_EVENTS, STREAM_TREE, STREAM_OVERVIEW };
/* A stream of kind for role: events of job (its context, when it has one) or of
 * context ctx, after event id `after`. */
struct api_stream *stream_new(enum stream_kind, enum api_role, const char *job, int64_t ctx,
	    int64_t after);
/* Up to max bytes of the stream into buf, waiting for them: the count, or -1 at its end. */
ssize_t	stream_read(struct api_stream *, char *buf, size_t max);
void	stream_free(struct api_stream *);
/* {"queues", "controllers", "running"}: what the overview shows (caller frees); read
 * at most twice a second per role, whoever asks. */
char	*view_overview(etl_conn *, enum api_role, etl_error *);

#endif /* ETL_API_HTTP_H */
