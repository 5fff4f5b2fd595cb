/*
 * process.c: one job's process, from spawn to reaping: its environment, user and limits,
 * its log, the writer of its INITIAL on stdin (only once its pid is recorded: a task
 * never does work the database does not know is running), the watchers of its end (its
 * keeper, our child, or an adopted one by pidfd or polling), the exact end its keeper
 * wrote, its expiry, stopping it (its keeper escalates), and our lease, which the
 * keepers hold us to.  In-process jobs run on inproc.c's threads instead.  It moves a
 * job to ENDED and calls back; it never talks to the database (remote.c prepares jobs
 * of other pg_envs).
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "inproc.h"
#include "job.h"
#include "process.h"
#include "remote.h"
#include "smallfile.h"
#include "spawn.h"
#include "xmalloc.h"

static struct {
	struct ev_loop		*loop;
	struct proc_config	 cfg;
	void			(*on_end)(void);
	ev_timer		 logcap_w;
	char			 lease_path[PATH_MAX];	/* in cfg.keeper_dir */
	unsigned char		*uid_used;	/* --uid-range: which are taken */
	unsigned		 uid_next;
} P;

/* Where the keeper of a job's run writes its end: keeper_dir/JOB.RUN (caller frees). */
static char *
status_path(const etl_job *ej)
{
	char *p;

	xasprintf(&p, "%s/%s.%d", P.cfg.keeper_dir, ej->id, ej->run);
	return p;
}

static void	inproc_done(void *owner, int status, cJSON *final, const char *why);
static void	stdin_cb(struct ev_loop *, ev_io *, int);

/* Stop every watcher of the job and close its stdin (its pidfd stays until release). */
static void
watchers_stop(struct job *jb)
{
	ev_child_stop(P.loop, &jb->child_w);
	ev_io_stop(P.loop, &jb->pidfd_w);
	ev_timer_stop(P.loop, &jb->poll_w);
	ev_timer_stop(P.loop, &jb->expire_w);
	ev_timer_stop(P.loop, &jb->kill_w);
	ev_io_stop(P.loop, &jb->stdin_w);
	if (jb->stdin_fd >= 0) {
		close(jb->stdin_fd);
		jb->stdin_fd = -1;
	}
}

/* The process and its group are gone or going: record how it ended. */
static void
job_ended(struct job *jb, int wstatus, int unknown)
{
	char what[128];

	watchers_stop(jb);
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
	if (!jb->inproc && jb->log_path != NULL && logcap_finish(jb->log_path, P.cfg.log_max,
	    &jb->logcap) != 0)
		jlog_warnx(jb, "cannot cap its log %s: %s", jb->log_path, strerror(errno));
	if (unknown)
		jlog_info(jb, "ended while unwatched%s%s", jb->stop_reason ? ": " : "",
		    jb->stop_reason ? jb->stop_reason : "");
	else
		jlog_info(jb, "%s%s%s", etl_wstatus_text(wstatus, what, sizeof(what)),
		    jb->stop_reason ? ": " : "", jb->stop_reason ? jb->stop_reason : "");
	job_set_state(jb, J_ENDED);
	P.on_end();
}

/*
 * A job that cannot start.  Refused: bad everywhere (a bad task name, a task that cannot
 * be executed): failed for good.  Released: a problem of this host (its task or user
 * missing here, a spawn refused for want of processes, descriptors or memory), not the
 * job's fault: back to the queue for another controller (etl.release), failed for good
 * only when every live controller has tried it.
 */
static void
job_not_started(struct job *jb, const char *why, int release)
{
	jlog_warnx(jb, "cannot start%s: %s%s", release ? " here" : "", why,
	    release ? ": back to the queue for another controller" : "");
	strlcpy(jb->reason_buf, why, sizeof(jb->reason_buf));
	jb->stop_reason = jb->reason_buf;
	jb->release = release;
	jb->no_retry = !release;
	job_ended(jb, 0, 1);
}
#define job_refuse(jb, why)	job_not_started((jb), (why), 0)
#define job_release(jb, why)	job_not_started((jb), (why), 1)

