/*
 * stats.c: the controller's counters (see stats.h).  Written by the job table, the
 * database connection and the pipelines; read by metrics.c.
 */
#include <stdlib.h>

#include "stats.h"

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

void
stats_moved(enum etl_job_state s)
{
	switch (s) {
	case ETL_JOB_COMPLETED:
		ctl_stats.completed++;
		break;
	case ETL_JOB_RETRY:
		ctl_stats.retried++;
		break;
	case ETL_JOB_FAILED:
		ctl_stats.failed++;
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
}
