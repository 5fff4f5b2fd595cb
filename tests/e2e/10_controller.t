#!/usr/bin/env bash
# etl-controller: 1,000 jobs, bad tasks, idle latency (issue 3, #1 #7 #9).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT

etl queue add hello --task hello >/dev/null
start_controller c1 --concurrency 8
ok $? "the controller starts and connects"

# 9: an idle controller starts a newly sent job within 2 s
sleep 0.3
id=$(etl send hello '{"name":"first"}')
t0=$(date +%s.%N)
wait_until 2 qis "SELECT pid IS NOT NULL FROM etl.job WHERE id = '$id'" t
ok $? "an idle controller starts a new job within 2 s"
wait_until 5 all_in 1 completed hello
ok $? "and it completes"

# 1: 1,000 hello jobs at concurrency 8
seq 1 1000 | sed 's/.*/{"name": "n&"}/' | etl send hello --ndjson - >/dev/null
wait_until 120 all_in 1001 completed hello
ok $? "1,000 jobs all completed"
is "$(q "SELECT count(*) FROM etl.job j WHERE queue = 'hello' AND (SELECT count(*) FROM etl.event e WHERE e.etl_context_id = j.etl_context_id AND e.type = 'hello:INITIAL') = 1 AND (SELECT count(*) FROM etl.event e WHERE e.etl_context_id = j.etl_context_id AND e.type = 'hello:FINAL') = 1")" 1001 "each context has exactly one INITIAL and one FINAL"
is "$(q "SELECT count(DISTINCT etl_context_id) FROM etl.job WHERE queue = 'hello'")" 1001 "each job its own context"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hello' AND output->>'greeting' = 'hello, ' || (data->>'name')")" 1001 "each job's output is its FINAL payload"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'hello' AND log_path IS NOT NULL AND pid_start_time IS NOT NULL AND host IS NOT NULL")" 1001 "each job has its pid start time, host and log path"
log=$(q "SELECT log_path FROM etl.job WHERE id = '$id'")
like "$(head -1 "$log")" "^--- etl: job $id run 1 \\(attempt 1 of 3\\) on .* at [0-9T:-]+Z ---$" "the log starts with the run's marker"
is "$(sed 1d "$log")" "hello, first" "the task's stdout went to its log"
run etl logs "$id"
is "$(printf '%s\n' "$out" | sed 1d)" "hello, first" "etl logs prints it"
is "$(stat -c %a "$log")" 640 "the log is created 0640"

# 7: a missing task, a non-executable one, 10 MB to stdout, stdin closed at once
mkdir -p "$ETL_TMP/tp2"
printf '#!/bin/sh\nexit 0\n' > "$ETL_TMP/tp2/noexec"
chmod 0644 "$ETL_TMP/tp2/noexec"
etl queue add missing --task no_such_task --retry-limit 0 >/dev/null
etl queue add noexec --task "$ETL_TMP/tp2/noexec" --retry-limit 0 >/dev/null
etl queue add writer --task writer --retry-limit 0 >/dev/null
etl queue add closer --task closer --retry-limit 0 >/dev/null
m=$(etl send missing '{}'); n=$(etl send noexec '{}'); w=$(etl send writer '{}'); c=$(etl send closer '{}')
h=$(etl send hello '{"name":"after"}')
for j in $m $n $w $c; do
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" failed
done
is "$(q "SELECT state FROM etl.job WHERE id IN ('$m','$n','$w','$c') GROUP BY state")" failed "all four bad jobs failed"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$m'")" "no task named 'no_such_task'" "missing task: the ERROR says no such task"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$n'")" "not an executable" "non-executable task: the ERROR says so"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$w'")" "exit status 1" "10 MB writer: the ERROR names its exit status"
like "$(q "SELECT output->>'log_tail' FROM etl.job WHERE id = '$w'")" "writer: wrote 10 MB" "with the tail of its log"
is "$(sed 1d "$(q "SELECT log_path FROM etl.job WHERE id = '$w'")" | wc -c)" 10485781 "its 10 MB are in its log (after the run's marker)"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$c'")" "exit status 1" "stdin closer: the ERROR names its exit status"
for j in $m $n $w $c; do
	ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$j'")
	is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx AND error")" 1 "job ${j:0:8}: exactly one ERROR event"
done
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$h'" completed
ok $? "the controller keeps serving other jobs"
ok "$(kill -0 "$CTL_PID_c1"; echo $?)" "the controller is still running"

stop_controller c1 TERM
is "$rc" 0 "SIGTERM: the controller exits 0"
done_testing
