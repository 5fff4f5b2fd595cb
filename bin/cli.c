/*
 * cli.c: helpers every etl command uses: common options, usage errors, connecting, and
 * reading numbers and JSON from the command line.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

const char *cli_global_pg_env;
char **cli_argv;

void
cli_usage_error(const struct cli *cl, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "etl %s: %s (see `etl %s --help`)\n", cl->cmd, msg, cl->cmd);
	exit(EXIT_USAGE);
}

int
cli_common_opt(struct cli *cl, int c)
{
	switch (c) {
	case OPT_PG_ENV:
		cl->pg_env = optarg;
		return 1;
	case OPT_JSON:
		cl->json = 1;
		return 1;
	case OPT_HELP:
		fputs(cl->usage, stdout);
		exit(0);
	default:
		/* opterr is 0: say it ourselves, in one line */
		cli_usage_error(cl, "bad option '%.64s' (unknown, or missing its value)",
		    optind > 0 && cli_argv ? cli_argv[optind - 1] : "?");
	}
}

void
cli_fail(const struct cli *cl, const etl_error *err)
{
	fprintf(stderr, "etl %s: %s\n", cl->cmd, err->message);
	exit(etl_error_exit_status(err));
}

etl_conn *
cli_connect_raw(const struct cli *cl)
{
	etl_error err;
	etl_conn *c;

	c = etl_connect(cl->pg_env ? cl->pg_env : cli_global_pg_env, &err);
	if (c == NULL) {
		/* a database we cannot reach is a failure, not bad usage */
		if (err.code != ETL_EINVAL)
			err.code = ETL_EDB;
		cli_fail(cl, &err);
	}
	return c;
}

etl_conn *
cli_connect(const struct cli *cl)
{
	etl_conn *c = cli_connect_raw(cl);
	etl_error err;

	if (etl_schema_check(c, &err) != 0) {
		etl_disconnect(c);
		err.code = ETL_ESCHEMA;
		cli_fail(cl, &err);
	}
	return c;
}

long
cli_long(const struct cli *cl, const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		cli_usage_error(cl, "%s must be a whole number from %ld to %ld, not '%.40s'",
		    what, min, max, s);
	return v;
}

double
cli_double(const struct cli *cl, const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
		cli_usage_error(cl, "%s must be a number from %g to %g, not '%.40s'", what,
		    min, max, s);
	return v;
}

/* Read all of stdin, but no more than max + 1 bytes (enough to know it is too large). */
static char *
read_stdin_limited(size_t max, size_t *lenp)
{
	size_t len = 0, cap = 8192;
	char *buf = xmalloc(cap);
	ssize_t n;

	for (;;) {
		if (len == cap - 1) {
			if (len > max)
				break;
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(STDIN_FILENO, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fatal("reading stdin");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* ARG, or stdin for "-", as text (caller frees); a payload over the limit is refused. */
static char *
json_arg_text(const struct cli *cl, const char *arg, size_t *lenp)
{
	size_t max = etl_payload_max();
	char *buf;

	if (strcmp(arg, "-") != 0) {
		*lenp = strlen(arg);
		return xstrdup(arg);
	}
	buf = read_stdin_limited(max, lenp);
	if (*lenp > max) {
		free(buf);
		cli_usage_error(cl, "the payload on stdin is over the limit of %zu bytes "
		    "(ETL_MAX_PAYLOAD)", max);
	}
	return buf;
}

cJSON *
cli_json_arg(const struct cli *cl, const char *arg)
{
	etl_error err;
	size_t len;
	char *buf = json_arg_text(cl, arg, &len);
	cJSON *j = etl_json_parse(buf, len, etl_payload_max(), &err);

	free(buf);
	if (j == NULL)
		cli_usage_error(cl, "%s", err.message);
	return j;
}

char *
cli_json_text(const struct cli *cl, const char *arg)
{
	etl_error err;
	size_t len;
	char *buf = json_arg_text(cl, arg, &len);

	if (etl_json_check(buf, len, etl_payload_max(), &err) != 0) {
		free(buf);
		cli_usage_error(cl, "%s", err.message);
	}
	return buf;
}

void
cli_print_json(cJSON *j)
{
	char *s = cJSON_Print(j);

	if (s == NULL)
		fatalx("out of memory");
	puts(s);
	free(s);
	cJSON_Delete(j);
}

const char *
cli_field(const cJSON *o, const char *k, char *buf, size_t bufsz)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	if (cJSON_IsString(v))
		snprintf(buf, bufsz, "%s", v->valuestring);
	else if (cJSON_IsNumber(v))
		snprintf(buf, bufsz, "%.15g", v->valuedouble);
	else if (cJSON_IsBool(v))
		snprintf(buf, bufsz, "%s", cJSON_IsTrue(v) ? "true" : "false");
	else if (v == NULL || cJSON_IsNull(v))
		buf[0] = '\0';
	else {
		char *s = cJSON_PrintUnformatted(v);
		snprintf(buf, bufsz, "%s", s ? s : "");
		free(s);
	}
	return buf;
}

const char *
cli_gdb_helper(void)
{
	static char path[PATH_MAX + 64];
	char exe[PATH_MAX], *slash;
	const char *e = getenv("ETL_GDB_HELPER");
	ssize_t n;

	if (e != NULL && *e != '\0')
		return e;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/../share/etl/gdb/etl.py", exe);
	if (access(path, R_OK) == 0)
		return path;
	snprintf(path, sizeof(path), "%s/../../contrib/gdb/etl.py", exe);
	if (access(path, R_OK) == 0)
		return path;
	return NULL;
}
