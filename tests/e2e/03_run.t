#!/usr/bin/env bash
# etl run: the hello task end to end, exit statuses and signals (issue 2, #5 and #6).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db

run etl run hello '{"name":"ada"}'
is "$rc" 0 "etl run hello exits 0"
is "$out" "hello, ada" "the task's output reaches the terminal"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$job'")
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND type = 'hello:INITIAL'")" 1 "exactly one hello:INITIAL"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND type = 'hello:FINAL'")" 1 "exactly one hello:FINAL"
is "$(q "SELECT payload FROM etl.event WHERE etl_context_id = $ctx AND type = 'hello:FINAL'")" '{"greeting": "hello, ada"}' "FINAL payload is the greeting"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND type = 'hello:PROGRESS'")" 2 "with progress events"
is "$(q "SELECT status FROM etl.etl_context WHERE etl_context_id = $ctx")" DONE "the context is DONE"
run etl show "$job" --json
like "$out" '"state":\s*"completed"' "etl show --json says completed"
like "$out" '"greeting":\s*"hello, ada"' "with the FINAL payload as output"
run etl events "$ctx"
is "$(printf '%s\n' "$out" | wc -l)" 4 "etl events lists the four events"
run etl events "$job" --follow --json
is "$rc" 0 "etl events --follow of a DONE context ends"
like "$out" 'hello:FINAL' "and printed the FINAL"

# done is done: the store refuses events after FINAL, in the database itself
run etl dispatch --context "$ctx" hello:PROGRESS '{}'
is "$rc" 1 "an event after FINAL is refused"
like "$err" "is DONE" "because the context is DONE"

# a task in any language: the shell hello
run etl run hello_sh '{"name":"bob"}'
is "$rc" 0 "etl run hello_sh exits 0"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT output FROM etl.job WHERE id = '$job'")" '{"greeting": "hello, bob"}' "its FINAL from etl dispatch is the job's output"
is "$(q "SELECT state FROM etl.job WHERE id = '$job'")" completed "and it is completed"

# a task that exits 0 without FINAL gets one with a null payload
run etl run exit_with '{"status": 0}'
is "$rc" 0 "exit_with 0 exits 0"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$job'")
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND type = 'exit_with:FINAL' AND payload IS NULL")" 1 "a FINAL with a null payload is recorded"

# exit 3: an ERROR naming the exit status
run etl run exit_with '{"status": 3}'
is "$rc" 3 "etl run exits with the task's status 3"
like "$err" "exit status 3" "and says so"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$job'")
is "$(q "SELECT payload->>'exit_status' FROM etl.event WHERE etl_context_id = $ctx AND type = 'exit_with:ERROR'")" 3 "the ERROR event names exit status 3"
is "$(q "SELECT status FROM etl.etl_context WHERE etl_context_id = $ctx")" ERROR "the context is in ERROR"
is "$(q "SELECT state FROM etl.job WHERE id = '$job'")" failed "the job failed"

# exit 65: failed for good
run etl run exit_with '{"status": 65}'
is "$rc" 65 "exit 65 passes through"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$job'")" "failed 0" "exit 65: failed, no retry"

# a signal
run etl run exit_with '{"signal": "KILL"}'
is "$rc" 137 "a task killed by SIGKILL: etl run exits 128+9"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$job'")
is "$(q "SELECT payload->>'signal_name' FROM etl.event WHERE etl_context_id = $ctx AND type = 'exit_with:ERROR'")" SIGKILL "the ERROR names the signal"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$job'")" "signal 9 \\(SIGKILL\\)" "so does the job's output"

# hello with bad input: the task's own ERROR, exit 65, no retry
run etl run hello '{"nom":"x"}'
is "$rc" 65 "hello without a name exits 65"
job=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$job'")
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND error")" 1 "exactly one ERROR event (the task's own)"
like "$(q "SELECT output FROM etl.job WHERE id = '$job'")" '"exit_status": 65' "the job's output adds the exit status"

# a task run by hand (no etl run): libetl creates a context and records the run
before=$(q "SELECT count(*) FROM etl.etl_context")
out=$(echo '{"type":"hello:INITIAL","payload":{"name":"cy"}}' | "$ETL_BUILD/tasks/hello")
is "$out" "hello, cy" "./hello < initial.json works"
is "$(q "SELECT count(*) FROM etl.etl_context")" $((before + 1)) "and created a context"
is "$(q "SELECT payload->>'greeting' FROM etl.event WHERE type = 'hello:FINAL' ORDER BY event_id DESC LIMIT 1")" "hello, cy" "with its FINAL"
run "$ETL_BUILD/tasks/hello" </dev/null
is "$rc" 75 "a task given an empty stdin exits 75 (its controller died before handing the INITIAL: tried again)"
like "$err" "no INITIAL event on stdin" "with a one-line reason"
run sh -c "printf '{\"type\": ]}' | '$ETL_BUILD/tasks/hello'"
is "$rc" 65 "a task given a malformed INITIAL exits 65"
like "$err" "malformed JSON" "with a one-line reason"
run sh -c "printf '{\"type\": ' | '$ETL_BUILD/tasks/hello'"
is "$rc" 75 "one cut short exits 75 (its controller died while handing it over: tried again)"
like "$err" "cut short" "  saying so"
done_testing
