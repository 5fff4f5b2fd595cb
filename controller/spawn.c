/*
 * spawn.c: the one way the controller starts a task: through etl-keeper, the task's
 * parent that outlives us (see controller/keeper/keeper.c).  The keeper gets a new
 * session (so it outlives us and the job can be stopped as a group), default signals,
 * an empty mask, stdin from a pipe, stdout+stderr appended to the job's log, no other
 * descriptor, and a clean environment, which it hands to the task with the task's user,
 * limits and folder.  posix_spawn (CLONE_VFORK: no copy of the controller's memory).
 * Also: the keeper's status file, the task's environment and log.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "log.h"
#include "smallfile.h"
#include "spawn.h"
#include "xmalloc.h"

extern char **environ;

static char keeper_path[PATH_MAX];
static const char *task_service;	/* --task-service-file */

void
spawn_task_service(const char *file)
{
	task_service = file;
}

int
spawn_init(void)
{
	char self[PATH_MAX];
	const char *env = getenv("ETL_KEEPER");
	ssize_t n;

	if (env != NULL && *env != '\0') {
		strlcpy(keeper_path, env, sizeof(keeper_path));
	} else {
		if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
			return -1;
		self[n] = '\0';
		/* bin/etl-controller and libexec/etl/etl-keeper, installed or in the build */
		if ((size_t)snprintf(keeper_path, sizeof(keeper_path),
		    "%s/../libexec/etl/etl-keeper", dirname(self)) >= sizeof(keeper_path)) {
			errno = ENAMETOOLONG;
			return -1;
		}
	}
	return access(keeper_path, X_OK);
}

const char *
spawn_keeper_path(void)
{
	return keeper_path;
}

pid_t
spawn_task(const struct spawn_req *r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char uid[32], gid[32], lease[32], grace[32], nice[16];
	const char *argv[24];
	sigset_t none, all;
	pid_t pid;
	int rc, n = 0;

	argv[n++] = "etl-keeper";
	argv[n++] = "-s";
	argv[n++] = r->status;
	snprintf(grace, sizeof(grace), "%.3f", r->grace);
	argv[n++] = "-g";
	argv[n++] = grace;
	if (r->lease != NULL) {
		snprintf(lease, sizeof(lease), "%.3f", r->lease_len);
		argv[n++] = "-l";
		argv[n++] = r->lease;
		argv[n++] = "-L";
		argv[n++] = lease;
	}
	if (r->user != NULL) {
		snprintf(uid, sizeof(uid), "%u", (unsigned)r->user->uid);
		snprintf(gid, sizeof(gid), "%u", (unsigned)r->user->gid);
		argv[n++] = "-u";
		argv[n++] = uid;
		argv[n++] = "-G";
		argv[n++] = gid;
	}
	if (r->cwd != NULL) {
		argv[n++] = "-c";
		argv[n++] = r->cwd;
	}
	if (r->limits != NULL && *r->limits != '\0') {
		argv[n++] = "-r";
		argv[n++] = r->limits;
	}
	if (r->nice != 0) {
		snprintf(nice, sizeof(nice), "%d", r->nice);
		argv[n++] = "-n";
		argv[n++] = nice;
	}
	argv[n++] = "--";
	argv[n++] = r->path;
	argv[n] = NULL;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, r->stdin_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, r->log_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, r->log_fd, STDERR_FILENO);
	if (r->secret_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, r->secret_fd, ETL_SECRET_FD);
	/* everything we open is O_CLOEXEC; this makes sure of it */
	posix_spawn_file_actions_addclosefrom_np(&fa, r->secret_fd >= 0 ? ETL_SECRET_FD + 1 :
	    STDERR_FILENO + 1);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	rc = posix_spawn(&pid, keeper_path, &fa, &attr, (char *const *)argv, r->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

int
secret_memfd(const char *secret)
{
	size_t n = strlen(secret);
	int fd;

	if ((fd = memfd_create("etl-run-secret", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
		return -1;
	if (write(fd, secret, n) != (ssize_t)n ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
keeper_status(const char *path, struct keeper_end *e)
{
	char buf[256], *p, *nl;

	memset(e, 0, sizeof(*e));
	if (path == NULL || read_small(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		if (strncmp(p, "wstatus=", 8) == 0)
			e->wstatus = atoi(p + 8);
		else if (strncmp(p, "stopped=", 8) == 0)
			strlcpy(e->stopped, p + 8, sizeof(e->stopped));
		else if (strncmp(p, "exec_errno=", 11) == 0)
			e->exec_errno = atoi(p + 11);
	}
	return strncmp(buf, "wstatus=", 8) == 0 ? 0 : -1;
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
task_env(const etl_job *j, const char *job_pg_env, const char *queue_pg_env,
    const struct spawn_user *u, const char *home)
{
	size_t n = 0, cap = 20, i;
	char **env;

	for (i = 0; environ[i] != NULL; i++)
		cap++;
	env = xcalloc(cap, sizeof(*env));
	for (i = 0; environ[i] != NULL; i++) {
		/* a task run as another user gets its own HOME and USER */
		if (u != NULL && (strncmp(environ[i], "HOME=", 5) == 0 ||
		    strncmp(environ[i], "USER=", 5) == 0 || strncmp(environ[i], "LOGNAME=", 8) == 0))
			continue;
		/* with --task-service-file, tasks log in as that file says, never as we do */
		if (task_service != NULL && (strncmp(environ[i], "PGSERVICEFILE=", 14) == 0 ||
		    strncmp(environ[i], "PGUSER=", 7) == 0 ||
		    strncmp(environ[i], "PGPASSFILE=", 11) == 0))
			continue;
		if (allowed(environ[i]))
			env[n++] = xstrdup(environ[i]);
	}
	if (task_service != NULL)
		xasprintf(&env[n++], "PGSERVICEFILE=%s", task_service);
	if (u != NULL) {
		xasprintf(&env[n++], "HOME=%s", home ? home : "/");
		xasprintf(&env[n++], "USER=%s", u->name);
		xasprintf(&env[n++], "LOGNAME=%s", u->name);
	}
	xasprintf(&env[n++], "ETL_PG_ENV=%s", job_pg_env);
	xasprintf(&env[n++], "ETL_QUEUE_PG_ENV=%s", queue_pg_env);
	xasprintf(&env[n++], "ETL_CONTEXT_ID=%lld", (long long)j->etl_context_id);
	xasprintf(&env[n++], "ETL_JOB_ID=%s", j->id);
	xasprintf(&env[n++], "ETL_QUEUE=%s", j->queue);
	xasprintf(&env[n++], "ETL_TASK=%s", j->task);
	xasprintf(&env[n++], "ETL_ATTEMPT=%d", j->retry_count + 1);
	/* the run's number; its secret is on a descriptor, never in the environment */
	if (j->secret != NULL) {
		xasprintf(&env[n++], "ETL_RUN=%d", j->run);
		xasprintf(&env[n++], "ETL_RUN_TOKEN_FD=%d", ETL_SECRET_FD);
	}
	if (j->debug_wait)
		env[n++] = xstrdup("ETL_DEBUG_WAIT=1");
	if (j->heartbeat_seconds > 0)
		xasprintf(&env[n++], "ETL_HEARTBEAT_SECONDS=%d", j->heartbeat_seconds);
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
