#!/usr/bin/env bash
# The in-process mode (issue 7): a queue in mode inprocess runs TASK.so on controller
# threads.  The controller's acceptance 1 and 5 in this mode, a task that crashes the
# controller, expiry through etl_cancelled(), and a queue whose TASK.so is missing.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL; stop_controller b KILL' EXIT

one_initial_one_final() {	# QUEUE TASK: jobs whose context has one INITIAL and one FINAL
	q "SELECT count(*) FROM etl.job j WHERE queue = '$1' AND (SELECT count(*) FROM etl.event e WHERE e.etl_context_id = j.etl_context_id AND e.type = '$2:INITIAL') = 1 AND (SELECT count(*) FROM etl.event e WHERE e.etl_context_id = j.etl_context_id AND e.type = '$2:FINAL') = 1"
}

# acceptance 1: 1,000 hello jobs, one controller, --concurrency 8
etl queue add hi --task hello --mode inprocess >/dev/null
ok $? "etl queue add --mode inprocess"
is "$(q "SELECT mode FROM etl.queue WHERE name = 'hi'")" inprocess "the queue's mode is stored"
run etl queue add bad --task hello --mode sideways
ok $([ "$rc" -ne 0 ]; echo $?) "a mode other than detached|inprocess is refused"
start_controller a --concurrency 8
seq 1 1000 | sed 's/.*/{"name": "n&"}/' | etl send hi --ndjson - >/dev/null
wait_until 120 all_in 1000 completed hi
ok $? "1,000 in-process jobs all completed"
is "$(one_initial_one_final hi hello)" 1000 "each context has exactly one INITIAL and one FINAL"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hi' AND output->>'greeting' = 'hello, ' || (data->>'name')")" 1000 "each job's output is its FINAL payload"
is "$(q "SELECT count(DISTINCT pid) FROM etl.job WHERE queue = 'hi'")" 1 "all ran in one process"
is "$(q "SELECT pid FROM etl.job WHERE queue = 'hi' LIMIT 1")" "$(q "SELECT pid FROM etl.controller WHERE id = 'a'")" "the controller's own"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hi' AND attached")" 0 "none attached on its own: the controller's liveness stands for them"
is "$(q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND a.application_name LIKE 'etl-controller%' AND l.granted")" 1 "the controller holds its liveness lock"
ok $(grep -q "loaded .*/hello.so" "$ETL_TMP/a.log"; echo $?) "the controller loaded hello.so"
stop_controller a TERM

# acceptance 5: two controllers, 2,000 jobs, queue concurrency 3
etl queue add lim --task hello --mode inprocess --concurrency 3 >/dev/null
start_controller a --concurrency 4
start_controller b --concurrency 4
seq 1 2000 | sed 's/.*/{"name": "m&"}/' | etl send lim --ndjson - >/dev/null
wait_until 180 all_in 2000 completed lim
ok $? "2,000 in-process jobs completed by two controllers"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:INITIAL' AND etl_context_id IN (SELECT etl_context_id FROM etl.job WHERE queue = 'lim')")" 2000 "each ran once: 2,000 INITIAL events"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'lim'")" 2 "both controllers took part"
maxc=$(q "WITH iv AS (SELECT e.etl_context_id, min(e.created_on) FILTER (WHERE e.type = 'hello:PROGRESS') AS s, max(e.created_on) FILTER (WHERE e.type = 'hello:FINAL') AS e FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'lim' GROUP BY e.etl_context_id) SELECT max((SELECT count(*) FROM iv b WHERE b.s <= a.s AND b.e > a.s)) FROM iv a")
diag "most runs at once, from the events: $maxc"
ok $([ "$maxc" -le 3 ] && [ "$maxc" -ge 1 ]; echo $?) "never more than the queue's concurrency (3) at once"
stop_controller a TERM
stop_controller b TERM

# expiry: the task is asked to stop through etl_cancelled(), the job fails "expired"
etl queue add nap --task sleeper --mode inprocess --expire-seconds 1 --retry-limit 0 >/dev/null
start_controller a
id=$(etl send nap '{"seconds": 30}')
wait_until 15 qis "SELECT state FROM etl.job WHERE id = '$id'" failed
ok $? "an in-process task past its expiry ends failed"
like "$(q "SELECT output::text FROM etl.job WHERE id = '$id'")" "expired" "its output says it expired"
like "$(q "SELECT payload::text FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$id' AND e.error ORDER BY event_id LIMIT 1")" "cancelled after" "the task saw etl_cancelled() and said so"
ok $(alive "$(q "SELECT pid FROM etl.controller WHERE id = 'a'")"; echo $?) "the controller is still running"

# a queue whose task has no TASK.so: a clear error, the controller goes on
mkdir -p "$ETL_TMP/noso"
printf '#!/bin/sh\nexit 0\n' > "$ETL_TMP/noso/plain"
chmod 0755 "$ETL_TMP/noso/plain"
etl queue add noso --task "$ETL_TMP/noso/plain" --mode inprocess --retry-limit 0 >/dev/null
id=$(etl send noso '{}')
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$id'" failed
ok $? "a job whose TASK.so is missing fails"
like "$(q "SELECT output::text FROM etl.job WHERE id = '$id'")" "no .*plain.so" "its output names the missing file"
id=$(etl send hi '{"name": "after"}')
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$id'" completed
ok $? "the controller keeps serving other jobs"
stop_controller a TERM

# a dead controller's in-process jobs: another controller sees its lock free and
# retries them after the heartbeat bound
etl queue add slow --task sleeper --mode inprocess --retry-limit 1 >/dev/null
start_controller a --concurrency 3 --queues slow
for i in 1 2 3; do etl send slow '{"seconds": 60}' >/dev/null; done
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND state = 'active' AND pid IS NOT NULL" 3
ok $? "a runs three in-process tasks"
start_controller b --concurrency 3 --dead-after 3 --queues hi
stop_controller a KILL
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND state = 'retry' AND retry_count = 1" 3
ok $? "b fails and retries a's three in-process jobs"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'slow' AND e.error AND e.payload->>'message' LIKE '%controller died while it ran in-process%'")" 3 "each has an ERROR saying its controller died"
stop_controller b TERM
q "DELETE FROM etl.job WHERE queue = 'slow'" >/dev/null

# a task that crashes takes the controller down; a restart recovers its job, once
etl queue add boom --task aborter --mode inprocess --retry-limit 1 >/dev/null
start_controller a
dead() { ! alive "$1"; }
id=$(etl send boom '{}')
wait_until 15 dead "$CTL_PID_a"
ok $? "the crash took the controller down"
stop_controller a KILL
is "$(q "SELECT state || ' ' || (pid IS NOT NULL) FROM etl.job WHERE id = '$id'")" "active true" "its job was recorded as running"
etl queue add boom --task hello >/dev/null
start_controller a
wait_until 20 qis "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$id'" "failed 1"
ok $? "the restarted controller finds the job's run gone and retries it (then it fails for good)"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$id' AND e.type = 'aborter:INITIAL'")" 1 "one INITIAL"
stop_controller a TERM
done_testing