/* Whether a failed spawn is this host's trouble (transient or local), not the task's. */
static int
host_trouble(int err)
{
	return err == EAGAIN || err == EMFILE || err == ENFILE || err == ENOMEM ||
	    err == ENOENT;
}

/* Stop the task's process group: SIGTERM now, SIGKILL after the grace period. */
void
proc_stop(struct job *jb, const char *reason)
{
	if (jb->state == J_ENDED || jb->state == J_FINISHING || jb->stop_reason != NULL)
		return;
	jb->stop_reason = reason;
	jlog_info(jb, "stopping: %s", reason);
	if (jb->inproc) {
		/* a thread cannot be killed: the task is asked, through etl_cancelled() */
		if (jb->ij != NULL)
			inproc_cancel(jb->ij);
		return;
	}
	/* its keeper stops the task's group and all it left, SIGKILL after the grace */
	if (jb->pid > 0 && kill(jb->pid, SIGTERM) != 0 && errno != ESRCH)
		jlog_warnx(jb, "kill SIGTERM: %s", strerror(errno));
	/* a keeper that does not end after its grace is past saving: the group goes */
	ev_timer_set(&jb->kill_w, P.cfg.kill_grace + 5, 0);
	ev_timer_start(P.loop, &jb->kill_w);
}

static void
kill_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	if (jb->inproc) {
		jlog_warnx(jb, "still running %.1f s after it was asked to stop: an in-process "
		    "task cannot be killed", P.cfg.kill_grace);
		return;
	}
	jlog_warnx(jb, "its keeper still runs %.1f s after SIGTERM: SIGKILL to the job's group",
	    P.cfg.kill_grace + 5);
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
	proc_stop(jb, jb->reason_buf);
}

/*
 * Its keeper has exited (kws: its wait status when it was our child, else -1): the task
 * and all it left are gone, and the keeper's status file says exactly how it ended.
 * Without the file (the keeper was killed, or could not write it), the keeper's own
 * exit status mirrors the task's when we have it; else the end is unknown.
 */
static void
keeper_ended(struct job *jb, int kws)
{
	struct keeper_end ke;
	char why[PATH_MAX + 128];

	if (keeper_status(jb->status_path, &ke) == 0) {
		if (ke.exec_errno != 0) {
			snprintf(why, sizeof(why), "cannot execute %s: %s", jb->j->task,
			    strerror(ke.exec_errno));
			if (host_trouble(ke.exec_errno))
				job_release(jb, why);
			else
				job_refuse(jb, why);
			return;
		}
		if (jb->stop_reason == NULL && strcmp(ke.stopped, "lease") == 0)
			jb->stop_reason = "stopped by its keeper: this controller's lease ran out";
		job_ended(jb, ke.wstatus, 0);
		return;
	}
	if (kws >= 0 && WIFEXITED(kws) && WEXITSTATUS(kws) != KEEPER_TROUBLE) {
		int code = WEXITSTATUS(kws);

		jlog_warnx(jb, "its keeper left no status file: its end is taken from the "
		    "keeper's exit status");
		job_ended(jb, code > 128 ? W_EXITCODE(0, code - 128) : W_EXITCODE(code, 0), 0);
		return;
	}
	if (kws >= 0 && WIFSIGNALED(kws)) {
		/* the task dies with its keeper (its parent-death signal is SIGKILL) */
		jlog_warnx(jb, "its keeper was killed by signal %d: its task with it",
		    WTERMSIG(kws));
		job_ended(jb, kws, 0);
		return;
	}
	job_ended(jb, 0, 1);
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	(void)loop;
	(void)revents;
	keeper_ended(w->data, w->rstatus);
}

