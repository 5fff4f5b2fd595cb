#!/usr/bin/env bash
# A problem of one host is not the job's fault (issue 14, point 5): a job whose task is
# missing on one controller goes back to the queue, not counted as a retry, and completes
# on a controller that has it; missing on every live controller, it fails for good.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller lacks KILL; stop_controller has KILL' EXIT
mkdir -p "$ETL_TMP/notasks"
etl queue add hl --task hello --retry-limit 0 >/dev/null
start_controller lacks --task-path "$ETL_TMP/notasks"
start_controller has --queues none_yet
id=$(etl send hl '{"name": "here"}')
wait_until 20 grep -q "cannot start here: no task named 'hello'.*back to the queue" "$ETL_TMP/lacks.log"
ok $? "the controller without the task gives the job back"
is "$(q "SELECT state || ',' || retry_count || ',' || (output->'released_by')::text FROM etl.job WHERE id = '$id'")" 'created,0,["lacks"]' "it waits again, not counted as a retry, marked as released by that controller"
sleep 1	# the one without the task does not take it again
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" created "the controller that released it does not claim it again"
stop_controller has
start_controller has
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id'" completed
ok $? "the controller that has the task runs it"
is "$(q "SELECT controller_id || ',' || retry_count FROM etl.job WHERE id = '$id'")" "has,0" "there, as its first attempt"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$id' AND e.type LIKE '%:INITIAL'")" 1 "with one INITIAL in its context"
stop_controller has

# missing everywhere: failed for good, with the reason
id2=$(etl send hl '{"name": "nowhere"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id2'" failed
ok $? "with no live controller that can run it, the job fails for good"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$id2'")" "no task named 'hello'" "saying why"
stop_controller lacks
done_testing
