/*
 * spawn.c: the one way the controller starts a task.  The child gets a new session
 * (so it outlives us and can be stopped as a group), default signals, an empty mask,
 * stdin from a pipe, stdout+stderr appended to its log, no other descriptor, and a
 * clean environment.  Never forks the controller's memory.
 */
#include <sys/stat.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "xmalloc.h"

extern char **environ;

pid_t
spawn_task(const char *path, int stdin_fd, int log_fd, const char *cwd, char *const envp[])
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char *argv[2] = { (char *)path, NULL };
	sigset_t none, all;
	pid_t pid;
	int rc;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, stdin_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, log_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, log_fd, STDERR_FILENO);
	/* everything we open is O_CLOEXEC; this makes sure of it */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	if (cwd != NULL)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	rc = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* What a task may inherit from the controller's environment. */
static const char *const env_allow[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR",
	"PGSERVICEFILE", "PGSYSCONFDIR", "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER",
	"PGDATABASE", "PGPASSFILE", "PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY",
	"PGCONNECT_TIMEOUT", "ETL_TASK_PATH", "ETL_MAX_PAYLOAD", "ETL_DEBUG_WAIT_SECONDS",
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", NULL
};

static int
allowed(const char *kv)
{
	size_t i, n = strcspn(kv, "=");

	if (strncmp(kv, "LC_", 3) == 0)
		return 1;
	for (i = 0; env_allow[i] != NULL; i++)
		if (strlen(env_allow[i]) == n && strncmp(kv, env_allow[i], n) == 0)
			return 1;
	return 0;
}

char **
task_env(const etl_job *j, const char *job_pg_env, const char *queue_pg_env)
{
	size_t n = 0, cap = 16, i;
	char **env;

	for (i = 0; environ[i] != NULL; i++)
		cap++;
	env = xcalloc(cap, sizeof(*env));
	for (i = 0; environ[i] != NULL; i++)
		if (allowed(environ[i]))
			env[n++] = xstrdup(environ[i]);
	xasprintf(&env[n++], "ETL_PG_ENV=%s", job_pg_env);
	xasprintf(&env[n++], "ETL_QUEUE_PG_ENV=%s", queue_pg_env);
	xasprintf(&env[n++], "ETL_CONTEXT_ID=%lld", (long long)j->etl_context_id);
	xasprintf(&env[n++], "ETL_JOB_ID=%s", j->id);
	xasprintf(&env[n++], "ETL_QUEUE=%s", j->queue);
	xasprintf(&env[n++], "ETL_TASK=%s", j->task);
	xasprintf(&env[n++], "ETL_ATTEMPT=%d", j->retry_count + 1);
	if (j->debug_wait)
		env[n++] = xstrdup("ETL_DEBUG_WAIT=1");
	if (j->batch_id != NULL)
		xasprintf(&env[n++], "ETL_BATCH_ID=%s", j->batch_id);
	env[n] = NULL;
	return env;
}

void
env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

int
open_log(const char *dir, const char *job_id, char *path, size_t pathsz)
{
	if ((size_t)snprintf(path, pathsz, "%s/%s.log", dir, job_id) >= pathsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* never follow a link someone planted where a log will be */
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
}

char *
log_tail(const char *path, size_t max)
{
	struct stat st;
	char *buf, *start;
	off_t off;
	ssize_t n;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || st.st_size == 0) {
		close(fd);
		return NULL;
	}
	off = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	buf = xmalloc(max + 1);
	n = pread(fd, buf, max, off);
	close(fd);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	start = buf;
	/* start at a line when we cut; keep the text valid for JSON (no NULs) */
	if (off > 0 && (start = strchr(buf, '\n')) != NULL)
		start++;
	else
		start = buf;
	memmove(buf, start, strlen(start) + 1);
	/* the tail goes into a JSON event: keep printable ASCII, tabs and newlines */
	for (start = buf; *start; start++)
		if ((unsigned char)*start >= 0x7f ||
		    ((unsigned char)*start < 0x20 && *start != '\n' && *start != '\t'))
			*start = '?';
	return buf;
}

int
find_core(const char *dir, char *out, size_t outsz)
{
	struct dirent *d;
	struct stat st;
	time_t best = 0;
	char p[PATH_MAX];
	DIR *dp;
	int found = -1;

	if (dir == NULL || (dp = opendir(dir)) == NULL)
		return -1;
	while ((d = readdir(dp)) != NULL) {
		if (strcmp(d->d_name, "core") != 0 && strncmp(d->d_name, "core.", 5) != 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, d->d_name);
		if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_mtime < best)
			continue;
		best = st.st_mtime;
		snprintf(out, outsz, "%s", p);
		found = 0;
	}
	closedir(dp);
	return found;
}
