#!/usr/bin/env bash
# A CoVE validation app for real (issue 19, seed 002): the shipped OCDS samples validated
# by python3-jsonschema with the expected errors grouped by path, additional fields and
# statistics; sample mode on a file of 100,000 releases; JSON to CSV and back unchanged;
# the step cache keyed on the input (two inputs under one key); a new step version;
# a maintenance job expiring old data; the files served by etl-api (--files), and the
# pages in Chromium: progress, results, error, expired.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller cv KILL; kill $API_PID 2>/dev/null; [ -n "${BR_PID:-}" ] && kill $BR_PID 2>/dev/null; wait 2>/dev/null' EXIT
/usr/bin/python3 -c 'import jsonschema, psycopg2' 2>/dev/null
ok $? "/usr/bin/python3 has jsonschema and psycopg2"
S=$ETL_TOP/tasks/examples/cove/samples
w=$ETL_TMP/cove
rm -rf "$w"; mkdir -p "$w/files"; chmod 0755 "$w" "$w/files"
etl queue add cove_process --task cove_process --retry-limit 0 >/dev/null
etl queue add cove_expire --task cove_expire --retry-limit 0 >/dev/null
tf=$ETL_TMP/cove_tokens
rm -f "$tf"
V=$(etl-api --token-file "$tf" --new-token reader viewer)
start_api cove_api --token-file "$tf" --files "$w/files"
ok $? "etl-api is up, serving the jobs' files ($API_URL)"
start_controller cv --concurrency 4

cove() { etl send cove_process "$1"; }
ended() { wait_until "${2:-60}" qis "SELECT state IN ('completed', 'failed') FROM etl.job WHERE id = '$1'" t; }
out() { q "SELECT output$2 FROM etl.job WHERE id = '$1'"; }
group() {	# group JOB PATH MESSAGE: the count of that error group
	q "SELECT g->>'count' FROM etl.job, jsonb_array_elements(output->'errors') g WHERE id = '$1' AND g->>'path' = '$2' AND g->>'message' = '${3//\'/\'\'}'"
}

# ---- the shipped samples ---------------------------------------------------------------
g=$(cove "{\"file\": \"$S/good.json\", \"dir\": \"$w/files\"}")
ended "$g"
is "$(out "$g" "->>'error_count'")" 0 "good.json: no validation errors"
is "$(out "$g" "->'statistics'->>'releases'") $(out "$g" "->'statistics'->>'award_value_by_currency'")" '3 {"GBP": 57000}' "  statistics: 3 releases, award values by currency"
is "$(out "$g" "->'steps'->'ran'")" '["was_json_uploaded", "get_schema", "convert_json_to_spreadsheets", "additional_fields", "validate", "statistics"]' "  the steps for JSON ran"
is "$(out "$g" "->'additional_fields'")" '{}' "  no additional fields"
b=$(cove "{\"file\": \"$S/bad.json\", \"dir\": \"$w/files\", \"key\": \"bad-sample\"}")
ended "$b"
is "$(out "$b" "->>'error_count'")" 7 "bad.json: its 7 errors found"
is "$(group "$b" releases/awards/value/amount "is not of type number or null")" 2 "  an amount that is text, twice: one group of 2"
is "$(group "$b" releases/ocid "'ocid' is missing but required")" 1 "  a missing ocid"
is "$(group "$b" releases/contracts/awardID "'awardID' is missing but required")" 1 "  a contract without its awardID"
is "$(group "$b" releases/date "is not a valid date-time")" 1 "  a date that is no date-time"
is "$(group "$b" releases/tender/value/currency "is not one of the codes of its codelist")" 1 "  a currency not in the codelist"
is "$(group "$b" releases/contracts/status "is not one of the codes of its codelist")" 1 "  a contract status not in the codelist"
is "$(q "SELECT g->'examples'->1->>'path' || ' = ' || (g->'examples'->1->>'value') FROM etl.job, jsonb_array_elements(output->'errors') g WHERE id = '$b' AND g->>'path' = 'releases/awards/value/amount'")" "releases/1/awards/0/value/amount = 19,000" "  each group with its examples: path and value"
is "$(out "$b" "->'additional_fields'->'releases/tender/contractTerm'->>'count'") $(out "$b" "->'additional_fields'->'releases/buyer/department'->>'count'")" "2 1" "additional fields found, counted"

# fetched from a URL (a local HTTP server)
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$S" >"$ETL_TMP/cove_http.log" 2>&1 &
HTTP_PID=$!
wait_until 10 grep -q "Serving HTTP" "$ETL_TMP/cove_http.log"
port=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$ETL_TMP/cove_http.log" | head -1)
u=$(cove "{\"url\": \"http://127.0.0.1:$port/bad.json\", \"dir\": \"$w/files\"}")
ended "$u"
is "$(out "$u" "->'upload'->>'name'") $(out "$u" "->>'error_count'")" "bad.json 7" "fetched from a URL: the same results"
u404=$(cove "{\"url\": \"http://127.0.0.1:$port/nothing.json\", \"dir\": \"$w/files\"}")
ended "$u404"
like "$(out "$u404" "->>'message'")" "could not fetch the data: HTTP Error 404" "a URL that answers 404: the job failed, saying so"
kill $HTTP_PID 2>/dev/null

