/*
 * inproc.h: the in-process mode.  Tasks of a queue in mode inprocess are TASK.so files
 * (the task's source built as a shared object, exporting etl_task_main); they run on a
 * pool of worker threads of the controller, one job per thread at a time.
 */
#ifndef ETL_CONTROLLER_INPROC_H
#define ETL_CONTROLLER_INPROC_H

#include <ev.h>

#include "etl_stmt.h"

struct inproc_job;

/*
 * An end, on the loop: the owner given to inproc_submit, the exit status, the result to
 * record as its FINAL (NULL when the task recorded its end itself; the callee owns it),
 * why or NULL.
 */
typedef void (*inproc_done_fn)(void *owner, int status, cJSON *final, const char *why);

void	inproc_init(struct ev_loop *, int nthreads, inproc_done_fn);
/*
 * The task function of TASK.so next to the task executable at exe_path (dlopen'ed once,
 * never closed); NULL with why filled when there is none.
 */
etl_task_fn inproc_lookup(const char *exe_path, char *why, size_t whysz);
/*
 * Run fn for the INITIAL text (taken); local: its context lives in our pg_env, fresh:
 * the claim opened it.  A local job's result comes back to be recorded in bulk; its
 * liveness is the controller's (etl_stmt_controller_lock).
 */
struct inproc_job *inproc_submit(void *owner, etl_task_fn fn, char *initial, size_t len,
	    int local, int fresh);
/* Ask the task to stop: etl_cancelled() turns true on its thread. */
void	inproc_cancel(struct inproc_job *);

#endif
