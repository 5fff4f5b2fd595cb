#!/usr/bin/env bash
# Debugging detached tasks: --debug-wait and gdb, etl debug, etl run --gdb and
# --context, core dumps (issue 5).
. "$ETL_TOP/tests/lib/tap.sh"
if ! command -v gdb >/dev/null; then
	echo "1..0 # SKIP gdb is not installed"
	exit 0
fi
reset_db
trap 'stop_controller c1 KILL' EXIT
etl queue add dbg --task hello >/dev/null
etl queue add sleep --task sleeper >/dev/null
start_controller c1

# 1: --debug-wait: the task waits; gdb attaches and sees its context; then it completes
id=$(etl send dbg '{"name":"dbg"}' --debug-wait)
wait_until 10 qge "SELECT count(*) FROM etl.job WHERE id = '$id' AND progress->>'message' LIKE 'waiting for debugger%'" 1
ok $? "the job shows 'waiting for debugger'"
run etl show "$id"
like "$out" "waiting for debugger: gdb -p" "etl show says so"
# the job's pid is its keeper's (etl-keeper); the task is the keeper's child
kpid=$(q "SELECT pid FROM etl.job WHERE id = '$id'")
is "$(cat /proc/$kpid/comm)" etl-keeper "the job's recorded pid is its keeper's"
pid=$(awk '{ print $1 }' "/proc/$kpid/task/$kpid/children")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$id'")
log=$(q "SELECT log_path FROM etl.job WHERE id = '$id'")
like "$(cat "$log")" "waiting for debugger: gdb -p $pid" "its log says how to attach"
sleep 0.5
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" active "it waits"
out=$(gdb -batch -p "$pid" -x "$ETL_TOP/contrib/gdb/etl.py" -ex etl-context -ex detach 2>&1)
like "$out" "etl_context_id *= $ctx" "gdb's etl-context shows its etl_context_id"
like "$out" "pg_env *= test" "and its pg_env"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id'" completed
ok $? "after gdb detached, the job completes normally"
like "$(cat "$log")" "debugger attached" "its log says a debugger attached"

# 2: etl debug --print for an active job; completed and unknown ones are refused
sid=$(etl send sleep '{"seconds": 30}')
wait_until 10 qis "SELECT attached FROM etl.job WHERE id = '$sid'" t
skpid=$(q "SELECT pid FROM etl.job WHERE id = '$sid'")
spid=$(awk '{ print $1 }' "/proc/$skpid/task/$skpid/children")
sctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$sid'")
run etl debug --print "$sid"
is "$rc" 0 "etl debug --print of an active job exits 0"
like "$out" "^gdb -q -p $spid -x .*etl.py /proc/$spid/exe$" "and prints a gdb command"
gout=$(eval "$out -batch -ex etl-context -ex detach" 2>&1)
like "$gout" "etl_context_id *= $sctx" "the printed command works: etl-context shows the context"
like "$gout" "this thread's context|the task's context" "read from the task's memory"
etl cancel "$sid" >/dev/null
run etl debug "$id"
is "$rc" 1 "etl debug of a completed job exits 1"
like "$err" "is completed: no process" "with a clear message"
run etl debug 00000000-0000-0000-0000-000000000000
is "$rc" 3 "etl debug of an unknown job exits 3"
like "$err" "no job" "with a clear message"
later=$(etl send dbg '{"name":"later"}' --start-after 3600)
run etl debug "$later"
is "$rc" 3 "etl debug of a job not started yet exits 3"

# 3: ETL_DEBUG_WAIT with no debugger goes on after ETL_DEBUG_WAIT_SECONDS
ETL_DEBUG_WAIT=1 ETL_DEBUG_WAIT_SECONDS=1 run etl run hello '{"name":"w"}'
is "$rc" 0 "ETL_DEBUG_WAIT=1 ETL_DEBUG_WAIT_SECONDS=1 etl run hello completes"
like "$err" "no debugger attached after 1 s" "after saying it waited 1 s"

# 4: a failed job is re-run with etl run --context once its task is fixed
mkdir -p "$ETL_TMP/fix"
printf '#!/bin/sh\ncat >/dev/null\necho broken >&2\nexit 3\n' > "$ETL_TMP/fix/fixme"
chmod 0755 "$ETL_TMP/fix/fixme"
export ETL_TASK_PATH="$ETL_TASK_PATH:$ETL_TMP/fix"
stop_controller c1 TERM
start_controller c1
etl queue add fixq --task fixme --retry-limit 0 >/dev/null
fid=$(etl send fixq '{"x": 1}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$fid'" failed
ok $? "the broken task's job failed"
fctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$fid'")
printf '#!/bin/sh\ncat >/dev/null\netl dispatch :FINAL %s\n' "'{\"fixed\": true}'" > "$ETL_TMP/fix/fixme.new"
chmod 0755 "$ETL_TMP/fix/fixme.new"
mv "$ETL_TMP/fix/fixme.new" "$ETL_TMP/fix/fixme"
run etl run --context "$fctx"
is "$rc" 0 "etl run --context re-runs the fixed task"
is "$(q "SELECT status FROM etl.etl_context WHERE etl_context_id = $fctx")" DONE "its context is DONE"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $fctx AND type LIKE '%:INITIAL'")" 1 "with one INITIAL"
is "$(q "SELECT state || ' ' || (output->>'fixed') FROM etl.job WHERE id = '$fid'")" "completed true" "and its job completed with the FINAL"
run etl run --context "$fctx"
is "$rc" 1 "etl run --context of a DONE context is refused"
like "$err" "is DONE" "saying why"
ETL_GDB_ARGS='-batch -ex run' run etl run hello '{"name":"gdb"}' --gdb
is "$rc" 0 "etl run --gdb under gdb -batch -ex run completes"
like "$err" "under gdb: job .* completed" "and records the job completed"
j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT output->>'greeting' FROM etl.job WHERE id = '$j'")" "hello, gdb" "with its FINAL"

# 5: keep_cores: a task that aborts; the ERROR names SIGABRT and its core file
etl queue add cores --task aborter --keep-cores --retry-limit 0 >/dev/null
cid=$(etl send cores '{}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$cid'" failed
ok $? "the aborting task's job failed"
cctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$cid'")
is "$(q "SELECT payload->>'signal_name' FROM etl.event WHERE etl_context_id = $cctx AND error")" SIGABRT "its ERROR names SIGABRT"
pattern=$(cat /proc/sys/kernel/core_pattern)
case "$ETL_BUILD" in *asan*) pattern="asan";; esac
case "$pattern" in
asan)
	ok 0 "# SKIP AddressSanitizer turns core dumps off (disable_coredump): no core to name"
	ok 0 "# SKIP (the plain build's run checks the core file)"
	;;
"|"*)
	ok 0 "# SKIP core_pattern pipes cores to $pattern: no core file to name"
	ok 0 "# SKIP (no core file here)"
	;;
*)
	core=$(q "SELECT payload->>'core_file' FROM etl.event WHERE etl_context_id = $cctx AND error")
	like "$core" "/cores/$cid/core" "its ERROR names the core file in the job's own folder"
	ok "$([ -s "$core" ]; echo $?)" "the core file exists"
	;;
esac
stop_controller c1 TERM
done_testing
