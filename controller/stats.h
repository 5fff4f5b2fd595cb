/*
 * stats.h: what the controller counts, in one struct that its parts write and the
 * metrics endpoint only reads.  No logic beyond the claim histogram's buckets.
 */
#ifndef ETL_CONTROLLER_STATS_H
#define ETL_CONTROLLER_STATS_H

#include "etl_stmt.h"

#define CLAIM_BUCKETS { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5 }

struct ctl_stats {
	unsigned long	 claimed;
	unsigned long	 completed;
	unsigned long	 failed;
	unsigned long	 retried;
	unsigned long	 reconnects;
	unsigned long	 claim_buckets[8];	/* claim round trips, by CLAIM_BUCKETS */
	unsigned long	 claim_count;
	double		 claim_sum;
	int		 running;	/* jobs in the table (job.c) */
	int		 db_up;		/* the main connection is up (db.c) */
	etl_job_count	*counts;	/* jobs by queue and state, from the last maintenance */
	long		 ncounts;
};
extern struct ctl_stats ctl_stats;

/* A claim's round trip of d seconds, into the histogram. */
void	stats_claim(double d);
/* Count jobs that moved to state s (a finish's answer). */
void	stats_moved(enum etl_job_state s);
/* Replace the job counts (takes counts). */
void	stats_set_counts(etl_job_count *counts, long n);
void	stats_free(void);

#endif
