#!/usr/bin/env bash
# run.sh BUILD_DIR [SCENARIO...]: the chaos suite (make chaos).  Each scenario runs real
# binaries against a real cluster while something breaks, then asserts from the
# database that no job was lost, none was active twice at once (two runs of one job whose
# RUN_START..RUN_END overlap), and none ran after it completed; it prints a summary line.
# Output is TAP; the whole suite is bounded (each wait is).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-build}" && pwd)
shift || true
cd "$top" || exit 1
. tests/lib/cluster.sh
tmp="$top/tmp_check/chaos"
rm -rf "$tmp"; mkdir -p "$tmp"; chmod 0777 "$tmp"
CLUSTER_MAX_CONNECTIONS=60 cluster_start "$tmp/pg" >/dev/null || exit 1
export PATH="$build/bin:$build/tests/tools:$PATH" ETL_PG_ENV=test ETL_TMP=$tmp ETL_TOP=$top
export ETL_BUILD=$build ETL_TASK_PATH="$build/tasks:$build/tests/tasks"
export PGBIN CLUSTER_DIR CLUSTER_OSUSER PGOPTIONS="-c client_min_messages=warning"
. tests/lib/tap.sh
set +u
pids_to_kill=()
cleanup() {
	for c in a b c; do stop_controller $c KILL; done
	for p in "${pids_to_kill[@]}"; do kill -9 "$p" 2>/dev/null; done
	mountpoint -q "$tmp/smalllogs" && umount "$tmp/smalllogs"
	cluster_stop
}
trap cleanup EXIT

total_sent=0 total_completed=0 total_failed=0 total_lost=0 total_double=0