/* An adopted keeper is not our child: its pidfd turns readable when it exits. */
static void
pidfd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	keeper_ended(w->data, -1);
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb = w->data;

	(void)loop;
	(void)revents;
	if (kill(jb->pid, 0) != 0 && errno == ESRCH)
		keeper_ended(jb, -1);
}

/* Write what is left of the INITIAL; the task may close its stdin early (EPIPE). */
static void
stdin_write(struct job *jb)
{
	ssize_t n;

	while (jb->ioff < jb->ilen) {
		n = write(jb->stdin_fd, jb->initial + jb->ioff, jb->ilen - jb->ioff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!ev_is_active(&jb->stdin_w)) {
				ev_io_set(&jb->stdin_w, jb->stdin_fd, EV_WRITE);
				ev_io_start(P.loop, &jb->stdin_w);
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
	ev_io_stop(P.loop, &jb->stdin_w);
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
	ev_timer_start(P.loop, &jb->expire_w);
}

/* Whether this controller's configuration lets a task run as name (--user, --allow-user). */
static int
user_allowed(const char *name)
{
	const char *p = P.cfg.allow_users;
	size_t n = strlen(name);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return 1;
		p = strchr(p, ',');
		p = p != NULL ? p + 1 : NULL;
	}
	return 0;
}

/*
 * The user a job's task runs as: as root, the queue's run_as, else --user, else nobody:
 * never root unless asked ("root").  Not root: the controller's own user, whatever the
 * queue says.
 * The user must be one this controller's configuration allows (--user, --allow-user).
 * 0 and *u filled, 1 for no change, -1 when the user does not exist, -2 when it is not
 * allowed.
 */
/*
 * With --uid-range, a task of a queue without run_as runs under a uid of its own from
 * the range, free while no task of ours runs under it (the model of systemd's
 * DynamicUser=): tasks of different jobs cannot signal, trace or read each other.  Its
 * group is --user's.  Taken round-robin, so a uid just freed is the last to come back.
 */
static int
uid_take(struct job *jb)
{
	unsigned n = P.cfg.uid_last - P.cfg.uid_first + 1, i, k;

	for (i = 0; i < n; i++) {
		k = (P.uid_next + i) % n;
		if (!P.uid_used[k]) {
			P.uid_used[k] = 1;
			P.uid_next = (k + 1) % n;
			jb->dyn_uid = P.cfg.uid_first + k;
			return 0;
		}
	}
	return -1;
}

static void
uid_give(struct job *jb)
{
	if (jb->dyn_uid != 0)
		P.uid_used[jb->dyn_uid - P.cfg.uid_first] = 0;
	jb->dyn_uid = 0;
}

/* An adopted task (the child of its keeper, pid) keeps the range's uid it runs under. */
static void
uid_adopt(struct job *jb, pid_t keeper)
{
	char path[64], buf[4096], *p;
	unsigned uid;

	if (P.uid_used == NULL)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)keeper, (int)keeper);
	if (read_small(path, buf, sizeof(buf)) < 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/status", atoi(buf));
	if (read_small(path, buf, sizeof(buf)) < 0)
		return;
	if ((p = strstr(buf, "\nUid:")) == NULL || sscanf(p + 5, "%u", &uid) != 1 ||
	    uid < P.cfg.uid_first || uid > P.cfg.uid_last || P.uid_used[uid - P.cfg.uid_first])
		return;
	P.uid_used[uid - P.cfg.uid_first] = 1;
	jb->dyn_uid = uid;
}

static int
task_user(struct job *jb, struct spawn_user *u, char *home, size_t homesz)
{
	const etl_job *ej = jb->j;
	const char *name = ej->run_as ? ej->run_as : P.cfg.user ? P.cfg.user : "nobody";
	struct passwd *pw;

	if (geteuid() != 0)
		return 1;
	if (!user_allowed(name))
		return -2;
	if (strcmp(name, "root") == 0)
		return 1;
	errno = 0;	/* tells "no such user" from a failed lookup */
	if ((pw = getpwnam(name)) == NULL)
		return -1;
	u->name = name;
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	snprintf(home, homesz, "%s", pw->pw_dir ? pw->pw_dir : "/");
	if (ej->run_as == NULL && P.uid_used != NULL) {
		if (uid_take(jb) != 0)
			return -3;
		u->uid = jb->dyn_uid;
		snprintf(jb->uid_name, sizeof(jb->uid_name), "etl-%u", jb->dyn_uid);
		u->name = jb->uid_name;
		snprintf(home, homesz, "/");
	}
	return 0;
}

