/*
 * steps.c: processing steps (seed 002, libcoveweb2's pipeline): an ordered list of
 * steps, each applicable or not, needed or not, cached per (key, step, version) and
 * the input's checksum in etl.step_cache (through etl.step_get and etl.step_put).  A cached result is fresh while the step's version is unchanged and
 * every step it reads still has the stamp it read, so bumping one step's version runs
 * that step and the steps that read it, nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"

struct etl_steps {
	etl_context	*ctx;
	cJSON		*results;	/* step -> result, for etl_steps_result */
	cJSON		*stamps;	/* step -> stamp of its result in this run */
};

const cJSON *
etl_steps_result(etl_steps *s, const char *step)
{
	return cJSON_GetObjectItemCaseSensitive(s->results, step);
}

/* The stamps of the steps st reads, as they are now ({} when it reads none). */
static cJSON *
reads_now(etl_steps *s, const etl_step *st)
{
	cJSON *r = cJSON_CreateObject();
	size_t i;

	for (i = 0; st->reads != NULL && st->reads[i] != NULL; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->stamps, st->reads[i]);

		cJSON_AddNumberToObject(r, st->reads[i], cJSON_IsNumber(v) ? v->valuedouble : 0);
	}
	return r;
}

cJSON *
etl_steps_run(const etl_step *steps, size_t n, const char *key, const cJSON *versions,
    void *arg)
{
	return etl_steps_run_input(steps, n, key, NULL, versions, arg);
}

cJSON *
etl_steps_run_input(const etl_step *steps, size_t n, const char *key, const char *input_sum,
    const cJSON *versions, void *arg)
{
	etl_context *ctx = etl_context_current();
	etl_steps s;
	char kbuf[32], vbuf[16];
	const char *p[6];
	etl_conn *c;
	etl_error *err;
	cJSON *out, *ran, *cached, *skipped;
	size_t i;

	if (ctx == NULL)
		return NULL;
	err = &ctx->err;
	if ((c = etl_context_conn(ctx, err)) == NULL)
		return NULL;
	if (key == NULL) {
		snprintf(kbuf, sizeof(kbuf), "context:%lld", (long long)ctx->id);
		key = kbuf;
	}
	s.ctx = ctx;
	s.results = cJSON_CreateObject();
	s.stamps = cJSON_CreateObject();
	out = cJSON_CreateObject();
	ran = cJSON_AddArrayToObject(out, "ran");
	cached = cJSON_AddArrayToObject(out, "cached");
	skipped = cJSON_AddArrayToObject(out, "skipped");
	for (i = 0; i < n; i++) {
		const etl_step *st = &steps[i];
		const cJSON *vo = cJSON_GetObjectItemCaseSensitive(versions, st->name);
		int version = cJSON_IsNumber(vo) ? (int)vo->valuedouble : st->version;
		cJSON *reads = reads_now(&s, st), *result = NULL;
		char *rtext, *restext, msg[128];
		PGresult *res;
		int fresh = 0;

		snprintf(msg, sizeof(msg), "step %zu/%zu: %s", i + 1, n, st->name);
		etl_progress_ctx(ctx, 0, 1, msg, err);
		if (st->applicable != NULL && !st->applicable(&s, arg)) {
			cJSON_AddItemToArray(skipped, cJSON_CreateString(st->name));
			cJSON_Delete(reads);
			continue;
		}
		rtext = cJSON_PrintUnformatted(reads);
		snprintf(vbuf, sizeof(vbuf), "%d", version);
		p[0] = key;
		p[1] = st->name;
		p[2] = vbuf;
		p[3] = rtext;
		p[4] = input_sum;
		res = etl__exec(c, "SELECT stamp, result::text FROM etl.step_get($1, $2, $3::int, "
		    "$4::jsonb, $5)", 5, p, err);
		if (res == NULL)
			goto fail;
		if (PQntuples(res) == 1) {
			fresh = 1;
			result = cJSON_Parse(PQgetvalue(res, 0, 1));
			cJSON_AddNumberToObject(s.stamps, st->name, atof(PQgetvalue(res, 0, 0)));
		}
		PQclear(res);
		if (fresh && (st->needed == NULL || !st->needed(&s, arg))) {
			cJSON_AddItemToObject(s.results, st->name, result);
			cJSON_AddItemToArray(cached, cJSON_CreateString(st->name));
		} else {
			cJSON_Delete(result);
			cJSON_DeleteItemFromObject(s.stamps, st->name);
			if ((result = st->process(&s, arg)) == NULL) {
				free(rtext);
				cJSON_Delete(reads);
				goto failed_step;
			}
			restext = cJSON_PrintUnformatted(result);
			p[5] = restext;
			/* a new stamp: steps that read this one are stale now */
			res = etl__exec(c, "SELECT etl.step_put($1, $2, $3::int, $4::jsonb, $5, "
			    "$6::jsonb)", 6, p, err);
			free(restext);
			if (res == NULL) {
				cJSON_Delete(result);
				free(rtext);
				cJSON_Delete(reads);
				goto fail;
			}
			cJSON_AddNumberToObject(s.stamps, st->name, atof(PQgetvalue(res, 0, 0)));
			PQclear(res);
			cJSON_AddItemToObject(s.results, st->name, result);
			cJSON_AddItemToArray(ran, cJSON_CreateString(st->name));
		}
		free(rtext);
		cJSON_Delete(reads);
		etl_progress_ctx(ctx, 1, 1, msg, err);
	}
	cJSON_AddItemToObject(out, "results", s.results);
	cJSON_Delete(s.stamps);
	return out;
failed_step:
	if (!ctx->errored)
		etl__err(err, ETL_EINVAL, "step failed");
fail:
	cJSON_Delete(s.results);
	cJSON_Delete(s.stamps);
	cJSON_Delete(out);
	return NULL;
}
