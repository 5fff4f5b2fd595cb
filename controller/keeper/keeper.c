/*
 * keeper.c: etl-keeper, the parent of one detached task.  The controller starts it in
 * place of the task; it starts the task (its user, limits and folder), reaps it, stops
 * what the task left behind, and writes how it ended to a status file, atomically, so
 * that a controller that died meanwhile learns the exact end when it comes back (the
 * model of conmon and containerd-shim).  It also holds the controller's lease: when the
 * lease file has not been renewed for the lease's length (the controller is dead,
 * frozen or cut off from its database), it stops the task, because another controller
 * will soon run the job again.  It talks to no database and reads nothing the task
 * writes.
 *
 * The task runs in the keeper's process group (the keeper is its session's leader), so
 * a signal to the job's pid group reaches both; the keeper takes SIGTERM as "stop the
 * task": SIGTERM to the group, SIGKILL to every descendant after the grace.  It is a
 * subreaper: what the task leaves behind (a background child, a setsid daemon) comes to
 * it, and is stopped the same way once the task has ended.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define EX_KEEPER	125	/* the keeper's own trouble (usage, resources) */

static const char *usage_text =
    "usage: etl-keeper -s STATUS [-l LEASE -L SEC] [-g GRACE] [-u UID -G GID] [-c DIR]\n"
    "                  [-r as=N,cpu=N,nofile=N,core=unlimited] [-n NICE] -- PATH\n"
    "Run the task PATH as the parent that outlives the controller (etl-keeper(8)).\n"
    "  -s STATUS  write the task's exact end here (atomically) once all of it is gone\n"
    "  -l LEASE   the controller's lease file; -L SEC its length: stop the task when the\n"
    "             lease has not been renewed for SEC seconds\n"
    "  -g GRACE   SIGTERM to SIGKILL, in seconds (default 10)\n"
    "  -u UID -G GID  run the task as this user and group (the keeper stays as it is)\n"
    "  -c DIR     the task's working folder\n"
    "  -r LIMITS  resource limits of the task; -n NICE its nice value\n"
    "Started by etl-controller; not a command for people.\n";

static struct {
	const char	*status;
	const char	*lease;
	double		 lease_len;
	double		 grace;
	pid_t		 task;
	int		 task_done;
	int		 wstatus;
	int		 exec_errno;	/* the task could not be executed */
	const char	*stopped;	/* why we stopped it: "request", "lease" */
	double		 kill_at;	/* when SIGKILL goes to what is left */
	double		 started;
} K;

static void
say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* into the job's log: the task's stdout and stderr are ours too */
	(void)!write(STDERR_FILENO, "etl-keeper: ", 12);
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}

static void
die(const char *why)
{
	say("%s", why);
	exit(EX_KEEPER);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
num(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1e9) {
		fprintf(stderr, "etl-keeper: bad %s '%s'\n", what, s);
		exit(EX_KEEPER);
	}
	return v;
}

/* -r as=N,cpu=N,nofile=N,core=unlimited: applied in the task's process before exec */
struct limit { int res; rlim_t cur, max; };
static struct limit limits[8];
static int nlimits;

static void
parse_limits(char *s)
{
	char *tok, *save = NULL, *eq;

	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		struct limit *l;
		rlim_t v;

		if ((eq = strchr(tok, '=')) == NULL || nlimits == (int)(sizeof(limits) /
		    sizeof(limits[0]))) {
			fprintf(stderr, "etl-keeper: bad limit '%s'\n", tok);
			exit(EX_KEEPER);
		}
		*eq++ = '\0';
		v = strcmp(eq, "unlimited") == 0 ? RLIM_INFINITY : (rlim_t)num(eq, "limit");
		l = &limits[nlimits++];
		l->cur = l->max = v;
		if (strcmp(tok, "as") == 0)
			l->res = RLIMIT_AS;
		else if (strcmp(tok, "cpu") == 0) {
			l->res = RLIMIT_CPU;
			l->max = v + 5;		/* SIGXCPU first, SIGKILL later */
		} else if (strcmp(tok, "nofile") == 0)
			l->res = RLIMIT_NOFILE;
		else if (strcmp(tok, "core") == 0)
			l->res = RLIMIT_CORE;
		else {
			fprintf(stderr, "etl-keeper: unknown limit '%s'\n", tok);
			exit(EX_KEEPER);
		}
	}
}

