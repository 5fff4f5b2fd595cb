#!/usr/bin/env bash
# data-fair's dataset manager for real (issue 19, seed 000): CSV files (and a zipped one)
# analyzed (encoding, delimiter, types), validated against the dataset's schema (errors
# with their line), loaded by COPY and swapped in, indexed on the keys, finalized with
# statistics; journal events typed by step; a bad row leaves the previous version
# serving; a schema patch re-runs only what it needs, a title patch nothing; two uploads
# at once run one after the other; kill -9 mid-load leaves `error` with the step and
# `etl retry` finishes it; REST datasets updated by SQL and by the API's rows; a remote
# file re-downloaded and updated only when its content changed.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL; [ -n "${HTTP_PID:-}" ] && kill $HTTP_PID 2>/dev/null' EXIT
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null
ok $? "/usr/bin/python3 has psycopg2"
q "DROP SCHEMA IF EXISTS datafair CASCADE" >/dev/null
etl queue add datafair_failed --task datafair_failed --retry-limit 2 >/dev/null
etl queue add dataset_manager --task dataset_manager --policy stately --retry-limit 0 \
	--dead-letter datafair_failed >/dev/null
etl queue add datafair_api --task datafair_api --retry-limit 0 >/dev/null
etl queue add datafair_remote --task datafair_remote --retry-limit 0 >/dev/null
w=$ETL_TMP/datafair
rm -rf "$w"; mkdir -p "$w/data"; chmod 0755 "$w" "$w/data"
start_controller c1 --concurrency 4

# make_csv FILE ROWS [BAD_LINE]: windows-1252, ';' delimited, six types of column
make_csv() {
	/usr/bin/python3 - "$@" <<-'PY'
	import sys
	path, n = sys.argv[1], int(sys.argv[2])
	bad = int(sys.argv[3]) if len(sys.argv) > 3 else 0
	lines = ["id;Nom du produit;prix;actif;jour;vu le"]
	for i in range(1, n + 1):
	    v = "douze" if len(lines) + 1 == bad else str(i)
	    lines.append(f"{v};Café n°{i};{i * 1.5:.2f};{'true' if i % 2 else 'false'};"
	                 f"2026-01-{i % 28 + 1:02d};2026-01-{i % 28 + 1:02d}T10:{i % 60:02d}:00Z")
	open(path, "wb").write(("\r\n".join(lines) + "\r\n").encode("windows-1252"))
	PY
}
api() { etl send datafair_api "$1"; }
done_ok() { wait_until "${2:-30}" qis "SELECT state FROM etl.job WHERE id = '$1'" completed; }
ended() { wait_until "${2:-30}" qis "SELECT state IN ('completed', 'failed') FROM etl.job WHERE id = '$1'" t; }
status() { q "SELECT status FROM datafair.dataset WHERE id = '$1'"; }
managers() { q "SELECT count(*) FROM etl.job WHERE queue = 'dataset_manager' AND data->>'dataset' = '$1'"; }
last_manager() { q "SELECT id FROM etl.job WHERE queue = 'dataset_manager' AND data->>'dataset' = '$1' ORDER BY created_on DESC LIMIT 1"; }
settled() { qis "SELECT count(*) FROM etl.job WHERE queue = 'dataset_manager' AND data->>'dataset' = '$1' AND state NOT IN ('completed', 'failed')" 0; }

# ---- a file dataset -----------------------------------------------------------------
make_csv "$w/v1.csv" 200
j=$(api "{\"op\": \"create\", \"dataset\": \"prices\", \"kind\": \"file\", \"title\": \"Prices\", \"dir\": \"$w/data\", \"keys\": [\"id\"], \"file\": \"$w/v1.csv\"}")
done_ok "$j"
ok $? "a file dataset created with its upload"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized
ok $? "  and finalized by dataset_manager"
m=$(last_manager prices)
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$m'")" '["analyze", "validate", "load", "index", "finalize"]' "  every step, in one process"
is "$(q "SELECT analysis->>'encoding' || ' ' || (analysis->>'delimiter') FROM datafair.dataset WHERE id = 'prices'")" "windows-1252 ;" "analyze: encoding and delimiter detected"
is "$(q "SELECT string_agg(c->>'key' || ':' || (c->>'type'), ' ' ORDER BY o) FROM datafair.dataset, jsonb_array_elements(analysis->'columns') WITH ORDINALITY AS x(c, o) WHERE id = 'prices'")" \
	"id:integer nom_du_produit:string prix:number actif:boolean jour:date vu_le:date-time" "  column keys and types"
