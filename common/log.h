/*
 * log.h: how etl programs (never libetl) report: one line to stderr prefixed with the
 * program name; log_warn adds strerror(errno); fatal/fatalx exit 1 (OpenSMTPD log.h).
 */
#ifndef ETL_LOG_H
#define ETL_LOG_H

#include <stdarg.h>

void	log_init(const char *progname, int with_time);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatal_status(int status, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
extern int log_verbose;

#endif
