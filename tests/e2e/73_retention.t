#!/usr/bin/env bash
# Retention in bounded batches (issue 22, point 4): one maintenance call removes at most
# 5,000 finished jobs past their keep_until (oldest first), and leaves the gate open when
# it did a full batch; a controller then goes on at once, a statement a batch, so its
# heartbeat is never behind one long DELETE.  A finished job's dependency rows go with it.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller rt KILL' EXIT
etl queue add old --task exit_with >/dev/null
# 12,000 finished jobs past their retention, written past the state rule (no job is born
# completed) in one statement; and one finished job still kept
q "ALTER TABLE etl.job DISABLE TRIGGER job_state_birth;
   INSERT INTO etl.job (queue, data, state, started_on, completed_on, keep_until)
   SELECT 'old', '{}', 'completed', now(), now(), now() - interval '1 day' - g * interval '1 second'
     FROM generate_series(1, 12000) g;
   INSERT INTO etl.job (queue, data, state, started_on, completed_on, keep_until)
   VALUES ('old', '{\"kept\": true}', 'completed', now(), now(), now() + interval '1 day');
   ALTER TABLE etl.job ENABLE TRIGGER job_state_birth" >/dev/null
a=$(q "SELECT id FROM etl.job WHERE queue = 'old' ORDER BY keep_until LIMIT 1")
q "INSERT INTO etl.job_dep (job_id, after_id) SELECT gen_random_uuid(), '$a'" >/dev/null
q "UPDATE etl.maintenance SET last_run = '-infinity'" >/dev/null
is "$(q "SELECT n FROM etl.maintain() WHERE what = 'retention'")" 5000 "one call removes 5,000 jobs"
is "$(q "SELECT count(*) FROM etl.job_dep WHERE after_id = '$a'")" 0 "the oldest first, with its dependency rows"
is "$(q "SELECT last_run = '-infinity' FROM etl.maintenance WHERE name = 'retention'")" t "a full batch leaves the gate open"
start_controller rt --queues old
wait_until 30 qis "SELECT count(*) FROM etl.job WHERE queue = 'old'" 1
ok $? "a controller removes the rest at once, batch after batch"
is "$(q "SELECT data->>'kept' FROM etl.job WHERE queue = 'old'")" true "the job still kept stays"
ok "$(grep -c 'maintenance: retention' "$ETL_TMP/rt.log" | awk '{ print ($1 >= 2) ? 0 : 1 }')" "in more than one statement ($(grep 'maintenance: retention' "$ETL_TMP/rt.log" | sed 's/.*retention: //' | tr '\n' ' '))"
is "$(q "SELECT last_run > now() - interval '1 minute' FROM etl.maintenance WHERE name = 'retention'")" t "the last, not full, closes the gate for a minute"
done_testing
