/*
 * fuzz_initial: libFuzzer target for the task glue's reading of the INITIAL event
 * (etl__initial_parse: the JSON parser with its size limit and the type check).  An
 * accepted INITIAL cut short by its last byte (a writer that died) must be called cut.
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
	int cut;

	ev = etl__initial_parse((const char *)data, size, 1 << 20, task, sizeof(task), &cut, &err);
	if (ev != NULL) {
		/* what was accepted has a task prefix and an INITIAL type */
		if (strlen(task) >= sizeof(task))
			__builtin_trap();
		cJSON_Delete(ev);
		/* (a NUL ends the text for the parser: what follows one is not cut) */
		if (size > 1 && data[size - 1] == '}' && memchr(data, 0, size) == NULL) {
			ev = etl__initial_parse((const char *)data, size - 1, 1 << 20, task,
			    sizeof(task), &cut, &err);
			if (ev != NULL || !cut)
				__builtin_trap();
		}
	} else if (err.code != ETL_EINVAL) {
		__builtin_trap();	/* bad input is always EINVAL */
	}
	return 0;
}
