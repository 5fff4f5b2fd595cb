/*
 * xmalloc.h: allocators for etl programs that abort on failure (tmux xmalloc.h).
 * libetl never uses these: a library returns errors.
 */
#ifndef ETL_XMALLOC_H
#define ETL_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

#define FREE(p) do { free(p); (p) = NULL; } while (0)

#endif