/*
 * The pids of our descendants, found from our children down (/proc/PID/task/TID/children);
 * at most max.  Those that fork meanwhile are found by the next pass.
 */
static size_t
descendants(pid_t *out, size_t max)
{
	size_t n = 0, i = 0;
	char path[64], buf[4096];

	out[n++] = getpid();
	for (; i < n; i++) {
		ssize_t len;
		char *p, *end;
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)out[i],
		    (int)out[i]);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (p = buf; n < max; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (v > 0)
				out[n++] = (pid_t)v;
		}
	}
	/* drop ourselves */
	out[0] = out[--n];
	return n;
}

/*
 * sig to every descendant; with group_too 0, only to those outside our process group
 * (setsid daemons): the group had its signal already, and a child the task starts to
 * clean up after it (a fork after the group's SIGTERM) must not be cut short.
 */
static void
signal_all(int sig, int group_too)
{
	pid_t pids[4096], pg = getpgrp();
	size_t i, n = descendants(pids, sizeof(pids) / sizeof(pids[0]));

	for (i = 0; i < n; i++)
		if (group_too || getpgid(pids[i]) != pg)
			(void)kill(pids[i], sig);
}

/* Reap what has ended; 1 when we have no child left. */
static int
reap(void)
{
	pid_t pid;
	int ws;

	for (;;) {
		pid = waitpid(-1, &ws, WNOHANG);
		if (pid < 0)
			return errno == ECHILD;
		if (pid == 0)
			return 0;
		if (pid == K.task) {
			K.task_done = 1;
			K.wstatus = ws;
		}
	}
}

/* Stop the task, or what it left: SIGTERM to the group and the rest, SIGKILL later. */
static void
stop(const char *why)
{
	if (K.kill_at > 0)
		return;
	if (K.stopped == NULL)
		K.stopped = why;
	(void)killpg(0, SIGTERM);	/* our own SIGTERM is blocked: read and ignored */
	signal_all(SIGTERM, 0);
	K.kill_at = now() + K.grace;
}

