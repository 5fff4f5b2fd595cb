#!/usr/bin/env bash
# Hung connections (issue 22, point 7): the controller's backends stopped (SIGSTOP, as a
# frozen server or a blackholed path looks from the client): /healthz says so once a
# statement has waited a third of --db-timeout, the connection is given up at the
# deadline and made again, the old backend (holding the controller's liveness lock) is
# ended from the new one, and work goes on.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
stopped=
trap '[ -n "$stopped" ] && kill -CONT $stopped 2>/dev/null; stop_controller hd KILL' EXIT
port=$((20000 + RANDOM % 20000))
etl queue add hello --task hello >/dev/null
start_controller hd --metrics "127.0.0.1:$port" --db-timeout 3
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz"; }
j=$(etl send hello '{"name": "before"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
ok $? "a job runs"
is "$(health)" 200 "/healthz: 200"

stopped=$(q "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'etl-controller'")
like "$stopped" "^[0-9]+ [0-9]+ [0-9]+$" "the controller's three backends ($stopped)"
# shellcheck disable=SC2086
kill -STOP $stopped
t0=$SECONDS
wait_until 10 eval '[ "$(health)" = 503 ]'
ok $? "backends stopped: /healthz answers 503 while a statement waits"
like "$(curl -s --max-time 2 "http://127.0.0.1:$port/healthz")" "database (not answering|down)" "  saying why"
wait_until 15 grep -q "no answer in 3 s (--db-timeout)" "$ETL_TMP/hd.log"
ok $? "the hung connection is given up at --db-timeout (3 s)"
wait_until 10 qis "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'etl-controller' AND pid NOT IN (${stopped// /,})" t
ok $? "  and made again: a new backend"
ok "$([ $((SECONDS - t0)) -le 15 ]; echo $?)" "  within the deadline and a reconnect ($((SECONDS - t0)) s)"
# the old backends come back to life: the one given up on (the main connection's, with
# a statement in flight) is ended from the new connection and lets go of the
# controller's liveness lock; the idle ones (ends, maintenance) simply serve again
# shellcheck disable=SC2086
kill -CONT $stopped
wait_until 15 qis "SELECT count(*) < 3 FROM pg_stat_activity WHERE pid IN (${stopped// /,})" t
ok $? "the backend given up on is ended"
stopped=
grep -q "the backend we gave up on" "$ETL_TMP/hd.log"
ok $? "  by the controller, from its new connection"
j=$(etl send hello '{"name": "after"}')
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
ok $? "work goes on: a job sent after runs"
wait_until 10 eval '[ "$(health)" = 200 ]'
ok $? "/healthz: 200 again"
is "$(q "SELECT count(*) FROM etl.job WHERE state = 'active'")" 0 "nothing left active"
stop_controller hd TERM
done_testing
