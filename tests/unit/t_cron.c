/*
 * t_cron: unit tests of the cron parser and matcher (libetl/cron.c).
 */
#include <string.h>

#include "etl_admin.h"
#include "tap.h"

static int
parses(const char *e, etl_cron *c)
{
	etl_error err;

	return etl_cron_parse(e, c, &err) == 0;
}

int
main(void)
{
	etl_error err;
	etl_cron c;

	ok(parses("* * * * *", &c), "'* * * * *' parses");
	ok(c.minutes == (1ULL << 60) - 1 && c.hours == (1U << 24) - 1, "every minute, every hour");
	ok(c.dom_any && c.dow_any, "day fields are any");
	ok(etl_cron_match(&c, 17, 3, 9, 4, 2), "matches any time");

	ok(parses("*/15 9-17 * * mon-fri", &c), "steps, ranges and day names parse");
	ok(c.minutes == (1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45), "*/15 is 0,15,30,45");
	ok(c.hours == 0x3fe00, "9-17");
	ok(c.dows == 0x3e, "mon-fri is 1-5");
	ok(etl_cron_match(&c, 30, 9, 1, 1, 1), "Monday 09:30 matches");
	ok(!etl_cron_match(&c, 30, 9, 1, 1, 0), "Sunday 09:30 does not");
	ok(!etl_cron_match(&c, 31, 9, 1, 1, 1), "09:31 does not");

	ok(parses("0,30 0 1,15 jan,jul *", &c), "lists and month names parse");
	ok(c.minutes == (1ULL | 1ULL << 30), "0,30");
	ok(c.doms == (1U << 1 | 1U << 15), "days 1 and 15");
	ok(c.months == (1U << 1 | 1U << 7), "jan and jul are 1 and 7");
	ok(etl_cron_match(&c, 30, 0, 15, 7, 3), "July 15 00:30 matches");
	ok(!etl_cron_match(&c, 30, 0, 15, 8, 3), "August 15 does not");

	ok(parses("10-50/20 * * * *", &c), "a stepped range parses");
	ok(c.minutes == (1ULL << 10 | 1ULL << 30 | 1ULL << 50), "10-50/20 is 10,30,50");
	ok(parses("5/20 * * * *", &c) && c.minutes == (1ULL << 5 | 1ULL << 25 | 1ULL << 45),
	    "5/20 runs from 5 to the end");
	ok(parses("0 0 * * 7", &c) && c.dows == 1, "day 7 is Sunday");
	ok(parses("0 0 * * 5-7", &c) && c.dows == (1 | 1 << 5 | 1 << 6), "5-7 wraps to Sunday");

	ok(parses("0 0 13 * fri", &c), "day of month and day of week both restricted");
	ok(etl_cron_match(&c, 0, 0, 13, 6, 2), "then the 13th matches (a Tuesday)");
	ok(etl_cron_match(&c, 0, 0, 2, 6, 5), "and so does any Friday (vixie cron OR)");
	ok(!etl_cron_match(&c, 0, 0, 2, 6, 4), "but not a Thursday the 2nd");

	ok(parses("@hourly", &c) && c.minutes == 1 && c.hours == (1U << 24) - 1, "@hourly");
	ok(parses("@daily", &c) && c.minutes == 1 && c.hours == 1, "@daily");
	ok(parses("  0   12  *  *  *  ", &c), "extra white space is fine");

	ok(etl_cron_parse("* * * *", &c, &err) != 0, "four fields are refused");
	ok(etl_cron_parse("* * * * * *", &c, &err) != 0, "six fields are refused");
	ok(etl_cron_parse("60 * * * *", &c, &err) != 0, "minute 60 is refused");
	ok(etl_cron_parse("* 24 * * *", &c, &err) != 0, "hour 24 is refused");
	ok(etl_cron_parse("* * 0 * *", &c, &err) != 0, "day 0 is refused");
	ok(etl_cron_parse("* * * 13 *", &c, &err) != 0, "month 13 is refused");
	ok(etl_cron_parse("*/0 * * * *", &c, &err) != 0, "step 0 is refused");
	ok(etl_cron_parse("5-1 * * * *", &c, &err) != 0, "a backwards range is refused");
	ok(etl_cron_parse("1,,2 * * * *", &c, &err) != 0, "an empty list item is refused");
	ok(etl_cron_parse("* * * foo *", &c, &err) != 0, "an unknown month name is refused");
	ok(etl_cron_parse("mon * * * *", &c, &err) != 0, "a day name in the minute is refused");
	ok(etl_cron_parse("* * * * *; DROP", &c, &err) != 0 && err.code == ETL_EINVAL,
	    "trailing junk is refused as bad input");
	ok(etl_cron_parse("0 0 31 2 *", &c, &err) != 0 && strstr(err.message, "never fires"),
	    "February 31 is refused: it never fires");
	ok(etl_cron_parse("0 0 30,31 2,4 *", &c, &err) == 0, "April 30 fires");
	ok(etl_cron_parse("0 0 29 2 *", &c, &err) == 0, "February 29 fires (in leap years)");
	ok(etl_cron_parse("0 0 31 2 mon", &c, &err) == 0,
	    "February 31 or a Monday fires (vixie cron OR)");
	return done_testing();
}
