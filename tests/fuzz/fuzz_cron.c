/*
 * fuzz_cron: libFuzzer target for the cron parser; what it accepts must match only
 * times inside the fields' ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etl_admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	etl_error err;
	etl_cron c;
	int m;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (etl_cron_parse(s, &c, &err) == 0) {
		if ((c.minutes >> 60) != 0 || (c.hours >> 24) != 0 || (c.doms & 1) != 0 ||
		    (c.months & 1) != 0 || (c.months >> 13) != 0 ||
		    (c.dows >> 7) != 0)
			__builtin_trap();
		for (m = 0; m < 60; m += 7)
			(void)etl_cron_match(&c, m, m % 24, 1 + m % 31, 1 + m % 12, m % 7);
	} else if (err.code != ETL_EINVAL) {
		__builtin_trap();
	}
	free(s);
	return 0;
}
