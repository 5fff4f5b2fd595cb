/*
 * fuzz_initial: libFuzzer target for the task glue's reading of the INITIAL event
 * (etl__initial_parse: the JSON parser with its size limit and the type check).
 */
#include <stdint.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char task[200];
	etl_error err;
	cJSON *ev;

	ev = etl__initial_parse((const char *)data, size, 1 << 20, task, sizeof(task), &err);
	if (ev != NULL) {
		/* what was accepted has a task prefix and an INITIAL type */
		if (strlen(task) >= sizeof(task))
			__builtin_trap();
		cJSON_Delete(ev);
	} else if (err.code != ETL_EINVAL) {
		__builtin_trap();	/* bad input is always EINVAL */
	}
	return 0;
}
