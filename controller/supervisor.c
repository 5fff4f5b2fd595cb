/*
 * supervisor.c: what the controller asks of the database, and when: claims, the batched
 * pid and end statements, adoption and release after a (re)connection, the heartbeat,
 * maintenance (orphans of dead controllers, cron, retention, job counts) and shutdown.
 * It never blocks on the database (jobs of other pg_envs go through remote.c) and never
 * touches a process (process.c does); jobs move through the table of job.c:
 *
 *   claim -> proc_start -> SPAWNED -> (pids statement) STARTING -> RUNNING: write INITIAL
 *   reaped -> ENDED -> (end statement) FINISHING -> freed once recorded
 *
 * The INITIAL is written only after the pid is in the database, so if we die before,
 * the task reads EOF and does nothing, and the job is put back (release_unstarted).
 * Pids and ends go on the second connection (DB_ENDS), beside the claims.
 */
#include <sys/wait.h>

#include <errno.h>
#include <time.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "db.h"
#include "job.h"
#include "logsweep.h"
#include "process.h"
#include "remote.h"
#include "spawn.h"
#include "stats.h"
#include "supervisor.h"
#include "wake.h"
#include "xmalloc.h"

#define HANDONS_MAX	64	/* wake-ups to hand on, waiting for a claim's answer */
#define VIEW_EVERY	2.0	/* seconds between reads of etl.wake_view */

static struct {
	struct ev_loop		*loop;
	struct sup_config	 cfg;
	int64_t			 start_time;	/* our own pid's, for in-process jobs' claims */
	double			 claim_sent;
	double			 next_sweep;	/* when job logs are swept next */
	int			 claiming;
	int			 claim_again;
	int			 adopted_once;
	int			 backlog;	/* the last claim filled every free slot */
	int			 shutting_down;
	int			 stop_tasks;
	int			 locked_once;	/* our id's liveness lock was ours once */
	int			 lock_tries;
	ev_timer		 lock_w;	/* at start: try the lock again */
	ev_timer		 view_w;	/* read etl.wake_view again */
	int			 beats_checking;	/* stale_beats in flight */
	double			 beats_checked;
	unsigned		 start_batch;	/* pid records sent */
	double			 counts_sent;	/* when the last job count went out */
	int			 more;		/* a claim may find work: the last one filled
						 * every free slot, or a wake-up or an end of a
						 * limited queue's job came since */
	struct {
		char	*payload;	/* to hand on if the next claim cannot take */
		long	 share;		/* this many jobs */
	}			 handons[HANDONS_MAX];
	int			 nhandons;
	char			*queues_csv;	/* cfg.queues, for our row (NULL: all) */
	double			 view_sent;
	int			 view_reading;
	int			 maintaining;	/* a maintenance statement is in flight */
	int			 trashing;	/* a take of etl.log_trash is in flight */
} sup;

static void	claim_maybe(void);
static void	flush_started(void);
static void	flush_finish(void);
static void	view_read(void);

static void
ignore_cb(PGresult *res, const char *why, void *arg)
{
	if (res == NULL)
		log_warnx("%s: %s", (const char *)arg, why);
}

/*
 * The wake-ups we answered, once our claim took `took` jobs: those whose share it
 * covered are done, the others are handed on, each to the next controller of its
 * order, if hand_on (the claim left ready jobs behind, or failed, or we were full);
 * else none is (nothing was left that we could see).
 */
static void
handons_end(long took, int hand_on)
{
	etl_stmt st;
	etl_error err;
	int i;

	for (i = 0; i < sup.nhandons; i++) {
		if (!hand_on || took >= sup.handons[i].share) {
			took -= hand_on ? sup.handons[i].share : 0;
		} else if (db_is_up() && etl_stmt_wake(&st, sup.handons[i].payload, &err) == 0) {
			ctl_stats.handons++;
			db_submit(&st, ignore_cb, "handing a wake-up on");
		}
		free(sup.handons[i].payload);
		sup.handons[i].payload = NULL;
	}
	sup.nhandons = 0;
}

/* After the ends of jobs: claim only if a claim may find something (see sup.more). */
static void
claim_after_end(void)
{
	if (sup.more)
		claim_maybe();
}

static void
update_title(void)
{
	/* what the claims tell us of the queues, without counting them */
	setproctitle("%d running, %s%s", job_total(), sup.backlog ? "jobs waiting" :
	    "queues empty", sup.shutting_down ? ", stopping" : "");
}

