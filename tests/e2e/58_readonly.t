#!/usr/bin/env bash
# A database that turns read-only (a failover to a standby, default_transaction_read_only;
# SQLSTATE 25006): the controller drops its read-only sessions, /healthz answers 503 while
# no writable server answers, and claims resume once it is writable again (issue 15).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
writable() { PGOPTIONS="-c default_transaction_read_only=off" q "$1" >/dev/null; }
trap 'writable "ALTER SYSTEM RESET default_transaction_read_only"; writable "SELECT pg_reload_conf()"; stop_controller ro KILL' EXIT
port=$((20000 + RANDOM % 20000))
etl queue add roq --task hello >/dev/null
start_controller ro --metrics "127.0.0.1:$port"
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/healthz"; }
a=$(etl send roq '{"name": "before"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$a'" completed
ok $? "a job completes while the database is writable"
is "$(health)" 200 "/healthz: 200"

writable "ALTER SYSTEM SET default_transaction_read_only = on"
writable "SELECT pg_reload_conf()"
wait_until 20 eval '[ "$(health)" = 503 ]'
ok $? "the database turned read-only: /healthz answers 503"
wait_until 10 grep -q "the database is read-only" "$ETL_TMP/ro.log"
ok $? "the controller says why it dropped its session"
sleep 2	# read-only for a while: it must stay 503, not flap back to 200 on a reconnect
is "$(health)" 503 "and stays 503 while no writable server answers"
run etl send roq '{"name": "refused"}'
ok $([ "$rc" -ne 0 ] && echo 0 || echo 1) "a send is refused meanwhile (exit $rc)"

writable "ALTER SYSTEM RESET default_transaction_read_only"
writable "SELECT pg_reload_conf()"
wait_until 20 eval '[ "$(health)" = 200 ]'
ok $? "writable again: /healthz answers 200"
b=$(etl send roq '{"name": "after"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$b'" completed
ok $? "and claims resume: a new job completes"
stop_controller ro
done_testing
