/*
 * files.c: the web view's files (index.html, its script, style sheet and icon), read
 * once at start and on SIGHUP from the web folder: only the names listed here are
 * served, so no request names a path of the file system.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "xmalloc.h"

static const struct {
	const char	*url;
	const char	*name;
	const char	*type;
} served[] = {
	{ "/", "index.html", "text/html; charset=utf-8" },
	{ "/index.html", "index.html", "text/html; charset=utf-8" },
	{ "/app.js", "app.js", "text/javascript; charset=utf-8" },
	{ "/app.css", "app.css", "text/css; charset=utf-8" },
	{ "/favicon.svg", "favicon.svg", "image/svg+xml" },
	{ "/api/v1/openapi.json", "openapi.json", "application/json" },
};
#define NSERVED (sizeof(served) / sizeof(served[0]))

static char *content[NSERVED];
static size_t length[NSERVED];
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

char *
file_slurp(const char *path, size_t max, size_t *len)
{
	struct stat sb;
	char *buf;
	size_t n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return NULL;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
		close(fd);
		errno = errno ? errno : EFBIG;
		return NULL;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (n < (size_t)sb.st_size && (r = read(fd, buf + n, (size_t)sb.st_size - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

int
files_load(const char *dir)
{
	char *c[NSERVED] = { 0 }, path[4096];
	size_t l[NSERVED] = { 0 }, i, j;
	int missing = 0;

	for (i = 0; i < NSERVED; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(served[j].name, served[i].name) == 0)
				break;
		if (j < i) {
			c[i] = c[j] ? xstrdup(c[j]) : NULL;
			l[i] = l[j];
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, served[i].name);
		if ((c[i] = file_slurp(path, 8 << 20, &l[i])) == NULL) {
			log_warn("web view: %s", path);
			missing++;
		}
	}
	pthread_rwlock_wrlock(&lock);
	for (i = 0; i < NSERVED; i++) {
		free(content[i]);
		content[i] = c[i];
		length[i] = l[i];
	}
	pthread_rwlock_unlock(&lock);
	return missing ? -1 : 0;
}

char *
files_get(const char *url, size_t *len, const char **type)
{
	char *s = NULL;
	size_t i;

	pthread_rwlock_rdlock(&lock);
	for (i = 0; i < NSERVED; i++)
		if (strcmp(served[i].url, url) == 0 && content[i] != NULL) {
			s = xmalloc(length[i] + 1);
			memcpy(s, content[i], length[i] + 1);
			*len = length[i];
			*type = served[i].type;
			break;
		}
	pthread_rwlock_unlock(&lock);
	return s;
}