/* A job leaves the table: its watchers first, then its row in the table. */
static void
job_done(struct job *jb, int recorded)
{
	proc_release(jb, recorded);
	job_free(jb);
}

static void
claim_cb(PGresult *res, const char *why, void *arg)
{
	etl_job **jobs;
	etl_error err;
	long i, n, limit = (long)(intptr_t)arg;

	sup.claiming = 0;
	stats_claim(ev_time() - sup.claim_sent);
	if (res == NULL) {
		log_warnx("claim failed: %s", why);
		handons_end(0, 1);
		return;
	}
	if ((n = etl_claim_result(res, &jobs, &err)) < 0) {
		log_warnx("claim: %s", err.message);
		handons_end(0, 1);
		return;
	}
	sup.more = n == limit && etl_claim_more(res);
	sup.backlog = sup.more;
	ctl_stats.claimed += (unsigned long)n;
	for (i = 0; i < n; i++)
		proc_start(jobs[i]);	/* takes the job */
	free(jobs);
	update_title();
	if (n > 0)
		flush_started();
	if (n == limit || sup.claim_again) {
		sup.claim_again = 0;
		claim_maybe();
	}
	/* a claim that follows judges the wake-ups; else this one: it took what it could
	 * (with a priority range it may have passed over what it was woken for) */
	if (!sup.claiming)
		handons_end(n, sup.more || sup.cfg.min_priority != NULL ||
		    sup.cfg.max_priority != NULL);
}

static void
claim_maybe(void)
{
	etl_stmt st;
	etl_error err;
	long free_slots = sup.cfg.concurrency - job_busy();

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
	if (etl_stmt_claim_pid(&st, getpid(), sup.start_time) != 0 ||
	    etl_stmt_claim_priority(&st, sup.cfg.min_priority, sup.cfg.max_priority) != 0) {
		etl_stmt_clear(&st);
		log_warnx("claim: out of memory");
		return;
	}
	sup.claiming = 1;
	sup.claim_sent = ev_time();
	db_submit(&st, claim_cb, (void *)(intptr_t)free_slots);
}

/* Whether res (a column of ids) names job id. */
static int
in_ids(PGresult *res, const char *id)
{
	int i;

	for (i = 0; i < PQntuples(res); i++)
		if (strcmp(PQgetvalue(res, i, 0), id) == 0)
			return 1;
	return 0;
}

/*
 * The pids of batch (arg) are recorded: now, and only now, their tasks get their
 * INITIAL.  A job the database names lost (no row of its run: a failover to a server
 * that never saw the claim, or the job moved on) is not ours: its task is stopped
 * before it starts and nothing of it is recorded.  The batch is taken first: writing an
 * INITIAL may end a job and send the next batch, whose jobs are not this answer's.
 */
static void
started_cb(PGresult *res, const char *why, void *arg)
{
	unsigned batch = (unsigned)(uintptr_t)arg;
	struct job *jb, **mine;
	int i, n = 0;

	mine = xcalloc((size_t)job_count(J_STARTING) + 1, sizeof(struct job *));
	TAILQ_FOREACH(jb, job_list(J_STARTING), link)
		if (jb->start_batch == batch)
			mine[n++] = jb;
	for (i = 0; i < n; i++) {
		jb = mine[i];
		if (jb->state != J_STARTING)
			continue;	/* ended meanwhile (its keeper's end was read) */
		if (res == NULL) {
			job_set_state(jb, J_SPAWNED);	/* sent again when the database is back */
			continue;
		}
		job_set_state(jb, J_RUNNING);
		if (in_ids(res, jb->j->id)) {
			jb->lost = 1;
			proc_stop(jb, "its claim was lost (no row of its run took its pid: a "
			    "failover to a server that never saw the claim, or the job moved on): "
			    "stopped before it started");
			continue;
		}
		proc_write_initial(jb);
	}
	free(mine);
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
	size_t n = (size_t)job_count(J_SPAWNED);

	if (job_count(J_STARTING) > 0 || !db_up_on(DB_ENDS) || n == 0)
		return;
	jobs = xcalloc(n, sizeof(etl_job *));
	pids = xcalloc(n, sizeof(pid_t));
	logs = xcalloc(n, sizeof(const char *));
	n = 0;
	sup.start_batch++;
	while ((jb = TAILQ_FIRST(job_list(J_SPAWNED))) != NULL) {
		jobs[n] = jb->j;
		pids[n] = jb->pid;
		logs[n++] = jb->log_path;
		jb->start_batch = sup.start_batch;
		job_set_state(jb, J_STARTING);
	}
	if (etl_stmt_started(&st, jobs, pids, logs, sup.cfg.host, n, &err) != 0)
		fatalx("recording started jobs: %s", err.message);
	free(jobs);
	free(pids);
	free(logs);
	db_submit_on(DB_ENDS, &st, started_cb, (void *)(uintptr_t)sup.start_batch);
}

