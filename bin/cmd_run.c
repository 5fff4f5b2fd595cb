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

enum { OPT_JOB_PG_ENV = 1 };

static const char run_usage[] =
    "usage: etl run TASK [JSON|-] [--job-pg-env NAME]\n\n"
    "Run TASK (a name on the task path, $ETL_TASK_PATH) in the foreground with JSON as\n"
    "its INITIAL payload (default {}; - reads stdin).  The run is recorded as a job with\n"
    "its own EtlContext and events; its output goes to this terminal.  The exit status\n"
    "is the task's (128+N when killed by signal N).\n";

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
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "run", run_usage, NULL, 0 };
	char path[PATH_MAX], host[256], buf[64], state[32];
	struct sigaction ign, old_int, old_quit, old_pipe;
	const char *job_pg_env = NULL;
	etl_conn *c, *cc;
	etl_error err;
	etl_job *job;
	char *data, *initial;
	int64_t since;
	cJSON *payload;
	pid_t pid;
	int ch, fds[2], wstatus;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_JOB_PG_ENV)
			job_pg_env = optarg;
		else
			cli_common_opt(&cl, ch);
	}
	if (argc - optind < 1 || argc - optind > 2)
		cli_usage_error(&cl, "want a TASK and at most one JSON payload");
	if (etl_task_resolve(NULL, argv[optind], 0, path, sizeof(path), &err) != 0)
		cli_fail(&cl, &err);
	payload = argc - optind == 2 ? cli_json_arg(&cl, argv[optind + 1]) :
	    cJSON_CreateObject();
	if ((data = cJSON_PrintUnformatted(payload)) == NULL)
		fatalx("out of memory");
	cJSON_Delete(payload);
	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));

	c = cli_connect(&cl);
	cc = c;
	if (job_pg_env != NULL) {
		struct cli ccl = cl;

		ccl.pg_env = job_pg_env;
		cc = cli_connect(&ccl);
	}
	if (etl_job_create_running(c, argv[optind], data, job_pg_env, host, &job, &err) != 0 ||
	    etl_job_prepare(c, cc, job, &initial, &since, &err) != 0)
		cli_fail(&cl, &err);
	free(data);

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
		snprintf(buf, sizeof(buf), "%lld", (long long)job->etl_context_id);
		setenv_or_die("ETL_CONTEXT_ID", buf);
		setenv_or_die("ETL_JOB_ID", job->id);
		setenv_or_die("ETL_QUEUE", job->queue);
		setenv_or_die("ETL_TASK", argv[optind]);
		setenv_or_die("ETL_ATTEMPT", "1");
		setenv_or_die("ETL_PG_ENV", etl_conn_pg_env(cc));
		setenv_or_die("ETL_QUEUE_PG_ENV", etl_conn_pg_env(c));
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
	if (etl_job_finish(c, cc, job, since, wstatus, NULL, state, sizeof(state), &err) != 0)
		log_warnx("run: the task ended (%s) but its end could not be recorded: %s",
		    etl_wstatus_text(wstatus, buf, sizeof(buf)), err.message);
	else if (etl_outcome_of(wstatus) != ETL_OUT_OK)
		fprintf(stderr, "etl run: %s %s: %s (job %s, context %lld)\n", argv[optind],
		    state, etl_wstatus_text(wstatus, buf, sizeof(buf)), job->id,
		    (long long)job->etl_context_id);
	if (cc != c)
		etl_disconnect(cc);
	etl_disconnect(c);
	etl_job_free(job);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return WEXITSTATUS(wstatus);
}
