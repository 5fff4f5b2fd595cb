/*
 * supervisor.c: the jobs this controller runs.  A job goes
 *
 *   claimed -> SPAWNED (process started, pid not yet recorded)
 *           -> RUNNING (pid recorded; only now is its INITIAL written to its stdin)
 *           -> ENDED   (reaped; its end not yet recorded)   -> freed once recorded.
 *
 * The INITIAL is written only after the pid is in the database, so a task never does
 * work the database does not know is running: if we die before, the task reads EOF and
 * does nothing, and the job is put back (release_unstarted).  Every state change goes
 * through job_set_state.  Database writes are batched: one statement records the pids
 * of everything spawned since the last one, one records every end.
 * This file never blocks on the database, except for jobs whose events live in another
 * pg_env (see foreign_conn).
 */
#include <bsd/sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "db.h"
#include "inproc.h"
#include "log.h"
#include "metrics.h"
#include "spawn.h"
#include "supervisor.h"
#include "xmalloc.h"

enum jstate { J_SPAWNED, J_RUNNING, J_ENDED };

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
	int		 in_started;	/* in the in-flight pid statement */
	int		 in_finish;	/* in the in-flight end statement */
	int		 finish_errors;
	TAILQ_ENTRY(job) link;
};
TAILQ_HEAD(jobq, job);

/* A pg_env other than the controller's, with a blocking connection (see foreign_conn). */
struct foreign {
	char		*pg_env;
	etl_conn	*conn;
	SLIST_ENTRY(foreign) link;
};

static struct {
	struct ev_loop		*loop;
	struct sup_config	 cfg;
	struct jobq		 jobs;
	int			 njobs;
	int			 nended;	/* of njobs: ended, their end not yet recorded */
	int64_t			 start_time;	/* our own pid's, for in-process jobs' claims */
	int			 claiming;
	int			 claim_again;
	int			 started_inflight;
	int			 finish_inflight;
	int			 adopted_once;
	int			 backlog;	/* the last claim filled every free slot */
	int			 shutting_down;
	int			 stop_tasks;
	etl_conn		*qsync;		/* blocking, for foreign jobs only */
	SLIST_HEAD(, foreign)	 foreign;
} sup;

