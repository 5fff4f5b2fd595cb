#!/usr/bin/env bash
# run.sh BUILD_DIR: the test suite.  Starts a throwaway PostgreSQL, runs the C unit tests
# and the end-to-end tests (TAP, by prove) against the binaries in BUILD_DIR, stops the
# cluster, and fails if anything failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
cd "$top" || exit 1
# shellcheck source=tests/lib/cluster.sh
. tests/lib/cluster.sh

tmp="$top/tmp_check/$(basename "$build")"
rm -rf "$tmp"
mkdir -p "$tmp"
if ! cluster_start "$tmp/pg"; then
	echo "tests: could not start PostgreSQL" >&2
	exit 1
fi
trap cluster_stop EXIT INT TERM

export PATH="$build/bin:$build/tests/tools:$PATH"
export ETL_BUILD=$build ETL_TOP=$top ETL_TMP=$tmp
export ETL_TASK_PATH="$build/tasks:$build/tests/tasks"
export ETL_PG_ENV=test
export PGBIN CLUSTER_DIR CLUSTER_OSUSER
# psql NOTICEs (DROP ... CASCADE) are noise in the TAP output
export PGOPTIONS="-c client_min_messages=warning"
# the test runner's own user must be able to write the log folder the tasks use
chmod 0777 "$tmp"
# under ASan, leaks in short-lived CLI runs are reported; keep them fatal
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
prove -f ${PROVE_FLAGS:-} --exec '' "$build"/tests/unit/* || status=1
prove -f ${PROVE_FLAGS:-} --exec bash ${TESTS:-tests/e2e/*.t} || status=1
exit $status
