#!/usr/bin/env bash
# Heartbeats (issue 14, point 6): a queue's heartbeat_seconds is enforced.  A libetl task
# beats while it lives (a thread of libetl); a task in another language beats with
# `etl progress` and `etl dispatch`; a job whose heartbeat grows older than its queue's
# heartbeat_seconds is stopped and failed like an expired one, the reason in its ERROR.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL' EXIT
etl queue add hb_c --task sleeper --heartbeat-seconds 2 --retry-limit 0 >/dev/null
etl queue add hb_sh --task plain --heartbeat-seconds 2 --retry-limit 0 >/dev/null
etl queue add hb_quiet --task plain --heartbeat-seconds 2 --retry-limit 0 >/dev/null
start_controller a --concurrency 4

c=$(etl send hb_c '{"seconds": 6}')
p=$(etl send hb_sh '{"ticks": 10}')
s=$(etl send hb_quiet '{"seconds": 30}')
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$s'" failed
ok $? "a task that does not beat fails"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$s'")" "no heartbeat for [0-9]+ s \\(its queue's heartbeat_seconds is 2\\)" "its ERROR says it had no heartbeat"
is "$(q "SELECT extract(epoch FROM completed_on - started_on) < 8 FROM etl.job WHERE id = '$s'")" t "soon after its heartbeat_seconds (not at its expiry)"
wait_until 5 qis "SELECT heartbeat_on > started_on + interval '2 seconds' FROM etl.job WHERE id = '$c'" t
ok $? "a libetl task's heartbeat moves while it runs (libetl's thread)"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$c'" completed
ok $? "a libetl task that runs 6 s under a 2 s heartbeat completes"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$p'" completed
ok $? "a shell task that calls etl progress for 5 s completes"
# no heartbeat_seconds: never stopped for it
etl queue add hb_none --task plain --retry-limit 0 >/dev/null
n=$(etl send hb_none '{"seconds": 3}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$n'" completed
ok $? "a queue without heartbeat_seconds does not need beats"
stop_controller a TERM
done_testing