#define jlog_info(jb, fmt, ...) \
	log_info("job %s [%d]: " fmt, (jb)->j->id, (int)(jb)->pid, ##__VA_ARGS__)
#define jlog_warnx(jb, fmt, ...) \
	log_warnx("job %s [%d]: " fmt, (jb)->j->id, (int)(jb)->pid, ##__VA_ARGS__)

static void	claim_maybe(void);
static void	flush_started(void);
static void	flush_finish(void);

static const char *
jstate_name(enum jstate s)
{
	switch (s) {
	case J_SPAWNED:
		return "spawned";
	case J_RUNNING:
		return "running";
	case J_ENDED:
		return "ended";
	default:
		fatalx("bad job state %d", (int)s);
	}
}

/* The one place a job changes state; impossible moves are fatal. */
static void
job_set_state(struct job *jb, enum jstate to)
{
	int okmove;

	switch (to) {
	case J_RUNNING:
		okmove = jb->state == J_SPAWNED;
		break;
	case J_ENDED:
		okmove = jb->state == J_SPAWNED || jb->state == J_RUNNING;
		break;
	case J_SPAWNED:
	default:
		okmove = 0;
	}
	if (!okmove)
		fatalx("job %s: bad move from %s to %s", jb->j->id, jstate_name(jb->state),
		    jstate_name(to));
	log_debug("job %s: %s -> %s", jb->j->id, jstate_name(jb->state), jstate_name(to));
	jb->state = to;
	if (to == J_ENDED)
		sup.nended++;
}

static int
is_local(const etl_job *j)
{
	return j->pg_env[0] == '\0' || strcmp(j->pg_env, sup.cfg.pg_env) == 0;
}

/*
 * A blocking connection to pg_env, opened once.  Only jobs whose events live in another
 * database than the controller's use it; it blocks the loop for their prepare and end.
 */
static etl_conn *
foreign_conn(const char *pg_env, etl_error *err)
{
	struct foreign *f;

	SLIST_FOREACH(f, &sup.foreign, link)
		if (strcmp(f->pg_env, pg_env) == 0) {
			if (PQstatus(etl_conn_pg(f->conn)) == CONNECTION_OK)
				return f->conn;
			PQreset(etl_conn_pg(f->conn));
			if (PQstatus(etl_conn_pg(f->conn)) == CONNECTION_OK)
				return f->conn;
			etl_error_clear(err);
			snprintf(err->message, sizeof(err->message), "pg_env '%s' unreachable",
			    pg_env);
			err->code = ETL_EDB;
			return NULL;
		}
	f = xcalloc(1, sizeof(*f));
	if ((f->conn = etl_connect(pg_env, err)) == NULL) {
		free(f);
		return NULL;
	}
	f->pg_env = xstrdup(pg_env);
	SLIST_INSERT_HEAD(&sup.foreign, f, link);
	return f->conn;
}

static etl_conn *
qsync_conn(etl_error *err)
{
	if (sup.qsync != NULL && PQstatus(etl_conn_pg(sup.qsync)) != CONNECTION_OK) {
		etl_disconnect(sup.qsync);
		sup.qsync = NULL;
	}
	if (sup.qsync == NULL)
		sup.qsync = etl_connect(sup.cfg.pg_env, err);
	return sup.qsync;
}

static void
update_title(void)
{
	/* what the claims tell us of the queues, without counting them */
	setproctitle("%d running, %s%s", sup.njobs, sup.backlog ? "jobs waiting" : "queues empty",
	    sup.shutting_down ? ", stopping" : "");
}

static struct job *
job_new(etl_job *ej)
{
	struct job *jb = xcalloc(1, sizeof(*jb));

	jb->j = ej;
	jb->stdin_fd = -1;
	jb->pidfd = -1;
	TAILQ_INSERT_TAIL(&sup.jobs, jb, link);
	sup.njobs++;
	update_title();
	return jb;
}

static void
job_free(struct job *jb)
{
	TAILQ_REMOVE(&sup.jobs, jb, link);
	sup.njobs--;
	if (jb->state == J_ENDED)
		sup.nended--;
	ev_timer_stop(sup.loop, &jb->expire_w);
	ev_timer_stop(sup.loop, &jb->kill_w);
	ev_timer_stop(sup.loop, &jb->poll_w);
	ev_io_stop(sup.loop, &jb->stdin_w);
	ev_io_stop(sup.loop, &jb->pidfd_w);
	ev_child_stop(sup.loop, &jb->child_w);
	if (jb->stdin_fd >= 0)
		close(jb->stdin_fd);
	if (jb->pidfd >= 0)
		close(jb->pidfd);
	free(jb->initial);
	free(jb->log_path);
	free(jb->core_dir);
	free(jb->core_file);
	free(jb->limits);
	cJSON_Delete(jb->final);
	etl_job_free(jb->j);
	free(jb);
	update_title();
}

static struct job *
job_by_id(const char *id)
{
	struct job *jb;

	TAILQ_FOREACH(jb, &sup.jobs, link)
		if (strcmp(jb->j->id, id) == 0)
			return jb;
	return NULL;
}

/* The process and its group are gone or going: record how it ended. */
static void
job_ended(struct job *jb, int wstatus, int unknown)
{
	char what[128];

	ev_child_stop(sup.loop, &jb->child_w);
	ev_io_stop(sup.loop, &jb->pidfd_w);
	ev_timer_stop(sup.loop, &jb->poll_w);
	ev_timer_stop(sup.loop, &jb->expire_w);
	ev_timer_stop(sup.loop, &jb->kill_w);
	ev_io_stop(sup.loop, &jb->stdin_w);
	if (jb->stdin_fd >= 0) {
		close(jb->stdin_fd);
		jb->stdin_fd = -1;
	}
	/* a stopped task's children die with it, even those that ignored SIGTERM */
	if (jb->stop_reason != NULL && jb->pid > 0 && !jb->inproc)
		(void)killpg(jb->pid, SIGKILL);
	jb->wstatus = wstatus;
	jb->unknown = unknown;
	if (!unknown && WIFSIGNALED(wstatus) && jb->core_dir != NULL) {
		char core[PATH_MAX];

		if (find_core(jb->core_dir, core, sizeof(core)) == 0)
			jb->core_file = xstrdup(core);
	}
	if (unknown)
		jlog_info(jb, "ended while unwatched%s%s", jb->stop_reason ? ": " : "",
		    jb->stop_reason ? jb->stop_reason : "");
	else
		jlog_info(jb, "%s%s%s", etl_wstatus_text(wstatus, what, sizeof(what)),
		    jb->stop_reason ? ": " : "", jb->stop_reason ? jb->stop_reason : "");
	job_set_state(jb, J_ENDED);
	flush_finish();
}

/* A job that cannot start at all (no such task, ...): fail it for good. */
static void
job_refuse(struct job *jb, const char *why)
{
	jlog_warnx(jb, "cannot start: %s", why);
	strlcpy(jb->reason_buf, why, sizeof(jb->reason_buf));
	jb->stop_reason = jb->reason_buf;
	jb->no_retry = 1;
	job_ended(jb, 0, 1);
}

/* Stop the task's process group: SIGTERM now, SIGKILL after the grace period. */
static void
job_stop(struct job *jb, const char *reason)
{
	if (jb->state == J_ENDED || jb->stop_reason != NULL)
		return;
	jb->stop_reason = reason;
	jlog_info(jb, "stopping: %s", reason);
	if (jb->inproc) {
		/* a thread cannot be killed: the task is asked, through etl_cancelled() */
		if (jb->ij != NULL)
			inproc_cancel(jb->ij);
		return;
	}
	if (jb->pid > 0 && killpg(jb->pid, SIGTERM) != 0 && errno != ESRCH)
		jlog_warnx(jb, "killpg SIGTERM: %s", strerror(errno));
	ev_timer_set(&jb->kill_w, sup.cfg.kill_grace, 0);
	ev_timer_start(sup.loop, &jb->kill_w);
}

static void
kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	if (jb->inproc) {
		jlog_warnx(jb, "still running %.1f s after it was asked to stop: an in-process "
		    "task cannot be killed", sup.cfg.kill_grace);
		return;
	}
	jlog_info(jb, "still running %.1f s after SIGTERM: SIGKILL", sup.cfg.kill_grace);
	if (killpg(jb->pid, SIGKILL) != 0 && errno != ESRCH)
		jlog_warnx(jb, "killpg SIGKILL: %s", strerror(errno));
}

static void
expire_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	snprintf(jb->reason_buf, sizeof(jb->reason_buf), "expired after %d s",
	    jb->j->expire_seconds);
	job_stop(jb, jb->reason_buf);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	job_ended(jb, w->rstatus, 0);
}

