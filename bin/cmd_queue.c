/*
 * cmd_queue.c: `etl migrate` and `etl queue add|ls|rm`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

int
cmd_migrate(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct cli cl = { "migrate", "usage: etl migrate [--pg-env NAME]\n\n"
	    "Create the etl schema, or upgrade it to this build's version.  Idempotent, and\n"
	    "safe when several processes run it at once.\n", NULL, 0 };
	etl_error err;
	etl_conn *c;
	int c_, from, to;

	optind = 0;
	while ((c_ = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(&cl, c_);
	if (optind != argc)
		cli_usage_error(&cl, "takes no arguments");
	c = cli_connect_raw(&cl);
	if (etl_migrate(c, &from, &to, &err) != 0) {
		etl_disconnect(c);
		cli_fail(&cl, &err);
	}
	etl_disconnect(c);
	if (from == to)
		printf("etl schema is at version %d\n", to);
	else
		printf("etl schema upgraded from version %d to %d\n", from, to);
	return 0;
}

/* queue add options: long name, column, kind ('s' string, 'i' int, 'b' bool, 'n' no-bool). */
static const struct qopt {
	const char	*opt;
	const char	*col;
	int		 kind;
} qopts[] = {
	{ "task", "task", 's' },
	{ "policy", "policy", 's' },
	{ "concurrency", "concurrency", 'i' },
	{ "retry-limit", "retry_limit", 'i' },
	{ "retry-delay", "retry_delay", 'i' },
	{ "retry-backoff", "retry_backoff", 'b' },
	{ "no-retry-backoff", "retry_backoff", 'n' },
	{ "retry-delay-max", "retry_delay_max", 'i' },
	{ "expire-seconds", "expire_seconds", 'i' },
	{ "heartbeat-seconds", "heartbeat_seconds", 'i' },
	{ "retention-seconds", "retention_seconds", 'i' },
	{ "dead-letter", "dead_letter", 's' },
	{ "queue-pg-env", "pg_env", 's' },
	{ "keep-cores", "keep_cores", 'b' },
	{ "no-keep-cores", "keep_cores", 'n' },
	{ "run-as", "run_as", 's' },
	{ "rlimit-as", "rlimit_as", 'i' },
	{ "rlimit-cpu", "rlimit_cpu", 'i' },
	{ "rlimit-nofile", "rlimit_nofile", 'i' },
	{ "nice", "nice", 'i' },
	{ "mode", "mode", 's' },
};
#define NQOPTS (sizeof(qopts) / sizeof(qopts[0]))

/* The least value of an int option, as the schema's CHECKs have it (said here first). */
static long
qopt_min(const char *col)
{
	static const char *const positive[] = { "concurrency", "expire_seconds",
	    "heartbeat_seconds", "rlimit_as", "rlimit_cpu", "rlimit_nofile", NULL };
	size_t i;

	if (strcmp(col, "nice") == 0)
		return -20;
	for (i = 0; positive[i] != NULL; i++)
		if (strcmp(col, positive[i]) == 0)
			return 1;
	return 0;
}

static const char queue_usage[] =
    "usage: etl queue add NAME [--task TASK] [options]\n"
    "       etl queue ls [--json]\n"
    "       etl queue rm NAME\n"
    "       etl queue pause NAME | etl queue resume NAME\n\n"
    "A paused queue's jobs wait (none is claimed; running ones run on) until resumed.\n\n"
    "Options of queue add (a new queue needs --task; 'none' clears a limit):\n"
    "  --task TASK               program name on the task path, or an absolute path\n"
    "  --policy P                standard|short|singleton|stately|exclusive\n"
    "  --concurrency N|none      most active jobs of this queue, all controllers\n"
    "  --retry-limit N           retries after the first attempt (2)\n"
    "  --retry-delay SEC         delay before a retry (0)\n"
    "  --retry-backoff           double the delay each retry, with jitter\n"
    "  --no-retry-backoff\n"
    "  --retry-delay-max SEC     cap of the backoff (3600)\n"
    "  --expire-seconds SEC      a job running longer is stopped (900)\n"
    "  --heartbeat-seconds SEC|none  a job whose task does not beat this often is stopped\n"
    "  --retention-seconds SEC   finished jobs are kept this long (1209600)\n"
    "  --dead-letter QUEUE|none  failed jobs are copied there\n"
    "  --queue-pg-env NAME|none  default pg_env of the queue's jobs\n"
    "  --keep-cores              let its tasks dump core, each in a folder of its own\n"
    "  --no-keep-cores\n"
    "  --run-as USER|none        the user its tasks run as when the controller is root\n"
    "  --rlimit-as BYTES|none    address space limit of its tasks (RLIMIT_AS)\n"
    "  --rlimit-cpu SEC|none     CPU time limit (RLIMIT_CPU)\n"
    "  --rlimit-nofile N|none    open files limit (RLIMIT_NOFILE)\n"
    "  --nice N|none             nice value of its tasks (-20..19)\n"
    "  --mode detached|inprocess detached: a process per job (default); inprocess: the\n"
    "                            task's TASK.so runs on a controller thread\n";