# ---- the files, through etl-api ------------------------------------------------------
api GET "/api/v1/jobs/$b/files" "$V"
is "$code $(jq -r 'map(.name) | join(",")' <<<"$body")" "200 original.json,releases.csv" "etl-api lists the job's files"
api GET "/api/v1/jobs/$b/files/releases.csv" "$V"
is "$code $(wc -l <"$ETL_TMP/api_body") $(head -1 "$ETL_TMP/api_body" | tr ',' '\n' | grep -cx 'tender/value/amount\|awards/0/value/amount')" "200 4 2" "  and sends one (releases.csv: a header of flattened paths, 3 releases)"
api GET "/api/v1/jobs/$b/files/..%2Fetc" "$V"
is "$code" 404 "  a name with a path in it: 404"
api GET "/api/v1/jobs/$b/files/.hidden" "$V"
is "$code" 404 "  a dot file: 404"
ln -s /etc/passwd "$w/files/$b/link.csv"
api GET "/api/v1/jobs/$b/files/link.csv" "$V"
is "$code" 404 "  a symbolic link is not followed"
api GET "/api/v1/jobs/$b/files" ""
is "$code" 401 "  no token: 401"

# ---- JSON to CSV and back ------------------------------------------------------------
curl -s -H "Authorization: Bearer $V" -o "$w/rt.csv" "$API_URL/api/v1/jobs/$g/files/releases.csv"
c=$(cove "{\"file\": \"$w/rt.csv\", \"dir\": \"$w/files\"}")
ended "$c"
is "$(out "$c" "->'steps'->'ran'")" '["convert_spreadsheet_to_json", "get_schema", "additional_fields", "validate", "statistics"]' "a CSV upload: converted to JSON first"
is "$(out "$c" "->>'error_count'") $(q "SELECT string_agg(g->>'path', ',' ORDER BY g->>'path') FROM etl.job, jsonb_array_elements(output->'errors') g WHERE id = '$c'")" "3 publishedDate,publisher,uri" "  its releases valid; the package's metadata missing (a CSV carries releases only)"
/usr/bin/python3 -c '
import json, sys
a = json.load(open(sys.argv[1]))["releases"]
b = json.load(open(sys.argv[2]))["releases"]
sys.exit(0 if a == b else 1)' "$S/good.json" "$w/files/$c/unflattened.json"
ok $? "  JSON to CSV and back: the releases unchanged"

