#!/usr/bin/env bash
# Tasks of different jobs cannot signal or trace each other (issue 16, point 3): with
# --uid-range a root controller runs each task of a queue without run_as under a uid of
# its own; without it (the default) tasks share --user's uid, and can.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller u KILL' EXIT
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	for i in $(seq 1 12); do ok 0 "# SKIP needs root and a nobody user"; done
	done_testing
fi
etl queue add victim --task plain --retry-limit 0 >/dev/null
etl queue add hostile --task hostile --retry-limit 0 >/dev/null

# task_pid JOB: the pid of its task (the child of its keeper, the job's pid)
task_pid() {
	local k
	k=$(q "SELECT pid FROM etl.job WHERE id = '$1'")
	awk '{ print $1 }' "/proc/$k/task/$k/children"
}
attack() {	# attack: a victim job runs; a hostile job tries to reach it; prints its FINAL
	local v h
	v=$(etl send victim '{"seconds": 30}')
	wait_until 20 qge "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$v' AND e.type = 'plain:RUN_START'" 1
	victim_pid=$(task_pid "$v")
	victim_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$victim_pid/status")
	h=$(etl send hostile "{\"target\": $victim_pid}")
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$h'" completed
	final=$(q "SELECT output::text FROM etl.job WHERE id = '$h'")
	victim_state=$(q "SELECT state FROM etl.job WHERE id = '$v'")
	etl cancel "$v" >/dev/null
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$v'" cancelled
}

start_controller u --user nobody --uid-range 61000-61009 --concurrency 4
attack
like "$final" '"signal": "denied"' "with --uid-range, a task cannot signal another job's task"
like "$final" '"environ": "denied"' "nor read its environment"
like "$final" '"maps": "denied"' "nor its memory map (ptrace access)"
huid=$(printf '%s' "$final" | sed -n 's/.*"uid": *\([0-9]*\).*/\1/p')
ok $([ "$victim_uid" -ge 61000 ] && [ "$victim_uid" -le 61009 ]; echo $?) "the victim runs under a uid of the range ($victim_uid)"
ok $([ "$huid" -ge 61000 ] && [ "$huid" -le 61009 ] && [ "$huid" -ne "$victim_uid" ]; echo $?) "the hostile task under another ($huid)"
is "$victim_state" active "the victim ran on, untouched"
is "$(stat -c %u "$(q "SELECT log_path FROM etl.job WHERE queue = 'victim' ORDER BY created_on DESC LIMIT 1")")" "$victim_uid" "its log belongs to its uid"
stop_controller u TERM

# the default: tasks share --user's uid, and the same attempts succeed
start_controller u --user nobody --concurrency 4
attack
like "$final" '"signal": "allowed"' "without --uid-range, tasks share nobody's uid: a task can signal another"
stop_controller u TERM

run etl-controller --uid-range 0-10
is "$rc" 2 "a range with uid 0 is refused"
run etl-controller --uid-range "$(id -u nobody)-$(id -u nobody)" --concurrency 1
like "$err" "holds the uid $(id -u nobody) of the account 'nobody'" "a range holding an account's uid is refused"
run etl-controller --uid-range 61000-61001 --concurrency 4
like "$err" "fewer than --concurrency" "a range smaller than the concurrency is refused"
done_testing
