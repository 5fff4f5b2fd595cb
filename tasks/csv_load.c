/*
 * csv_load: load a CSV file into a table of the job's pg_env with COPY, in one
 * transaction: a bad row leaves no partial table.  Payload:
 *   {"file": PATH, "table": "name" or "schema.name", "header": true, "delimiter": ",",
 *    "quote": "\"", "create": false, "replace": false}
 * With "create" the table is made with column types inferred from the data (bigint,
 * numeric, boolean, date, timestamptz, text) and names from the header; else rows are
 * appended to an existing table.  Progress is reported by bytes.  FINAL {"table",
 * "rows", "columns", "created", "bytes"}.  A malformed row is an ERROR naming its line.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

#define MAXCOLS 1600	/* PostgreSQL's own limit */

enum ctype { T_INT, T_NUM, T_BOOL, T_DATE, T_TS, T_TEXT };
static const char *const type_sql[] = { "bigint", "numeric", "boolean", "date",
	"timestamptz", "text" };

struct csv {
	FILE	*f;
	char	 delim, quote;
	long	 line;		/* physical line being read, from 1 */
	char	*buf;		/* the record's fields, NUL-separated */
	size_t	 len, cap;
	size_t	 starts[MAXCOLS];
	int	 nfields;
};

static void
put(struct csv *c, char ch)
{
	if (c->len + 1 >= c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4096;
		if ((c->buf = realloc(c->buf, c->cap)) == NULL) {
			perror("csv_load");
			exit(75);
		}
	}
	c->buf[c->len++] = ch;
}

/*
 * Read one record into c (fields as NUL-terminated strings).  Returns 1, 0 at the end,
 * -1 when malformed (why in why).  *rec_line gets the line the record starts on.
 */
static int
csv_record(struct csv *c, long *rec_line, char *why, size_t whysz)
{
	int ch, inq = 0, was_quoted = 0, any = 0;

	c->len = 0;
	c->nfields = 0;
	*rec_line = c->line;
	c->starts[c->nfields++] = 0;
	for (;;) {
		ch = getc(c->f);
		if (ch == EOF) {
			if (inq) {
				snprintf(why, whysz, "line %ld: a quoted field never ends", *rec_line);
				return -1;
			}
			if (!any)
				return 0;
			put(c, '\0');
			return 1;
		}
		any = 1;
		if (inq) {
			if (ch == c->quote) {
				int nx = getc(c->f);

				if (nx == c->quote) {
					put(c, (char)ch);	/* "" is a quote */
					continue;
				}
				ungetc(nx, c->f);
				inq = 0;
				continue;
			}
			if (ch == '\n')
				c->line++;
			put(c, (char)ch);
			continue;
		}
		if (ch == c->quote) {
			if (c->len != c->starts[c->nfields - 1] || was_quoted) {
				snprintf(why, whysz, "line %ld: a quote inside an unquoted field",
				    c->line);
				return -1;
			}
			inq = was_quoted = 1;
			continue;
		}
		if (ch == c->delim) {
			put(c, '\0');
			if (c->nfields == MAXCOLS) {
				snprintf(why, whysz, "line %ld: more than %d fields", *rec_line,
				    MAXCOLS);
				return -1;
			}
			c->starts[c->nfields++] = c->len;
			was_quoted = 0;
			continue;
		}
		if (ch == '\r')
			continue;
		if (ch == '\n') {
			c->line++;
			put(c, '\0');
			return 1;
		}
		if (was_quoted) {
			snprintf(why, whysz, "line %ld: text after a closing quote", c->line);
			return -1;
		}
		put(c, (char)ch);
	}
}

static const char *
field(const struct csv *c, int i)
{
	return c->buf + c->starts[i];
}

static int
all_digits(const char *s, int min, int max)
{
	int n = 0;

	while (isdigit((unsigned char)*s)) {	/* NOLINT(clang-analyzer-core.uninitialized.ArraySubscript) */
		s++;
		n++;
	}
	return *s == '\0' && n >= min && n <= max;
}

/* The narrowest type of ours that value v fits (v not empty). */
static int
fits(const char *v, enum ctype t)
{
	const char *s = v;
	char *end;

	switch (t) {
	case T_INT:
		if (*s == '-' || *s == '+')
			s++;
		return all_digits(s, 1, 18);
	case T_NUM:
		if (!isdigit((unsigned char)*v) && *v != '-' && *v != '+' && *v != '.')
			return 0;
		(void)strtod(v, &end);
		return *end == '\0';
	case T_BOOL:
		return strcasecmp(v, "true") == 0 || strcasecmp(v, "false") == 0 ||
		    strcasecmp(v, "t") == 0 || strcasecmp(v, "f") == 0;
	case T_DATE:
		return strlen(v) == 10 && isdigit((unsigned char)v[0]) && v[4] == '-' &&	/* NOLINT(clang-analyzer-core.UndefinedBinaryOperatorResult) */
		    v[7] == '-' && isdigit((unsigned char)v[5]) && isdigit((unsigned char)v[8]);
	case T_TS:
		return strlen(v) >= 16 && fits((char[11]){ v[0], v[1], v[2], v[3], v[4], v[5],
		    v[6], v[7], v[8], v[9], 0 }, T_DATE) && (v[10] == ' ' || v[10] == 'T') &&
		    isdigit((unsigned char)v[11]) && v[13] == ':';
	case T_TEXT:
		return 1;
	}
	return 0;
}

