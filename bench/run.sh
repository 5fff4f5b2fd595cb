#!/usr/bin/env bash
# run.sh [BUILD_DIR]: make bench.  Starts one private PostgreSQL cluster (the peers'
# own recipe, ../shared/bench/lib/pg-cluster.sh: default settings, fsync and
# synchronous_commit on), measures etl on it, runs pg-boss and graphile-worker against
# the same cluster (../shared/bench/run-peers.sh), and prints one table with the ratios
# etl/peer.  Every etl figure is the median of REPEATS runs, each in a fresh database.
# Writes bench/results/etl-<time>.json (and the peers' .jsonl next to it).
#
# Environment: BENCH_QUICK=1 (short run, < 3 min), REPEATS (3; 1 when quick),
# BENCH_PGPORT (55442), SKIP_PEERS=1, PEERS_DIR (../shared/bench), CASES_ETL (all:
# enqueue detached libetl inprocess latency scale reads ctls raw proof events api).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
cd "$top"
PEERS_DIR=${PEERS_DIR:-$top/../shared/bench}
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	REPEATS=${REPEATS:-1}
	N_ENQ=20000 N_DET=3000 N_DET2=3000 N_INP=20000 N_LAT=50 N_SCALE=100000 N_RSS=20000 N_RAW=2000
	N_LIB=1000 N_EV=10000
	PEER_CASES="gw-enqueue-batch pb-process-perjob pb-process-batch gw-process-batch gw-latency"
else
	REPEATS=${REPEATS:-3}
	# concurrency 2 runs 10,000 jobs, not 20,000: at 2 in flight 20,000 take a minute a
	# run, and three runs of each size keep make bench under 15 minutes only so
	N_ENQ=100000 N_DET=20000 N_DET2=10000 N_INP=100000 N_LAT=200 N_SCALE=1000000 N_RSS=100000 N_RAW=5000
	N_LIB=2000 N_EV=100000
	PEER_CASES="gw-enqueue-batch pb-enqueue-batch pb-process-perjob gw-process-perjob pb-process-batch gw-process-batch gw-latency"
fi
CASES_ETL=${CASES_ETL:-enqueue detached libetl inprocess latency scale reads ctls raw proof events api}
export BENCH_PGPORT=${BENCH_PGPORT:-55442}
export BENCH_PGROOT=${BENCH_PGROOT:-/tmp/etl-bench-pg-$BENCH_PGPORT}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
out_json=$top/bench/results/etl-$stamp.json
peers_jsonl=$top/bench/results/peers-$stamp.jsonl
work=$(mktemp -d /tmp/etl-bench.XXXXXX)
chmod 0755 "$work"
t_start=$SECONDS

