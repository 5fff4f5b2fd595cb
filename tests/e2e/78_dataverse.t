#!/usr/bin/env bash
# The Dataverse dataload (issue 20, seed 003) as its diagram draws it, against a local
# stand-in for Dataverse's native API that checks each request as the real one would
# (tests/tools/fake_dataverse.py): a tree of 200 files walked, each given a storage
# identifier, MIME type and MD5, copied into the file store and checked; batch 1's
# callback makes batch 2 of addFiles requests, whose file ids are recorded; the cleanup
# runs once.  One unreadable file takes the discard path: no request, no copy left.
# A kill -9 of the dataload job after its fan-out committed duplicates nothing.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller dv KILL; [ -n "${fdv:-}" ] && kill $fdv 2>/dev/null; wait 2>/dev/null' EXIT

w=$ETL_TMP/dv
rm -rf "$w"; mkdir -p "$w/src" "$w/store"
doi="doi:10.5072/FK2/ETLTST"
key=abc-123-secret
printf '%s\n' "$key" >"$w/key"
chmod 0644 "$w/key"
python3 "$ETL_TOP/tests/tools/fake_dataverse.py" --key "$key" --doi "$doi" \
	--files-dir "$w/store" --log "$w/requests.jsonl" --port-file "$w/port" &
fdv=$!
wait_until 10 test -s "$w/port"
dv="http://127.0.0.1:$(cat "$w/port")"
# the tree: 10 folders of 20 files, text, CSV, JSON and PNG-looking content
for d in $(seq 1 10); do
	mkdir -p "$w/src/d$d/sub"
	for i in $(seq 1 20); do
		case $((i % 4)) in
		0) printf 'plain text %s %s\n' "$d" "$i" >"$w/src/d$d/f$i.txt" ;;
		1) printf 'a,b\n%s,%s\n' "$d" "$i" >"$w/src/d$d/f$i.csv" ;;
		2) printf '{"d": %s, "i": %s}\n' "$d" "$i" >"$w/src/d$d/sub/f$i.json" ;;
		3) printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00%s' "$d$i" >"$w/src/d$d/f$i.png" ;;
		esac
	done
done
is "$(find "$w/src" -type f | wc -l)" 200 "a tree of 200 files"

for qn in dv_dataload dv_file dv_datafiles dv_register dv_cleanup; do
	etl queue add "$qn" --task "$qn" --retry-limit 0 >/dev/null
done
start_controller dv --concurrency 8
load() {	# load SRC: send a dataload of SRC, its id
	etl send dv_dataload "{\"dir\": \"$1\", \"doi\": \"$doi\", \"files_dir\": \"$w/store\",
	    \"dataverse\": \"$dv\", \"key_file\": \"$w/key\", \"per_request\": 50}"
}
j=$(load "$w/src")
wait_until 120 all_in 1 completed dv_cleanup
ok $? "the load ran to its cleanup"
is "$(jobs_in completed dv_file):$(jobs_in completed dv_register)" "200:4" "200 file jobs, 4 addFiles requests of 50"
is "$(wc -l <"$w/requests.jsonl")" 4 "Dataverse got 4 requests"
is "$(jq -s '[.[] | select(.status == 200)] | length' "$w/requests.jsonl")" 4 "  each accepted (key, DOI, multipart jsonData, storage ids, files present with their MD5s)"
is "$(jq -s '[.[].files] | add' "$w/requests.jsonl")" 200 "  200 files in all"
is "$(jq -rs '[.[].names[]] | sort | unique | length' "$w/requests.jsonl")" 200 "  each file once"
like "$(jq -rs '[.[].mimes[]] | unique | join(",")' "$w/requests.jsonl")" "image/png.*text/plain" "  with MIME types by content (libmagic)"
is "$(jq -rs '[.[].names[]] | map(select(startswith("d3/sub/"))) | length' "$w/requests.jsonl")" 5 "  with their folders (the path split)"
store=$w/store/10.5072/FK2/ETLTST
is "$(ls "$store" | grep -cE '^[0-9a-f]{11}-[0-9a-f]{12}$')" 200 "the store has 200 files named by storage identifier"
is "$(cd "$w/src" && find . -type f -exec md5sum {} + | awk '{ print $1 }' | sort | md5sum)" \
	"$(cd "$store" && md5sum * | awk '{ print $1 }' | sort | md5sum)" "  their contents the sources'"
ids=$(q "SELECT count(DISTINCT (f->>'id')) FROM etl.job j, jsonb_array_elements(j.output->'files') f WHERE j.queue = 'dv_register' AND j.state = 'completed'")
is "$ids" 200 "the 200 file ids Dataverse returned are recorded"
is "$(jq -s '[.[].ids[]] | sort | unique | length' "$w/requests.jsonl")" "$ids" "  the ones it gave"
is "$(q "SELECT output->>'outcome' || ' ' || (output->>'registered') || ' ' || (output->>'removed') FROM etl.job WHERE queue = 'dv_cleanup'")" \
	"success 200 0" "the cleanup ran once, on success, removing nothing"
