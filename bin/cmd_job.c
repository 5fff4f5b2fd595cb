/*
 * cmd_job.c: jobs from the command line: `etl send`, `etl ls`, `etl show`, `etl cancel`,
 * `etl retry`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

enum { OPT_PRIORITY = 1, OPT_START_AFTER, OPT_SINGLETON, OPT_JOB_PG_ENV, OPT_DEBUG_WAIT,
    OPT_NDJSON, OPT_QUEUE, OPT_STATE, OPT_LIMIT, OPT_BATCH, OPT_AFTER, OPT_SING_SECS,
    OPT_DEBOUNCE, OPT_KEY, OPT_DATA, OPT_GROUP };

static const char send_usage[] =
    "usage: etl send QUEUE [JSON|-] [options]\n"
    "       etl send QUEUE --ndjson FILE|-\n\n"
    "Enqueue a job whose INITIAL payload is JSON (default {}; - reads stdin) and print\n"
    "its id.  With --ndjson, enqueue one job per line of FILE, all or none.\n\n"
    "  --priority N           higher runs first (0)\n"
    "  --start-after SEC|TIME not before SEC seconds from now, or a timestamp\n"
    "  --singleton-key KEY    the key of the queue's policy (short: one queued; singleton:\n"
    "                         one active; stately: one of each; exclusive: one of either)\n"
    "  --singleton-seconds S  throttle: one job per key per slot of S seconds\n"
    "  --debounce             throttled: take the next slot instead\n"
    "  --after JOB[,JOB...]   wait until these jobs completed (cancelled if one fails)\n"
    "  --batch ID             add the job to a batch (etl batch new)\n"
    "  --job-pg-env NAME      the pg_env the job's context and events live in\n"
    "  --debug-wait           the task waits for a debugger before it starts\n"
    "  --group KEY            count the job in group KEY (etl group set KEY N: at most N\n"
    "                         of the group's jobs run at once, across queues)\n"
    "  --json                 print {\"id\": ...}\n";

/* Read NDJSON lines from path ("-" = stdin): every non-blank line one job. */
static char **
read_ndjson(struct cli *cl, const char *path, size_t *np)
{
	size_t n = 0, cap = 1024, lineno = 0, linecap = 0;
	char **texts = xreallocarray(NULL, cap, sizeof(*texts));
	char *line = NULL;
	ssize_t len;
	FILE *f;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "etl send: %s: %s\n", path, strerror(errno));
		exit(errno == ENOENT ? EXIT_NOTFOUND : 1);
	}
	while ((len = getline(&line, &linecap, f)) != -1) {
		etl_error err;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t)len)
			continue;
		/* checked, sent as written: numbers stay exact */
		if (etl_json_check(line, (size_t)len, etl_payload_max(), &err) != 0) {
			while (n > 0)
				free(texts[--n]);
			free(texts);
			free(line);
			cli_usage_error(cl, "%s line %zu: %s; nothing was sent",
			    strcmp(path, "-") == 0 ? "stdin" : path, lineno, err.message);
		}
		if (n == cap) {
			cap *= 2;
			texts = xreallocarray(texts, cap, sizeof(*texts));
		}
		texts[n++] = xstrdup(line);
	}
	if (ferror(f))
		fatal("reading %s", path);
	free(line);
	if (f != stdin)
		fclose(f);
	*np = n;
	return texts;
}