/*
 * The queue's limits, for its keeper to set in the task before exec (-r) and for its
 * ERROR (jb->limits).
 */
static void
limits_of(struct job *jb, char *arg, size_t argsz)
{
	const etl_job *ej = jb->j;
	char buf[160];
	size_t n = 0, a = 0;

	buf[0] = arg[0] = '\0';
	if (ej->rlimit_as > 0) {
		a += (size_t)snprintf(arg + a, argsz - a, "as=%lld,", (long long)ej->rlimit_as);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_AS %lld bytes",
		    n ? ", " : "", (long long)ej->rlimit_as);
	}
	if (ej->rlimit_cpu > 0 && a < argsz) {
		a += (size_t)snprintf(arg + a, argsz - a, "cpu=%d,", ej->rlimit_cpu);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_CPU %d s", n ? ", " : "",
		    ej->rlimit_cpu);
	}
	if (ej->rlimit_nofile > 0 && n < sizeof(buf) && a < argsz) {
		a += (size_t)snprintf(arg + a, argsz - a, "nofile=%d,", ej->rlimit_nofile);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sRLIMIT_NOFILE %d",
		    n ? ", " : "", ej->rlimit_nofile);
	}
	if (jb->core_dir != NULL && a < argsz)
		a += (size_t)snprintf(arg + a, argsz - a, "core=unlimited,");
	if (a > 0 && a < argsz)
		arg[a - 1] = '\0';
	if (n > 0 && n < sizeof(buf))
		jb->limits = xstrdup(buf);
}

/* A line that starts each run's part of the job's log (all runs append to one file):
 * which run, which attempt, where and when. */
