#!/usr/bin/env bash
# etl-api (issue 18): every resource against the real daemon and database, each call's
# permission per role (the database's grants behind them), live events by Server-Sent
# Events within a second and resumed from Last-Event-ID, and bad input (malformed JSON,
# unknown ids, huge bodies, slow clients) answered with a clear 4xx while the daemon
# serves on.  Every JSON answer is checked against the OpenAPI document.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller ap KILL; kill $API_PID 2>/dev/null; wait 2>/dev/null' EXIT

# the API's login: NOINHERIT, it acts only through SET ROLE to the caller's role
q "DROP ROLE IF EXISTS t_api; CREATE ROLE t_api LOGIN NOINHERIT IN ROLE etl_viewer, etl_sender, etl_admin" >/dev/null
sed "s/^user=postgres/user=t_api/" "$PGSERVICEFILE" >"$ETL_TMP/svc_api.conf"
chmod 0644 "$ETL_TMP/svc_api.conf"

tf=$ETL_TMP/tokens
rm -f "$tf"
V=$(etl-api --token-file "$tf" --new-token alice viewer)
S=$(etl-api --token-file "$tf" --new-token bob sender)
A=$(etl-api --token-file "$tf" --new-token carol admin)
is "$(stat -c %a "$tf")" 600 "the token file is made 0600"
ok $(! grep -q "$V" "$tf"; echo $?) "it keeps hashes, not tokens"
run etl-api --token-file "$tf" --new-token dave root
is "$rc" 2 "--new-token refuses an unknown role"

PGSERVICEFILE=$ETL_TMP/svc_api.conf start_api api --token-file "$tf" --timeout 3 \
	--max-body 65536 --keepalive 2 --log-dir "$ETL_TMP/logs" --pool 4
ok $? "etl-api starts and listens ($API_URL)"
OA=$ETL_BUILD/share/etl/web/openapi.json
# conforms METHOD PATH-TEMPLATE: the last answer is what the OpenAPI document says
conforms() {
	python3 "$ETL_TOP/tests/tools/openapi_check.py" "$OA" "$1" "$2" "$code" "$ETL_TMP/api_body"
}
jqb() { jq -r "$1" <<<"$body"; }

api GET /healthz
is "$code" 200 "GET /healthz needs no credentials"
api GET /api/v1/jobs
is "$code" 401 "no token: 401"
api GET /api/v1/jobs "nope"
is "$code" 401 "a wrong token: 401"
ok $(conforms GET /api/v1/jobs; echo $?) "  the 401 conforms"
api GET /api/v1/me "$V"
is "$(jqb .role)" viewer "a viewer's token is a viewer"
api GET /api/v1/openapi.json "$V"
is "$(jqb .openapi)" 3.1.0 "the OpenAPI document is served"

# ---- queues
api POST /api/v1/queues "$S" '{"name": "aq", "task": "hello"}'
is "$code" 403 "sender: may not add a queue (403)"
api POST /api/v1/queues "$A" '{"name": "aq", "task": "hello", "retry_limit": 0}'
is "$code" 201 "admin: adds a queue (201)"
ok $(conforms POST /api/v1/queues; echo $?) "  conforms"
api POST /api/v1/queues "$A" '{"name": "bq", "task": "stdin_copy"}'
api POST /api/v1/queues "$A" '{"name": "aq", "task": "hello", "colour": "red"}'
is "$code" 400 "an unknown queue option: 400"
api PATCH /api/v1/queues/aq "$A" '{"concurrency": 3}'
is "$code:$(q "SELECT concurrency FROM etl.queue WHERE name = 'aq'")" 200:3 "admin: alters a queue"
api PATCH /api/v1/queues/nosuch "$A" '{"concurrency": 3}'
is "$code:$(q "SELECT count(*) FROM etl.queue WHERE name = 'nosuch'")" 404:0 "PATCH of an unknown queue: 404, and nothing made"
api POST /api/v1/queues/aq/pause "$S"
is "$code" 403 "sender: may not pause"
api POST /api/v1/queues/aq/pause "$A"
is "$code:$(q "SELECT paused FROM etl.queue WHERE name = 'aq'")" 200:t "admin: pauses"
api POST /api/v1/queues/aq/resume "$A"
is "$code:$(q "SELECT paused FROM etl.queue WHERE name = 'aq'")" 200:f "admin: resumes"

