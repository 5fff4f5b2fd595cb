/*
 * metrics.c: GET /metrics (Prometheus text format 0.0.4) and GET /healthz on the
 * controller's loop.  Each connection reads one request (at most 4 KiB, 5 s), answers,
 * and closes; anything but GET on those two paths is refused.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "db.h"
#include "metrics.h"
#include "xmalloc.h"

struct mconn {
	int	 fd;
	ev_io	 io;
	ev_timer timer;
	char	 req[4096];
	size_t	 len;
	char	*out;
	size_t	 outlen, outoff;
};

/* At most this many connections at once; more wait in the kernel's backlog. */
#define METRICS_MAX_CONNS 32

static struct {
	struct ev_loop	*loop;
	int		 fd;
	ev_io		 accept_w;
	ev_timer	 resume_w;	/* out of descriptors: accept again later */
	double		 started;
	double		 start_wall;	/* the process's start, seconds since the epoch */
	int		 nconns;
} m = { .fd = -1 };

static void	add(char **buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A label value escaped for the text format (queue names are safe; be sure). */
static void
add_label(char **b, size_t *len, const char *v)
{
	for (; *v; v++) {
		char s[3] = { *v, 0, 0 };

		if (*v == '\\' || *v == '"') {
			s[0] = '\\';
			s[1] = *v;
		} else if (*v == '\n')
			continue;
		*b = xreallocarray(*b, *len + 3, 1);
		memcpy(*b + *len, s, strlen(s) + 1);
		*len += strlen(s);
	}
}

/* The job counts of the last maintenance, as Prometheus lines (caller frees). */
static char *
job_counts_text(void)
{
	char *b = xstrdup(""), *line;
	size_t len = 0;
	long i;

	for (i = 0; i < ctl_stats.ncounts; i++) {
		const etl_job_count *c = &ctl_stats.counts[i];
		const char *st = etl_job_state_name(c->state);

		if (st == NULL)
			continue;
		b = xreallocarray(b, len + 32, 1);
		len += (size_t)snprintf(b + len, 32, "etl_jobs{queue=\"");
		add_label(&b, &len, c->queue);
		xasprintf(&line, "\",state=\"%s\"} %ld\n", st, c->count);
		b = xreallocarray(b, len + strlen(line) + 1, 1);
		memcpy(b + len, line, strlen(line) + 1);
		len += strlen(line);
		free(line);
	}
	return b;
}

/* Each queue's lag (its rows of the counts carry it; the first of each says it). */
static void
lag_text(char **b, size_t *len)
{
	long i;

	for (i = 0; i < ctl_stats.ncounts; i++) {
		const etl_job_count *c = &ctl_stats.counts[i];

		if (i > 0 && strcmp(c->queue, ctl_stats.counts[i - 1].queue) == 0)
			continue;
		add(b, len, "etl_queue_lag_seconds{queue=\"");
		add_label(b, len, c->queue);
		add(b, len, "\"} %.3f\n", c->lag);
	}
}

/* Per queue: jobs finished by outcome, and their run times. */
static void
queue_text(char **b, size_t *len)
{
	static const double bounds[NRUN_BUCKETS] = RUN_BUCKETS;
	static const char *const outcome[3] = { "completed", "retry", "failed" };
	size_t i;
	int k;

	add(b, len, "# HELP etl_jobs_finished_total Jobs this controller recorded, by queue and "
	    "outcome.\n# TYPE etl_jobs_finished_total counter\n");
	for (i = 0; i < ctl_stats.nqueues; i++) {
		const struct queue_stats *q = &ctl_stats.queues[i];
		const unsigned long n[3] = { q->completed, q->retried, q->failed };

		for (k = 0; k < 3; k++) {
			add(b, len, "etl_jobs_finished_total{queue=\"");
			add_label(b, len, q->queue);
			add(b, len, "\",state=\"%s\"} %lu\n", outcome[k], n[k]);
		}
	}
	add(b, len, "# HELP etl_job_run_seconds Run time of the jobs this controller recorded "
	    "(claim to recorded end), by queue.\n# TYPE etl_job_run_seconds histogram\n");
	for (i = 0; i < ctl_stats.nqueues; i++) {
		const struct queue_stats *q = &ctl_stats.queues[i];
		unsigned long cum = 0;

		for (k = 0; k < NRUN_BUCKETS; k++) {
			cum += q->run_buckets[k];
			add(b, len, "etl_job_run_seconds_bucket{queue=\"");
			add_label(b, len, q->queue);
			add(b, len, "\",le=\"%g\"} %lu\n", bounds[k], cum);
		}
		add(b, len, "etl_job_run_seconds_bucket{queue=\"");
		add_label(b, len, q->queue);
		add(b, len, "\",le=\"+Inf\"} %lu\netl_job_run_seconds_sum{queue=\"", q->run_count);
		add_label(b, len, q->queue);
		add(b, len, "\"} %.6f\netl_job_run_seconds_count{queue=\"", q->run_sum);
		add_label(b, len, q->queue);
		add(b, len, "\"} %lu\n", q->run_count);
	}
}

static void
mconn_free(struct mconn *c)
{
	ev_io_stop(m.loop, &c->io);
	ev_timer_stop(m.loop, &c->timer);
	close(c->fd);
	free(c->out);
	free(c);
	/* a slot is free: accept again (unless waiting for descriptors) */
	if (m.nconns-- == METRICS_MAX_CONNS && m.fd >= 0 && !ev_is_active(&m.resume_w))
		ev_io_start(m.loop, &m.accept_w);
}

/* Append printf output to a growing buffer. */
static void
add(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("out of memory");
	*buf = xreallocarray(*buf, *len + (size_t)n + 1, 1);
	memcpy(*buf + *len, s, (size_t)n + 1);
	*len += (size_t)n;
	free(s);
}

/* When this process started: the boot time plus its start in clock ticks after boot. */
static double
process_start(void)
{
	char line[256];
	long long btime = 0, ticks = etl_pid_start_time(getpid());
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "btime %lld", &btime) == 1)
				break;
		fclose(f);
	}
	if (btime <= 0 || ticks < 0)
		return ev_time();
	return (double)btime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* The standard process_* series (Prometheus client conventions) and the build. */