/* No exit status we can trust (unwatched, or stopped by us): a failure, retried. */
static int
end_status(const struct job *jb)
{
	return jb->unknown || jb->stop_reason != NULL ? 1 << 8 : jb->wstatus;
}

/* A job of another pg_env: its end is recorded with blocking calls (remote.c). */
static int
finish_remote(struct job *jb)
{
	enum etl_job_state state;
	etl_error err;
	char *tail = NULL;
	int wstatus = end_status(jb), rc;

	if (etl_outcome_of(wstatus) != ETL_OUT_OK)
		tail = log_tail(jb->log_path, 2048);
	rc = remote_finish(jb->j, wstatus, tail, &state, &err);
	free(tail);
	if (rc != 0) {
		jlog_warnx(jb, "cannot record its end yet: %s", err.message);
		return -1;
	}
	jlog_info(jb, "recorded: %s", etl_job_state_name(state));
	stats_moved(jb->j->queue, state, job_run_seconds(jb));
	if (wake_limited(jb->j->queue))
		sup.more = 1;
	return 0;
}

static void
finish_cb(PGresult *res, const char *why, void *arg)
{
	etl_moved *moved = NULL;
	struct job *jb;
	etl_error err;
	long i, n = -1;

	(void)arg;
	if (res != NULL && (n = etl_moved_result(res, &moved, &err)) < 0)
		log_warnx("recording ended jobs: %s", err.message);
	for (i = 0; i < n; i++) {
		if (moved[i].state == ETL_JOB_NSTATES) {
			/* fenced: its job moved on (cancelled, retried, rescued) */
			log_info("job %s: the end of its run was not recorded: the job has moved "
			    "on", moved[i].id);
			continue;
		}
		log_debug("job %s: %s", moved[i].id, etl_job_state_name(moved[i].state));
		jb = job_by_id(moved[i].id);
		stats_moved(jb ? jb->j->queue : NULL, moved[i].state,
		    jb ? job_run_seconds(jb) : -1);
		/* its slot is free: a job of its queue held back by a limit may go now */
		if (jb == NULL || wake_limited(jb->j->queue))
			sup.more = 1;
	}
	free(moved);
	while ((jb = TAILQ_FIRST(job_list(J_FINISHING))) != NULL) {
		if (res != NULL) {
			job_done(jb, 1);
			continue;
		}
		job_set_state(jb, J_ENDED);
		if (db_up_on(DB_ENDS)) {
			/*
			 * The database refused the statement (a trigger, a full disk): each job
			 * of it is sent again alone, so one bad job holds up no other, with a
			 * growing pause; never given up, or its row stays active for good.
			 */
			jb->finish_errors++;
			jb->finish_next = ev_now(sup.loop) +
			    (jb->finish_errors > 5 ? 30.0 : (double)(1 << (jb->finish_errors - 1)));
			if (jb->finish_errors == 1 || jb->finish_errors % 10 == 0)
				jlog_warnx(jb, "recording its end failed %d time%s (%s): trying "
				    "again alone", jb->finish_errors, jb->finish_errors == 1 ? "" :
				    "s", why);
		}
	}
	if (res == NULL)
		log_warnx("recording ended jobs failed: %s", why);
	flush_finish();
	claim_after_end();
}

/* What the end statement records of a job; *tail gets its log's tail when it failed. */
static void
end_of(struct job *jb, etl_end *e, char **tail)
{
	memset(e, 0, sizeof(*e));
	e->id = jb->j->id;
	e->etl_context_id = jb->j->etl_context_id;
	e->since = jb->j->since;
	e->task = jb->j->task;
	e->wstatus = jb->wstatus;
	e->unknown = jb->unknown;
	e->reason = jb->stop_reason;
	e->no_retry = jb->no_retry;
	e->release = jb->release;
	/* adopted, and its task exited 75: it may have read EOF, our previous run dead
	 * before its INITIAL (a task that failed for a moment gets a retry not counted) */
	e->unstarted = jb->adopted && !jb->unknown && jb->stop_reason == NULL &&
	    WIFEXITED(jb->wstatus) && WEXITSTATUS(jb->wstatus) == 75;
	if (e->unstarted)
		jlog_info(jb, "adopted, exited 75: its task may never have had its INITIAL; back "
		    "to the queue, not counted as a retry");
	e->run = jb->j->run;
	e->core_file = jb->core_file;
	e->limits = jb->limits;
	e->final = jb->final;
	*tail = NULL;
	if (etl_outcome_of(end_status(jb)) != ETL_OUT_OK)
		e->log_tail = *tail = log_tail(jb->log_path, 2048);
}

