#!/usr/bin/env bash
# Seed 002: processing steps cached per key and version; a new version re-runs that step
# and its readers; a sample step cuts the input down.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
input=$(seq 1 100 | paste -sd, -)
res() { q "SELECT output->>'$1' FROM etl.job ORDER BY created_on DESC LIMIT 1"; }
names() { q "SELECT coalesce(string_agg(x, ',' ORDER BY o), '') FROM jsonb_array_elements_text((SELECT output->'$1' FROM etl.job ORDER BY created_on DESC LIMIT 1)) WITH ORDINALITY AS t(x, o)"; }

run etl run process_data "{\"key\": \"u1\", \"input\": [$input]}"
is "$rc" 0 "the first run exits 0"
is "$(names ran)" "count,stats,validate" "it runs every applicable step"
is "$(names skipped)" "sample" "sample does not apply (no sample mode)"
is "$(q "SELECT output->'results'->'stats'->>'sum' FROM etl.job ORDER BY created_on DESC LIMIT 1")" 5050 "stats over the whole input"
run etl run process_data "{\"key\": \"u1\", \"input\": [$input]}"
is "$(names ran)" "" "the second run runs nothing"
is "$(names cached)" "count,stats,validate" "every result comes from the cache"
run etl run process_data "{\"key\": \"u1\", \"input\": [$input], \"versions\": {\"stats\": 2}}"
is "$(names ran)" "stats,validate" "a new version of stats runs stats and validate, which reads it"
is "$(names cached)" "count" "count stays cached"
run etl run process_data "{\"key\": \"u1\", \"input\": [$input], \"versions\": {\"stats\": 2}}"
is "$(names ran)" "" "and once run, the new version is cached too"
run etl run process_data "{\"key\": \"u1\", \"input\": [$input], \"versions\": {\"stats\": 2}, \"sample\": true}"
is "$(names ran)" "sample,count,stats,validate" "sample mode: sample runs, and everything that reads it"
is "$(q "SELECT (output->'results'->'count'->>'count') || ' ' || (output->'results'->'stats'->>'sum') FROM etl.job ORDER BY created_on DESC LIMIT 1")" "10 55" "the sample cut the input to 10 values"
# the cache is keyed on the input too: the same key with other input is not the old result
run etl run process_data "{\"key\": \"u1\", \"input\": [1, 2, 3]}"
is "$(names ran)" "count,stats,validate" "the same key, other input: its steps run again"
is "$(q "SELECT output->'results'->'stats'->>'sum' FROM etl.job ORDER BY created_on DESC LIMIT 1")" 6 "  with the new input's sum, not the old one's"
run etl run process_data "{\"key\": \"u1\", \"input\": [$input]}"
is "$(names ran)" "count,stats,validate" "  and back to the first input: run again (one result a key and step)"
run etl run process_data "{\"key\": \"u2\", \"input\": [1, \"x\"]}"
is "$rc" 65 "a step that fails fails the task"
ctx=$(q "SELECT etl_context_id FROM etl.job ORDER BY created_on DESC LIMIT 1")
like "$(q "SELECT string_agg(payload->>'message', '|' ORDER BY event_id) FROM etl.event WHERE etl_context_id = $ctx AND type = 'process_data:PROGRESS'")" "step 2/4: count" "each step has its own progress"
done_testing
