/*
 * logsweep.h: job logs removed with their jobs (retention records each in
 * etl.log_trash), and, with --log-retention, those untouched that long.
 */
#ifndef ETL_CONTROLLER_LOGSWEEP_H
#define ETL_CONTROLLER_LOGSWEEP_H

/* Remove DIR/JOB_ID.log files (a uuid's name, a regular file) untouched for max_age
 * seconds; how many. */
long	logsweep(const char *dir, double max_age);
/* Remove path, the log of a job retention deleted, if it is DIR/JOB_ID.log (a regular
 * file); 1 if removed. */
int	logsweep_gone(const char *dir, const char *path);

#endif