# ---- send
n0=$(q "SELECT count(*) FROM etl.job")
api POST /api/v1/queues/aq/jobs "$V" '{"name": "x"}'
is "$code:$(q "SELECT count(*) FROM etl.job")" "403:$n0" "viewer: may not send (403), nothing sent"
big='{"name": "big", "n": 8999999999999999, "x": 123456789012345678901234567890.000000000000000001}'
api POST /api/v1/queues/bq/jobs "$S" "$big"
is "$code" 201 "sender: sends (201)"
ok $(conforms POST /api/v1/queues/{queue}/jobs; echo $?) "  conforms"
jb=$(jqb .id)
is "$(q "SELECT data->>'x' FROM etl.job WHERE id = '$jb'")" 123456789012345678901234567890.000000000000000001 "the data is stored exactly as sent"
api GET "/api/v1/jobs/$jb" "$V"
like "$body" '"x": ?123456789012345678901234567890.000000000000000001' "and read back exactly"
ok $(conforms GET /api/v1/jobs/{id}; echo $?) "  conforms"
api POST /api/v1/queues/aq/jobs "$S" '{"name": '
is "$code" 400 "malformed JSON: 400"
like "$(jqb .error)" "JSON|json" "  saying so"
api POST /api/v1/queues/nosuch/jobs "$S" '{}'
is "$code" 404 "an unknown queue: 404"
api POST /api/v1/queues/aq/jobs "$S" "" -H 'Content-Type: application/x-ndjson' \
	--data-binary $'{"name": "n1"}\n{"name": "n2"}\n\n{"name": "n3"}\n'
is "$code:$(jqb .sent)" 201:3 "NDJSON: one job a line"
api POST /api/v1/queues/aq/jobs "$S" "" -H 'Content-Type: application/x-ndjson' \
	--data-binary $'{"name": "n4"}\n{"name": \n'
is "$code:$(q "SELECT count(*) FROM etl.job WHERE data->>'name' = 'n4'")" 400:0 "NDJSON with a bad line: 400, nothing sent"
like "$(jqb .error)" "line 2" "  naming the line"
api POST "/api/v1/queues/aq/jobs?singleton_key=k1&priority=5" "$S" '{"name": "keyed", "tag": {"colour": "blue"}}'
jk=$(jqb .id)
is "$(q "SELECT singleton_key || ' ' || priority FROM etl.job WHERE id = '$jk'")" "k1 5" "options as query arguments"
api POST "/api/v1/queues/aq/jobs?priority=high" "$S" '{}'
is "$code" 400 "a bad option: 400"

# ---- the job list and its filters
api GET "/api/v1/jobs?queue=aq" "$V"
is "$(jqb '.jobs | length')" 4 "list by queue"
ok $(conforms GET /api/v1/jobs; echo $?) "  conforms"
api GET "/api/v1/jobs?key=k1" "$V"
is "$(jqb '.jobs[0].id')" "$jk" "by singleton key"
api GET "/api/v1/jobs?q=BLUE" "$V"
is "$(jqb '[.jobs[].id] | join(",")')" "$jk" "by text in the data, any case"
api GET "/api/v1/jobs" "$V" "" -G --data-urlencode 'data={"tag": {"colour": "blue"}}'
is "$(jqb '[.jobs[].id] | join(",")')" "$jk" "by JSON the data contains"
api GET "/api/v1/jobs?state=created&queue=bq" "$V"
is "$(jqb '.jobs | length')" 1 "by state"
api GET "/api/v1/jobs?state=bogus" "$V"
is "$code" 400 "an unknown state: 400"
api GET "/api/v1/jobs?since=2000-01-01&until=2001-01-01" "$V"
is "$(jqb '.jobs | length')" 0 "by time range"
api GET "/api/v1/jobs?since=yesterday-ish" "$V"
is "$code" 400 "a bad time: 400"
api GET "/api/v1/jobs?limit=2" "$V"
p1=$(jqb '[.jobs[].id] | join(",")'); nx=$(jqb .next)
api GET "/api/v1/jobs?limit=2&before=$nx" "$V"
p2=$(jqb '[.jobs[].id] | join(",")')
api GET "/api/v1/jobs?limit=4" "$V"
is "$p1,$p2" "$(jqb '[.jobs[].id] | join(",")')" "paging: two pages of 2 are the first 4"
api GET /api/v1/jobs/00000000-0000-0000-0000-000000000000 "$V"
is "$code" 404 "an unknown job: 404"
api GET /api/v1/jobs/not-a-uuid "$V"
is "$code" 404 "a malformed job id: 404"

