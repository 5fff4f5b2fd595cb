#!/usr/bin/env bash
# What a task reads is exactly what was sent (issue 15): payloads pass through etl as
# written, numbers exact and nesting kept, whichever way they were sent; what jsonb
# cannot store is refused with a clear error.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
etl queue add pl --task stdin_copy >/dev/null
start_controller p1

# the INITIAL a job's task read (its log's first line)
initial_of() {
	local log
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$1'" completed || return 1
	log=$(q "SELECT log_path FROM etl.job WHERE id = '$1'")
	grep -v "^--- etl: job " "$log" | head -1
}
# the task read, as jsonb, the job's data
same() {
	local ini
	ini=$(initial_of "$1") || { echo "job $1 did not complete"; return; }
	q "SELECT (\$x\$$ini\$x\$::jsonb)->'payload' = data FROM etl.job WHERE id = '$1'"
}

big='{"n": 8999999999999999, "m": -12345678901234567890, "x": 123456789012345678901234567890.000000000000000001, "f": 0.1, "e": 1e400}'
id=$(etl send pl "$big")
is "$(q "SELECT data->>'n' FROM etl.job WHERE id = '$id'")" 8999999999999999 "etl send keeps a 16-digit integer"
is "$(q "SELECT data->>'x' FROM etl.job WHERE id = '$id'")" "123456789012345678901234567890.000000000000000001" "and a 48-digit decimal"
is "$(same "$id")" t "the task reads exactly the job's data"
like "$(initial_of "$id")" '"n": ?8999999999999999,' "with the integer as it was sent"

printf '%s\n' "$big" '{"k": 18446744073709551617}' > "$ETL_TMP/big.ndjson"
etl send pl --ndjson "$ETL_TMP/big.ndjson" >/dev/null
is "$(q "SELECT string_agg(data->>'n', ',') FROM etl.job WHERE data ? 'n'")" "8999999999999999,8999999999999999" "etl send --ndjson keeps it too"
id2=$(q "SELECT id FROM etl.job WHERE data ? 'k'")
is "$(same "$id2")" t "and the task reads it exactly"

id3=$(q "SELECT id FROM etl.send('pl', '{\"n\": 9007199254740993, \"s\": \"é\\\\u00e9 \\\\\\\\ \\\\\\\"\"}')")
is "$(same "$id3")" t "a job sent by SQL: the task reads exactly its data"
like "$(initial_of "$id3")" '9007199254740993' "2^53 + 1 unrounded"

# strings: control characters, escapes, astral characters (as escapes and as UTF-8)
id6=$(q "SELECT id FROM etl.send('pl', \$j\${\"c\": \"\\u0001\\t\\n\\r\\b\\f\\u001f\", \"e\": \"\\ud83d\\ude00 😀 \\\" \\\\ \\/\", \"z\": \"\u2028\u2029 \\u00ff ÿ\"}\$j\$)")
is "$(same "$id6")" t "control characters, escapes and astral characters reach the task as sent"
strs='{"s": "tab\there \u0001 \ud83d\ude00 \u00e9 é \\\\ \\\" end"}'
id7=$(etl send pl "$strs")
is "$(same "$id7")" t "the same through etl send"

# nesting: up to the documented limit through the CLI; deeper is refused clearly, and a
# deeper payload sent by SQL still reaches its task as its INITIAL records it
deep() { printf "%${1}s" "" | tr ' ' '['; printf "%${1}s" "" | tr ' ' ']'; }
id4=$(etl send pl "$(deep 1000)")
is "$(same "$id4")" t "a payload nested 1000 deep (ETL_JSON_MAX_DEPTH) passes"
run etl send pl "$(deep 1200)"
is "$rc" 2 "1200 deep is refused by the CLI (exit 2)"
like "$err" "nested 1200 deep, over the limit of 1000" "saying why, not 'malformed'"
id5=$(q "SELECT id FROM etl.send('pl', '$(deep 1200)')")
is "$(same "$id5")" t "1200 deep sent by SQL: the task reads its real payload, not null"

# what jsonb cannot store, and sizes
run etl send pl '{"s": "x\u0000y"}'
is "$rc" 2 "\\u0000 is refused (exit 2)"
like "$err" 'u0000 at byte .*cannot store a NUL' "with the reason"
is "$(q "SELECT count(*) FROM etl.job WHERE data->>'s' = 'x'")" 0 "nothing was stored cut short"
run etl send pl '{"s": "x\\u0000y"}'
is "$rc" 0 "an escaped backslash before u0000 is an ordinary string"
head -c 3000000 /dev/zero | tr '\0' 'a' | sed 's/^/"/; s/$/"/' > "$ETL_TMP/huge.json"
run sh -c "etl send pl - < '$ETL_TMP/huge.json'"
is "$rc" 2 "a 3 MB payload on stdin is refused (exit 2)"
like "$err" "over the limit of 1048576 bytes" "naming the limit"
if printf '%s' "$err" | grep -q 2097151; then ok 1 "not a wrong size"; else ok 0 "not a wrong size"; fi

# etl run passes its payload through too
run etl run stdin_copy '{"n": 8999999999999999}'
like "$out" '"payload": ?\{"n": ?8999999999999999\}' "etl run hands the task the payload as written"
stop_controller p1

# large payloads come one claim at a time, and small jobs behind them are not held up
etl queue add bigq --task stdin_copy >/dev/null
for i in 1 2 3; do
	q "SELECT etl.send('bigq', to_jsonb((SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 700000))))" >/dev/null
done
small=$(etl send bigq '{"small": true}')
is "$(q "SELECT count(*) > 0 FROM etl.job WHERE queue = 'bigq' AND pg_column_size(data) > 16000000")" t "three jobs of about 22 MB each (stored)"
claimed=$(q "SELECT string_agg(k, ',' ORDER BY k) FROM (SELECT CASE WHEN c.id = '$small' THEN 'small' ELSE 'big' END AS k FROM etl.claim(ARRAY['bigq'], 10, 'tester', 'h', 'test') c) x")
is "$claimed" "big,small" "a claim of 10 takes one large job and the small one behind them"
claimed=$(q "SELECT count(*) FROM etl.claim(ARRAY['bigq'], 10, 'tester', 'h', 'test')")
is "$claimed" 1 "the next claim takes the next large one"
done_testing