/*
 * Send the ends of the jobs that ended: all of them in one statement, except those whose
 * end the database refused before, which go alone once their pause is over (first), so
 * that one job the database keeps refusing holds up no other.
 */
static void
flush_finish(void)
{
	struct job *jb, *next, *alone = NULL;
	etl_end *ends;
	etl_stmt st;
	etl_error err;
	size_t n = 0;
	char **tails;

	if (job_count(J_FINISHING) > 0 || !db_up_on(DB_ENDS))
		return;
	TAILQ_FOREACH_SAFE(jb, job_list(J_ENDED), link, next) {
		if (jb->lost) {
			/* not ours: nothing to record (its end would touch another's run) */
			jlog_info(jb, "ended; its claim was lost: nothing recorded");
			job_done(jb, 1);
			continue;
		}
		/* a release touches only the job's row: ours, whatever its pg_env */
		if (!remote_is_local(jb->j) && !jb->release) {
			if (finish_remote(jb) == 0)
				job_done(jb, 1);
		} else if (jb->finish_errors == 0) {
			n++;
		} else if (alone == NULL && jb->finish_next <= ev_now(sup.loop)) {
			alone = jb;
		}
	}
	if (alone != NULL)
		n = 1;
	if (n == 0) {
		claim_after_end();
		return;
	}
	ends = xcalloc(n, sizeof(*ends));
	tails = xcalloc(n, sizeof(*tails));
	n = 0;
	TAILQ_FOREACH_SAFE(jb, job_list(J_ENDED), link, next) {
		if (alone != NULL ? jb != alone : (!remote_is_local(jb->j) && !jb->release) ||
		    jb->finish_errors > 0)
			continue;
		end_of(jb, &ends[n], &tails[n]);
		job_set_state(jb, J_FINISHING);
		n++;
	}
	if (etl_stmt_finish(&st, ends, n, &err) != 0)
		fatalx("recording ended jobs: %s", err.message);
	while (n > 0)
		free(tails[--n]);
	free(tails);
	free(ends);
	db_submit_on(DB_ENDS, &st, finish_cb, NULL);
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
		proc_adopt(jobs[i]);
	}
	free(jobs);
	if (n > 0)
		log_info("found %ld job%s left by a previous run", n, n == 1 ? "" : "s");
	if (!sup.adopted_once)
		proc_sweep();
	sup.adopted_once = 1;
	update_title();
	flush_finish();
	claim_maybe();
}

static void
release_cb(PGresult *res, const char *why, void *arg)
{
	long n;

	(void)arg;
	if (res == NULL)
		log_warnx("releasing unstarted jobs failed: %s", why);
	else if ((n = etl_count_result(res)) > 0)
		log_info("put back %ld job%s claimed but never started", n, n == 1 ? "" : "s");
}

static void	db_up_locked(void);
static void	lock_try(void);

/*
 * Our id's liveness lock.  At start it must be ours: another live controller with this
 * id (on any host) would adopt, record and rerun the jobs of the first.  A holder that
 * just died may keep it a moment (its session not yet gone): a few tries, a second apart.
 * Once started, a reconnection that finds it held says so and tries again at each beat.
 */
static void
lock_cb(PGresult *res, const char *why, void *arg)
{
	etl_lock_holder h;
	etl_error err;

	(void)arg;
	if (res == NULL) {
		log_warnx("taking the controller's liveness lock failed: %s", why);
		return;		/* tried again when the database is back */
	}
	if (etl_lock_result(res, &h, &err) != 0) {
		log_warnx("taking the controller's liveness lock failed: %s", err.message);
		return;
	}
	if (h.held) {
		sup.lock_tries = 0;
		if (!sup.locked_once) {
			sup.locked_once = 1;
			db_up_locked();
		}
		return;
	}
	if (sup.locked_once) {
		log_warnx("another session holds the liveness lock of controller id '%s' "
		    "(pid %d on %s): trying again", sup.cfg.id, h.pid, h.host);
		sup.lock_tries = 1;	/* the heartbeat tries again */
		return;
	}
	if (++sup.lock_tries < 5) {
		ev_timer_set(&sup.lock_w, 1.0, 0);
		ev_timer_start(sup.loop, &sup.lock_w);
		return;
	}
	fatalx("controller id '%s' is in use by pid %d on %s (it holds the id's liveness "
	    "lock): stop that controller or give this one another --id", sup.cfg.id, h.pid,
	    h.host);
}

