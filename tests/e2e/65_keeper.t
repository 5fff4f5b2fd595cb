#!/usr/bin/env bash
# The keeper and the lease (issue 14, points 2 and 3): a plain task (no libetl) runs once
# across a kill -9 of its controller, and its exact exit status is recorded; nothing of a
# job outlives it (background children, setsid daemons); a frozen controller's tasks are
# stopped by their keepers before another controller runs their jobs again, so two runs
# of one job are never alive at once; a controller gone past its lease loses its tasks.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'kill -CONT "${CTL_PID_a:-0}" 2>/dev/null; stop_controller a KILL; stop_controller b KILL' EXIT

# runs of a queue's jobs, from their RUN_START events
runs() { q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = '$1' AND e.type = 'plain:RUN_START'"; }
# processes whose environment names job $1
left_of() {
	local f n=0
	for f in /proc/[0-9]*/environ; do
		{ tr '\0' '\n' <"$f" | grep -qx "ETL_JOB_ID=$1"; } 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}

# 1: 40 jobs that exit 0 and 40 that exit 3; kill -9 of the controller mid-run
etl queue add ok0 --task plain --retry-limit 3 >/dev/null
etl queue add ex3 --task plain --retry-limit 0 >/dev/null
start_controller a --concurrency 16
for i in $(seq 1 40); do echo '{"seconds": 2}'; done | etl send ok0 --ndjson - >/dev/null
for i in $(seq 1 40); do echo '{"seconds": 2, "status": 3}'; done | etl send ex3 --ndjson - >/dev/null
wait_until 20 qge "SELECT count(*) FROM etl.event WHERE type = 'plain:RUN_START'" 8
ok $? "tasks run"
stop_controller a KILL
diag "killed with $(q "SELECT count(*) FROM etl.job WHERE state = 'active' AND pid IS NOT NULL") jobs running"
start_controller a --concurrency 16
wait_until 90 qis "SELECT count(*) FROM etl.job WHERE state IN ('completed', 'failed')" 80
ok $? "all 80 jobs ended"
is "$(jobs_in completed ok0)" 40 "40 of the task that exits 0 completed"
is "$(runs ok0)" 40 "in exactly 40 runs"
is "$(q "SELECT max(retry_count) FROM etl.job WHERE queue = 'ok0'")" 0 "none retried"
is "$(jobs_in failed ex3)" 40 "40 of the task that exits 3 failed"
is "$(runs ex3)" 40 "in exactly 40 runs"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'ex3' AND output->>'message' LIKE '%exit status 3%'")" 40 "each with its exact exit status (3) in its ERROR"
grep -q "adopted" "$ETL_TMP/a.log"
ok $? "the restarted controller adopted the running tasks"
is "$(find "$ETL_TMP/logs/keeper-a" -name '*.*' ! -name lease | wc -l)" 0 "no keeper status file is left once the ends are recorded"
stop_controller a TERM

# 2: nothing of a job outlives it: after completion, cancel, expiry
etl queue add leave --task plain --retry-limit 0 >/dev/null
etl queue add leave_exp --task plain --retry-limit 0 --expire-seconds 2 >/dev/null
start_controller a --concurrency 4 --kill-grace 1
c=$(etl send leave '{"seconds": 0.3, "leave": true}')
x=$(etl send leave '{"seconds": 60, "leave": true}')
e=$(etl send leave_exp '{"seconds": 60, "leave": true}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$c'" completed
ok $? "a job whose task left a background child and a setsid daemon completes"
is "$(left_of "$c")" 0 "no process of it is left (checked in /proc)"
wait_until 20 qge "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$x' AND e.type = 'plain:RUN_START'" 1
sleep 0.3	# its children are started
ok $([ "$(left_of "$x")" -ge 3 ]; echo $?) "a running job has its task, a child and a daemon"
etl cancel "$x" >/dev/null
wait_until 20 qis "SELECT state || ',' || stopping FROM etl.job WHERE id = '$x'" cancelled,false
ok $? "cancelled, and no longer stopping"
is "$(left_of "$x")" 0 "no process of the cancelled job is left"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$e'" failed
ok $? "the job past its expiry failed"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$e'")" "expired" "as expired"
is "$(left_of "$e")" 0 "no process of the expired job is left"
stop_controller a TERM

# 3: a frozen controller: its keepers stop its tasks when its lease runs out; another
# controller runs the jobs again only after that; a's late ends change nothing
etl queue add frz --task plain --retry-limit 2 >/dev/null
start_controller a --concurrency 4 --lease 3 --heartbeat 0.5 --kill-grace 1 --queues frz
for i in 1 2 3 4; do echo '{"seconds": 10}'; done | etl send frz --ndjson - >/dev/null
wait_until 20 qis "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'frz' AND e.type = 'plain:RUN_START'" 4
ok $? "a runs 4 plain tasks"
is "$(q "SELECT lease_bound FROM etl.controller WHERE id = 'a'")" 6 "a recorded its lease bound (lease 3 + grace 1 + 2)"
# frozen at once, before b starts (slow under the sanitizers): a's tasks are mid-run
kill -STOP "$CTL_PID_a"
t0=$SECONDS
start_controller b --concurrency 4 --dead-after 1 --queues frz
wait_until 40 qis "SELECT count(*) FROM etl.job WHERE queue = 'frz' AND state = 'completed'" 4
ok $? "b completes the 4 jobs while a is frozen"
diag "$((SECONDS - t0)) s after a froze"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'frz' AND controller_id = 'b' AND run = 2")" 4 "each in a second run, on b"
like "$(q "SELECT string_agg(DISTINCT e.payload->>'message', ';') FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'frz' AND e.error")" "lease ran out" "the first runs' ERROR says a's lease ran out"
# from the events: in each context, the second run starts after the first has ended
is "$(q "WITH r AS (SELECT e.etl_context_id AS ctx, e.type, e.created_on, row_number() OVER (PARTITION BY e.etl_context_id, e.type ORDER BY e.event_id) AS n FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'frz' AND e.type IN ('plain:RUN_START', 'plain:RUN_END')) SELECT count(*) FROM r s1 JOIN r e1 ON e1.ctx = s1.ctx AND e1.type = 'plain:RUN_END' AND e1.n = 1 JOIN r s2 ON s2.ctx = s1.ctx AND s2.type = 'plain:RUN_START' AND s2.n = 2 WHERE s1.type = 'plain:RUN_START' AND s1.n = 1 AND e1.created_on < s2.created_on")" 4 "in each job, the first run ended before the second started"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'frz' AND e.type = 'plain:RUN_END' AND e.payload->>'stopped' = 'true'")" 4 "the first runs were stopped (SIGTERM from their keepers)"
kill -CONT "$CTL_PID_a"
wait_until 20 grep -q "the end of its run was not recorded: the job has moved on" "$ETL_TMP/a.log"
ok $? "a, thawed, records nothing of the runs it lost (fenced)"
sleep 1
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'frz' AND state = 'completed' AND run = 2")" 4 "the jobs stay completed, by their second runs"
stop_controller a TERM
stop_controller b TERM

# 4: a controller killed and not restarted within its lease: its tasks are stopped
etl queue add gone --task plain --retry-limit 2 >/dev/null
start_controller a --concurrency 2 --lease 3 --heartbeat 0.5 --kill-grace 1 --queues gone
g=$(etl send gone '{"seconds": 30}')
wait_until 20 qge "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$g' AND e.type = 'plain:RUN_START'" 1
kpid=$(q "SELECT pid FROM etl.job WHERE id = '$g'")
stop_controller a KILL
wait_until 10 sh -c "! kill -0 $kpid 2>/dev/null"
ok $? "its keeper stops the task and exits when the lease runs out"
is "$(left_of "$g")" 0 "nothing of the job is left"
like "$(cat "$ETL_TMP/logs/$g.log")" "lease ran out" "the job's log says why"
start_controller a --concurrency 2 --lease 3 --heartbeat 0.5 --kill-grace 1 --queues gone
wait_until 20 qis "SELECT run > 1 FROM etl.job WHERE id = '$g'" t
ok $? "restarted, the controller records the end of the stopped run and the job runs again"
like "$(q "SELECT e.payload->>'message' FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$g' AND e.error ORDER BY e.event_id LIMIT 1")" "lease ran out" "its ERROR says the lease ran out"
etl cancel "$g" >/dev/null
stop_controller a TERM

# 5: the lease must hold two beats
run etl-controller --lease 1 --heartbeat 1
is "$rc" 2 "--lease shorter than two heartbeats is refused"
like "$err" "shorter than two heartbeats" "saying why"
run etl-controller --id ../x
is "$rc" 2 "an --id that is no plain name is refused"
done_testing
