/*
 * file_copy: copy a file into a folder and prove the copy.  Payload {"source": PATH,
 * "dest_dir": DIR, "name": NAME (default the source's), "overwrite": false}.  The copy
 * is written beside its destination and renamed into place only when its size and MD5
 * match the source's; an existing destination is kept unless "overwrite" is true.
 * FINAL {"source", "dest", "size", "md5", "dest_md5"}.  A missing or unreadable source
 * or an existing destination is bad input (65); a full disk may pass on a retry (75).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <md5.h>	/* libmd, which libbsd depends on */

#include "etl.h"

/* MD5 of the file at fd from its start, as hex into out; its size into *size; -1 errno. */
static int
md5_fd(int fd, char out[MD5_DIGEST_STRING_LENGTH], off_t *size)
{
	static char buf[1 << 16];
	MD5_CTX m;
	ssize_t n;

	*size = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	MD5Init(&m);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		MD5Update(&m, (const unsigned char *)buf, (size_t)n);
		*size += n;
	}
	if (n < 0)
		return -1;
	MD5End(&m, out);
	return 0;
}

static cJSON *
file_copy(const cJSON *initial)
{
	static char buf[1 << 16];
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(p, "source");
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(p, "dest_dir");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
	int overwrite = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "overwrite"));
	char dest[PATH_MAX], tmp[PATH_MAX + 32], smd5[MD5_DIGEST_STRING_LENGTH];
	char dmd5[MD5_DIGEST_STRING_LENGTH];
	const char *base;
	struct stat st;
	off_t ssize, dsize, done = 0;
	ssize_t n;
	int in, out, e;
	cJSON *res;

	if (!cJSON_IsString(src) || !cJSON_IsString(dir))
		return etl_fail_task(65, "file_copy wants {\"source\": PATH, \"dest_dir\": DIR}");
	base = cJSON_IsString(name) ? name->valuestring : strrchr(src->valuestring, '/') ?
	    strrchr(src->valuestring, '/') + 1 : src->valuestring;
	if (*base == '\0' || strchr(base, '/') != NULL || strcmp(base, "..") == 0 ||
	    strcmp(base, ".") == 0)
		return etl_fail_task(65, "bad destination name '%s'", base);
	if ((size_t)snprintf(dest, sizeof(dest), "%s/%s", dir->valuestring, base) >= sizeof(dest))
		return etl_fail_task(65, "destination path too long");
	if ((in = open(src->valuestring, O_RDONLY | O_CLOEXEC)) < 0)
		return etl_fail_task(65, "%s: %s", src->valuestring, strerror(errno));
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return etl_fail_task(65, "%s: not a regular file", src->valuestring);
	}
	if (!overwrite && access(dest, F_OK) == 0) {
		close(in);
		return etl_fail_task(65, "%s exists (set \"overwrite\": true to replace it)", dest);
	}
	snprintf(tmp, sizeof(tmp), "%s.etl-%d.tmp", dest, (int)getpid());
	if ((out = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 0777)) < 0) {
		e = errno;
		close(in);
		return etl_fail_task(e == ENOSPC || e == EDQUOT ? 75 : 65, "%s: %s", tmp,
		    strerror(e));
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		char *q = buf;
		ssize_t left = n, w;

		while (left > 0) {
			if ((w = write(out, q, (size_t)left)) < 0) {
				e = errno;
				goto fail;
			}
			q += w;
			left -= w;
		}
		done += n;
		etl_progress((double)done, (double)st.st_size, "copying");
	}
	if (n < 0 || fsync(out) != 0) {
		e = errno;
		goto fail;
	}
	if (md5_fd(in, smd5, &ssize) != 0 || md5_fd(out, dmd5, &dsize) != 0) {
		e = errno;
		goto fail;
	}
	close(in);
	close(out);
	if (ssize != dsize || strcmp(smd5, dmd5) != 0) {
		unlink(tmp);
		return etl_fail_task(75, "the copy differs: %lld bytes md5 %s, copy %lld bytes md5 %s",
		    (long long)ssize, smd5, (long long)dsize, dmd5);
	}
	/* into place: link() refuses an existing name, rename() replaces it */
	if (overwrite ? rename(tmp, dest) != 0 : link(tmp, dest) != 0) {
		e = errno;
		unlink(tmp);
		return etl_fail_task(e == EEXIST ? 65 : 75, "%s: %s", dest, strerror(e));
	}
	if (!overwrite)
		unlink(tmp);
	printf("copied %s to %s (%lld bytes, md5 %s)\n", src->valuestring, dest,
	    (long long)ssize, smd5);
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "source", src->valuestring);
	cJSON_AddStringToObject(res, "dest", dest);
	cJSON_AddNumberToObject(res, "size", (double)ssize);
	cJSON_AddStringToObject(res, "md5", smd5);
	cJSON_AddStringToObject(res, "dest_md5", dmd5);
	return res;
fail:
	close(in);
	close(out);
	unlink(tmp);
	return etl_fail_task(e == ENOSPC || e == EDQUOT || e == EIO ? 75 : 65, "copying %s: %s",
	    src->valuestring, strerror(e));
}

ETL_TASK_MAIN(file_copy)
