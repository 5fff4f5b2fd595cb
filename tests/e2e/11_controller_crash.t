#!/usr/bin/env bash
# Crashes: the controller killed with tasks running, a worker killed, a graceful stop
# with tasks running (issue 3, #2 #3 #10).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
etl queue add sleep --task sleeper >/dev/null

# 2: kill -9 the controller while 20 tasks of ~3 s run; restart it; all completed once
start_controller c1 --concurrency 20
for i in $(seq 1 20); do echo '{"seconds": 3}'; done | etl send sleep --ndjson - >/dev/null
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE state = 'active' AND pid IS NOT NULL" 20
ok $? "20 tasks are running"
pids=$(q "SELECT pid FROM etl.job WHERE state = 'active'")
stop_controller c1 KILL
alive=0
for p in $pids; do alive "$p" && alive=$((alive + 1)); done
is "$alive" 20 "the tasks outlive the controller's kill -9"
none_alive() { local p; for p in $pids; do alive "$p" && return 1; done; return 0; }
wait_until 20 none_alive
ok $? "the tasks finish on their own"
is "$(jobs_in active sleep)" 20 "their jobs are still active in the database"
start_controller c1 --concurrency 20
wait_until 20 all_in 20 completed sleep
ok $? "the restarted controller records all 20 as completed"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'sleeper:INITIAL'")" 20 "one INITIAL per job: none ran twice"
is "$(q "SELECT count(*) FROM etl.job WHERE retry_count = 0")" 20 "and none was retried"

# 3: kill -9 one worker: its job is retried, then completes
id=$(etl send sleep '{"seconds": 2}')
wait_until 10 qis "SELECT attached FROM etl.job WHERE id = '$id'" t
pid=$(q "SELECT pid FROM etl.job WHERE id = '$id'")
kill -9 "$pid"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id'" completed
ok $? "the killed worker's job completes after a retry"
is "$(q "SELECT retry_count FROM etl.job WHERE id = '$id'")" 1 "retry_count is 1"
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$id'")
is "$(q "SELECT payload->>'signal_name' FROM etl.event WHERE etl_context_id = $ctx AND error")" SIGKILL "its first attempt's ERROR names SIGKILL"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND type = 'sleeper:INITIAL'")" 1 "the retry kept its context: one INITIAL"

# 10: SIGTERM with tasks running exits 0 promptly and leaves them; the next one adopts
for i in 1 2 3; do etl send sleep '{"seconds": 2}' >/dev/null; done
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE state = 'active' AND attached" 3
pids=$(q "SELECT pid FROM etl.job WHERE state = 'active'")
t0=$SECONDS
stop_controller c1 TERM
is "$rc" 0 "SIGTERM with tasks running: exit 0"
ok $([ $((SECONDS - t0)) -le 2 ]; echo $?) "promptly"
alive=0
for p in $pids; do alive "$p" && alive=$((alive + 1)); done
is "$alive" 3 "the tasks keep running"
start_controller c1
wait_until 20 all_in 24 completed sleep
ok $? "the next controller adopts them and records them completed"
grep -q "adopted" "$ETL_TMP/c1.log"
ok $? "its log says it adopted them"
stop_controller c1 TERM

# a task adopted after a kill -9 that exits 75 may have read no INITIAL (the dead run
# never wrote it: etl-task(7) asks for 75 then): its job goes back to the queue, not
# counted as a retry (here a task that exits 75 by itself: it runs twice, retry limit 0)
etl queue add t75 --task plain --retry-limit 0 >/dev/null
start_controller c1
j=$(etl send t75 '{"seconds": 2, "status": 75}')
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE id = '$j' AND state = 'active' AND pid IS NOT NULL" 1
ok $? "a task that will exit 75 runs"
stop_controller c1 KILL
start_controller c1
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$j'" failed
ok $? "it ends failed (its retry limit is 0)"
is "$(q "SELECT run || ' ' || retry_count FROM etl.job WHERE id = '$j'")" "2 0" "  after two runs: the adopted run's 75 put the job back, not counted as a retry"
like "$(cat "$ETL_TMP/c1.log")" "adopted, exited 75: its task may never have had its INITIAL" "  the controller says so"
stop_controller c1 TERM
done_testing
