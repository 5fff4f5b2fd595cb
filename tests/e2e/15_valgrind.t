#!/usr/bin/env bash
# The controller under valgrind on the acceptance-1 workload: no leak "definitely lost"
# (issue 3, #11).
. "$ETL_TOP/tests/lib/tap.sh"
if ! command -v valgrind >/dev/null; then
	echo "1..0 # SKIP valgrind is not installed"
	exit 0
fi
case "$ETL_BUILD" in *asan*)
	echo "1..0 # SKIP valgrind does not run ASan builds (the plain build's run covers it)"
	exit 0;;
esac
reset_db
trap 'stop_controller vg KILL' EXIT
etl queue add hello --task hello >/dev/null
CTL_WAIT=60 CTL_WRAPPER="valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 --log-file=$ETL_TMP/valgrind.log" \
	start_controller vg --concurrency 8
ok $? "the controller starts under valgrind"
seq 1 1000 | sed 's/.*/{"name": "v&"}/' | etl send hello --ndjson - >/dev/null
wait_until 300 all_in 1000 completed hello
ok $? "1,000 jobs completed"
stop_controller vg TERM
is "$rc" 0 "it exits 0 on SIGTERM (valgrind found no error)"
like "$(grep -E 'definitely lost|All heap blocks were freed' "$ETL_TMP/valgrind.log" | head -1)" "definitely lost: 0 bytes|All heap blocks were freed" "no leak definitely lost"
grep -E "definitely lost|ERROR SUMMARY" "$ETL_TMP/valgrind.log" | sed 's/^/# /'
done_testing