is "$(q "SELECT count(*) || ' ' || sum(id) || ' ' || max(prix) FROM datafair.prices")" "200 20100 300.00" "load: 200 rows in the dataset's table"
is "$(q "SELECT nom_du_produit FROM datafair.prices WHERE id = 7")" "Café n°7" "  text decoded from windows-1252"
is "$(q "SELECT pg_typeof(jour)::text || ' ' || pg_typeof(vu_le)::text || ' ' || pg_typeof(actif)::text FROM datafair.prices LIMIT 1")" "date timestamp with time zone boolean" "  columns typed"
is "$(q "SELECT count(*) FROM pg_indexes WHERE schemaname = 'datafair' AND tablename = 'prices' AND indexdef LIKE '%(id)'")" 1 "index: the key column indexed"
is "$(q "SELECT row_count || ' ' || (stats->'id'->>'min') || ' ' || (stats->'id'->>'max') || ' ' || (stats->'actif'->>'distinct') FROM datafair.dataset WHERE id = 'prices'")" "200 1 200 2" "finalize: row count and per-column stats"
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$m'")
is "$(q "SELECT string_agg(type, ',' ORDER BY event_id) FROM etl.event WHERE etl_context_id = $ctx AND type LIKE 'dataset:%'")" \
	"dataset:process-start,dataset:analyze-end,dataset:validate-end,dataset:load-end,dataset:index-end,dataset:finalize-end" "journal events typed by step: finalize-end picked out by type"
is "$(q "SELECT count(DISTINCT payload->>'message') FROM etl.event WHERE etl_context_id = $ctx AND type = 'dataset_manager:PROGRESS'")" 5 "  each step with its own progress bar"

# ---- a bad row: an error naming the line, the previous version still served --------
make_csv "$w/bad.csv" 300 42
j=$(api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/bad.csv\"}")
done_ok "$j"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" error
ok $? "a CSV with a bad row: the dataset in error"
is "$(q "SELECT error->>'step' || ' ' || (error->'errors'->0->>'line') || ' ' || (error->'errors'->0->>'column') FROM datafair.dataset WHERE id = 'prices'")" "validate 42 id" "  at validate, the error naming line 42 and its column"
like "$(q "SELECT error->>'message' FROM datafair.dataset WHERE id = 'prices'")" "line 42, column id: 'douze' is not an integer" "  its message"
is "$(q "SELECT count(*) FROM datafair.prices")" 200 "  the previous version still served"
is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$(last_manager prices)'")" "failed 0" "  the job failed for good (a bad file is not retried)"
# ---- a zipped CSV ---------------------------------------------------------------------
make_csv "$w/v2.csv" 250
(cd "$w" && python3 -c 'import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],"w",zipfile.ZIP_DEFLATED); z.write(sys.argv[2]); z.close()' v2.zip v2.csv)
j=$(api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/v2.zip\"}")
done_ok "$j"
wait_until 60 qis "SELECT count(*) FROM datafair.prices" 250
ok $? "a zipped CSV loaded: 250 rows"
wait_until 30 settled prices
is "$(q "SELECT status || ' ' || (file->>'name') FROM datafair.dataset WHERE id = 'prices'")" "finalized v2.csv" "  the dataset finalized, serving the file from the zip"
j=$(api '{"op": "patch", "dataset": "prices", "patch": {"schema": [{"key": "prix", "type": "number", "required": true}]}}')
done_ok "$j"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized
ok $? "prix made required: the data still fits" || diag "$(q "SELECT error FROM datafair.dataset WHERE id = 'prices'")"
printf 'id;Nom du produit\n1;x\n' >"$w/noreq.csv"
api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/noreq.csv\"}" >/dev/null
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" error
is "$(q "SELECT error->'errors'->0->>'message' FROM datafair.dataset WHERE id = 'prices'")" "required column 'prix' is missing from the header" "a required column missing: named"
is "$(q "SELECT count(*) FROM datafair.prices")" 250 "  the previous version still served"
api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/v2.csv\"}" >/dev/null
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized

