#!/usr/bin/env bash
# Runs (issue 14, point 1): each claim starts a new run of its job; the end of a run that
# is no longer the job's current one writes nothing; a job cancelled while its task runs
# stays stopping until that task has ended, and cannot be retried before (the retry would
# run beside it, and the first run's late end would end the second).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller rn KILL' EXIT

# the fence, in SQL: an end that names another run is not recorded
etl queue add fence --task hello >/dev/null
id=$(etl send fence '{"name": "f"}')
ctx=$(q "SELECT etl_context_id FROM etl.claim(ARRAY['fence'], 1, 'tester', 'h', 'test')")
is "$(q "SELECT run || ',' || state FROM etl.job WHERE id = '$id'")" "1,active" "a claim starts run 1"
end() { q "SELECT coalesce(state::text, 'null') FROM etl.finish('[{\"id\": \"$id\", \"ctx\": $ctx, \"since\": 0, \"ok\": true, \"task\": \"hello\", \"run\": $1}]')"; }
is "$(end 7)" null "the end of run 7 is answered with no state"
is "$(q "SELECT state || ',' || (SELECT count(*) FROM etl.event e WHERE e.etl_context_id = $ctx AND e.type LIKE '%:FINAL') FROM etl.job WHERE id = '$id'")" "active,0" "and writes nothing: the job stays active, no FINAL"
is "$(end 1)" completed "the end of run 1 completes it"
is "$(end 1)" null "and the same end again writes nothing more"

# cancel, then retry at once, on a task slow to stop
etl queue add ss --task slow_stop >/dev/null
start_controller rn --concurrency 4
j=$(etl send ss '{}')
starts() { q "SELECT count(*) FROM etl.event e JOIN etl.job x USING (etl_context_id) WHERE x.id = '$j' AND e.type = 'slow_stop:RUN_START'"; }
wait_until 20 qis "$(printf "SELECT count(*) FROM etl.event e JOIN etl.job x USING (etl_context_id) WHERE x.id = '%s' AND e.type = 'slow_stop:RUN_START'" "$j")" 1
ok $? "the task started"
run etl cancel "$j"
is "$rc" 0 "etl cancel exits 0"
is "$(q "SELECT state || ',' || stopping FROM etl.job WHERE id = '$j'")" "cancelled,true" "the job is cancelled and stopping"
run etl retry "$j"
is "$rc" 1 "an immediate retry is refused (exit 1)"
like "$err" "job $j is still stopping" "saying the task has not exited yet"
wait_until 20 qis "SELECT stopping FROM etl.job WHERE id = '$j'" f
ok $? "once the task has ended, the job is no longer stopping"
run etl retry "$j"
is "$rc" 0 "now the retry is taken"
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
ok $? "and the second run completes"
is "$(q "SELECT run FROM etl.job WHERE id = '$j'")" 2 "as run 2"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job x USING (etl_context_id) WHERE x.id = '$j' AND e.type = 'slow_stop:RUN_END'")" 2 "both runs ended"
is "$(q "SELECT (SELECT max(e.created_on) FROM etl.event e JOIN etl.job x USING (etl_context_id) WHERE x.id = '$j' AND e.type = 'slow_stop:RUN_START') > (SELECT min(e.created_on) FROM etl.event e JOIN etl.job x USING (etl_context_id) WHERE x.id = '$j' AND e.type = 'slow_stop:RUN_END')")" t "the second run started after the first had ended: never two at once"
stop_controller rn
done_testing
