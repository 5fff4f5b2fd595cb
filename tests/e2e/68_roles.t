#!/usr/bin/env bash
# Least privilege (issue 16, points 1 and 5): etl migrate makes five roles; each login
# that has one can do what it needs and nothing more (the README's table, a test a row);
# a hostile task, run by a controller whose tasks log in as etl_task, fails every attempt
# to reach beyond its own run, and its own end is recorded.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller rc KILL' EXIT
for r in t_admin t_ctl t_send t_view t_task; do
	q "DROP ROLE IF EXISTS $r" >/dev/null
done
q "CREATE ROLE t_admin LOGIN IN ROLE etl_admin; CREATE ROLE t_ctl LOGIN IN ROLE etl_controller;
   CREATE ROLE t_send LOGIN IN ROLE etl_sender; CREATE ROLE t_view LOGIN IN ROLE etl_viewer;
   CREATE ROLE t_task LOGIN IN ROLE etl_task" >/dev/null
is "$(q "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'etl\_%'")" \
	"etl_admin,etl_controller,etl_sender,etl_task,etl_viewer" "etl migrate made the five roles"
# a service file per login: the same pg_env names, another user
for r in t_admin t_ctl t_send t_view t_task; do
	sed "s/^user=postgres/user=$r/" "$PGSERVICEFILE" >"$ETL_TMP/svc_$r.conf"
	chmod 0644 "$ETL_TMP/svc_$r.conf"
done
as() { local r=$1; shift; env -u PGUSER PGSERVICEFILE="$ETL_TMP/svc_$r.conf" "$@"; }
# can ROLE CMD...: exit 0; cannot ROLE CMD...: refused for want of a privilege
can() { local r=$1; shift; as "$r" "$@" >/dev/null 2>"$ETL_TMP/err"; }
cannot() {
	local r=$1; shift
	! as "$r" "$@" >/dev/null 2>"$ETL_TMP/err" && grep -q "permission denied" "$ETL_TMP/err"
}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 service=test -c)

etl queue add rq --task hello --retry-limit 0 >/dev/null
j=$(etl send rq '{"name": "seen"}')

# viewer
ok $(can t_view etl ls; echo $?) "viewer: etl ls"
ok $(can t_view etl show "$j"; echo $?) "viewer: etl show"
ok $(cannot t_view etl send rq '{}'; echo $?) "viewer: not etl send"
ok $(cannot t_view etl cancel "$j"; echo $?) "viewer: not etl cancel"
# sender
ok $(can t_send etl send rq '{"name": "by sender"}'; echo $?) "sender: etl send"
ok $(can t_send sh -c "printf '{\"name\": \"a\"}\n{\"name\": \"b\"}\n' | etl send rq --ndjson -"; echo $?) "sender: etl send --ndjson"
ok $(can t_send etl cancel "$j"; echo $?) "sender: etl cancel"
ok $(can t_send etl retry "$j"; echo $?) "sender: etl retry"
ok $(cannot t_send etl queue add sq --task hello; echo $?) "sender: not etl queue add"
ok $(cannot t_send "${PSQL[@]}" "UPDATE etl.job SET state = 'completed'"; echo $?) "sender: not UPDATE etl.job"
ok $(cannot t_send "${PSQL[@]}" "SELECT * FROM etl.claim(NULL, 1, 'x', 'h', NULL)"; echo $?) "sender: not etl.claim"
# controller
ok $(cannot t_ctl "${PSQL[@]}" "UPDATE etl.queue SET run_as = 'root'"; echo $?) "controller: not UPDATE etl.queue (run_as)"
ok $(cannot t_ctl etl send rq '{}'; echo $?) "controller: not etl send"
ok $(can t_ctl "${PSQL[@]}" "SELECT count(*) FROM etl.claim(ARRAY['none'], 1, 'probe', 'h', NULL)"; echo $?) "controller: etl.claim"
# admin
ok $(can t_admin etl queue add aq --task hello --run-as nobody; echo $?) "admin: etl queue add --run-as"
ok $(can t_admin etl schedule add as1 aq '0 0 * * *'; echo $?) "admin: etl schedule add"
# task (its functions are tried by the hostile task below)
ok $(cannot t_task "${PSQL[@]}" "SELECT count(*) FROM etl.job"; echo $?) "task: not SELECT etl.job"
ok $(cannot t_task "${PSQL[@]}" "INSERT INTO etl.queue (name, task) VALUES ('tq', 'hello')"; echo $?) "task: not INSERT etl.queue"

