/*
 * aborter: a libetl task that calls abort(), for the core dump tests.
 */
#include <stdlib.h>

#include "etl.h"

static cJSON *
aborter(const cJSON *initial)
{
	(void)initial;
	etl_progress(0, 1, "about to abort");
	abort();
}

ETL_TASK_MAIN(aborter)
