/*
 * t_wake.c: the controllers' wake-up order (controller/wake.c): payloads read, one
 * controller (or n) answering each wake-up from the same view, hand-ons that visit every
 * controller once, shares, and the limited queues.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "tap.h"
#include "../../controller/wake.h"

/* A result as etl.wake_view gives it: rows of "kind|name|queues" (queues "" for NULL). */
static PGresult *
view_of(const char *const *rows, int n)
{
	PGresAttDesc att[3];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	const char *names[3] = { "kind", "name", "queues" };
	int i, f;

	memset(att, 0, sizeof(att));
	for (f = 0; f < 3; f++) {
		att[f].name = (char *)names[f];
		att[f].typid = 25;
		att[f].typlen = -1;
		att[f].atttypmod = -1;
	}
	PQsetResultAttrs(res, 3, att);
	for (i = 0; i < n; i++) {
		char buf[256], *kind, *name, *queues;

		snprintf(buf, sizeof(buf), "%s", rows[i]);
		kind = strtok(buf, "|");
		name = strtok(NULL, "|");
		queues = strtok(NULL, "|");
		PQsetvalue(res, i, 0, kind, (int)strlen(kind));
		PQsetvalue(res, i, 1, name, (int)strlen(name));
		if (queues != NULL)
			PQsetvalue(res, i, 2, queues, (int)strlen(queues));
		else
			PQsetvalue(res, i, 2, NULL, -1);
	}
	return res;
}

static const char *ids[] = { "c1", "c2", "c3", "c4", "c5" };

int
main(void)
{
	const char *rows[] = { "c|c1", "c|c2", "c|c3|{q,r}", "c|c4|{q}", "c|c5",
	    "c|c6|{other}", "q|lim" };
	PGresult *res;
	struct wake w;
	long share, next, got[5] = { 0 }, k;
	int i, bad = 0;
	char buf[128];

	/* payloads */
	ok(wake_parse("123 1 0 q", &w) == 0 && w.key == 123 && w.n == 1 && w.off == 0 &&
	    strcmp(w.queue, "q") == 0, "a payload: key, jobs, first rank, queue");
	ok(wake_parse("q", &w) == 0 && w.n == 0 && strcmp(w.queue, "q") == 0,
	    "a queue alone wakes every controller");
	ok(wake_parse("", &w) != 0, "an empty payload is refused");
	ok(wake_parse("12 x 0 q", &w) != 0, "a payload with a bad count is refused");
	ok(wake_parse("12 1 0 ", &w) != 0, "a payload with no queue is refused");
	ok(wake_parse("12 -1 0 q", &w) != 0, "a negative count is refused");

	/* no view yet: every wake-up is answered, every queue may be limited */
	wake_parse("7 1 0 q", &w);
	ok(wake_mine(&w, "c1", &share, &next) == 1 && next == -1, "no view: answered");
	ok(wake_limited("q"), "no view: any queue may hold jobs back");

	res = view_of(rows, 7);
	ok(wake_set_view(res) == 0, "a view is read");
	PQclear(res);

	/* one job: exactly one of the five serving q answers, spread over them */
	for (k = 0; k < 5000; k++) {
		int n = 0, who = -1;

		snprintf(buf, sizeof(buf), "%ld 1 0 q", 1000 + k);	/* transaction ids: consecutive */
		wake_parse(buf, &w);
		for (i = 0; i < 5; i++)
			if (wake_mine(&w, ids[i], &share, &next)) {
				n++;
				who = i;
			}
		if (n != 1)
			bad++;
		else
			got[who]++;
	}
	ok(bad == 0, "each of 5,000 wake-ups of one job is answered by exactly one "
	    "controller (%d were not)", bad);
	for (i = 0; i < 5; i++)
		ok(got[i] > 700 && got[i] < 1300, "  %s answered %ld of them (1,000 expected)",
		    ids[i], got[i]);

	/* hand-ons visit the others, each once, and stop after the last */
	wake_parse("99 1 0 q", &w);
	{
		int seen[5] = { 0 }, steps = 0;
		long at = 0;

		while (at >= 0 && steps < 10) {
			int who = -1;

			for (i = 0; i < 5; i++)
				if (wake_mine(&w, ids[i], &share, &next))
					who = who == -1 ? i : 99;
			if (who < 0 || who == 99)
				break;
			seen[who]++;
			steps++;
			wake_mine(&w, ids[who], &share, &next);
			if (next < 0)
				break;
			wake_handon(&w, next, buf, sizeof(buf));
			wake_parse(buf, &w);
			at = next;
		}
		ok(steps == 5 && seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && seen[3] == 1 &&
		    seen[4] == 1, "handed on from one to the next, a wake-up reaches each of the "
		    "five once (%d steps)", steps);
	}

	/* n jobs: n answer; more jobs than controllers: all, with a share each */
	wake_parse("5 3 0 q", &w);
	for (k = 0, i = 0; i < 5; i++)
		k += wake_mine(&w, ids[i], &share, &next);
	ok(k == 3, "three jobs: three controllers answer (%ld)", k);
	wake_parse("5 12 0 q", &w);
	for (k = 0, i = 0; i < 5; i++)
		if (wake_mine(&w, ids[i], &share, &next) && share == 3 && next == -1)
			k++;
	ok(k == 5, "twelve jobs: all five answer, three jobs each, none to hand on to");
	wake_parse("5 0 0 q", &w);
	for (k = 0, i = 0; i < 5; i++)
		k += wake_mine(&w, ids[i], &share, &next);
	ok(k == 5, "a job for every controller (pinned to a host, released): all answer");

	/* the queues each serves */
	for (bad = 0, k = 0; k < 1000; k++) {
		long n = 0;

		snprintf(buf, sizeof(buf), "%ld 1 0 r", k);
		wake_parse(buf, &w);
		for (i = 0; i < 5; i++)
			if (i != 3)	/* c4 serves q only: its controller does not ask */
				n += wake_mine(&w, ids[i], &share, &next);
		bad += n != 1;
	}
	ok(bad == 0, "queue r: one of the four serving it (c1, c2, c3, c5) answers each of "
	    "1,000 wake-ups (%d were not)", bad);
	ok(wake_mine(&w, "c9", &share, &next) == 1, "a controller the view has not seen "
	    "answers every wake-up");

	ok(wake_limited("lim") && !wake_limited("q"), "a queue with a limit may hold jobs "
	    "back; one without may not");
	{
		const char *g[] = { "c|c1", "g|-" };

		res = view_of(g, 2);
		wake_set_view(res);
		PQclear(res);
		ok(wake_limited("q"), "with a group, any queue's end may free a job");
	}
	wake_clear();
	printf("1..%d\n", tap_n);
	return tap_failed != 0;
}