static int
queue_add(struct cli *cl, int argc, char **argv)
{
	struct option lo[NQOPTS + 4];
	cJSON *opts = cJSON_CreateObject();
	const cJSON *run_as;
	etl_error err;
	etl_conn *c;
	size_t i;
	int ch, idx, created;

	for (i = 0; i < NQOPTS; i++) {
		lo[i].name = qopts[i].opt;
		lo[i].has_arg = qopts[i].kind == 'b' || qopts[i].kind == 'n' ? no_argument :
		    required_argument;
		lo[i].flag = NULL;
		lo[i].val = 0;
	}
	lo[i++] = (struct option){ "pg-env", required_argument, NULL, OPT_PG_ENV };
	lo[i++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	lo[i++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	lo[i] = (struct option){ NULL, 0, NULL, 0 };

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, &idx)) != -1) {
		const struct qopt *q;

		if (ch != 0) {
			cli_common_opt(cl, ch);
			continue;
		}
		q = &qopts[idx];
		cJSON_DeleteItemFromObjectCaseSensitive(opts, q->col);
		if (q->kind == 'b' || q->kind == 'n')
			cJSON_AddBoolToObject(opts, q->col, q->kind == 'b');
		else if (strcmp(optarg, "none") == 0 && strcmp(q->col, "task") != 0 &&
		    strcmp(q->col, "policy") != 0)
			cJSON_AddNullToObject(opts, q->col);
		else if (q->kind == 'i')
			cJSON_AddNumberToObject(opts, q->col, (double)cli_long(cl, optarg,
			    qopt_min(q->col), strcmp(q->col, "rlimit_as") == 0 ?
			    0x7fffffffffffffffL : strcmp(q->col, "nice") == 0 ? 19 : 2147483647,
			    q->opt));
		else
			cJSON_AddStringToObject(opts, q->col, optarg);
	}
	if (argc - optind != 1)
		cli_usage_error(cl, "want one queue NAME");
	c = cli_connect(cl);
	if (etl_queue_add(c, argv[optind], opts, &created, &err) != 0) {
		etl_disconnect(c);
		cli_fail(cl, &err);
	}
	run_as = cJSON_GetObjectItemCaseSensitive(opts, "run_as");
	if (cJSON_IsString(run_as)) {
		/* a row never chooses who a task runs as: say who would refuse this one */
		char *refusers = etl_run_as_refused(c, run_as->valuestring, &err);

		if (refusers != NULL)
			fprintf(stderr, "etl queue add: note: these controllers do not allow run_as "
			    "'%s' (their --user and --allow-user) and would fail its jobs: %s\n",
			    run_as->valuestring, refusers);
		free(refusers);
	}
	etl_disconnect(c);
	cJSON_Delete(opts);
	printf("queue %s %s\n", argv[optind], created ? "added" : "updated");
	return 0;
}

