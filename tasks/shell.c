/*
 * shell: run a command.  Payload {"argv": ["prog", "arg", ...]} runs it directly (no
 * shell); {"command": "a | b", "shell": true} runs /bin/sh -c.  "timeout" (seconds,
 * default none) stops it (SIGTERM to its process group, SIGKILL 5 s later).  Its output
 * goes to the job's log.  FINAL {"exit_status": 0, "seconds": T}; a non-zero exit or a
 * signal is a failure naming it (retried per the queue), a timeout too.
 */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etl.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static cJSON *
shell(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *av = cJSON_GetObjectItemCaseSensitive(p, "argv");
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(p, "command");
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(p, "timeout");
	int use_shell = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "shell"));
	double limit = cJSON_IsNumber(to) && to->valuedouble > 0 ? to->valuedouble : 0;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	double t0 = now(), killed_at = 0;
	char **argv, what[128];
	const cJSON *a;
	int n, i, st, timed_out = 0;
	pid_t pid, r;
	cJSON *out;

	if (use_shell) {
		if (!cJSON_IsString(cmd))
			return etl_fail_task(65, "shell: \"shell\": true wants a \"command\" string");
		if ((argv = calloc(4, sizeof(char *))) == NULL)
			return etl_fail_task(75, "out of memory");
		argv[0] = "/bin/sh";
		argv[1] = "-c";
		argv[2] = cmd->valuestring;
	} else {
		if (!cJSON_IsArray(av) || (n = cJSON_GetArraySize(av)) == 0)
			return etl_fail_task(65, "shell wants {\"argv\": [\"prog\", ...]} (or "
			    "{\"command\": \"...\", \"shell\": true})");
		if ((argv = calloc((size_t)n + 1, sizeof(char *))) == NULL)
			return etl_fail_task(75, "out of memory");
		i = 0;
		cJSON_ArrayForEach(a, av) {
			if (!cJSON_IsString(a)) {
				free(argv);
				return etl_fail_task(65, "shell: argv holds strings only");
			}
			argv[i++] = a->valuestring;
		}
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		free(argv);
		return etl_fail_task(75, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* its own group, so a timeout stops what it started too */
		setpgid(0, 0);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[0], argv);	/* NOLINT(clang-analyzer-core.NonNullParamChecker): argv[0] set above */
		fprintf(stderr, "shell: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(argv);
	setpgid(pid, pid);
	for (;;) {
		r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return etl_fail_task(75, "waitpid: %s", strerror(errno));
		if (!timed_out && ((limit > 0 && now() - t0 > limit) || etl_cancelled())) {
			timed_out = 1;
			killed_at = now();
			kill(-pid, SIGTERM);
		} else if (timed_out && killed_at > 0 && now() - killed_at > 5) {
			kill(-pid, SIGKILL);
			killed_at = 0;
		}
		nanosleep(&tick, NULL);
	}
	/* nothing it started outlives it */
	kill(-pid, SIGKILL);
	if (timed_out)
		return etl_fail_task(75, "%s after %.1f s", etl_cancelled() ? "cancelled" :
		    "timed out", now() - t0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		etl_wstatus_text(st, what, sizeof(what));
		return etl_fail_task(WIFEXITED(st) && WEXITSTATUS(st) == 127 ? 65 : 1,
		    "the command failed: %s", what);
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "exit_status", 0);
	cJSON_AddNumberToObject(out, "seconds", now() - t0);
	return out;
}

ETL_TASK_MAIN(shell)