int
cmd_send(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "start-after", required_argument, NULL, OPT_START_AFTER },
		{ "singleton-key", required_argument, NULL, OPT_SINGLETON },
		{ "job-pg-env", required_argument, NULL, OPT_JOB_PG_ENV },
		{ "debug-wait", no_argument, NULL, OPT_DEBUG_WAIT },
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "ndjson", required_argument, NULL, OPT_NDJSON },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "after", required_argument, NULL, OPT_AFTER },
		{ "singleton-seconds", required_argument, NULL, OPT_SING_SECS },
		{ "debounce", no_argument, NULL, OPT_DEBOUNCE },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "send", send_usage, NULL, 0 };
	char *after_buf = NULL, *after_ids[1024], *tok, *save = NULL;
	size_t nafter = 0;
	int rc;
	etl_send_opts o = { 0 };
	const char *ndjson = NULL, *queue, *group = NULL;
	char id[ETL_ID_LEN];
	etl_error err;
	etl_conn *c;
	char *data;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_PRIORITY:
			o.priority = (int)cli_long(&cl, optarg, -1000000, 1000000, "--priority");
			break;
		case OPT_START_AFTER:
			/* seconds, or a timestamp PostgreSQL reads */
			if (strspn(optarg, "0123456789.") == strlen(optarg))
				o.start_after = cli_double(&cl, optarg, 0, 3e9, "--start-after");
			else
				o.start_at = optarg;
			break;
		case OPT_BATCH:
			o.batch_id = optarg;
			break;
		case OPT_AFTER:
			free(after_buf);
			after_buf = xstrdup(optarg);
			nafter = 0;
			for (tok = strtok_r(after_buf, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save)) {
				if (nafter == sizeof(after_ids) / sizeof(after_ids[0]))
					cli_usage_error(&cl, "--after names more than 1024 jobs");
				after_ids[nafter++] = tok;
			}
			o.after = (const char *const *)after_ids;
			o.nafter = nafter;
			break;
		case OPT_SING_SECS:
			o.singleton_seconds = cli_double(&cl, optarg, 0.001, 3e9,
			    "--singleton-seconds");
			break;
		case OPT_DEBOUNCE:
			o.debounce = 1;
			break;
		case OPT_SINGLETON:
			o.singleton_key = optarg;
			break;
		case OPT_JOB_PG_ENV:
			o.pg_env = optarg;
			break;
		case OPT_DEBUG_WAIT:
			o.debug_wait = 1;
			break;
		case OPT_NDJSON:
			ndjson = optarg;
			break;
		case OPT_GROUP:
			group = optarg;
			break;
		default:
			cli_common_opt(&cl, ch);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		cli_usage_error(&cl, "want a QUEUE and at most one JSON payload");
	queue = argv[optind];
	if (etl_queue_name_valid(queue, &err) != 0)
		cli_usage_error(&cl, "%s", err.message);
	if (ndjson != NULL) {
		size_t n, i;
		char **texts;
		long sent;

		if (argc - optind != 1)
			cli_usage_error(&cl, "--ndjson takes no JSON argument");
		if (group != NULL)
			cli_usage_error(&cl, "--group goes with one job (many: etl.send in SQL, "
			    "with its group_key option)");
		texts = read_ndjson(&cl, ndjson, &n);
		c = cli_connect(&cl);
		sent = etl_send_many(c, queue, (const char *const *)texts, n, &o, &err);
		etl_disconnect(c);
		for (i = 0; i < n; i++)
			free(texts[i]);
		free(texts);
		if (sent < 0)
			cli_fail(&cl, &err);
		if (cl.json)
			printf("{\"sent\": %ld}\n", sent);
		else
			printf("%ld\n", sent);
		return 0;
	}
	if (o.debounce && o.singleton_seconds <= 0)
		cli_usage_error(&cl, "--debounce goes with --singleton-seconds");
	data = argc - optind == 2 ? cli_json_text(&cl, argv[optind + 1]) : xstrdup("{}");
	c = cli_connect(&cl);
	if ((rc = etl_send_group(c, queue, data, &o, group, id, &err)) < 0) {
		etl_disconnect(c);
		cli_fail(&cl, &err);
	}
	etl_disconnect(c);
	free(data);
	free(after_buf);
	if (rc == 1) {
		/* kept out by the policy or the throttle: not an error, but no id */
		fprintf(stderr, "etl send: %s\n", err.message);
		if (cl.json)
			puts("{\"id\": null}");
		return 0;
	}
	if (*err.message)
		fprintf(stderr, "etl send: %s\n", err.message);
	if (cl.json)
		printf("{\"id\": \"%s\"}\n", id);
	else
		puts(id);
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "state", required_argument, NULL, OPT_STATE },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "data", required_argument, NULL, OPT_DATA },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "ls", "usage: etl ls [--queue Q] [--state S] [--key K] [--data JSON] "
	    "[--limit N] [--json]\n\n"
	    "List jobs, newest first (default limit 100).  States: created, retry, active,\n"
	    "completed, cancelled, failed.  --key: the jobs of a singleton key; --data: those\n"
	    "whose data contains JSON ('{\"x\": 1}' matches {\"x\": 1, \"y\": 2}).\n", NULL, 0 };
	const char *queue = NULL, *state = NULL, *key = NULL, *data = NULL;
	long limit = 100;
	etl_error err;
	etl_conn *c;
	cJSON *list, *j;
	int ch, tsv;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_QUEUE:
			queue = optarg;
			break;
		case OPT_STATE:
			state = optarg;
			break;
		case OPT_LIMIT:
			limit = cli_long(&cl, optarg, 1, 1000000, "--limit");
			break;
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_DATA:
			data = optarg;
			break;
		default:
			cli_common_opt(&cl, ch);
		}
	}
	if (optind != argc)
		cli_usage_error(&cl, "takes no arguments");
	c = cli_connect(&cl);
	list = etl_job_search(c, queue, state, key, data, limit, &err);
	etl_disconnect(c);
	if (list == NULL)
		cli_fail(&cl, &err);
	if (cl.json) {
		cli_print_json(list);
		return 0;
	}
	/* aligned for a person, tab-separated for a pipe */
	tsv = !isatty(STDOUT_FILENO);
	printf(tsv ? "%s\t%s\t%s\t%s\t%s\t%s\n" : "%-36s %-16s %-9s %-5s %-8s %s\n", "ID",
	    "QUEUE", "STATE", "RETRY", "CONTEXT", "CREATED");
	cJSON_ArrayForEach(j, list) {
		char a[64], b[80], d[16], e[16], f[24], g[64];
		const cJSON *age = cJSON_GetObjectItemCaseSensitive(j, "age_seconds");

		if (!tsv && cJSON_IsNumber(age)) {
			/* a person reads "3m ago" faster than a timestamp */
			double s = age->valuedouble;

			snprintf(g, sizeof(g), s < 120 ? "%.0fs ago" : s < 7200 ? "%.0fm ago" :
			    s < 172800 ? "%.0fh ago" : "%.0fd ago", s < 120 ? s : s < 7200 ? s / 60 :
			    s < 172800 ? s / 3600 : s / 86400);
			printf("%-36s %-16s %-9s %-5s %-8s %s\n", cli_field(j, "id", a, sizeof(a)),
			    cli_field(j, "queue", b, sizeof(b)), cli_field(j, "state", d, sizeof(d)),
			    cli_field(j, "retry_count", e, sizeof(e)),
			    cli_field(j, "etl_context_id", f, sizeof(f)), g);
			continue;
		}
		printf(tsv ? "%s\t%s\t%s\t%s\t%s\t%.19s\n" : "%-36s %-16s %-9s %-5s %-8s %.19s\n",
		    cli_field(j, "id", a, sizeof(a)),
		    cli_field(j, "queue", b, sizeof(b)), cli_field(j, "state", d, sizeof(d)),
		    cli_field(j, "retry_count", e, sizeof(e)),
		    cli_field(j, "etl_context_id", f, sizeof(f)),
		    cli_field(j, "created_on", g, sizeof(g)));
	}
	cJSON_Delete(list);
	return 0;
}

