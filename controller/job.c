/*
 * job.c: the controller's table of jobs (see job.h): one list per state, moved only by
 * job_set_state, which checks every move against the table below and keeps the counts
 * the claim and the metrics read.  Never touches a process or the database.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job.h"
#include "stats.h"
#include "xmalloc.h"

static struct {
	struct jobq	 q[J_NSTATES];
	int		 n[J_NSTATES];
	int		 init;
} t;

/* allowed[from] has bit `to` set when the move is allowed */
static const unsigned allowed[J_NSTATES] = {
	[J_SPAWNED]   = 1u << J_STARTING | 1u << J_RUNNING | 1u << J_ENDED,
	[J_STARTING]  = 1u << J_RUNNING | 1u << J_SPAWNED | 1u << J_ENDED,
	[J_RUNNING]   = 1u << J_ENDED,
	[J_ENDED]     = 1u << J_FINISHING,
	[J_FINISHING] = 1u << J_ENDED,
};

static void
table_init(void)
{
	int i;

	if (t.init)
		return;
	for (i = 0; i < J_NSTATES; i++)
		TAILQ_INIT(&t.q[i]);
	t.init = 1;
}

const char *
jstate_name(enum jstate s)
{
	switch (s) {
	case J_SPAWNED:
		return "spawned";
	case J_STARTING:
		return "starting";
	case J_RUNNING:
		return "running";
	case J_ENDED:
		return "ended";
	case J_FINISHING:
		return "finishing";
	case J_NSTATES:
	default:
		fatalx("bad job state %d", (int)s);
	}
}

static void
publish(void)
{
	ctl_stats.running = job_total();
}

struct job *
job_new(etl_job *ej)
{
	struct job *jb = xcalloc(1, sizeof(*jb));

	table_init();
	jb->j = ej;
	jb->born = job_clock();
	jb->state = J_SPAWNED;
	jb->stdin_fd = -1;
	jb->pidfd = -1;
	TAILQ_INSERT_TAIL(&t.q[J_SPAWNED], jb, link);
	t.n[J_SPAWNED]++;
	publish();
	return jb;
}

double
job_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
job_run_seconds(const struct job *jb)
{
	return job_clock() - jb->born;
}

void
job_set_state(struct job *jb, enum jstate to)
{
	if ((unsigned)to >= J_NSTATES || !(allowed[jb->state] & (1u << to)))
		fatalx("job %s: bad move from %s to %s", jb->j->id, jstate_name(jb->state),
		    jstate_name(to));
	log_debug("job %s: %s -> %s", jb->j->id, jstate_name(jb->state), jstate_name(to));
	TAILQ_REMOVE(&t.q[jb->state], jb, link);
	t.n[jb->state]--;
	jb->state = to;
	TAILQ_INSERT_TAIL(&t.q[to], jb, link);
	t.n[to]++;
}

void
job_free(struct job *jb)
{
	TAILQ_REMOVE(&t.q[jb->state], jb, link);
	t.n[jb->state]--;
	free(jb->initial);
	free(jb->log_path);
	free(jb->core_dir);
	free(jb->core_file);
	free(jb->limits);
	cJSON_Delete(jb->final);
	etl_job_free(jb->j);
	free(jb);
	publish();
}

struct job *
job_by_id(const char *id)
{
	struct job *jb;
	int i;

	table_init();
	for (i = 0; i < J_NSTATES; i++)
		TAILQ_FOREACH(jb, &t.q[i], link)
			if (strcmp(jb->j->id, id) == 0)
				return jb;
	return NULL;
}

struct jobq *
job_list(enum jstate s)
{
	table_init();
	return &t.q[s];
}

int
job_count(enum jstate s)
{
	return t.n[s];
}

int
job_total(void)
{
	int i, n = 0;

	for (i = 0; i < J_NSTATES; i++)
		n += t.n[i];
	return n;
}

int
job_busy(void)
{
	/* an ended task no longer takes a slot, even while its end is being recorded */
	return job_total() - t.n[J_ENDED] - t.n[J_FINISHING];
}