# ---- metadata patches -----------------------------------------------------------------
n=$(managers prices)
j=$(api '{"op": "patch", "dataset": "prices", "patch": {"title": "Prix"}}')
done_ok "$j"
is "$(q "SELECT status || ' ' || title FROM datafair.dataset WHERE id = 'prices'")/$(managers prices)" "finalized Prix/$n" "a title patch is cosmetic: no update, no job"
j=$(api '{"op": "patch", "dataset": "prices", "patch": {"schema": [{"key": "id", "type": "string"}]}}')
done_ok "$j"
is "$(q "SELECT output->'impact' FROM etl.job WHERE id = '$j'")" '["schema"]' "a column's type patched: impactful"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$(last_manager prices)'")" '["validate", "load", "index", "finalize"]' "  only the steps it needs (no analyze)"
is "$(q "SELECT pg_typeof(id)::text FROM datafair.prices LIMIT 1")" text "  the column reloaded as text"
j=$(api '{"op": "patch", "dataset": "prices", "patch": {"keys": ["id", "jour"]}}')
done_ok "$j"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$(last_manager prices)'")" '["index", "finalize"]' "a new key: index and finalize only"
is "$(q "SELECT count(*) FROM pg_indexes WHERE schemaname = 'datafair' AND tablename = 'prices'")" 2 "  both keys indexed"
j=$(api '{"op": "patch", "dataset": "prices", "patch": {"keys": ["nope"]}}')
ended "$j"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$j'")" "keys: column keys of the dataset" "a key that is no column: refused, said why"

# ---- two uploads at once: one after the other -----------------------------------------
make_csv "$w/v3.csv" 5000
make_csv "$w/v4.csv" 4000
a=$(api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/v3.csv\"}")
b=$(api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/v4.csv\"}")
done_ok "$a"; done_ok "$b"
wait_until 90 settled prices
wait_until 30 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" finalized
ok $? "two uploads at once: the dataset finalized"
# the two upload jobs run at once: the one whose change committed last is the last upload
last=$(q "SELECT data->>'sha256' FROM datafair.journal WHERE dataset_id = 'prices' AND event = 'uploaded' ORDER BY id DESC LIMIT 1")
is "$(q "SELECT file->>'sha256' FROM datafair.dataset WHERE id = 'prices'")" "$last" "  serving the last upload"
is "$(q "SELECT count(*) FROM datafair.prices")" "$(q "SELECT row_count FROM datafair.dataset WHERE id = 'prices'")" "  its rows ($(q "SELECT row_count FROM datafair.dataset WHERE id = 'prices'"))"
is "$(q "SELECT count(*) FROM etl.job a JOIN etl.job b ON a.id < b.id AND a.started_on < b.completed_on AND b.started_on < a.completed_on WHERE a.queue = 'dataset_manager' AND b.queue = 'dataset_manager' AND a.data = b.data")" 0 "  no two manager jobs of one dataset ever ran at once"

# ---- kill -9 mid-load: error with the step, retry resumes there ----------------------
make_csv "$w/v5.csv" 20000
j=$(api "{\"op\": \"upload\", \"dataset\": \"prices\", \"file\": \"$w/v5.csv\", \"hold_at\": \"load\"}")
done_ok "$j"
m=$(last_manager prices)
wait_until 60 qis "SELECT progress->>'message' FROM etl.job WHERE id = '$m'" "holding at load"
ok $? "the manager holds in the middle of its load"
served=$(q "SELECT count(*) FROM datafair.prices")
pkill -KILL -P "$(q "SELECT pid FROM etl.job WHERE id = '$m'")"
wait_until 60 qis "SELECT status FROM datafair.dataset WHERE id = 'prices'" error
ok $? "kill -9 mid-load: the dataset in error"
is "$(q "SELECT error->>'status' || ' ' || (error->>'step') FROM datafair.dataset WHERE id = 'prices'")" "updated load" "  with the status and the step it failed from"
like "$(q "SELECT error->>'message' FROM datafair.dataset WHERE id = 'prices'")" "signal 9|SIGKILL|killed" "  and how the job ended"
is "$(q "SELECT count(*) FROM datafair.prices")" "$served" "  the previous version still served ($served rows)"
etl retry "$m" >/dev/null
done_ok "$m" 60
ok $? "etl retry: the job completes"
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$m'")" '["load", "index", "finalize"]' "  resumed at load"
is "$(q "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'prices'")" "finalized 20000" "  the dataset finalized with the new file"