static void
process_metrics(char **b, size_t *len)
{
	struct rusage ru;
	struct dirent *d;
	long pages = 0, rss = 0;
	FILE *f;
	DIR *dp;
	int fds = 0;

	getrusage(RUSAGE_SELF, &ru);
	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	if ((dp = opendir("/proc/self/fd")) != NULL) {
		while ((d = readdir(dp)) != NULL)
			if (d->d_name[0] != '.')
				fds++;
		closedir(dp);
		fds--;	/* the one opendir holds */
	}
	add(b, len, "# HELP etl_build_info The controller's version and schema.\n"
	    "# TYPE etl_build_info gauge\netl_build_info{version=\"%s\",schema=\"%d\"} 1\n",
	    ETL_VERSION, etl_schema_version());
	add(b, len, "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
	    "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %.3f\n"
	    "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
	    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.3f\n"
	    "# HELP process_resident_memory_bytes Resident memory size.\n"
	    "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %ld\n"
	    "# HELP process_open_fds Open file descriptors.\n"
	    "# TYPE process_open_fds gauge\nprocess_open_fds %d\n",
	    m.start_wall, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, rss * sysconf(_SC_PAGESIZE),
	    fds);
}

static char *
metrics_text(size_t *lenp)
{
	static const double bounds[8] = CLAIM_BUCKETS;
	char *b = NULL;
	size_t len = 0;
	unsigned long cum = 0;
	char *counts;
	int i;

	process_metrics(&b, &len);
	add(&b, &len, "# HELP etl_controller_uptime_seconds Seconds since the controller started.\n"
	    "# TYPE etl_controller_uptime_seconds gauge\n"
	    "etl_controller_uptime_seconds %.3f\n", ev_now(m.loop) - m.started);
	add(&b, &len, "# HELP etl_tasks_active Tasks this controller runs now.\n"
	    "# TYPE etl_tasks_active gauge\netl_tasks_active %d\n", ctl_stats.running);
	add(&b, &len, "# HELP etl_database_up Whether the controller's connection is up.\n"
	    "# TYPE etl_database_up gauge\netl_database_up %d\n", ctl_stats.db_up);
	add(&b, &len, "# HELP etl_jobs_claimed_total Jobs this controller claimed.\n"
	    "# TYPE etl_jobs_claimed_total counter\netl_jobs_claimed_total %lu\n",
	    ctl_stats.claimed);
	queue_text(&b, &len);
	add(&b, &len, "# HELP etl_database_reconnects_total Connections to the database lost "
	    "and made again.\n# TYPE etl_database_reconnects_total counter\n"
	    "etl_database_reconnects_total %lu\n", ctl_stats.reconnects);
	add(&b, &len, "# HELP etl_wakeups_total Wake-ups (NOTIFY etl_job) for this controller's "
	    "queues: answered (a claim), or passed (another controller's rank).\n"
	    "# TYPE etl_wakeups_total counter\n"
	    "etl_wakeups_total{outcome=\"answered\"} %lu\n"
	    "etl_wakeups_total{outcome=\"passed\"} %lu\n", ctl_stats.wakes_answered,
	    ctl_stats.wakes_passed);
	add(&b, &len, "# HELP etl_wakeups_handed_on_total Wake-ups this controller answered but "
	    "could not take all of, handed on to the next controller.\n"
	    "# TYPE etl_wakeups_handed_on_total counter\n"
	    "etl_wakeups_handed_on_total %lu\n", ctl_stats.handons);
	add(&b, &len, "# HELP etl_controllers_live Live controllers (holding their liveness "
	    "lock) as this controller last read them; they share out the wake-ups.\n"
	    "# TYPE etl_controllers_live gauge\netl_controllers_live %ld\n", ctl_stats.peers);
	add(&b, &len, "# HELP etl_claim_duration_seconds Round trip of a claim statement.\n"
	    "# TYPE etl_claim_duration_seconds histogram\n");
	for (i = 0; i < 8; i++) {
		cum += ctl_stats.claim_buckets[i];
		add(&b, &len, "etl_claim_duration_seconds_bucket{le=\"%g\"} %lu\n", bounds[i], cum);
	}
	add(&b, &len, "etl_claim_duration_seconds_bucket{le=\"+Inf\"} %lu\n"
	    "etl_claim_duration_seconds_sum %.6f\netl_claim_duration_seconds_count %lu\n",
	    ctl_stats.claim_count, ctl_stats.claim_sum, ctl_stats.claim_count);
	/* the cluster's series: from one controller (the live one with the smallest id) */
	add(&b, &len, "# HELP etl_cluster_exporter Whether this controller exports the "
	    "cluster-wide series (etl_jobs, etl_queue_lag_seconds): one does.\n"
	    "# TYPE etl_cluster_exporter gauge\netl_cluster_exporter %d\n", ctl_stats.ncounts > 0);
	if (ctl_stats.ncounts > 0)
		add(&b, &len, "# HELP etl_cluster_count_seconds Round trip of the last count "
		    "of the cluster's jobs.\n# TYPE etl_cluster_count_seconds gauge\n"
		    "etl_cluster_count_seconds %.6f\n", ctl_stats.count_seconds);
	counts = job_counts_text();
	add(&b, &len, "# HELP etl_jobs Jobs still to run or running (created, retry, active) "
	    "by queue, at the last maintenance tick (finished ones: "
	    "etl_jobs_finished_total).\n# TYPE etl_jobs gauge\n%s", counts);
	free(counts);
	add(&b, &len, "# HELP etl_queue_lag_seconds Age of the queue's oldest ready job (at the "
	    "last maintenance tick).\n# TYPE etl_queue_lag_seconds gauge\n");
	lag_text(&b, &len);
	*lenp = len;
	return b;
}