fresh() {	# a clean schema and the chaos queue (retries enough to outlast the chaos)
	q "DROP SCHEMA IF EXISTS etl CASCADE" >/dev/null 2>&1
	etl migrate >/dev/null
	etl queue add chaos --task chaos_task --retry-limit "${1:-25}" --retry-delay 0 >/dev/null
}
send() {	# send N jobs of MS milliseconds
	seq 1 "$1" | sed "s/.*/{\"ms\": ${2:-20}}/" | etl send chaos --ndjson - >/dev/null
}
settled() {	# every job final (or, with ALLOW_QUEUED, nothing active)
	[ "$(q "SELECT count(*) FROM etl.job WHERE queue = 'chaos' AND state IN ('created', 'retry', 'active')")" = 0 ]
}
verdict() {	# NAME SENT: the summary line and the three assertions
	local name=$1 sent=$2 done failed lost double twice
	done=$(q "SELECT count(*) FROM etl.job WHERE queue = 'chaos' AND state = 'completed'")
	failed=$(q "SELECT count(*) FROM etl.job WHERE queue = 'chaos' AND state IN ('failed', 'cancelled')")
	# what is not final yet when the bounded wait ended counts as lost: the run failed
	lost=$((sent - done - failed))
	double=$(q "WITH r AS (SELECT s.etl_context_id, s.event_id AS sid, s.created_on AS t0,
	        (SELECT min(e.created_on) FROM etl.event e WHERE e.etl_context_id = s.etl_context_id
	          AND e.type = 'chaos_task:RUN_END' AND e.event_id > s.event_id
	          AND (e.payload->>'pid') = (s.payload->>'pid')) AS t1
	      FROM etl.event s WHERE s.type = 'chaos_task:RUN_START')
	    SELECT count(*) FROM r a JOIN r b ON a.etl_context_id = b.etl_context_id AND a.sid < b.sid
	    WHERE a.t1 IS NOT NULL AND b.t0 < a.t1")
	twice=$(q "SELECT count(*) FROM etl.job j JOIN etl.event e USING (etl_context_id)
	    WHERE j.queue = 'chaos' AND j.state = 'completed' AND e.type = 'chaos_task:RUN_START'
	      AND e.created_on > j.completed_on")
	echo "# $name: sent $sent completed $done failed $failed lost $lost double-active $double ran-after-completed $twice"
	if [ "$lost" -ne 0 ]; then
		# what the unfinished ones look like, to tell a bug from a slow run
		q "SELECT state, count(*), count(pid), min(started_on)::time, max(retry_count),
		     string_agg(DISTINCT coalesce(controller_id, '-'), ',')
		   FROM etl.job WHERE queue = 'chaos' AND state IN ('created', 'retry', 'active') GROUP BY state" |
			sed 's/^/#   unfinished: /'
	fi
	is "$lost" 0 "$name: no job lost"
	is "$double" 0 "$name: no job active twice at once"
	is "$twice" 0 "$name: no job ran after it completed"
	total_sent=$((total_sent + sent)); total_completed=$((total_completed + done))
	total_failed=$((total_failed + failed)); total_lost=$((total_lost + lost))
	total_double=$((total_double + double))
}
want() { [ $# -eq 0 ] || [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }
SCENARIOS=("$@")
want_s() { [ ${#SCENARIOS[@]} -eq 0 ] || [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

# 1: kill -9 the controller every ~2 s during 2,000 short jobs, restarting it each time
if want_s 1; then
	fresh; send 2000 20
	t0=$SECONDS
	while ! settled && [ $((SECONDS - t0)) -lt 150 ]; do
		start_controller a --concurrency 16 --dead-after 3
		sleep 2
		stop_controller a KILL
	done
	start_controller a --concurrency 16 --dead-after 3
	wait_until 90 settled
	verdict "1 controller kill -9 every 2 s" 2000
	stop_controller a TERM
fi

# 2: kill -9 random workers
if want_s 2; then
	fresh; send 500 200
	start_controller a --concurrency 8
	t0=$SECONDS
	while ! settled && [ $((SECONDS - t0)) -lt 60 ]; do
		p=$(q "SELECT pid FROM etl.job WHERE state = 'active' AND pid IS NOT NULL ORDER BY random() LIMIT 1")
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
		sleep 0.3
	done
	wait_until 120 settled
	verdict "2 workers kill -9" 500
	stop_controller a TERM
fi

# 3: pg_ctl restart -m fast, then -m immediate, mid-run
if want_s 3; then
	fresh; send 1000 20
	start_controller a --concurrency 8
	wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" 200
	cluster_restart fast
	wait_until 60 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" 500
	cluster_restart immediate
	wait_until 120 settled
	verdict "3 pg_ctl restart fast and immediate" 1000
	stop_controller a TERM
fi

# 4: pg_terminate_backend of every etl session, twice
if want_s 4; then
	fresh; send 1000 20
	start_controller a --concurrency 8
	for i in 1 2; do
		wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" $((i * 300))
		q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		   WHERE pid <> pg_backend_pid() AND datname = 'etl_test'" >/dev/null 2>&1
	done
	wait_until 120 settled
	verdict "4 pg_terminate_backend of every session, twice" 1000
	stop_controller a TERM
fi

# 5: an idle-in-transaction session pinning xmin for the whole run
if want_s 5; then
	fresh; send 1000 10
	psql -X -q "service=test" -c "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM etl.job; SELECT pg_sleep(90)" >/dev/null 2>&1 &
	pids_to_kill+=($!)
	start_controller a --concurrency 8
	wait_until 90 settled
	verdict "5 xmin pinned by an idle transaction" 1000
	kill "${pids_to_kill[-1]}" 2>/dev/null
	stop_controller a TERM
fi

# 6: the database out of connections for 10 s
if want_s 6; then
	# a task that cannot connect exits 75 and is retried: 25 retries a second apart
	# outlast the 10 s (with no delay, a fast controller burns them in less)
	fresh; etl queue add chaos --task chaos_task --retry-delay 1 >/dev/null; send 500 20
	start_controller a --concurrency 8
	wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" 100
	hogs=()
	for i in $(seq 1 60); do
		psql -X -q "service=test" -c "SELECT pg_sleep(10)" >/dev/null 2>&1 &
		hogs+=($!)
	done
	sleep 10
	for p in "${hogs[@]}"; do wait "$p" 2>/dev/null; done
	wait_until 120 settled
	verdict "6 out of connections for 10 s" 500
	stop_controller a TERM
fi

# 7: the log disk full: a 64 KiB tmpfs as --log-dir
if want_s 7; then
	fresh; send 300 10
	mkdir -p "$tmp/smalllogs"
	if mount -t tmpfs -o size=64k tmpfs "$tmp/smalllogs" 2>/dev/null; then
		head -c 60000 /dev/zero > "$tmp/smalllogs/filler"
		stop_controller a KILL
		etl-controller --id a --log-dir "$tmp/smalllogs" --concurrency 8 --user root \
			--poll-interval 0.2 >>"$tmp/a.log" 2>&1 &
		CTL_PID_a=$!
		wait_until 90 settled
		verdict "7 log disk full" 300
		grep -q "log folder .* is full\|cannot open its log" "$tmp/a.log"
		ok $? "7: the controller says why it cannot log"
		stop_controller a TERM
		umount "$tmp/smalllogs"
	else
		ok 0 "# SKIP cannot mount a tmpfs here (no privilege)"
	fi
fi

# 8: a crash-looping task: retries back off and end failed, never a tight loop
if want_s 8; then
	fresh
	etl queue add loop --task chaos_task --retry-limit 4 --retry-delay 1 --retry-backoff >/dev/null
	id=$(etl send loop '{"fail": true}')
	start_controller a
	wait_until 40 qis "SELECT state FROM etl.job WHERE id = '$id'" failed
	ok $? "8: a crash-looping task ends failed"
	is "$(q "SELECT retry_count FROM etl.job WHERE id = '$id'")" 4 "8: after its 4 retries"
	# the gaps between its failures (its ERROR events), in ms
	gaps=$(q "SELECT string_agg(g::text, ' ' ORDER BY n) FROM (SELECT row_number() OVER (ORDER BY
	    e.event_id) AS n, round(extract(epoch FROM e.created_on - lag(e.created_on) OVER (ORDER BY
	    e.event_id)) * 1000) AS g FROM etl.event e JOIN etl.job j USING (etl_context_id)
	    WHERE j.id = '$id' AND e.error) x WHERE g IS NOT NULL")
	echo "# 8: gaps between failures (ms, 1 s doubling with jitter): $gaps"
	set -- $gaps
	ok "$([ "$#" -eq 4 ] && [ "$1" -ge 450 ] && [ "$4" -gt "$1" ]; echo $?)" "8: no tight loop, and the gaps grow"
	stop_controller a TERM
fi

# 9: three controllers started (and migrating) at once
if want_s 9; then
	q "DROP SCHEMA IF EXISTS etl CASCADE" >/dev/null 2>&1
	for c in a b c; do ( etl migrate >/dev/null; ) & done
	wait
	etl queue add chaos --task chaos_task --retry-limit 25 >/dev/null
	send 1500 10
	# start all three at once (start_controller waits for each to connect; do not)
	for c in a b c; do
		etl-controller --id $c --log-dir "$tmp/logs" --poll-interval 0.2 --heartbeat 1 \
			--user root --concurrency 6 >>"$tmp/$c.log" 2>&1 &
		eval "CTL_PID_$c=$!"
	done
	wait_until 120 settled
	verdict "9 three controllers at once" 1500
	is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'chaos'")" 3 "9: all three took part"
	for c in a b c; do stop_controller $c TERM; done
fi

# 10: a burst of jobs sent while two controllers run: BURST (5,000) detached libetl tasks,
# then BURST_INPROC (50,000) of the same task in-process.  50,000 detached libetl tasks
# (a process and a connection each) take longer than the suite's budget on 2 cores; the
# in-process burst has the issue's size.
burst() {	# burst N CONCURRENCY LABEL: two controllers, N jobs sent at once, all settled
	start_controller a --concurrency "$2"
	start_controller b --concurrency "$2"
	send "$1" 0
	wait_until $(($1 / 10 + 60)) settled
	verdict "10 a burst of $1 $3" "$1"
	stop_controller a TERM; stop_controller b TERM
}
if want_s 10; then
	fresh
	burst "${BURST:-5000}" 16 jobs
	fresh
	etl queue add chaos --task chaos_task --mode inprocess >/dev/null
	# a worker thread whose task uses the database holds a connection: 2 x 16 threads
	# stay within the cluster's 60 connections
	burst "${BURST_INPROC:-50000}" 16 "in-process jobs"
fi

# 11: the database refuses every end statement for 10 s (a trigger raising), then accepts
if want_s 11; then
	fresh; send 500 20
	q "CREATE TABLE public.refuse (on_ bool);
	   CREATE OR REPLACE FUNCTION public.refuse_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
	   BEGIN
	     IF EXISTS (SELECT 1 FROM public.refuse) THEN RAISE EXCEPTION 'chaos: end refused'; END IF;
	     RETURN NEW;
	   END \$\$;
	   CREATE TRIGGER refuse BEFORE UPDATE OF state ON etl.job FOR EACH ROW
	     WHEN (OLD.state = 'active' AND NEW.state <> 'active') EXECUTE FUNCTION public.refuse_fn()" >/dev/null
	start_controller a --concurrency 8
	wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" 100
	q "INSERT INTO public.refuse VALUES (true)" >/dev/null
	sleep 10
	q "DELETE FROM public.refuse" >/dev/null
	wait_until 120 settled
	verdict "11 every end refused for 10 s" 500
	grep -q "recording its end failed" "$tmp/a.log"
	ok $? "11: the controller said it kept trying"
	stop_controller a TERM
	q "DROP TABLE public.refuse; DROP FUNCTION public.refuse_fn()" >/dev/null 2>&1
fi

# 12: the database read-only for 10 s (as after a failover to a standby), then writable
if want_s 12; then
	fresh; send 500 20
	rw() { PGOPTIONS="-c default_transaction_read_only=off" q "$1" >/dev/null; }
	port=$((20000 + RANDOM % 20000))
	start_controller a --concurrency 8 --metrics "127.0.0.1:$port"
	health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz"; }
	wait_until 30 qge "SELECT count(*) FROM etl.job WHERE state = 'completed'" 100
	rw "ALTER SYSTEM SET default_transaction_read_only = on"; rw "SELECT pg_reload_conf()"
	wait_until 10 eval '[ "$(health)" = 503 ]'
	ok $? "12: /healthz answers 503 while the database is read-only"
	sleep 8
	is "$(health)" 503 "12: and still after 8 s"
	rw "ALTER SYSTEM RESET default_transaction_read_only"; rw "SELECT pg_reload_conf()"
	wait_until 20 eval '[ "$(health)" = 200 ]'
	ok $? "12: 200 again once writable"
	wait_until 120 settled
	verdict "12 read-only for 10 s" 500
	stop_controller a TERM
fi

# 13: a dead-letter cycle is refused, however long
if want_s 13; then
	fresh
	for x in d1 d2 d3; do etl queue add $x --task chaos_task >/dev/null; done
	etl queue add d1 --dead-letter d2 >/dev/null; etl queue add d2 --dead-letter d3 >/dev/null
	etl queue add d3 --dead-letter d1 >/dev/null 2>&1
	is "$?" 2 "13: d1 -> d2 -> d3 -> d1 is refused"
	is "$(q "SELECT dead_letter FROM etl.queue WHERE name = 'd3'")" "" "13: d3 keeps no dead letter"
fi

# 14: four 50 MB payloads beside a stream of small jobs: the small ones keep flowing, and
# the controller's memory stays bounded
if want_s 14; then
	fresh; etl queue add big --task drain >/dev/null
	for i in 1 2 3 4; do
		q "SELECT etl.send('big', to_jsonb((SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 1600000))))" >/dev/null
	done
	start_controller a --concurrency 8
	for i in $(seq 1 40); do send 5 10; sleep 0.25; done
	wait_until 120 settled
	wait_until 120 qis "SELECT count(*) FROM etl.job WHERE queue = 'big' AND state = 'completed'" 4
	ok $? "14: the four large jobs complete"
	verdict "14 four 50 MB payloads beside 200 small jobs" 200
	wait_s=$(q "SELECT round(max(extract(epoch FROM started_on - created_on))::numeric, 2) FROM etl.job WHERE queue = 'chaos'")
	hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$CTL_PID_a/status")
	echo "# 14: small jobs waited at most $wait_s s; controller peak RSS $hwm KiB"
	q "SELECT '# 14: small job waits p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_on - created_on))::numeric, 2)
	     || ' p90 ' || round(percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM started_on - created_on))::numeric, 2) || ' s'
	   FROM etl.job WHERE queue = 'chaos'"
	q "SELECT '# 14: large jobs started ' || string_agg(round(extract(epoch FROM j.started_on - t0.t)::numeric, 2)::text, ', ' ORDER BY j.started_on) || ' s after the first small job was sent'
	   FROM etl.job j, (SELECT min(created_on) AS t FROM etl.job WHERE queue = 'chaos') t0 WHERE j.queue = 'big'"
	# flowing: small jobs start between the large ones, not all after the last
	between=$(q "SELECT count(*) FROM etl.job s WHERE s.queue = 'chaos' AND s.started_on <
	    (SELECT max(b.started_on) FROM etl.job b WHERE b.queue = 'big')")
	echo "# 14: $between small jobs started before the last large one"
	ok "$([ "$between" -gt 0 ]; echo $?)" "14: small jobs keep flowing between the large ones"
	ok "$(awk -v w="$wait_s" 'BEGIN { exit !(w < 8) }'; echo $?)" "14: no small job waited 8 s or more"
	ok "$([ "$hwm" -lt 409600 ]; echo $?)" "14: the controller's peak RSS stays under 400 MiB"
	stop_controller a TERM
fi

# Plain tasks (tests/tasks/plain.sh: no libetl): pending jobs of queue $1, its runs, and
# pairs of runs of one job alive at once (RUN_START..RUN_END of one pid overlapping)
plain_pending() { q "SELECT count(*) FROM etl.job WHERE queue = '$1' AND state IN ('created', 'retry', 'active')"; }
plain_runs() { q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = '$1' AND e.type = 'plain:RUN_START'"; }
plain_double() {
	q "WITH r AS (SELECT s.etl_context_id, s.event_id AS sid, s.created_on AS t0,
	        (SELECT min(e.created_on) FROM etl.event e WHERE e.etl_context_id = s.etl_context_id
	          AND e.type = 'plain:RUN_END' AND e.event_id > s.event_id
	          AND (e.payload->>'pid') = (s.payload->>'pid')) AS t1
	      FROM etl.event s JOIN etl.job j USING (etl_context_id)
	     WHERE j.queue = '$1' AND s.type = 'plain:RUN_START')
	    SELECT count(*) FROM r a JOIN r b ON a.etl_context_id = b.etl_context_id AND a.sid < b.sid
	    WHERE b.t0 < coalesce(a.t1, 'infinity')"
}

# 15: plain tasks under kill -9 of the controller every 2 s: their keepers record their
# exact ends, so each job runs exactly once and none fails (no retries allowed)
if want_s 15; then
	fresh; etl queue add plainq --task plain --retry-limit 0 >/dev/null
	seq 1 300 | sed 's/.*/{"seconds": 0.5}/' | etl send plainq --ndjson - >/dev/null
	t0=$SECONDS kills=0
	while [ "$(plain_pending plainq)" != 0 ] && [ $((SECONDS - t0)) -lt 150 ]; do
		start_controller a --concurrency 16
		sleep 2
		stop_controller a KILL
		kills=$((kills + 1))
	done
	start_controller a --concurrency 16
	wait_until 90 qis "SELECT count(*) FROM etl.job WHERE queue = 'plainq' AND state IN ('created', 'retry', 'active')" 0
	done=$(q "SELECT count(*) FROM etl.job WHERE queue = 'plainq' AND state = 'completed'")
	runs=$(plain_runs plainq)
	echo "# 15 plain tasks, controller kill -9 every 2 s ($kills kills): sent 300 completed $done runs $runs double-active $(plain_double plainq)"
	is "$done" 300 "15: 300 plain jobs completed, none failed"
	is "$runs" 300 "15: in exactly 300 runs"
	is "$(plain_double plainq)" 0 "15: no job active twice at once"
	stop_controller a TERM
fi

# 16: a controller frozen (SIGSTOP) for 12 s mid-run with plain tasks, beside another:
# its keepers stop its tasks when its lease (2 s) runs out, the other controller runs
# their jobs again only after its lease bound (5 s), and the frozen one's late ends,
# once thawed, change nothing
if want_s 16; then
	fresh; etl queue add frz --task plain --retry-limit 5 --retry-delay 0 >/dev/null
	seq 1 40 | sed 's/.*/{"seconds": 3}/' | etl send frz --ndjson - >/dev/null
	start_controller a --concurrency 8 --lease 2 --kill-grace 1
	start_controller b --concurrency 8 --dead-after 1
	wait_until 20 qge "SELECT count(*) FROM etl.job WHERE controller_id = 'a' AND state = 'active' AND pid IS NOT NULL" 4
	kill -STOP "$CTL_PID_a"
	sleep 12
	kill -CONT "$CTL_PID_a"
	wait_until 120 qis "SELECT count(*) FROM etl.job WHERE queue = 'frz' AND state IN ('created', 'retry', 'active')" 0
	done=$(q "SELECT count(*) FROM etl.job WHERE queue = 'frz' AND state = 'completed'")
	stopped=$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'frz' AND e.type = 'plain:RUN_END' AND e.payload->>'stopped' = 'true'")
	echo "# 16 controller frozen 12 s (lease 2 s): sent 40 completed $done runs $(plain_runs frz) stopped-by-lease $stopped double-active $(plain_double frz)"
	is "$done" 40 "16: all 40 jobs completed"
	ok "$([ "$stopped" -ge 1 ]; echo $?)" "16: the frozen controller's tasks were stopped by their keepers"
	is "$(plain_double frz)" 0 "16: no job active twice at once"
	stop_controller a TERM
	stop_controller b TERM
fi

echo "# chaos summary: sent $total_sent completed $total_completed failed $total_failed lost $total_lost double-active $total_double"
done_testing
