/*
 * config.c: reading etl.conf into options.  A line is `key = value`, `# comment` or
 * blank; values may be quoted with "".  Keys are the program's long options with _ for
 * -; a boolean option takes true/false/yes/no.  The controller's keys unless the program
 * (etl-api) names its own.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

static const char *const ctl_keys[] = {
	"pg_env", "queues", "concurrency", "log_dir", "id", "shutdown_timeout", "kill_grace",
	"poll_interval", "heartbeat", "dead_after", "pidfile", "log_file", "metrics", "user",
	"task_path", "log_max", "allow_user", "lease", "uid_range", "task_service_file",
	"db_timeout", "log_retention", "min_priority", "max_priority", NULL
};
static const char *const ctl_bools[] = { "stop_tasks", "verbose", NULL };
static const char *const *keys = ctl_keys, *const *bools = ctl_bools;
static const char *prog = "etl-controller";

void
config_set_keys(const char *progname, const char *const *k, const char *const *b)
{
	prog = progname;
	keys = k;
	bools = b;
}

static int
in(const char *const *list, const char *k)
{
	int i;

	for (i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], k) == 0)
			return 1;
	return 0;
}

static void
bad(const char *path, int line, const char *why, const char *what)
{
	fprintf(stderr, "%s: %s:%d: %s%s%s\n", prog, path, line, why, what ? " " : "",
	    what ? what : "");
	exit(2);
}

int
config_line(char *line, char **opt, const char **why, const char **what)
{
	char *k, *v, *e, *p;

	*opt = NULL;
	*what = NULL;
	for (k = line; isspace((unsigned char)*k); k++)
		;
	if (*k == '#' || *k == '\0')
		return 0;
	if ((e = strchr(k, '=')) == NULL) {
		*why = "want key = value";
		return -1;
	}
	*e = '\0';
	for (p = e - 1; p >= k && isspace((unsigned char)*p); p--)
		*p = '\0';
	for (v = e + 1; isspace((unsigned char)*v); v++)
		;
	for (p = v + strlen(v) - 1; p >= v && isspace((unsigned char)*p); p--)
		*p = '\0';
	if (*v == '"') {
		size_t len = strlen(v);

		if (len < 2 || v[len - 1] != '"') {
			*why = "unterminated quote";
			return -1;
		}
		v[len - 1] = '\0';
		v++;
	}
	*what = k;
	if (!in(keys, k) && !in(bools, k)) {
		*why = "unknown key";
		return -1;
	}
	if (in(bools, k)) {
		if (strcmp(v, "true") != 0 && strcmp(v, "yes") != 0 &&
		    strcmp(v, "false") != 0 && strcmp(v, "no") != 0) {
			*why = "want true or false for";
			return -1;
		}
		if (strcmp(v, "true") != 0 && strcmp(v, "yes") != 0)
			return 0;
		xasprintf(opt, "--%s", k);
	} else {
		if (*v == '\0') {
			*why = "empty value for";
			return -1;
		}
		xasprintf(opt, "--%s=%s", k, v);
	}
	for (p = *opt + 2; *p && *p != '='; p++)
		if (*p == '_')
			*p = '-';
	return 1;
}

char **
config_argv(const char *path, int *argcp, char **argv)
{
	char line[4096], *opt;
	const char *why, *what;
	int n = 1, lineno = 0, i, r;
	char **out;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		fatal("cannot read the configuration %s", path);
	out = xcalloc((size_t)*argcp + 2, sizeof(*out));
	out[0] = xstrdup(argv[0]);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			why = "line too long";
			what = NULL;
			r = -1;
		} else {
			r = config_line(line, &opt, &why, &what);
		}
		if (r < 0) {
			/* free what we hold: the exit below must not look like a leak */
			fclose(f);
			out[n] = NULL;
			config_free(out);
			bad(path, lineno, why, what);
		}
		if (r == 0)
			continue;
		out = xreallocarray(out, (size_t)n + (size_t)*argcp + 2, sizeof(*out));
		out[n++] = opt;
	}
	if (ferror(f))
		fatal("reading %s", path);
	fclose(f);
	for (i = 1; i < *argcp; i++)
		out[n++] = xstrdup(argv[i]);
	out[n] = NULL;
	*argcp = n;
	return out;
}

void
config_free(char **a)
{
	int i;

	if (a == NULL)
		return;
	for (i = 0; a[i] != NULL; i++)
		free(a[i]);
	free(a);
}
