#!/usr/bin/env bash
# quick.sh [BUILD_DIR]: a first, small measurement of the controller on a throwaway
# cluster: detached no-op throughput (jobs/s) at concurrency 8 and 32, and the latency
# from send to the task's first instruction for single jobs sent to an idle controller
# (p50/p99).  Not yet `make bench` (issue 7): no peers, no ratios.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
cd "$top"
. tests/lib/cluster.sh
work=$(mktemp -d /tmp/etl-quick.XXXXXX)
chmod 0777 "$work"
cluster_start "$work/pg" >/dev/null
ctl=
trap '[ -n "$ctl" ] && kill "$ctl" 2>/dev/null; cluster_stop; rm -rf "$work"' EXIT
export PATH="$build/bin:$PATH" ETL_PG_ENV=test ETL_TASK_PATH="$work/tasks"
mkdir -p "$work/tasks" "$work/logs"
# the no-op task exits at once; the stamp task writes CLOCK_REALTIME at its first line
printf 'int main(void) { return 0; }\n' > "$work/noop.c"
cat > "$work/stamp.c" <<'C'
#include <stdio.h>
#include <time.h>
int main(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t);
  printf("%ld.%09ld\n", (long)t.tv_sec, t.tv_nsec); return 0; }
C
cc -O2 -o "$work/tasks/noop" "$work/noop.c"
cc -O2 -o "$work/tasks/stamp" "$work/stamp.c"
etl migrate >/dev/null
etl queue add noop --task noop >/dev/null
etl queue add stamp --task stamp >/dev/null
q() { psql -X -q -A -t "service=test" -c "$1"; }
N=${N:-5000}
for c in 8 32; do
	q "TRUNCATE etl.job, etl.event, etl.etl_context" >/dev/null
	seq 1 "$N" | sed 's/.*/{}/' | etl send noop --ndjson - >/dev/null
	t0=$(date +%s.%N)
	etl-controller --concurrency "$c" --log-dir "$work/logs" --queues noop 2>/dev/null &
	ctl=$!
	while [ "$(q "SELECT count(*) FROM etl.job WHERE state = 'completed'")" -lt "$N" ]; do sleep 0.05; done
	t1=$(date +%s.%N)
	kill "$ctl"; wait "$ctl" || true; ctl=
	awk -v n="$N" -v c="$c" -v a="$t0" -v b="$t1" 'BEGIN { printf "detached no-op, concurrency %d: %.0f jobs/s (%d jobs)\n", c, n / (b - a), n }'
done
etl-controller --log-dir "$work/logs" --queues stamp 2>/dev/null &
ctl=$!
sleep 1
: > "$work/lat"
for i in $(seq 1 "${LAT_N:-200}"); do
	sent=$(date +%s.%N)
	id=$(etl send stamp '{}')
	while [ "$(q "SELECT state FROM etl.job WHERE id = '$id'")" != completed ]; do sleep 0.01; done
	log=$(q "SELECT log_path FROM etl.job WHERE id = '$id'")
	# from just after etl send returned the id is too late: use the row's created_on
	created=$(q "SELECT extract(epoch FROM created_on) FROM etl.job WHERE id = '$id'")
	awk -v s="$(cat "$log")" -v c="$created" 'BEGIN { printf "%.3f\n", (s - c) * 1000 }' >> "$work/lat"
	sleep 0.05
done
sort -n "$work/lat" | awk '{ a[NR] = $1 } END { printf "latency send -> task start, idle controller: p50 %.2f ms, p99 %.2f ms (%d jobs)\n", a[int(NR * 0.5)], a[int(NR * 0.99)], NR }'