# ---- a REST dataset -------------------------------------------------------------------
j=$(api '{"op": "create", "dataset": "sensors", "kind": "rest", "schema": [{"key": "sensor", "type": "string", "required": true}, {"key": "value", "type": "number"}], "keys": ["sensor"]}')
done_ok "$j"
wait_until 30 qis "SELECT status FROM datafair.dataset WHERE id = 'sensors'" finalized
ok $? "a REST dataset created and finalized"
q "INSERT INTO datafair.sensors VALUES ('a', 1.5), ('b', 2), ('a', 3)" >/dev/null
is "$(status sensors)" updated "rows written by SQL: the dataset updated in the writer's transaction"
wait_until 30 qis "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'sensors'" "finalized 3"
ok $? "  the worker finalized it: 3 rows"
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$(last_manager sensors)'")" '["index", "finalize"]' "  re-indexed and finalized"
j=$(api '{"op": "rows", "dataset": "sensors", "rows": [{"sensor": "c", "value": 4}, {"sensor": "d", "value": 5.25}]}')
done_ok "$j"
wait_until 30 qis "SELECT status || ' ' || row_count || ' ' || (stats->'sensor'->>'distinct') FROM datafair.dataset WHERE id = 'sensors'" "finalized 5 4"
ok $? "rows sent through etl (the CLI, as the API sends): 5 rows, 4 sensors" || diag "$(q "SELECT state, output FROM etl.job WHERE id = '$j'") $(q "SELECT status, row_count, stats, error FROM datafair.dataset WHERE id = 'sensors'")"
j=$(api '{"op": "rows", "dataset": "sensors", "rows": [{"value": 1}]}')
ended "$j"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$j'")" "null value in column \"sensor\"" "a row without a required column: refused"

# ---- a remote file: re-downloaded, updated only when it changed -----------------------
make_csv "$w/remote.csv" 100
j=$(api "{\"op\": \"create\", \"dataset\": \"remote1\", \"kind\": \"remote\", \"dir\": \"$w/data\", \"url\": \"file://$w/remote.csv\"}")
done_ok "$j"
r=$(etl send datafair_remote '{}')
done_ok "$r"
is "$(q "SELECT output->'changed' FROM etl.job WHERE id = '$r'")" '["remote1"]' "a remote dataset downloaded"
wait_until 30 qis "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'remote1'" "finalized 100"
ok $? "  and loaded: 100 rows"
n=$(managers remote1)
r=$(etl send datafair_remote '{}')
done_ok "$r"
is "$(q "SELECT output->'changed' FROM etl.job WHERE id = '$r'")/$(managers remote1)" "[]/$n" "the same content again: no update, no job"
make_csv "$w/remote.csv" 120
r=$(etl send datafair_remote '{}')
done_ok "$r"
wait_until 30 qis "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'remote1'" "finalized 120"
ok $? "changed content: updated and reloaded"
# over HTTP with an ETag: a 304 is no change, no download
mkdir -p "$w/www"
make_csv "$w/www/r2.csv" 50
python3 "$ETL_TOP/tests/tools/etag_server.py" "$w/www" "$w/www.log" >"$w/www.port" 2>&1 &
HTTP_PID=$!
wait_until 10 grep -q "^port " "$w/www.port"
hp=$(sed -n 's/^port //p' "$w/www.port")
j=$(api "{\"op\": \"create\", \"dataset\": \"remote2\", \"kind\": \"remote\", \"dir\": \"$w/data\", \"url\": \"http://127.0.0.1:$hp/r2.csv\"}")
done_ok "$j"
r=$(etl send datafair_remote '{"dataset": "remote2"}'); done_ok "$r"
wait_until 30 qis "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'remote2'" "finalized 50"
ok $? "a remote dataset over HTTP: downloaded and loaded"
like "$(q "SELECT etag FROM datafair.dataset WHERE id = 'remote2'")" '^"[0-9a-f]{32}"$' "  its ETag kept"
n=$(managers remote2)
r=$(etl send datafair_remote '{"dataset": "remote2"}'); done_ok "$r"
is "$(tail -1 "$w/www.log")/$(managers remote2)" "304 /r2.csv/$n" "  asked again with If-None-Match: 304, nothing downloaded, no job"
make_csv "$w/www/r2.csv" 70
r=$(etl send datafair_remote '{"dataset": "remote2"}'); done_ok "$r"
wait_until 30 qis "SELECT status || ' ' || row_count FROM datafair.dataset WHERE id = 'remote2'" "finalized 70"
ok $? "  changed on the server: a new ETag, downloaded and reloaded"
kill $HTTP_PID 2>/dev/null
etl schedule add remote-datasets datafair_remote '*/5 * * * *' '{}' >/dev/null
like "$(etl schedule ls)" "remote-datasets" "the secondary worker scheduled"

bad=$(api '{"op": "create", "dataset": "Bad Id!", "kind": "rest"}')
ended "$bad"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$bad'")" "lower-case letters" "a bad dataset id: refused, said why"
stop_controller c1 TERM
done_testing
