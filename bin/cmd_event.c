/*
 * cmd_event.c: the event store and logs from the command line: `etl events`,
 * `etl logs`, and the two commands tasks in any language use, `etl dispatch` and
 * `etl progress`.
 */
#include <sys/select.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

enum { OPT_FOLLOW = 1, OPT_CONTEXT, OPT_TREE };

/*
 * A context id argument, or a job id naming its job's context (and pg_env).  With wait
 * (--follow), a job not started yet is waited for while it may still start.
 */
static int64_t
context_arg(struct cli *cl, const char *arg, char **pg_env, int wait)
{
	const struct timespec tick = { 0, 200 * 1000 * 1000 };
	char buf[128], state[32];
	etl_error err;
	etl_conn *c;
	cJSON *job;
	int64_t id;

	*pg_env = NULL;
	if (etl_uuid_valid(arg) != 0)
		return (int64_t)cli_long(cl, arg, 1, 0x7fffffffffffffffL, "CONTEXT");
	c = cli_connect(cl);
	for (;;) {
		if ((job = etl_job_get(c, arg, &err)) == NULL)
			cli_fail(cl, &err);
		id = (int64_t)strtoll(cli_field(job, "etl_context_id", buf, sizeof(buf)), NULL, 10);
		cli_field(job, "state", state, sizeof(state));
		if (id > 0 || !wait || (strcmp(state, "created") != 0 &&
		    strcmp(state, "retry") != 0 && strcmp(state, "active") != 0))
			break;
		cJSON_Delete(job);
		nanosleep(&tick, NULL);
	}
	etl_disconnect(c);
	if (id <= 0) {
		fprintf(stderr, "etl %s: job %s has no context%s\n", cl->cmd, arg,
		    wait ? " (it ended without starting)" : " yet (it has not started; --follow waits)");
		cJSON_Delete(job);
		exit(EXIT_NOTFOUND);
	}
	if (*cli_field(job, "pg_env", buf, sizeof(buf)) != '\0')
		*pg_env = xstrdup(buf);
	cJSON_Delete(job);
	return id;
}

static void
print_event(const struct cli *cl, cJSON *e)
{
	char id[24], when[64], type[256], *pl;

	if (cl->json) {
		char *s = cJSON_PrintUnformatted(e);
		puts(s);
		free(s);
		return;
	}
	pl = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(e, "payload"));
	printf("%-8s %.23s  %-28s %s\n", cli_field(e, "event_id", id, sizeof(id)),
	    cli_field(e, "created_on", when, sizeof(when)),
	    cli_field(e, "type", type, sizeof(type)), pl ? pl : "null");
	free(pl);
}

/* Wait up to ms for a notification on c's socket (or just sleep if we cannot). */
static void
wait_notify(etl_conn *c, int ms)
{
	PGconn *pg = etl_conn_pg(c);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	PGnotify *n;
	fd_set rf;
	int fd = PQsocket(pg);

	if (fd >= 0) {
		FD_ZERO(&rf);
		FD_SET(fd, &rf);
		(void)select(fd + 1, &rf, NULL, NULL, &tv);
	}
	PQconsumeInput(pg);
	while ((n = PQnotifies(pg)) != NULL)
		PQfreemem(n);
}

int
cmd_events(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "tree", no_argument, NULL, OPT_TREE },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "events", "usage: etl events CONTEXT|JOB [-f|--follow] [--tree] [--json]\n\n"
	    "Print the events of a context (or of a job's context), oldest first.  With\n"
	    "--follow, wait for new ones until the context is DONE.  With --tree, the context\n"
	    "and its sub-task contexts, each indented under its parent.  --json prints one\n"
	    "JSON object per line (--tree: one document).\n", NULL, 0 };
	int64_t id, last = 0;
	char *pg_env, status[16];
	etl_error err;
	etl_conn *c;
	int ch, follow = 0, tree = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "f", lo, NULL)) != -1) {
		if (ch == OPT_FOLLOW || ch == 'f')
			follow = 1;
		else if (ch == OPT_TREE)
			tree = 1;
		else
			cli_common_opt(&cl, ch);
	}
	if (tree && follow)
		cli_usage_error(&cl, "--tree and --follow do not go together");
	if (argc - optind != 1)
		cli_usage_error(&cl, "want one CONTEXT id or JOB id");
	id = context_arg(&cl, argv[optind], &pg_env, follow);
	if (pg_env != NULL)
		cl.pg_env = pg_env;
	c = cli_connect(&cl);
	if (tree) {
		cJSON *t = etl_context_tree(c, id, &err), *node, *e;

		etl_disconnect(c);
		free(pg_env);
		if (t == NULL)
			cli_fail(&cl, &err);
		if (cJSON_GetArraySize(t) == 0) {
			cJSON_Delete(t);
			fprintf(stderr, "etl events: no etl_context %lld\n", (long long)id);
			return EXIT_NOTFOUND;
		}
		if (cl.json) {
			cli_print_json(t);
			return 0;
		}
		cJSON_ArrayForEach(node, t) {
			char buf[32], st[16];
			int depth = (int)cJSON_GetObjectItemCaseSensitive(node, "depth")->valuedouble;

			printf("%*scontext %s (%s)\n", depth * 4, "",
			    cli_field(node, "etl_context_id", buf, sizeof(buf)),
			    cli_field(node, "status", st, sizeof(st)));
			cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(node, "events")) {
				printf("%*s", depth * 4 + 2, "");
				print_event(&cl, e);
			}
		}
		cJSON_Delete(t);
		return 0;
	}
	if (follow)
		PQclear(PQexec(etl_conn_pg(c), "LISTEN " ETL_CHANNEL_EVENT));
	for (;;) {
		cJSON *ctx, *list, *e;

		if ((ctx = etl_context_get(c, id, &err)) == NULL)
			cli_fail(&cl, &err);
		cli_field(ctx, "status", status, sizeof(status));
		cJSON_Delete(ctx);
		if ((list = etl_events_list(c, id, last, &err)) == NULL)
			cli_fail(&cl, &err);
		cJSON_ArrayForEach(e, list) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "event_id");
			print_event(&cl, e);
			if (cJSON_IsNumber(v))
				last = (int64_t)v->valuedouble;
		}
		fflush(stdout);
		cJSON_Delete(list);
		/* the status was read before the events: DONE means we printed the last one */
		if (!follow || strcmp(status, "DONE") == 0)
			break;
		wait_notify(c, 1000);
	}
	etl_disconnect(c);
	free(pg_env);
	return 0;
}

