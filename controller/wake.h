/*
 * wake.h: which wake-ups (NOTIFY etl_job) this controller answers.  The live controllers
 * serving a queue rank themselves for each wake-up by rendezvous hashing of its key and
 * their ids, all from the same view (etl.wake_view, read every few seconds); a wake-up
 * names the ranks that claim, and one that cannot take its share hands it on.  Also
 * which queues' ends may free a held-back job (a limit, a key policy, a group).
 */
#ifndef ETL_CONTROLLER_WAKE_H
#define ETL_CONTROLLER_WAKE_H

#include <libpq-fe.h>

struct wake {
	unsigned long	 key;
	long		 n;	/* jobs: ranks off .. off + n - 1 answer; 0: every controller */
	long		 off;
	const char	*queue;	/* points into the payload */
};

/* Read a payload ("KEY N OFF QUEUE", or a queue alone: every controller); -1 if bad. */
int	wake_parse(const char *payload, struct wake *);

/* Take a fresh view (rows of etl.wake_view: kind, name, queues); -1 if malformed. */
int	wake_set_view(PGresult *);
void	wake_clear(void);
/* Controllers in the view (-1: none read yet). */
long	wake_peers(void);

/*
 * Whether controller me answers w.  When it does, *share gets how many of its jobs are
 * ours to take (N jobs over the N ranks woken, or over every controller when N is
 * more), and *next the rank to hand on to if we cannot take them (-1: none left, or
 * every one was woken).  A controller the view does not name (just started) answers
 * every wake-up.
 */
int	wake_mine(const struct wake *w, const char *me, long *share, long *next);

/* The payload that hands w on to rank next, alone. */
void	wake_handon(const struct wake *w, long next, char *buf, size_t len);

/* Whether an end of a job of queue may free a job held back (a limit, a key policy, a
 * group caps some jobs). */
int	wake_limited(const char *queue);

#endif
