/*
 * cmd_debug.c: `etl debug JOB`: attach gdb to the process running a job, on this host,
 * with the task's executable and the etl gdb helper loaded.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "smallfile.h"
#include "xmalloc.h"

enum { OPT_PRINT = 1 };

/* Print s quoted for a POSIX shell. */
static void
shell_quote(const char *s)
{
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:@")
	    == strlen(s) && *s != '\0') {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/*
 * When pid is an etl-keeper: the pid of its task (its first child), or -1 when it has
 * none left; 0 when pid is no keeper (an in-process job's controller, a foreground run).
 */
static pid_t
keeper_child(pid_t pid)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0 || strcmp(buf, "etl-keeper\n") != 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	return atoi(buf) > 0 ? (pid_t)atoi(buf) : -1;
}

int
cmd_debug(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "print", no_argument, NULL, OPT_PRINT },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "debug", "usage: etl debug JOB [--print]\n\n"
	    "Attach gdb to the process running JOB on this host, with the task's executable\n"
	    "and the etl gdb helper (etl-context, etl-initial) loaded.  --print prints the\n"
	    "gdb command instead of running it.  A job sent with --debug-wait waits for it.\n",
	    NULL, 0 };
	char host[256], here[256], state[32], pidbuf[32], stbuf[32], exe[64];
	enum etl_job_state st;
	const char *helper, *args[12];
	etl_error err;
	etl_conn *c;
	cJSON *job;
	long long want_start;
	pid_t pid, tpid;
	int ch, print = 0, n = 0, i;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_PRINT)
			print = 1;
		else
			cli_common_opt(&cl, ch);
	}
	if (argc - optind != 1)
		cli_usage_error(&cl, "want one JOB id");
	if (etl_uuid_valid(argv[optind]) != 0)
		cli_usage_error(&cl, "bad job id '%.64s': want a uuid", argv[optind]);
	c = cli_connect(&cl);
	job = etl_job_get(c, argv[optind], &err);
	etl_disconnect(c);
	if (job == NULL)
		cli_fail(&cl, &err);
	cli_field(job, "state", state, sizeof(state));
	cli_field(job, "host", host, sizeof(host));
	cli_field(job, "pid", pidbuf, sizeof(pidbuf));
	cli_field(job, "pid_start_time", stbuf, sizeof(stbuf));
	cJSON_Delete(job);
	if (etl_job_state_parse(state, &st) != 0)
		fatalx("debug: job %s has an unknown state '%s'", argv[optind], state);
	if (st == ETL_JOB_CREATED || st == ETL_JOB_RETRY) {
		fprintf(stderr, "etl debug: job %s has not started yet (%s): send it with "
		    "--debug-wait to catch its start\n", argv[optind], state);
		return EXIT_NOTFOUND;
	}
	if (st != ETL_JOB_ACTIVE) {
		fprintf(stderr, "etl debug: job %s is %s: no process to attach to (`etl run "
		    "--context` runs a failed job again)\n", argv[optind], state);
		return 1;
	}
	if (gethostname(here, sizeof(here)) != 0)
		here[0] = '\0';
	if (strcmp(host, here) != 0) {
		fprintf(stderr, "etl debug: job %s runs on host %s, not here (%s): run etl debug "
		    "there\n", argv[optind], host, here);
		return 1;
	}
	pid = (pid_t)atoi(pidbuf);
	want_start = *stbuf ? atoll(stbuf) : -1;
	if (pid <= 0) {
		fprintf(stderr, "etl debug: job %s has no process yet\n", argv[optind]);
		return EXIT_NOTFOUND;
	}
	if (etl_pid_start_time(pid) < 0 || etl_pid_start_time(pid) != want_start) {
		fprintf(stderr, "etl debug: job %s: its process %d is gone\n", argv[optind],
		    (int)pid);
		return 1;
	}
	/* a detached task's recorded pid is its keeper's (etl-keeper(8)): its child is it */
	if ((tpid = keeper_child(pid)) < 0) {
		fprintf(stderr, "etl debug: job %s: its task has ended (its keeper %d is "
		    "finishing)\n", argv[optind], (int)pid);
		return 1;
	}
	if (tpid > 0) {
		pid = tpid;
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	}
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)pid);
	args[n++] = "gdb";
	args[n++] = "-q";
	args[n++] = "-p";
	args[n++] = pidbuf;
	if ((helper = cli_gdb_helper()) != NULL) {
		args[n++] = "-x";
		args[n++] = helper;
	}
	args[n++] = exe;
	args[n] = NULL;
	if (print) {
		for (i = 0; i < n; i++) {
			if (i)
				putchar(' ');
			shell_quote(args[i]);
		}
		putchar('\n');
		return 0;
	}
	fflush(NULL);
	execvp("gdb", (char *const *)args);
	fprintf(stderr, "etl debug: cannot run gdb: %s\n", strerror(errno));
	return 1;
}
