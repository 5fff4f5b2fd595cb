#!/usr/bin/env bash
# Bad input: one-line errors, SPEC exit statuses, and nothing written (issue 2, #7).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
etl queue add q --task hello >/dev/null

rows() { q "SELECT (SELECT count(*) FROM etl.job) || '/' || (SELECT count(*) FROM etl.event) || '/' || (SELECT count(*) FROM etl.etl_context)"; }
check() {	# check WANT_RC DESCRIPTION CMD...
	local want=$1 desc=$2; shift 2
	local before
	before=$(rows)
	run "$@"
	is "$rc" "$want" "$desc: exit $want"
	is "$(printf '%s\n' "$err" | grep -c .)" 1 "$desc: one line on stderr"
	is "$(rows)" "$before" "$desc: no row written"
}

check 2 "send malformed JSON" etl send q '{"a":'
check 2 "send trailing garbage" etl send q '{"a":1} x'
check 2 "run malformed JSON" etl run hello '{name: ada}'
check 3 "send to an unknown queue" etl send nosuch '{}'
check 2 "send to a bad queue name" etl send "q'; DROP TABLE etl.job; --" '{}'
check 3 "run a missing task" etl run no_such_task '{}'
check 2 "run a task name with .." etl run ../bin/etl '{}'
check 2 "run an absolute task path" etl run /bin/true '{}'

mkdir -p "$ETL_TMP/tp"
printf '#!/bin/sh\nexit 0\n' > "$ETL_TMP/tp/noexec"
chmod 0644 "$ETL_TMP/tp/noexec"
ln -sf /bin/true "$ETL_TMP/tp/escape"
ETL_TASK_PATH="$ETL_TMP/tp" check 3 "run a non-executable task" etl run noexec '{}'
ETL_TASK_PATH="$ETL_TMP/tp" check 2 "run a task that is a symlink out of the task path" etl run escape '{}'

head -c 10485760 /dev/zero | tr '\0' 'a' | sed 's/^/{"big":"/; s/$/"}/' > "$ETL_TMP/big.json"
check 2 "send a 10 MB payload" sh -c "etl send q - < '$ETL_TMP/big.json'"
check 2 "run with a 10 MB payload" sh -c "etl run hello - < '$ETL_TMP/big.json'"
printf '{"ok":1}\n{"bad":\n' > "$ETL_TMP/bad.ndjson"
check 2 "send --ndjson with a bad line" etl send q --ndjson "$ETL_TMP/bad.ndjson"
like "$err" "line 2" "the error names the line"
check 2 "an unknown option" etl send q --bogus
check 2 "an unknown command" etl frobnicate
check 2 "a bad priority" etl send q '{}' --priority high
check 1 "a pg_env that does not exist" etl --pg-env nosuchenv ls
check 2 "a bad pg_env name" etl --pg-env 'x y' ls

# payloads that look like SQL are data
id=$(etl send q '{"s": "x'"'"'); DROP TABLE etl.job; -- $$ ;"}')
is "$(q "SELECT data->>'s' FROM etl.job WHERE id = '$id'")" "x'); DROP TABLE etl.job; -- \$\$ ;" "a payload with quotes, semicolons and \$\$ is stored as data"

# --help everywhere
for c in migrate "queue" send run ls show events logs cancel retry dispatch progress debug top batch schedule redrive; do
	# shellcheck disable=SC2086
	run etl $c --help
	ok $([ "$rc" -eq 0 ] && [ -n "$out" ]; echo $?) "etl $c --help prints usage and exits 0"
done
run etl --help
is "$rc" 0 "etl --help exits 0"
done_testing
