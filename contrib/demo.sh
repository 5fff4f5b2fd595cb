#!/usr/bin/env bash
# demo.sh BUILD_DIR: the main job end to end on a throwaway PostgreSQL cluster under
# ./demo: create the schema and a queue, start etl-controller, send jobs to the hello
# task (C) and the hello_sh task (shell), show what happened, stop everything.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
cd "$top"
# shellcheck source=tests/lib/cluster.sh
. tests/lib/cluster.sh

rm -rf demo
mkdir -p demo
cluster_start "$top/demo/pg" >/dev/null
ctl=
cleanup() {
	[ -n "$ctl" ] && kill "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null
	cluster_stop
}
trap cleanup EXIT
export PATH="$build/bin:$PATH" ETL_PG_ENV=test ETL_TASK_PATH="$build/tasks"
chmod 0777 "$top/demo"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step etl migrate
step etl queue add hello --task hello
step etl queue add hello_sh --task hello_sh
# as root, tasks would run as nobody: fine for these two
etl-controller --log-dir "$top/demo/logs" --concurrency 4 2>"$top/demo/controller.log" &
ctl=$!
printf '\n\033[1m$ etl-controller --log-dir demo/logs --concurrency 4 &\033[0m\n'
for i in $(seq 1 30); do grep -q connected demo/controller.log && break; sleep 0.1; done
for name in ada grace linus; do
	step etl send hello "{\"name\": \"$name\"}"
done
id=$(etl send hello_sh '{"name": "ken"}')
printf '\n\033[1m$ etl send hello_sh %s\033[0m\n%s\n' "'{\"name\": \"ken\"}'" "$id"
for i in $(seq 1 100); do
	[ "$(etl ls --state completed --json | grep -c '"id"')" -ge 4 ] && break
	sleep 0.1
done
step etl ls
step etl events "$id"
step etl show "$id"
step etl logs "$id"
printf '\n\033[1mcontroller log:\033[0m\n'
cat demo/controller.log
kill "$ctl"
wait "$ctl" || true
ctl=
echo
echo "demo done: the cluster is stopped; its files and the job logs are in ./demo"
