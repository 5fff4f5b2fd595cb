/*
 * smallfile.c: read a small file whole (see smallfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "smallfile.h"

ssize_t
read_small(const char *path, char *buf, size_t sz)
{
	ssize_t n;
	int fd;

	if (sz == 0 || (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	do
		n = read(fd, buf, sz - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0) {
		if (n == 0)
			errno = 0;
		return -1;
	}
	buf[n] = '\0';
	return n;
}
