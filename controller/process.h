/*
 * process.h: one job's process (or in-process run), from start to reaping.  See
 * process.c.  The job table (job.h) holds the jobs; this moves them to RUNNING (adopted,
 * in-process) and ENDED, and calls on_end after every end.
 */
#ifndef ETL_CONTROLLER_PROCESS_H
#define ETL_CONTROLLER_PROCESS_H

#include <ev.h>

#include "job.h"

struct proc_config {
	const char	*pg_env;	/* the controller database */
	const char	*log_dir;
	const char	*user;		/* as root: tasks run as this user unless the queue says */
	const char	*allow_users;	/* as root: who they may run as (comma-separated) */
	double		 kill_grace;	/* SIGTERM -> SIGKILL */
	double		 debug_wait;	/* longest wait of a --debug-wait task */
	int		 concurrency;	/* in-process worker threads */
	off_t		 log_max;	/* a job's log is capped at about this (0: no cap) */
	const char	*keeper_dir;	/* the keepers' status files and our lease */
	double		 lease;		/* the keepers stop our tasks after this (0: never) */
	unsigned	 uid_first;	/* --uid-range (0: none): a uid of its own per task */
	unsigned	 uid_last;
};

void	proc_init(struct ev_loop *, const struct proc_config *, void (*on_end)(void));
/* Start a claimed job's task (takes ej): a new job, SPAWNED (or RUNNING in-process). */
void	proc_start(etl_job *ej);
/* Watch a job a previous run of this controller left running (takes ej). */
void	proc_adopt(etl_job *ej);
/* Its pid is recorded: write its INITIAL (what is left of it). */
void	proc_write_initial(struct job *);
/* Stop it: SIGTERM to its group, SIGKILL after the grace; in-process: ask it. */
void	proc_stop(struct job *, const char *reason);
/*
 * Stop its watchers and close its descriptors, before job_free; the process lives on.
 * recorded: its end is in the database (its keeper's status file goes).
 */
void	proc_release(struct job *, int recorded);
/* Remove the keepers' status files of runs not in our table (once, before claiming). */
void	proc_sweep(void);
/* Our beat sent at sent (CLOCK_BOOTTIME) was recorded: renew the lease from then. */
void	proc_lease_renew(double sent);

#endif
