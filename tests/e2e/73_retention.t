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
stop_controller rt TERM

# the journal goes with its jobs (issue 22, point 5): real runs, a parent with sub-tasks
etl queue add jr --task hello >/dev/null
etl queue add child --task sleeper >/dev/null
etl queue add jparent --task parent >/dev/null
start_controller rt --queues jr,child,jparent
for i in 1 2 3; do etl send jr "{\"name\": \"r$i\"}" >/dev/null; done
p=$(etl send jparent '{"seconds": 0.05}')
wait_until 60 qis "SELECT count(*) FROM etl.job WHERE queue IN ('jr', 'child', 'jparent') AND state = 'completed'" 7
ok $? "three jobs, a parent and its three sub-tasks ran"
stop_controller rt TERM
ctx_r=$(q "SELECT string_agg(etl_context_id::text, ',') FROM etl.job WHERE queue = 'jr'")
ctx_p=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$p'")
like "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id IN ($ctx_r)")" "^[1-9][0-9]*$" "their events are there"
before_ev=$(q "SELECT count(*) FROM etl.event")
child_ev=$(q "SELECT count(*) FROM etl.event e WHERE e.etl_context_id IN (SELECT etl_context_id FROM etl.job WHERE queue = 'child')")
gone_logs=$(q "SELECT string_agg(log_path, ' ') FROM etl.job WHERE queue IN ('jr', 'jparent')")
kept_logs=$(q "SELECT string_agg(log_path, ' ') FROM etl.job WHERE queue = 'child'")
# shellcheck disable=SC2086
ok "$(ls $gone_logs $kept_logs >/dev/null; echo $?)" "the seven jobs have their logs"
# the jr jobs and the parent expire; the sub-tasks are kept longer
q "UPDATE etl.job SET keep_until = now() - interval '1 second' WHERE queue IN ('jr', 'jparent')" >/dev/null
q "UPDATE etl.maintenance SET last_run = '-infinity'" >/dev/null
is "$(q "SELECT n FROM etl.maintain() WHERE what = 'retention'")" 4 "retention removes the four expired jobs"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id IN ($ctx_r, $ctx_p)")" 0 "  and their events"
is "$(q "SELECT count(*) FROM etl.etl_context WHERE etl_context_id IN ($ctx_r, $ctx_p)")" 0 "  and their contexts"
is "$(q "SELECT count(*) FROM etl.event e WHERE e.etl_context_id IN (SELECT etl_context_id FROM etl.job WHERE queue = 'child')")" "$child_ev" "the kept sub-tasks keep their journal ($child_ev events)"
is "$(q "SELECT count(*) FROM etl.etl_context c JOIN etl.job j USING (etl_context_id) WHERE j.queue = 'child' AND c.parent_context_id IS NULL")" 3 "  their contexts, no longer under a parent that is gone"
ok "$([ "$(q "SELECT count(*) FROM etl.event")" -lt "$before_ev" ]; echo $?)" "the event table shrank ($before_ev to $(q "SELECT count(*) FROM etl.event"))"

# their logs go with them: the controller of their host removes them (etl.log_trash)
is "$(q "SELECT count(*) FROM etl.log_trash")" 4 "retention recorded the logs of the four jobs it deleted"
start_controller rt --queues jr
gone_left() { local f n=0; for f in $gone_logs; do [ -e "$f" ] && n=$((n + 1)); done; echo "$n"; }
wait_until 20 eval '[ "$(gone_left)" = 0 ]'
ok $? "the controller removes the four logs of the deleted jobs"
# shellcheck disable=SC2086
ok "$(ls $kept_logs >/dev/null; echo $?)" "  the kept sub-tasks' logs stay"
is "$(q "SELECT count(*) FROM etl.log_trash")" 0 "  the trash is emptied"
like "$(cat "$ETL_TMP/rt.log")" "removed 4 job logs with their jobs" "  the controller says so"
stop_controller rt TERM
# a log another host's controller wrote is that controller's: a row of another host stays
q "INSERT INTO etl.log_trash (host, path) VALUES ('elsewhere', '$ETL_TMP/logs/$(cat /proc/sys/kernel/random/uuid).log')" >/dev/null

# --log-retention also removes JOB_ID.log files untouched that long, only those
old=$(cat /proc/sys/kernel/random/uuid)
new=$(cat /proc/sys/kernel/random/uuid)
echo old >"$ETL_TMP/logs/$old.log"; touch -d '20 days ago' "$ETL_TMP/logs/$old.log"
echo new >"$ETL_TMP/logs/$new.log"
echo mine >"$ETL_TMP/logs/notes.txt"; touch -d '20 days ago' "$ETL_TMP/logs/notes.txt"
start_controller rt --queues jr --log-retention 864000
wait_until 20 eval "[ ! -e '$ETL_TMP/logs/$old.log' ]"
ok $? "--log-retention 10 days: a job log untouched for 20 days is removed"
ok "$([ -e "$ETL_TMP/logs/$new.log" ] && [ -e "$ETL_TMP/logs/notes.txt" ]; echo $?)" "  a recent one stays, and a file that is no job log"
like "$(cat "$ETL_TMP/rt.log")" "removed 1 job log untouched for 10 days" "  the controller says so"
is "$(q "SELECT count(*) FROM etl.log_trash WHERE host = 'elsewhere'")" 1 "a log recorded for another host is left to its controller"
stop_controller rt TERM
rm -f "$ETL_TMP/logs/notes.txt" "$ETL_TMP/logs/$new.log"
done_testing
