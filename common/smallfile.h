/*
 * smallfile.h: read a small file whole (a /proc entry, a keeper's status file), for the
 * programs (never libetl).
 */
#ifndef ETL_SMALLFILE_H
#define ETL_SMALLFILE_H

#include <sys/types.h>

/*
 * Read at most sz - 1 bytes of path into buf, NUL-terminated, never following a final
 * symbolic link; the count read, or -1 (errno set, or 0 bytes read: errno 0).
 */
ssize_t	read_small(const char *path, char *buf, size_t sz);

#endif