/* An adopted task is not our child: its pidfd turns readable when it exits. */
static void
pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	job_ended(w->data, 0, 1);
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	if (kill(jb->pid, 0) != 0 && errno == ESRCH)
		job_ended(jb, 0, 1);
}

/* Write what is left of the INITIAL; the task may close its stdin early (EPIPE). */
static void
stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct job *jb = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	while (jb->ioff < jb->ilen) {
		n = write(jb->stdin_fd, jb->initial + jb->ioff, jb->ilen - jb->ioff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!ev_is_active(&jb->stdin_w)) {
				ev_io_set(&jb->stdin_w, jb->stdin_fd, EV_WRITE);
				ev_io_start(sup.loop, &jb->stdin_w);
			}
			return;
		}
		if (n < 0) {
			if (errno != EPIPE)
				jlog_warnx(jb, "writing its INITIAL: %s", strerror(errno));
			break;
		}
		jb->ioff += (size_t)n;
	}
	ev_io_stop(sup.loop, &jb->stdin_w);
	close(jb->stdin_fd);
	jb->stdin_fd = -1;
	FREE(jb->initial);
}

static void
watch_init(struct job *jb)
{
	ev_init(&jb->stdin_w, stdin_cb);
	jb->stdin_w.data = jb;
	ev_init(&jb->pidfd_w, pidfd_cb);
	jb->pidfd_w.data = jb;
	ev_init(&jb->poll_w, poll_cb);
	jb->poll_w.data = jb;
	ev_init(&jb->expire_w, expire_cb);
	jb->expire_w.data = jb;
	ev_init(&jb->kill_w, kill_cb);
	jb->kill_w.data = jb;
	ev_init(&jb->child_w, child_cb);
	jb->child_w.data = jb;
}

static void
start_expiry(struct job *jb, double after)
{
	ev_timer_set(&jb->expire_w, after > 0.001 ? after : 0.001, 0);
	ev_timer_start(sup.loop, &jb->expire_w);
}

/*
 * The user a job's task runs as: as root, the queue's run_as, else --user, else nobody:
 * never root unless asked ("root").  Not root: the controller's own user, whatever the
 * queue says.
 * 0 and *u filled, 1 for no change, -1 when the user does not exist.
 */
static int
task_user(const etl_job *ej, struct spawn_user *u, char *home, size_t homesz)
{
	const char *name = ej->run_as ? ej->run_as : sup.cfg.user ? sup.cfg.user : "nobody";
	struct passwd *pw;

	if (geteuid() != 0 || strcmp(name, "root") == 0)
		return 1;
	if ((pw = getpwnam(name)) == NULL)
		return -1;
	u->name = name;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(home, homesz, "%s", pw->pw_dir ? pw->pw_dir : "/");
	return 0;
}

/* Apply the queue's limits and nice value to a task that waits for its INITIAL. */
static void
apply_limits(struct job *jb)
{
	const etl_job *ej = jb->j;
	struct rlimit rl;
	char buf[160];
	size_t n = 0;

	buf[0] = '\0';
	if (ej->rlimit_as > 0) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)ej->rlimit_as;
		if (prlimit(jb->pid, RLIMIT_AS, &rl, NULL) != 0)
			jlog_warnx(jb, "RLIMIT_AS: %s", strerror(errno));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_AS %lld bytes",
		    n ? ", " : "", (long long)ej->rlimit_as);
	}
	if (ej->rlimit_cpu > 0) {
		rl.rlim_cur = (rlim_t)ej->rlimit_cpu;
		rl.rlim_max = (rlim_t)ej->rlimit_cpu + 5;	/* SIGXCPU first, SIGKILL later */
		if (prlimit(jb->pid, RLIMIT_CPU, &rl, NULL) != 0)
			jlog_warnx(jb, "RLIMIT_CPU: %s", strerror(errno));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_CPU %d s", n ? ", " : "",
		    ej->rlimit_cpu);
	}
	if (ej->rlimit_nofile > 0 && n < sizeof(buf)) {
		rl.rlim_cur = rl.rlim_max = (rlim_t)ej->rlimit_nofile;
		if (prlimit(jb->pid, RLIMIT_NOFILE, &rl, NULL) != 0)
			jlog_warnx(jb, "RLIMIT_NOFILE: %s", strerror(errno));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_NOFILE %d",
		    n ? ", " : "", ej->rlimit_nofile);
	}
	if (ej->nice != 0 && setpriority(PRIO_PROCESS, (id_t)jb->pid, ej->nice) != 0)
		jlog_warnx(jb, "nice %d: %s", ej->nice, strerror(errno));
	if (n > 0 && n < sizeof(buf))
		jb->limits = xstrdup(buf);
}

