/*
 * job.h: the controller's table of jobs, one list per state, and the one function that
 * moves a job between them (pgbouncer's change_client_state).  A job here is one run
 * this controller owns; its row's state (etl.job.state) is the database's, moved only by
 * libetl's SQL.  This file knows nothing of processes or the database.
 *
 *   SPAWNED   its task started (a process or an in-process run); pid not yet sent
 *   STARTING  its pid is in the statement in flight
 *   RUNNING   its pid is recorded: its INITIAL may be written
 *   ENDED     it ended; its end not yet sent
 *   FINISHING its end is in the statement in flight          -> freed once recorded
 */
#ifndef ETL_CONTROLLER_JOB_H
#define ETL_CONTROLLER_JOB_H

#include <bsd/sys/queue.h>
#include <sys/types.h>

#include <ev.h>

#include "etl_stmt.h"
#include "log.h"
#include "logcap.h"

enum jstate { J_SPAWNED, J_STARTING, J_RUNNING, J_ENDED, J_FINISHING, J_NSTATES };

struct inproc_job;

struct job {
	etl_job		*j;
	enum jstate	 state;
	pid_t		 pid;
	int		 adopted;	/* not our child: watched by pidfd or polling */
	int		 inproc;	/* runs on one of our threads (queue mode inprocess) */
	etl_task_fn	 fn;		/* inproc: the task function */
	struct inproc_job *ij;		/* inproc: while it runs */
	cJSON		*final;		/* inproc: the result its FINAL records */
	char		*log_path;
	char		*status_path;	/* its keeper's status file */
	unsigned	 dyn_uid;	/* its uid from --uid-range (0: none) */
	char		 uid_name[24];	/* its USER then */
	struct logcap	 logcap;	/* its log's hole, when over --log-max */
	char		*core_dir;	/* keep_cores: its working directory */
	char		*core_file;	/* the core it dumped */
	char		*limits;	/* the limits it runs under, for its ERROR */
	char		*initial;	/* INITIAL text still to write, from ioff */
	size_t		 ilen, ioff;
	int		 stdin_fd;
	int		 pidfd;
	ev_io		 stdin_w;
	ev_child	 child_w;
	ev_io		 pidfd_w;
	ev_timer	 poll_w;
	ev_timer	 expire_w;
	ev_timer	 kill_w;
	const char	*stop_reason;	/* why we stopped it, if we did */
	char		 reason_buf[640];
	int		 wstatus;
	int		 unknown;	/* ended unwatched: status unknown */
	int		 no_retry;
	int		 release;	/* could not start here: for another controller */
	double		 born;		/* when we took it (job_clock) */
	unsigned	 start_batch;	/* the pid record it went out in */
	int		 lost;		/* that record found no row of its run: not ours */
	int		 finish_errors;	/* end statements that failed with the database up */
	double		 finish_next;	/* then: when its end is sent again, alone */
	TAILQ_ENTRY(job) link;		/* in the list of its state */
};
TAILQ_HEAD(jobq, job);

#define jlog_info(jb, fmt, ...) \
	log_info("job %s [%d]: " fmt, (jb)->j->id, (int)(jb)->pid, ##__VA_ARGS__)
#define jlog_warnx(jb, fmt, ...) \
	log_warnx("job %s [%d]: " fmt, (jb)->j->id, (int)(jb)->pid, ##__VA_ARGS__)

/* A monotonic clock, seconds; a job's seconds since we took it (claim or adoption). */
double		 job_clock(void);
double		 job_run_seconds(const struct job *);
/* A new job in state SPAWNED (takes ej); its process fields are empty. */
struct job	*job_new(etl_job *);
/* The one place a job changes state; impossible moves are fatal. */
void		 job_set_state(struct job *, enum jstate);
/* Drop a job from the table; the caller has stopped its watchers (proc_release). */
void		 job_free(struct job *);
struct job	*job_by_id(const char *id);
/* The list of jobs in a state, oldest first. */
struct jobq	*job_list(enum jstate);
int		 job_count(enum jstate);
/* Jobs in the table, and of them those that take a slot (not ended). */
int		 job_total(void);
int		 job_busy(void);
const char	*jstate_name(enum jstate);

#endif