static void
lock_try(void)
{
	etl_stmt st;
	etl_error err;

	if (!db_is_up())
		return;
	if (etl_stmt_controller_lock(&st, sup.cfg.id, &err) == 0)
		db_submit(&st, lock_cb, NULL);
	else
		log_warnx("controller lock: %s", err.message);
}

static void
lock_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	lock_try();
}

/* Connected: our liveness lock first; the rest once it is ours (db_up_locked). */
void
sup_db_up(void)
{
	lock_try();
	if (sup.locked_once)
		db_up_locked();
}

static void
db_up_locked(void)
{
	const char **keep;
	struct job *jb;
	etl_stmt st;
	etl_error err;
	size_t n = 0;
	int i;

	sup_heartbeat();
	for (i = 0; i < 2; i++) {
		etl_stmt_listen(&st, i);
		db_submit(&st, ignore_cb, "LISTEN");
	}
	/* a claim whose answer was lost left jobs active that nobody started */
	keep = xcalloc((size_t)job_total() + 1, sizeof(*keep));
	for (i = 0; i < J_NSTATES; i++)
		TAILQ_FOREACH(jb, job_list((enum jstate)i), link)
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
	sup.view_sent = 0;
	view_read();
	flush_started();
	flush_finish();
	claim_maybe();
}

void
sup_db_down(void)
{
	ctl_stats.reconnects++;
	sup.claiming = 0;
	sup.view_reading = 0;
	handons_end(0, 0);	/* lost with the connection: the poll finds their jobs */
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
	/* the statements in flight are lost: their jobs go back to be sent again */
	struct job *jb;

	while ((jb = TAILQ_FIRST(job_list(J_STARTING))) != NULL)
		job_set_state(jb, J_SPAWNED);
	while ((jb = TAILQ_FIRST(job_list(J_FINISHING))) != NULL)
		job_set_state(jb, J_ENDED);
}

/*
 * A wake-up: answered only if it is for our queues and names our rank (wake.c).  One
 * we answer but may not take all of is handed on once our claim says so (or now, if we
 * cannot claim).
 */
static void
woken(const char *payload)
{
	struct wake w;
	long share, next;
	size_t i;

	if (wake_parse(payload, &w) != 0) {
		log_debug("a wake-up with a payload we cannot read: '%.80s'", payload);
		return;
	}
	if (sup.cfg.queues != NULL) {
		for (i = 0; i < sup.cfg.nqueues; i++)
			if (strcmp(sup.cfg.queues[i], w.queue) == 0)
				break;
		if (i == sup.cfg.nqueues)
			return;
	}
	if (!wake_mine(&w, sup.cfg.id, &share, &next)) {
		ctl_stats.wakes_passed++;
		return;
	}
	ctl_stats.wakes_answered++;
	sup.more = 1;
	if (next >= 0 && sup.nhandons < HANDONS_MAX) {
		char buf[128];

		wake_handon(&w, next, buf, sizeof(buf));
		sup.handons[sup.nhandons].payload = xstrdup(buf);
		sup.handons[sup.nhandons++].share = share;
	}
	claim_maybe();
	if (!sup.claiming)
		handons_end(0, 1);	/* full, stopping or not connected */
}

static void
cancelled_cb(PGresult *res, const char *why, void *arg)
{
	char *id = arg;
	struct job *jb;

	if (res == NULL)
		log_warnx("job %s: reading whether it was cancelled failed: %s", id, why);
	else if ((jb = job_by_id(id)) == NULL || jb->state == J_ENDED ||
	    jb->state == J_FINISHING)
		;	/* ended meanwhile */
	else if (PQntuples(res) == 1)
		proc_stop(jb, "cancelled");
	else
		jlog_warnx(jb, "a cancel notification for it, but it is not cancelled: ignored");
	free(id);
}

