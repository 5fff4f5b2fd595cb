/*
 * logsweep.c: job logs follow their jobs: retention (any controller) records the log of
 * each job it deletes in etl.log_trash, and the controller of its host removes it
 * (logsweep_gone).  With --log-retention, logs untouched that long go too, whatever
 * their job's retention.  Only files named JOB_ID.log (a uuid) that are regular files:
 * nothing else in the folder (the keepers' folder, an operator's files) is touched.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etl_admin.h"
#include "log.h"
#include "logsweep.h"

static int
is_job_log(const char *name)
{
	char id[ETL_ID_LEN];
	size_t len = strlen(name);

	if (len != ETL_ID_LEN - 1 + 4 || strcmp(name + len - 4, ".log") != 0)
		return 0;
	memcpy(id, name, ETL_ID_LEN - 1);
	id[ETL_ID_LEN - 1] = '\0';
	return etl_uuid_valid(id) == 0;
}

int
logsweep_gone(const char *dir, const char *path)
{
	size_t len = strlen(dir);
	struct stat sb;

	if (strncmp(path, dir, len) != 0 || path[len] != '/' || !is_job_log(path + len + 1) ||
	    lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return 0;
	return unlink(path) == 0;
}

long
logsweep(const char *dir, double max_age)
{
	time_t cut = time(NULL) - (time_t)max_age;
	struct dirent *e;
	struct stat sb;
	long n = 0;
	DIR *d;

	if (max_age <= 0 || (d = opendir(dir)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (!is_job_log(e->d_name) ||
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(sb.st_mode) || sb.st_mtime >= cut)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0)
		log_info("removed %ld job log%s untouched for %.0f days (--log-retention)", n,
		    n == 1 ? "" : "s", max_age / 86400);
	return n;
}
