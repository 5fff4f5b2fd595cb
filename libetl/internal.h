/*
 * internal.h: what libetl's own files share and no caller sees: the connection struct,
 * error fillers and the one query helper every SQL statement goes through.
 */
#ifndef ETL_INTERNAL_H
#define ETL_INTERNAL_H

#include <bsd/string.h>

#include "etl_stmt.h"

struct etl_conn {
	PGconn	*pg;
	char	*pg_env;
};

void	 etl__err(etl_error *, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 etl__err_pg(etl_error *, const PGresult *, PGconn *, const char *what);

/*
 * Run sql with n text parameters (any may be NULL) and return the result when it is
 * COMMAND_OK or TUPLES_OK; otherwise NULL with err filled (SQLSTATE mapped to a code).
 */
PGresult *etl__exec(etl_conn *, const char *sql, int n, const char *const *params,
	    etl_error *);
/* The same for a statement that must return rows: NULL on error. */
int	 etl__exec_cmd(etl_conn *, const char *sql, int n, const char *const *params,
	    etl_error *);
/* etl__exec with JIT off (SET LOCAL, in a transaction of its own when none is open). */
PGresult *etl__exec_nojit(etl_conn *, const char *sql, int n, const char *const *params,
	    etl_error *);

/* Record one run's end when its context lives in another database than its job. */
int	 etl__finish_split(etl_conn *qconn, etl_conn *cconn, const etl_end *, etl_error *);

/*
 * Parse and check an INITIAL event text: a JSON object whose type is TASK:INITIAL.
 * Returns it (caller frees) with the task prefix in task, or NULL and err (EINVAL).
 */
cJSON	*etl__initial_parse(const char *text, size_t len, size_t max, char *task, size_t,
	    int *cut, etl_error *);

/* A payload's limits beyond JSON's grammar (see etl_json_check): size, depth, UTF-8, no
 * \u0000.  0, or -1 with err. */
int	 etl__json_limits(const char *text, size_t len, size_t max, etl_error *);
/* etl_json_parse; on failure *cut says whether the text ended before the value did (a
 * writer that died midway), not a mistake within it. */
cJSON	*etl__json_parse_cut(const char *text, size_t len, size_t max, int *cut, etl_error *);

/* Task name of an event type prefix, from a task path or name ("/x/hello" -> "hello"). */
const char *etl__task_base(const char *task);

/* The first field of a one-row result (freed) parsed as JSON; NULL text is JSON null. */
cJSON	*etl__json_result(PGresult *res, etl_error *);
/* Print j unformatted and free it; NULL and err when out of memory. */
char	*etl__json_take(cJSON *j, etl_error *);

/* Small owned-string helpers that fail soft (libetl never aborts). */
char	*etl__strdup(const char *);
char	*etl__json_text(const cJSON *);	/* unformatted; NULL json -> "null" */

/*
 * The schema, generated from sql/ by embed.sh: the migrations (their count is the schema
 * version), the function files in the order they are applied, and their hash.
 */
extern const char *const etl__migrations[];
extern const int etl__schema_version;
extern const char *const etl__functions[];
extern const char etl__functions_hash[];

#endif
