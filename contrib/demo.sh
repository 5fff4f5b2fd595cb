#!/usr/bin/env bash
# demo.sh BUILD_DIR: the main job end to end on a throwaway PostgreSQL cluster under
# ./demo: create the schema and a queue, start etl-controller, send jobs to the hello
# task (C) and the hello_sh task (shell), start etl-api and print the web view's address,
# run a demo pipeline (a parent with three sub-tasks, each with a progress bar), show what
# happened, and stop everything (on a terminal, after Enter: look at the web view first).
# ETL_DEMO_PORT (default 8080) is the web view's port.
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
apid=
cleanup() {
	[ -n "$apid" ] && kill "$apid" 2>/dev/null && wait "$apid" 2>/dev/null
	[ -n "$ctl" ] && kill "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null
	cluster_stop
}
trap cleanup EXIT
export PATH="$build/bin:$PATH" ETL_PG_ENV=test ETL_TASK_PATH="$build/tasks:$build/tests/tasks"
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

# the web view, and a pipeline to watch in it
token=$(etl-api --token-file demo/tokens --new-token demo admin)
etl-api --token-file demo/tokens --listen "127.0.0.1:${ETL_DEMO_PORT:-8080}" \
	--log-dir "$top/demo/logs" 2>"$top/demo/api.log" &
apid=$!
for i in $(seq 1 50); do grep -q listening demo/api.log && break; sleep 0.1; done
url=$(sed -n 's|.*listening on \(http[^ ]*\)$|\1|p' demo/api.log | head -1)
if [ -z "$url" ]; then
	cat demo/api.log
	echo "demo: etl-api did not start (is port ${ETL_DEMO_PORT:-8080} taken? set ETL_DEMO_PORT)" >&2
	exit 1
fi
if [ -x "$build/tests/tasks/ticker" ] && [ -x "$build/tests/tasks/parent" ]; then
	step etl queue add child --task ticker
	step etl queue add pipeline --task parent
	step etl send pipeline '{"seconds": 1}'
fi
printf '\n\033[1mthe web view: %s?token=%s#/activity\033[0m\n' "$url" "$token"
printf 'the API: curl -H "Authorization: Bearer %s" %sapi/v1/queues\n' "$token" "$url"
if [ -t 0 ]; then
	printf 'press Enter to stop the demo '
	read -r _ || true
else
	for i in $(seq 1 200); do
		[ "$(etl ls --queue pipeline --state completed --json | grep -c '"id"')" -ge 1 ] && break
		sleep 0.1
	done
fi
step etl ls
printf '\n\033[1mcontroller log:\033[0m\n'
cat demo/controller.log
kill "$apid"
wait "$apid" || true
apid=
kill "$ctl"
wait "$ctl" || true
ctl=
echo
echo "demo done: the cluster is stopped; its files and the job logs are in ./demo"
