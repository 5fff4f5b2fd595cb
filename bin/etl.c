/*
 * etl.c: the etl command line (SPEC section 7): global options, then one command from
 * the table below.  Each command lives in a cmd_*.c file and parses its own options.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"

static const struct command {
	const char	*name;
	int		(*fn)(int, char **);
	const char	*summary;
} commands[] = {
	{ "migrate", cmd_migrate, "create or upgrade the etl schema" },
	{ "queue", cmd_queue, "add, list or remove queues (queue add|ls|rm)" },
	{ "send", cmd_send, "enqueue a job (or many with --ndjson)" },
	{ "run", cmd_run, "run a task here, in the foreground, and record it" },
	{ "ls", cmd_ls, "list jobs" },
	{ "show", cmd_show, "show one job" },
	{ "events", cmd_events, "show a context's events (--follow to watch)" },
	{ "logs", cmd_logs, "print a job's log (--follow to watch)" },
	{ "top", cmd_top, "live view: controllers, queues, running jobs with progress" },
	{ "cancel", cmd_cancel, "cancel jobs" },
	{ "retry", cmd_retry, "re-queue failed or cancelled jobs" },
	{ "rm", cmd_rm, "delete finished jobs" },
	{ "batch", cmd_batch, "batches of jobs with callbacks (batch new|close|retry|show)" },
	{ "schedule", cmd_schedule, "cron schedules (schedule add|ls|rm)" },
	{ "redrive", cmd_redrive, "move dead-lettered jobs back to their queues" },
	{ "group", cmd_group, "cap how many jobs of a group run at once, across queues" },
	{ "debug", cmd_debug, "attach gdb to a job's running task (on this host)" },
	{ "dispatch", cmd_dispatch, "record an event (for tasks in any language)" },
	{ "progress", cmd_progress, "record progress (for tasks in any language)" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: etl [--pg-env NAME] COMMAND [ARGS]\n\n"
	    "Run ETL tasks as detached workers with PostgreSQL as queue and journal.\n\n"
	    "Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nEvery command takes --pg-env NAME (a libpq service; default "
	    "$ETL_PG_ENV) and --help;\nread commands take --json.  Exit status: 0 ok, "
	    "1 failed, 2 bad usage, 3 not found.\n");
}

int
main(int argc, char **argv)
{
	int i = 1;
	size_t k;

	log_init("etl", 0);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0) {
			printf("etl %s (schema %d)\n", ETL_VERSION, etl_schema_version());
			return 0;
		} else if (strcmp(argv[i], "--pg-env") == 0 && i + 1 < argc) {
			cli_global_pg_env = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--pg-env=", 9) == 0) {
			cli_global_pg_env = argv[i] + 9;
			i++;
		} else {
			fprintf(stderr, "etl: unknown option '%s' (see `etl --help`)\n", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (k = 0; k < NCOMMANDS; k++)
		if (strcmp(argv[i], commands[k].name) == 0) {
			opterr = 0;
			cli_argv = argv + i;
			return commands[k].fn(argc - i, argv + i);
		}
	fprintf(stderr, "etl: unknown command '%s' (see `etl --help`)\n", argv[i]);
	return EXIT_USAGE;
}
