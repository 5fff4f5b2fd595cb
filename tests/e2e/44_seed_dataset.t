#!/usr/bin/env bash
# Seed 000: a dataset goes created -> finalized; one fails at a middle step and its retry
# resumes there; an update runs only what it needs; the journal is short and ends in
# finalize-end.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
q "DROP SCHEMA IF EXISTS dsm CASCADE" >/dev/null
etl queue add dataset_manager --task dataset_manager --retry-limit 2 >/dev/null
start_controller c1
journal() { q "SELECT string_agg(event, ',' ORDER BY id) FROM dsm.journal WHERE dataset_id = '$1'"; }

a=$(etl send dataset_manager '{"dataset": "ds1", "create": true}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$a'" completed
ok $? "ds1 is processed"
is "$(q "SELECT status FROM dsm.dataset WHERE id = 'ds1'")" finalized "ds1 is finalized"
is "$(journal ds1)" "process-start,finalize-end" "its journal: process-start, finalize-end"
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$a'")" '["load", "analyze", "index", "finalize"]' "all four steps ran in one process"
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$a'")
is "$(q "SELECT count(DISTINCT payload->>'message') FROM etl.event WHERE etl_context_id = $ctx AND type = 'dataset_manager:PROGRESS'")" 4 "each step with its own progress"

b=$(etl send dataset_manager '{"dataset": "ds2", "create": true, "fail_once_at": "index"}')
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$b'" completed
ok $? "ds2 fails at index, and its retry completes"
is "$(q "SELECT retry_count FROM etl.job WHERE id = '$b'")" 1 "after one retry"
is "$(q "SELECT status FROM dsm.dataset WHERE id = 'ds2'")" finalized "ds2 ends finalized"
is "$(journal ds2)" "process-start,error,process-start,finalize-end" "its journal shows the error and the resume"
is "$(q "SELECT data->>'status' || ' ' || (data->>'step') FROM dsm.journal WHERE dataset_id = 'ds2' AND event = 'error'")" "created index" "the error kept the status and step it failed from"
is "$(q "SELECT data->>'resume_at' FROM dsm.journal WHERE dataset_id = 'ds2' AND event = 'process-start' ORDER BY id DESC LIMIT 1")" index "the retry resumed at index"
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$b'")" '["index", "finalize"]' "and ran only what was left"

q "UPDATE dsm.dataset SET status = 'updated', current_update = '{}' WHERE id = 'ds1'" >/dev/null
c=$(etl send dataset_manager '{"dataset": "ds1"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$c'" completed
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$c'")" '["finalize"]' "a metadata update only finalizes"
q "UPDATE dsm.dataset SET status = 'updated', current_update = '{\"schema\": true}' WHERE id = 'ds1'" >/dev/null
d=$(etl send dataset_manager '{"dataset": "ds1"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$d'" completed
is "$(q "SELECT output->'ran' FROM etl.job WHERE id = '$d'")" '["analyze", "index", "finalize"]' "a schema update re-analyzes"
is "$(journal ds1 | tr ',' '\n' | tail -1)" finalize-end "the journal ends in finalize-end"
e=$(etl send dataset_manager '{"dataset": "ds1"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$e'" completed
is "$(q "SELECT output->>'nothing_to_do' FROM etl.job WHERE id = '$e'")" true "a finalized dataset has nothing to do"
stop_controller c1 TERM
done_testing
