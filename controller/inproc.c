/*
 * inproc.c: the in-process mode.  Worker threads take jobs from a list, run each with
 * etl_task_run (which sets the thread-local EtlContext) with the thread's own
 * connection (opened when a task first needs the database), and hand the exit status
 * back to the loop through an ev_async.  The loop thread owns every job: a worker only reads the job it was given
 * and writes its status, under the lock.
 *
 * The trade-off: no process per job (no fork, no exec, no connection per job, and no
 * round trip of its own: the claim recorded its pid, its FINAL goes with the loop's
 * batched finish), but a task that crashes takes the controller with it; its jobs are
 * then recovered like those of any dead controller (the controller's liveness lock is
 * gone with its connection, and a restarted controller finds their recorded pid is not
 * running).
 */
#include <bsd/sys/queue.h>
#include <sys/stat.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "inproc.h"
#include "log.h"
#include "xmalloc.h"

struct inproc_job {
	void			*owner;
	etl_task_fn		 fn;
	char			*initial;
	size_t			 len;
	int			 local;
	int			 fresh;
	volatile int		 cancel;
	int			 status;
	cJSON			*final;
	char			 why[256];
	TAILQ_ENTRY(inproc_job)	 link;
};
TAILQ_HEAD(ijobq, inproc_job);

struct lib {
	char			*path;
	etl_task_fn		 fn;
	SLIST_ENTRY(lib)	 link;
};

static struct {
	struct ev_loop		*loop;
	int			 nthreads;
	int			 started;	/* threads running */
	int			 running;	/* jobs submitted, not yet ended */
	inproc_done_fn		 done_fn;
	int			 idle;		/* threads waiting for a job */
	int			 waking;	/* of those, signalled and not yet up */
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct ijobq		 todo;
	struct ijobq		 done;
	ev_async		 async;
	SLIST_HEAD(, lib)	 libs;
} ip = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.cv = PTHREAD_COND_INITIALIZER,
};

/*
 * Wake one more thread, under the lock, if jobs wait and none is on its way up.  Threads
 * are woken one after the other: each that takes a job wakes the next while jobs remain.
 * Short jobs are then run by the few threads already up, long ones get a thread each a
 * wake-up later; a signal per job woke a thread per job, and the switches cost more CPU
 * than a short task does.
 */
static void
wake_one(void)
{
	if (!TAILQ_EMPTY(&ip.todo) && ip.waking == 0 && ip.idle > 0) {
		ip.waking++;
		pthread_cond_signal(&ip.cv);
	}
}

static void *
worker(void *arg)
{
	struct inproc_job *j;
	etl_conn *conn = NULL;
	etl_error err;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&ip.mu);
		while ((j = TAILQ_FIRST(&ip.todo)) == NULL) {
			ip.idle++;
			pthread_cond_wait(&ip.cv, &ip.mu);
			ip.idle--;
			if (ip.waking > 0)
				ip.waking--;
		}
		TAILQ_REMOVE(&ip.todo, j, link);
		wake_one();
		pthread_mutex_unlock(&ip.mu);

		etl_error_clear(&err);
		if (j->local)
			/* no round trip of its own unless the task makes one: no liveness lock
			 * (ours stands for it), no status check when the claim opened its
			 * context, its FINAL recorded with the others' in one statement */
			j->status = etl_task_run(j->initial, j->len, j->fn, &conn, &j->cancel,
			    ETL_RUN_NO_ATTACH | ETL_RUN_DEFER_FINAL | (j->fresh ? ETL_RUN_FRESH : 0),
			    &j->final, &err);
		else
			j->status = etl_task_run(j->initial, j->len, j->fn, NULL, &j->cancel, 0,
			    NULL, &err);
		if (err.code != ETL_EOK)
			strlcpy(j->why, err.message, sizeof(j->why));

		pthread_mutex_lock(&ip.mu);
		TAILQ_INSERT_TAIL(&ip.done, j, link);
		pthread_mutex_unlock(&ip.mu);
		ev_async_send(ip.loop, &ip.async);
	}
	return NULL;
}

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct ijobq got = TAILQ_HEAD_INITIALIZER(got);
	struct inproc_job *j;

	(void)loop;
	(void)w;
	(void)revents;
	pthread_mutex_lock(&ip.mu);
	while ((j = TAILQ_FIRST(&ip.done)) != NULL) {
		TAILQ_REMOVE(&ip.done, j, link);
		TAILQ_INSERT_TAIL(&got, j, link);
	}
	pthread_mutex_unlock(&ip.mu);
	while ((j = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, j, link);
		ip.running--;
		ip.done_fn(j->owner, j->status, j->final, j->why[0] ? j->why : NULL);
		free(j->initial);
		free(j);
	}
}

