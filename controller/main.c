/*
 * main.c: etl-controller (SPEC section 6).  Options, the libev loop, signals, timers,
 * systemd notification, daemon mode and the pidfile.  The jobs live in supervisor.c,
 * the database connection in db.c.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bsd/libutil.h>
#include <bsd/string.h>
#include <bsd/unistd.h>
#include <ev.h>

#include "config.h"
#include "preflight.h"
#include "db.h"
#include "etl_stmt.h"
#include "log.h"
#include "metrics.h"
#include "spawn.h"
#include "supervisor.h"
#include "xmalloc.h"

static const char usage_text[] =
    "usage: etl-controller [options]\n\n"
    "Claim jobs from the etl queue and run each as a detached task process.\n\n"
    "  --pg-env NAME           controller database (libpq service; default $ETL_PG_ENV)\n"
    "  --queues Q1,Q2|all      queues to serve (default all)\n"
    "  --concurrency N         most tasks running at once (default 8)\n"
    "  --log-dir DIR           job logs (default $ETL_LOG_DIR, /var/log/etl as root,\n"
    "                          else ~/.local/state/etl/logs)\n"
    "  --id NAME               controller id (default the hostname); a restart with\n"
    "                          the same id adopts the tasks left running\n"
    "  --shutdown-timeout SEC  longest graceful stop (default 30)\n"
    "  --stop-tasks            on SIGTERM stop the tasks too (default: leave them)\n"
    "  --kill-grace SEC        SIGTERM to SIGKILL for stopped tasks (default 10)\n"
    "  --log-max BYTES         cap each job's log at about BYTES: its head and tail are\n"
    "                          kept, the middle dropped (default 67108864; 0: no cap)\n"
    "  --min-priority N, --max-priority N\n"
    "                          claim only jobs of a priority in this range (default: any)\n"
    "  --log-retention SEC     also remove job logs untouched this long, hourly (default\n"
    "                          0: a log goes with its job, at its queue's retention)\n"
    "  --poll-interval SEC     look for work this often besides NOTIFY (default 1)\n"
    "  --heartbeat SEC         controller heartbeat (default 10)\n"
    "  --dead-after SEC        a controller silent this long is dead (default 60)\n"
    "  --lease SEC             our tasks are stopped (by their keepers) when no beat of\n"
    "                          ours was recorded for SEC (default 60; at least twice\n"
    "                          --heartbeat); others rescue their jobs only after it\n"
    "  --db-timeout SEC        a statement or connection attempt with no answer this\n"
    "                          long drops its connection for a new one (default 30)\n"
    "  --pidfile FILE          write and lock a pidfile\n"
    "  --daemon                detach (needs --log-file)\n"
    "  --log-file FILE         log here instead of stderr (reopened on SIGHUP)\n"
    "  --metrics ADDR:PORT     serve GET /metrics (Prometheus) and GET /healthz; ADDR is\n"
    "                          an IPv4 address, [an IPv6 one], a name, or empty (every\n"
    "                          address)\n"
    "  --user NAME             as root, tasks run as NAME unless their queue says (run_as);\n"
    "                          default nobody: never root unless asked (--user root)\n"
    "  --allow-user U1,U2      as root, the users a queue's run_as may name besides\n"
    "                          --user (default none): a database row never chooses root\n"
    "  --uid-range FIRST-LAST  as root, each task of a queue without run_as runs under\n"
    "                          a uid of its own from this range (unused by any account),\n"
    "                          with --user's group: tasks of different jobs cannot\n"
    "                          signal, trace or read each other (default: all run as\n"
    "                          --user)\n"
    "  --task-service-file F   tasks connect with this libpq service file (its entries\n"
    "                          name the same pg_envs, with a role of etl_task) instead\n"
    "                          of ours; our PGUSER and PGPASSFILE are not passed on\n"
    "  --task-path DIRS        where tasks are found (sets ETL_TASK_PATH)\n"
    "  --config FILE           options from FILE first (default /etc/etl/etl.conf when it\n"
    "                          exists, or $ETL_CONFIG); the command line wins\n"
    "  -v, --verbose           log every state change\n"
    "  -h, --help, -V, --version\n\n"
    "Signals: TERM/INT stop claiming and exit (a second one: exit now); HUP reopens\n"
    "the log file.\n";

enum { O_PG_ENV = 1000, O_QUEUES, O_CONC, O_LOG_DIR, O_ID, O_SHUTDOWN, O_STOP_TASKS,
    O_GRACE, O_POLL, O_BEAT, O_DEAD, O_PIDFILE, O_DAEMON, O_LOG_FILE, O_HELP, O_VERSION,
    O_METRICS, O_USER, O_TASK_PATH, O_CONFIG, O_LOG_MAX, O_ALLOW_USER, O_LEASE, O_UID_RANGE, O_TASK_SERVICE, O_DB_TIMEOUT, O_LOG_RETENTION, O_MIN_PRIO, O_MAX_PRIO };

static struct {
	struct ev_loop	*loop;
	const char	*log_file;
	double		 shutdown_timeout;
	int		 stop_tasks;
	int		 stopping;
	ev_signal	 sigterm, sigint, sighup;
	ev_timer	 poll, beat, maint, watchdog, deadline, drain;
	struct pidfh	*pfh;
	char		*notify_socket;
} ctl;

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "etl-controller: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see etl-controller --help)\n");
	exit(2);
}

static double
num_arg(const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		usage_error("bad value for %s", what);
	return v;
}

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void
sd_notify_msg(const char *msg)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd;

	if (ctl.notify_socket == NULL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlcpy(sa.sun_path, ctl.notify_socket, sizeof(sa.sun_path)) >= sizeof(sa.sun_path))
		return;
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(ctl.notify_socket));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		log_warn("sd_notify");
	close(fd);
}

static void
reopen_log(void)
{
	int fd;

	if (ctl.log_file == NULL)
		return;
	fd = open(ctl.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		log_warn("cannot reopen %s", ctl.log_file);
		return;
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static void
finish_and_exit(void)
{
	metrics_close();
	sup_free();
	db_shutdown();
	ev_signal_stop(ctl.loop, &ctl.sigterm);
	ev_signal_stop(ctl.loop, &ctl.sigint);
	ev_signal_stop(ctl.loop, &ctl.sighup);
	ev_break(ctl.loop, EVBREAK_ALL);
	if (ctl.pfh != NULL)
		pidfile_remove(ctl.pfh);
	ctl.pfh = NULL;
}

static void
drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sup_poll();
	if (sup_quiescent()) {
		log_info("stopped (%d task%s left running)", sup_running(),
		    sup_running() == 1 ? "" : "s");
		finish_and_exit();
	}
}

static void
deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	log_warnx("shutdown timeout: exiting with work not recorded; a restart catches up");
	finish_and_exit();
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)revents;
	if (ctl.stopping) {
		log_info("second %s: exiting now", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		finish_and_exit();
		return;
	}
	ctl.stopping = 1;
	log_info("%s: no more claims; %s", w->signum == SIGINT ? "SIGINT" : "SIGTERM",
	    ctl.stop_tasks ? "stopping the tasks" : "tasks keep running");
	sd_notify_msg("STOPPING=1");
	ev_timer_stop(ctl.loop, &ctl.poll);
	ev_timer_stop(ctl.loop, &ctl.maint);
	sup_shutdown(ctl.stop_tasks);
	ev_timer_set(&ctl.deadline, ctl.shutdown_timeout, 0);
	ev_timer_start(ctl.loop, &ctl.deadline);
	ev_timer_set(&ctl.drain, 0, 0.05);
	ev_timer_start(ctl.loop, &ctl.drain);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	reopen_log();
	log_info("SIGHUP: log reopened");
}

static void
poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sup_poll();
}

static void
beat_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sup_heartbeat();
}

static void
maint_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sup_maintenance();
}

static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sd_notify_msg("WATCHDOG=1");
}

static int ready_sent;

static void
on_db_up(void)
{
	if (!ready_sent) {
		ready_sent = 1;
		sd_notify_msg("READY=1");
	}
	sup_db_up();
}

static const char *
default_log_dir(char *buf, size_t len)
{
	const char *e = getenv("ETL_LOG_DIR"), *home = getenv("HOME");

	if (e != NULL && *e != '\0')
		return e;
	if (geteuid() == 0 || home == NULL)
		return "/var/log/etl";
	snprintf(buf, len, "%s/.local/state/etl/logs", home);
	return buf;
}

/* mkdir -p with mode for the last part. */
static int
mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX], *p;

	if (strlcpy(tmp, path, sizeof(tmp)) >= sizeof(tmp))
		return -1;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* A user name as etl.queue.run_as may hold it. */
