/*
 * process_data: seed 002's processing pipeline on the libetl steps API.  Payload
 * {"key": ID, "input": [numbers], "sample": false, "versions": {"stats": 2}}.  Steps, in
 * order: sample (only when "sample": cuts the input to its first 10 values), count and
 * stats (read sample when it applies), validate (reads stats).  Each result is cached
 * per key, version and input (its SHA-256); a second run with the same key and input
 * runs nothing, other input under the same key runs again; a new version of a
 * step runs it and the steps that read it.  ("versions" stands in for a code change.)
 */
#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etl.h"

struct run {
	const cJSON	*input;
	int		 sample;
};

/* The values the steps work on: the sample's when there is one, else the input. */
static const cJSON *
values(etl_steps *s, struct run *r)
{
	const cJSON *smp = etl_steps_result(s, "sample");

	return smp != NULL ? cJSON_GetObjectItemCaseSensitive(smp, "values") : r->input;
}

static int
sample_applicable(etl_steps *s, void *arg)
{
	(void)s;
	return ((struct run *)arg)->sample;
}

static cJSON *
sample_process(etl_steps *s, void *arg)
{
	struct run *r = arg;
	cJSON *out = cJSON_CreateObject(), *v = cJSON_AddArrayToObject(out, "values");
	const cJSON *x;
	int i = 0;

	(void)s;
	cJSON_ArrayForEach(x, r->input) {
		if (i++ == 10)
			break;
		cJSON_AddItemToArray(v, cJSON_Duplicate(x, 1));
	}
	return out;
}

static cJSON *
count_process(etl_steps *s, void *arg)
{
	cJSON *out = cJSON_CreateObject();

	cJSON_AddNumberToObject(out, "count", cJSON_GetArraySize(values(s, arg)));
	return out;
}

static cJSON *
stats_process(etl_steps *s, void *arg)
{
	const cJSON *x;
	double sum = 0;
	cJSON *out;

	cJSON_ArrayForEach(x, values(s, arg)) {
		if (!cJSON_IsNumber(x))
			return etl_fail_task(65, "input holds a value that is not a number");
		sum += x->valuedouble;
	}
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "sum", sum);
	return out;
}

static cJSON *
validate_process(etl_steps *s, void *arg)
{
	const cJSON *st = etl_steps_result(s, "stats");
	cJSON *out = cJSON_CreateObject();

	(void)arg;
	cJSON_AddBoolToObject(out, "valid", st != NULL &&
	    cJSON_GetObjectItemCaseSensitive(st, "sum")->valuedouble >= 0);
	return out;
}

static const char *const reads_sample[] = { "sample", NULL };
static const char *const reads_stats[] = { "stats", NULL };

static const etl_step steps[] = {
	{ "sample", 1, NULL, sample_applicable, NULL, sample_process },
	{ "count", 1, reads_sample, NULL, NULL, count_process },
	{ "stats", 1, reads_sample, NULL, NULL, stats_process },
	{ "validate", 1, reads_stats, NULL, NULL, validate_process },
};

static cJSON *
process_data(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(p, "key");
	char sum[SHA256_DIGEST_STRING_LENGTH], *text;
	struct run r;
	cJSON *out;

	r.input = cJSON_GetObjectItemCaseSensitive(p, "input");
	r.sample = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "sample"));
	if (!cJSON_IsString(key) || !cJSON_IsArray(r.input))
		return etl_fail_task(65, "process_data wants {\"key\": ID, \"input\": [numbers]}");
	/* the cache is for this input: the same key with other input runs again */
	if ((text = cJSON_PrintUnformatted(r.input)) == NULL)
		return etl_fail_task(75, "out of memory");
	SHA256Data((const uint8_t *)text, strlen(text), sum);
	free(text);
	out = etl_steps_run_input(steps, sizeof(steps) / sizeof(steps[0]), key->valuestring, sum,
	    cJSON_GetObjectItemCaseSensitive(p, "versions"), &r);
	if (out == NULL && etl_context_error(etl_context_current())->code != ETL_EOK &&
	    etl_context_error(etl_context_current())->code != ETL_EINVAL)
		return etl_fail_task(75, "%s", etl_context_error(etl_context_current())->message);
	return out;	/* NULL after a step's own etl_fail_task */
}

ETL_TASK_MAIN(process_data)
