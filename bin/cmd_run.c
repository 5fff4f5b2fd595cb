/*
 * cmd_run.c: `etl run TASK [JSON|-]`: run a task here, in the foreground, with no
 * controller.  The run is recorded like any job: a job row, a new context with its
 * INITIAL event, then FINAL or ERROR and the job's end.  Exits with the task's status.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

enum { OPT_JOB_PG_ENV = 1, OPT_GDB, OPT_CONTEXT };

static const char run_usage[] =
    "usage: etl run TASK [JSON|-] [--job-pg-env NAME] [--gdb]\n"
    "       etl run --context ID [--gdb]\n\n"
    "Run TASK (a name on the task path, $ETL_TASK_PATH) in the foreground with JSON as\n"
    "its INITIAL payload (default {}; - reads stdin).  The run is recorded as a job with\n"
    "its own EtlContext and events; its output goes to this terminal.  The exit status\n"
    "is the task's (128+N when killed by signal N).\n\n"
    "  --context ID   run again the task of context ID (not DONE) from its stored\n"
    "                 INITIAL: how a failed job is debugged after the fact\n"
    "  --gdb          run the task under gdb with its INITIAL on stdin and the etl gdb\n"
    "                 helper loaded (type `run`); $ETL_GDB_ARGS adds gdb arguments,\n"
    "                 e.g. '-batch -ex run'\n"
    "  ETL_DEBUG_WAIT=1  the task waits for a debugger to attach before it starts\n";

/* Run gdb on path with the INITIAL (in file) as the program's stdin; gdb's status. */
static int
run_gdb(const char *path, const char *file)
{
	char *args = getenv("ETL_GDB_ARGS") ? xstrdup(getenv("ETL_GDB_ARGS")) : NULL;
	char *argv[64], *setargs, *tok, *save = NULL;
	const char *helper = cli_gdb_helper();
	int n = 0, wstatus;
	pid_t pid;

	xasprintf(&setargs, "set args < %s", file);
	argv[n++] = "gdb";
	argv[n++] = "-q";
	if (helper != NULL) {
		argv[n++] = "-x";
		argv[n++] = (char *)helper;
	}
	argv[n++] = "-ex";
	argv[n++] = setargs;
	for (tok = args ? strtok_r(args, " \t", &save) : NULL; tok != NULL && n < 60;
	    tok = strtok_r(NULL, " \t", &save))
		argv[n++] = tok;
	argv[n++] = (char *)path;
	argv[n] = NULL;
	if (args == NULL)
		fprintf(stderr, "etl run: the INITIAL event is on the task's stdin: type `run`; "
		    "`etl-context` and `etl-initial` show what the task got\n");
	fflush(NULL);
	if ((pid = fork()) < 0)
		fatal("fork");
	if (pid == 0) {
		execvp("gdb", argv);
		fprintf(stderr, "etl run: cannot run gdb: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			fatal("waitpid");
	free(setargs);
	free(args);
	return wstatus;
}

static void
setenv_or_die(const char *k, const char *v)
{
	if (setenv(k, v, 1) != 0)
		fatal("setenv %s", k);
}

/* Write all of buf to fd; a task that closes stdin early is not our error. */
static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EPIPE)
				log_warn("writing the INITIAL event to the task");
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

int
cmd_run(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "job-pg-env", required_argument, NULL, OPT_JOB_PG_ENV },
		{ "gdb", no_argument, NULL, OPT_GDB },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "run", run_usage, NULL, 0 };
	char path[PATH_MAX], host[256], buf[64];
	enum etl_job_state state = ETL_JOB_FAILED;
	struct sigaction ign, old_int, old_quit, old_pipe;
	const char *job_pg_env = NULL, *ctxarg = NULL, *taskname;
	char tmpf[] = "/tmp/etl-initial.XXXXXX";
	etl_conn *c, *cc;
	etl_error err;
	etl_job *job;
	char *initial;
	int64_t since;
	pid_t pid;
	int ch, fds[2], wstatus, gdb = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_JOB_PG_ENV)
			job_pg_env = optarg;
		else if (ch == OPT_GDB)
			gdb = 1;
		else if (ch == OPT_CONTEXT)
			ctxarg = optarg;
		else
			cli_common_opt(&cl, ch);
	}
	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));
	if (ctxarg != NULL) {
		int64_t id = (int64_t)cli_long(&cl, ctxarg, 1, 0x7fffffffffffffffL, "--context");

		if (argc - optind != 0 || job_pg_env != NULL)
			cli_usage_error(&cl, "--context takes no TASK, JSON or --job-pg-env");
		c = cc = cli_connect(&cl);
		if (etl_job_rerun(c, id, host, &job, &err) != 0)
			cli_fail(&cl, &err);
		/* the task its queue's owner configured, or the one that made the context */
		if (etl_task_resolve(NULL, job->task, 1, path, sizeof(path), &err) != 0)
			cli_fail(&cl, &err);
		since = job->since;
		if ((initial = etl_initial_text(job, etl_conn_pg_env(c), &err)) == NULL)
			cli_fail(&cl, &err);
		taskname = job->task;
	} else {
		char *data;

		if (argc - optind < 1 || argc - optind > 2)
			cli_usage_error(&cl, "want a TASK and at most one JSON payload");
		if (etl_task_resolve(NULL, argv[optind], 0, path, sizeof(path), &err) != 0)
			cli_fail(&cl, &err);
		data = argc - optind == 2 ? cli_json_text(&cl, argv[optind + 1]) : xstrdup("{}");
		c = cli_connect(&cl);
		cc = c;
		if (job_pg_env != NULL) {
			struct cli ccl = cl;

			ccl.pg_env = job_pg_env;
			cc = cli_connect(&ccl);
		}
		if (etl_job_create_running(c, argv[optind], data, job_pg_env, host, &job,
		    &err) != 0 || etl_job_prepare(c, cc, job, &initial, &since, &err) != 0)
			cli_fail(&cl, &err);
		free(data);
		taskname = argv[optind];
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)job->etl_context_id);
	setenv_or_die("ETL_CONTEXT_ID", buf);
	setenv_or_die("ETL_JOB_ID", job->id);
	setenv_or_die("ETL_QUEUE", job->queue);
	setenv_or_die("ETL_TASK", taskname);
	setenv_or_die("ETL_ATTEMPT", "1");
	setenv_or_die("ETL_PG_ENV", etl_conn_pg_env(cc));
	setenv_or_die("ETL_QUEUE_PG_ENV", etl_conn_pg_env(c));
	if (gdb) {
		int fd = mkstemp(tmpf);

		if (fd < 0)
			fatal("mkstemp");
		write_all(fd, initial, strlen(initial));
		close(fd);
		free(initial);
		wstatus = run_gdb(path, tmpf);
		unlink(tmpf);
		/* gdb's status is not the task's: what the task recorded decides */
		if (etl_job_finish(c, cc, job, since, -1, NULL, &state, &err) != 0)
			log_warnx("run: could not record the end: %s", err.message);
		else
			fprintf(stderr, "etl run: %s under gdb: job %s %s (context %lld)\n",
			    taskname, job->id, etl_job_state_name(state),
			    (long long)job->etl_context_id);
		if (cc != c)
			etl_disconnect(cc);
		etl_disconnect(c);
		etl_job_free(job);
		return WIFEXITED(wstatus) && state == ETL_JOB_COMPLETED ? 0 : 1;
	}

	/* like system(3): the terminal's ^C and ^\ are for the task; we record its end */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	sigaction(SIGPIPE, &ign, &old_pipe);

	if (pipe2(fds, O_CLOEXEC) != 0)
		fatal("pipe");
	fflush(NULL);
	if ((pid = fork()) < 0)
		fatal("fork");
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		sigaction(SIGPIPE, &old_pipe, NULL);
		if (dup2(fds[0], STDIN_FILENO) < 0)
			_exit(127);
		closefrom(STDERR_FILENO + 1);
		execl(path, path, (char *)NULL);
		fprintf(stderr, "etl run: cannot execute %s: %s\n", path, strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	close(fds[0]);
	if (etl_job_set_process(c, job->id, pid, etl_pid_start_time(pid), host, NULL, &err) != 0)
		log_warnx("run: %s", err.message);
	write_all(fds[1], initial, strlen(initial));
	close(fds[1]);
	free(initial);
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			fatal("waitpid");
	if (etl_job_finish(c, cc, job, since, wstatus, NULL, &state, &err) != 0)
		log_warnx("run: the task ended (%s) but its end could not be recorded: %s",
		    etl_wstatus_text(wstatus, buf, sizeof(buf)), err.message);
	else if (etl_outcome_of(wstatus) != ETL_OUT_OK)
		fprintf(stderr, "etl run: %s %s: %s (job %s, context %lld)\n", taskname,
		    etl_job_state_name(state), etl_wstatus_text(wstatus, buf, sizeof(buf)), job->id,
		    (long long)job->etl_context_id);
	if (cc != c)
		etl_disconnect(cc);
	etl_disconnect(c);
	etl_job_free(job);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}
