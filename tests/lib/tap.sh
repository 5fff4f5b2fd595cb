# shellcheck shell=bash
# tap.sh: TAP output and helpers for the end-to-end tests, run by prove.  Every test
# file sources this; the environment (cluster, PATH, ETL_*) comes from tests/run.sh.
set -u

_tap_n=0
_tap_failed=0

ok() {	# ok COND-EXIT-STATUS DESCRIPTION  (use: ok $? "desc" or cmd; ok $? ...)
	local st=$1; shift
	_tap_n=$((_tap_n + 1))
	if [ "$st" -eq 0 ]; then
		echo "ok $_tap_n - $*"
	else
		echo "not ok $_tap_n - $*"
		_tap_failed=$((_tap_failed + 1))
	fi
}

is() {	# is GOT WANT DESCRIPTION
	local got=$1 want=$2; shift 2
	if [ "$got" = "$want" ]; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want: %s\n' "$got" "$want"
	fi
}

like() {	# like GOT REGEX DESCRIPTION
	local got=$1 re=$2; shift 2
	if printf '%s' "$got" | grep -Eq -- "$re"; then
		ok 0 "$*"
	else
		ok 1 "$*"
		printf '#   got:  %s\n#   want match: %s\n' "$got" "$re"
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