/* How long since the controller renewed its lease (a CLOCK_BOOTTIME in the file). */
static double
lease_age(void)
{
	char buf[64];
	ssize_t n;
	int fd;

	if ((fd = open(K.lease, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return now() - K.started;	/* none yet: counted from our start */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return now() - K.started;
	buf[n] = '\0';
	return now() - atof(buf);
}

static void
write_status(void)
{
	char tmp[PATH_MAX], buf[128];
	int fd, n, ok;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", K.status) >= sizeof(tmp))
		die("the status path is too long");
	n = snprintf(buf, sizeof(buf), "wstatus=%d\nstopped=%s\nexec_errno=%d\n", K.wstatus,
	    K.stopped ? K.stopped : "", K.exec_errno);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
	if (fd >= 0 && close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, K.status) != 0) {
		/* our exit status still tells the controller, if it is our parent */
		say("cannot write the task's end to %s: %s", K.status, strerror(errno));
		(void)unlink(tmp);
	}
}

/* In the task's process, before exec: its limits, folder, user; then the task. */
static void
child(const char *path, const char *dir, int uid, int gid, int nice_set, int nice_val,
    int errfd, pid_t keeper)
{
	char *argv[2] = { (char *)path, NULL };
	struct sigaction dfl;
	sigset_t none;
	int sig, i, e;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 0; i < nlimits; i++) {
		struct rlimit rl = { limits[i].cur, limits[i].max };

		if (setrlimit(limits[i].res, &rl) != 0)
			goto fail;
	}
	if (nice_set && setpriority(PRIO_PROCESS, 0, nice_val) != 0)
		goto fail;
	if (dir != NULL && chdir(dir) != 0)
		goto fail;
	if (uid >= 0) {
		gid_t g = (gid_t)gid;

		if (setgroups(1, &g) != 0 || setgid(g) != 0 || setuid((uid_t)uid) != 0)
			goto fail;
	}
	/* if we die, so does the task (after setuid, which clears it) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != keeper)
		goto fail;
	execve(path, argv, environ);
fail:
	e = errno;
	(void)!write(errfd, &e, sizeof(e));
	_exit(127);
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL;
	int ch, uid = -1, gid = -1, nice_set = 0, nice_val = 0, errp[2], sfd, e;
	sigset_t mask;
	pid_t self;
	ssize_t n;

	K.grace = 10;
	if (argc > 1 && strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	while ((ch = getopt(argc, argv, "s:l:L:g:u:G:c:r:n:h")) != -1) {
		switch (ch) {
		case 's': K.status = optarg; break;
		case 'l': K.lease = optarg; break;
		case 'L': K.lease_len = num(optarg, "lease"); break;
		case 'g': K.grace = num(optarg, "grace"); break;
		case 'u': uid = (int)num(optarg, "uid"); break;
		case 'G': gid = (int)num(optarg, "gid"); break;
		case 'c': dir = optarg; break;
		case 'r': parse_limits(optarg); break;
		case 'n':
			nice_set = 1;
			nice_val = atoi(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs("etl-keeper: bad option (etl-keeper --help)\n", stderr);
			return EX_KEEPER;
		}
	}
	if (argc - optind != 1 || K.status == NULL || (uid >= 0) != (gid >= 0) ||
	    (K.lease != NULL) != (K.lease_len > 0)) {
		fputs("etl-keeper: want -s STATUS and one PATH, -u with -G, -l with -L "
		    "(etl-keeper --help)\n", stderr);
		return EX_KEEPER;
	}
	K.started = now();
	self = getpid();
	/* the leader of the job's group and session (the controller asks for a new one) */
	if (getsid(0) != self && setsid() < 0)
		die("setsid failed");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("cannot become a subreaper");
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
		die("cannot take its signals");
	if (pipe2(errp, O_CLOEXEC) != 0)
		die("pipe failed");
	if ((K.task = fork()) < 0) {
		e = errno;
		K.wstatus = W_EXITCODE(EX_KEEPER, 0);
		K.exec_errno = e;
		write_status();
		return EX_KEEPER;
	}
	if (K.task == 0)
		child(argv[optind], dir, uid, gid, nice_set, nice_val, errp[1], self);
	close(errp[1]);
	/* the task has its stdin; we keep none of it (its writer sees EPIPE when it is gone) */
	{
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			close(null);
		}
	}
	do
		n = read(errp[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(errp[0]);
	if (n == (ssize_t)sizeof(e))
		K.exec_errno = e;	/* the controller says why, in the job's ERROR */
	for (;;) {
		struct signalfd_siginfo si;
		struct pollfd pfd = { sfd, POLLIN, 0 };
		double wait = 1.0, t;
		int none_left;

		none_left = reap();
		if (K.task_done && none_left)
			break;
		t = now();
		if (K.task_done && K.kill_at == 0)
			stop(NULL);		/* what the task left behind */
		if (K.kill_at > 0 && t >= K.kill_at) {
			signal_all(SIGKILL, 1);
			wait = 0.01;		/* until they are reaped */
		} else if (K.kill_at > 0 && K.kill_at - t < wait) {
			wait = K.kill_at - t;
		}
		if (K.lease != NULL && !K.task_done) {
			double age = lease_age();

			if (age > K.lease_len) {
				if (K.stopped == NULL)
					say("the controller's lease ran out (not renewed for %.1f s, "
					    "lease %.1f s): stopping the task", age, K.lease_len);
				stop("lease");
			} else if (K.lease_len - age < wait) {
				wait = K.lease_len - age + 0.01;
			}
		}
		if (poll(&pfd, 1, (int)(wait * 1000) + 1) < 0 && errno != EINTR)
			die("poll failed");
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			/* a stop: from the controller, an operator, or the task's own group */
			if (si.ssi_signo == SIGTERM && (pid_t)si.ssi_pid != self && !K.task_done)
				stop("request");
		}
	}
	write_status();
	/* our own status mirrors the task's, for a controller that is our parent */
	if (WIFSIGNALED(K.wstatus))
		return 128 + WTERMSIG(K.wstatus);
	return WEXITSTATUS(K.wstatus);
}