/*
 * A full log folder does not stop jobs (their output is lost, their events are not), but
 * an operator must hear of it: at most once a minute.
 */
static void
check_log_space(int logfd)
{
	static double last;
	struct statvfs sv;
	unsigned long long avail;

	if (fstatvfs(logfd, &sv) != 0)
		return;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail >= 64 * 1024 || ev_now(sup.loop) - last < 60)
		return;
	last = ev_now(sup.loop);
	log_warnx("the log folder %s is full (%llu bytes free): tasks' output is being lost",
	    sup.cfg.log_dir, avail);
}

/*
 * The job's INITIAL text: prepared in its own database (blocking) when that is not ours.
 * -1 when it cannot start: the job has ended (retried when its database may come back).
 */
static int
job_initial(struct job *jb)
{
	etl_job *ej = jb->j;
	etl_error err;

	if (!is_local(ej)) {
		etl_conn *cc, *qc;
		char *text;

		if ((cc = foreign_conn(ej->pg_env, &err)) == NULL ||
		    (qc = qsync_conn(&err)) == NULL ||
		    etl_job_prepare(qc, cc, ej, &text, &ej->since, &err) != 0) {
			/* its database may come back: let it retry */
			jlog_warnx(jb, "cannot prepare its context: %s", err.message);
			snprintf(jb->reason_buf, sizeof(jb->reason_buf), "%s", err.message);
			jb->stop_reason = jb->reason_buf;
			job_ended(jb, 0, 1);
			return -1;
		}
		jb->initial = text;
	} else if ((jb->initial = etl_initial_text(ej, sup.cfg.pg_env, &err)) == NULL) {
		job_refuse(jb, err.message);
		return -1;
	}
	jb->ilen = strlen(jb->initial);
	return 0;
}

/* An in-process task ended on its thread. */
static void
inproc_done(void *owner, int status, cJSON *final, const char *why)
{
	struct job *jb = owner;

	jb->ij = NULL;
	jb->final = final;	/* recorded by the finish, as its FINAL */
	if (why != NULL)
		jlog_info(jb, "%s", why);
	job_ended(jb, W_EXITCODE(status & 0xff, 0), 0);
}

/*
 * A job of a queue in mode inprocess: its TASK.so and its INITIAL; it runs on a worker
 * thread at once, as its claim recorded our pid as its own.  It runs as the
 * controller's user, without the queue's limits, its output in the controller's log.
 */
static void
job_start_inproc(struct job *jb, const char *path)
{
	etl_job *ej = jb->j;
	char why[PATH_MAX + 128];

	if ((jb->fn = inproc_lookup(path, why, sizeof(why))) == NULL) {
		job_refuse(jb, why);
		return;
	}
	if (job_initial(jb) != 0)
		return;
	jb->inproc = 1;
	jb->pid = getpid();
	start_expiry(jb, ej->expire_seconds);
	jlog_info(jb, "started %s.so in-process (queue %s, attempt %d)", path, ej->queue,
	    ej->retry_count + 1);
	/* the claim recorded our pid as its own: it may run now */
	job_set_state(jb, J_RUNNING);
	jb->ij = inproc_submit(jb, jb->fn, jb->initial, jb->ilen, is_local(ej),
	    ej->fresh && is_local(ej));
	jb->initial = NULL;	/* the run has it */
}

