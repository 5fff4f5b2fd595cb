/*
 * cmd_flow.c: workflows from the command line: `etl batch new|close|retry|show`,
 * `etl schedule add|ls|rm`, `etl redrive`.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

enum { OPT_ON_SUCCESS = 1, OPT_ON_DISCARD, OPT_ON_FINISH, OPT_DATA, OPT_TZ, OPT_PRIORITY,
    OPT_SKEY, OPT_SSECS, OPT_RETRY_LIMIT, OPT_RETRY_DELAY, OPT_EXPIRE, OPT_JOB_PG_ENV };

static const char batch_usage[] =
    "usage: etl batch new [--on-success Q] [--on-discard Q] [--on-finish Q] [--data JSON]\n"
    "       etl batch close ID\n"
    "       etl batch retry ID\n"
    "       etl batch show ID [--json]\n\n"
    "A batch groups jobs (etl send Q --batch ID).  Once it is closed and all its jobs\n"
    "are finished, a job goes to on_finish, and to on_success if all completed; the\n"
    "first job failing for good sends one to on_discard.  Each fires exactly once; its\n"
    "payload has the batch id, its counts and --data.  retry re-queues the failed jobs\n"
    "and re-arms the callbacks.  Jobs (callbacks too) may add jobs to a batch\n"
    "($ETL_BATCH_ID).\n";

/* The one ID argument of close/retry/show, after the common options. */
static const char *
one_id(struct cli *cl, int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(cl, ch);
	if (argc - optind != 1)
		cli_usage_error(cl, "want one batch ID");
	if (etl_uuid_valid(argv[optind]) != 0)
		cli_usage_error(cl, "bad batch id '%.64s': want a uuid", argv[optind]);
	return argv[optind];
}

static int
batch_new(struct cli *cl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "on-success", required_argument, NULL, OPT_ON_SUCCESS },
		{ "on-discard", required_argument, NULL, OPT_ON_DISCARD },
		{ "on-finish", required_argument, NULL, OPT_ON_FINISH },
		{ "data", required_argument, NULL, OPT_DATA },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	const char *on_success = NULL, *on_discard = NULL, *on_finish = NULL;
	char id[ETL_ID_LEN];
	cJSON *data = NULL;
	etl_error err;
	etl_conn *c;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_ON_SUCCESS:
			on_success = optarg;
			break;
		case OPT_ON_DISCARD:
			on_discard = optarg;
			break;
		case OPT_ON_FINISH:
			on_finish = optarg;
			break;
		case OPT_DATA:
			cJSON_Delete(data);
			data = cli_json_arg(cl, optarg);
			break;
		default:
			cli_common_opt(cl, ch);
		}
	}
	if (optind != argc)
		cli_usage_error(cl, "takes no arguments");
	c = cli_connect(cl);
	if (etl_batch_new(c, on_success, on_discard, on_finish, data, id, &err) != 0)
		cli_fail(cl, &err);
	etl_disconnect(c);
	cJSON_Delete(data);
	if (cl->json)
		printf("{\"id\": \"%s\"}\n", id);
	else
		puts(id);
	return 0;
}

