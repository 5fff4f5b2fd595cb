/*
 * logcap.h: a cap on one job's log.  A task writes its log itself (its stdout and stderr
 * are the file, so it outlives the controller); the controller keeps the file's disk use
 * bounded by punching out its middle while it grows, and when the task has ended rewrites
 * it as its head, a line saying how much was dropped, and its tail.
 */
#ifndef ETL_CONTROLLER_LOGCAP_H
#define ETL_CONTROLLER_LOGCAP_H

#include <sys/types.h>

struct logcap {
	off_t	 from;		/* the hole: [from, to) dropped so far */
	off_t	 to;
	int	 failed;	/* hole punching not supported here: said once */
};

/* Keep the log at path within max bytes (about) while its task writes: 0, or -1 errno. */
int	logcap_trim(const char *path, off_t max, struct logcap *);
/* The task ended: rewrite the log without its hole, naming what was dropped. */
int	logcap_finish(const char *path, off_t max, const struct logcap *);

#endif
