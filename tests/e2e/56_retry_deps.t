#!/usr/bin/env bash
# Runaway retries, dependants' own start time, dead letters under their key (issue 15;
# the behaviours pg-boss's suite checks).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db

# retry delays: never a runaway
is "$(q "SELECT etl.retry_seconds(0, 0, true, 3600) BETWEEN 0.5 AND 1")" t "backoff from a delay of 0 counts from 1 s (pg-boss's floor)"
is "$(q "SELECT etl.retry_seconds(0, 4, true, 3600) BETWEEN 8 AND 16")" t "and doubles"
is "$(q "SELECT etl.retry_seconds(0, 2, false, 3600)")" 0 "a delay of 0 retries at once the first three times"
is "$(q "SELECT etl.retry_seconds(0, 3, false, 3600) || ',' || etl.retry_seconds(0, 6, false, 3600) || ',' || etl.retry_seconds(0, 40, false, 60)")" "1,8,60" "then waits 1, 2, 4 ... s up to the maximum"
is "$(q "SELECT etl.retry_seconds(5, 7, false, 3600)")" 5 "a delay given is kept"
etl queue add runaway --task exit_with --retry-limit 100000 >/dev/null
id=$(etl send runaway '{"status": 1}')
start_controller r1
sleep 5	# how many runs in 5 s is the measure
stop_controller r1
n=$(q "SELECT retry_count FROM etl.job WHERE id = '$id'")
ok $([ "$n" -le 8 ] && echo 0 || echo 1) "a failing task on a queue with a huge retry limit ran $n times in 5 s, not thousands"

# a dependant keeps its own start time
etl queue add pre --task hello >/dev/null
etl queue add dep --task hello >/dev/null
j=$(etl send pre '{"name": "p"}')
late=$(etl send dep '{"name": "late"}' --after "$j" --start-after 3600)
now=$(etl send dep '{"name": "now"}' --after "$j")
start_controller r2
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$now'" completed
ok $? "a dependant without a start time runs once its prerequisite completed"
is "$(q "SELECT state || ',' || waiting || ',' || deferred || ',' || (start_after > now() + interval '50 minutes') FROM etl.job WHERE id = '$late'")" "created,1,true,true" "one sent with --start-after 3600 waits for its hour (its prerequisite done, its time still counts: deferred)"
stop_controller r2

# dead letters keep their singleton key, and a redrive keeps the queue's policy
etl queue add dl --task hello >/dev/null
etl queue add src --task exit_with --retry-limit 0 --dead-letter dl --policy short >/dev/null
a=$(etl send src '{"status": 1}' --singleton-key k1)
start_controller r3 --queues src
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$a'" failed
ok $? "the job fails for good"
stop_controller r3
is "$(q "SELECT singleton_key FROM etl.job WHERE queue = 'dl' AND source->>'id' = '$a'")" k1 "its dead-letter copy keeps its singleton key"
b=$(etl send src '{"status": 0}' --singleton-key k1)
run etl redrive dl
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'src' AND singleton_key = 'k1' AND state IN ('created', 'retry')")" 1 "the redrive does not put a second k1 in the short queue"
is "$(q "SELECT state FROM etl.job WHERE queue = 'dl'")" created "the dead letter stays for a later redrive"
q "DELETE FROM etl.job WHERE id = '$b'" >/dev/null
etl redrive dl >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'src' AND singleton_key = 'k1' AND state = 'created'")" 1 "once the key is free it goes back, under its key"
done_testing
