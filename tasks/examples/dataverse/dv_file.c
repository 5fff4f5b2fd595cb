/*
 * dv_file: seed 003's PrepareDatafileObjectJob and CopyDatafileToDataverseMountJob for
 * one file.  Payload {"path", "rel" (its path under the load's folder), "doi",
 * "files_dir", "storage_id"}: the file's MD5 and MIME type (libmagic), its name and
 * folder (the path split), then a copy to files_dir + the DOI's path + the storage
 * identifier (written beside, synced, renamed), whose MD5 must be the source's.
 * FINAL {"storageIdentifier", "fileName", "directoryLabel", "mimeType", "md5", "size",
 * "dest"}.  A file that cannot be read fails for good (exit 65): its batch is discarded.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <magic.h>
#include <md5.h>

#include "etl.h"

static const char *
str(const cJSON *p, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* mkdir -p path's folders */
static int
mkdirs(char *path)
{
	char *s;

	for (s = path + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/* Copy from fd to path (beside, synced, renamed), hashing what was read. */
static int
copy_to(int in, const char *path, char md5[MD5_DIGEST_STRING_LENGTH], off_t *size)
{
	char tmp[PATH_MAX + 8], buf[65536];
	MD5_CTX m;
	ssize_t n;
	int out;

	snprintf(tmp, sizeof(tmp), "%s.part", path);
	if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return -1;
	MD5Init(&m);
	*size = 0;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		MD5Update(&m, (const uint8_t *)buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n) {
			close(out);
			return -1;
		}
		*size += n;
	}
	if (n < 0 || fsync(out) != 0 || close(out) != 0 || rename(tmp, path) != 0)
		return -1;
	MD5End(&m, md5);
	return 0;
}

static cJSON *
dv_file(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const char *path = str(p, "path"), *rel = str(p, "rel"), *doi = str(p, "doi");
	const char *fdir = str(p, "files_dir"), *sid = str(p, "storage_id");
	char dest[PATH_MAX], md5[MD5_DIGEST_STRING_LENGTH], md5b[MD5_DIGEST_STRING_LENGTH];
	char folder[PATH_MAX], mime[128];
	const char *name, *slash, *m;
	struct stat sb;
	magic_t mg;
	cJSON *out;
	off_t size;
	int fd;

	if (path == NULL || rel == NULL || doi == NULL || fdir == NULL || sid == NULL ||
	    strncmp(doi, "doi:", 4) != 0 || strchr(sid, '/') != NULL)
		return etl_fail_task(65, "dv_file wants {\"path\", \"rel\", \"doi\", \"files_dir\", "
		    "\"storage_id\"}");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0 ||
	    fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return etl_fail_task(65, "%s: cannot be read as a file (%s)", path,
		    fd >= 0 ? "not a regular file" : strerror(e));
	}
	/* the path split: Dataverse's directoryLabel and fileName */
	slash = strrchr(rel, '/');
	name = slash ? slash + 1 : rel;
	snprintf(folder, sizeof(folder), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	/* the MIME type, by content */
	snprintf(mime, sizeof(mime), "application/octet-stream");
	if ((mg = magic_open(MAGIC_MIME_TYPE)) != NULL && magic_load(mg, NULL) == 0 &&
	    (m = magic_descriptor(mg, fd)) != NULL)
		snprintf(mime, sizeof(mime), "%s", m);
	if (mg != NULL)
		magic_close(mg);
	lseek(fd, 0, SEEK_SET);
	etl_progress(1, 3, "prepared");
	/* dvFilesDir + splitDoi + storageIdentifier */
	snprintf(dest, sizeof(dest), "%s/%s/%s", fdir, doi + 4, sid);
	if (mkdirs(dest) != 0 || copy_to(fd, dest, md5, &size) != 0) {
		int e = errno;

		close(fd);
		return etl_fail_task(75, "copying %s to %s: %s", path, dest, strerror(e));
	}
	close(fd);
	etl_progress(2, 3, "copied");
	/* compareMD5(source, dest): the copy read back */
	if (MD5File(dest, md5b) == NULL || strcmp(md5, md5b) != 0) {
		unlink(dest);
		return etl_fail_task(75, "%s: the copy's MD5 %s is not the source's %s", dest,
		    md5b, md5);
	}
	etl_progress(3, 3, "checked");
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "storageIdentifier", sid);
	cJSON_AddStringToObject(out, "fileName", name);
	cJSON_AddStringToObject(out, "directoryLabel", folder);
	cJSON_AddStringToObject(out, "mimeType", mime);
	cJSON_AddStringToObject(out, "md5", md5);
	cJSON_AddNumberToObject(out, "size", (double)size);
	cJSON_AddStringToObject(out, "dest", dest);
	return out;
}

ETL_TASK_MAIN(dv_file)