/* Start a claimed job's task (SPEC section 4). */
static void
job_start(etl_job *ej)
{
	char path[PATH_MAX], logp[PATH_MAX], home[PATH_MAX], **env;
	struct job *jb = job_new(ej);
	struct spawn_user user;
	const char *job_pg_env;
	etl_error err;
	int fds[2], logfd, as;

	watch_init(jb);
	if (etl_task_resolve(NULL, ej->task, 1, path, sizeof(path), &err) != 0) {
		job_refuse(jb, err.message);
		return;
	}
	if (ej->inprocess) {
		job_start_inproc(jb, path);
		return;
	}
	if ((as = task_user(ej, &user, home, sizeof(home))) < 0) {
		char why[160];

		snprintf(why, sizeof(why), "no user '%s' to run as on this host",
		    ej->run_as ? ej->run_as : sup.cfg.user ? sup.cfg.user : "nobody");
		job_refuse(jb, why);
		return;
	}
	if (job_initial(jb) != 0)
		return;
	if ((logfd = open_log(sup.cfg.log_dir, ej->id, logp, sizeof(logp))) < 0) {
		log_warn("job %s: cannot open its log %s (its output is lost)", ej->id, logp);
		logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	} else {
		jb->log_path = xstrdup(logp);
		check_log_space(logfd);
		/* readable by the task's user and the operators' group only */
		if (as == 0 && fchown(logfd, user.uid, getegid()) != 0)
			log_warn("job %s: chown %s", ej->id, logp);
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		log_warn("job %s: pipe", ej->id);
		close(logfd);
		snprintf(jb->reason_buf, sizeof(jb->reason_buf), "pipe: %s", strerror(errno));
		jb->stop_reason = jb->reason_buf;
		job_ended(jb, 0, 1);
		return;
	}
	if (ej->keep_cores) {
		char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s/cores", sup.cfg.log_dir);
		(void)mkdir(d, 0750);
		snprintf(d, sizeof(d), "%s/cores/%s", sup.cfg.log_dir, ej->id);
		if (mkdir(d, 0750) == 0 || errno == EEXIST) {
			jb->core_dir = xstrdup(d);
			if (as == 0 && chown(d, user.uid, getegid()) != 0)
				log_warn("job %s: chown %s", ej->id, d);
		}
		else
			log_warn("job %s: cannot make its core folder %s", ej->id, d);
	}
	job_pg_env = ej->pg_env[0] ? ej->pg_env : sup.cfg.pg_env;
	env = task_env(ej, job_pg_env, sup.cfg.pg_env, as == 0 ? &user : NULL, home);
	jb->pid = spawn_task(path, fds[0], logfd, jb->core_dir, env, as == 0 ? &user : NULL);
	env_free(env);
	close(fds[0]);
	close(logfd);
	if (jb->pid < 0) {
		char why[PATH_MAX + 128];

		jb->pid = 0;
		snprintf(why, sizeof(why), "cannot execute %s: %s", path, strerror(errno));
		close(fds[1]);
		job_refuse(jb, why);
		return;
	}
	jb->stdin_fd = fds[1];
	(void)fcntl(jb->stdin_fd, F_SETFL, O_NONBLOCK);
	/* before its INITIAL, so before it can do anything */
	apply_limits(jb);
	if (jb->core_dir != NULL) {
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

		if (prlimit(jb->pid, RLIMIT_CORE, &rl, NULL) != 0)
			jlog_warnx(jb, "cannot raise its core limit: %s", strerror(errno));
	}
	/* libev reaps on the loop, so this watcher is in place before its SIGCHLD is seen */
	ev_child_set(&jb->child_w, jb->pid, 0);
	ev_child_start(sup.loop, &jb->child_w);
	/* a task waiting for its debugger does not spend its run time */
	start_expiry(jb, ej->expire_seconds + (ej->debug_wait ? sup.cfg.debug_wait : 0));
	jlog_info(jb, "started %s (queue %s, attempt %d)", path, ej->queue, ej->retry_count + 1);
}

static double claim_sent;

/* How long claims take, for the metrics' histogram. */
static void
claim_observe(void)
{
	static const double bounds[8] = CLAIM_BUCKETS;
	double d = ev_time() - claim_sent;
	int i;

	ctl_stats.claim_count++;
	ctl_stats.claim_sum += d;
	for (i = 0; i < 8; i++)
		if (d <= bounds[i]) {
			ctl_stats.claim_buckets[i]++;
			break;
		}
}

static void
claim_cb(PGresult *res, const char *why, void *arg)
{
	etl_job **jobs;
	etl_error err;
	long i, n, limit = (long)(intptr_t)arg;

	sup.claiming = 0;
	claim_observe();
	if (res == NULL) {
		log_warnx("claim failed: %s", why);
		return;
	}
	if ((n = etl_claim_result(res, &jobs, &err)) < 0) {
		log_warnx("claim: %s", err.message);
		return;
	}
	sup.backlog = n == limit;
	ctl_stats.claimed += (unsigned long)n;
	for (i = 0; i < n; i++)
		job_start(jobs[i]);	/* takes the job */
	free(jobs);
	update_title();
	if (n > 0)
		flush_started();
	if (n == limit || sup.claim_again) {
		sup.claim_again = 0;
		claim_maybe();
	}
}

static void
claim_maybe(void)
{
	etl_stmt st;
	etl_error err;
	/* an ended task no longer takes a slot, even while its end is being recorded */
	long free_slots = sup.cfg.concurrency - (sup.njobs - sup.nended);

	if (sup.claiming) {
		sup.claim_again = 1;
		return;
	}
	if (!db_is_up() || sup.shutting_down || !sup.adopted_once || free_slots <= 0)
		return;
	if (etl_stmt_claim(&st, sup.cfg.queues, sup.cfg.nqueues, free_slots, sup.cfg.id,
	    sup.cfg.host, sup.cfg.pg_env, &err) != 0) {
		log_warnx("claim: %s", err.message);
		return;
	}
	if (etl_stmt_claim_pid(&st, getpid(), sup.start_time) != 0) {
		etl_stmt_clear(&st);
		log_warnx("claim: out of memory");
		return;
	}
	sup.claiming = 1;
	claim_sent = ev_time();
	db_submit(&st, claim_cb, (void *)(intptr_t)free_slots);
}