static int
user_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* The users tasks may run as: the default user and --allow-user's, comma-separated. */
static char *
allow_list(const char *user, const char *arg)
{
	char *list = xstrdup(user), *s, *tok, *save = NULL, *next;

	if (!user_name_ok(user))
		usage_error("bad --user '%s'", user);
	if (arg == NULL)
		return list;
	s = xstrdup(arg);
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (!user_name_ok(tok))
			usage_error("bad --allow-user name '%s'", tok);
		xasprintf(&next, "%s,%s", list, tok);
		free(list);
		list = next;
	}
	free(s);
	return list;
}

/*
 * --uid-range FIRST-LAST: as root only; no account's uid in it (a task would run as
 * that account), not root's, at least --concurrency uids.
 */
static void
parse_uid_range(const char *arg, struct sup_config *cfg)
{
	unsigned long first, last;
	struct passwd *pw;
	char *end, why[256];

	errno = 0;
	first = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '-' || (last = strtoul(end + 1, &end, 10),
	    *end != '\0') || errno != 0 || first == 0 || last < first || last >= 0x7fffffffUL ||
	    last - first >= 1000000)
		usage_error("bad --uid-range '%s': want FIRST-LAST, 0 < FIRST <= LAST, "
		    "at most 1000000 uids", arg);
	if (geteuid() != 0)
		usage_error("%s", "--uid-range needs a controller running as root");
	if (last - first + 1 < (unsigned long)cfg->concurrency) {
		snprintf(why, sizeof(why), "--uid-range %s has %lu uids, fewer than --concurrency "
		    "%d", arg, last - first + 1, cfg->concurrency);
		usage_error("%s", why);
	}
	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_uid >= first && pw->pw_uid <= last) {
			snprintf(why, sizeof(why), "--uid-range %s holds the uid %u of the account "
			    "'%s': tasks would run as it", arg, (unsigned)pw->pw_uid, pw->pw_name);
			endpwent();
			usage_error("%s", why);
		}
	endpwent();
	cfg->uid_first = (unsigned)first;
	cfg->uid_last = (unsigned)last;
}

