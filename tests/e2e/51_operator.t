#!/usr/bin/env bash
# The operator's view: etl top --once, the controller's /metrics and /healthz (issue 8).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL; stop_controller mx2 KILL' EXIT
port=$((20000 + RANDOM % 20000))
etl queue add sleep --task sleeper >/dev/null
etl queue add hello --task hello >/dev/null
start_controller c1 --metrics "127.0.0.1:$port"
seq 1 20 | sed 's/.*/{"name": "m&"}/' | etl send hello --ndjson - >/dev/null
id=$(etl send sleep '{"seconds": 30, "at": 0.5}')
wait_until 20 qis "SELECT progress->>'message' FROM etl.job WHERE id = '$id'" working
wait_until 20 all_in 20 completed hello
run etl top --once
is "$rc" 0 "etl top --once exits 0"
like "$out" "${id:0:8} +sleep .*\[#+ +\]  50% working" "it shows the running job with a half-full progress bar"
like "$out" "hello +0 +0 +20 +0" "and the queues' counts"
like "$out" "c1 +$(hostname)" "and the controller"
# a small window: the headings stay, long lists end in "+N more" (the header used to
# scroll off)
for k in $(seq 1 20); do etl queue add "many$k" --task hello >/dev/null; done
frame=$(python3 "$ETL_TOP/tests/tools/pty_run.py" 14 100 1.5 etl top | tr -d '\r' | awk 'BEGIN { RS = "\033\\[H\033\\[2J" } NF { f = $0 } END { printf "%s", f }')
like "$(printf '%s\n' "$frame" | head -1)" "etl top" "etl top in a 14-row window: its title first"
ok "$([ "$(printf '%s\n' "$frame" | wc -l)" -le 14 ]; echo $?)" "  the frame fits the window ($(printf '%s\n' "$frame" | wc -l) rows)"
like "$frame" "\.\.\. [0-9]+ more queues" "  the queues cut short, saying how many more"
like "$frame" "JOB +QUEUE" "  every heading shown"
for k in $(seq 1 20); do etl queue rm "many$k" >/dev/null; done
run etl top --once --json
is "$(printf '%s' "$out" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(sorted(k for k in d if k in ("controllers", "queues", "running")), len(d["running"]))')" "['controllers', 'queues', 'running'] 1" "etl top --once --json prints the frame as JSON"
run etl top --json
is "$rc/$(printf '%s' "$out" | head -c 1)" "0/{" "etl top --json alone prints one JSON frame too"

get() { python3 -c 'import sys, urllib.request
try:
    r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], method=sys.argv[2]), timeout=5)
    print(r.status); print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code)' "$@"; }
