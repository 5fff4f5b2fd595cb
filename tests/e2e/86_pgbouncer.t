#!/usr/bin/env bash
# Behind PgBouncer in transaction mode (issue 22, point 1): a real PgBouncer (Debian's,
# started here) pools the tasks' and the CLI's connections, two server connections for
# all of them; the controllers talk to PostgreSQL directly (they hold session state).
# Jobs of libetl tasks, etl send and etl run, a cancel, sub-tasks and a controller
# killed: nothing run twice, nothing stuck, no lock left on the server.  A controller
# or etl-api pointed at the transaction pool refuses to start, saying why.
. "$ETL_TOP/tests/lib/tap.sh"
. "$ETL_TOP/tests/lib/cluster.sh"
reset_db
trap 'stop_controller pa KILL; stop_controller pb KILL; pgbouncer_stop' EXIT
pgbouncer_start transaction 2
ok $? "PgBouncer runs in transaction mode, 2 server connections"
POOL=$PGB_DIR/pg_service.conf
# PgBouncer 1.18 refuses the startup parameter "options" (PGOPTIONS) from its clients
pooled() { env -u PGOPTIONS PGSERVICEFILE="$POOL" "$@"; }
pq() { pooled psql -X -q -A -t -v ON_ERROR_STOP=1 "service=test" -c "$1"; }
is "$(pq "SHOW pool_mode" 2>/dev/null || pq "SELECT 'reached'")" reached "psql reaches the database through it"
nlocks() { q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid NOT IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'etl-controller')"; }

# the controller and etl-api refuse the transaction pool, saying why
run pooled etl-controller --id refuse --log-dir "$ETL_TMP/logs" --user root
is "$rc" 1 "a controller on the transaction pool exits 1"
like "$err" "transaction pooler: the controller needs sessions of its own" "  saying it needs sessions of its own"
run pooled timeout 10 etl-api --listen 127.0.0.1:0 --anonymous
is "$rc" 1 "etl-api on the transaction pool exits 1"
like "$err" "transaction pooler: etl-api needs sessions of its own" "  saying why"
ok "$(pooled etl ls >/dev/null; echo $?)" "etl ls works through it"

# 300 jobs of a libetl task, sent through the pool; tasks connect through it
etl queue add hello --task hello >/dev/null
start_controller pa --concurrency 8 --task-service-file "$POOL"
seq 1 300 | sed 's/.*/{"name": "n&"}/' | pooled etl send hello --ndjson - >/dev/null
wait_until 120 all_in 300 completed hello
ok $? "300 libetl jobs completed, their tasks through a pool of 2 server connections"
is "$(q "SELECT count(*) FROM etl.event WHERE type = 'hello:INITIAL'")" 300 "  each ran once (300 INITIAL events)"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hello' AND retry_count > 0")" 0 "  none retried"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hello' AND attached")" 300 "  each task attached to its run (its proof checked) through the pool"
is "$(nlocks)" 0 "no advisory lock held on the server but the controller's"
like "$(tail -n 5 "$PGB_DIR/pgbouncer.log")" "." "PgBouncer logged (its log: $PGB_DIR/pgbouncer.log)"

# etl run in the foreground, through the pool
run pooled etl run hello '{"name": "pooled"}'
is "$rc" 0 "etl run through the pool exits 0"
like "$out" "hello, pooled" "  with its FINAL"

# cancel through the pool reaches a running task (the controller LISTENs directly)
etl queue add long --task sleeper >/dev/null
id=$(pooled etl send long '{"seconds": 600}')
wait_until 20 qis "SELECT attached FROM etl.job WHERE id = '$id'" t
ok $? "a long task attached through the pool"
pid=$(q "SELECT pid FROM etl.job WHERE id = '$id'")
run pooled etl cancel "$id"
is "$rc" 0 "etl cancel through the pool"
wait_until 15 eval "! alive $pid"
ok $? "  the task is stopped"
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" cancelled "  and its job cancelled"

# sub-tasks: a parent waits for three children through the pool (it polls, no LISTEN)
etl queue add parent --task parent >/dev/null
etl queue add child --task sleeper >/dev/null
p=$(pooled etl send parent '{"seconds": 0.05}')
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$p'" completed
ok $? "a parent with three sub-tasks completes"
is "$(q "SELECT jsonb_array_length(output->'children') FROM etl.job WHERE id = '$p'")" 3 "  with its three children's outputs"
span=$(q "SELECT round(extract(epoch FROM completed_on - started_on)::numeric, 2) FROM etl.job WHERE id = '$p'")
diag "the parent ran $span s for three children of 0.05 s"
ok "$(awk -v s="$span" 'BEGIN { exit !(s < 5) }'; echo $?)" "  seen within seconds, not at a 5 s fallback"

# a controller killed with tasks running; its tasks die too; another rescues the jobs
# after the lease bound, and they run again once each
stop_controller pa TERM
etl queue add slow --task sleeper --retry-limit 2 >/dev/null
start_controller pa --concurrency 4 --task-service-file "$POOL" --lease 3 --heartbeat 0.5 --kill-grace 1 --queues slow
for i in 1 2 3 4; do pooled etl send slow '{"seconds": 1.5}' >/dev/null; done
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND state = 'active' AND attached" 4
ok $? "four tasks run through the pool"
pids=$(q "SELECT pid FROM etl.job WHERE queue = 'slow'")
stop_controller pa KILL
# shellcheck disable=SC2086
for k in $pids; do kill -9 -- "-$k" 2>/dev/null; done
start_controller pb --concurrency 4 --task-service-file "$POOL" --dead-after 2 --queues slow
wait_until 40 all_in 4 completed slow
ok $? "another controller rescues them after pa's lease bound and they complete"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'slow' AND retry_count = 1")" 4 "  each retried once"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'slow' AND e.type = 'sleeper:FINAL'")" 4 "  one FINAL each: none ran to its end twice"
# runs of one job never overlap: each second run started after the first one's end
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'slow' AND e.error AND e.payload->>'message' LIKE '%lease ran out%'")" 4 "  the first runs were failed once the lease ran out, no sooner"
is "$(q "SELECT count(*) FROM etl.job WHERE state = 'active'")" 0 "nothing stuck active"
stop_controller pb TERM
is "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0 "no advisory lock left on the server"
done_testing