static void
log_marker(int fd, const etl_job *ej)
{
	char line[256], when[32], host[128];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	n = snprintf(line, sizeof(line), "--- etl: job %s run %d (attempt %d of %d) on %s at "
	    "%s ---\n", ej->id, ej->run, ej->retry_count + 1, ej->retry_limit + 1, host, when);
	if (n > 0 && write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		log_warn("job %s: writing its log", ej->id);
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
	if (avail >= 64 * 1024 || ev_now(P.loop) - last < 60)
		return;
	last = ev_now(P.loop);
	log_warnx("the log folder %s is full (%llu bytes free): tasks' output is being lost",
	    P.cfg.log_dir, avail);
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

	if (!remote_is_local(ej)) {
		char *text;

		if (remote_prepare(ej, &text, &err) != 0) {
			/* its database may come back: let it retry */
			jlog_warnx(jb, "cannot prepare its context: %s", err.message);
			snprintf(jb->reason_buf, sizeof(jb->reason_buf), "%s", err.message);
			jb->stop_reason = jb->reason_buf;
			job_ended(jb, 0, 1);
			return -1;
		}
		jb->initial = text;
	} else if ((jb->initial = etl_initial_text(ej, P.cfg.pg_env, &err)) == NULL) {
		job_refuse(jb, err.message);
		return -1;
	}
	jb->ilen = strlen(jb->initial);
	/* the INITIAL holds the payload now: a large one is not kept twice */
	FREE(ej->data);
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
		job_release(jb, why);
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
	jb->ij = inproc_submit(jb, jb->fn, jb->initial, jb->ilen, remote_is_local(ej),
	    ej->fresh && remote_is_local(ej));
	jb->initial = NULL;	/* the run has it */
}

/* Start a claimed job's task (SPEC section 4). */
void
proc_start(etl_job *ej)
{
	char path[PATH_MAX], logp[PATH_MAX], home[PATH_MAX], limits[128], **env;
	struct job *jb = job_new(ej);
	struct spawn_user user;
	struct spawn_req req;
	const char *job_pg_env;
	etl_error err;
	int fds[2], logfd, as;

	watch_init(jb);
	if (etl_task_resolve(NULL, ej->task, 1, path, sizeof(path), &err) != 0) {
		/* missing here may be there; a bad name is bad everywhere */
		if (err.code == ETL_ENOTFOUND)
			job_release(jb, err.message);
		else
			job_refuse(jb, err.message);
		return;
	}
	if (ej->inprocess) {
		job_start_inproc(jb, path);
		return;
	}
	if ((as = task_user(jb, &user, home, sizeof(home))) == -3) {
		job_release(jb, "every uid of --uid-range is in use");
		return;
	}
	if (as == -2) {
		char why[256];

		/* a row in the database (a queue's run_as) never chooses who a task runs as */
		snprintf(why, sizeof(why), "run_as '%s' is not allowed by this controller "
		    "(--user and --allow-user allow: %s)", ej->run_as ? ej->run_as : "?",
		    P.cfg.allow_users);
		job_refuse(jb, why);
		return;
	}
	if (as < 0) {
		char why[160];

		snprintf(why, sizeof(why), "no user '%s' to run as on this host%s%s",
		    ej->run_as ? ej->run_as : P.cfg.user ? P.cfg.user : "nobody",
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
		job_release(jb, why);
		return;
	}
	if (job_initial(jb) != 0)
		return;
	if ((logfd = open_log(P.cfg.log_dir, ej->id, logp, sizeof(logp))) < 0) {
		log_warn("job %s: cannot open its log %s (its output is lost)", ej->id, logp);
		logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	} else {
		jb->log_path = xstrdup(logp);
		check_log_space(logfd);
		log_marker(logfd, ej);
		/* readable by the task's user and the operators' group only */
		if (as == 0 && fchown(logfd, user.uid, getegid()) != 0)
			log_warn("job %s: chown %s", ej->id, logp);
	}
	if (pipe2(fds, O_CLOEXEC) != 0) {
		char why[160];

		snprintf(why, sizeof(why), "pipe: %s", strerror(errno));
		close(logfd);
		job_release(jb, why);
		return;
	}
	if (ej->keep_cores) {
		char d[PATH_MAX];

		snprintf(d, sizeof(d), "%s/cores", P.cfg.log_dir);
		(void)mkdir(d, 0750);
		snprintf(d, sizeof(d), "%s/cores/%s", P.cfg.log_dir, ej->id);
		if (mkdir(d, 0750) == 0 || errno == EEXIST) {
			jb->core_dir = xstrdup(d);
			if (as == 0 && chown(d, user.uid, getegid()) != 0)
				log_warn("job %s: chown %s", ej->id, d);
		}
		else
			log_warn("job %s: cannot make its core folder %s", ej->id, d);
	}
	job_pg_env = ej->pg_env[0] ? ej->pg_env : P.cfg.pg_env;
	env = task_env(ej, job_pg_env, P.cfg.pg_env, as == 0 ? &user : NULL, home);
	limits_of(jb, limits, sizeof(limits));
	jb->status_path = status_path(ej);
	(void)unlink(jb->status_path);	/* a stale one of a run that never started */
	memset(&req, 0, sizeof(req));
	req.path = path;
	req.stdin_fd = fds[0];
	req.log_fd = logfd;
	req.cwd = jb->core_dir;
	req.envp = env;
	req.user = as == 0 ? &user : NULL;
	req.status = jb->status_path;
	req.lease = P.cfg.lease > 0 ? P.lease_path : NULL;
	req.lease_len = P.cfg.lease;
	req.grace = P.cfg.kill_grace;
	req.limits = limits;
	req.nice = ej->nice;
	req.secret_fd = ej->secret != NULL ? secret_memfd(ej->secret) : -1;
	if (ej->secret != NULL && req.secret_fd < 0)
		jlog_warnx(jb, "cannot hand its task its run's secret: %s", strerror(errno));
	jb->pid = spawn_task(&req);
	if (req.secret_fd >= 0)
		close(req.secret_fd);
	env_free(env);
	close(fds[0]);
	close(logfd);
	if (jb->pid < 0) {
		char why[PATH_MAX + 128];

		int e = errno;

		jb->pid = 0;
		snprintf(why, sizeof(why), "cannot execute %s: %s", spawn_keeper_path(),
		    strerror(e));
		close(fds[1]);
		if (host_trouble(e))
			job_release(jb, why);
		else
			job_refuse(jb, why);
		return;
	}
	jb->stdin_fd = fds[1];
	(void)fcntl(jb->stdin_fd, F_SETFL, O_NONBLOCK);
	/* libev reaps on the loop, so this watcher is in place before its SIGCHLD is seen */
	ev_child_set(&jb->child_w, jb->pid, 0);
	ev_child_start(P.loop, &jb->child_w);
	/* a task waiting for its debugger does not spend its run time */
	start_expiry(jb, ej->expire_seconds + (ej->debug_wait ? P.cfg.debug_wait : 0));
	jlog_info(jb, "started %s (queue %s, attempt %d)", path, ej->queue, ej->retry_count + 1);
}

/*
 * Take over a job a previous run of this controller left running: its keeper (the
 * job's pid) if it still runs, else the end the keeper wrote.
 */
void
proc_adopt(etl_job *ej)
{
	struct job *jb = job_new(ej);
	double left;

	watch_init(jb);
	jb->pid = ej->pid;
	jb->adopted = 1;
	jb->status_path = status_path(ej);
	/* its pid is recorded (by the run that spawned it), its INITIAL written unless that
	 * run died first (the task then read EOF and exits 75: supervisor.c, end_of) */
	job_set_state(jb, J_RUNNING);
	if (ej->pid <= 0 || ej->pid_start_time < 0 ||
	    etl_pid_start_time(ej->pid) != ej->pid_start_time) {
		/* gone, or its pid now belongs to another process */
		jlog_info(jb, "was running before we started; its keeper is gone");
		keeper_ended(jb, -1);
		return;
	}
	jb->pidfd = (int)syscall(SYS_pidfd_open, ej->pid, 0);
	if (jb->pidfd >= 0) {
		(void)fcntl(jb->pidfd, F_SETFD, FD_CLOEXEC);
		ev_io_set(&jb->pidfd_w, jb->pidfd, EV_READ);
		ev_io_start(P.loop, &jb->pidfd_w);
	} else {
		ev_timer_set(&jb->poll_w, 0.2, 0.2);
		ev_timer_start(P.loop, &jb->poll_w);
	}
	left = ej->started_on + ej->expire_seconds - ev_now(P.loop);
	start_expiry(jb, left);
	uid_adopt(jb, ej->pid);
	jlog_info(jb, "adopted (%s)", jb->pidfd >= 0 ? "pidfd" : "polling");
	/* cancelled while nobody watched it: it still has to stop */
	if (ej->cancelled)
		proc_stop(jb, "cancelled");
}

static void
stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	stdin_write(w->data);
}

void
proc_write_initial(struct job *jb)
{
	if (jb->stdin_fd >= 0)
		stdin_write(jb);
}

void
proc_release(struct job *jb, int recorded)
{
	watchers_stop(jb);
	if (jb->pidfd >= 0)
		close(jb->pidfd);
	jb->pidfd = -1;
	/* the database has the end now: its keeper's word is no longer needed */
	if (recorded && jb->status_path != NULL)
		(void)unlink(jb->status_path);
	FREE(jb->status_path);
	/* its keeper is gone, and with it every process of the job: its uid is free */
	if (jb->state == J_ENDED || jb->state == J_FINISHING)
		uid_give(jb);
}

/*
 * Our beat sent at sent (CLOCK_BOOTTIME) was recorded: the keepers may let our tasks run
 * for another lease from then.  The file is replaced, never written in place, so a
 * keeper reads a whole one.
 */
void
proc_lease_renew(double sent)
{
	char tmp[PATH_MAX + 8], buf[64];
	int fd, n, ok;

	if (P.cfg.lease <= 0)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", P.lease_path);
	n = snprintf(buf, sizeof(buf), "%.3f\n", sent);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, P.lease_path) != 0) {
		log_warn("cannot renew the lease in %s (our tasks stop when it runs out)",
		    P.lease_path);
		(void)unlink(tmp);
	}
}