# ---- cancel, retry, delete by role
api POST "/api/v1/jobs/$jk/cancel" "$V"
is "$code:$(q "SELECT state FROM etl.job WHERE id = '$jk'")" 403:created "viewer: refused a cancel (403), the job untouched"
api POST "/api/v1/jobs/$jk/cancel" "$S"
is "$code:$(q "SELECT state FROM etl.job WHERE id = '$jk'")" 200:cancelled "sender: cancels"
api POST "/api/v1/jobs/$jk/cancel" "$S"
is "$code" 409 "cancelling a cancelled job: 409"
api DELETE "/api/v1/jobs/$jk" "$S"
is "$code" 403 "sender: may not delete"
api POST "/api/v1/jobs/$jk/retry" "$S"
is "$code:$(q "SELECT state FROM etl.job WHERE id = '$jk'")" 200:retry "sender: retries"
api DELETE "/api/v1/jobs/$jk" "$A"
is "$code" 409 "admin: a job not finished is not deleted (409)"
api POST /api/v1/jobs/cancel "$S" "{\"ids\": [\"$jk\"]}"
is "$code:$(jqb .cancelled)" 200:1 "bulk cancel by ids"
api DELETE "/api/v1/jobs/$jk" "$A"
is "$code:$(q "SELECT count(*) FROM etl.job WHERE id = '$jk'")" 200:0 "admin: deletes a finished job"

# ---- a running pipeline: events, runs, log, tree, live
start_controller ap
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE state IN ('created', 'retry', 'active')" 0
ok $? "the controller ran the jobs"
api GET "/api/v1/jobs/$jb" "$V"
is "$(jqb '.runs | length'):$(jqb '.runs[0].type')" "1:stdin_copy:FINAL" "a job's runs, each with its end"
api GET "/api/v1/jobs/$jb/events" "$V"
is "$(jqb '.[0].type')" "stdin_copy:INITIAL" "its events, oldest first"
ok $(conforms GET /api/v1/jobs/{id}/events; echo $?) "  conforms"
first=$(jqb '.[0].event_id')
api GET "/api/v1/jobs/$jb/events?after=$first" "$V"
is "$(jqb '.[0].type')" "stdin_copy:FINAL" "  after an event id"
api GET "/api/v1/jobs/$jb/log" "$V"
like "$body" '8999999999999999' "its log (the task's output)"
api GET "/api/v1/jobs/$jb/log?tail=5" "$V"
is "$(wc -c <"$ETL_TMP/api_body")" 5 "  its tail"
api GET "/api/v1/jobs/$jb/tree" "$V"
is "$(jqb '.contexts[0].job.id')" "$jb" "its context tree"
ok $(conforms GET /api/v1/jobs/{id}/tree; echo $?) "  conforms"
ctxid=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$jb'")
api GET "/api/v1/contexts/$ctxid/events" "$V"
is "$(jqb 'length'):$(jqb '.[0].etl_context_id')" "2:$ctxid" "a context's events, by its id"
ok $(conforms GET /api/v1/contexts/{ctx}/events; echo $?) "  conforms"
api GET "/api/v1/contexts/$ctxid/tree" "$V"
is "$(jqb '.contexts[0].etl_context_id')" "$ctxid" "a context's tree, by its id"
api GET /api/v1/contexts/abc/events "$V"
is "$code" 404 "a malformed context id: 404"
api GET /api/v1/running "$V"
is "$code:$(jqb 'type')" "200:array" "the running jobs"
ok $(conforms GET /api/v1/running; echo $?) "  conforms"
api GET /api/v1/controllers "$V"
is "$(jqb '.[0].id') $(jqb '.[0].capacity')" "ap 8" "the controllers, with their capacity"
ok $(conforms GET /api/v1/controllers; echo $?) "  conforms"
api GET /api/v1/queues "$V"
is "$(jqb '[.[] | select(.name == "aq")][0].completed')" 3 "queues with their counts"
ok $(conforms GET /api/v1/queues; echo $?) "  conforms"
is "$(jqb '[.[] | select(.name == "aq")][0].per_minute | length')" 60 "  and an hour per minute"
api GET /api/v1/overview "$V"
ok $(conforms GET /api/v1/overview; echo $?) "the overview conforms"

