#!/usr/bin/env bash
# One live controller per id (issue 14, point 4): a second controller started with an id
# a live one holds (a copied etl.conf) refuses to start, naming the holder; once the
# holder is gone, a controller with its id starts and adopts its tasks.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller dup KILL' EXIT
etl queue add sid --task sleeper >/dev/null
start_controller dup --concurrency 4
pid1=$CTL_PID_dup
for i in 1 2 3 4; do etl send sid '{"seconds": 3}' >/dev/null; done
wait_until 20 all_in 4 active sid
ok $? "the first controller runs 4 jobs"
asroot=; [ "$(id -u)" -eq 0 ] && asroot="--user root"
# shellcheck disable=SC2086
run timeout 30 etl-controller --id dup --log-dir "$ETL_TMP/logs" $asroot
is "$rc" 1 "a second controller with the same id exits 1"
like "$err" "controller id 'dup' is in use by pid $pid1 on $(hostname)" "naming the holder's pid and host"
is "$(printf '%s\n' "$err" | grep -c 'in use by')" 1 "in one line"
wait_until 30 all_in 4 completed sid
ok $? "the first controller's jobs complete"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'sleeper:FINAL'")" 4 "each once"
is "$(q "SELECT max(retry_count) FROM etl.job WHERE queue = 'sid'")" 0 "none retried"
# once the holder is gone, its id is free again
for i in 1 2; do etl send sid '{"seconds": 3}' >/dev/null; done
wait_until 20 all_in 2 active sid
stop_controller dup KILL
start_controller dup
ok $? "after kill -9 of the holder, a controller with its id starts"
wait_until 30 all_in 6 completed sid
ok $? "and records the ends of the tasks it adopted"
stop_controller dup
done_testing
