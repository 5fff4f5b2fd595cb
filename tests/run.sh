#!/usr/bin/env bash
# run.sh BUILD_DIR: the test suite.  Runs the C unit tests, then the end-to-end tests
# (TAP, by prove) against the binaries in BUILD_DIR, each on a throwaway PostgreSQL of
# its shard: TEST_SHARDS (default 2) shards, each with a cluster and a folder of its own,
# take the test files one at a time from a common list (the slowest known first), so
# the suite takes about half as long on two cores.  Stops the clusters, and fails if
# anything failed.  TESTS="tests/e2e/NN_x.t ..." runs those only; TEST_SHARDS=1 runs
# them in one prove, as before.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
cd "$top" || exit 1
# shellcheck source=tests/lib/cluster.sh
. tests/lib/cluster.sh

tmp="$top/tmp_check/$(basename "$build")"
rm -rf "$tmp"
mkdir -p "$tmp"
# the test runner's own user must be able to write the log folders the tasks use
chmod 0777 "$tmp"

export PATH="$build/bin:$build/tests/tools:$PATH"
export ETL_BUILD=$build ETL_TOP=$top
export ETL_TASK_PATH="$build/tasks:$build/tests/tasks"
export ETL_PG_ENV=test
# psql NOTICEs (DROP ... CASCADE) are noise in the TAP output
export PGOPTIONS="-c client_min_messages=warning"
# under ASan, leaks in short-lived CLI runs are reported; keep them fatal
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
prove -f ${PROVE_FLAGS:-} --exec '' "$build"/tests/unit/* || status=1

# shellcheck disable=SC2206
files=(${TESTS:-tests/e2e/*.t})
shards=${TEST_SHARDS:-2}
[ "${#files[@]}" -lt "$shards" ] && shards=${#files[@]}

# shard I: its cluster and folder; its environment saved in $tmp/sI/env
shard_start() {
	local i=$1
	mkdir -p "$tmp/s$i"
	chmod 0777 "$tmp/s$i"
	cluster_start "$tmp/s$i/pg" || return 1
	{
		declare -p PGHOST PGPORT PGUSER PGDATABASE PGSERVICEFILE CLUSTER_DIR
		echo "CLUSTER_OSUSER=${CLUSTER_OSUSER:-}"
		echo "ETL_TMP=$tmp/s$i"
	} | sed 's/^declare -x /export /; s/^declare -- /export /' >"$tmp/s$i/env"
	echo "export ETL_TMP CLUSTER_OSUSER PGBIN" >>"$tmp/s$i/env"
}
# stop every shard's cluster
shards_stop() {
	local e
	for e in "$tmp"/s*/env; do
		[ -f "$e" ] && (. "$e"; cluster_stop)
	done
}

trap shards_stop EXIT
if [ "$shards" -le 1 ]; then
	if ! shard_start 1; then
		echo "tests: could not start PostgreSQL" >&2
		exit 1
	fi
	. "$tmp/s1/env"
	prove -f ${PROVE_FLAGS:-} --exec bash "${files[@]}" || status=1
	exit $status
fi

# the common list: the slowest known first (measured, --timer, 2026-12-02; the others
# after, in order), so that no long file starts last
slow="13_two_controllers 72_deferred 79_pelican 75_api 15_valgrind 30_flows
14_controller_db 65_keeper 17_inprocess 44_datafair 54_stuck 80_cove 10_controller
76_webview 87_failover 86_pgbouncer 88_wakeups 78_dataverse 11_controller_crash
51_operator 41_seed_batches 57_small 68_roles 77_task_glue"
: >"$tmp/queue"
for s in $slow; do
	for f in "${files[@]}"; do
		[ "$(basename "$f" .t)" = "$s" ] && echo "$f" >>"$tmp/queue"
	done
done
for f in "${files[@]}"; do
	grep -qxF "$f" "$tmp/queue" || echo "$f" >>"$tmp/queue"
done
: >"$tmp/failed"

# the next file of the list, taken under a lock; none: return 1
next_file() {
	local f
	exec 8>"$tmp/queue.lock"
	flock 8
	f=$(head -n 1 "$tmp/queue")
	[ -n "$f" ] && sed -i 1d "$tmp/queue"
	flock -u 8
	exec 8>&-
	[ -n "$f" ] && echo "$f"
}

run_shard() {
	local i=$1 f out
	. "$tmp/s$i/env"
	while f=$(next_file); do
		out=$(prove -f ${PROVE_FLAGS:-} --exec bash "$f" 2>&1)
		[ $? -eq 0 ] || echo "$f" >>"$tmp/failed"
		# one file's report at a time
		(flock 9; printf '%s\n' "$out" | sed "s/^/[$i] /") 9>"$tmp/out.lock"
	done
}

# the clusters start one after another (the first may create the cluster's OS user)
pids=()
for i in $(seq 1 "$shards"); do
	if ! shard_start "$i"; then
		echo "tests: could not start PostgreSQL" >&2
		exit 1
	fi
done
for i in $(seq 1 "$shards"); do
	run_shard "$i" &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' INT TERM
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
if [ -s "$tmp/failed" ]; then
	echo "tests: FAILED: $(sort "$tmp/failed" | tr '\n' ' ')"
	status=1
elif [ -s "$tmp/queue" ]; then
	echo "tests: FAILED: not run: $(tr '\n' ' ' <"$tmp/queue")"
	status=1
else
	echo "tests: all ${#files[@]} end-to-end files passed in $shards shards"
fi
exit $status