int
cmd_logs(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "logs", "usage: etl logs JOB [-f|--follow]\n\n"
	    "Print a job's log file (its task's stdout and stderr).  With --follow, keep\n"
	    "printing until the job is finished.\n", NULL, 0 };
	char path[4096], state[32], buf[65536];
	enum etl_job_state st;
	etl_error err;
	etl_conn *c;
	cJSON *job;
	ssize_t n;
	int ch, fd, follow = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "f", lo, NULL)) != -1) {
		if (ch == OPT_FOLLOW || ch == 'f')
			follow = 1;
		else
			cli_common_opt(&cl, ch);
	}
	if (argc - optind != 1)
		cli_usage_error(&cl, "want one JOB id");
	if (etl_uuid_valid(argv[optind]) != 0)
		cli_usage_error(&cl, "bad job id '%.64s': want a uuid", argv[optind]);
	c = cli_connect(&cl);
	if ((job = etl_job_get(c, argv[optind], &err)) == NULL)
		cli_fail(&cl, &err);
	if (*cli_field(job, "log_path", path, sizeof(path)) == '\0') {
		fprintf(stderr, "etl logs: job %s has no log file (not started yet, or run in the "
		    "foreground)\n", argv[optind]);
		return EXIT_NOTFOUND;
	}
	cJSON_Delete(job);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "etl logs: %s: %s (the log lives on the job's host)\n", path,
		    strerror(errno));
		return errno == ENOENT ? EXIT_NOTFOUND : 1;
	}
	for (;;) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
		if (!follow)
			break;
		if ((job = etl_job_get(c, argv[optind], &err)) == NULL)
			cli_fail(&cl, &err);
		cli_field(job, "state", state, sizeof(state));
		cJSON_Delete(job);
		if (etl_job_state_parse(state, &st) != 0 || st != ETL_JOB_ACTIVE) {
			while ((n = read(fd, buf, sizeof(buf))) > 0)
				fwrite(buf, 1, (size_t)n, stdout);
			break;
		}
		usleep(200000);
	}
	close(fd);
	etl_disconnect(c);
	return 0;
}

/* The context of the calling task, from --context or $ETL_CONTEXT_ID. */
static etl_context *
task_context(struct cli *cl, const char *ctxarg)
{
	const char *id = ctxarg ? ctxarg : getenv("ETL_CONTEXT_ID");
	const char *task = getenv("ETL_TASK");
	const char *job = getenv("ETL_JOB_ID");
	etl_context *ctx;

	if (id == NULL || *id == '\0')
		cli_usage_error(cl, "no context: run me from a task ($ETL_CONTEXT_ID) or give "
		    "--context ID");
	if (job != NULL && etl_uuid_valid(job) != 0)
		job = NULL;
	ctx = etl_context_new(cl->pg_env ? cl->pg_env : cli_global_pg_env ?
	    cli_global_pg_env : getenv("ETL_PG_ENV"),
	    (int64_t)cli_long(cl, id, 1, 0x7fffffffffffffffL, "context id"),
	    task ? task : "task", ctxarg ? NULL : job, getenv("ETL_QUEUE_PG_ENV"));
	if (ctx == NULL)
		fatalx("out of memory");
	return ctx;
}

