/*
 * cron.c: parsing 5-field cron expressions into bit sets, and matching a local time.
 * Pure: no database, no clock.  The database matches ticks with the same sets
 * (etl.cron_match), in the schedule's time zone.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec" };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* A number or (for months and days) a name at *p; advances p.  -1 if none. */
static int
value(const char **p, int field)
{
	const char *s = *p;
	int i, v = 0, n = 0;

	if (isalpha((unsigned char)*s)) {
		const char *const *names = field == 3 ? month_names : field == 4 ? day_names : NULL;
		int count = field == 3 ? 12 : 7;

		if (names == NULL)
			return -1;
		for (i = 0; i < count; i++)
			if (strncasecmp(s, names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
				*p = s + 3;
				return field == 3 ? i + 1 : i;
			}
		return -1;
	}
	while (isdigit((unsigned char)*s) && n < 3) {
		v = v * 10 + (*s++ - '0');
		n++;
	}
	if (n == 0 || isdigit((unsigned char)*s))
		return -1;
	*p = s;
	return v;
}

/* One field (a comma list of *, N, N-M, each with an optional /STEP) into bits. */
static int
field_parse(const char *s, const char *end, int field, int lo, int hi, uint64_t *bits,
    int *any)
{
	const char *p = s;

	*bits = 0;
	*any = (end - s == 1 && *s == '*');
	while (p < end) {
		int a, b, step = 1, v;

		if (*p == '*') {
			a = lo;
			b = hi;
			p++;
		} else {
			if ((a = value(&p, field)) < 0)
				return -1;
			b = a;
			if (*p == '-') {
				p++;
				if ((b = value(&p, field)) < 0)
					return -1;
			}
		}
		if (*p == '/') {
			p++;
			if ((step = value(&p, 0)) <= 0)
				return -1;
			if (a == b && s[0] != '*')
				b = hi;	/* "5/15": from 5 to the end */
		}
		/* the bounds of the bit set too, whatever the caller's lo and hi */
		if (a < lo || a < 0 || b > hi || b > 63 || a > b)
			return -1;
		for (v = a; v >= 0 && v <= b; v += step)
			*bits |= (uint64_t)1 << (field == 4 && v == 7 ? 0 : v);	/* 7 is Sunday */
		if (p < end) {
			if (*p != ',')
				return -1;
			p++;
			if (p == end)
				return -1;
		}
	}
	return *bits ? 0 : -1;
}

/* With days of month restricted alone: does some month allowed have one of them? */
static int
cron_can_fire(const etl_cron *c)
{
	/* February counts 29 days: a leap year comes */
	static const int mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int m, d;

	for (m = 1; m <= 12; m++)
		for (d = 1; d <= mdays[m]; d++)
			if ((c->months >> m & 1) && (c->doms >> d & 1))
				return 1;
	return 0;
}

int
etl_cron_parse(const char *expr, etl_cron *c, etl_error *err)
{
	static const struct { const char *name, *expr; } macros[] = {
		{ "@hourly", "0 * * * *" }, { "@daily", "0 0 * * *" },
		{ "@midnight", "0 0 * * *" }, { "@weekly", "0 0 * * 0" },
		{ "@monthly", "0 0 1 * *" }, { "@yearly", "0 0 1 1 *" },
		{ "@annually", "0 0 1 1 *" },
	};
	static const int lo[5] = { 0, 0, 1, 1, 0 }, hi[5] = { 59, 23, 31, 12, 7 };
	static const char *const what[5] = { "minute", "hour", "day of month", "month",
		"day of week" };
	const char *p = expr ? expr : "", *start;
	uint64_t bits[5];
	int any[5], f;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
		if (strcasecmp(p, macros[i].name) == 0)
			p = macros[i].expr;
	for (f = 0; f < 5; f++) {
		while (*p == ' ' || *p == '\t')
			p++;
		start = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		if (p == start) {
			etl__err(err, ETL_EINVAL, "bad cron '%.80s': want 5 fields (minute hour "
			    "day-of-month month day-of-week)", expr ? expr : "");
			return -1;
		}
		if (field_parse(start, p, f, lo[f], hi[f], &bits[f], &any[f]) != 0) {
			etl__err(err, ETL_EINVAL, "bad cron '%.80s': bad %s field '%.*s'",
			    expr, what[f], (int)(p - start), start);
			return -1;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '\0') {
		etl__err(err, ETL_EINVAL, "bad cron '%.80s': more than 5 fields", expr);
		return -1;
	}
	c->minutes = bits[0];
	c->hours = (uint32_t)bits[1];
	c->doms = (uint32_t)bits[2];
	c->months = (uint16_t)bits[3];
	c->dows = (uint8_t)(bits[4] & 0x7f);
	c->dom_any = any[2];
	c->dow_any = any[4];
	if (!c->dom_any && c->dow_any && !cron_can_fire(c)) {
		etl__err(err, ETL_EINVAL, "bad cron '%.80s': it never fires (no month it allows "
		    "has any of its days of month)", expr);
		return -1;
	}
	return 0;
}

int
etl_cron_match(const etl_cron *c, int min, int hour, int mday, int mon, int wday)
{
	int dom_ok, dow_ok;

	if (!(c->minutes >> min & 1) || !(c->hours >> hour & 1) || !(c->months >> mon & 1))
		return 0;
	dom_ok = (int)(c->doms >> mday & 1);
	dow_ok = (int)(c->dows >> wday & 1);
	if (c->dom_any && c->dow_any)
		return 1;
	if (c->dom_any)
		return dow_ok;
	if (c->dow_any)
		return dom_ok;
	return dom_ok || dow_ok;
}
