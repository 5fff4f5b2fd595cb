/*
 * logcap.c: the cap on a job's log (see logcap.h).  Holes are punched in whole pages
 * between the first and the last max/2 bytes; the file's size still grows, its blocks do
 * not.  Never touches a log that is not over its cap.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logcap.h"

#define PAGE ((off_t)4096)

int
logcap_trim(const char *path, off_t max, struct logcap *lc)
{
	struct stat st;
	off_t head, to;
	int fd, rc = 0;

	if (max <= 0 || path == NULL || lc->failed)
		return 0;
	/* the common case, a log under its cap, costs one stat */
	if (lstat(path, &st) != 0 || st.st_size <= max)
		return 0;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size <= max) {
		close(fd);
		return 0;
	}
	head = (max / 2 + PAGE - 1) / PAGE * PAGE;
	to = (st.st_size - max / 2) / PAGE * PAGE;
	if (lc->from == 0)
		lc->from = lc->to = head;
	if (to > lc->to) {
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, lc->to,
		    to - lc->to) != 0) {
			lc->failed = 1;
			rc = -1;
		} else {
			lc->to = to;
		}
	}
	close(fd);
	return rc;
}

/* Copy [from, to) of fd to out; 0 or -1. */
static int
copy_range(int fd, int out, off_t from, off_t to)
{
	char buf[65536];
	ssize_t n;

	while (from < to) {
		size_t want = (size_t)(to - from) < sizeof(buf) ? (size_t)(to - from) : sizeof(buf);

		if ((n = pread(fd, buf, want, from)) <= 0)
			return n == 0 ? 0 : -1;
		if (write(out, buf, (size_t)n) != n)
			return -1;
		from += n;
	}
	return 0;
}

int
logcap_finish(const char *path, off_t max, const struct logcap *lc)
{
	char tmp[4096], line[256];
	struct stat st;
	int fd, out, n, rc = -1;

	if (max <= 0 || path == NULL)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (st.st_size <= max && lc->to <= lc->from)) {
		close(fd);
		return 0;
	}
	/* what is dropped: the hole, or (ended before a trim) the middle */
	{
		off_t from = lc->to > lc->from ? lc->from : max / 2;
		off_t to = lc->to > lc->from ? lc->to : st.st_size - max / 2;

		if (st.st_size - (to - from) > max)	/* it grew after the last trim */
			to = st.st_size - max / 2 > to ? st.st_size - max / 2 : to;
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
			goto out;
		(void)unlink(tmp);
		if ((out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    st.st_mode & 0777)) < 0)
			goto out;
		n = snprintf(line, sizeof(line), "\n[etl: %lld bytes of output dropped here: "
		    "the log is capped at %lld bytes (--log-max)]\n", (long long)(to - from),
		    (long long)max);
		if (fchown(out, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
			close(out);
			(void)unlink(tmp);
			goto out;
		}
		rc = copy_range(fd, out, 0, from) == 0 && write(out, line, (size_t)n) == n &&
		    copy_range(fd, out, to, st.st_size) == 0 ? 0 : -1;
		if (close(out) != 0 || (rc == 0 && rename(tmp, path) != 0))
			rc = -1;
		if (rc != 0)
			(void)unlink(tmp);
	}
out:
	close(fd);
	return rc;
}
