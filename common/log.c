/*
 * log.c: one-line reports to stderr for etl programs.  Lines are written with a single
 * write(2) so that lines from processes sharing stderr do not interleave.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *prog = "etl";
static int stamp;
int log_verbose;

void
log_init(const char *progname, int with_time)
{
	prog = progname;
	stamp = with_time;
}

static void
vlog(const char *level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;

	if (stamp) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: %s", prog, level);
	if (n < sizeof(line))
		n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (errnum && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

#define LOGFN(name, level, err)				\
void							\
name(const char *fmt, ...)				\
{							\
	int e = errno;					\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog((level), (err) ? e : 0, fmt, ap);		\
	va_end(ap);					\
	errno = e;					\
}
LOGFN(log_info, "", 0)
LOGFN(log_warn, "", 1)
LOGFN(log_warnx, "", 0)

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog("debug: ", 0, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog("", e, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatal_status(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("", 0, fmt, ap);
	va_end(ap);
	exit(status);
}
