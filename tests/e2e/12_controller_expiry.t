#!/usr/bin/env bash
# Expiry and cancel: process groups really stopped, grandchildren too (issue 3, #4).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
etl queue add forever --task sleeper --expire-seconds 2 --retry-limit 0 >/dev/null
start_controller c1 --kill-grace 1

a=$(etl send forever '{"seconds": 100000}')
b=$(etl send forever '{"seconds": 100000, "fork": true, "ignore_term": true}')
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE state = 'active' AND attached" 2
pa=$(q "SELECT pid FROM etl.job WHERE id = '$a'")
pb=$(q "SELECT pid FROM etl.job WHERE id = '$b'")
wait_until 5 grep -q "forked grandchild" "$(q "SELECT log_path FROM etl.job WHERE id = '$b'")"
gc=$(sed -n 's/forked grandchild //p' "$(q "SELECT log_path FROM etl.job WHERE id = '$b'")")
ok $(alive "$gc"; echo $?) "the forking task's grandchild $gc runs"
is "$(ps -o pgid= -p "$gc" | tr -d ' ')" "$pb" "in the task's process group"
wait_until 15 all_in 2 failed forever
ok $? "both jobs fail after expiring"
like "$(q "SELECT output->>'stopped' FROM etl.job WHERE id = '$a'")" "expired after 2 s" "the first says expired"
like "$(q "SELECT output->>'stopped' FROM etl.job WHERE id = '$b'")" "expired after 2 s" "the second says expired"
ok "$(! group_alive "$pa"; echo $?)" "no process of the first group is left"
ok "$(! group_alive "$pb"; echo $?)" "no process of the second group is left (it ignored SIGTERM)"
ok "$(! alive "$gc"; echo $?)" "the grandchild is gone"
grep -q "SIGKILL" "$ETL_TMP/c1.log"
ok $? "the controller escalated to SIGKILL"

# cancel a running job: the owner learns it by NOTIFY and stops the group
etl queue add long --task sleeper >/dev/null
id=$(etl send long '{"seconds": 100000}')
wait_until 10 qis "SELECT attached FROM etl.job WHERE id = '$id'" t
pid=$(q "SELECT pid FROM etl.job WHERE id = '$id'")
run etl cancel "$id"
is "$rc" 0 "etl cancel of a running job"
wait_until 10 eval "! group_alive $pid"
ok $? "its process group is stopped"
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" cancelled "the job stays cancelled"
wait_until 10 qge "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$id' AND e.error" 1
ok $? "its context records the stop"
stop_controller c1 TERM
done_testing
