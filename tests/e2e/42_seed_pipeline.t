#!/usr/bin/env bash
# Seed 001: extract fans out 1,000 item checks on two controllers; check_dataset runs
# once, after the last item; then time_based and report.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL; stop_controller b KILL' EXIT
q "DROP SCHEMA IF EXISTS pipeline CASCADE" >/dev/null
for qn in extract check_item check_dataset time_based report; do
	etl queue add $qn --task $qn >/dev/null
done
start_controller a --concurrency 4
start_controller b --concurrency 4
etl send extract '{"dataset": "d1", "n": 1000}' >/dev/null
wait_until 240 qis "SELECT count(*) FROM etl.job WHERE queue = 'report' AND state = 'completed'" 1
ok $? "the pipeline ran to its report"
is "$(q "SELECT count(*) FROM pipeline.item WHERE dataset_id = 'd1' AND state = 'ok' AND checks = 1")" 1000 "every item checked exactly once"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'check_item'")" 2 "on both controllers"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'check_dataset'")" 1 "check_dataset ran once"
is "$(q "SELECT (SELECT started_on FROM etl.job WHERE queue = 'check_dataset') > (SELECT max(checked_on) FROM pipeline.item WHERE dataset_id = 'd1')")" t "after the last item was checked"
is "$(q "SELECT items || ' ' || ok FROM pipeline.dataset_check WHERE dataset_id = 'd1'")" "1000 1000" "its check saw 1,000 of 1,000 items ok"
is "$(q "SELECT phase FROM pipeline.dataset WHERE id = 'd1'")" reported "the dataset is reported"
is "$(q "SELECT report->'check'->>'items' FROM pipeline.report WHERE dataset_id = 'd1'")" 1000 "the report has the check"
# a second dataset compared with the first
etl send extract '{"dataset": "d2", "n": 10, "previous": "d1"}' >/dev/null
wait_until 60 qis "SELECT count(*) FROM pipeline.report WHERE dataset_id = 'd2'" 1
ok $? "a second dataset reports"
is "$(q "SELECT (result->>'items') || '/' || (result->>'previous_items') FROM pipeline.time_check WHERE dataset_id = 'd2'")" "10/1000" "time_based compared it with the previous one"
stop_controller a TERM; stop_controller b TERM
done_testing
