#!/usr/bin/env bash
# Database trouble: sessions terminated, the server restarted, during runs of 500 jobs
# (issue 3, #6).
. "$ETL_TOP/tests/lib/tap.sh"
. "$ETL_TOP/tests/lib/cluster.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
etl queue add hello --task hello --retry-limit 10 >/dev/null
start_controller c1 --concurrency 8

seq 1 500 | sed 's/.*/{"name": "a&"}/' | etl send hello --ndjson - >/dev/null
wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed' AND queue = 'hello'" 100
for i in 1 2; do
	q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'etl-controller'" >/dev/null
	sleep 0.3
done
wait_until 120 all_in 500 completed hello
ok $? "after pg_terminate_backend twice: all 500 completed"
grep -q "connection lost" "$ETL_TMP/c1.log"
ok $? "the controller saw its connection go and came back"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:FINAL'")" 500 "one FINAL per job"

seq 1 500 | sed 's/.*/{"name": "b&"}/' | etl send hello --ndjson - >/dev/null
wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed' AND queue = 'hello'" 600
cluster_restart fast
ok $? "pg_ctl restart -m fast during the run"
wait_until 180 all_in 1000 completed hello
ok $? "all 500 of the second run completed"
is "$(q "SELECT count(*) FROM etl.job WHERE state <> 'completed'")" 0 "no job lost or failed"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:FINAL'")" 1000 "one FINAL per job"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:INITIAL'")" 1000 "one INITIAL per job"
ok $(kill -0 "$CTL_PID_c1"; echo $?) "the controller is still running"
stop_controller c1 TERM
is "$rc" 0 "and stops cleanly"
done_testing
