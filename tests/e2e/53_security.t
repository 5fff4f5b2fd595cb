#!/usr/bin/env bash
# Security: parameters everywhere, names validated, a clean task environment, no
# password in argv, logs or events, logs and pidfiles never written through links
# (issue 9).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
evil="x'); DROP TABLE etl.job; -- \$\$ ;"

run etl queue add "q'; DROP TABLE etl.job; --" --task hello
is "$rc" 2 "a queue name with a quote and a semicolon is refused"
etl queue add safe --task hello --policy short >/dev/null
id=$(etl send safe "{\"s\": \"$evil\"}" --singleton-key "$evil")
is "$(q "SELECT singleton_key FROM etl.job WHERE id = '$id'")" "$evil" "a singleton key with quotes, ; and \$\$ is stored as data"
is "$(q "SELECT data->>'s' FROM etl.job WHERE id = '$id'")" "$evil" "so is the payload"
b=$(etl batch new --data "{\"d\": \"$evil\"}")
is "$(q "SELECT data->>'d' FROM etl.batch WHERE id = '$b'")" "$evil" "and a batch's data"
run etl schedule add "s'x" safe '* * * * *'
is "$rc" 2 "a schedule name with a quote is refused"
run etl events "1; DROP TABLE etl.job"
is "$rc" 2 "a context id that is not a number is refused"
run etl run csv_load "{\"file\": \"/etc/hostname\", \"table\": \"$evil\"}"
is "$rc" 65 "a table name with SQL in it is refused by csv_load"
is "$(q "SELECT count(*) FROM pg_tables WHERE schemaname = 'etl' AND tablename = 'job'")" 1 "etl.job is still there"
ETL_MAX_PAYLOAD=1000 run etl send safe "{\"big\": \"$(head -c 2000 /dev/zero | tr '\0' a)\"}"
is "$rc" 2 "the payload limit is configurable (ETL_MAX_PAYLOAD)"

# a clean environment, and no password anywhere
etl queue add env --task envdump >/dev/null
export SECRET_TOKEN=do-not-leak PGPASSWORD=sekrit-pw-42
start_controller c1
unset SECRET_TOKEN
j=$(etl send env '{}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
log=$(q "SELECT log_path FROM etl.job WHERE id = '$j'")
like "$(cat "$log")" "ETL_JOB_ID=$j" "the task gets ETL_JOB_ID"
ok "$(! grep -q SECRET_TOKEN "$log"; echo $?)" "but not the controller's other variables"
ok "$(! grep -q PGPASSWORD "$log"; echo $?)" "nor PGPASSWORD"
ok "$(! grep -rq sekrit-pw-42 "$ETL_TMP"/*.log "$ETL_TMP/logs"; echo $?)" "no password in the controller's or the jobs' logs"
ok "$(! ps -eo args | grep -v grep | grep -q sekrit-pw-42; echo $?)" "nor in any process's arguments"
is "$(q "SELECT count(*) FROM etl.event WHERE payload::text LIKE '%sekrit-pw-42%' OR meta::text LIKE '%sekrit-pw-42%'")" 0 "nor in any event"
unset PGPASSWORD

# a log file is never opened through a link planted where it will be
etl queue add late --task hello >/dev/null
stop_controller c1 TERM
echo precious > "$ETL_TMP/victim"
l=$(etl send late '{"name": "x"}')
ln -s "$ETL_TMP/victim" "$ETL_TMP/logs/$l.log"
start_controller c1
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$l'" completed
ok $? "the job still runs"
is "$(cat "$ETL_TMP/victim")" precious "the file behind the planted link is untouched"
grep -q "cannot open its log" "$ETL_TMP/c1.log"
ok $? "and the controller says why it could not log"
stop_controller c1 TERM
ln -s "$ETL_TMP/victim" "$ETL_TMP/evil.pid"
run etl-controller --pidfile "$ETL_TMP/evil.pid" --log-dir "$ETL_TMP/logs"
is "$rc" 1 "a pidfile that is a symbolic link is refused"
is "$(cat "$ETL_TMP/victim")" precious "and its target untouched"
done_testing