int
cmd_dispatch(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "context", required_argument, NULL, OPT_CONTEXT },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "dispatch", "usage: etl dispatch TYPE [JSON|-] [--context ID]\n\n"
	    "Record event TYPE (TASK:NAME; ':NAME' takes $ETL_TASK) with payload JSON in the\n"
	    "context $ETL_CONTEXT_ID (or --context) and print its event id.  For tasks in\n"
	    "any language: `etl dispatch :FINAL '{\"rows\": 3}'`.\n", NULL, 0 };
	const char *ctxarg = NULL;
	etl_context *ctx;
	etl_error err;
	cJSON *payload = NULL;
	int64_t ev;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_CONTEXT)
			ctxarg = optarg;
		else
			cli_common_opt(&cl, ch);
	}
	if (argc - optind < 1 || argc - optind > 2)
		cli_usage_error(&cl, "want a TYPE and at most one JSON payload");
	if (argc - optind == 2) {
		/* checked, then recorded as written: numbers exact (a raw item prints verbatim) */
		char *text = cli_json_text(&cl, argv[optind + 1]);

		payload = cJSON_CreateRaw(text);
		free(text);
		if (payload == NULL)
			fatalx("out of memory");
	}
	ctx = task_context(&cl, ctxarg);
	ev = etl_dispatch_ctx(ctx, argv[optind], payload, NULL, &err);
	etl_context_free(ctx);
	cJSON_Delete(payload);
	if (ev < 0)
		cli_fail(&cl, &err);
	printf("%lld\n", (long long)ev);
	return 0;
}

/*
 * --stream: "DONE TOTAL [MESSAGE]" lines from stdin until its end, each recorded on one
 * connection (a task in another language starts this once instead of a process and a
 * connection per report).  A bad line is said and skipped; the status says if any was.
 */
static int
progress_stream(struct cli *cl, etl_context *ctx)
{
	char *line = NULL, *end, *msg;
	size_t cap = 0;
	ssize_t len;
	long lineno = 0, bad = 0;
	double done, total;
	etl_error err;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		errno = 0;
		done = strtod(line, &end);
		if (end == line || errno != 0 || (*end != ' ' && *end != '\0')) {
			fprintf(stderr, "etl progress: line %ld: want DONE TOTAL [MESSAGE]\n", lineno);
			bad++;
			continue;
		}
		total = strtod(end, &msg);
		if (msg == end || errno != 0 || (*msg != ' ' && *msg != '\0') || done < 0 ||
		    total < 0 || done > 1e18 || total > 1e18) {
			fprintf(stderr, "etl progress: line %ld: want DONE TOTAL [MESSAGE]\n", lineno);
			bad++;
			continue;
		}
		if (*msg == ' ')
			msg++;
		if (etl_progress_ctx(ctx, done, total, *msg ? msg : NULL, &err) != 0) {
			fprintf(stderr, "etl progress: line %ld: %s\n", lineno, err.message);
			if (err.code != ETL_EINVAL) {
				free(line);
				cli_fail(cl, &err);
			}
			bad++;
		}
	}
	free(line);
	return bad > 0 ? 1 : 0;
}

int
cmd_progress(int argc, char **argv)
{
	enum { OPT_STREAM = 100 };
	static const struct option lo[] = {
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "stream", no_argument, NULL, OPT_STREAM },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "progress", "usage: etl progress DONE TOTAL [MESSAGE] [--context ID]\n"
	    "       etl progress --stream [--context ID]\n\n"
	    "Record the progress of the task running in $ETL_CONTEXT_ID: a :PROGRESS event and\n"
	    "the job's progress field.  With --stream, one report a line of stdin (DONE TOTAL\n"
	    "[MESSAGE]) until its end, on one connection: for tasks that report often.\n",
	    NULL, 0 };
	const char *ctxarg = NULL;
	etl_context *ctx;
	etl_error err;
	double done, total;
	int ch, rc, stream = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_CONTEXT)
			ctxarg = optarg;
		else if (ch == OPT_STREAM)
			stream = 1;
		else
			cli_common_opt(&cl, ch);
	}
	if (stream) {
		if (argc - optind != 0)
			cli_usage_error(&cl, "--stream reads its reports from stdin");
		ctx = task_context(&cl, ctxarg);
		rc = progress_stream(&cl, ctx);
		etl_context_free(ctx);
		return rc;
	}
	if (argc - optind < 2 || argc - optind > 3)
		cli_usage_error(&cl, "want DONE TOTAL [MESSAGE]");
	done = cli_double(&cl, argv[optind], 0, 1e18, "DONE");
	total = cli_double(&cl, argv[optind + 1], 0, 1e18, "TOTAL");
	ctx = task_context(&cl, ctxarg);
	rc = etl_progress_ctx(ctx, done, total, argc - optind == 3 ? argv[optind + 2] : NULL,
	    &err);
	etl_context_free(ctx);
	if (rc != 0)
		cli_fail(&cl, &err);
	return 0;
}