/*
 * Once our jobs are adopted (and before we claim any): the status files of runs that are
 * no longer ours to record (put back unstarted, rescued by another controller) go.
 */
void
proc_sweep(void)
{
	struct dirent *d;
	struct job *jb;
	DIR *dp;
	int s, mine;

	if ((dp = opendir(P.cfg.keeper_dir)) == NULL)
		return;
	while ((d = readdir(dp)) != NULL) {
		if (d->d_name[0] == '.' || strcmp(d->d_name, "lease") == 0)
			continue;
		mine = 0;
		for (s = 0; s < J_NSTATES && !mine; s++)
			TAILQ_FOREACH(jb, job_list((enum jstate)s), link)
				if (jb->status_path != NULL && strcmp(strrchr(jb->status_path,
				    '/') + 1, d->d_name) == 0) {
					mine = 1;
					break;
				}
		if (!mine && unlinkat(dirfd(dp), d->d_name, 0) == 0)
			log_debug("removed the stale keeper status %s", d->d_name);
	}
	closedir(dp);
}

/* Twice a second: the logs of running tasks stay within --log-max. */
static void
logcap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct job *jb;
	int s;

	(void)loop;
	(void)w;
	(void)revents;
	for (s = J_SPAWNED; s <= J_RUNNING; s++)
		TAILQ_FOREACH(jb, job_list((enum jstate)s), link)
			if (!jb->inproc && jb->log_path != NULL &&
			    logcap_trim(jb->log_path, P.cfg.log_max, &jb->logcap) != 0)
				jlog_warnx(jb, "cannot cap its log %s: %s", jb->log_path,
				    strerror(errno));
}

