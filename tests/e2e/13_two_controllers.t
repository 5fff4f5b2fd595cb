#!/usr/bin/env bash
# Two controllers on one database: every job once (1,000 of a limited queue), queue
# concurrency across both; a dead controller's jobs are failed and retried by the other
# (issue 3, #5 #8).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL; stop_controller b KILL' EXIT

etl queue add limited --task hello --concurrency 3 >/dev/null
start_controller a --concurrency 4
start_controller b --concurrency 4
seq 1 1000 | sed 's/.*/{"name": "n&"}/' | etl send limited --ndjson - >/dev/null
wait_until 180 all_in 1000 completed limited
ok $? "1,000 jobs completed by two controllers"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:INITIAL'")" 1000 "each ran once: 1,000 INITIAL events"
is "$(q "SELECT count(DISTINCT etl_context_id) FROM etl.event WHERE type = 'hello:INITIAL'")" 1000 "in 1,000 contexts"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'limited'")" 2 "both controllers took part"
# from the events: each run spans its first PROGRESS to its FINAL
maxc=$(q "WITH iv AS (SELECT etl_context_id, min(created_on) FILTER (WHERE type = 'hello:PROGRESS') AS s, max(created_on) FILTER (WHERE type = 'hello:FINAL') AS e FROM etl.event GROUP BY etl_context_id) SELECT max((SELECT count(*) FROM iv b WHERE b.s <= a.s AND b.e > a.s)) FROM iv a")
diag "most runs at once, from the events: $maxc"
ok $([ "$maxc" -le 3 ] && [ "$maxc" -ge 1 ]; echo $?) "never more than the queue's concurrency (3) at once"
stop_controller a TERM
stop_controller b TERM

# 8: a is killed with its tasks; b fails and retries them after a's lease bound (tasks
# hold no lock of their own: their keepers and a's lease are their liveness)
etl queue add slow --task sleeper --retry-limit 1 >/dev/null
start_controller a --concurrency 3 --lease 3 --heartbeat 0.5 --kill-grace 1
for i in 1 2 3; do etl send slow '{"seconds": 60}' >/dev/null; done
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND state = 'active' AND attached" 3
ok $? "a runs three libetl tasks"
pids=$(q "SELECT pid FROM etl.job WHERE queue = 'slow'")
start_controller b --concurrency 3 --dead-after 3 --queues hello
stop_controller a KILL
for p in $pids; do kill -9 -- "-$p" 2>/dev/null; done
t0=$SECONDS
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND state = 'retry' AND retry_count = 1" 3
ok $? "b fails and retries a's three jobs"
diag "$((SECONDS - t0)) s after the kill (heartbeat bound 3 s, lease bound 6 s)"
ok $([ $((SECONDS - t0)) -le 16 ]; echo $?) "within 10 s of the first check after the lease bound"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'slow' AND e.error AND e.payload->>'message' LIKE '%lease ran out%'")" 3 "each has an ERROR saying a's lease ran out"
done_testing
