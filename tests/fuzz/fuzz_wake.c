/*
 * fuzz_wake: libFuzzer target for the controller's wake-ups (controller/wake.c): the
 * input's first line is a NOTIFY payload (any client may send one), the rest the queues
 * of a controller as etl.wake_view gives them (a text[]).  A payload read must name a
 * queue; a hand-on of it must read back to the same key and queue.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "wake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static PGresult *
view_of(const char *queues)
{
	PGresAttDesc att[3];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	char *names[3] = { "kind", "name", "queues" };
	int f;

	memset(att, 0, sizeof(att));
	for (f = 0; f < 3; f++) {
		att[f].name = names[f];
		att[f].typid = 25;
		att[f].typlen = -1;
		att[f].atttypmod = -1;
	}
	PQsetResultAttrs(res, 3, att);
	PQsetvalue(res, 0, 0, "c", 1);
	PQsetvalue(res, 0, 1, "a", 1);
	PQsetvalue(res, 0, 2, (char *)queues, (int)strlen(queues));
	PQsetvalue(res, 1, 0, "c", 1);
	PQsetvalue(res, 1, 1, "b", 1);
	PQsetvalue(res, 1, 2, NULL, -1);
	PQsetvalue(res, 2, 0, "q", 1);
	PQsetvalue(res, 2, 1, (char *)queues, (int)strlen(queues));
	PQsetvalue(res, 2, 2, NULL, -1);
	return res;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *nl, buf[128];
	const char *queues = "";
	struct wake w, back;
	long share, next;
	PGresult *res;

	if (size > 8192 || (in = malloc(size + 1)) == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if ((nl = strchr(in, '\n')) != NULL) {
		*nl = '\0';
		queues = nl + 1;
	}
	res = view_of(queues);
	if (wake_set_view(res) != 0)
		__builtin_trap();
	PQclear(res);
	if (wake_parse(in, &w) == 0) {
		if (w.queue == NULL || w.queue[0] == '\0')
			__builtin_trap();
		(void)wake_mine(&w, "a", &share, &next);
		(void)wake_mine(&w, "b", &share, &next);
		(void)wake_limited(w.queue);
		if (w.n > 0 && strlen(w.queue) < 64 && w.key < 2147483648UL) {
			wake_handon(&w, 1, buf, sizeof(buf));
			if (wake_parse(buf, &back) != 0 || back.key != w.key ||
			    strcmp(back.queue, w.queue) != 0 || back.n != 1 || back.off != 1)
				__builtin_trap();
		}
	}
	wake_clear();
	free(in);
	return 0;
}