# shellcheck source=/dev/null
. "$PEERS_DIR/lib/pg-cluster.sh"
ctl=
cleanup() {
	[ -n "$ctl" ] && kill -9 "$ctl" 2>/dev/null
	KEEP_PG=0 pg_down >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "# interrupted" >&2; exit 130' INT TERM
pg_up

export PATH="$build/bin:$build/bench/tools:$PATH"
export PGSERVICEFILE=$work/pg_service.conf ETL_PG_ENV=bench
export ETL_TASK_PATH=$work/tasks
cat >"$PGSERVICEFILE" <<SVC
[bench]
host=$BENCH_PGROOT
port=$BENCH_PGPORT
user=postgres
dbname=etl_bench
SVC
mkdir -p "$work/tasks" "$work/logs"
chmod 0777 "$work/logs"
cp "$build/bench/tasks/"* "$work/tasks/"
# the libetl task finds libetl.so.0 by its rpath, $ORIGIN/../lib
mkdir -p "$work/lib"
cp -a "$build/lib/"libetl.so* "$work/lib/"
# as root the controller would run tasks as nobody (a fork per job): run them as root
asroot=
[ "$(id -u)" -eq 0 ] && asroot="--user root"

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "service=bench" -c "$1"; }
fresh_db() {
	bpsql -d postgres -c "DROP DATABASE IF EXISTS etl_bench" -c "CREATE DATABASE etl_bench" >/dev/null
	etl migrate >/dev/null
}
now() { date +%s.%N; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "null"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# wait_done N QUEUE: until N jobs of QUEUE are completed (bounded: 20 min).  One psql
# (a coprocess) polls, each poll its own transaction (a loop inside the server would
# hold back the horizon and leave the claims walking dead index entries; a psql per
# poll took a sixth of the CPU of the in-process run it measured), with a query that
# costs next to nothing (is any job of the queue still to run: the first entry of a
# partial index); the count once at the end.
wait_done() {
	local end=$((SECONDS + 1200)) line
	coproc WAITQ { psql -X -q -A -t "service=bench" 2>&1; }
	while :; do
		echo "SELECT EXISTS (SELECT 1 FROM etl.job WHERE queue = '$2' AND state IN ('created', 'retry', 'active'));" >&"${WAITQ[1]}"
		read -r line <&"${WAITQ[0]}" || { echo "bench: the waiting psql ended" >&2; exit 1; }
		[ "$line" = t ] || break
		[ $SECONDS -lt $end ] || { echo "bench: timed out waiting for $1 jobs of $2" >&2; exit 1; }
		if [ -n "$ctl" ] && ! kill -0 "$ctl" 2>/dev/null; then
			echo "bench: the controller died; see $work/ctl.log" >&2; tail -5 "$work/ctl.log" >&2; exit 1
		fi
		sleep 0.02
	done
	exec {WAITQ[1]}>&-
	wait "$WAITQ_PID" 2>/dev/null || true
	[ "$line" = f ] || { echo "bench: waiting: $line" >&2; exit 1; }
	if [ "$(q "SELECT count(*) FROM etl.job WHERE queue = '$2' AND state = 'completed'")" -lt "$1" ]; then
		echo "bench: not every job of $2 completed: $(q "SELECT state || ' ' || count(*) || ' ' || coalesce(max(output::text), '') FROM etl.job WHERE queue = '$2' GROUP BY state")" >&2
		exit 1
	fi
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
start_ctl() {	# start_ctl ARGS...: a controller in the background, connected
	etl-controller --log-dir "$work/logs" --poll-interval 1 $asroot "$@" >>"$work/ctl.log" 2>&1 &
	ctl=$!
	local end=$((SECONDS + 20))
	until grep -q "connected to pg_env" "$work/ctl.log" 2>/dev/null; do
		[ $SECONDS -lt $end ] || { echo "bench: controller did not connect" >&2; exit 1; }
		sleep 0.05
	done
}
stop_ctl() { [ -z "$ctl" ] || { kill "$ctl" 2>/dev/null; wait "$ctl" 2>/dev/null || true; ctl=; : >"$work/ctl.log"; }; }
declare -A R	# name -> value (JSON number or null)
want() { case " $CASES_ETL " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
say() { echo "# $(date -u +%T) $*" >&2; }
hz=$(getconf CLK_TCK)

# 1. enqueue: etl send --ndjson and one etl_send_many call
if want enqueue; then
	seq 1 "$N_ENQ" | sed 's/.*/{"n": &}/' >"$work/enq.ndjson"
	a=() b=()
	for r in $(seq 1 "$REPEATS"); do
		say "enqueue $N_ENQ, run $r"
		fresh_db; etl queue add e --task noop >/dev/null
		t0=$(now); etl send e --ndjson "$work/enq.ndjson" >/dev/null; t1=$(now)
		a+=("$(awk -v n="$N_ENQ" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
		s=$(bulk_send e "$N_ENQ")
		b+=("$(awk -v n="$N_ENQ" -v s="$s" 'BEGIN { printf "%.0f", n / s }')")
	done
	R[enqueue_ndjson]=$(printf '%s\n' "${a[@]}" | median)
	R[enqueue_bulk]=$(printf '%s\n' "${b[@]}" | median)
fi

# 2. detached throughput: the no-op program, concurrency 2, 8, 32
if want detached; then
	for c in 2 8 32; do
		a=() u=()
		n=$N_DET
		[ "$c" = 2 ] && n=$N_DET2
		for r in $(seq 1 "$REPEATS"); do
			say "detached $n, concurrency $c, run $r"
			fresh_db; etl queue add d --task noop >/dev/null
			seq 1 "$n" | sed 's/.*/{}/' | etl send d --ndjson - >/dev/null
			t0=$(now); start_ctl --concurrency "$c" --queues d; c0=$(cpu_ticks "$ctl")
			wait_done "$n" d; t1=$(now); c1=$(cpu_ticks "$ctl")
			stop_ctl
			# the journal's size per job (its events and context; the job row apart)
			R[journal_bytes_per_job]=$(q "SELECT (pg_total_relation_size('etl.event') + pg_total_relation_size('etl.etl_context')) / count(*) FROM etl.job")
			R[job_bytes_per_job]=$(q "SELECT pg_total_relation_size('etl.job') / count(*) FROM etl.job")
			a+=("$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
			u+=("$(awk -v n="$n" -v c="$((c1 - c0))" -v hz="$hz" 'BEGIN { printf "%.0f", c / hz * 1e6 / n }')")
		done
		R[detached_c$c]=$(printf '%s\n' "${a[@]}" | median)
		R[detached_c${c}_cpu_us]=$(printf '%s\n' "${u[@]}" | median)
	done
fi

# 2b. detached libetl tasks: noop_etl as a program (it connects and dispatches its FINAL
#     itself, as every libetl task does), concurrency 8 and 32; against the machine's
#     raw rate of PostgreSQL connections (connrate: PQconnectdb + PQfinish, 2 loops)
if want libetl; then
	for c in 8 32; do
		a=()
		for r in $(seq 1 "$REPEATS"); do
			say "detached libetl $N_LIB, concurrency $c, run $r"
			fresh_db; etl queue add le --task noop_etl >/dev/null
			seq 1 "$N_LIB" | sed 's/.*/{}/' | etl send le --ndjson - >/dev/null
			t0=$(now); start_ctl --concurrency "$c" --queues le
			wait_done "$N_LIB" le; t1=$(now)
			stop_ctl
			a+=("$(awk -v n="$N_LIB" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
		done
		R[libetl_c$c]=$(printf '%s\n' "${a[@]}" | median)
	done
	a=()
	for r in $(seq 1 "$REPEATS"); do
		say "raw connections, run $r"
		a+=("$(connrate "service=bench" "$N_LIB" 2)")
	done
	R[raw_connect]=$(printf '%s\n' "${a[@]}" | median)
fi

# 3. in-process throughput: noop_etl.so on 64 controller threads (--concurrency 64)
if want inprocess; then
	a=() u=()
	for r in $(seq 1 "$REPEATS"); do
		say "in-process $N_INP, run $r"
		fresh_db; etl queue add i --task noop_etl --mode inprocess >/dev/null
		bulk_send i "$N_INP" >/dev/null
		t0=$(now); start_ctl --concurrency 64 --queues i; c0=$(cpu_ticks "$ctl")
		wait_done "$N_INP" i; t1=$(now); c1=$(cpu_ticks "$ctl")
		stop_ctl
		a+=("$(awk -v n="$N_INP" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
		u+=("$(awk -v n="$N_INP" -v c="$((c1 - c0))" -v hz="$hz" 'BEGIN { printf "%.0f", c / hz * 1e6 / n }')")
	done
	R[inprocess]=$(printf '%s\n' "${a[@]}" | median)
	R[inprocess_cpu_us]=$(printf '%s\n' "${u[@]}" | median)
fi

# 4. latency: single jobs sent one by one to an idle controller by a sender connected
#    once (bench/tools/lat_send, as the peers' senders are), from just before the send
#    call to the first instruction of bench/tasks/stamp.c (CLOCK_REALTIME), detached
if want latency; then
	p50s=() p99s=()
	for r in $(seq 1 "$REPEATS"); do
		say "latency $N_LAT jobs, run $r"
		fresh_db; etl queue add l --task stamp >/dev/null
		start_ctl --queues l
		sleep 0.5
		lat_send l "$N_LAT" >"$work/lat"
		stop_ctl
		p50s+=("$(sort -g "$work/lat" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) * 0.5)] }')")
		p99s+=("$(sort -g "$work/lat" | awk '{ i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; a[NR] = $1 } END { i = int(NR * 0.99 + 0.999); if (i > NR) i = NR; print a[i] }')")
	done
	R[latency_p50_ms]=$(printf '%s\n' "${p50s[@]}" | median)
	R[latency_p99_ms]=$(printf '%s\n' "${p99s[@]}" | median)
fi

# 5. scale: the claim with 10,000 and with N_SCALE finished jobs in the table; RSS
if want scale; then
	# claim_ms N PGBENCH-ARGS...: N jobs sent to queue s, then the mean ms of one claim
	claim_ms() {
		local n=$1 lat; shift
		bulk_send s "$n" >/dev/null
		q "VACUUM ANALYZE etl.job" >/dev/null
		lat=$("$BENCH_PGBIN/pgbench" -n "$@" -f "$work/claim.sql" "service=bench" 2>/dev/null |
		    awk '/latency average/ { print $4 }')
		echo "${lat:-null}"
	}
	printf "SELECT count(*) FROM etl.claim(ARRAY['s'], 1, 'bench', 'h', 'bench');\n" >"$work/claim.sql"
	for size in 10000 "$N_SCALE"; do
		say "claim time with $size finished jobs"
		fresh_db; etl queue add s --task noop >/dev/null
		# a fixture of finished jobs, written past the state rule (no job is born
		# completed: only a run gets there) in one statement
		q "ALTER TABLE etl.job DISABLE TRIGGER job_state_birth;
		   INSERT INTO etl.job (queue, data, state, started_on, completed_on, keep_until)
		   SELECT 's', jsonb_build_object('n', g), 'completed', now(), now(), now() + interval '14 days'
		     FROM generate_series(1, $size) g;
		   ALTER TABLE etl.job ENABLE TRIGGER job_state_birth" >/dev/null
		R[claim_ms_$size]=$(claim_ms 3000 -t 2000)
	done
	R[claim_ratio]=$(awk -v a="${R[claim_ms_10000]}" -v b="${R[claim_ms_$N_SCALE]}" 'BEGIN { printf "%.2f", b / a }')
	# a small queue's claim behind N_SCALE jobs of others (issue 22): nothing else (the
	# base), ready jobs of another queue, jobs of its own queue waiting for others
	# (--after), jobs of its own queue deferred (start_after in an hour)
	for fx in empty deep after deferred; do
		say "claim time of a small queue, fixture $fx"
		fresh_db; etl queue add s --task noop >/dev/null; etl queue add deep --task noop >/dev/null
		case $fx in
		deep) q "INSERT INTO etl.job (queue, data) SELECT 'deep', jsonb_build_object('n', g) FROM generate_series(1, $N_SCALE) g" >/dev/null ;;
		after) q "INSERT INTO etl.job (queue, data, waiting) SELECT 's', jsonb_build_object('n', g), 1 FROM generate_series(1, $N_SCALE) g" >/dev/null ;;
		deferred) q "INSERT INTO etl.job (queue, data, start_after) SELECT 's', jsonb_build_object('n', g), now() + interval '1 hour' FROM generate_series(1, $N_SCALE) g" >/dev/null ;;
		esac
		# 5 s of claims (bounded: a slow claim must not stretch the run)
		R[claim_small_ms_$fx]=$(claim_ms 20000 -T 5)
	done
	for fx in deep after deferred; do
		R[claim_small_ratio_$fx]=$(awk -v a="${R[claim_small_ms_empty]}" -v b="${R[claim_small_ms_$fx]}" 'BEGIN { if (a == "null" || b == "null") print "null"; else printf "%.2f", b / a }')
	done
	say "controller RSS over $N_RSS in-process jobs"
	fresh_db; etl queue add i --task noop_etl --mode inprocess >/dev/null
	bulk_send i 1000 >/dev/null
	start_ctl --concurrency 8 --queues i
	wait_done 1000 i
	r0=$(rss_kib "$ctl")
	bulk_send i "$N_RSS" >/dev/null
	wait_done $((N_RSS + 1000)) i
	r1=$(rss_kib "$ctl")
	stop_ctl
	R[rss_before_kib]=$r0 R[rss_after_kib]=$r1 R[rss_growth_kib]=$((r1 - r0))
fi

# 5b. reads at scale (issue 22): etl ls (a page, a queue's page), etl top --once and the
#     metrics' count of the cluster's jobs (etl_cluster_count_seconds, a scrape), with
#     10,000 and N_SCALE finished jobs; then retention of the N_SCALE jobs by one
#     controller, with the longest age its heartbeat reached meanwhile (--heartbeat 1)
ms_of() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
median5() { local i; for i in 1 2 3 4 5; do ms_of "$@"; echo; done | median; }
metric() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
if want reads; then
	mport=$((20000 + RANDOM % 20000))
	for size in 10000 "$N_SCALE"; do
		say "reads with $size finished jobs"
		fresh_db; etl queue add s --task noop >/dev/null; etl queue add r --task noop >/dev/null
		q "ALTER TABLE etl.job DISABLE TRIGGER job_state_birth;
		   INSERT INTO etl.job (queue, data, state, started_on, completed_on, keep_until)
		   SELECT 'r', jsonb_build_object('n', g), 'completed', now() - interval '2 hours',
		          now() - interval '2 hours', now() + interval '14 days'
		     FROM generate_series(1, $size) g;
		   ALTER TABLE etl.job ENABLE TRIGGER job_state_birth" >/dev/null
		bulk_send s 1000 >/dev/null
		q "VACUUM ANALYZE etl.job" >/dev/null
		R[ls_ms_$size]=$(median5 etl ls)
		R[ls_queue_ms_$size]=$(median5 etl ls --queue s --state created)
		R[top_ms_$size]=$(median5 etl top --once)
		start_ctl --queues none_here --metrics "127.0.0.1:$mport"
		end=$((SECONDS + 30))
		until [ -n "$(metric "$mport" etl_cluster_count_seconds)" ] || [ $SECONDS -ge $end ]; do sleep 0.2; done
		# the first count waits behind the controller's start; the next tick's (10 s
		# later) is its own
		sleep 11
		cs=$(metric "$mport" etl_cluster_count_seconds)
		R[count_ms_$size]=$(awk -v s="$cs" 'BEGIN { if (s == "") print "null"; else printf "%.1f", s * 1000 }')
		R[scrape_ms_$size]=$(median5 curl -s --max-time 5 "http://127.0.0.1:$mport/metrics")
		stop_ctl
	done
	for k in ls ls_queue top count; do
		R[${k}_ratio]=$(awk -v a="${R[${k}_ms_10000]}" -v b="${R[${k}_ms_$N_SCALE]}" 'BEGIN { if (a == "null" || b == "null" || a == 0) print "null"; else printf "%.2f", b / a }')
	done
	say "retention of $N_SCALE finished jobs"
	q "UPDATE etl.job SET keep_until = now() - interval '1 second' WHERE queue = 'r'" >/dev/null
	# the retention gate (a run a minute) opened: the controllers of the reads ran it just now
	q "UPDATE etl.maintenance SET last_run = '-infinity' WHERE name = 'retention'" >/dev/null
	q "VACUUM ANALYZE etl.job" >/dev/null
	t0=$(now); start_ctl --queues s --heartbeat 1
	maxage=0 end=$((SECONDS + 1200))
	while :; do
		line=$(q "SELECT extract(epoch FROM now() - heartbeat_on)::numeric(10,2), EXISTS (SELECT 1 FROM etl.job WHERE queue = 'r') FROM etl.controller")
		age=${line%|*} left=${line#*|}
		maxage=$(awk -v a="$age" -v m="$maxage" 'BEGIN { print (a > m) ? a : m }')
		[ "$left" = t ] || break
		[ $SECONDS -lt $end ] || { echo "bench: retention did not finish" >&2; break; }
		sleep 0.1
	done
	t1=$(now); stop_ctl
	R[retention_s]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	R[retention_beat_age_s]=$maxage
fi

# 5c. claim statements per job with 1, 2 and 6 controllers on 12 slots in all (issue
#     22): in-process no-ops sent one transaction each at 200/s for 5 s (each send its
#     NOTIFY), the claims counted by each controller's /metrics
if want ctls; then
	printf "SELECT etl.send('i', '{}');\n" >"$work/send.sql"
	for k in 1 2 6; do
		say "claim statements per job, $k controllers"
		fresh_db; etl queue add i --task noop_etl --mode inprocess >/dev/null
		ports=() pids=()
		for c in $(seq 1 "$k"); do
			p=$((30000 + RANDOM % 20000))
			etl-controller --id "b$c" --log-dir "$work/logs" --poll-interval 1 $asroot \
			    --concurrency $((12 / k)) --queues i --metrics "127.0.0.1:$p" >>"$work/ctl$c.log" 2>&1 &
			pids+=($!) ports+=("$p")
		done
		for c in $(seq 1 "$k"); do
			end=$((SECONDS + 20))
			until grep -q "connected to pg_env" "$work/ctl$c.log" 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.05; done
		done
		"$BENCH_PGBIN/pgbench" -n -R 200 -T 5 -c 2 -f "$work/send.sql" "service=bench" >/dev/null 2>&1
		n=$(q "SELECT count(*) FROM etl.job WHERE queue = 'i'")
		wait_done "$n" i
		claims=0
		for p in "${ports[@]}"; do
			c=$(metric "$p" etl_claim_duration_seconds_count)
			claims=$((claims + ${c:-0}))
		done
		for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
		rm -f "$work"/ctl?.log
		R[claims_per_job_$k]=$(awk -v c="$claims" -v n="$n" 'BEGIN { printf "%.2f", c / n }')
		R[claims_jobs_$k]=$n
	done
fi

# 6. raw limits of this machine: spawning the no-op (no database), and a bare
#    SKIP LOCKED claim+complete loop in SQL with 8 clients
if want raw; then
	a=() f=() g=() s=()
	for r in $(seq 1 "$REPEATS"); do
		say "raw limits, run $r"
		a+=("$(spawnrate "$work/tasks/noop" "$N_RAW" 2)")
		read -r sp fk < <(spawnrate "$work/tasks/noop" "$((N_RAW / 2))" 2 256)
		f+=("$sp"); g+=("$fk")
		fresh_db
		q "CREATE TABLE raw_job (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'ready', data jsonb);
		   CREATE INDEX raw_ready ON raw_job (id) WHERE state = 'ready';
		   INSERT INTO raw_job (data) SELECT '{}' FROM generate_series(1, 200000)" >/dev/null
		printf '%s\n' "WITH c AS (SELECT id FROM raw_job WHERE state = 'ready' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) UPDATE raw_job j SET state = 'done' FROM c WHERE j.id = c.id;" >"$work/raw.sql"
		s+=("$("$BENCH_PGBIN/pgbench" -n -c 8 -j 2 -T 5 -f "$work/raw.sql" "service=bench" 2>/dev/null |
		    awk '/^tps/ { printf "%.0f", $3 }')")
	done
	R[raw_spawn]=$(printf '%s\n' "${a[@]}" | median)
	R[raw_spawn_256m_posix_spawn]=$(printf '%s\n' "${f[@]}" | median)
	R[raw_spawn_256m_fork]=$(printf '%s\n' "${g[@]}" | median)
	R[raw_skip_locked]=$(printf '%s\n' "${s[@]}" | median)
fi

# 7b. the per-run checks: events of a running job written with its run's proof
#     (etl.task_event, as a detached task writes them: the job, run and secret checked
#     at each event) against the plain INSERT of a trusted writer; one client (events of
#     one context are serialised by its row), 5 s each
if want proof; then
	e=() p=()
	for r in $(seq 1 "$REPEATS"); do
		say "events with and without the run's proof, run $r"
		fresh_db; etl queue add p --task noop >/dev/null
		q "SELECT etl.send('p', '{}')" >/dev/null
		IFS='|' read -r pid psecret pctx prun < <(q "SELECT id, secret, etl_context_id, run FROM etl.claim(ARRAY['p'], 1, 'bench', 'h', 'bench')")
		printf "SELECT etl.task_event('%s', %s, '%s', %s, 'noop:E', '{\"n\": 1}', NULL);\n" \
		    "$pid" "$prun" "$psecret" "$pctx" >"$work/proof.sql"
		printf "INSERT INTO etl.event (etl_context_id, type, payload) VALUES (%s, 'noop:E', '{\"n\": 1}');\n" \
		    "$pctx" >"$work/plain.sql"
		e+=("$("$BENCH_PGBIN/pgbench" -n -c 1 -T 5 -f "$work/proof.sql" "service=bench" 2>/dev/null |
		    awk '/^tps/ { printf "%.0f", $3 }')")
		p+=("$("$BENCH_PGBIN/pgbench" -n -c 1 -T 5 -f "$work/plain.sql" "service=bench" 2>/dev/null |
		    awk '/^tps/ { printf "%.0f", $3 }')")
	done
	R[events_proof]=$(printf '%s\n' "${e[@]}" | median)
	R[events_plain]=$(printf '%s\n' "${p[@]}" | median)
fi

# 7c. events of one task in one transaction: N_EV and N_EV/10 events dispatched one
#     statement each (etl.task_event with the run's proof, as a libetl task dispatches
#     them) between one BEGIN and COMMIT; µs per event for each size (linear: equal)
if want events; then
	for size in $((N_EV / 10)) "$N_EV"; do
		a=()
		for r in $(seq 1 "$REPEATS"); do
			say "$size events in one transaction, run $r"
			fresh_db; etl queue add ev --task noop >/dev/null
			q "SELECT etl.send('ev', '{}')" >/dev/null
			IFS='|' read -r pid psecret pctx prun < <(q "SELECT id, secret, etl_context_id, run FROM etl.claim(ARRAY['ev'], 1, 'bench', 'h', 'bench')")
			{
				echo "BEGIN;"
				seq 1 "$size" | sed "s/.*/SELECT etl.task_event('$pid', $prun, '$psecret', $pctx, 'noop:E', '{\"n\": &}', NULL);/"
				echo "COMMIT;"
			} >"$work/events.sql"
			t0=$(now); psql -X -q -o /dev/null -v ON_ERROR_STOP=1 "service=bench" -f "$work/events.sql"; t1=$(now)
			a+=("$(awk -v n="$size" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')")
		done
		R[events_us_$size]=$(printf '%s\n' "${a[@]}" | median)
	done
	R[events_ratio]=$(awk -v a="${R[events_us_$((N_EV / 10))]}" -v b="${R[events_us_$N_EV]}" 'BEGIN { printf "%.2f", b / a }')
fi

# 8. etl-api over HTTP (wrk: 2 threads, 8 connections, 10 s; medians of the runs): the job
#    list (50 newest of 1,000 jobs) and send (one job a request), p50/p99, while 100
#    Server-Sent Events clients follow the overview; against this machine's ceilings in
#    the same run: GET /healthz (the HTTP server, no database) and pgbench of etl.send
#    (the database, 8 clients)
if want api && command -v wrk >/dev/null; then
	cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"n": 1}'
wrk.headers["Content-Type"] = "application/json"
LUA
	# wrk_run URL [SCRIPT]: "rate p50_ms p99_ms"
	wrk_run() {
		wrk -t2 -c8 -d10s --latency -H "Authorization: Bearer $api_tok" ${2:+-s "$2"} "$1" 2>/dev/null |
		    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
		         /Requests\/sec/ { r = $2 } $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
		         END { printf "%.0f %.2f %.2f\n", r, p50, p99 }'
	}
	al=() as=() ah=() l50=() l99=() s50=() s99=() pg=()
	for r in $(seq 1 "$REPEATS"); do
		say "etl-api: list and send with 100 event streams open, run $r"
		fresh_db; etl queue add apiq --task noop >/dev/null
		seq 1 1000 | sed 's/.*/{"n": &}/' | etl send apiq --ndjson - >/dev/null
		rm -f "$work/tokens"
		api_tok=$(etl-api --token-file "$work/tokens" --new-token bench sender)
		etl-api --token-file "$work/tokens" --listen 127.0.0.1:0 --max-per-ip 512 >"$work/api.log" 2>&1 &
		api_pid=$!
		end=$((SECONDS + 10))
		until grep -q "listening on" "$work/api.log"; do
			[ $SECONDS -lt $end ] || { echo "bench: etl-api did not start" >&2; cat "$work/api.log" >&2; exit 1; }
			sleep 0.05
		done
		url=$(sed -n 's|.*listening on \(http[^ ]*\)/$|\1|p' "$work/api.log" | head -1)
		sse=()
		for i in $(seq 1 100); do
			curl -s -N -o /dev/null -H "Authorization: Bearer $api_tok" "$url/api/v1/overview?follow=1" &
			sse+=($!)
		done
		sleep 1
		read -r rl p50 p99 < <(wrk_run "$url/api/v1/jobs?limit=50")
		al+=("$rl") l50+=("$p50") l99+=("$p99")
		read -r rs p50 p99 < <(wrk_run "$url/api/v1/queues/apiq/jobs" "$work/post.lua")
		as+=("$rs") s50+=("$p50") s99+=("$p99")
		read -r rh _ _ < <(wrk_run "$url/healthz")
		ah+=("$rh")
		kill "${sse[@]}" 2>/dev/null; wait "${sse[@]}" 2>/dev/null || true
		kill "$api_pid"; wait "$api_pid" 2>/dev/null || true
		echo "SELECT etl.send('apiq', '{\"n\": 1}');" >"$work/send.sql"
		pg+=("$("$BENCH_PGBIN/pgbench" -n -c 8 -j 2 -T 10 -f "$work/send.sql" "service=bench" 2>/dev/null |
		    awk '/^tps/ { printf "%.0f", $3 }')")
	done
	R[api_list]=$(printf '%s\n' "${al[@]}" | median)
	R[api_list_p50_ms]=$(printf '%s\n' "${l50[@]}" | median)
	R[api_list_p99_ms]=$(printf '%s\n' "${l99[@]}" | median)
	R[api_send]=$(printf '%s\n' "${as[@]}" | median)
	R[api_send_p50_ms]=$(printf '%s\n' "${s50[@]}" | median)
	R[api_send_p99_ms]=$(printf '%s\n' "${s99[@]}" | median)
	R[api_healthz]=$(printf '%s\n' "${ah[@]}" | median)
	R[api_pg_send]=$(printf '%s\n' "${pg[@]}" | median)
fi

# 7. the peers on the same cluster (still running: run-peers.sh reuses it)
if [ "${SKIP_PEERS:-0}" != 1 ]; then
	say "peers: $PEER_CASES"
	REPEATS=$REPEATS CASES="$PEER_CASES" RESULTS="$peers_jsonl" bash "$PEERS_DIR/run-peers.sh" \
	    >"$work/peers.txt" 2>"$work/peers.err" || { tail -20 "$work/peers.err" >&2; exit 1; }
fi
peer() {	# peer CASE FIELD: the median of FIELD over the case's runs, or null
	[ -s "$peers_jsonl" ] || { echo null; return; }
	{ grep "\"case\":\"$1\"" "$peers_jsonl" || true; } | { grep -v '"error"' || true; } |
	    sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" | median
}
P_ENQ_GW=$(peer gw-enqueue-batch rate)
P_ENQ_PB=$(peer pb-enqueue-batch rate)
P_PERJOB_PB=$(peer pb-process-perjob rate)
P_PERJOB_GW=$(peer gw-process-perjob rate)
P_BATCH_PB=$(peer pb-process-batch rate)
P_BATCH_GW=$(peer gw-process-batch rate)
P_LAT_GW=$(peer gw-latency p50_ms)
P_LAT_GW99=$(peer gw-latency p99_ms)
P_LAT_PB=$(peer pb-latency-notify p50_ms)

v() { echo "${R[$1]:-null}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "null" || b == "null" || b == 0) print "-"; else printf "%.2f", a / b }'; }
best_det=$(printf '%s\n' "$(v detached_c2)" "$(v detached_c8)" "$(v detached_c32)" | { grep -v null || true; } | sort -g | tail -1)
best_det=${best_det:-null}
best_lib=$(printf '%s\n' "$(v libetl_c8)" "$(v libetl_c32)" | { grep -v null || true; } | sort -g | tail -1)
best_lib=${best_lib:-null}
# met VALUE OP TARGET: whether a figure meets its target (issue 17), "-" when unmeasured
met() { awk -v a="$1" -v op="$2" -v t="$3" 'BEGIN {
	if (a == "null" || a == "-" || a == "") { print "-"; exit }
	ok = (op == ">=") ? (a + 0 >= t + 0) : (a + 0 <= t + 0); print ok ? "met" : "**not met**" }'; }
R_INP_PB=$(ratio "$(v inprocess)" "$P_BATCH_PB")
R_DET_SPAWN=$(ratio "$best_det" "$(v raw_spawn)")
R_DET_PB=$(ratio "$best_det" "$P_PERJOB_PB")
R_LIB=$(ratio "$best_lib" "$(v raw_connect)")

{
	echo
	echo "etl bench — $(date -u +%F) — nproc=$(nproc) — PostgreSQL $(bpsql -d postgres -Atc 'show server_version') (synchronous_commit=$(bpsql -d postgres -Atc 'show synchronous_commit')) — medians of $REPEATS$([ "$QUICK" = 1 ] && echo ', BENCH_QUICK')"
	echo
	echo "| measure | etl | peer / limit | ratio | target | |"
	echo "|---|---|---|---|---|---|"
	echo "| enqueue, etl send --ndjson $N_ENQ (jobs/s) | $(v enqueue_ndjson) | gw addJobs $P_ENQ_GW | $(ratio "$(v enqueue_ndjson)" "$P_ENQ_GW") | | |"
	echo "| enqueue, etl_send_many $N_ENQ (jobs/s) | $(v enqueue_bulk) | gw addJobs $P_ENQ_GW / pg-boss insert $P_ENQ_PB | $(ratio "$(v enqueue_bulk)" "$P_ENQ_GW") | | |"
	for c in 2 8 32; do
		echo "| detached no-op $([ "$c" = 2 ] && echo "$N_DET2" || echo "$N_DET"), concurrency $c (jobs/s; controller CPU µs/job) | $(v detached_c$c) ($(v detached_c${c}_cpu_us) µs) | | | | |"
	done
	echo "| detached, best of the three vs raw spawn (2 in flight) | $best_det | spawn $(v raw_spawn)/s | $R_DET_SPAWN | ≥ 0.50 | $(met "$R_DET_SPAWN" ">=" 0.5) |"
	echo "| detached, best vs pg-boss one job per fetch | $best_det | $P_PERJOB_PB | $R_DET_PB | ≥ 1.0 | $(met "$R_DET_PB" ">=" 1) |"
	echo "| detached, best vs graphile-worker concurrency 8 | $best_det | $P_PERJOB_GW | $(ratio "$best_det" "$P_PERJOB_GW") | | |"
	for c in 8 32; do
		echo "| detached libetl no-op $N_LIB (connects, writes its FINAL), concurrency $c (jobs/s) | $(v libetl_c$c) | | | | |"
	done
	echo "| detached libetl, best vs raw connections (PQconnectdb + PQfinish, 2 loops) | $best_lib | connect $(v raw_connect)/s | $R_LIB | ≥ 0.50 | $(met "$R_LIB" ">=" 0.5) |"
	echo "| in-process no-op $N_INP, 64 threads (jobs/s; controller CPU µs/job) | $(v inprocess) ($(v inprocess_cpu_us) µs) | pg-boss batch $P_BATCH_PB | $R_INP_PB | ≥ 1.0 | $(met "$R_INP_PB" ">=" 1) |"
	echo "| in-process vs graphile-worker batch | $(v inprocess) | $P_BATCH_GW | $(ratio "$(v inprocess)" "$P_BATCH_GW") | | |"
	echo "| latency send → task start, p50 ms (detached) | $(v latency_p50_ms) | gw $P_LAT_GW / pg-boss notify $P_LAT_PB | $(ratio "$(v latency_p50_ms)" "$P_LAT_GW") | ≤ 3 ms | $(met "$(v latency_p50_ms)" "<=" 3) |"
	echo "| latency p99 ms | $(v latency_p99_ms) | gw $P_LAT_GW99 | $(ratio "$(v latency_p99_ms)" "$P_LAT_GW99") | ≤ 10 ms | $(met "$(v latency_p99_ms)" "<=" 10) |"
	echo "| events of one task in one transaction, µs/event, $((N_EV / 10)) vs $N_EV | $(v events_us_$((N_EV / 10))) / $(v events_us_$N_EV) | | $(v events_ratio) | ≤ 1.5 | $(met "$(v events_ratio)" "<=" 1.5) |"
	echo "| claim ms, 10k vs $N_SCALE finished rows | $(v claim_ms_10000) / $(v claim_ms_$N_SCALE) | | $(v claim_ratio) | ≤ 1.5 | $(met "$(v claim_ratio)" "<=" 1.5) |"
	echo "| claim ms of a small queue: alone / behind $N_SCALE ready jobs of another queue | $(v claim_small_ms_empty) / $(v claim_small_ms_deep) | | $(v claim_small_ratio_deep) | ≤ 2 (issue 22) | $(met "$(v claim_small_ratio_deep)" "<=" 2) |"
	echo "| claim ms of a small queue behind $N_SCALE of its jobs waiting for others (--after) | $(v claim_small_ms_after) | | $(v claim_small_ratio_after) | ≤ 2 (issue 22) | $(met "$(v claim_small_ratio_after)" "<=" 2) |"
	echo "| claim ms of a small queue behind $N_SCALE of its jobs deferred an hour | $(v claim_small_ms_deferred) | | $(v claim_small_ratio_deferred) | ≤ 2 (issue 22) | $(met "$(v claim_small_ratio_deferred)" "<=" 2) |"
	echo "| etl ls, first page, ms: 10,000 / $N_SCALE finished jobs | $(v ls_ms_10000) / $(v ls_ms_$N_SCALE) | | $(v ls_ratio) | | |"
	echo "| etl ls --queue --state created, ms: 10,000 / $N_SCALE finished jobs | $(v ls_queue_ms_10000) / $(v ls_queue_ms_$N_SCALE) | | $(v ls_queue_ratio) | | |"
	echo "| etl top --once, ms: 10,000 / $N_SCALE finished jobs | $(v top_ms_10000) / $(v top_ms_$N_SCALE) | | $(v top_ratio) | | |"
	echo "| metrics: the cluster count's round trip, ms: 10,000 / $N_SCALE finished jobs | $(v count_ms_10000) / $(v count_ms_$N_SCALE) | | $(v count_ratio) | | |"
	echo "| metrics: a scrape of /metrics, ms: 10,000 / $N_SCALE finished jobs | $(v scrape_ms_10000) / $(v scrape_ms_$N_SCALE) | | | | |"
	echo "| retention of $N_SCALE finished jobs by one controller (s); its heartbeat's greatest age meanwhile (s, --heartbeat 1) | $(v retention_s) | | $(v retention_beat_age_s) | | |"
	echo "| claim statements per job, 1 / 2 / 6 controllers on 12 slots, sends at 200/s ($(v claims_jobs_1) jobs) | $(v claims_per_job_1) / $(v claims_per_job_2) / $(v claims_per_job_6) | | | | |"
	echo "| bytes per job of a detached no-op: its journal (events + context, with indexes) / its job row (with indexes) | $(v journal_bytes_per_job) / $(v job_bytes_per_job) | | | | |"
	echo "| controller RSS before/after $N_RSS jobs (KiB) | $(v rss_before_kib) / $(v rss_after_kib) | | +$(v rss_growth_kib) KiB | ≤ 1024 KiB | $(met "$(v rss_growth_kib)" "<=" 1024) |"
	echo "| raw: posix_spawn of the no-op, 2 in flight (/s) | $(v raw_spawn) | | | | |"
	echo "| raw: from a 256 MiB parent, posix_spawn / fork+exec (/s) | $(v raw_spawn_256m_posix_spawn) / $(v raw_spawn_256m_fork) | | | | |"
	echo "| raw: PostgreSQL connections, PQconnectdb + PQfinish, 2 loops (/s) | $(v raw_connect) | | | | |"
	echo "| raw: SKIP LOCKED claim+complete, 8 clients (rows/s) | $(v raw_skip_locked) | | | | |"
	echo "| events with the run's proof (etl.task_event) vs plain INSERT, 1 client (events/s) | $(v events_proof) | plain $(v events_plain) | $(ratio "$(v events_proof)" "$(v events_plain)") | | |"
	echo "| etl-api GET /api/v1/jobs?limit=50, 8 connections, 100 SSE clients open (req/s) | $(v api_list) | GET /healthz $(v api_healthz) | $(ratio "$(v api_list)" "$(v api_healthz)") | | |"
	echo "| etl-api job list p50 / p99 ms | $(v api_list_p50_ms) / $(v api_list_p99_ms) | | | | |"
	echo "| etl-api POST a job, 8 connections, 100 SSE clients open (req/s) | $(v api_send) | pgbench etl.send $(v api_pg_send) | $(ratio "$(v api_send)" "$(v api_pg_send)") | | |"
	echo "| etl-api send p50 / p99 ms | $(v api_send_p50_ms) / $(v api_send_p99_ms) | | | | |"
	echo
	echo "(etl: $out_json; peers: $peers_jsonl; $((SECONDS - t_start)) s)"
} | tee "$work/table.md"

{
	printf '{"date": "%s", "quick": %s, "repeats": %s, "nproc": %s, "seconds": %s' \
	    "$(date -u +%FT%TZ)" "$([ "$QUICK" = 1 ] && echo true || echo false)" "$REPEATS" "$(nproc)" "$((SECONDS - t_start))"
	for k in "${!R[@]}"; do printf ', "%s": %s' "$k" "${R[$k]}"; done
	printf ', "peers": {"gw_enqueue_batch": %s, "pb_enqueue_batch": %s, "pb_process_perjob": %s, "gw_process_perjob": %s, "pb_process_batch": %s, "gw_process_batch": %s, "gw_latency_p50_ms": %s, "gw_latency_p99_ms": %s, "pb_latency_notify_p50_ms": %s}' \
	    "$P_ENQ_GW" "$P_ENQ_PB" "$P_PERJOB_PB" "$P_PERJOB_GW" "$P_BATCH_PB" "$P_BATCH_GW" "$P_LAT_GW" "$P_LAT_GW99" "$P_LAT_PB"
	printf '}\n'
} >"$out_json"
cp "$work/table.md" "${out_json%.json}.md"