static int
queue_ls(struct cli *cl, int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	etl_error err;
	etl_conn *c;
	cJSON *list, *q, *cl_counts;
	char *counts;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(cl, ch);
	if (optind != argc)
		cli_usage_error(cl, "takes no arguments");
	c = cli_connect(cl);
	list = etl_queue_list(c, &err);
	/* with the counts etl-api shows: ready, deferred (waiting for a time or other
	 * jobs), active (the view's, numbers small) */
	counts = list ? etl_view_queues(c, &err) : NULL;
	etl_disconnect(c);
	if (list == NULL || counts == NULL)
		cli_fail(cl, &err);
	cl_counts = cJSON_Parse(counts);
	free(counts);
	cJSON_ArrayForEach(q, list) {
		const cJSON *v, *nm = cJSON_GetObjectItemCaseSensitive(q, "name");

		cJSON_ArrayForEach(v, cl_counts) {
			const cJSON *vn = cJSON_GetObjectItemCaseSensitive(v, "name");

			if (cJSON_IsString(nm) && cJSON_IsString(vn) &&
			    strcmp(vn->valuestring, nm->valuestring) == 0) {
				cJSON_AddItemToObject(q, "ready", cJSON_Duplicate(
				    cJSON_GetObjectItemCaseSensitive(v, "ready"), 1));
				cJSON_AddItemToObject(q, "deferred", cJSON_Duplicate(
				    cJSON_GetObjectItemCaseSensitive(v, "deferred"), 1));
				cJSON_AddItemToObject(q, "active", cJSON_Duplicate(
				    cJSON_GetObjectItemCaseSensitive(v, "active"), 1));
			}
		}
	}
	cJSON_Delete(cl_counts);
	if (cl->json) {
		cli_print_json(list);
		return 0;
	}
	printf("%-20s %-24s %-10s %-6s %-6s %-8s %-8s %-7s %-8s %-7s %s\n", "NAME", "TASK",
	    "POLICY", "CONC", "RETRY", "EXPIRE", "PAUSED", "READY", "DEFERRED", "ACTIVE",
	    "DEAD_LETTER");
	cJSON_ArrayForEach(q, list) {
		char a[256], b[256], d[32], e[32], f[32], g[32], h[128], k[16], r1[24], r2[24],
		    r3[24];

		printf("%-20s %-24s %-10s %-6s %-6s %-8s %-8s %-7s %-8s %-7s %s\n",
		    cli_field(q, "name", a, sizeof(a)), cli_field(q, "task", b, sizeof(b)),
		    cli_field(q, "policy", d, sizeof(d)),
		    *cli_field(q, "concurrency", e, sizeof(e)) ? e : "-",
		    cli_field(q, "retry_limit", f, sizeof(f)),
		    cli_field(q, "expire_seconds", g, sizeof(g)),
		    strcmp(cli_field(q, "paused", k, sizeof(k)), "true") == 0 ? "yes" : "no",
		    cli_field(q, "ready", r1, sizeof(r1)), cli_field(q, "deferred", r2, sizeof(r2)),
		    cli_field(q, "active", r3, sizeof(r3)),
		    *cli_field(q, "dead_letter", h, sizeof(h)) ? h : "-");
	}
	cJSON_Delete(list);
	return 0;
}

/* queue rm, pause and resume: one queue NAME each. */
enum queue_act { Q_RM, Q_PAUSE, Q_RESUME };

static int
queue_one(struct cli *cl, int argc, char **argv, enum queue_act act)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	static const char *const done[] = { "removed", "paused", "resumed" };
	etl_error err;
	etl_conn *c;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(cl, ch);
	if (argc - optind != 1)
		cli_usage_error(cl, "want one queue NAME");
	c = cli_connect(cl);
	rc = act == Q_RM ? etl_queue_rm(c, argv[optind], &err) :
	    etl_queue_pause(c, argv[optind], act == Q_PAUSE, &err);
	etl_disconnect(c);
	if (rc != 0)
		cli_fail(cl, &err);
	printf("queue %s %s\n", argv[optind], done[act]);
	return 0;
}

int
cmd_queue(int argc, char **argv)
{
	struct cli cl = { "queue", queue_usage, NULL, 0 };

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fputs(queue_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cli_argv = argv + 1;
	if (strcmp(argv[1], "add") == 0) {
		cl.cmd = "queue add";
		return queue_add(&cl, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "ls") == 0) {
		cl.cmd = "queue ls";
		return queue_ls(&cl, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "rm") == 0) {
		cl.cmd = "queue rm";
		return queue_one(&cl, argc - 1, argv + 1, Q_RM);
	}
	if (strcmp(argv[1], "pause") == 0 || strcmp(argv[1], "resume") == 0) {
		cl.cmd = argv[1][0] == 'p' ? "queue pause" : "queue resume";
		return queue_one(&cl, argc - 1, argv + 1, argv[1][0] == 'p' ? Q_PAUSE : Q_RESUME);
	}
	cli_usage_error(&cl, "unknown subcommand '%.40s': want add, ls, rm, pause or resume",
	    argv[1]);
}