static void
respond(struct mconn *c, int code, const char *reason, const char *ctype, char *body,
    size_t blen)
{
	char *h = NULL;
	size_t hl = 0;

	add(&h, &hl, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n%s\r\n", code, reason, ctype, blen,
	    code == 405 ? "Allow: GET\r\n" : "");
	h = xreallocarray(h, hl + blen + 1, 1);
	memcpy(h + hl, body, blen);
	c->out = h;
	c->outlen = hl + blen;
	c->outoff = 0;
	free(body);
}

static void
conn_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mconn *c = w->data;
	ssize_t n;

	(void)loop;
	if ((revents & EV_READ) && c->out == NULL) {
		char method[16], path[256], *eol;

		n = read(c->fd, c->req + c->len, sizeof(c->req) - 1 - c->len);
		if (n <= 0) {
			if (n < 0 && errno == EAGAIN)
				return;
			mconn_free(c);
			return;
		}
		c->len += (size_t)n;
		c->req[c->len] = '\0';
		if (strstr(c->req, "\r\n\r\n") == NULL && strstr(c->req, "\n\n") == NULL) {
			if (c->len < sizeof(c->req) - 1)
				return;	/* more to come */
		}
		eol = strpbrk(c->req, "\r\n");
		if (eol != NULL)
			*eol = '\0';
		if (sscanf(c->req, "%15s %255s", method, path) != 2) {
			respond(c, 400, "Bad Request", "text/plain", xstrdup("bad request\n"), 12);
		} else if (strcmp(path, "/metrics") != 0 && strcmp(path, "/healthz") != 0) {
			respond(c, 404, "Not Found", "text/plain", xstrdup("not found\n"), 10);
		} else if (strcmp(method, "GET") != 0) {
			respond(c, 405, "Method Not Allowed", "text/plain",
			    xstrdup("method not allowed\n"), 19);
		} else if (strcmp(path, "/healthz") == 0) {
			double stalled = db_stalled();

			/* down, or its statement unanswered for a third of --db-timeout */
			if (ctl_stats.db_up && stalled < db_timeout_seconds() / 3)
				respond(c, 200, "OK", "text/plain", xstrdup("ok\n"), 3);
			else if (ctl_stats.db_up) {
				char *t;

				xasprintf(&t, "database not answering (%.0f s)\n", stalled);
				respond(c, 503, "Service Unavailable", "text/plain", t, strlen(t));
			} else
				respond(c, 503, "Service Unavailable", "text/plain",
				    xstrdup("database down\n"), 14);
		} else {
			size_t len;
			char *body = metrics_text(&len);

			respond(c, 200, "OK", "text/plain; version=0.0.4", body, len);
		}
		ev_io_stop(m.loop, &c->io);
		ev_io_set(&c->io, c->fd, EV_WRITE);
		ev_io_start(m.loop, &c->io);
		return;
	}
	if ((revents & EV_WRITE) && c->out != NULL) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0 || (c->outoff += (size_t)n) == c->outlen)
			mconn_free(c);
	}
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	mconn_free(w->data);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct mconn *c;
	int fd;

	(void)w;
	(void)revents;
	for (;;) {
		if (m.nconns >= METRICS_MAX_CONNS) {
			ev_io_stop(loop, &m.accept_w);
			return;
		}
		if ((fd = accept4(m.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0)
			break;
		m.nconns++;
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		ev_io_init(&c->io, conn_cb, fd, EV_READ);
		c->io.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_init(&c->timer, timeout_cb, 5.0, 0);
		c->timer.data = c;
		ev_timer_start(loop, &c->timer);
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		/* the pending connection stays readable: without a pause this would spin */
		log_warnx("metrics: accept: %s; pausing for 1 s", strerror(errno));
		ev_io_stop(loop, &m.accept_w);
		ev_timer_start(loop, &m.resume_w);
	}
}

static void
resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	if (m.nconns < METRICS_MAX_CONNS)
		ev_io_start(loop, &m.accept_w);
}

