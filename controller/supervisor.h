/*
 * supervisor.h: what the controller asks of the database, and when (see supervisor.c):
 * claims, the batched pid and end statements, adoption, heartbeat, maintenance and
 * shutdown.  main.c owns the loop, signals and timers; job.c the table of jobs;
 * process.c their processes.
 */
#ifndef ETL_CONTROLLER_SUPERVISOR_H
#define ETL_CONTROLLER_SUPERVISOR_H

#include <ev.h>

struct sup_config {
	const char	*id;		/* controller id (--id, default the hostname) */
	const char	*host;
	const char	*pg_env;	/* the controller database */
	const char	*const *queues;	/* NULL = all */
	size_t		 nqueues;
	int		 concurrency;
	const char	*log_dir;
	double		 kill_grace;	/* SIGTERM -> SIGKILL */
	int		 dead_after;	/* a controller silent this long is dead */
	double		 debug_wait;	/* longest wait of a --debug-wait task */
	const char	*user;		/* as root: tasks run as this user unless the queue says */
	const char	*allow_users;	/* as root: who they may run as, comma-separated (NULL:
					 * not root, every task runs as the controller's user) */
	int		 count_jobs;	/* count jobs by queue and state (for the metrics) */
	long long	 log_max;	/* cap of a job's log, bytes (0: none) */
	double		 log_retention;	/* job logs untouched this long go (0: kept) */
	const long	*min_priority;	/* claim only jobs in this range (NULL: no bound) */
	const long	*max_priority;
	const char	*keeper_dir;	/* the keepers' status files and our lease file */
	double		 lease;		/* --lease: our tasks stop this long after our last
					 * recorded beat */
	unsigned	 uid_first;	/* --uid-range (0: none) */
	unsigned	 uid_last;
};

void	sup_init(struct ev_loop *, const struct sup_config *);
/* Database hooks (see db.h). */
void	sup_db_up(void);
void	sup_db_down(void);
void	sup_notify(const char *channel, const char *payload);
/* The second connection (DB_ENDS: pids and ends) is up / lost. */
void	sup_ends_up(void);
void	sup_ends_down(void);
/* Timers from main: look for work; beat; find jobs of dead controllers. */
void	sup_poll(void);
void	sup_heartbeat(void);
void	sup_maintenance(void);
/* Stop claiming; with stop_tasks, stop every task too. */
void	sup_shutdown(int stop_tasks);
/* Nothing left that must reach the database before we may exit. */
int	sup_quiescent(void);
int	sup_running(void);
void	sup_free(void);

#endif