void
sup_notify(const char *channel, const char *payload)
{
	struct job *jb;
	etl_stmt st;
	etl_error err;

	if (strcmp(channel, ETL_CHANNEL_JOB) == 0) {
		woken(payload);
	} else if (strcmp(channel, ETL_CHANNEL_CANCEL) == 0) {
		/* any client may NOTIFY: the job's row says whether it was cancelled */
		if ((jb = job_by_id(payload)) != NULL && jb->state != J_ENDED &&
		    jb->state != J_FINISHING && etl_stmt_cancelled(&st, jb->j->id, jb->j->run,
		    &err) == 0)
			db_submit(&st, cancelled_cb, xstrdup(jb->j->id));
	}
}

static void
stale_cb(PGresult *res, const char *why, void *arg)
{
	etl_stale *stale;
	struct job *jb;
	etl_error err;
	long i, n;

	(void)arg;
	sup.beats_checking = 0;
	if (res == NULL) {
		log_warnx("looking for jobs without a heartbeat failed: %s", why);
		return;
	}
	if ((n = etl_stale_result(res, &stale, &err)) < 0) {
		log_warnx("looking for jobs without a heartbeat: %s", err.message);
		return;
	}
	for (i = 0; i < n; i++) {
		if ((jb = job_by_id(stale[i].id)) == NULL || jb->state != J_RUNNING || jb->inproc)
			continue;
		snprintf(jb->reason_buf, sizeof(jb->reason_buf), "no heartbeat for %d s (its "
		    "queue's heartbeat_seconds is %d)", stale[i].age, stale[i].seconds);
		proc_stop(jb, jb->reason_buf);
	}
	free(stale);
}

/*
 * Once a second while a running job has a heartbeat to keep (or was adopted, whose we
 * do not know): stop those whose heartbeat is too old, like expired ones.
 */
static void
check_beats(void)
{
	struct job *jb;
	etl_stmt st;
	etl_error err;
	int any = 0;

	if (sup.beats_checking || !db_is_up() || ev_now(sup.loop) - sup.beats_checked < 1.0)
		return;
	TAILQ_FOREACH(jb, job_list(J_RUNNING), link)
		if (!jb->inproc && (jb->j->heartbeat_seconds > 0 || jb->adopted)) {
			any = 1;
			break;
		}
	if (!any)
		return;
	sup.beats_checked = ev_now(sup.loop);
	if (etl_stmt_stale_beats(&st, sup.cfg.id, &err) != 0) {
		log_warnx("heartbeats: %s", err.message);
		return;
	}
	sup.beats_checking = 1;
	db_submit(&st, stale_cb, NULL);
}

static void
view_cb(PGresult *res, const char *why, void *arg)
{
	(void)arg;
	sup.view_reading = 0;
	if (res == NULL)
		log_warnx("reading who answers wake-ups failed: %s", why);
	else if (wake_set_view(res) != 0)
		log_warnx("reading who answers wake-ups: %s", PQresultErrorMessage(res));
	ctl_stats.peers = wake_peers();
}

/* Who answers wake-ups (wake.c), read again every VIEW_EVERY seconds. */
static void
view_read(void)
{
	if (!ev_is_active(&sup.view_w)) {
		ev_timer_set(&sup.view_w, VIEW_EVERY, VIEW_EVERY);
		ev_timer_start(sup.loop, &sup.view_w);
	}
	etl_stmt st;

	if (sup.view_reading || !db_is_up() || ev_now(sup.loop) - sup.view_sent < VIEW_EVERY)
		return;
	etl_stmt_wake_view(&st);
	sup.view_reading = 1;
	sup.view_sent = ev_now(sup.loop);
	db_submit(&st, view_cb, NULL);
}

static void
view_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	view_read();
}

void
sup_poll(void)
{
	claim_maybe();
	flush_started();
	flush_finish();
	check_beats();
}

/* A beat is recorded: the keepers may let our tasks run a lease from when it was sent. */
static void
beat_cb(PGresult *res, const char *why, void *arg)
{
	double *sent = arg;

	if (res == NULL)
		log_warnx("heartbeat: %s", why);
	else
		proc_lease_renew(*sent);
	free(sent);
}

