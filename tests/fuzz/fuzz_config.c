/*
 * fuzz_config: libFuzzer target for the controller's etl.conf line parser; an accepted
 * line becomes one --long-option.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why, *what;
	char *line, *opt;
	int r;

	if (size > 4096 || (line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	r = config_line(line, &opt, &why, &what);
	if (r == 1 && (opt == NULL || strncmp(opt, "--", 2) != 0))
		__builtin_trap();
	if (r == -1 && why == NULL)
		__builtin_trap();
	free(opt);
	free(line);
	return 0;
}