ok $(! grep -rq "$key" "$ETL_TMP/logs" 2>/dev/null; echo $?) "the API key is in no job's log"
is "$(q "SELECT count(*) FROM etl.job WHERE data::text LIKE '%$key%'")" 0 "  nor in any job's data"

# ---- one unreadable file: batch 1 is discarded, nothing is sent, no copy stays
mkdir -p "$w/src2/a"
for i in $(seq 1 9); do printf 'x%s\n' "$i" >"$w/src2/a/f$i.txt"; done
ln -s /nonexistent/file "$w/src2/a/broken.txt"
: >"$w/requests.jsonl"
before=$(ls "$store" | wc -l)
j2=$(load "$w/src2")
wait_until 60 all_in 2 completed dv_cleanup
ok $? "with one unreadable file the load still ends in its cleanup"
is "$(q "SELECT state FROM etl.job WHERE queue = 'dv_file' AND data->>'path' LIKE '%broken.txt'")" failed "  that file's job failed for good"
like "$(q "SELECT output->>'message' FROM etl.job WHERE queue = 'dv_file' AND data->>'path' LIKE '%broken.txt'")" "cannot be read" "  saying why"
is "$(q "SELECT output->>'stage' || ' ' || (output->>'outcome') || ' ' || (output->>'removed') FROM etl.job WHERE queue = 'dv_cleanup' ORDER BY created_on DESC LIMIT 1")" \
	"copy discarded 9" "  the discard path removed the 9 copies made"
is "$(ls "$store" | wc -l)" "$before" "  the store is as it was"
is "$(wc -l <"$w/requests.jsonl")" 0 "  and Dataverse got no request"
is "$(jobs_in created dv_register)$(q "SELECT count(*) FROM etl.job WHERE queue = 'dv_datafiles' AND created_on > (SELECT created_on FROM etl.job WHERE id = '$j2')")" "00" "  nor was batch 2 made"

# ---- a wrong key: Dataverse refuses (401), batch 2 is discarded, the copies go
stop_controller dv
printf 'wrong\n' >"$w/badkey"
mkdir -p "$w/src3"
for i in 1 2 3; do printf 'y%s\n' "$i" >"$w/src3/g$i.txt"; done
before=$(ls "$store" | wc -l)
start_controller dv --concurrency 8
etl send dv_dataload "{\"dir\": \"$w/src3\", \"doi\": \"$doi\", \"files_dir\": \"$w/store\",
    \"dataverse\": \"$dv\", \"key_file\": \"$w/badkey\"}" >/dev/null
wait_until 60 all_in 3 completed dv_cleanup
ok $? "a key Dataverse refuses: the load ends in its cleanup"
like "$(q "SELECT output->>'message' FROM etl.job WHERE queue = 'dv_register' AND state = 'failed'")" "HTTP 401.*Bad API key" "  the request failed for good with Dataverse's answer"
is "$(q "SELECT output->>'stage' || ' ' || (output->>'outcome') || ' ' || (output->>'removed') FROM etl.job WHERE queue = 'dv_cleanup' ORDER BY created_on DESC LIMIT 1")" \
	"register discarded 3" "  the discard path removed the copies Dataverse did not take"
is "$(ls "$store" | wc -l)" "$before" "  the store is as it was"

# ---- kill -9 of the dataload right after its fan-out committed: retried, no duplicate
stop_controller dv
etl queue add dv_dataload --task dv_dataload --retry-limit 2 >/dev/null
mkdir -p "$w/src4"
for i in $(seq 1 30); do printf 'z%s\n' "$i" >"$w/src4/h$i.txt"; done
j4=$(etl send dv_dataload "{\"dir\": \"$w/src4\", \"doi\": \"$doi\", \"files_dir\": \"$w/store\",
    \"dataverse\": \"$dv\", \"key_file\": \"$w/key\", \"hold\": 30}")
start_controller dv --concurrency 8
# its first run commits the fan-out, then holds: killed there, before its FINAL
wait_until 30 qis "SELECT count(*) FROM etl.batch WHERE data->>'dataload_job' = '$j4' AND data->>'stage' = 'copy'" 1
wait_until 10 qis "SELECT progress->>'message' FROM etl.job WHERE id = '$j4'" "batch made"
pid=$(q "SELECT pid FROM etl.job WHERE id = '$j4' AND state = 'active'")
pkill -KILL -P "$pid"
wait_until 60 qis "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$j4'" "completed 1"
ok $? "the dataload killed (-9) after its fan-out completes on its retry"
is "$(q "SELECT count(*) FROM etl.batch WHERE data->>'dataload_job' = '$j4' AND data->>'stage' = 'copy'")" 1 "  one batch for it"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dv_file' AND data->>'path' LIKE '$w/src4/%'")" 30 "  30 file jobs, none twice"
wait_until 60 all_in 4 completed dv_cleanup
is "$(q "SELECT output->>'registered' FROM etl.job WHERE queue = 'dv_cleanup' ORDER BY created_on DESC LIMIT 1")" 30 "  and 30 files registered"
done_testing
