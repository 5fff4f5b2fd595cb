/*
 * cli.h: what the etl command's files share: the command table's signature, common
 * option handling, connecting with a schema check, and input helpers.  Every error is
 * one line on stderr and an exit status of SPEC section 7 (0 ok, 1 failed, 2 usage,
 * 3 not found).
 */
#ifndef ETL_CLI_H
#define ETL_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "etl_admin.h"

#define EXIT_USAGE	2
#define EXIT_NOTFOUND	3

/* The options every command takes, as getopt_long entries and their codes. */
enum { OPT_PG_ENV = 1000, OPT_JSON, OPT_HELP };
#define COMMON_LONGOPTS \
	{ "pg-env", required_argument, NULL, OPT_PG_ENV }, \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "help", no_argument, NULL, OPT_HELP }

struct cli {
	const char	*cmd;		/* "send", "queue add", ... for messages */
	const char	*usage;		/* the --help text */
	const char	*pg_env;	/* NULL = $ETL_PG_ENV */
	int		 json;
};

extern const char *cli_global_pg_env;
extern char **cli_argv;		/* the running command's argv, for messages */

/* Handle a common option (returns 1), or a getopt error/unknown code (exits 2). */
int	 cli_common_opt(struct cli *, int c);
void	 cli_usage_error(const struct cli *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
/* Print err as one line and exit with its status. */
void	 cli_fail(const struct cli *, const etl_error *) __attribute__((noreturn));
/* Connect to the pg_env and check the schema, or exit. */
etl_conn *cli_connect(const struct cli *);
/* Connect without the schema check (etl migrate). */
etl_conn *cli_connect_raw(const struct cli *);
long	 cli_long(const struct cli *, const char *s, long min, long max, const char *what);
double	 cli_double(const struct cli *, const char *s, double min, double max, const char *what);
/* A JSON argument: the text itself or "-" for stdin; exits 2 when malformed or too large. */
cJSON	*cli_json_arg(const struct cli *, const char *arg);
/* The same checked (etl_json_check) but kept as written, numbers exact (caller frees). */
char	*cli_json_text(const struct cli *, const char *arg);
/* Print a JSON value on stdout, pretty, and free it. */
void	 cli_print_json(cJSON *);
/* The string, number or null member k of o as text into buf ("" for null/absent). */
const char *cli_field(const cJSON *o, const char *k, char *buf, size_t);

/* The gdb helper (contrib/gdb/etl.py), installed or in the source tree; NULL if none. */
const char *cli_gdb_helper(void);

int	cmd_migrate(int, char **);
int	cmd_debug(int, char **);
int	cmd_batch(int, char **);
int	cmd_schedule(int, char **);
int	cmd_group(int, char **);
int	cmd_redrive(int, char **);
int	cmd_top(int, char **);
int	cmd_queue(int, char **);
int	cmd_send(int, char **);
int	cmd_ls(int, char **);
int	cmd_show(int, char **);
int	cmd_cancel(int, char **);
int	cmd_retry(int, char **);
int	cmd_rm(int, char **);
int	cmd_run(int, char **);
int	cmd_events(int, char **);
int	cmd_logs(int, char **);
int	cmd_dispatch(int, char **);
int	cmd_progress(int, char **);

#endif
