/*
 * cmd_top.c: `etl top`: a live view of controllers, queues and running jobs with
 * progress bars, in plain ANSI (works over ssh), redrawn on NOTIFY and every second;
 * `q` quits.  `--once` prints one frame without escape codes, for scripts.
 */
#include <sys/ioctl.h>
#include <sys/select.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "xmalloc.h"

enum { OPT_ONCE = 1 };

static struct termios saved_tio;
static int raw_mode;
static volatile sig_atomic_t resized, stop;

static void
restore_terminal(void)
{
	if (!raw_mode)
		return;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	/* leave the alternate screen, show the cursor */
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	raw_mode = 0;
}

static void
on_signal(int sig)
{
	if (sig == SIGWINCH)
		resized = 1;
	else
		stop = 1;
}

static int
term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40)
		return ws.ws_col;
	return 100;
}

/* Rows of the terminal (0: not a terminal, or too small to fit anything: no limit). */
static int
term_height(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row >= 10)
		return ws.ws_row;
	return 0;
}

static double
num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/*
 * How many rows of each list fit in height rows (0: all): the headings always, then the
 * controllers and the queues, the running jobs with what is left; a list cut short ends
 * in a "+N more" line.
 */
static void
fit(int height, int nc, int nq, int nr, int *sc, int *sq, int *sr)
{
	int left;

	*sc = nc;
	*sq = nq;
	*sr = nr;
	if (height <= 0)
		return;
	/* title, blank, 3 headings, 2 blanks, and the cursor's line */
	left = height - 8;
	if (*sc + *sq + *sr <= left)
		return;
	if (*sc > 3)
		*sc = left / 4 > 1 ? left / 4 : 1;
	if (*sc < nc)
		left--;			/* its "+N more" */
	left -= *sc;
	if (*sq > left / 2) {
		*sq = left / 2 > 1 ? left / 2 - 1 : 1;
		left--;
	}
	left -= *sq;
	if (*sr > left) {
		*sr = left > 1 ? left - 1 : 0;
	}
}

static void
more(int shown, int all, const char *what)
{
	if (shown < all)
		printf("  ... %d more %s\n", all - shown, what);
}

/* One frame of the view into stdout, in height rows (0: all); ansi adds bold headings. */
static void
draw(const cJSON *snap, int width, int height, int ansi)
{
	const cJSON *c, *q, *r;
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(snap, "controllers");
	const cJSON *qs = cJSON_GetObjectItemCaseSensitive(snap, "queues");
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(snap, "running");
	const char *b = ansi ? "\033[1m" : "", *n = ansi ? "\033[0m" : "";
	char buf[256], buf2[256], buf3[64];
	int sc, sq, sr, i;

	fit(height, cJSON_GetArraySize(cs), cJSON_GetArraySize(qs), cJSON_GetArraySize(rs),
	    &sc, &sq, &sr);

	printf("%setl top%s  %s  %d controller%s, %d running\n\n", b, n,
	    cli_field(snap, "now", buf, sizeof(buf)),
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(snap, "controllers")),
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(snap, "controllers")) == 1 ? "" : "s",
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(snap, "running")));
	printf("%s%-24s %-20s %-8s %s%s\n", b, "CONTROLLER", "HOST", "PID", "HEARTBEAT", n);
	i = 0;
	cJSON_ArrayForEach(c, cs) {
		if (i++ == sc)
			break;
		printf("%-24.24s %-20.20s %-8.0f %.0f s ago\n", cli_field(c, "id", buf, sizeof(buf)),
		    cli_field(c, "host", buf2, sizeof(buf2)), num(c, "pid"), num(c, "heartbeat_age"));
	}
	more(sc, cJSON_GetArraySize(cs), "controllers");
	printf("\n%s%-24s %8s %8s %14s %11s%s\n", b, "QUEUE", "QUEUED", "ACTIVE", "COMPLETED/1h",
	    "FAILED/1h", n);
	i = 0;
	cJSON_ArrayForEach(q, qs) {
		if (i++ == sq)
			break;
		printf("%-24.24s %8.0f %8.0f %14.0f %11.0f\n", cli_field(q, "name", buf, sizeof(buf)),
		    num(q, "queued"), num(q, "active"), num(q, "completed"), num(q, "failed"));
	}
	more(sq, cJSON_GetArraySize(qs), "queues");
	printf("\n%s%-8s %-16s %-10s %7s  %s%s\n", b, "JOB", "QUEUE", "PID", "SECONDS", "PROGRESS", n);
	i = 0;
	cJSON_ArrayForEach(r, rs) {
		const cJSON *pg = cJSON_GetObjectItemCaseSensitive(r, "progress");
		double done = num(pg, "done"), total = num(pg, "total"), frac;
		int barw = width - 8 - 1 - 16 - 1 - 10 - 1 - 7 - 2 - 30, k, fill;

		if (i++ == sr)
			break;

		if (barw < 10)
			barw = 10;
		if (barw > 40)
			barw = 40;
		frac = total > 0 ? done / total : 0;
		if (frac > 1)
			frac = 1;
		fill = (int)(frac * barw + 0.5);
		printf("%-8.8s %-16.16s %-10s %7.0f  [", cli_field(r, "id", buf, sizeof(buf)),
		    cli_field(r, "queue", buf2, sizeof(buf2)), cli_field(r, "pid", buf3, sizeof(buf3)),
		    num(r, "seconds"));
		for (k = 0; k < barw; k++)
			putchar(k < fill ? '#' : ' ');
		printf("] %3.0f%% %.40s\n", frac * 100, cli_field(pg, "message", buf, sizeof(buf)));
	}
	more(sr, cJSON_GetArraySize(rs), "running");
	fflush(stdout);
}