# failures, grouped; bulk retry of a queue's failed jobs
etl queue add fq --task exit_with --retry-limit 0 >/dev/null
for i in 1 2 3; do etl send fq "{\"status\": 3, \"i\": $i}" >/dev/null; done
wait_until 20 all_in 3 failed fq
api GET /api/v1/failures "$V"
is "$(jqb '[.[] | select(.queue == "fq")][0].count')" 3 "failures grouped by queue and error" || diag "$body"
ok $(conforms GET /api/v1/failures; echo $?) "  conforms"
api POST "/api/v1/queues/fq/retry?state=failed" "$V"
is "$code" 403 "viewer: may not retry"
api POST "/api/v1/queues/fq/retry?state=failed" "$S"
is "$code:$(jqb .retried)" 200:3 "sender: retries a queue's failed jobs"
wait_until 20 all_in 3 failed fq

# batches and schedules
bid=$(etl batch new --on-success aq 2>/dev/null || q "INSERT INTO etl.batch DEFAULT VALUES RETURNING id")
api GET /api/v1/batches "$V"
is "$(jqb '.[0].id')" "$bid" "batches"
ok $(conforms GET /api/v1/batches; echo $?) "  conforms"
api GET "/api/v1/batches/$bid" "$V"
is "$(jqb .id)" "$bid" "a batch"
api GET /api/v1/batches/00000000-0000-0000-0000-000000000000 "$V"
is "$code" 404 "an unknown batch: 404"
etl schedule add every5 aq '*/5 * * * *' >/dev/null
api GET /api/v1/schedules "$V"
is "$(jqb '.[0].next | length')" 3 "schedules with their next fire times"
ok $(conforms GET /api/v1/schedules; echo $?) "  conforms"
is "$(jqb '.[0].next[0]' | cut -c15-16 | sed 's/^0//' | awk '{ print $1 % 5 }')" 0 "  on the minutes the cron says"

api POST /api/v1/queues "$A" '{"name": "scratch", "task": "hello"}'
api DELETE /api/v1/queues/scratch "$S"
is "$code" 403 "sender: may not remove a queue"
api DELETE /api/v1/queues/scratch "$A"
is "$code:$(q "SELECT count(*) FROM etl.queue WHERE name = 'scratch'")" 200:0 "admin: removes a queue"
ok $(conforms DELETE /api/v1/queues/{queue}; echo $?) "  conforms"
api GET /api/v1/queues/aq "$V"
is "$(jqb .name)" aq "one queue"
api GET /api/v1/queues/nosuch "$V"
is "$code" 404 "an unknown queue: 404"

