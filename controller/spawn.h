/*
 * spawn.h: starting a task as a detached worker (SPEC section 4, STYLE's one spawn
 * recipe): its environment, its log file, and posix_spawn into a new session.
 */
#ifndef ETL_CONTROLLER_SPAWN_H
#define ETL_CONTROLLER_SPAWN_H

#include <sys/types.h>

#include "etl_stmt.h"

/* The task's descriptor with its run's secret ($ETL_RUN_TOKEN_FD) */
#define ETL_SECRET_FD	3

/* Who a task runs as when the controller is root (NULL: as the controller). */
struct spawn_user {
	const char	*name;
	uid_t		 uid;
	gid_t		 gid;
};

/* A task to start under its keeper. */
struct spawn_req {
	const char		*path;		/* the task's program */
	int			 stdin_fd;	/* its INITIAL's pipe */
	int			 log_fd;	/* its stdout and stderr */
	const char		*cwd;		/* its folder (NULL: ours) */
	char *const		*envp;
	const struct spawn_user	*user;		/* NULL: as we are */
	const char		*status;	/* the keeper's status file */
	const char		*lease;		/* our lease file (NULL: no lease) */
	double			 lease_len;
	double			 grace;		/* SIGTERM -> SIGKILL */
	const char		*limits;	/* "as=N,cpu=N,nofile=N,core=unlimited" */
	int			 nice;
	int			 secret_fd;	/* the run's secret, the task's fd 3 (-1: none) */
};

/* etl-keeper's exit status for its own trouble (keeper.c's EX_KEEPER) */
#define KEEPER_TROUBLE	125

/* How a task ended, as its keeper wrote it. */
struct keeper_end {
	int	wstatus;
	int	exec_errno;	/* it could not be executed (0: it was) */
	char	stopped[16];	/* why the keeper stopped it: "request", "lease", "" */
};

/* Find etl-keeper (next to us: ../libexec/etl/, or $ETL_KEEPER); -1 with errno. */
int		 spawn_init(void);
const char	*spawn_keeper_path(void);
/*
 * Start r->path under etl-keeper, in a new session and process group (the keeper is its
 * leader) with default signal dispositions and an empty mask, stdin from stdin_fd,
 * stdout and stderr to log_fd, no other descriptor.  posix_spawn, not fork: its cost
 * does not grow with the controller's memory.  Returns the keeper's pid, the job's, or
 * -1 with errno set.
 */
pid_t		 spawn_task(const struct spawn_req *);
/*
 * Tasks get PGSERVICEFILE=file instead of ours, and none of our PGUSER and PGPASSFILE:
 * they connect as a role of their own (etl_task), under the same pg_env names.
 */
void		 spawn_task_service(const char *file);
/* A sealed memfd holding the run's secret, for the task's fd 3; -1 with errno. */
int		 secret_memfd(const char *secret);
/* Read the keeper's status file; -1 when there is none (yet) or it is not whole. */
int		 keeper_status(const char *path, struct keeper_end *);
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