int
cmd_show(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct cli cl = { "show", "usage: etl show JOB [--json]\n\nShow every field of a job.\n",
	    NULL, 0 };
	etl_error err;
	etl_conn *c;
	cJSON *job, *f;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(&cl, ch);
	if (argc - optind != 1)
		cli_usage_error(&cl, "want one JOB id");
	if (etl_uuid_valid(argv[optind]) != 0)
		cli_usage_error(&cl, "bad job id '%.64s': want a uuid", argv[optind]);
	c = cli_connect(&cl);
	job = etl_job_get(c, argv[optind], &err);
	etl_disconnect(c);
	if (job == NULL)
		cli_fail(&cl, &err);
	if (cl.json) {
		cli_print_json(job);
		return 0;
	}
	cJSON_ArrayForEach(f, job) {
		char buf[4096];

		if (cJSON_IsNull(f))
			continue;
		printf("%-18s %s\n", f->string, cli_field(job, f->string, buf, sizeof(buf)));
	}
	cJSON_Delete(job);
	return 0;
}

/* cancel and retry: the same shape, a list of job ids, or every job of --queue. */
static int
ids_command(int argc, char **argv, const char *name, const char *usage,
    long (*fn)(etl_conn *, const char *const *, size_t, etl_error *),
    long (*where)(etl_conn *, const char *, const char *, etl_error *), const char *done)
{
	static const struct option lo[] = {
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "state", required_argument, NULL, OPT_STATE },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { name, usage, NULL, 0 };
	const char *queue = NULL, *state = NULL;
	etl_error err;
	etl_conn *c;
	long n;
	int ch, i;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_QUEUE)
			queue = optarg;
		else if (ch == OPT_STATE)
			state = optarg;
		else
			cli_common_opt(&cl, ch);
	}
	if (queue != NULL) {
		if (optind != argc)
			cli_usage_error(&cl, "want JOB ids or --queue, not both");
		c = cli_connect(&cl);
		n = where(c, queue, state, &err);
		etl_disconnect(c);
		if (n < 0)
			cli_fail(&cl, &err);
		printf("%s %ld job%s of queue %s\n", done, n, n == 1 ? "" : "s", queue);
		return 0;
	}
	if (state != NULL)
		cli_usage_error(&cl, "--state goes with --queue");
	if (optind == argc)
		cli_usage_error(&cl, "want at least one JOB id, or --queue Q");
	for (i = optind; i < argc; i++)
		if (etl_uuid_valid(argv[i]) != 0)
			cli_usage_error(&cl, "bad job id '%.64s': want a uuid", argv[i]);
	c = cli_connect(&cl);
	n = fn(c, (const char *const *)argv + optind, (size_t)(argc - optind), &err);
	etl_disconnect(c);
	if (n < 0)
		cli_fail(&cl, &err);
	printf("%s %ld of %d job%s\n", done, n, argc - optind, argc - optind == 1 ? "" : "s");
	if (n < argc - optind) {
		fprintf(stderr, "etl %s: %ld job%s not found or not in a state to %s\n", name,
		    (long)(argc - optind) - n, (argc - optind) - n == 1 ? "" : "s", name);
		return n == 0 ? EXIT_NOTFOUND : 1;
	}
	return 0;
}

