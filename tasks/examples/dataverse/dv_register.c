/*
 * dv_register: seed 003's UpdateDataverseWithMetadataJob.  Payload {"doi", "dataverse"
 * (its URL), "key_file" (a file holding the API key: never in a payload), "files": [what
 * dv_file made]}: POSTs the files' metadata to Dataverse's native API,
 *     POST {dataverse}/api/datasets/:persistentId/addFiles?persistentId={doi}
 *     X-Dataverse-key: KEY;  multipart/form-data, field jsonData = [{storageIdentifier,
 *     fileName, directoryLabel, mimeType, checksum: {"@type": "MD5", "@value"}}, ...]
 * (HTTP by libcurl), and records the file ids Dataverse returns.  A refusal (4xx) fails
 * for good, a server error or no answer is retried (exit 75).
 * FINAL {"registered": N, "files": [{"storageIdentifier", "id"}]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "etl.h"

struct buf {
	char	*p;
	size_t	 n;
};

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *np;

	if (b->n + n > (16u << 20) || (np = realloc(b->p, b->n + n + 1)) == NULL)
		return 0;
	b->p = np;
	memcpy(b->p + b->n, ptr, n);
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

static const char *
str(const cJSON *p, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The API key: the first line of key_file. */
static int
read_key(const char *path, char *key, size_t len)
{
	FILE *f = fopen(path, "re");
	int ok;

	if (f == NULL)
		return -1;
	ok = fgets(key, (int)len, f) != NULL;
	fclose(f);
	key[strcspn(key, "\r\n")] = '\0';
	return ok && key[0] ? 0 : -1;
}

static cJSON *
dv_register(const cJSON *initial)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(initial, "payload");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(p, "files"), *f, *got, *e;
	const char *doi = str(p, "doi"), *url = str(p, "dataverse"), *kf = str(p, "key_file");
	char key[512], hdr[600], *full = NULL, *esc, *json;
	struct curl_slist *h = NULL;
	struct buf body = { NULL, 0 };
	curl_mimepart *part;
	curl_mime *mime;
	cJSON *arr, *o, *ck, *resp, *out, *ids;
	long status = 0;
	CURLcode rc;
	CURL *c;
	int n = 0;

	if (doi == NULL || url == NULL || kf == NULL || !cJSON_IsArray(files))
		return etl_fail_task(65, "dv_register wants {\"doi\", \"dataverse\", \"key_file\", "
		    "\"files\": [...]}");
	if (read_key(kf, key, sizeof(key)) != 0)
		return etl_fail_task(65, "%s: no API key to read", kf);
	/* jsonData: each file as Dataverse's addFiles takes it */
	arr = cJSON_CreateArray();
	cJSON_ArrayForEach(f, files) {
		char sid[128];

		o = cJSON_CreateObject();
		snprintf(sid, sizeof(sid), "file://%s", str(f, "storageIdentifier") ?
		    str(f, "storageIdentifier") : "");
		cJSON_AddStringToObject(o, "storageIdentifier", sid);
		cJSON_AddStringToObject(o, "fileName", str(f, "fileName") ? str(f, "fileName") : "");
		if (str(f, "directoryLabel") && *str(f, "directoryLabel"))
			cJSON_AddStringToObject(o, "directoryLabel", str(f, "directoryLabel"));
		cJSON_AddStringToObject(o, "mimeType", str(f, "mimeType") ? str(f, "mimeType") :
		    "application/octet-stream");
		ck = cJSON_AddObjectToObject(o, "checksum");
		cJSON_AddStringToObject(ck, "@type", "MD5");
		cJSON_AddStringToObject(ck, "@value", str(f, "md5") ? str(f, "md5") : "");
		cJSON_AddItemToArray(arr, o);
	}
	json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	if ((c = curl_easy_init()) == NULL) {
		free(json);
		return etl_fail_task(75, "libcurl could not start");
	}
	esc = curl_easy_escape(c, doi, 0);
	if (asprintf(&full, "%s/api/datasets/:persistentId/addFiles?persistentId=%s", url,
	    esc) < 0)
		full = NULL;
	curl_free(esc);
	snprintf(hdr, sizeof(hdr), "X-Dataverse-key: %s", key);
	h = curl_slist_append(h, hdr);
	mime = curl_mime_init(c);
	part = curl_mime_addpart(mime);
	curl_mime_name(part, "jsonData");
	curl_mime_data(part, json, CURL_ZERO_TERMINATED);
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	etl_progress(0, 1, "posting to Dataverse");
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_mime_free(mime);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(full);
	free(json);
	memset(key, 0, sizeof(key));
	if (rc != CURLE_OK) {
		free(body.p);
		return etl_fail_task(75, "Dataverse did not answer: %s", curl_easy_strerror(rc));
	}
	printf("Dataverse answered %ld: %.300s\n", status, body.p ? body.p : "");
	resp = body.p ? cJSON_Parse(body.p) : NULL;
	free(body.p);
	if (status != 200 || !cJSON_IsString(got = cJSON_GetObjectItemCaseSensitive(resp,
	    "status")) || strcmp(got->valuestring, "OK") != 0) {
		const char *msg = str(resp, "message");

		out = etl_fail_task(status >= 400 && status < 500 ? 65 : 75, "Dataverse refused "
		    "the files (HTTP %ld): %s", status, msg ? msg : "no message");
		cJSON_Delete(resp);
		return out;
	}
	/* the ids Dataverse gave, by storage identifier */
	ids = cJSON_CreateArray();
	got = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "data"),
	    "Files");
	cJSON_ArrayForEach(e, got) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "fileDetails");
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");

		if (!cJSON_IsNumber(id))
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "storageIdentifier", str(e, "storageIdentifier") ?
		    str(e, "storageIdentifier") : "");
		cJSON_AddNumberToObject(o, "id", id->valuedouble);
		cJSON_AddItemToArray(ids, o);
		n++;
	}
	cJSON_Delete(resp);
	if (n != cJSON_GetArraySize(files)) {
		cJSON_Delete(ids);
		return etl_fail_task(65, "Dataverse added %d of %d files", n,
		    cJSON_GetArraySize(files));
	}
	etl_progress(1, 1, "registered");
	out = cJSON_CreateObject();
	cJSON_AddNumberToObject(out, "registered", n);
	cJSON_AddItemToObject(out, "files", ids);
	return out;
}

ETL_TASK_MAIN(dv_register)