void
proc_init(struct ev_loop *loop, const struct proc_config *cfg, void (*on_end)(void))
{
	struct stat st;

	P.loop = loop;
	P.cfg = *cfg;
	P.on_end = on_end;
	/* the keepers' folder: their status files and our lease, ours alone */
	if (mkdir(cfg->keeper_dir, 0700) != 0 && errno != EEXIST)
		fatal("cannot make the keepers' folder %s", cfg->keeper_dir);
	if (lstat(cfg->keeper_dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		fatalx("the keepers' folder %s is not a folder of ours", cfg->keeper_dir);
	if ((st.st_mode & 077) != 0 && chmod(cfg->keeper_dir, 0700) != 0)
		fatal("chmod %s", cfg->keeper_dir);
	if ((size_t)snprintf(P.lease_path, sizeof(P.lease_path), "%s/lease", cfg->keeper_dir) >=
	    sizeof(P.lease_path))
		fatalx("the keepers' folder's name is too long: %s", cfg->keeper_dir);
	if (spawn_init() != 0)
		fatal("cannot find etl-keeper (%s)", spawn_keeper_path());
	if (cfg->uid_first > 0)
		P.uid_used = xcalloc(cfg->uid_last - cfg->uid_first + 1, 1);
	inproc_init(loop, cfg->concurrency, inproc_done);
	if (cfg->log_max > 0) {
		ev_timer_init(&P.logcap_w, logcap_cb, 0.5, 0.5);
		ev_timer_start(loop, &P.logcap_w);
	}
}
