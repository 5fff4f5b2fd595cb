/*
 * preflight.c: before claiming anything, check that our pg_env is not a transaction
 * pooler (we hold session state: LISTEN, our liveness lock; issue 22), and, as root,
 * that the user tasks run as
 * (--user, default nobody) can reach the controller's pg_env with the environment a
 * task gets.  The quick start as root used to fail every job three times in 50 ms
 * ("definition of service "dev" not found": nobody cannot read root's
 * ~/.pg_service.conf) while the controller said only that tasks run as nobody.  The
 * check runs the task's connection in a child with the task's ids and environment; when
 * that fails but ours works, the controller stops and says what to change.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etl_admin.h"
#include "log.h"
#include "preflight.h"
#include "spawn.h"

extern char **environ;

/* In the child: the task's environment (what spawn passes on), its ids, a connection. */
static void
child(int fd, const char *pg_env, const struct passwd *pw)
{
	static char name[] = "preflight";
	const struct spawn_user u = { pw->pw_name, pw->pw_uid, pw->pw_gid };
	gid_t g = pw->pw_gid;
	etl_error err;
	etl_conn *c;
	etl_job j;

	memset(&j, 0, sizeof(j));
	memcpy(j.id, name, sizeof(name));
	j.queue = j.task = name;
	environ = task_env(&j, pg_env, pg_env, &u, pw->pw_dir);
	if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid(pw->pw_uid) != 0) {
		dprintf(fd, "cannot become %s: %s", pw->pw_name, strerror(errno));
		_exit(2);
	}
	etl_error_clear(&err);
	if ((c = etl_connect(pg_env, &err)) == NULL) {
		dprintf(fd, "%s", err.message);
		_exit(1);
	}
	etl_disconnect(c);
	_exit(0);
}

/* Run the check: 0 connected, 1 refused (message in msg), -1 could not tell. */
static int
as_user(const char *pg_env, const struct passwd *pw, char *msg, size_t msgsz)
{
	struct pollfd pfd;
	size_t n = 0;
	ssize_t r;
	int p[2], status;
	time_t end = time(NULL) + 20;
	pid_t pid;

	msg[0] = '\0';
	if (pipe(p) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		child(p[1], pg_env, pw);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (n + 1 < msgsz && time(NULL) < end) {
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((r = read(p[0], msg + n, msgsz - n - 1)) <= 0)
			break;
		n += (size_t)r;
	}
	msg[n] = '\0';
	close(p[0]);
	if (time(NULL) >= end)
		kill(pid, SIGKILL);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status) == 0 ? 0 : 1;
}

int
preflight_task_user(const char *pg_env, const char *user, char *why, size_t whysz)
{
	struct passwd *pw;
	etl_error err;
	etl_conn *c;
	char msg[512], *nl;
	const char *sf;

	if (geteuid() != 0 || strcmp(user, "root") == 0 || (pw = getpwnam(user)) == NULL)
		return 0;
	if (as_user(pg_env, pw, msg, sizeof(msg)) != 1)
		return 0;
	/* the task user cannot: can we?  If not, the database is down: not for us to say */
	etl_error_clear(&err);
	if ((c = etl_connect(pg_env, &err)) == NULL)
		return 0;
	etl_disconnect(c);
	if ((nl = strchr(msg, '\n')) != NULL)
		*nl = '\0';
	sf = getenv("PGSERVICEFILE");
	if (strstr(msg, "definition of service") != NULL || strstr(msg, "service file") != NULL)
		snprintf(why, whysz, "tasks run as %s, who cannot reach pg_env '%s': %s.  The service "
		    "is defined where %s cannot read it (%s%s): put it in a file %s can read and "
		    "point PGSERVICEFILE at it (e.g. /etc/etl/pg_service.conf, mode 0644), give tasks "
		    "their own with --task-service-file FILE, or run tasks as a user who can "
		    "(--user NAME)", user, pg_env, msg, user, sf ? "PGSERVICEFILE=" : "",
		    sf ? sf : "~/.pg_service.conf is ours, not theirs", user);
	else
		snprintf(why, whysz, "tasks run as %s, who cannot reach pg_env '%s': %s.  Let %s in "
		    "(a readable service and password file, pg_hba.conf, a role), give tasks their "
		    "own connection settings with --task-service-file FILE, or run tasks as a user "
		    "who can (--user NAME)", user, pg_env, msg, user);
	return -1;
}

int
preflight_session(const char *pg_env, char *why, size_t whysz)
{
	etl_error err;

	if (etl_pg_env_pooled(pg_env, &err) != 1)
		return 0;
	snprintf(why, whysz, "pg_env '%s' reaches PostgreSQL through a transaction pooler: "
	    "the controller needs sessions of its own (LISTEN, its liveness lock); point it "
	    "at PostgreSQL or a session-mode pool, and its tasks at the pooler with "
	    "--task-service-file (README: \"Deploying behind PgBouncer\")", pg_env);
	return -1;
}
