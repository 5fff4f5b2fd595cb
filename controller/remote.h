/*
 * remote.h: jobs whose events live in another pg_env than the controller's.  Their
 * context is prepared and their end recorded with blocking connections, one per pg_env
 * and one to the controller's database, opened on first use.  They block the loop; jobs
 * of the controller's own pg_env never come here.
 */
#ifndef ETL_CONTROLLER_REMOTE_H
#define ETL_CONTROLLER_REMOTE_H

#include "etl_stmt.h"

void	remote_init(const char *pg_env);
/* Whether ej's events live in the controller's pg_env. */
int	remote_is_local(const etl_job *ej);
/* Open ej's context in its pg_env: *initial gets its INITIAL text (caller frees). */
int	remote_prepare(etl_job *ej, char **initial, etl_error *);
/* Record ej's end (see etl_job_finish); *state gets its new state. */
int	remote_finish(const etl_job *ej, int wstatus, const char *log_tail,
	    enum etl_job_state *state, etl_error *);
void	remote_free(void);

#endif
