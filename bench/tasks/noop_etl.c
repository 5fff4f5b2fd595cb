/*
 * noop_etl: the benchmark's no-op libetl task, for the in-process mode (noop_etl.so):
 * returns {} at once, so libetl records its FINAL.
 */
#include "etl.h"

static cJSON *
noop(const cJSON *initial)
{
	(void)initial;
	return cJSON_CreateObject();
}

ETL_TASK_MAIN(noop)
