/*
 * wake.c: which wake-ups (NOTIFY etl_job) this controller answers (see wake.h).
 *
 * Every live controller serving a queue scores itself for a wake-up as a hash of the
 * wake-up's key and its id, and ranks itself among the others by the same scores
 * (rendezvous hashing): no coordination beyond a shared view of who is alive, and a
 * controller joining or leaving moves only its own share.  Views read at different
 * moments may disagree for a few seconds: a wake-up is then answered twice (a claim
 * that finds nothing) or by none (the job waits for the next poll, --poll-interval).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wake.h"
#include "xmalloc.h"

struct peer {
	char	 *id;
	char	**queues;	/* NULL: all */
	size_t	  nqueues;
};

static struct {
	struct peer	*peers;
	size_t		 npeers;
	char		**limited;	/* queues with a limit or a key policy */
	size_t		 nlimited;
	int		 groups;	/* some group caps jobs */
	int		 known;		/* a view was read */
} view;

int
wake_parse(const char *payload, struct wake *w)
{
	char *end;

	memset(w, 0, sizeof(*w));
	if (payload[0] < '0' || payload[0] > '9') {
		/* a queue alone (etl queue resume, an older etl): every controller */
		w->queue = payload;
		return payload[0] == '\0' ? -1 : 0;
	}
	w->key = strtoul(payload, &end, 10);
	if (*end != ' ')
		return -1;
	w->n = strtol(end + 1, &end, 10);
	if (*end != ' ' || w->n < 0)
		return -1;
	w->off = strtol(end + 1, &end, 10);
	if (*end != ' ' || w->off < 0 || end[1] == '\0')
		return -1;
	w->queue = end + 1;
	return 0;
}

static void
peers_free(void)
{
	size_t i, j;

	for (i = 0; i < view.npeers; i++) {
		for (j = 0; j < view.peers[i].nqueues; j++)
			free(view.peers[i].queues[j]);
		free(view.peers[i].queues);
		free(view.peers[i].id);
	}
	free(view.peers);
	for (i = 0; i < view.nlimited; i++)
		free(view.limited[i]);
	free(view.limited);
	memset(&view, 0, sizeof(view));
}

void
wake_clear(void)
{
	peers_free();
}

/* A text[] as PostgreSQL writes it; queue names need no quoting but "NULL" would get it. */
static void
parse_array(const char *s, struct peer *p)
{
	char *copy, *tok, *save = NULL;
	size_t len;

	len = strlen(s);
	if (len < 2 || s[0] != '{' || s[len - 1] != '}')
		return;
	copy = xstrdup(s + 1);
	copy[len - 2] = '\0';
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (tok[0] == '"') {
			tok++;
			tok[strcspn(tok, "\"")] = '\0';
		}
		p->queues = xreallocarray(p->queues, p->nqueues + 1, sizeof(*p->queues));
		p->queues[p->nqueues++] = xstrdup(tok);
	}
	free(copy);
}

int
wake_set_view(PGresult *res)
{
	int i;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 3)
		return -1;
	peers_free();
	for (i = 0; i < PQntuples(res); i++) {
		const char *kind = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);

		if (strcmp(kind, "c") == 0) {
			struct peer *p;

			view.peers = xreallocarray(view.peers, view.npeers + 1, sizeof(*view.peers));
			p = &view.peers[view.npeers++];
			memset(p, 0, sizeof(*p));
			p->id = xstrdup(name);
			if (!PQgetisnull(res, i, 2))
				parse_array(PQgetvalue(res, i, 2), p);
		} else if (strcmp(kind, "q") == 0) {
			view.limited = xreallocarray(view.limited, view.nlimited + 1,
			    sizeof(*view.limited));
			view.limited[view.nlimited++] = xstrdup(name);
		} else if (strcmp(kind, "g") == 0) {
			view.groups = 1;
		}
	}
	view.known = 1;
	return 0;
}

static int
serves(const struct peer *p, const char *queue)
{
	size_t i;

	if (p->queues == NULL)
		return 1;
	for (i = 0; i < p->nqueues; i++)
		if (strcmp(p->queues[i], queue) == 0)
			return 1;
	return 0;
}

/* splitmix64's finaliser over FNV-1a of the id, seeded by the key. */
static uint64_t
score(unsigned long key, const char *id)
{
	uint64_t h = 1469598103934665603ULL ^ ((uint64_t)key * 0x9e3779b97f4a7c15ULL);

	for (; *id != '\0'; id++) {
		h ^= (unsigned char)*id;
		h *= 1099511628211ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

int
wake_mine(const struct wake *w, const char *me, long *share, long *next)
{
	uint64_t mine, s;
	long rank = 0, count = 0;
	size_t i;
	int found = 0;

	*next = -1;
	*share = w->n > 0 ? w->n : 1;
	if (w->n == 0 || !view.known)
		return 1;
	mine = score(w->key, me);
	for (i = 0; i < view.npeers; i++) {
		if (!serves(&view.peers[i], w->queue))
			continue;
		count++;
		if (strcmp(view.peers[i].id, me) == 0) {
			found = 1;
			continue;
		}
		s = score(w->key, view.peers[i].id);
		if (s > mine || (s == mine && strcmp(view.peers[i].id, me) < 0))
			rank++;
	}
	if (!found)
		return 1;	/* the view has not seen us yet */
	if (rank < w->off || rank >= w->off + w->n)
		return 0;
	if (w->n > count)
		*share = (w->n + count - 1) / count;
	else
		*share = 1;
	if (rank + w->n < count)
		*next = rank + w->n;
	return 1;
}

void
wake_handon(const struct wake *w, long next, char *buf, size_t len)
{
	snprintf(buf, len, "%lu 1 %ld %s", w->key, next, w->queue);
}

long
wake_peers(void)
{
	return view.known ? (long)view.npeers : -1;
}

int
wake_limited(const char *queue)
{
	size_t i;

	if (view.groups || !view.known)
		return 1;
	for (i = 0; i < view.nlimited; i++)
		if (strcmp(view.limited[i], queue) == 0)
			return 1;
	return 0;
}