# ---- sample mode on 100,000 releases -------------------------------------------------
/usr/bin/python3 - "$w/big.json" <<-'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    f.write('{"uri": "https://example.org/big.json", "version": "1.1", "publishedDate": "2026-01-01T00:00:00Z", "publisher": {"name": "Big"}, "releases": [')
    for i in range(100000):
        r = {"ocid": f"ocds-213czf-{i:06d}", "id": f"r{i}", "date": "2026-01-02T00:00:00Z", "tag": ["tender"],
             "initiationType": "tender", "tender": {"id": f"t{i}", "value": {"amount": i, "currency": "EUR" if i % 3 else "XXX"}}}
        f.write(("," if i else "") + json.dumps(r))
    f.write("]}")
PY
s=$(cove "{\"file\": \"$w/big.json\", \"dir\": \"$w/files\", \"sample\": true, \"sample_size\": 1000}")
ended "$s" 120
is "$(out "$s" "->'sample'->>'kept'") $(out "$s" "->'sample'->>'more'") $(out "$s" "->'statistics'->>'releases'")" "1000 true 1000" "sample mode on 100,000 releases: the first 1,000 checked"
is "$(group "$s" releases/tender/value/currency "is not one of the codes of its codelist")" 334 "  their errors (XXX every third release)"
is "$(out "$s" "->'steps'->'ran'->0")" '"sample"' "  the sample made first, the steps after it read it"
like "$(ls -l "$w/files/$s/sample.json" | awk '{print $5}')" "^[0-9]{6}$" "  a smaller file (under 1 MB)"

# ---- the cache: keyed on the input -----------------------------------------------------
k1=$(cove "{\"file\": \"$S/good.json\", \"dir\": \"$w/files\", \"key\": \"upload-1\"}")
ended "$k1"
k2=$(cove "{\"file\": \"$S/good.json\", \"dir\": \"$w/files\", \"key\": \"upload-1\"}")
ended "$k2"
is "$(out "$k2" "->'steps'->'ran'")/$(out "$k2" "->>'error_count'")" "[]/0" "one key, the same input again: every step cached"
k3=$(cove "{\"file\": \"$S/bad.json\", \"dir\": \"$w/files\", \"key\": \"upload-1\"}")
ended "$k3"
is "$(out "$k3" "->>'error_count'")" 7 "one key, another input: its own results (7 errors, not the cached 0)"
is "$(out "$k3" "->'steps'->'cached'")" '[]' "  nothing from the other input's cache"
k4=$(cove "{\"file\": \"$S/bad.json\", \"dir\": \"$w/files\", \"key\": \"upload-1\", \"versions\": {\"get_schema\": 2}}")
ended "$k4"
is "$(out "$k4" "->'steps'->'ran'")" '["get_schema", "additional_fields", "validate", "statistics"]' "a new version of get_schema: it and the steps that read it run again"
is "$(out "$k4" "->'steps'->'cached'")" '["was_json_uploaded", "convert_json_to_spreadsheets"]' "  the others stay cached"

# ---- errors ----------------------------------------------------------------------------
e=$(cove "{\"content\": \"{\\\"releases\\\": [\", \"name\": \"broken.json\", \"dir\": \"$w/files\"}")
ended "$e"
is "$(q "SELECT state FROM etl.job WHERE id = '$e'")" failed "data that is not JSON: the job failed"
like "$(out "$e" "->>'message'")" "broken.json is not JSON" "  saying so"
n=$(cove "{\"content\": \"{\\\"uri\\\": 1}\", \"name\": \"nopkg.json\", \"dir\": \"$w/files\"}")
ended "$n"
like "$(out "$n" "->>'message'")" "not a release package" "JSON that is no release package: said so"

# ---- the pages in a real browser -------------------------------------------------------
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -n "$CHROMIUM" ]; then
	export CHROMIUM
	coproc BR { python3 "$ETL_TOP/tests/tools/browser.py"; }
	BR_PID=$BR_PID
	br() {
		echo "$*" >&"${BR[1]}"
		if ! IFS= read -r -t 60 reply <&"${BR[0]}"; then
			reply="fail no answer"
			return 1
		fi
		[ "${reply#ok }" != "$reply" ]
	}
	val() { printf '%s' "${reply#ok }"; }
	shots=$ETL_BUILD/screenshots
	mkdir -p "$shots"
	br size 1280 900
	etl queue pause cove_process >/dev/null
	p=$(cove "{\"file\": \"$S/bad.json\", \"dir\": \"$w/files\"}")
	br goto "$API_URL/?token=$V#/cove/$p"
	br wait 10 "document.querySelectorAll('#cove-steps li').length === 9"
	ok $? "progress page: each step with its bar, while the job waits" || diag "$reply"
	etl queue resume cove_process >/dev/null
	br wait 30 "document.getElementById('cove-errors') !== null"
	ok $? "  then the results page, live" || diag "$reply"
	br eval "document.querySelectorAll('#cove-errors tbody tr').length"
	is "$(val)" 6 "results page: the errors grouped (6 groups)"
	br eval "document.getElementById('cove-errors').textContent.includes(\"'ocid' is missing but required\")"
	is "$(val)" true "  with their messages"
	br eval "document.querySelectorAll('#cove-additional tbody tr').length"
	is "$(val)" 2 "  the additional fields"
	br eval "document.getElementById('cove-stats').textContent.includes('releases')"
	is "$(val)" true "  the statistics"
	br eval "[...document.querySelectorAll('#cove-downloads a')].map(a => a.dataset.file).join(',')"
	is "$(val)" '"original.json,releases.csv"' "  download links for the data and its conversion"
	br shot "$shots/cove-results.png"
	br goto "$API_URL/#/cove/$e"
	br wait 10 "document.getElementById('cove-error') !== null"
	ok $? "error page for data that is not JSON" || diag "$reply"
	br eval "document.querySelector('p.error').textContent"
	like "$(val)" "is not JSON" "  saying why"
fi

# ---- expiry: a maintenance job removes old data ---------------------------------------
x=$(etl send cove_expire "{\"dir\": \"$w/files\", \"days\": 0}")
ended "$x"
like "$(out "$x" "->'expired'")" "$b" "the maintenance job expired the finished uploads"
[ ! -e "$w/files/$b" ]
ok $? "  their folders removed"
is "$(q "SELECT count(*) FROM etl.step_cache WHERE key = 'bad-sample'")" 0 "  and their cached results"
api GET "/api/v1/jobs/$b/files" "$V"
is "$code" 410 "etl-api: the files of an expired job are gone (410)"
if [ -n "$CHROMIUM" ]; then
	br goto "$API_URL/#/cove/$b"
	br wait 10 "document.getElementById('cove-expired') !== null"
	ok $? "expired page once its data was removed" || diag "$reply"
	br shot "$shots/cove-expired.png"
fi
etl schedule add cove-expire cove_expire '17 3 * * *' "{\"dir\": \"$w/files\", \"days\": 7}" >/dev/null
like "$(etl schedule ls)" "cove-expire" "the maintenance job scheduled daily"
stop_controller cv TERM
done_testing