int
cmd_batch(int argc, char **argv)
{
	struct cli cl = { "batch", batch_usage, NULL, 0 };
	etl_error err;
	etl_conn *c;
	const char *id;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fputs(batch_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cli_argv = argv + 1;
	if (strcmp(argv[1], "new") == 0) {
		cl.cmd = "batch new";
		return batch_new(&cl, argc - 1, argv + 1);
	}
	if (strcmp(argv[1], "close") == 0) {
		cl.cmd = "batch close";
		id = one_id(&cl, argc - 1, argv + 1);
		c = cli_connect(&cl);
		if (etl_batch_close(c, id, &err) != 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		printf("batch %s closed\n", id);
		return 0;
	}
	if (strcmp(argv[1], "retry") == 0) {
		long n;

		cl.cmd = "batch retry";
		id = one_id(&cl, argc - 1, argv + 1);
		c = cli_connect(&cl);
		if ((n = etl_batch_retry(c, id, &err)) < 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		printf("re-queued %ld failed job%s of batch %s\n", n, n == 1 ? "" : "s", id);
		return 0;
	}
	if (strcmp(argv[1], "show") == 0) {
		cJSON *b, *f;

		cl.cmd = "batch show";
		id = one_id(&cl, argc - 1, argv + 1);
		c = cli_connect(&cl);
		if ((b = etl_batch_get(c, id, &err)) == NULL)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		if (cl.json) {
			cli_print_json(b);
			return 0;
		}
		cJSON_ArrayForEach(f, b) {
			char buf[2048];

			if (!cJSON_IsNull(f))
				printf("%-14s %s\n", f->string, cli_field(b, f->string, buf,
				    sizeof(buf)));
		}
		cJSON_Delete(b);
		return 0;
	}
	cli_usage_error(&cl, "unknown subcommand '%.40s': want new, close, retry or show",
	    argv[1]);
}

static const char schedule_usage[] =
    "usage: etl schedule add NAME QUEUE 'CRON' [JSON] [--tz ZONE] [job options]\n"
    "       etl schedule ls [--json]   (with the next three fire times)\n"
    "       etl schedule rm NAME\n\n"
    "Job options, for each job a tick sends (default: the queue's):\n"
    "  --priority N  --singleton-key KEY  --singleton-seconds S  --retry-limit N\n"
    "  --retry-delay SEC  --expire-seconds SEC  --job-pg-env NAME\n\n"
    "CRON is 'minute hour day-of-month month day-of-week' with *, ranges (1-5), steps\n"
    "(*/15, 10-50/20), lists (1,15), month and day names (jan, mon), or @hourly, @daily,\n"
    "@weekly, @monthly, @yearly.  Each tick enqueues exactly one job, whatever the\n"
    "number of controllers, in the time zone --tz (default UTC); a DST fall-back does not\n"
    "run a minute twice.\n";

int
cmd_schedule(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "tz", required_argument, NULL, OPT_TZ },
		{ "priority", required_argument, NULL, OPT_PRIORITY },
		{ "singleton-key", required_argument, NULL, OPT_SKEY },
		{ "singleton-seconds", required_argument, NULL, OPT_SSECS },
		{ "retry-limit", required_argument, NULL, OPT_RETRY_LIMIT },
		{ "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
		{ "expire-seconds", required_argument, NULL, OPT_EXPIRE },
		{ "job-pg-env", required_argument, NULL, OPT_JOB_PG_ENV },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "schedule", schedule_usage, NULL, 0 };
	const char *tz = NULL;
	cJSON *opts;
	etl_error err;
	etl_conn *c;
	int ch;

	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		fputs(schedule_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cli_argv = argv + 1;
	argc--;
	argv++;
	opts = cJSON_CreateObject();
	cl.cmd = strcmp(argv[0], "add") == 0 ? "schedule add" : strcmp(argv[0], "ls") == 0 ?
	    "schedule ls" : strcmp(argv[0], "rm") == 0 ? "schedule rm" : "schedule";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case OPT_TZ:
			tz = optarg;
			break;
		case OPT_PRIORITY:
			cJSON_AddNumberToObject(opts, "priority",
			    (double)cli_long(&cl, optarg, -1000000, 1000000, "--priority"));
			break;
		case OPT_SKEY:
			cJSON_AddStringToObject(opts, "singleton_key", optarg);
			break;
		case OPT_SSECS:
			cJSON_AddNumberToObject(opts, "singleton_seconds",
			    cli_double(&cl, optarg, 0.001, 3e9, "--singleton-seconds"));
			break;
		case OPT_RETRY_LIMIT:
			cJSON_AddNumberToObject(opts, "retry_limit",
			    (double)cli_long(&cl, optarg, 0, 1000000, "--retry-limit"));
			break;
		case OPT_RETRY_DELAY:
			cJSON_AddNumberToObject(opts, "retry_delay",
			    (double)cli_long(&cl, optarg, 0, 100000000, "--retry-delay"));
			break;
		case OPT_EXPIRE:
			cJSON_AddNumberToObject(opts, "expire_seconds",
			    (double)cli_long(&cl, optarg, 1, 100000000, "--expire-seconds"));
			break;
		case OPT_JOB_PG_ENV:
			if (etl_pg_env_valid(optarg) != 0)
				cli_usage_error(&cl, "bad --job-pg-env '%.64s'", optarg);
			cJSON_AddStringToObject(opts, "pg_env", optarg);
			break;
		default:
			cli_common_opt(&cl, ch);
		}
	}
	if (strcmp(argv[0], "add") != 0) {
		if (cJSON_GetArraySize(opts) > 0)
			cli_usage_error(&cl, "job options go with schedule add");
		cJSON_Delete(opts);
		opts = NULL;
	}
	if (strcmp(argv[0], "add") == 0) {
		cJSON *data;
		etl_cron cr;

		if (argc - optind < 3 || argc - optind > 4)
			cli_usage_error(&cl, "want NAME QUEUE 'CRON' [JSON]");
		if (etl_cron_parse(argv[optind + 2], &cr, &err) != 0)
			cli_usage_error(&cl, "%s", err.message);
		data = argc - optind == 4 ? cli_json_arg(&cl, argv[optind + 3]) :
		    cJSON_CreateObject();
		c = cli_connect(&cl);
		if (etl_schedule_add_opts(c, argv[optind], argv[optind + 1], argv[optind + 2], data,
		    tz, opts, &err) != 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		cJSON_Delete(data);
		cJSON_Delete(opts);
		printf("schedule %s: '%s' to queue %s (%s)\n", argv[optind], argv[optind + 2],
		    argv[optind + 1], tz ? tz : "UTC");
		return 0;
	}
	if (strcmp(argv[0], "ls") == 0) {
		cJSON *list, *s;
		char *text;

		if (argc - optind != 0)
			cli_usage_error(&cl, "takes no arguments");
		c = cli_connect(&cl);
		/* the view etl-api serves: each schedule with its next fire times */
		if ((text = etl_view_schedules(c, &err)) == NULL)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		if (cl.json) {
			puts(text);
			free(text);
			return 0;
		}
		list = cJSON_Parse(text);
		free(text);
		printf("%-20s %-16s %-20s %-16s %-20s %s\n", "NAME", "QUEUE", "CRON", "TIMEZONE",
		    "LAST TICK", "NEXT");
		cJSON_ArrayForEach(s, list) {
			char a[80], b[80], d[120], e[80], f[64];
			const cJSON *nx = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s,
			    "next"), 0);

			printf("%-20s %-16s %-20s %-16s %-20.19s %.19s\n",
			    cli_field(s, "name", a, sizeof(a)), cli_field(s, "queue", b, sizeof(b)),
			    cli_field(s, "cron", d, sizeof(d)), cli_field(s, "timezone", e, sizeof(e)),
			    *cli_field(s, "last_tick", f, sizeof(f)) ? f : "-",
			    cJSON_IsString(nx) ? nx->valuestring : "-");
		}
		cJSON_Delete(list);
		return 0;
	}
	if (strcmp(argv[0], "rm") == 0) {
		if (argc - optind != 1)
			cli_usage_error(&cl, "want one schedule NAME");
		c = cli_connect(&cl);
		if (etl_schedule_rm(c, argv[optind], &err) != 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		printf("schedule %s removed\n", argv[optind]);
		return 0;
	}
	cli_usage_error(&cl, "unknown subcommand '%.40s': want add, ls or rm", argv[0]);
}

int
cmd_redrive(int argc, char **argv)
{
	enum { OPT_LIMIT = 1 };
	static const struct option lo[] = { COMMON_LONGOPTS,
		{ "limit", required_argument, NULL, OPT_LIMIT }, { NULL, 0, NULL, 0 } };
	struct cli cl = { "redrive", "usage: etl redrive QUEUE [--limit N]\n\n"
	    "Move the dead-lettered jobs waiting in QUEUE back to the queues they failed in,\n"
	    "once each; with --limit, at most N of them, the oldest first.\n", NULL, 0 };
	etl_error err;
	etl_conn *c;
	long n, limit = 0;
	int ch;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_LIMIT)
			limit = cli_long(&cl, optarg, 1, 1000000000L, "--limit");
		else
			cli_common_opt(&cl, ch);
	}
	if (argc - optind != 1)
		cli_usage_error(&cl, "want one QUEUE");
	c = cli_connect(&cl);
	if ((n = etl_redrive_limit(c, argv[optind], limit, &err)) < 0)
		cli_fail(&cl, &err);
	etl_disconnect(c);
	printf("redrove %ld job%s\n", n, n == 1 ? "" : "s");
	return 0;
}

