#!/usr/bin/env bash
# pg-boss's job handling that etl lacked (issue 21, in part): cancel and retry every job
# of a queue (of a state); find jobs by singleton key or by what their data contains;
# etl show prints a job's fields in the table's order; a queue paused and resumed.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller pz KILL' EXIT
etl queue add bq --task hello --retry-limit 0 >/dev/null
etl queue add other --task hello >/dev/null
for i in 1 2 3 4 5; do etl send bq "{\"n\": $i}" >/dev/null; done
o=$(etl send other '{"n": 0}')
run etl cancel --queue bq
is "$rc/$out" "0/cancelled 5 jobs of queue bq" "etl cancel --queue cancels every unfinished job of the queue"
is "$(jobs_in cancelled bq)/$(q "SELECT state FROM etl.job WHERE id = '$o'")" "5/created" "and none of another queue"
run etl retry --queue bq --state cancelled
is "$rc/$out" "0/re-queued 5 jobs of queue bq" "etl retry --queue --state cancelled re-queues them"
is "$(jobs_in retry bq)" 5 "they wait again"
run etl cancel --queue bq --state created
is "$out" "cancelled 0 jobs of queue bq" "--state narrows it (none is created)"
run etl cancel --queue bq --state done
is "$rc" 2 "a bad --state is refused (exit 2)"
like "$err" "bad state 'done'" "saying why"
run etl cancel --queue bq "$o"
is "$rc" 2 "ids and --queue together are refused"
run etl retry --state failed
is "$rc" 2 "--state without --queue is refused"

k=$(etl send other '{"x": 1, "y": 2}' --singleton-key k1)
etl send other '{"x": 2}' >/dev/null
run etl ls --key k1 --json
is "$(printf '%s' "$out" | python3 -c 'import json, sys; print(",".join(j["id"] for j in json.load(sys.stdin)))')" "$k" "etl ls --key finds the job of a singleton key"
run etl ls --data '{"x": 1}' --json
is "$(printf '%s' "$out" | python3 -c 'import json, sys; print(",".join(j["id"] for j in json.load(sys.stdin)))')" "$k" "etl ls --data finds the jobs whose data contains it"
run etl ls --data '{"x": 1}' --queue bq --json
is "$out" "[]" "combined with --queue"
run etl ls --data '{bad'
is "$rc" 2 "bad --data JSON is refused (exit 2)"

run etl show "$k"
is "$(printf '%s\n' "$out" | head -3 | awk '{ print $1 }' | tr '\n' ' ')" "id queue priority " "etl show prints the fields in the table's order"

# pause and resume
etl queue add pq --task hello --retry-limit 0 >/dev/null
run etl queue pause pq
is "$rc/$out" "0/queue pq paused" "etl queue pause"
like "$(etl queue ls | grep '^pq ')" " yes " "etl queue ls shows it paused"
p=$(etl send pq '{"name": "paused"}')
start_controller pz --queues pq
wait_until 3 qis "SELECT state FROM etl.job WHERE id = '$p'" active
ok $([ $? -ne 0 ]; echo $?) "a running controller does not claim the paused queue's job (3 s)"
is "$(q "SELECT state FROM etl.job WHERE id = '$p'")" created "it waits"
run etl queue resume pq
is "$rc/$out" "0/queue pq resumed" "etl queue resume"
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$p'" completed
ok $? "then it runs"
run etl queue pause nosuch
is "$rc" 3 "pausing a queue that does not exist exits 3"
stop_controller pz TERM
# etl rm: finished jobs only, by id or by queue and state; dependency rows go too
etl queue add rmq --task hello --retry-limit 0 >/dev/null
r1=$(etl send rmq '{"name": "a"}'); r2=$(etl send rmq '{"name": "b"}'); r3=$(etl send rmq '{"name": "c"}')
etl cancel "$r2" "$r3" >/dev/null
rw=$(etl send rmq '{"name": "waits"}' --after "$r1")
run etl rm "$r1"
is "$rc" 3 "etl rm of a job not finished: nothing deleted, exit 3"
like "$err" "not in a state to rm" "  saying why"
is "$(q "SELECT count(*) FROM etl.job WHERE id = '$r1'")" 1 "  the job is there"
run etl rm "$r2"
is "$rc/$out" "0/deleted 1 of 1 job" "etl rm of a cancelled job"
is "$(q "SELECT count(*) FROM etl.job WHERE id = '$r2'")" 0 "  it is gone"
run etl rm --queue rmq --state cancelled
is "$rc/$out" "0/deleted 1 job of queue rmq" "etl rm --queue --state"
etl cancel "$r1" "$rw" >/dev/null
is "$(q "SELECT count(*) FROM etl.job_dep WHERE after_id = '$r1'")" 1 "a dependency row before"
run etl rm --queue rmq
is "$rc/$out" "0/deleted 2 jobs of queue rmq" "etl rm --queue: every finished job"
is "$(q "SELECT count(*) FROM etl.job_dep WHERE after_id = '$r1' OR job_id = '$rw'")" 0 "  their dependency rows with them"
run etl rm not-a-uuid
is "$rc" 2 "etl rm of a malformed id: a usage error"
# etl queue ls: ready, deferred (a start time to come, or jobs to wait for) and active
etl queue add cq --task hello >/dev/null
etl send cq '{"name": "now"}' >/dev/null
d1=$(etl send cq '{"name": "later"}' --start-after 3600)
etl send cq '{"name": "after"}' --after "$d1" >/dev/null
is "$(etl queue ls --json | jq -r '.[] | select(.name == "cq") | "\(.ready) \(.deferred) \(.active)"')" "1 2 0" "etl queue ls --json: 1 ready, 2 deferred, 0 active"
like "$(etl queue ls | grep '^cq ')" " 1 +2 +0 " "etl queue ls shows them"
done_testing