/* An id that is no file name, or an odd one. */
static int
id_bad(const char *id)
{
	size_t n = strlen(id);

	return n == 0 || n > 63 || id[0] == '.' || id[0] == '-' ||
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n;
}

int
main(int argc, char **argv, char **envp)
{
	static const struct option lo[] = {
		{ "pg-env", required_argument, NULL, O_PG_ENV },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "log-dir", required_argument, NULL, O_LOG_DIR },
		{ "id", required_argument, NULL, O_ID },
		{ "shutdown-timeout", required_argument, NULL, O_SHUTDOWN },
		{ "stop-tasks", no_argument, NULL, O_STOP_TASKS },
		{ "kill-grace", required_argument, NULL, O_GRACE },
		{ "log-max", required_argument, NULL, O_LOG_MAX },
		{ "poll-interval", required_argument, NULL, O_POLL },
		{ "heartbeat", required_argument, NULL, O_BEAT },
		{ "dead-after", required_argument, NULL, O_DEAD },
		{ "pidfile", required_argument, NULL, O_PIDFILE },
		{ "daemon", no_argument, NULL, O_DAEMON },
		{ "log-file", required_argument, NULL, O_LOG_FILE },
		{ "metrics", required_argument, NULL, O_METRICS },
		{ "user", required_argument, NULL, O_USER },
		{ "allow-user", required_argument, NULL, O_ALLOW_USER },
		{ "lease", required_argument, NULL, O_LEASE },
		{ "db-timeout", required_argument, NULL, O_DB_TIMEOUT },
		{ "log-retention", required_argument, NULL, O_LOG_RETENTION },
		{ "min-priority", required_argument, NULL, O_MIN_PRIO },
		{ "max-priority", required_argument, NULL, O_MAX_PRIO },
		{ "uid-range", required_argument, NULL, O_UID_RANGE },
		{ "task-service-file", required_argument, NULL, O_TASK_SERVICE },
		{ "task-path", required_argument, NULL, O_TASK_PATH },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, O_HELP },
		{ "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 }
	};
	struct sup_config cfg;
	char host[256], ldbuf[PATH_MAX], *queues_arg = NULL, **queues = NULL;
	const char *pg_env, *pidfile = NULL, *wd, *metrics = NULL, *config = NULL;
	char **cargv = NULL;
	int i;
	double poll_interval = 1.0, beat = 10.0;
	size_t nqueues = 0;
	int ch, daemonize = 0;
	pid_t otherpid;
	etl_error err;
	const char *allow_arg = NULL, *uid_range = NULL;
	static long min_prio, max_prio;
	char *keeper_dir = NULL;

	/* it moves the environment: no getenv() result from before it survives */
	setproctitle_init(argc, argv, envp);
	log_init("etl-controller", 1);
	pg_env = getenv("ETL_PG_ENV");
	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 8;
	cfg.kill_grace = 10;
	cfg.log_max = 64LL * 1024 * 1024;
	cfg.log_retention = 0;	/* logs go with their jobs (etl.log_trash) */
	cfg.dead_after = 60;
	cfg.lease = 60;
	wd = getenv("ETL_DEBUG_WAIT_SECONDS");
	cfg.debug_wait = wd != NULL && atof(wd) > 0 ? atof(wd) : 300;
	ctl.shutdown_timeout = 30;
	if (gethostname(host, sizeof(host)) != 0)
		strlcpy(host, "localhost", sizeof(host));
	cfg.host = host;
	cfg.id = host;
	cfg.log_dir = default_log_dir(ldbuf, sizeof(ldbuf));
	/* the configuration file's options go first, so the command line's win */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	if (config == NULL && (config = getenv("ETL_CONFIG")) == NULL &&
	    access("/etc/etl/etl.conf", R_OK) == 0)
		config = "/etc/etl/etl.conf";
	if (config != NULL && *config != '\0') {
		cargv = config_argv(config, &argc, argv);
		argv = cargv;
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "vVh", lo, NULL)) != -1) {
		switch (ch) {
		case O_PG_ENV:
			pg_env = optarg;
			break;
		case O_QUEUES:
			queues_arg = optarg;
			break;
		case O_CONC:
			cfg.concurrency = (int)num_arg(optarg, 1, 100000, "--concurrency");
			break;
		case O_LOG_DIR:
			cfg.log_dir = optarg;
			break;
		case O_ID:
			cfg.id = optarg;
			break;
		case O_SHUTDOWN:
			ctl.shutdown_timeout = num_arg(optarg, 0, 86400, "--shutdown-timeout");
			break;
		case O_STOP_TASKS:
			ctl.stop_tasks = 1;
			break;
		case O_GRACE:
			cfg.kill_grace = num_arg(optarg, 0, 86400, "--kill-grace");
			break;
		case O_LOG_MAX:
			/* under 64 KiB the head and tail would be a few lines */
			cfg.log_max = (long long)num_arg(optarg, 0, 1e15, "--log-max");
			if (cfg.log_max > 0 && cfg.log_max < 65536)
				usage_error("%s must be 0 (no cap) or at least 65536", "--log-max");
			break;
		case O_POLL:
			poll_interval = num_arg(optarg, 0.01, 3600, "--poll-interval");
			break;
		case O_BEAT:
			beat = num_arg(optarg, 0.1, 3600, "--heartbeat");
			break;
		case O_DEAD:
			cfg.dead_after = (int)num_arg(optarg, 1, 86400, "--dead-after");
			break;
		case O_PIDFILE:
			pidfile = optarg;
			break;
		case O_DAEMON:
			daemonize = 1;
			break;
		case O_LOG_FILE:
			ctl.log_file = optarg;
			break;
		case O_METRICS:
			metrics = optarg;
			break;
		case O_USER:
			cfg.user = optarg;
			break;
		case O_ALLOW_USER:
			allow_arg = optarg;
			break;
		case O_LEASE:
			cfg.lease = num_arg(optarg, 0.2, 86400, "--lease");
			break;
		case O_DB_TIMEOUT:
			db_set_timeout(num_arg(optarg, 1, 86400, "--db-timeout"));
			break;
		case O_LOG_RETENTION:
			cfg.log_retention = num_arg(optarg, 0, 1e10, "--log-retention");
			break;
		case O_MIN_PRIO:
			min_prio = (long)num_arg(optarg, -1e9, 1e9, "--min-priority");
			cfg.min_priority = &min_prio;
			break;
		case O_MAX_PRIO:
			max_prio = (long)num_arg(optarg, -1e9, 1e9, "--max-priority");
			cfg.max_priority = &max_prio;
			break;
		case O_UID_RANGE:
			uid_range = optarg;
			break;
		case O_TASK_SERVICE:
			if (access(optarg, R_OK) != 0)
				fatal("--task-service-file %s", optarg);
			spawn_task_service(optarg);
			break;
		case O_TASK_PATH:
			if (setenv("ETL_TASK_PATH", optarg, 1) != 0)
				fatal("setenv");
			break;
		case O_CONFIG:
			break;	/* read above */
		case 'v':
			log_verbose = 1;
			break;
		case 'h':
		case O_HELP:
			fputs(usage_text, stdout);
			return 0;
		case 'V':
		case O_VERSION:
			printf("etl-controller %s (schema %d)\n", ETL_VERSION, etl_schema_version());
			return 0;
		default:
			usage_error("bad option '%s' (unknown, or missing its value)",
			    argv[optind - 1]);
		}
	}
	if (optind != argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (pg_env == NULL)
		pg_env = "";
	if (etl_pg_env_valid(pg_env) != 0)
		usage_error("bad pg_env name '%s'", pg_env);
	if (queues_arg != NULL && strcmp(queues_arg, "all") != 0) {
		char *s = xstrdup(queues_arg), *tok, *save = NULL;

		for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (etl_queue_name_valid(tok, &err) != 0)
				usage_error("%s", err.message);
			queues = xreallocarray(queues, nqueues + 1, sizeof(*queues));
			queues[nqueues++] = xstrdup(tok);
		}
		free(s);
		if (nqueues == 0)
			usage_error("--queues names no queue: '%s'", queues_arg);
	}
	cfg.queues = (const char *const *)queues;
	cfg.nqueues = nqueues;
	cfg.pg_env = pg_env;
	if (daemonize && ctl.log_file == NULL)
		usage_error("%s", "--daemon needs --log-file");
	/* it names the keepers' folder, and rows of etl.controller */
	if (id_bad(cfg.id))
		usage_error("bad --id '%.64s': want 1 to 63 of A-Z a-z 0-9 . _ -, not starting "
		    "with . or -", cfg.id);
	if (cfg.lease < 2 * beat) {
		char why[160];

		snprintf(why, sizeof(why), "--lease %g is shorter than two heartbeats (--heartbeat "
		    "%g): one late beat would stop every task", cfg.lease, beat);
		usage_error("%s", why);
	}
	if (cfg.min_priority != NULL && cfg.max_priority != NULL && min_prio > max_prio)
		usage_error("%s", "--min-priority is above --max-priority: no job could be claimed");
	if (geteuid() == 0 && cfg.user == NULL)
		log_warnx("running as root with no --user: tasks of queues without run_as run as "
		    "nobody (--user root to run them as root)");
	/* as root: who tasks may run as is this configuration's to say, never a row's */
	if (geteuid() == 0)
		cfg.allow_users = allow_list(cfg.user ? cfg.user : "nobody", allow_arg);
	if (uid_range != NULL)
		parse_uid_range(uid_range, &cfg);
	if (mkdirs(cfg.log_dir, 0750) != 0)
		fatal("cannot create the log folder %s", cfg.log_dir);
	if (access(cfg.log_dir, W_OK) != 0)
		fatal("cannot write to the log folder %s", cfg.log_dir);
	xasprintf(&keeper_dir, "%s/keeper-%s", cfg.log_dir, cfg.id);
	cfg.keeper_dir = keeper_dir;
	if (pidfile != NULL) {
		struct stat lst;

		/* a pidfile is written for others to trust: never through a planted link */
		if (lstat(pidfile, &lst) == 0 && S_ISLNK(lst.st_mode))
			fatalx("the pidfile %s is a symbolic link: refusing it", pidfile);
		if ((ctl.pfh = pidfile_open(pidfile, 0644, &otherpid)) == NULL) {
			if (errno == EEXIST)
				fatalx("already running (pid %d, pidfile %s)", (int)otherpid, pidfile);
			fatal("cannot open the pidfile %s", pidfile);
		}
	}
	reopen_log();
	if (daemonize && daemon(0, 1) != 0)
		fatal("daemon");
	if (daemonize) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
	}
	if (ctl.pfh != NULL)
		pidfile_write(ctl.pfh);
	signal(SIGPIPE, SIG_IGN);
	/*
	 * Orphans of our tasks (a task that died before its children) come to us, so they
	 * are reaped (libev reaps every child) rather than left as zombies.
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		log_warn("cannot become a subreaper");
	if ((wd = getenv("NOTIFY_SOCKET")) != NULL && *wd != '\0')
		ctl.notify_socket = xstrdup(wd);

	/* sessions of our own; as root: can the user tasks run as reach the pg_env? */
	{
		char why[1024];

		if (preflight_session(pg_env, why, sizeof(why)) != 0)
			fatalx("%s", why);
		if (preflight_task_user(pg_env, cfg.user ? cfg.user : "nobody", why, sizeof(why)) != 0)
			fatalx("%s", why);
	}
	ctl.loop = ev_default_loop(EVFLAG_AUTO);
	if (ctl.loop == NULL)
		fatalx("cannot start the event loop");
	ev_signal_init(&ctl.sigterm, stop_cb, SIGTERM);
	ev_signal_init(&ctl.sigint, stop_cb, SIGINT);
	ev_signal_init(&ctl.sighup, hup_cb, SIGHUP);
	ev_signal_start(ctl.loop, &ctl.sigterm);
	ev_signal_start(ctl.loop, &ctl.sigint);
	ev_signal_start(ctl.loop, &ctl.sighup);
	ev_timer_init(&ctl.poll, poll_cb, poll_interval, poll_interval);
	ev_timer_start(ctl.loop, &ctl.poll);
	ev_timer_init(&ctl.beat, beat_cb, beat, beat);
	ev_timer_start(ctl.loop, &ctl.beat);
	ev_timer_init(&ctl.maint, maint_cb, 1.0, cfg.dead_after / 4.0 < 10 ? cfg.dead_after / 4.0 : 10);
	ev_timer_start(ctl.loop, &ctl.maint);
	ev_init(&ctl.deadline, deadline_cb);
	ev_init(&ctl.drain, drain_cb);
	if ((wd = getenv("WATCHDOG_USEC")) != NULL && atof(wd) > 0) {
		double every = atof(wd) / 1e6 / 2;
		ev_timer_init(&ctl.watchdog, watchdog_cb, every, every);
		ev_timer_start(ctl.loop, &ctl.watchdog);
	}

	{
		/* PGAPPNAME names our session in pg_stat_activity; tasks do not inherit it */
		setenv("PGAPPNAME", "etl-controller", 0);
	}
	if (metrics != NULL && metrics_init(ctl.loop, metrics) != 0)
		fatal("--metrics %s", metrics);
	cfg.count_jobs = metrics != NULL;
	sup_init(ctl.loop, &cfg);
	log_info("starting %s as '%s' on %s: pg_env '%s', queues %s, concurrency %d, logs in %s",
	    ETL_VERSION, cfg.id, host, pg_env, queues_arg ? queues_arg : "all",
	    cfg.concurrency, cfg.log_dir);
	{
		static const struct db_hooks hooks = { on_db_up, sup_db_down, sup_notify };
		static const struct db_hooks ends = { sup_ends_up, sup_ends_down, NULL };
		static const struct db_hooks maint = { NULL, NULL, NULL };

		db_init(ctl.loop, DB_MAIN, pg_env, &hooks);
		db_init(ctl.loop, DB_ENDS, pg_env, &ends);
		db_init(ctl.loop, DB_MAINT, pg_env, &maint);
	}
	ev_run(ctl.loop, 0);

	ev_timer_stop(ctl.loop, &ctl.poll);
	ev_timer_stop(ctl.loop, &ctl.beat);
	ev_timer_stop(ctl.loop, &ctl.maint);
	ev_timer_stop(ctl.loop, &ctl.watchdog);
	ev_timer_stop(ctl.loop, &ctl.deadline);
	ev_timer_stop(ctl.loop, &ctl.drain);
	ev_loop_destroy(ctl.loop);
	while (nqueues > 0)
		free(queues[--nqueues]);
	free(queues);
	free(ctl.notify_socket);
	free(keeper_dir);
	config_free(cargv);
	return 0;
}
