#!/usr/bin/env bash
# Tasks as DAMA wrote them (issue 20, DAMA): a task that returns its FINAL event has it
# recorded as is (C, Node.js, Python); the Node.js package (installed with npm install
# ./contrib/node/etl-task) and the Python module each run sync and async mains, FINAL
# returned or dispatched, progress and events in the run's own access, errors mapped to
# exit codes (65 not retried, 75 retried); --debug-wait opens an inspector that answers.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller gl KILL' EXIT

# the task folder: the Node package installed by npm beside its task, the Python module
nt=$ETL_TMP/glue_tasks
rm -rf "$nt"; mkdir -p "$nt"
have_node=0
if command -v node >/dev/null && command -v npm >/dev/null; then
	if (cd "$nt" && npm install --no-audit --no-fund --offline --silent "$ETL_TOP/contrib/node/etl-task" >/dev/null 2>&1); then
		have_node=1
		cp "$ETL_TOP/tests/tasks/node_task.js" "$nt/node_task"
	fi
fi
ok $((1 - have_node)) "npm install ./contrib/node/etl-task"
cp "$ETL_TOP/tests/tasks/py_task.py" "$nt/py_task"
# the module beside the task (a script's folder is on its sys.path)
cp "$ETL_TOP/contrib/python/etl_task.py" "$nt/"
chmod 0755 "$nt"/*_task
chmod -R a+rX "$nt"
ETL_TASK_PATH="$nt:$ETL_TASK_PATH" start_controller gl --concurrency 8
etl queue add fe --task final_event --retry-limit 0 >/dev/null
etl queue add nq --task node_task --retry-limit 1 >/dev/null
etl queue add pq --task py_task --retry-limit 1 >/dev/null

done_in() { wait_until 30 qis "SELECT state IN ('completed', 'failed') FROM etl.job WHERE id = '$1'" t; }
final_of() {	# final_of JOB: "TYPE PAYLOAD" of its context's last event
	q "SELECT e.type || ' ' || coalesce(e.payload::text, 'null') FROM etl.event e JOIN etl.job j
	   ON j.etl_context_id = e.etl_context_id WHERE j.id = '$1' ORDER BY e.event_id DESC LIMIT 1"
}

# ---- C: a returned FINAL event is recorded as is
for as in own bare; do
	j=$(etl send fe "{\"as\": \"$as\"}")
	done_in "$j"
	is "$(final_of "$j")" 'final_event:FINAL {"as": "is"}' "C: a returned FINAL event ($as) is recorded as is, not wrapped"
done
j=$(etl send fe '{"as": "plain"}')
done_in "$j"
is "$(final_of "$j")" 'final_event:FINAL {"type": "a kind of thing", "payload": {"as": "is"}}' "C: a payload with a type that is no FINAL is a payload"

# ---- the same shapes in Node.js and Python
glue() {	# glue QUEUE TASK LABEL
	local qn=$1 t=$2 l=$3 j
	j=$(etl send "$qn" '{"mode": "sync", "n": 21}'); done_in "$j"
	is "$(final_of "$j")" "$t:FINAL {\"doubled\": 42}" "$l: a sync main's result is the FINAL's payload"
	j=$(etl send "$qn" '{"mode": "async", "n": 7}'); done_in "$j"
	is "$(final_of "$j")" "$t:FINAL {\"n\": 7, \"waited\": true}" "$l: an async main's too"
	j=$(etl send "$qn" '{"mode": "final_event"}'); done_in "$j"
	is "$(final_of "$j")" "$t:FINAL {\"as\": \"is\"}" "$l: a returned FINAL event is recorded as is"
	j=$(etl send "$qn" '{"mode": "dispatch"}'); done_in "$j"
	is "$(final_of "$j") $(q "SELECT count(*) FROM etl.event e JOIN etl.job j ON j.etl_context_id = e.etl_context_id WHERE j.id = '$j' AND e.type LIKE '%:FINAL'")" \
		"$t:FINAL {\"dispatched\": true} 1" "$l: a dispatched FINAL, once"
	j=$(etl send "$qn" '{"mode": "events"}'); done_in "$j"
	# progress at most four a second, the last always: the first and the last step land
	like "$(q "SELECT string_agg(split_part(e.type, ':', 2), ',' ORDER BY e.event_id) FILTER (WHERE e.type NOT LIKE '%:PROGRESS') || ' ' || count(*) FILTER (WHERE e.type LIKE '%:PROGRESS') FROM etl.event e JOIN etl.job j ON j.etl_context_id = e.etl_context_id WHERE j.id = '$j'")" \
		"^INITIAL,ROW,ROW,ROW,FINAL [23]$" "$l: events in order, in the run's context, progress throttled"
	is "$(q "SELECT progress->>'message' FROM etl.job WHERE id = '$j'")" "step 3" "$l: the job's progress"
	j=$(etl send "$qn" '{"mode": "bad"}'); done_in "$j"
	is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$j'") $(final_of "$j" | cut -d' ' -f1)" \
		"failed 0 $t:ERROR" "$l: BadInput: exit 65, failed, not retried"
	like "$(final_of "$j")" '"message": "n must be a number"' "$l:   the ERROR says why"
	j=$(etl send "$qn" '{"mode": "retry"}'); done_in "$j"
	is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$j'")" "failed 1" "$l: Retry: exit 75, retried"
	j=$(etl send "$qn" '{"mode": "crash"}'); done_in "$j"
	is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$j'")" "failed 1" "$l: an error thrown: retried per the queue, then failed"
	like "$(final_of "$j")" '"message": "boom"' "$l:   with its message"
}
if [ "$have_node" = 1 ]; then
	glue nq node_task Node
else
	ok 1 "Node.js and npm are needed for the Node tests"
fi
glue pq py_task Python
j=$(etl send pq '{"mode": "exact", "n": 8999999999999999999, "x": 123456789012345678901234567890.000000000000000001}'); done_in "$j"
is "$(final_of "$j")" 'py_task:FINAL {"n": 8999999999999999999, "x": 123456789012345678901234567890.000000000000000001}' "Python: numbers stay exact both ways"
# progress through one `etl progress --stream` (a pipe write a report, not a process and
# a connection): all recorded, and in the order made around the task's own events
t0=$(date +%s.%N)
j=$(etl send pq '{"mode": "many"}'); done_in "$j"
t1=$(date +%s.%N)
evs() { q "SELECT string_agg(CASE WHEN e.type LIKE '%:PROGRESS' THEN coalesce(e.payload->>'message', '') ELSE split_part(e.type, ':', 2) END, ',' ORDER BY e.event_id) FROM etl.event e JOIN etl.job j ON j.etl_context_id = e.etl_context_id WHERE j.id = '$1'"; }
like "$(evs "$j")" "^INITIAL,p1,(p[0-9]+,)*p100,MID,after the event,FINAL$" "Python: 100 reports through one stream (libetl keeps four a second and the last; $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s for the job), in the order made around the task's own event"
# the stream itself, from a task in shell: a bad line is said and skipped
etl queue add sq --task stream --retry-limit 0 >/dev/null
j=$(etl send sq '{}'); done_in "$j"
is "$(evs "$j")" "INITIAL,one,two words,three,FINAL" "etl progress --stream: one report a line, the message the rest of it"
like "$(cat "$ETL_TMP/logs/$j.log")" "line 2: want DONE TOTAL \[MESSAGE\]" "  a malformed line is said, and skipped"
like "$(cat "$ETL_TMP/logs/$j.log")" "stream exit 1" "  and its exit status says one was"

# ---- an INITIAL never handed over (empty stdin) or cut short (its controller died while
#      writing it) is tried again (exit 75), as etl-task(7) asks; one malformed within
#      is bad input (65).  Each glue, run by hand on such a stdin.
stdin_rc() {	# stdin_rc TEXT CMD...: the exit status of CMD reading TEXT
	local t=$1; shift
	printf '%s' "$t" | "$@" >/dev/null 2>&1
	echo $?
}
for g in "C libetl:$ETL_BUILD/tasks/hello:hello" "Python:$nt/py_task:py_task" "Node:$nt/node_task:node_task"; do
	l=${g%%:*} rest=${g#*:}; cmd=${rest%%:*} t=${rest#*:}
	if [ "$l" = Node ] && [ "$have_node" != 1 ]; then continue; fi
	is "$(stdin_rc '' "$cmd") $(stdin_rc "{\"type\":\"$t:INITIAL\",\"payload\":{\"n\":1" "$cmd") $(stdin_rc "{\"type\":\"$t:INITIAL\",\"payload\":{\"n\":]}}" "$cmd")" \
		"75 75 65" "$l: an empty INITIAL and one cut short exit 75 (tried again); one malformed within, 65"
done

# ---- --debug-wait: the inspector answers on its port; the job shows where
if [ "$have_node" = 1 ]; then
	j=$(etl send nq '{"mode": "sync", "n": 1}' --debug-wait)
	wait_until 20 qge "SELECT count(*) FROM etl.job WHERE id = '$j' AND progress->>'message' LIKE 'waiting for debugger: node inspector ws://%'" 1
	ok $? "Node --debug-wait: the job's progress gives the inspector's URL"
	url=$(q "SELECT progress->>'message' FROM etl.job WHERE id = '$j'" | grep -o 'ws://[^ ]*')
	port=$(printf '%s' "$url" | sed 's|ws://127.0.0.1:\([0-9]*\)/.*|\1|')
	like "$(curl -s "http://127.0.0.1:$port/json/list")" "webSocketDebuggerUrl" "  the inspector answers on port $port (Chrome DevTools attach there)"
	etl cancel "$j" >/dev/null
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" cancelled
	ok $? "  cancelled, the waiting task ends"
fi
if /usr/bin/python3 -c 'import debugpy' 2>/dev/null; then
	j=$(etl send pq '{"mode": "sync", "n": 1}' --debug-wait)
	wait_until 30 qge "SELECT count(*) FROM etl.job WHERE id = '$j' AND progress->>'message' LIKE 'waiting for debugger: debugpy on %'" 1
	ok $? "Python --debug-wait: the job's progress gives debugpy's address"
	port=$(q "SELECT progress->>'message' FROM etl.job WHERE id = '$j'" | sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p')
	reply=$(python3 - "$port" <<'PY'
import json, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
body = json.dumps({"seq": 1, "type": "request", "command": "initialize", "arguments": {"adapterID": "etl-test"}}).encode()
s.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = b""
# messages come in order; the answer to initialize follows any event sent first
while b'"command": "initialize"' not in got and b'"command":"initialize"' not in got:
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
print(got.decode(errors="replace"))
PY
)
	like "$reply" '"command": ?"initialize"' "  debugpy answers a Debug Adapter Protocol request on port $port"
	etl cancel "$j" >/dev/null
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" cancelled
	ok $? "  cancelled, the waiting task ends"
else
	ok 0 "# SKIP python3-debugpy is not installed"
fi
done_testing
