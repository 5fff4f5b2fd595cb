/*
 * stats.h: what the controller counts, in one struct that its parts write and the
 * metrics endpoint only reads.  No logic beyond the claim histogram's buckets.
 */
#ifndef ETL_CONTROLLER_STATS_H
#define ETL_CONTROLLER_STATS_H

#include "etl_stmt.h"

#define CLAIM_BUCKETS { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5 }
/* a job's run time (claim to recorded end), seconds */
#define RUN_BUCKETS { 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600 }
#define NRUN_BUCKETS 9

/* What this controller recorded of one queue's jobs. */
struct queue_stats {
	char		 queue[64];
	unsigned long	 completed, retried, failed;
	unsigned long	 run_buckets[NRUN_BUCKETS];
	unsigned long	 run_count;
	double		 run_sum;
};

struct ctl_stats {
	unsigned long	 claimed;
	unsigned long	 completed;
	unsigned long	 failed;
	unsigned long	 retried;
	unsigned long	 reconnects;
	unsigned long	 wakes_answered;	/* wake-ups (NOTIFY etl_job) we answered */
	unsigned long	 wakes_passed;	/* ... for our queues that named another */
	unsigned long	 handons;	/* wake-ups we handed on */
	long		 peers;		/* live controllers, as wake.c last read them */
	unsigned long	 claim_buckets[8];	/* claim round trips, by CLAIM_BUCKETS */
	unsigned long	 claim_count;
	double		 claim_sum;
	int		 running;	/* jobs in the table (job.c) */
	int		 db_up;		/* the main connection is up (db.c) */
	etl_job_count	*counts;	/* jobs by queue and state, from the last maintenance */
	long		 ncounts;	/* (none: another controller exports them) */
	double		 count_seconds;	/* the last count's round trip */
	struct queue_stats *queues;	/* by queue, in the order first seen */
	size_t		 nqueues;
};
extern struct ctl_stats ctl_stats;

/* A claim's round trip of d seconds, into the histogram. */
void	stats_claim(double d);
/* Count a job of queue that moved to state s (a finish's answer) after running
 * seconds (< 0: unknown). */
void	stats_moved(const char *queue, enum etl_job_state s, double seconds);
/* Replace the job counts (takes counts). */
void	stats_set_counts(etl_job_count *counts, long n);
void	stats_free(void);

#endif