m=$(get "http://127.0.0.1:$port/metrics" GET)
is "$(printf '%s\n' "$m" | head -1)" 200 "GET /metrics: 200"
bad=$(printf '%s\n' "$m" | tail -n +2 | grep -v '^$' | grep -Evc '^(# (HELP|TYPE) [a-z_]+ .*|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+|[a-z_]+(\{[a-z_]+="[^"]*"\})? \+?Inf)$')
is "$bad" 0 "every line is a comment or name{labels} value"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_jobs_finished_total{queue="hello",state="completed"} //p')" "$(q "SELECT count(*) FROM etl.job WHERE state = 'completed' AND controller_id = 'c1' AND queue = 'hello'")" "the completed counter, by queue, matches the database"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_jobs_finished_total{queue="hello",state="failed"} //p')" 0 "  a queue's outcomes that did not happen read 0, not missing"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_job_run_seconds_count{queue="hello"} //p')" 20 "the run-time histogram counts each hello job"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_job_run_seconds_bucket{queue="hello",le="+Inf"} //p')" 20 "  its +Inf bucket is its count"
like "$(printf '%s\n' "$m" | grep '^etl_job_run_seconds_sum{queue="hello"}')" ' [0-9.]+$' "  and its sum of seconds"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_tasks_active //p')" 1 "one task active"
like "$(printf '%s\n' "$m" | grep '^etl_claim_duration_seconds_count')" "[1-9]" "the claim histogram counts claims"
like "$(printf '%s\n' "$m" | grep '^etl_build_info')" "^etl_build_info\\{version=\"[0-9.]+\",schema=\"[0-9]+\"\\} 1$" "etl_build_info names the version and schema"
st=$(printf '%s\n' "$m" | sed -n 's/^process_start_time_seconds //p')
now=$(date +%s)
ok $(awk -v s="$st" -v n="$now" 'BEGIN { exit !(s > n - 600 && s <= n + 1) }'; echo $?) "process_start_time_seconds is the controller's start ($st)"
rss=$(printf '%s\n' "$m" | sed -n 's/^process_resident_memory_bytes //p')
vm=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$CTL_PID_c1/status")
ok $(awk -v a="$rss" -v b="$vm" 'BEGIN { exit !(a > b * 0.8 && a < b * 1.2) }'; echo $?) "process_resident_memory_bytes is its RSS ($rss, VmRSS $vm)"
fds=$(printf '%s\n' "$m" | sed -n 's/^process_open_fds //p')
n=$(ls "/proc/$CTL_PID_c1/fd" | wc -l)
ok $([ "$fds" -ge "$n" ] && [ "$fds" -le $((n + 3)) ]; echo $?) "process_open_fds counts its descriptors ($fds during the scrape, $n after)"
like "$(printf '%s\n' "$m" | grep '^process_cpu_seconds_total')" "^process_cpu_seconds_total [0-9.]+$" "process_cpu_seconds_total"
wait_until 15 eval "get http://127.0.0.1:$port/metrics GET 2>/dev/null | grep -q 'etl_jobs{queue=\"sleep\",state=\"active\"} 1'"
ok $? "jobs by queue and state: the running sleep job is active"
m=$(get "http://127.0.0.1:$port/metrics" GET)
is "$(printf '%s\n' "$m" | grep -c '^etl_jobs{queue="hello",')" 3 "  every unfinished state (created, retry, active) of every queue, 0 rather than missing"
is "$(printf '%s\n' "$m" | grep -c '^etl_jobs{queue="hello",state="completed"}')" 0 "  finished jobs are not counted from the table (etl_jobs_finished_total counts them)"
like "$(printf '%s\n' "$m" | grep '^etl_cluster_count_seconds')" '^etl_cluster_count_seconds [0-9.]+$' "  and how long the count took"
is "$(printf '%s\n' "$m" | sed -n 's/^etl_cluster_exporter //p')" 1 "  this controller (the only one) exports the cluster's series"
like "$(printf '%s\n' "$m" | grep '^etl_queue_lag_seconds{queue="hello"}')" ' 0(\.0+)?$' "  the lag of a queue with nothing ready: 0"
# a second controller with a larger id does not export them again (sum() would count
# every job twice); a queue with a waiting job has its lag
etl queue add lagq --task hello >/dev/null
etl queue pause lagq >/dev/null
etl send lagq '{}' >/dev/null
q "UPDATE etl.job SET start_after = now() - interval '90 seconds' WHERE queue = 'lagq'" >/dev/null
port2=$((port + 1))
start_controller mx2 --metrics "127.0.0.1:$port2" --queues none_here
wait_until 20 eval "get http://127.0.0.1:$port/metrics GET 2>/dev/null | grep -q 'etl_queue_lag_seconds{queue=\"lagq\"} \(9[0-9]\|1[0-9][0-9]\)'"
ok $? "  the lag of a queue whose job waits: its age (90 s and more)"
wait_until 20 eval "get http://127.0.0.1:$port2/metrics GET 2>/dev/null | grep -q '^etl_cluster_exporter 0'"
ok $? "a second controller (mx2) does not export the cluster's series"
is "$(get "http://127.0.0.1:$port2/metrics" GET | grep -c '^etl_jobs{')" 0 "  no etl_jobs lines from it"
stop_controller mx2 TERM
if command -v promtool >/dev/null; then
	get "http://127.0.0.1:$port/metrics" GET | tail -n +2 >"$ETL_TMP/metrics.txt"
	promtool check metrics <"$ETL_TMP/metrics.txt" >"$ETL_TMP/promtool.log" 2>&1
	ok $? "promtool check metrics: clean" || diag "$(cat "$ETL_TMP/promtool.log")"
else
	ok 0 "# SKIP promtool is not installed (contrib/install-deps.sh installs prometheus where it can)"
fi
is "$(get "http://127.0.0.1:$port/healthz" GET | head -1)" 200 "GET /healthz: 200"
is "$(get "http://127.0.0.1:$port/metrics" POST | head -1)" 405 "POST /metrics: 405"
is "$(get "http://127.0.0.1:$port/nope" GET | head -1)" 404 "an unknown path: 404"
etl cancel "$id" >/dev/null
stop_controller c1 TERM

# --metrics takes the address forms operators write: NAME:PORT, :PORT, [IPV6]:PORT
forms=("localhost:PORT http://localhost:PORT" ":PORT http://127.0.0.1:PORT")
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	forms+=("[::1]:PORT http://[::1]:PORT")
else
	ok 0 "# SKIP no IPv6 loopback here"
fi
for form in "${forms[@]}"; do
	port=$((20000 + RANDOM % 20000))
	a=${form%% *}; u=${form#* }
	start_controller c1 --metrics "${a/PORT/$port}"
	is "$(get "${u/PORT/$port}/healthz" GET | head -1)" 200 "--metrics ${a}: /healthz answers"
	stop_controller c1 TERM
done
run etl-controller --metrics "::1:9187"
like "$err" "--metrics ::1:9187" "an IPv6 address without brackets is refused, saying which option"
done_testing
