/*
 * fuzz_ndjson: libFuzzer target for the command line's JSON and NDJSON input: each line
 * goes through etl_json_parse as `etl send --ndjson` does, and the bulk statement's
 * JSON array, built the way etl_send_many builds it, must parse back with every job.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etl_admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	char *arr = malloc(size * 2 + 16);
	size_t at = 0;
	int n = 0;
	etl_error err;
	cJSON *j, *back;

	if (arr == NULL)
		return 0;
	arr[at++] = '[';
	for (; p < end; p = nl + 1) {
		char *text;

		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((j = etl_json_parse(p, (size_t)(nl - p), 4096, &err)) == NULL) {
			if (err.code != ETL_EINVAL)
				__builtin_trap();
			continue;
		}
		text = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		if (text == NULL)
			continue;
		if (at + strlen(text) + 2 > size * 2 + 16) {
			free(text);
			break;
		}
		if (n++ > 0)
			arr[at++] = ',';
		memcpy(arr + at, text, strlen(text));
		at += strlen(text);
		free(text);
	}
	arr[at++] = ']';
	back = cJSON_ParseWithLength(arr, at);
	if (back == NULL || cJSON_GetArraySize(back) != n)
		__builtin_trap();
	cJSON_Delete(back);
	free(arr);
	return 0;
}