int
cmd_cancel(int argc, char **argv)
{
	return ids_command(argc, argv, "cancel", "usage: etl cancel JOB...\n"
	    "       etl cancel --queue Q [--state S]\n\n"
	    "Cancel jobs that are not finished; a running task is stopped by its controller.\n"
	    "With --queue, every unfinished job of the queue (of state S: created, retry or\n"
	    "active).\n", etl_cancel, etl_cancel_where, "cancelled");
}

int
cmd_rm(int argc, char **argv)
{
	return ids_command(argc, argv, "rm", "usage: etl rm JOB...\n"
	    "       etl rm --queue Q [--state completed|cancelled|failed]\n\n"
	    "Delete finished jobs (completed, cancelled or failed) now, as retention would\n"
	    "later; their journal (contexts and events) is kept.  A job not finished is left:\n"
	    "cancel it first.\n", etl_delete, etl_delete_where, "deleted");
}

int
cmd_retry(int argc, char **argv)
{
	return ids_command(argc, argv, "retry", "usage: etl retry JOB...\n"
	    "       etl retry --queue Q [--state failed|cancelled]\n\n"
	    "Queue failed or cancelled jobs again, to run now.  A job cancelled while its task\n"
	    "runs is refused until that task has ended (exit 1); with --queue it is left out.\n",
	    etl_retry, etl_retry_where, "re-queued");
}