/* The pids are recorded: now, and only now, the tasks get their INITIAL. */
static void
started_cb(PGresult *res, const char *why, void *arg)
{
	struct job *jb;

	(void)arg;
	sup.started_inflight = 0;
	TAILQ_FOREACH(jb, &sup.jobs, link) {
		if (!jb->in_started)
			continue;
		jb->in_started = 0;
		if (res == NULL)
			continue;	/* flushed again when the database is back */
		if (jb->state == J_SPAWNED) {
			job_set_state(jb, J_RUNNING);
			stdin_cb(sup.loop, &jb->stdin_w, 0);
		}
	}
	if (res == NULL)
		log_warnx("recording started jobs failed: %s", why);
	flush_started();
	flush_finish();
}

static void
flush_started(void)
{
	etl_job **jobs;
	const char **logs;
	pid_t *pids;
	struct job *jb;
	etl_stmt st;
	etl_error err;
	size_t n = 0;

	if (sup.started_inflight || !db_up_on(DB_ENDS))
		return;
	TAILQ_FOREACH(jb, &sup.jobs, link)
		if (jb->state == J_SPAWNED)
			n++;
	if (n == 0)
		return;
	jobs = xcalloc(n, sizeof(etl_job *));
	pids = xcalloc(n, sizeof(pid_t));
	logs = xcalloc(n, sizeof(const char *));
	n = 0;
	TAILQ_FOREACH(jb, &sup.jobs, link) {
		if (jb->state != J_SPAWNED)
			continue;
		jobs[n] = jb->j;
		pids[n] = jb->pid;
		logs[n++] = jb->log_path;
		jb->in_started = 1;
	}
	if (etl_stmt_started(&st, jobs, pids, logs, sup.cfg.host, n, &err) != 0)
		fatalx("recording started jobs: %s", err.message);
	free(jobs);
	free(pids);
	free(logs);
	sup.started_inflight = 1;
	db_submit_on(DB_ENDS, &st, started_cb, NULL);
}

/* A foreign job's end, recorded with blocking calls (see foreign_conn). */
static int
finish_foreign(struct job *jb)
{
	char state[32], *tail = NULL;
	etl_conn *cc, *qc;
	etl_error err;
	int wstatus = jb->wstatus, rc;

	if (jb->j->etl_context_id == 0 || (cc = foreign_conn(jb->j->pg_env, &err)) == NULL)
		cc = NULL;
	if ((qc = qsync_conn(&err)) == NULL) {
		jlog_warnx(jb, "cannot record its end yet: %s", err.message);
		return -1;
	}
	if (jb->unknown || jb->stop_reason != NULL) {
		/* no exit status we can trust: a failure, retried */
		wstatus = 1 << 8;
	}
	if (etl_outcome_of(wstatus) != ETL_OUT_OK)
		tail = log_tail(jb->log_path, 2048);
	rc = etl_job_finish(qc, cc ? cc : qc, jb->j, jb->j->since, wstatus, tail, state,
	    sizeof(state), &err);
	free(tail);
	if (rc != 0) {
		jlog_warnx(jb, "cannot record its end yet: %s", err.message);
		return -1;
	}
	jlog_info(jb, "recorded: %s", state);
	return 0;
}

static void
finish_cb(PGresult *res, const char *why, void *arg)
{
	struct job *jb, *next;
	int i, n;

	(void)arg;
	sup.finish_inflight = 0;
	if (res != NULL) {
		n = PQntuples(res);
		for (i = 0; i < n; i++) {
			const char *st = PQgetvalue(res, i, 1);

			log_debug("job %s: %s", PQgetvalue(res, i, 0), st);
			if (strcmp(st, "completed") == 0)
				ctl_stats.completed++;
			else if (strcmp(st, "retry") == 0)
				ctl_stats.retried++;
			else if (strcmp(st, "failed") == 0)
				ctl_stats.failed++;
		}
	}
	TAILQ_FOREACH_SAFE(jb, &sup.jobs, link, next) {
		if (!jb->in_finish)
			continue;
		jb->in_finish = 0;
		if (res != NULL) {
			job_free(jb);
		} else if (db_up_on(DB_ENDS) && ++jb->finish_errors >= 3) {
			/* the database keeps refusing this one: leave it to expiry and orphan checks */
			jlog_warnx(jb, "giving up recording its end: %s", why);
			job_free(jb);
		}
	}
	if (res == NULL)
		log_warnx("recording ended jobs failed: %s", why);
	flush_finish();
	claim_maybe();
}