# ---- live: a job's events by SSE, within a second; resumed from Last-Event-ID
etl queue add slow --task ticker >/dev/null
js=$(etl send slow '{"steps": 2, "gap": 1}')
stamp() { while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done; }
( curl -s -N --max-time 15 -H "Authorization: Bearer $V" "$API_URL/api/v1/jobs/$js/events?follow=1" | stamp >"$ETL_TMP/sse1" ) &
sse=$!
wait_until 15 grep -q ':FINAL' "$ETL_TMP/sse1"
ok $? "the event stream delivers the job's events through to its FINAL"
row_at=$(q "SELECT extract(epoch FROM created_on) FROM etl.event WHERE etl_context_id = (SELECT etl_context_id FROM etl.job WHERE id = '$js') AND type LIKE '%:ROW' ORDER BY event_id LIMIT 1")
got_at=$(grep -m1 ':ROW' "$ETL_TMP/sse1" | cut -d' ' -f1)
lag=$(awk -v a="$got_at" -v b="$row_at" 'BEGIN { printf "%.3f", a - b }')
diag "ROW event written at $row_at, received at $got_at: $lag s"
ok $(awk -v l="$lag" 'BEGIN { exit !(l < 1.0 && l > -0.5) }'; echo $?) "an event reaches its stream within a second ($lag s)"
kill $sse 2>/dev/null; wait $sse 2>/dev/null
last=$(grep '^[0-9.]* id: ' "$ETL_TMP/sse1" | head -1 | sed 's/.*id: //')
curl -s -N --max-time 5 -H "Authorization: Bearer $V" -H "Last-Event-ID: $last" \
	"$API_URL/api/v1/jobs/$js/events" -H 'Accept: text/event-stream' >"$ETL_TMP/sse2"
# the first message's data lines, joined
first_resumed=$(awk '/^data: / { sub(/^data: /, ""); print; f = 1; next } f { exit }' "$ETL_TMP/sse2" | jq '.[0].event_id')
ok $(awk -v a="$first_resumed" -v b="$last" 'BEGIN { exit !(a > b) }'; echo $?) "Last-Event-ID resumes after that event ($first_resumed > $last)"
grep -q '^:$' "$ETL_TMP/sse2"
ok $? "an idle stream sends keep-alive comments"
curl -s -N --max-time 3 -H "Authorization: Bearer $V" "$API_URL/api/v1/overview?follow=1" >"$ETL_TMP/sse3"
grep -q '^event: overview' "$ETL_TMP/sse3"
ok $? "the overview streams"
curl -s -N --max-time 3 -H "Authorization: Bearer $V" "$API_URL/api/v1/jobs/$js/tree?follow=1" >"$ETL_TMP/sse4"
grep -q '^event: tree' "$ETL_TMP/sse4"
ok $? "a context tree streams"

# ---- bad input: the daemon answers 4xx and serves on
head -c 2000000 /dev/zero | tr '\0' 'a' >"$ETL_TMP/huge"
api POST /api/v1/queues/aq/jobs "$S" "" -H 'Content-Type: application/json' --data-binary "@$ETL_TMP/huge"
is "$code" 413 "a body over --max-body: 413"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $S" \
	-H 'Transfer-Encoding: chunked' --data-binary "@$ETL_TMP/huge" "$API_URL/api/v1/queues/aq/jobs")
is "$code" 413 "  and chunked, with no length announced: 413"
api GET /api/v1/nothing "$V"
is "$code" 404 "an unknown resource: 404"
api PUT /api/v1/jobs "$V"
is "$code" 405 "a method a resource lacks: 405"
api GET "/api/v1/jobs?limit=999999" "$V"
is "$code" 400 "a limit out of range: 400"
api GET "/api/v1/jobs/$jb/events" "$V" "" -H 'Last-Event-ID: x'
is "$code" 400 "a bad Last-Event-ID: 400"
# a slow client: half a request line, then nothing; closed after --timeout (3 s)
exec 7<>/dev/tcp/127.0.0.1/"${API_URL##*:}"
printf 'GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n' >&7
t0=$SECONDS
timeout 10 cat <&7 >/dev/null
t1=$SECONDS
exec 7>&-
ok $(( t1 - t0 <= 6 ? 0 : 1 )) "a slow client is closed after the idle timeout ($((t1 - t0)) s)"
# many connections at once, each half a request: the daemon answers the others
for i in $(seq 1 20); do exec {fd}<>/dev/tcp/127.0.0.1/"${API_URL##*:}"; printf 'GET / HTTP/1.1\r\n' >&$fd; done
api GET /api/v1/me "$V"
is "$code" 200 "with 20 stalled connections open, requests are answered"
ok $(alive "$API_PID"; echo $?) "the daemon is alive after all of it"

# the database's grants are the final word: a role stripped of a grant is refused
q "REVOKE etl_sender FROM t_api" >/dev/null
api POST /api/v1/queues/aq/jobs "$S" '{"name": "nogrant"}'
is "$code" 403 "the API's login without etl_sender: a sender is refused by the database"
q "GRANT etl_sender TO t_api" >/dev/null