/* A name for SQL: [A-Za-z_][A-Za-z0-9_]*, at most 63. */
static int
ident_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (i = 1; i < len; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

static const char *
str(const cJSON *p, const char *k, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int
flag(const cJSON *p, const char *k, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

/* Append s to a growing SQL buffer. */
static void
cat(char **sql, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if ((*sql = realloc(*sql, *len + n + 1)) == NULL) {
		perror("csv_load");
		exit(75);
	}
	memcpy(*sql + *len, s, n + 1);
	*len += n;
}

static cJSON *
csv_load(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const char *path = str(p, "file", NULL), *table = str(p, "table", NULL);
	const char *delim = str(p, "delimiter", ","), *quote = str(p, "quote", "\"");
	int header = flag(p, "header", 1), create = flag(p, "create", 0);
	int replace = flag(p, "replace", 0);
	etl_context *ctx = etl_context_current();
	char why[1024], *names[MAXCOLS], *sql = NULL, *qt = NULL, *dot, chunk[1 << 16];
	enum ctype types[MAXCOLS];
	struct csv c = { 0 };
	long rec_line, rows = 0;
	size_t sqllen = 0, n, sent = 0;
	struct stat st;
	PGconn *pg;
	PGresult *res;
	etl_error err;
	etl_conn *conn;
	cJSON *out, *cols;
	int ncols = -1, i, r;

	if (path == NULL || table == NULL)
		return etl_fail_task(65, "csv_load wants {\"file\": PATH, \"table\": NAME}");
	dot = strchr(table, '.');
	if (!(dot ? ident_ok(table, (size_t)(dot - table)) && ident_ok(dot + 1, strlen(dot + 1)) :
	    ident_ok(table, strlen(table))))
		return etl_fail_task(65, "bad table name '%.80s': want name or schema.name of "
		    "letters, digits and _", table);
	if (strlen(delim) != 1 || strlen(quote) != 1 || *delim == *quote || *delim == '\n')
		return etl_fail_task(65, "delimiter and quote must be two different characters");
	if ((c.f = fopen(path, "re")) == NULL)
		return etl_fail_task(65, "%s: %s", path, strerror(errno));
	fstat(fileno(c.f), &st);
	c.delim = *delim;
	c.quote = *quote;
	c.line = 1;

	/* first pass: the shape of every row, and the types when we make the table */
	while ((r = csv_record(&c, &rec_line, why, sizeof(why))) == 1) {
		if (ncols < 0) {
			ncols = c.nfields;
			for (i = 0; i < ncols; i++) {
				char def[16];

				snprintf(def, sizeof(def), "col%d", i + 1);
				names[i] = strdup(header && *field(&c, i) ? field(&c, i) : def);
				types[i] = T_INT;
			}
			if (header)
				continue;
		}
		if (c.nfields != ncols) {
			snprintf(why, sizeof(why), "line %ld: %d fields where the first row has %d",
			    rec_line, c.nfields, ncols);
			r = -1;
			break;
		}
		rows++;
		for (i = 0; create && i < ncols; i++) {
			const char *v = field(&c, i);

			while (*v && !fits(v, types[i]))
				types[i]++;
		}
	}
	if (r < 0) {
		fclose(c.f);
		free(c.buf);
		for (i = 0; i < ncols; i++)
			free(names[i]);
		return etl_fail_task(65, "%s: %s", path, why);
	}
	free(c.buf);
	if (ncols < 0) {
		fclose(c.f);
		return etl_fail_task(65, "%s is empty", path);
	}

	if ((conn = etl_connect(etl_context_pg_env(ctx), &err)) == NULL) {
		fclose(c.f);
		for (i = 0; i < ncols; i++)
			free(names[i]);
		return etl_fail_task(75, "%s", err.message);
	}
	pg = etl_conn_pg(conn);
	if (dot) {
		char *s = PQescapeIdentifier(pg, table, (size_t)(dot - table));
		char *t = PQescapeIdentifier(pg, dot + 1, strlen(dot + 1));

		if (asprintf(&qt, "%s.%s", s, t) < 0)
			qt = NULL;
		PQfreemem(s);
		PQfreemem(t);
	} else {
		char *s = PQescapeIdentifier(pg, table, strlen(table));

		qt = strdup(s);
		PQfreemem(s);
	}
	res = PQexec(pg, "BEGIN");
	PQclear(res);
	if (create) {
		if (replace) {
			cat(&sql, &sqllen, "DROP TABLE IF EXISTS ");
			cat(&sql, &sqllen, qt);
			cat(&sql, &sqllen, "; ");
		}
		cat(&sql, &sqllen, "CREATE TABLE ");
		cat(&sql, &sqllen, qt);
		cat(&sql, &sqllen, " (");
		for (i = 0; i < ncols; i++) {
			char *qi = PQescapeIdentifier(pg, names[i], strlen(names[i]));

			cat(&sql, &sqllen, i ? ", " : "");
			cat(&sql, &sqllen, qi);
			cat(&sql, &sqllen, " ");
			cat(&sql, &sqllen, type_sql[types[i] > T_TEXT ? T_TEXT : types[i]]);
			PQfreemem(qi);
		}
		cat(&sql, &sqllen, ")");
		res = PQexec(pg, sql);
		free(sql);
		sql = NULL;
		sqllen = 0;
		if (etl_result_ok(res, pg, &err) != 0)
			goto sqlfail;
		PQclear(res);
	}
	cat(&sql, &sqllen, "COPY ");
	cat(&sql, &sqllen, qt);
	if (header) {
		cat(&sql, &sqllen, " (");
		for (i = 0; i < ncols; i++) {
			char *qi = PQescapeIdentifier(pg, names[i], strlen(names[i]));

			cat(&sql, &sqllen, i ? ", " : "");
			cat(&sql, &sqllen, qi);
			PQfreemem(qi);
		}
		cat(&sql, &sqllen, ")");
	}
	{
		char *ld = PQescapeLiteral(pg, delim, 1), *lq = PQescapeLiteral(pg, quote, 1);

		cat(&sql, &sqllen, " FROM STDIN WITH (FORMAT csv, HEADER ");
		cat(&sql, &sqllen, header ? "true" : "false");
		cat(&sql, &sqllen, ", DELIMITER ");
		cat(&sql, &sqllen, ld);
		cat(&sql, &sqllen, ", QUOTE ");
		cat(&sql, &sqllen, lq);
		cat(&sql, &sqllen, ")");
		PQfreemem(ld);
		PQfreemem(lq);
	}
	res = PQexec(pg, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		etl_result_ok(res, pg, &err);
		goto sqlfail;
	}
	PQclear(res);
	rewind(c.f);
	while ((n = fread(chunk, 1, sizeof(chunk), c.f)) > 0) {
		if (PQputCopyData(pg, chunk, (int)n) != 1)
			break;
		sent += n;
		etl_progress((double)sent, (double)st.st_size, "loading");
	}
	fclose(c.f);
	c.f = NULL;
	PQputCopyEnd(pg, NULL);
	res = PQgetResult(pg);
	if (etl_result_ok(res, pg, &err) != 0)
		goto sqlfail;
	rows = atol(PQcmdTuples(res));
	PQclear(res);
	while ((res = PQgetResult(pg)) != NULL)
		PQclear(res);
	res = PQexec(pg, "COMMIT");
	if (etl_result_ok(res, pg, &err) != 0)
		goto sqlfail;
	PQclear(res);
	etl_progress((double)st.st_size, (double)st.st_size, "loaded");
	printf("loaded %ld rows into %s\n", rows, table);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "table", table);
	cJSON_AddNumberToObject(out, "rows", (double)rows);
	cols = cJSON_AddArrayToObject(out, "columns");
	for (i = 0; i < ncols; i++) {
		cJSON *col = cJSON_CreateObject();

		cJSON_AddStringToObject(col, "name", names[i]);
		if (create)
			cJSON_AddStringToObject(col, "type", type_sql[types[i]]);
		cJSON_AddItemToArray(cols, col);
		free(names[i]);
	}
	cJSON_AddBoolToObject(out, "created", create);
	cJSON_AddNumberToObject(out, "bytes", (double)st.st_size);
	free(qt);
	etl_disconnect(conn);
	return out;
sqlfail:
	{
		/* PostgreSQL names the line of a bad row in its CONTEXT */
		const char *ctxt = res ? PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
		const char *sst = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
		int status = sst && (strncmp(sst, "08", 2) == 0 || strncmp(sst, "40", 2) == 0 ||
		    strncmp(sst, "53", 2) == 0) ? 75 : 65;

		snprintf(why, sizeof(why), "%s%s%s", err.message, ctxt ? " at " : "",
		    ctxt ? ctxt : "");
		PQclear(res);
		while ((res = PQgetResult(pg)) != NULL)
			PQclear(res);
		PQclear(PQexec(pg, "ROLLBACK"));
		if (c.f)
			fclose(c.f);
		for (i = 0; i < ncols; i++)
			free(names[i]);
		free(qt);
		etl_disconnect(conn);
		return etl_fail_task(status, "%s", why);
	}
}

ETL_TASK_MAIN(csv_load)