static void
flush_finish(void)
{
	struct job *jb, *next;
	etl_end *ends;
	etl_stmt st;
	etl_error err;
	size_t n = 0;
	char **tails;

	if (sup.finish_inflight || !db_up_on(DB_ENDS))
		return;
	TAILQ_FOREACH_SAFE(jb, &sup.jobs, link, next) {
		if (jb->state != J_ENDED || jb->in_started)
			continue;
		if (!is_local(jb->j)) {
			if (finish_foreign(jb) == 0)
				job_free(jb);
			continue;
		}
		n++;
	}
	if (n == 0) {
		claim_maybe();
		return;
	}
	ends = xcalloc(n, sizeof(*ends));
	tails = xcalloc(n, sizeof(*tails));
	n = 0;
	TAILQ_FOREACH(jb, &sup.jobs, link) {
		etl_end *e = &ends[n];

		if (jb->state != J_ENDED || jb->in_started || !is_local(jb->j))
			continue;
		e->id = jb->j->id;
		e->etl_context_id = jb->j->etl_context_id;
		e->since = jb->j->since;
		e->task = jb->j->task;
		e->wstatus = jb->wstatus;
		e->unknown = jb->unknown;
		e->reason = jb->stop_reason;
		e->no_retry = jb->no_retry;
		e->core_file = jb->core_file;
		e->limits = jb->limits;
		e->final = jb->final;
		if (jb->unknown || jb->stop_reason || etl_outcome_of(jb->wstatus) != ETL_OUT_OK)
			e->log_tail = tails[n] = log_tail(jb->log_path, 2048);
		jb->in_finish = 1;
		n++;
	}
	if (etl_stmt_finish(&st, ends, n, &err) != 0)
		fatalx("recording ended jobs: %s", err.message);
	while (n > 0)
		free(tails[--n]);
	free(tails);
	free(ends);
	sup.finish_inflight = 1;
	db_submit_on(DB_ENDS, &st, finish_cb, NULL);
}

/* Take over a job a previous run of this controller left running. */
static void
adopt(etl_job *ej)
{
	struct job *jb = job_new(ej);
	double left;

	watch_init(jb);
	jb->pid = ej->pid;
	jb->adopted = 1;
	jb->state = J_RUNNING;
	if (ej->pid <= 0 || ej->pid_start_time < 0 ||
	    etl_pid_start_time(ej->pid) != ej->pid_start_time) {
		/* gone, or its pid now belongs to another process */
		jlog_info(jb, "was running before we started; its process is gone");
		jb->pid = 0;
		job_ended(jb, 0, 1);
		return;
	}
	jb->pidfd = (int)syscall(SYS_pidfd_open, ej->pid, 0);
	if (jb->pidfd >= 0) {
		(void)fcntl(jb->pidfd, F_SETFD, FD_CLOEXEC);
		ev_io_set(&jb->pidfd_w, jb->pidfd, EV_READ);
		ev_io_start(sup.loop, &jb->pidfd_w);
	} else {
		ev_timer_set(&jb->poll_w, 0.2, 0.2);
		ev_timer_start(sup.loop, &jb->poll_w);
	}
	left = ej->started_on + ej->expire_seconds - ev_now(sup.loop);
	start_expiry(jb, left);
	jlog_info(jb, "adopted (%s)", jb->pidfd >= 0 ? "pidfd" : "polling");
}

static void
mine_cb(PGresult *res, const char *why, void *arg)
{
	etl_job **jobs;
	etl_error err;
	long i, n;

	(void)arg;
	if (res == NULL) {
		log_warnx("looking for jobs to adopt failed: %s", why);
		return;		/* tried again when the database is back */
	}
	if ((n = etl_mine_result(res, &jobs, &err)) < 0) {
		log_warnx("adopt: %s", err.message);
		return;
	}
	for (i = 0; i < n; i++) {
		if (job_by_id(jobs[i]->id) != NULL) {
			etl_job_free(jobs[i]);
			continue;
		}
		adopt(jobs[i]);
	}
	free(jobs);
	if (n > 0)
		log_info("found %ld job%s left by a previous run", n, n == 1 ? "" : "s");
	sup.adopted_once = 1;
	flush_finish();
	claim_maybe();
}

static void
release_cb(PGresult *res, const char *why, void *arg)
{
	(void)arg;
	if (res == NULL)
		log_warnx("releasing unstarted jobs failed: %s", why);
	else if (PQntuples(res) > 0)
		log_info("put back %d job%s claimed but never started", PQntuples(res),
		    PQntuples(res) == 1 ? "" : "s");
}

static void
ignore_cb(PGresult *res, const char *why, void *arg)
{
	if (res == NULL)
		log_warnx("%s: %s", (const char *)arg, why);
}

static void
lock_cb(PGresult *res, const char *why, void *arg)
{
	(void)arg;
	if (res == NULL)
		log_warnx("taking the controller's liveness lock failed: %s", why);
	else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] != 't')
		log_warnx("another session holds the liveness lock of controller id '%s': is a "
		    "second controller running with this --id?", sup.cfg.id);
}

void
sup_db_up(void)
{
	const char **keep;
	struct job *jb;
	etl_stmt st;
	etl_error err;
	size_t n = 0;
	int i;

	sup_heartbeat();
	/* our in-process tasks live as long as this lock (etl.reap_orphans) */
	if (etl_stmt_controller_lock(&st, sup.cfg.id, &err) == 0)
		db_submit(&st, lock_cb, NULL);
	for (i = 0; i < 2; i++) {
		etl_stmt_listen(&st, i);
		db_submit(&st, ignore_cb, "LISTEN");
	}
	/* a claim whose answer was lost left jobs active that nobody started */
	keep = xcalloc((size_t)sup.njobs + 1, sizeof(*keep));
	TAILQ_FOREACH(jb, &sup.jobs, link)
		keep[n++] = jb->j->id;
	if (etl_stmt_release(&st, sup.cfg.id, keep, n, &err) == 0)
		db_submit(&st, release_cb, NULL);
	free(keep);
	/*
	 * Every (re)connection, not only the first: an end we recorded may have been lost
	 * with the connection (or with a crash of the server), leaving a job active whose
	 * process is gone; mine_cb adopts or finishes what our table does not know.
	 */
	if (etl_stmt_mine(&st, sup.cfg.id, &err) == 0)
		db_submit(&st, mine_cb, NULL);
	flush_started();
	flush_finish();
	claim_maybe();
}

