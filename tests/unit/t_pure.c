/*
 * t_pure: unit tests of libetl's pure parts: the thread-local EtlContext, exit status
 * mapping, name validation and confinement, JSON parsing limits.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "etl_admin.h"
#include "tap.h"

struct tcase {
	etl_context	*ctx;
	int64_t		 seen[200];
	pthread_barrier_t *bar;
};

static void *
inner(void *arg)
{
	(void)arg;
	return etl_context_current();
}

/* Each thread sets its own context, then reads it back many times while the other runs. */
static void *
thread_main(void *arg)
{
	struct tcase *t = arg;
	int i;

	etl_context_set(t->ctx);
	pthread_barrier_wait(t->bar);
	for (i = 0; i < 200; i++) {
		etl_context *c = etl_context_run(t->ctx, inner, NULL);
		t->seen[i] = c ? etl_context_id(c) : -1;
		sched_yield();
	}
	return NULL;
}

static void
test_threads(void)
{
	pthread_barrier_t bar;
	struct tcase a = { 0 }, b = { 0 };
	pthread_t ta, tb;
	int i, good_a = 1, good_b = 1;

	pthread_barrier_init(&bar, NULL, 2);
	a.ctx = etl_context_new("x", 11, "ta", NULL, NULL);
	b.ctx = etl_context_new("y", 22, "tb", NULL, NULL);
	a.bar = b.bar = &bar;
	ok(etl_context_current() == NULL, "the main thread has no context");
	pthread_create(&ta, NULL, thread_main, &a);
	pthread_create(&tb, NULL, thread_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	for (i = 0; i < 200; i++) {
		good_a &= a.seen[i] == 11;
		good_b &= b.seen[i] == 22;
	}
	ok(good_a, "thread A always sees its context (11)");
	ok(good_b, "thread B always sees its context (22)");
	ok(etl_context_current() == NULL, "the main thread still has none");
	ok(etl_context_run(a.ctx, inner, NULL) == a.ctx, "etl_context_run sets it for a call");
	ok(etl_context_current() == NULL, "and restores the previous one");
	is_str(etl_context_pg_env(b.ctx), "y", "the handle keeps its pg_env");
	etl_context_free(a.ctx);
	etl_context_free(b.ctx);
	pthread_barrier_destroy(&bar);
}

static int
wstatus_of(int code, int sig)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		if (sig)
			raise(sig);
		_exit(code);
	}
	waitpid(pid, &st, 0);
	return st;
}

static void
test_outcomes(void)
{
	char buf[128];
	int st;

	ok(etl_outcome_of(wstatus_of(0, 0)) == ETL_OUT_OK, "exit 0: ok");
	ok(etl_outcome_of(wstatus_of(75, 0)) == ETL_OUT_TEMPFAIL, "exit 75: temp fail");
	ok(etl_outcome_of(wstatus_of(64, 0)) == ETL_OUT_PERMFAIL, "exit 64: perm fail");
	ok(etl_outcome_of(wstatus_of(65, 0)) == ETL_OUT_PERMFAIL, "exit 65: perm fail");
	ok(etl_outcome_of(wstatus_of(1, 0)) == ETL_OUT_FAIL, "exit 1: fail");
	ok(etl_outcome_of(wstatus_of(127, 0)) == ETL_OUT_EXEC, "exit 127: exec failure");
	ok(etl_outcome_of(wstatus_of(126, 0)) == ETL_OUT_EXEC, "exit 126: exec failure");
	st = wstatus_of(0, SIGKILL);
	ok(etl_outcome_of(st) == ETL_OUT_SIGNAL, "SIGKILL: signal");
	is_str(etl_wstatus_text(st, buf, sizeof(buf)), "killed by signal 9 (SIGKILL)",
	    "the signal is named");
	is_str(etl_wstatus_text(wstatus_of(3, 0), buf, sizeof(buf)), "exit status 3",
	    "the exit status is named");
}

static void
test_names(void)
{
	char out[4096], dir[] = "/tmp/etl-unit.XXXXXX", path[4200];
	etl_error err;
	FILE *f;

	ok(etl_queue_name_valid("hello", &err) == 0, "queue 'hello' is valid");
	ok(etl_queue_name_valid("a.b-c_1", &err) == 0, "queue 'a.b-c_1' is valid");
	ok(etl_queue_name_valid("1abc", &err) != 0, "queue '1abc' is not");
	ok(etl_queue_name_valid("a b", &err) != 0, "queue 'a b' is not");
	ok(etl_queue_name_valid("a'b", &err) != 0, "queue \"a'b\" is not");
	ok(etl_queue_name_valid("", &err) != 0 && err.code == ETL_EINVAL, "empty is not");
	ok(etl_pg_env_valid("dev") == 0 && etl_pg_env_valid("") == 0, "pg_env 'dev' and '' ok");
	ok(etl_pg_env_valid("a b") != 0 && etl_pg_env_valid("x=y") != 0, "pg_env with space or = not");
	ok(etl_uuid_valid("c66901cd-a413-4d93-9f30-07499573a986") == 0, "a uuid is valid");
	ok(etl_uuid_valid("c66901cd-a413-4d93-9f30-07499573a98") != 0, "a short one is not");

	if (mkdtemp(dir) == NULL)
		return;
	snprintf(path, sizeof(path), "%s/t1", dir);
	f = fopen(path, "w");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/out", dir);
	symlink("/bin/sh", path);
	ok(etl_task_resolve(dir, "t1", 0, out, sizeof(out), &err) == 0, "a task in the path resolves");
	ok(etl_task_resolve(dir, "../t1", 0, out, sizeof(out), &err) != 0 &&
	    err.code == ETL_EINVAL, "'../t1' is refused");
	ok(etl_task_resolve(dir, "a/../t1", 0, out, sizeof(out), &err) != 0 &&
	    err.code == ETL_EINVAL, "'a/../t1' is refused");
	ok(etl_task_resolve(dir, "out", 0, out, sizeof(out), &err) != 0 &&
	    err.code == ETL_EINVAL, "a symlink out of the folder is refused");
	ok(etl_task_resolve(dir, "/bin/sh", 0, out, sizeof(out), &err) != 0,
	    "an absolute path is refused by default");
	ok(etl_task_resolve(dir, "/bin/sh", 1, out, sizeof(out), &err) == 0,
	    "and allowed where the queue's owner set it");
	ok(etl_task_resolve(dir, "nope", 0, out, sizeof(out), &err) != 0 &&
	    err.code == ETL_ENOTFOUND, "a missing task is not found");
	unlink(path);
	snprintf(path, sizeof(path), "%s/t1", dir);
	unlink(path);
	rmdir(dir);
}

static void
test_json(void)
{
	etl_error err;
	cJSON *j;

	j = etl_json_parse("{\"a\":1}", 7, 100, &err);
	ok(j != NULL, "a small object parses");
	cJSON_Delete(j);
	ok(etl_json_parse("{\"a\":1}", 7, 5, &err) == NULL && err.code == ETL_EINVAL,
	    "over the size limit is refused");
	ok(etl_json_parse("{\"a\":", 5, 100, &err) == NULL && err.code == ETL_EINVAL,
	    "a truncated object is refused");
	ok(etl_json_parse("{} {}", 5, 100, &err) == NULL, "trailing text is refused");
	j = etl_json_parse("[1,2] \n", 7, 100, &err);
	ok(j != NULL, "trailing white space is fine");
	cJSON_Delete(j);
}

int
main(void)
{
	test_threads();
	test_outcomes();
	test_names();
	test_json();
	return done_testing();
}