# SIGHUP reloads the token file: a token removed is refused
sed -i '/^bob /d' "$tf"
kill -HUP "$API_PID"
wait_until 5 grep -q "SIGHUP" "$ETL_TMP/api.log"
wait_until 5 bash -c "[ \$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $S' $API_URL/api/v1/me) = 401 ]"
ok $? "SIGHUP reloads the tokens: a removed one is refused"

# anonymous: read only, when configured
kill "$API_PID"; wait "$API_PID" 2>/dev/null
is "$?" 0 "etl-api stops on SIGTERM, exit 0"
PGSERVICEFILE=$ETL_TMP/svc_api.conf start_api api2 --anonymous
api GET /api/v1/jobs
is "$code" 200 "--anonymous: reads without a token"
api POST /api/v1/queues/aq/jobs "" '{}'
is "$code" 403 "  but may not send"
api GET /
like "$body" "<title>etl</title>" "GET / serves the web view"
kill "$API_PID"; wait "$API_PID" 2>/dev/null

# listen address forms
for l in '[::1]:0' 'localhost:0' ':0'; do
	etl-api --anonymous --listen "$l" >"$ETL_TMP/l.log" 2>&1 &
	p=$!
	wait_until 5 grep -q "listening on" "$ETL_TMP/l.log"
	ok $? "--listen $l"
	kill $p; wait $p 2>/dev/null
done

# TLS: the same API over HTTPS with a certificate and key
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$ETL_TMP/k.pem" -out "$ETL_TMP/c.pem" \
		-days 1 -subj /CN=localhost >/dev/null 2>&1
	etl-api --anonymous --listen 127.0.0.1:0 --tls-cert "$ETL_TMP/c.pem" --tls-key "$ETL_TMP/k.pem" >"$ETL_TMP/tls.log" 2>&1 &
	p=$!
	wait_until 10 grep -q "listening on https" "$ETL_TMP/tls.log"
	u=$(sed -n 's|.*listening on \(https://[^ ]*\)/$|\1|p' "$ETL_TMP/tls.log")
	is "$(curl -s -k "$u/api/v1/me" | jq -r .role)" viewer "--tls-cert/--tls-key: HTTPS"
	kill $p; wait $p 2>/dev/null
	run etl-api --anonymous --listen 127.0.0.1:0 --tls-cert "$ETL_TMP/c.pem"
	is "$rc" 2 "--tls-cert without --tls-key: a usage error"
fi

# under valgrind: requests, a stream, bad input, a clean stop; no error, nothing lost
if command -v valgrind >/dev/null && case "$ETL_BUILD" in *asan*) false ;; *) true ;; esac; then
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--log-file="$ETL_TMP/vg.log" etl-api --anonymous --listen 127.0.0.1:0 --keepalive 1 \
		--token-file "$tf" >"$ETL_TMP/vg_api.log" 2>&1 &
	vp=$!
	wait_until 60 grep -q "listening on" "$ETL_TMP/vg_api.log"
	API_URL=$(sed -n 's|.*listening on \(http://[^ ]*\)/$|\1|p' "$ETL_TMP/vg_api.log")
	api GET /api/v1/overview
	api GET "/api/v1/jobs/$jb"
	api GET "/api/v1/jobs?q=big&limit=3"
	api POST /api/v1/queues/aq/jobs "$A" '{"under": "valgrind"}'
	api POST /api/v1/queues/aq/jobs "$A" '{"bad": '
	curl -s -N --max-time 3 "$API_URL/api/v1/jobs/$jb/events?follow=1" >/dev/null
	curl -s -N --max-time 2 "$API_URL/api/v1/overview?follow=1" >/dev/null
	kill -TERM $vp; wait $vp
	vrc=$?
	is "$vrc" 0 "under valgrind: no memory error, no leak, exit 0" || diag "$(head -40 "$ETL_TMP/vg.log")"
fi

run etl-api --listen 'nohost:port'
is "$rc" 1 "a bad --listen: exit 1"
like "$err" "bad --listen" "  saying why"
done_testing