void
sup_db_down(void)
{
	ctl_stats.reconnects++;
	sup.claiming = 0;
}

void
sup_ends_up(void)
{
	flush_started();
	flush_finish();
}

void
sup_ends_down(void)
{
	sup.started_inflight = 0;
	sup.finish_inflight = 0;
}

void
sup_notify(const char *channel, const char *payload)
{
	struct job *jb;
	size_t i;

	if (strcmp(channel, ETL_CHANNEL_JOB) == 0) {
		if (sup.cfg.queues != NULL) {
			for (i = 0; i < sup.cfg.nqueues; i++)
				if (strcmp(sup.cfg.queues[i], payload) == 0)
					break;
			if (i == sup.cfg.nqueues)
				return;
		}
		claim_maybe();
	} else if (strcmp(channel, ETL_CHANNEL_CANCEL) == 0) {
		if ((jb = job_by_id(payload)) != NULL)
			job_stop(jb, "cancelled");
	}
}

void
sup_poll(void)
{
	claim_maybe();
	flush_started();
	flush_finish();
}

void
sup_heartbeat(void)
{
	etl_stmt st;
	etl_error err;

	if (!db_is_up())
		return;
	if (etl_stmt_controller_beat(&st, sup.cfg.id, sup.cfg.host, getpid(), &err) == 0)
		db_submit(&st, ignore_cb, "heartbeat");
}

static void
orphans_cb(PGresult *res, const char *why, void *arg)
{
	int i;

	(void)arg;
	if (res == NULL) {
		log_warnx("looking for jobs of dead controllers failed: %s", why);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		log_info("job %s of a dead controller: its task is gone; now %s",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
}

static void
maintain_cb(PGresult *res, const char *why, void *arg)
{
	int i;

	(void)arg;
	if (res == NULL) {
		log_warnx("maintenance failed: %s", why);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		if (atol(PQgetvalue(res, i, 1)) > 0)
			log_info("maintenance: %s: %s", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1));
}

static void
counts_cb(PGresult *res, const char *why, void *arg)
{
	(void)arg;
	if (res == NULL)
		log_warnx("counting jobs for the metrics failed: %s", why);
	else
		metrics_job_counts(res);
}

void
sup_maintenance(void)
{
	etl_stmt st;
	etl_error err;

	if (!db_is_up() || sup.shutting_down)
		return;
	if (etl_stmt_reap_orphans(&st, sup.cfg.dead_after, sup.cfg.id, sup.cfg.pg_env,
	    &err) == 0)
		db_submit(&st, orphans_cb, NULL);
	/* cron ticks and retention: any controller may run it, the database keeps it once */
	etl_stmt_maintain(&st);
	db_submit(&st, maintain_cb, NULL);
	if (metrics_enabled()) {
		etl_stmt_job_counts(&st);
		db_submit(&st, counts_cb, NULL);
	}
}

void
sup_shutdown(int stop_tasks)
{
	struct job *jb;

	sup.shutting_down = 1;
	sup.stop_tasks = stop_tasks;
	update_title();
	if (!stop_tasks)
		return;
	TAILQ_FOREACH(jb, &sup.jobs, link)
		if (jb->state != J_ENDED)
			job_stop(jb, "stopped with the controller");
}

int
sup_quiescent(void)
{
	struct job *jb;

	TAILQ_FOREACH(jb, &sup.jobs, link) {
		/* an in-process task dies with us: wait for it (up to --shutdown-timeout) */
		if (jb->state != J_RUNNING || jb->stdin_fd >= 0 || jb->inproc)
			return 0;
		if (sup.stop_tasks)
			return 0;
	}
	return db_idle();
}

int
sup_running(void)
{
	return sup.njobs;
}

void
sup_init(struct ev_loop *loop, const struct sup_config *cfg)
{
	sup.loop = loop;
	sup.cfg = *cfg;
	TAILQ_INIT(&sup.jobs);
	inproc_init(loop, cfg->concurrency, inproc_done);
	sup.start_time = etl_pid_start_time(getpid());
	SLIST_INIT(&sup.foreign);
	update_title();
}

void
sup_free(void)
{
	struct job *jb;
	struct foreign *f;

	while ((jb = TAILQ_FIRST(&sup.jobs)) != NULL) {
		/* left running, detached: a restarted controller adopts them */
		jb->child_w.pid = 0;
		job_free(jb);
	}
	while ((f = SLIST_FIRST(&sup.foreign)) != NULL) {
		SLIST_REMOVE_HEAD(&sup.foreign, link);
		etl_disconnect(f->conn);
		free(f->pg_env);
		free(f);
	}
	etl_disconnect(sup.qsync);
	sup.qsync = NULL;
}