# A controller that logs in as etl_controller; its tasks as etl_task (--task-service-file)
asroot=()
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	asroot=(--user nobody --uid-range 61000-61009)
fi
etl queue add victim --task plain --retry-limit 0 >/dev/null
etl queue add hostile --task hostile_db --retry-limit 0 >/dev/null
etl queue add legit --task hello --retry-limit 0 >/dev/null
etl queue add legit_sh --task plain --retry-limit 0 >/dev/null
CTL_WRAPPER="env -u PGUSER PGSERVICEFILE=$ETL_TMP/svc_t_ctl.conf" start_controller rc \
	--concurrency 4 --task-service-file "$ETL_TMP/svc_t_task.conf" "${asroot[@]}"
is "$(q "SELECT usename FROM pg_stat_activity WHERE application_name = 'etl-controller' LIMIT 1")" t_ctl "the controller is logged in as t_ctl"

l=$(etl send legit '{"name": "task role"}')
ls_=$(etl send legit_sh '{"ticks": 3}')
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE id IN ('$l', '$ls_') AND state = 'completed'" 2
ok $? "a libetl task and a shell task (etl progress, etl dispatch) complete as etl_task, through their run's proof"
is "$(q "SELECT output->>'greeting' FROM etl.job WHERE id = '$l'")" "hello, task role" "the libetl task's FINAL is recorded"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$ls_' AND e.type = 'plain:PROGRESS'")" 3 "the shell task's progress is recorded"

v=$(etl send victim '{"seconds": 8}')
wait_until 20 qge "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$v' AND e.type = 'plain:RUN_START'" 1
vctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$v'")
vevents=$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $vctx")
vk=$(q "SELECT pid FROM etl.job WHERE id = '$v'")
vpid=$(awk '{ print $1 }' "/proc/$vk/task/$vk/children")
h=$(etl send hostile "{\"job\": \"$v\", \"ctx\": $vctx, \"pid\": $vpid}")
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$h'" completed
ok $? "the hostile job's own end is recorded (completed, through its proof)"
out=$(q "SELECT output::text FROM etl.job WHERE id = '$h'")
diag "$out"
like "$out" '"has_secret": true' "the task had its run's secret (fd 3)"
for k in queue_insert queue_add dispatch_other task_event_other update_job read_payload send cancel guess_secret; do
	like "$out" "\"$k\": \"denied\"" "hostile task: $k denied"
done
if [ ${#asroot[@]} -gt 0 ]; then
	like "$out" '"signal": "denied"' "hostile task: signal to the other job's task denied (--uid-range)"
else
	ok 0 "# SKIP signals between tasks need root and --uid-range (67_uid_range.t)"
fi
like "$out" '"env_leak": 0' "its environment and argv hold no PGUSER, PGPASSFILE or run secret"
like "$out" "\"service_file\": \"$ETL_TMP/svc_t_task.conf\"" "and the task service file, not the controller's"
is "$(q "SELECT count(*) FROM etl.queue WHERE name LIKE 'evil%'")" 0 "no queue was made"
is "$(q "SELECT state FROM etl.job WHERE id = '$v'")" active "the victim job is untouched (still active)"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $vctx")" "$vevents" "no event was added to the victim's context"
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$v'" completed
ok $? "the victim completes normally"
ok $(! grep -q "$(q "SELECT encode(run_secret, 'hex') FROM etl.job WHERE id = '$v'")" "$ETL_TMP/rc.log"; echo $?) "the controller's log holds no run secret hash"
stop_controller rc TERM

# a run that is over writes nothing: its proof is refused (ET014)
run psql -X -q -v ON_ERROR_STOP=1 "service=test" -c "SELECT etl.task_progress('$v', 1, 'x', '{}')"
like "$err" "is not the job's current run" "a finished run's writes are refused"
done_testing
