/*
 * stats.c: the controller's counters (see stats.h).  Written by the job table, the
 * database connection and the pipelines; read by metrics.c.
 */
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "stats.h"
#include "xmalloc.h"

struct ctl_stats ctl_stats;

void
stats_claim(double d)
{
	static const double bounds[8] = CLAIM_BUCKETS;
	int i;

	ctl_stats.claim_count++;
	ctl_stats.claim_sum += d;
	for (i = 0; i < 8; i++)
		if (d <= bounds[i]) {
			ctl_stats.claim_buckets[i]++;
			break;
		}
}

static struct queue_stats *
queue_of(const char *queue)
{
	size_t i;

	for (i = 0; i < ctl_stats.nqueues; i++)
		if (strcmp(ctl_stats.queues[i].queue, queue) == 0)
			return &ctl_stats.queues[i];
	ctl_stats.queues = xreallocarray(ctl_stats.queues, ctl_stats.nqueues + 1,
	    sizeof(*ctl_stats.queues));
	memset(&ctl_stats.queues[ctl_stats.nqueues], 0, sizeof(*ctl_stats.queues));
	strlcpy(ctl_stats.queues[ctl_stats.nqueues].queue, queue,
	    sizeof(ctl_stats.queues[0].queue));
	return &ctl_stats.queues[ctl_stats.nqueues++];
}

void
stats_moved(const char *queue, enum etl_job_state s, double seconds)
{
	static const double bounds[NRUN_BUCKETS] = RUN_BUCKETS;
	/* a job no longer in our table: the totals only */
	static struct queue_stats none;
	struct queue_stats *q = queue ? queue_of(queue) : &none;
	int i;

	if (s == ETL_JOB_COMPLETED || s == ETL_JOB_RETRY || s == ETL_JOB_FAILED) {
		if (seconds >= 0) {
			q->run_count++;
			q->run_sum += seconds;
			for (i = 0; i < NRUN_BUCKETS; i++)
				if (seconds <= bounds[i]) {
					q->run_buckets[i]++;
					break;
				}
		}
	}
	switch (s) {
	case ETL_JOB_COMPLETED:
		ctl_stats.completed++;
		q->completed++;
		break;
	case ETL_JOB_RETRY:
		ctl_stats.retried++;
		q->retried++;
		break;
	case ETL_JOB_FAILED:
		ctl_stats.failed++;
		q->failed++;
		break;
	case ETL_JOB_CREATED:
	case ETL_JOB_ACTIVE:
	case ETL_JOB_CANCELLED:
	case ETL_JOB_NSTATES:
	default:
		break;
	}
}

void
stats_set_counts(etl_job_count *counts, long n)
{
	free(ctl_stats.counts);
	ctl_stats.counts = counts;
	ctl_stats.ncounts = n;
}

void
stats_free(void)
{
	stats_set_counts(NULL, 0);
	free(ctl_stats.queues);
	ctl_stats.queues = NULL;
	ctl_stats.nqueues = 0;
}
