/*
 * metrics.h: the controller's HTTP endpoint for Prometheus (GET /metrics) and health
 * checks (GET /healthz), served from the libev loop: non-blocking sockets, small
 * requests, bounded time per connection.  It never blocks the loop.
 */
#ifndef ETL_CONTROLLER_METRICS_H
#define ETL_CONTROLLER_METRICS_H

#include <ev.h>

#include "etl.h"

/* Counters the supervisor and db keep for it. */
struct ctl_stats {
	unsigned long	claimed;
	unsigned long	completed;
	unsigned long	failed;
	unsigned long	retried;
	unsigned long	reconnects;
	unsigned long	claim_buckets[8];	/* claim round trips, by CLAIM_BUCKETS */
	unsigned long	claim_count;
	double		claim_sum;
};
#define CLAIM_BUCKETS { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5 }
extern struct ctl_stats ctl_stats;

/* Keep the latest jobs-by-queue-and-state rows (queue, state, count) for /metrics. */
void	metrics_job_counts(PGresult *res);
int	metrics_enabled(void);

/* Listen on ADDR:PORT (e.g. 127.0.0.1:9187); -1 with errno set. */
int	metrics_init(struct ev_loop *, const char *addr);
void	metrics_close(void);

#endif
