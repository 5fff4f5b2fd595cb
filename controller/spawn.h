/*
 * spawn.h: starting a task as a detached worker (SPEC section 4, STYLE's one spawn
 * recipe): its environment, its log file, and posix_spawn into a new session.
 */
#ifndef ETL_CONTROLLER_SPAWN_H
#define ETL_CONTROLLER_SPAWN_H

#include <sys/types.h>

#include "etl_stmt.h"

/*
 * Start path in a new session and process group with default signal dispositions and
 * an empty mask, stdin from stdin_fd, stdout and stderr to log_fd, no other descriptor.
 * posix_spawn, not fork: its cost does not grow with the controller's memory.
 * Returns the pid, or -1 with errno set.
 */
/* Who a task runs as when the controller is root (NULL: as the controller). */
struct spawn_user {
	const char	*name;
	uid_t		 uid;
	gid_t		 gid;
};
pid_t	 spawn_task(const char *path, int stdin_fd, int log_fd, const char *cwd,
	     char *const envp[], const struct spawn_user *);
/* A core file (core, core.*) in dir, newest first, into out; -1 if none. */
int	 find_core(const char *dir, char *out, size_t);
/* The task's environment: an allow-list of ours plus the ETL_* of SPEC section 4. */
char	**task_env(const etl_job *, const char *job_pg_env, const char *queue_pg_env,
	     const struct spawn_user *, const char *home);
void	 env_free(char **);
/* Open (append) the job's log file under dir; -1 with errno.  path gets its name. */
int	 open_log(const char *dir, const char *job_id, char *path, size_t);
/* The last max bytes of the file at path, from a line start (caller frees); NULL if none. */
char	*log_tail(const char *path, size_t max);

#endif