int
cmd_top(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "once", no_argument, NULL, OPT_ONCE },
		COMMON_LONGOPTS, { NULL, 0, NULL, 0 }
	};
	struct cli cl = { "top", "usage: etl top [--once] [--json]\n\n"
	    "A live view of controllers, queues (queued, active, completed and failed in the\n"
	    "last hour) and running jobs with their progress.  q quits.  --once prints one\n"
	    "frame, plain, for scripts; --json prints it as one JSON object.  NO_COLOR turns\n"
	    "the bold headings off.\n", NULL, 0 };
	struct termios tio;
	struct sigaction sa;
	etl_error err;
	etl_conn *c;
	cJSON *snap;
	const char *nc;
	int ch, once = 0, fd, ansi;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (ch == OPT_ONCE)
			once = 1;
		else
			cli_common_opt(&cl, ch);
	}
	if (optind != argc)
		cli_usage_error(&cl, "takes no arguments");
	c = cli_connect(&cl);
	if (once || cl.json || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		if ((snap = etl_top_snapshot(c, 50, &err)) == NULL)
			cli_fail(&cl, &err);
		if (cl.json) {
			cli_print_json(snap);
			etl_disconnect(c);
			return 0;
		}
		draw(snap, term_width(), 0, 0);
		cJSON_Delete(snap);
		etl_disconnect(c);
		return 0;
	}
	PQclear(PQexec(etl_conn_pg(c), "LISTEN " ETL_CHANNEL_JOB));
	PQclear(PQexec(etl_conn_pg(c), "LISTEN " ETL_CHANNEL_EVENT));
	tcgetattr(STDIN_FILENO, &saved_tio);
	tio = saved_tio;
	tio.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &tio);
	raw_mode = 1;
	atexit(restore_terminal);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGWINCH, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fputs("\033[?1049h\033[?25l", stdout);
	/* https://no-color.org: set and not empty turns the bold headings off */
	nc = getenv("NO_COLOR");
	ansi = nc == NULL || *nc == '\0';
	fd = PQsocket(etl_conn_pg(c));
	while (!stop) {
		struct timeval tv = { 1, 0 };
		PGnotify *nt;
		fd_set rf;
		char key;

		if ((snap = etl_top_snapshot(c, 50, &err)) == NULL) {
			restore_terminal();
			cli_fail(&cl, &err);
		}
		fputs("\033[H\033[2J", stdout);
		draw(snap, term_width(), term_height(), ansi);
		fputs("\n(q quits)", stdout);
		fflush(stdout);
		cJSON_Delete(snap);
		FD_ZERO(&rf);
		FD_SET(STDIN_FILENO, &rf);
		if (fd >= 0)
			FD_SET(fd, &rf);
		if (select((fd > STDIN_FILENO ? fd : STDIN_FILENO) + 1, &rf, NULL, NULL, &tv) > 0) {
			if (FD_ISSET(STDIN_FILENO, &rf) && read(STDIN_FILENO, &key, 1) == 1 &&
			    (key == 'q' || key == 'Q'))
				break;
			if (fd >= 0 && FD_ISSET(fd, &rf)) {
				PQconsumeInput(etl_conn_pg(c));
				while ((nt = PQnotifies(etl_conn_pg(c))) != NULL)
					PQfreemem(nt);
				/* a burst of events redraws at most four times a second */
				usleep(250000);
			}
		}
		resized = 0;
	}
	restore_terminal();
	etl_disconnect(c);
	return 0;
}