void
inproc_init(struct ev_loop *loop, int nthreads, inproc_done_fn done)
{
	ip.loop = loop;
	ip.nthreads = nthreads > 0 ? nthreads : 1;
	ip.done_fn = done;
	TAILQ_INIT(&ip.todo);
	TAILQ_INIT(&ip.done);
	SLIST_INIT(&ip.libs);
	ev_async_init(&ip.async, async_cb);
	ev_async_start(loop, &ip.async);
	/* the loop must not stay alive for this watcher alone */
	ev_unref(loop);
}

/* The threads, on first use; they never take a signal (the loop thread does). */
static void
start_threads(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* tasks get the stack a process's main thread would have, not glibc's thread default */
	pthread_attr_setstacksize(&attr, 8u << 20);
	while (ip.started < ip.nthreads) {
		if (pthread_create(&t, &attr, worker, NULL) != 0) {
			log_warn("in-process mode: cannot start a worker thread");
			break;
		}
		ip.started++;
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ip.started == 0)
		fatalx("in-process mode: no worker thread");
}

etl_task_fn
inproc_lookup(const char *exe_path, char *why, size_t whysz)
{
	char so[PATH_MAX], real[PATH_MAX];
	const char *slash;
	struct lib *l;
	struct stat sb;
	void *h, *sym;

	if (snprintf(so, sizeof(so), "%s.so", exe_path) >= (int)sizeof(so)) {
		snprintf(why, whysz, "task path too long: %s", exe_path);
		return NULL;
	}
	SLIST_FOREACH(l, &ip.libs, link)
		if (strcmp(l->path, so) == 0)
			return l->fn;
	/* next to its executable, not a link out of that folder */
	slash = strrchr(exe_path, '/');
	if (realpath(so, real) == NULL || stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		snprintf(why, whysz, "queue mode inprocess: no %s (build the task as TASK.so)", so);
		return NULL;
	}
	if (slash == NULL || strncmp(real, exe_path, (size_t)(slash - exe_path) + 1) != 0 ||
	    strchr(real + (slash - exe_path) + 1, '/') != NULL) {
		snprintf(why, whysz, "%s resolves to %s, outside its task folder", so, real);
		return NULL;
	}
	if ((h = dlopen(real, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, whysz, "cannot load %s: %s", real, dlerror());
		return NULL;
	}
	if ((sym = dlsym(h, "etl_task_main")) == NULL) {
		snprintf(why, whysz, "%s has no etl_task_main (write the task with ETL_TASK_MAIN)",
		    real);
		dlclose(h);
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->path = xstrdup(so);
	/* POSIX: a function pointer read through dlsym's object pointer */
	*(void **)&l->fn = sym;
	SLIST_INSERT_HEAD(&ip.libs, l, link);
	log_info("in-process mode: loaded %s", real);
	return l->fn;
}

struct inproc_job *
inproc_submit(void *owner, etl_task_fn fn, char *initial, size_t len, int local, int fresh)
{
	struct inproc_job *j = xcalloc(1, sizeof(*j));

	if (ip.started == 0)
		start_threads();
	j->owner = owner;
	j->fn = fn;
	j->initial = initial;
	j->len = len;
	j->local = local;
	j->fresh = fresh;
	ip.running++;
	pthread_mutex_lock(&ip.mu);
	TAILQ_INSERT_TAIL(&ip.todo, j, link);
	wake_one();
	pthread_mutex_unlock(&ip.mu);
	return j;
}

void
inproc_cancel(struct inproc_job *j)
{
	j->cancel = 1;
}