static double
boottime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
sup_heartbeat(void)
{
	etl_stmt st;
	etl_error err;

	if (!db_is_up() || !sup.locked_once)
		return;
	/* the bound after our last beat by which every task of ours is stopped */
	if (etl_stmt_controller_beat(&st, sup.cfg.id, sup.cfg.host, getpid(),
	    sup.cfg.allow_users, sup.cfg.lease > 0 ? sup.cfg.lease + sup.cfg.kill_grace + 2 : 0,
	    sup.cfg.concurrency, sup.queues_csv, &err) == 0) {
		double *sent = xmalloc(sizeof(*sent));

		*sent = boottime();
		db_submit(&st, beat_cb, sent);
	}
	/* a reconnection that found our lock held by a lingering session: until it is ours */
	if (sup.lock_tries > 0 || !sup.locked_once)
		lock_try();
}

static void
orphans_cb(PGresult *res, const char *why, void *arg)
{
	etl_moved *moved;
	etl_error err;
	long i, n;

	(void)arg;
	if (res == NULL) {
		log_warnx("looking for jobs of dead controllers failed: %s", why);
		return;
	}
	if ((n = etl_moved_result(res, &moved, &err)) < 0) {
		log_warnx("looking for jobs of dead controllers: %s", err.message);
		return;
	}
	for (i = 0; i < n; i++)
		log_info("job %s of a dead controller: its task is gone; now %s", moved[i].id,
		    etl_job_state_name(moved[i].state) ? etl_job_state_name(moved[i].state) : "?");
	free(moved);
}

static void
maintain_cb(PGresult *res, const char *why, void *arg)
{
	etl_error err;
	long ticks, gone;

	(void)arg;
	sup.maintaining = 0;
	if (res == NULL) {
		log_warnx("maintenance failed: %s", why);
		return;
	}
	if (etl_maintain_result(res, &ticks, &gone, &err) != 0) {
		log_warnx("maintenance: %s", err.message);
		return;
	}
	if (ticks > 0)
		log_info("maintenance: cron: %ld", ticks);
	if (gone > 0)
		log_info("maintenance: retention: %ld", gone);
	if (gone >= ETL_RETENTION_BATCH && db_up_on(DB_MAINT) && !sup.shutting_down) {
		etl_stmt st;

		/* a full batch: the next one at once, each its own statement and transaction,
		 * on the maintenance connection: claims, beats and ends go on their own */
		etl_stmt_maintain(&st);
		sup.maintaining = 1;
		db_submit_on(DB_MAINT, &st, maintain_cb, NULL);
	}
}

static void
counts_cb(PGresult *res, const char *why, void *arg)
{
	etl_job_count *counts;
	etl_error err;
	long n;

	(void)arg;
	if (res == NULL)
		log_warnx("counting jobs for the metrics failed: %s", why);
	else if ((n = etl_job_counts_result(res, &counts, &err)) < 0)
		log_warnx("counting jobs for the metrics: %s", err.message);
	else {
		stats_set_counts(counts, n);
		ctl_stats.count_seconds = ev_time() - sup.counts_sent;
	}
}

/* Logs of jobs that retention deleted: removed; a full take, the next at once. */
static void
trash_cb(PGresult *res, const char *why, void *arg)
{
	etl_stmt st;
	etl_error err;
	long n = 0;
	int i;

	(void)arg;
	sup.trashing = 0;
	if (res == NULL) {
		log_warnx("taking the logs of deleted jobs failed: %s", why);
		return;
	}
	for (i = 0; i < PQntuples(res); i++)
		n += logsweep_gone(sup.cfg.log_dir, PQgetvalue(res, i, 0));
	if (n > 0)
		log_info("removed %ld job log%s with %s job%s (retention)", n, n == 1 ? "" : "s",
		    n == 1 ? "its" : "their", n == 1 ? "" : "s");
	if (PQntuples(res) == 1000 && db_up_on(DB_MAINT) && !sup.shutting_down &&
	    etl_stmt_log_trash(&st, sup.cfg.host, sup.cfg.log_dir, &err) == 0) {
		sup.trashing = 1;
		db_submit_on(DB_MAINT, &st, trash_cb, NULL);
	}
}