static const char group_usage[] =
    "usage: etl group set KEY N\n"
    "       etl group rm KEY\n"
    "       etl group ls [--json]\n\n"
    "Groups across queues (pg-boss's groups): at most N jobs sent with --group KEY run at\n"
    "once, whatever their queues; the others wait their turn.  ls shows each group with\n"
    "its active and waiting jobs.\n";

int
cmd_group(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONGOPTS, { NULL, 0, NULL, 0 } };
	struct cli cl = { "group", group_usage, NULL, 0 };
	etl_error err;
	etl_conn *c;
	cJSON *list, *g;
	char a[256], b[32], d[32], e[32];
	int ch;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(group_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	cli_argv = argv + 1;
	argc--;
	argv++;
	cl.cmd = strcmp(argv[0], "set") == 0 ? "group set" : strcmp(argv[0], "rm") == 0 ?
	    "group rm" : strcmp(argv[0], "ls") == 0 ? "group ls" : "group";
	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1)
		cli_common_opt(&cl, ch);
	if (strcmp(argv[0], "set") == 0) {
		long n;

		if (argc - optind != 2)
			cli_usage_error(&cl, "want KEY N");
		if (*argv[optind] == '\0' || strlen(argv[optind]) > 200)
			cli_usage_error(&cl, "a group key is 1 to 200 characters");
		n = cli_long(&cl, argv[optind + 1], 1, 1000000, "N");
		c = cli_connect(&cl);
		if (etl_group_set(c, argv[optind], (int)n, &err) != 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		printf("group %s: at most %ld at once\n", argv[optind], n);
		return 0;
	}
	if (strcmp(argv[0], "rm") == 0) {
		if (argc - optind != 1)
			cli_usage_error(&cl, "want KEY");
		c = cli_connect(&cl);
		if (etl_group_rm(c, argv[optind], &err) != 0)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		printf("group %s removed (its jobs run without a cap)\n", argv[optind]);
		return 0;
	}
	if (strcmp(argv[0], "ls") == 0) {
		if (argc - optind != 0)
			cli_usage_error(&cl, "takes no arguments");
		c = cli_connect(&cl);
		if ((list = etl_group_list(c, &err)) == NULL)
			cli_fail(&cl, &err);
		etl_disconnect(c);
		if (cl.json) {
			char *t = cJSON_PrintUnformatted(list);

			puts(t);
			free(t);
			cJSON_Delete(list);
			return 0;
		}
		printf("%-32s %11s %8s %8s\n", "GROUP", "CONCURRENCY", "ACTIVE", "WAITING");
		cJSON_ArrayForEach(g, list)
			printf("%-32.32s %11s %8s %8s\n", cli_field(g, "name", a, sizeof(a)),
			    cli_field(g, "concurrency", b, sizeof(b)), cli_field(g, "active", d, sizeof(d)),
			    cli_field(g, "waiting", e, sizeof(e)));
		cJSON_Delete(list);
		return 0;
	}
	cli_usage_error(&cl, "unknown subcommand '%.40s': want set, rm or ls", argv[0]);
}
