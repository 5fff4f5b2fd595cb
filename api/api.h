/*
 * api.h: what etl-api's parts share: the roles a caller may have, the daemon's settings,
 * and each part's entry points (auth.c tokens, pool.c database connections, live.c the
 * LISTEN feed and Server-Sent Events, routes.c the resources, files.c the web view,
 * http.c the HTTP server).
 */
#ifndef ETL_API_H
#define ETL_API_H

#include <stddef.h>
#include <stdint.h>

#include "etl_admin.h"

/* A caller's role: each one the database role its requests run under. */
enum api_role {
	ROLE_NONE = 0,		/* not allowed in */
	ROLE_VIEWER,		/* etl_viewer: reads */
	ROLE_SENDER,		/* etl_sender: sends, cancels, retries */
	ROLE_ADMIN		/* etl_admin: queues, deletes */
};
const char	*role_name(enum api_role);		/* "viewer" ... */
const char	*role_db(enum api_role);		/* "etl_viewer" ... */
enum api_role	 role_parse(const char *);		/* ROLE_NONE when unknown */

struct api_settings {
	const char	*pg_env;
	const char	*listen;	/* ADDR:PORT, [v6]:PORT, :PORT or host:PORT */
	const char	*token_file;
	const char	*web_dir;
	const char	*log_dir;	/* job logs are read only from under it (NULL: any) */
	const char	*files_dir;	/* jobs' files, DIR/JOB_ID/NAME (NULL: none served) */
	const char	*tls_cert;
	const char	*tls_key;
	enum api_role	 anonymous;	/* ROLE_NONE or ROLE_VIEWER */
	int		 set_role;	/* SET ROLE per request (0: run as the login) */
	unsigned	 max_conns;
	unsigned	 max_per_ip;
	unsigned	 timeout;	/* seconds a connection may idle */
	size_t		 max_body;
	unsigned	 pool_size;
	unsigned	 keepalive;	/* seconds between SSE comments */
};
extern struct api_settings api_cfg;
extern volatile int api_stopping;

/* ---- auth.c ---- */
/* Load (or reload) the token file: 0, or -1 with the reason logged. */
int		 auth_load(const char *path);
/* The role of an Authorization header's value (NULL: none); *who gets the token's name. */
enum api_role	 auth_check(const char *authorization, const char **who);
/* A new token for name with role: prints it, appends its hash line to path. */
int		 auth_new_token(const char *path, const char *name, const char *role);

/* ---- pool.c ---- */
void		 pool_init(unsigned size);
void		 pool_fini(void);
/* A connection running as role's database role (blocks while all are lent). */
etl_conn	*pool_get(enum api_role, etl_error *);
/* Give it back; a broken one is closed (the next get opens another). */
void		 pool_put(etl_conn *);

/* ---- live.c ---- */
int		 live_start(void);
void		 live_stop(void);
/* The feed's generation: it moves on every notification (and every second). */
uint64_t	 live_gen(void);
/* Wait until the generation passes seen or ms pass: the new generation. */
uint64_t	 live_wait(uint64_t seen, int ms);
/* Whether context ctx (0: any) had an event between generation from and now (1 when
 * the feed forgot). */
int		 live_ctx_touched(int64_t ctx, uint64_t from);

/* ---- files.c ---- */
/* A regular file's bytes (NUL-terminated, at most max): NULL and errno otherwise. */
char		*file_slurp(const char *path, size_t max, size_t *len);
int		 files_load(const char *dir);
/* The file served at url ("/" = index.html): a copy of its bytes (NUL-terminated; caller
 * frees), length and type; NULL if none. */
char		*files_get(const char *path, size_t *len, const char **type);

/* ---- http.c ---- */
int		 http_start(void);
void		 http_stop(void);

#endif /* ETL_API_H */