void
sup_maintenance(void)
{
	etl_stmt st;
	etl_error err;

	/* on a connection of its own (retention batches, the counts of the metrics and the
	 * orphans' search never wait before a claim or a heartbeat, nor these behind them) */
	if (!db_up_on(DB_MAINT) || sup.shutting_down || !sup.locked_once)
		return;
	/* first: its round trip (etl_cluster_count_seconds) is then its own */
	if (sup.cfg.count_jobs) {
		etl_stmt_job_counts(&st, sup.cfg.id, sup.cfg.dead_after);
		sup.counts_sent = ev_time();
		db_submit_on(DB_MAINT, &st, counts_cb, NULL);
	}
	if (etl_stmt_reap_orphans(&st, sup.cfg.dead_after, sup.cfg.id, sup.cfg.pg_env,
	    &err) == 0)
		db_submit_on(DB_MAINT, &st, orphans_cb, NULL);
	/* cron ticks and retention: any controller may run it, the database keeps it once;
	 * not while our previous retention's batches still go */
	if (!sup.maintaining) {
		etl_stmt_maintain(&st);
		sup.maintaining = 1;
		db_submit_on(DB_MAINT, &st, maintain_cb, NULL);
	}
	/* the logs of jobs retention deleted: removed here, on their host */
	if (!sup.trashing && etl_stmt_log_trash(&st, sup.cfg.host, sup.cfg.log_dir, &err) == 0) {
		sup.trashing = 1;
		db_submit_on(DB_MAINT, &st, trash_cb, NULL);
	}
	/* job logs past --log-retention: once an hour (a directory read, no database) */
	if (sup.cfg.log_retention > 0 && ev_now(sup.loop) >= sup.next_sweep) {
		sup.next_sweep = ev_now(sup.loop) + 3600;
		logsweep(sup.cfg.log_dir, sup.cfg.log_retention);
	}
}

void
sup_shutdown(int stop_tasks)
{
	struct job *jb;
	int i;

	sup.shutting_down = 1;
	sup.stop_tasks = stop_tasks;
	update_title();
	if (!stop_tasks)
		return;
	for (i = J_SPAWNED; i <= J_RUNNING; i++)
		TAILQ_FOREACH(jb, job_list((enum jstate)i), link)
			proc_stop(jb, "stopped with the controller");
}

int
sup_quiescent(void)
{
	struct job *jb;
	int i;

	/* only running jobs whose INITIAL is written may be left behind, detached */
	for (i = 0; i < J_NSTATES; i++)
		if (i != J_RUNNING && job_count((enum jstate)i) > 0)
			return 0;
	TAILQ_FOREACH(jb, job_list(J_RUNNING), link) {
		/* an in-process task dies with us: wait for it (up to --shutdown-timeout) */
		if (jb->stdin_fd >= 0 || jb->inproc || sup.stop_tasks)
			return 0;
	}
	return db_idle();
}

int
sup_running(void)
{
	return job_total();
}

static void
on_end(void)
{
	update_title();
	flush_finish();
}

void
sup_init(struct ev_loop *loop, const struct sup_config *cfg)
{
	struct proc_config pc;

	sup.loop = loop;
	sup.cfg = *cfg;
	sup.start_time = etl_pid_start_time(getpid());
	sup.more = 1;
	ctl_stats.peers = -1;
	if (cfg->queues != NULL) {
		size_t i, len = 1;

		for (i = 0; i < cfg->nqueues; i++)
			len += strlen(cfg->queues[i]) + 1;
		sup.queues_csv = xcalloc(len, 1);
		for (i = 0; i < cfg->nqueues; i++) {
			if (i > 0)
				strlcat(sup.queues_csv, ",", len);
			strlcat(sup.queues_csv, cfg->queues[i], len);
		}
	}
	ev_init(&sup.lock_w, lock_timer_cb);
	ev_init(&sup.view_w, view_timer_cb);
	memset(&pc, 0, sizeof(pc));
	pc.pg_env = cfg->pg_env;
	pc.log_dir = cfg->log_dir;
	pc.user = cfg->user;
	pc.allow_users = cfg->allow_users;
	pc.kill_grace = cfg->kill_grace;
	pc.debug_wait = cfg->debug_wait;
	pc.concurrency = cfg->concurrency;
	pc.log_max = (off_t)cfg->log_max;
	pc.keeper_dir = cfg->keeper_dir;
	pc.lease = cfg->lease;
	pc.uid_first = cfg->uid_first;
	pc.uid_last = cfg->uid_last;
	proc_init(loop, &pc, on_end);
	remote_init(cfg->pg_env);
	update_title();
}

void
sup_free(void)
{
	struct job *jb;
	int i;

	for (i = 0; i < J_NSTATES; i++)
		while ((jb = TAILQ_FIRST(job_list((enum jstate)i))) != NULL) {
			/* left running, detached: a restarted controller adopts them */
			jb->child_w.pid = 0;
			job_done(jb, 0);
		}
	remote_free();
	stats_free();
	ev_timer_stop(sup.loop, &sup.view_w);
	handons_end(0, 0);
	wake_clear();
	free(sup.queues_csv);
}
