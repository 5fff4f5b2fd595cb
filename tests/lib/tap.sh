# shellcheck shell=bash
# tap.sh: TAP output and helpers for the end-to-end tests, run by prove.  Every test
# file sources this; the environment (cluster, PATH, ETL_*) comes from tests/run.sh.
set -u

_tap_n=0
_tap_failed=0

ok() {	# ok COND-EXIT-STATUS DESCRIPTION: returns the status (ok $? "desc" || diag ...)
	local st=$1; shift
	_tap_n=$((_tap_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
	return "$st"
}

is() {	# is GOT WANT DESCRIPTION
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want: %s\n' "$got" "$want"
		return 1
	fi
}

like() {	# like GOT REGEX DESCRIPTION
	local got=$1 re=$2; shift 2
	if printf '%s' "$got" | grep -Eq -- "$re"; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want match: %s\n' "$got" "$re"
		return 1
	fi
}

diag() { echo "# $*"; }

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" -eq 0 ]
	exit $?
}

# SQL against the test database (pg_env "test"): one value per line, no headers.
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "service=${2:-test}" -c "$1"; }

# wait_until SECONDS CMD...: poll CMD every 50 ms until it succeeds; 1 on timeout.
wait_until() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge "$end" ] && return 1
		sleep 0.05
	done
	return 0
}

# run CMD...: run it, keeping stdout in $out, stderr in $err, status in $rc.
run() {
	local ef
	ef=$(mktemp)
	out=$("$@" 2>"$ef")
	rc=$?
	err=$(cat "$ef")
	rm -f "$ef"
	return 0
}

# A fresh schema in the test databases for each test file.
reset_db() {
	local db
	for db in test other; do
		psql -X -q -v ON_ERROR_STOP=1 "service=$db" -c 'DROP SCHEMA IF EXISTS etl CASCADE' \
			>/dev/null 2>&1
	done
	etl migrate >/dev/null && etl --pg-env other migrate >/dev/null
}

# start_controller NAME [ARGS...]: an etl-controller in the background, logging to
# $ETL_TMP/NAME.log; its pid in CTL_PID_<NAME>.  Waits until it is connected.
start_controller() {
	local name=$1; shift
	local log="$ETL_TMP/$name.log" before=0
	mkdir -p "$ETL_TMP/logs"
	# the log is appended to (a restart keeps what came before): wait for this start's line
	[ -f "$log" ] && before=$(wc -l <"$log")
	# as root the tests' tasks write where only root may: ask for root explicitly
	local asroot=
	[ "$(id -u)" -eq 0 ] && asroot="--user root"
	# shellcheck disable=SC2086
	${CTL_WRAPPER:-} etl-controller --id "$name" --log-dir "$ETL_TMP/logs" \
		--poll-interval 0.2 --heartbeat 1 $asroot "$@" >>"$log" 2>&1 &
	eval "CTL_PID_$name=$!"
	wait_until "${CTL_WAIT:-10}" eval "tail -n +$((before + 1)) '$log' | grep -q 'connected to pg_env'"
}

# stop_controller NAME [SIGNAL]: stop it and wait for it to exit; its exit status in $rc.
stop_controller() {
	local name=$1 sig=${2:-TERM} pid
	eval "pid=\${CTL_PID_$name:-}"
	[ -n "$pid" ] || return 0
	kill -s "$sig" "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rc=$?
	eval "CTL_PID_$name="
	return 0
}

# count of jobs in STATE (of QUEUE if given)
jobs_in() { q "SELECT count(*) FROM etl.job WHERE state = '$1'${2:+ AND queue = '$2'}"; }
all_in() {	# all_in N STATE [QUEUE]: exactly N jobs are in STATE
	[ "$(jobs_in "$2" "${3:-}")" = "$1" ]
}
# For wait_until (a command run again each time): the query's answer is, or is at least.
qis() { [ "$(q "$1")" = "$2" ]; }
qge() { [ "$(q "$1")" -ge "$2" ] 2>/dev/null; }
# alive PID: the process exists and is not a zombie (PID 1 here may not reap orphans).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
# group_alive PGID: a live (not zombie) process is in the group.
group_alive() { ps -eo pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }

# start_api NAME [ARGS...]: an etl-api on a free port of 127.0.0.1, logging to
# $ETL_TMP/NAME.log; its pid in API_PID, its base URL (http://127.0.0.1:PORT) in API_URL.
start_api() {
	local name=$1; shift
	local log="$ETL_TMP/$name.log"
	: >"$log"
	etl-api --listen 127.0.0.1:0 "$@" >>"$log" 2>&1 &
	API_PID=$!
	if ! wait_until 10 grep -q "listening on http" "$log"; then
		API_URL=
		return 1
	fi
	API_URL=$(sed -n 's|.*listening on \(https\?://[^ ]*\)/$|\1|p' "$log" | head -1)
}

# api METHOD PATH [TOKEN] [BODY] [CURL-ARGS...]: a request to $API_URL; the status in
# $code, the body in $body.
api() {
	local m=$1 p=$2 tok=${3:-} data=${4:-}
	shift $(($# < 4 ? $# : 4))
	local args=(-s -o "$ETL_TMP/api_body" -w '%{http_code}' -X "$m" --max-time 20)
	[ -n "$tok" ] && args+=(-H "Authorization: Bearer $tok")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	code=$(curl "${args[@]}" "$@" "$API_URL$p")
	body=$(cat "$ETL_TMP/api_body")
}