/*
 * ADDR:PORT, [IPV6]:PORT, NAME:PORT (localhost) or :PORT (every address): the first
 * address getaddrinfo gives that we can bind.
 */
int
metrics_init(struct ev_loop *loop, const char *addr)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	const char *colon = strrchr(addr, ':'), *h = host;
	size_t hl;
	char *end;
	long port;
	int one = 1, rc, e = EINVAL;

	if (colon == NULL || (hl = (size_t)(colon - addr)) >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || port <= 0 || port > 65535) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		h = host + 1;
	} else if (hl == 0) {
		h = NULL;	/* every address */
	} else if (strchr(host, ':') != NULL) {
		errno = EINVAL;	/* an IPv6 address wants its brackets */
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(h, colon + 1, &hints, &res)) != 0) {
		errno = rc == EAI_SYSTEM ? errno : EINVAL;
		return -1;
	}
	m.fd = -1;
	for (ai = res; ai != NULL && m.fd < 0; ai = ai->ai_next) {
		m.fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (m.fd < 0) {
			e = errno;
			continue;
		}
		setsockopt(m.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(m.fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(m.fd, 16) != 0) {
			e = errno;
			close(m.fd);
			m.fd = -1;
		}
	}
	freeaddrinfo(res);
	if (m.fd < 0) {
		errno = e;
		return -1;
	}
	m.loop = loop;
	m.started = ev_now(loop);
	m.start_wall = process_start();
	ev_io_init(&m.accept_w, accept_cb, m.fd, EV_READ);
	ev_io_start(loop, &m.accept_w);
	ev_timer_init(&m.resume_w, resume_cb, 1.0, 0);
	return 0;
}

void
metrics_close(void)
{
	if (m.fd < 0)
		return;
	ev_io_stop(m.loop, &m.accept_w);
	ev_timer_stop(m.loop, &m.resume_w);
	close(m.fd);
	m.fd = -1;
}
