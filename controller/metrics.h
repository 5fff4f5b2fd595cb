/*
 * metrics.h: the controller's HTTP endpoint for Prometheus (GET /metrics) and health
 * checks (GET /healthz) from the counters of stats.h, served from the libev loop:
 * non-blocking sockets, small requests, bounded time per connection.  It never blocks
 * the loop, and it owns none of the counters it reads.
 */
#ifndef ETL_CONTROLLER_METRICS_H
#define ETL_CONTROLLER_METRICS_H

#include <ev.h>

#include "stats.h"

/* Listen on ADDR:PORT (e.g. 127.0.0.1:9187); -1 with errno set. */
int	metrics_init(struct ev_loop *, const char *addr);
void	metrics_close(void);

#endif
