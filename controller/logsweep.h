/*
 * logsweep.h: job logs removed after the retention of the jobs they belong to.
 */
#ifndef ETL_CONTROLLER_LOGSWEEP_H
#define ETL_CONTROLLER_LOGSWEEP_H

/* Remove DIR/JOB_ID.log files (a uuid's name, a regular file) untouched for max_age
 * seconds; how many. */
long	logsweep(const char *dir, double max_age);

#endif
