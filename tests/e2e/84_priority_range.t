#!/usr/bin/env bash
# A controller for a priority range (issue 21, a pg-boss feature): --min-priority and
# --max-priority keep a controller to the jobs of those priorities.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller hi KILL; stop_controller lo KILL' EXIT
etl queue add pq --task hello >/dev/null
for p in 0 5 10 20; do etl send pq "{\"name\": \"p$p\"}" --priority "$p" >/dev/null; done
start_controller hi --min-priority 10
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'pq' AND state = 'completed'" 2
ok $? "--min-priority 10: two jobs run"
is "$(q "SELECT string_agg(priority::text, ',' ORDER BY priority) FROM etl.job WHERE state = 'completed'")" "10,20" "  those of priority 10 and 20"
is "$(q "SELECT string_agg(priority::text, ',' ORDER BY priority) FROM etl.job WHERE state = 'created'")" "0,5" "  the others wait"
start_controller lo --max-priority 5
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'pq' AND state = 'completed'" 4
ok $? "--max-priority 5: the rest run"
is "$(q "SELECT string_agg(controller_id || ':' || priority, ',' ORDER BY priority) FROM etl.job")" "lo:0,lo:5,hi:10,hi:20" "  each by the controller of its range"
run etl-controller --id bad --min-priority 10 --max-priority 5
is "$rc" 2 "--min-priority above --max-priority: refused (exit 2)"
like "$err" "min-priority is above --max-priority" "  saying why"
stop_controller hi TERM
stop_controller lo TERM
done_testing
