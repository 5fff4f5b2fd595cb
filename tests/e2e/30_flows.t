#!/usr/bin/env bash
# Flows: batches, dependencies, policies, throttle, cron, retention, redrive, sub-tasks
# (issue 4).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL; stop_controller b KILL' EXIT
for q in item cb_success cb_finish cb_discard; do
	etl queue add $q --task exit_with --retry-limit 0 >/dev/null
done

# 1: a batch of 200 jobs on two controllers: on_success and on_finish once, after the last
batch=$(etl batch new --on-success cb_success --on-finish cb_finish --on-discard cb_discard --data '{"dataset": 7}')
like "$batch" '^[0-9a-f-]{36}$' "etl batch new prints an id"
seq 1 200 | sed 's/.*/{"n": &}/' | etl send item --batch "$batch" --ndjson - >/dev/null
etl batch close "$batch" >/dev/null
start_controller a --concurrency 4
start_controller b --concurrency 4
wait_until 60 qis "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish' AND state = 'completed'" 1
ok $? "on_finish ran"
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE queue = 'cb_success' AND state = 'completed'" 1
ok $? "on_success ran"
sleep 1
is "$(jobs_in completed item)" 200 "all 200 items completed"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish'")" 1 "on_finish exactly once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_success'")" 1 "on_success exactly once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_discard'")" 0 "on_discard never"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'item'")" 2 "both controllers ran items"
is "$(q "SELECT (SELECT created_on FROM etl.job WHERE queue = 'cb_success') >= (SELECT max(completed_on) FROM etl.job WHERE queue = 'item')")" t "the callback came after the last item"
is "$(q "SELECT data->>'completed' || ' ' || (data->>'jobs') || ' ' || (data->'data'->>'dataset') || ' ' || (data->>'batch_id') FROM etl.job WHERE queue = 'cb_success'")" "200 200 7 $batch" "its payload has the counts, the batch data and id"
run etl batch show "$batch" --json
like "$out" '"completed":\s*200' "etl batch show has the counts"

# ... and with one job exiting 65: on_discard once, on_success never, on_finish once
b2=$(etl batch new --on-success cb_success --on-finish cb_finish --on-discard cb_discard)
{ seq 1 199 | sed 's/.*/{"n": &}/'; echo '{"status": 65}'; } | etl send item --batch "$b2" --ndjson - >/dev/null
etl batch close "$b2" >/dev/null
wait_until 60 qis "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish' AND data->>'batch_id' = '$b2' AND state = 'completed'" 1
ok $? "the second batch finished"
sleep 1
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_discard' AND data->>'batch_id' = '$b2'")" 1 "on_discard exactly once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_success' AND data->>'batch_id' = '$b2'")" 0 "on_success never"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish' AND data->>'batch_id' = '$b2'")" 1 "on_finish exactly once"
# retry re-arms: fix nothing, the job fails again, discard fires again once
run etl batch retry "$b2"
like "$out" "re-queued 1 failed job" "batch retry re-queues the failed job"
wait_until 30 qis "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish' AND data->>'batch_id' = '$b2'" 2
ok $? "after the retry the batch finishes again, on_finish once more"
# a closed empty batch fires at once
b3=$(etl batch new --on-finish cb_finish)
etl batch close "$b3" >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cb_finish' AND data->>'batch_id' = '$b3'")" 1 "a closed empty batch fires on_finish"
run etl send item '{}' --batch 00000000-0000-0000-0000-000000000000
is "$rc" 3 "sending to an unknown batch: exit 3"

# 2: a job after 500 others starts only after the 500th completed
stop_controller a TERM
stop_controller b TERM
etl queue add pre --task exit_with >/dev/null
etl queue add solo --task exit_with >/dev/null
etl queue add fanin --task exit_with >/dev/null
seq 1 500 | sed 's/.*/{"n": &}/' | etl send pre --ndjson - >/dev/null
ids=$(q "SELECT string_agg(id::text, ',') FROM etl.job WHERE queue = 'pre'")
dep=$(etl send fanin '{"fan": "in"}' --after "$ids")
is "$(q "SELECT waiting FROM etl.job WHERE id = '$dep'")" 500 "the dependant waits for 500 jobs"
seq 1 500 | sed 's/.*/{"n": &}/' | etl send solo --ndjson - >/dev/null
start_controller a --concurrency 8 --queues pre,fanin
t0=$(date +%s.%N)
wait_until 120 all_in 500 completed pre
t_dep=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$dep'" completed
ok $? "the dependant ran after them"
is "$(q "SELECT (SELECT started_on FROM etl.job WHERE id = '$dep') >= (SELECT max(completed_on) FROM etl.job WHERE queue = 'pre')")" t "it started only after the 500th completed"
stop_controller a TERM
start_controller a --concurrency 8 --queues solo
t0=$(date +%s.%N)
wait_until 120 all_in 500 completed solo
t_solo=$(awk "BEGIN { print $(date +%s.%N) - $t0 }")
diag "500 jobs with a dependant: ${t_dep} s; 500 jobs without: ${t_solo} s"
stop_controller a TERM
# a failed prerequisite cancels the dependant
etl queue add once --task exit_with --retry-limit 0 >/dev/null
bad=$(etl send once '{"status": 65}')
dep2=$(etl send fanin '{}' --after "$bad")
start_controller a --queues once
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$dep2'" cancelled
ok $? "a job waiting for one that fails for good is cancelled"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$dep2'")" "$bad it waited for is failed" "with the reason"
stop_controller a TERM

# 3: policies: 20 concurrent sends of one key
for policy in standard short singleton stately exclusive; do
	etl queue add "p_$policy" --task exit_with --policy "$policy" >/dev/null
	for i in $(seq 1 20); do etl send "p_$policy" '{}' --singleton-key k1 >/dev/null 2>&1 & done
	wait
done
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p_standard'")" 20 "standard: all 20"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p_short'")" 1 "short: one queued"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p_singleton'")" 20 "singleton: 20 queued (one active at most)"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p_stately'")" 1 "stately: one queued"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p_exclusive'")" 1 "exclusive: one"
run etl send p_short '{}' --singleton-key k1
is "$rc" 0 "a send kept out by the policy exits 0"
is "$out" "" "with no id"
like "$err" "already has a job with singleton key" "and says why"
first=$(qtool claim p_singleton)
run qtool claim p_singleton
is "$rc" 3 "singleton: no second job of the key while one is active"
qtool complete "$first"
ok "$(qtool claim p_singleton >/dev/null; echo $?)" "the next one once the first completed"
s2=$(qtool claim p_stately)
is "$(etl send p_stately '{}' --singleton-key k1 | wc -l)" 1 "stately: one more queued while one is active"
run etl send p_stately '{}' --singleton-key k1
is "$out" "" "but not two"
run etl send p_exclusive '{}' --singleton-key k1
is "$out" "" "exclusive: none while one is queued"
is "$(etl send p_short '{}' --singleton-key k2 | wc -l)" 1 "another key is another job"

# 4: throttle and debounce
etl queue add thr --task exit_with >/dev/null
one=$(etl send thr '{"n":1}' --singleton-key t --singleton-seconds 3600)
run etl send thr '{"n":2}' --singleton-key t --singleton-seconds 3600
is "$out" "" "throttle: a second send in the slot gives no id"
like "$err" "throttled" "and says so"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'thr'")" 1 "one job"
deb=$(etl send thr '{"n":3}' --singleton-key t --singleton-seconds 3600 --debounce)
like "$deb" '^[0-9a-f-]{36}$' "debounce: the send gets an id"
is "$(q "SELECT (singleton_on - (SELECT singleton_on FROM etl.job WHERE id = '$one'))::text || ' ' || (start_after = singleton_on) FROM etl.job WHERE id = '$deb'")" "01:00:00 true" "in the next slot, starting with it"
run etl send thr '{"n":4}' --singleton-key t --singleton-seconds 3600 --debounce
is "$out" "" "both slots taken: no id"

# 5: cron: one job per tick, DST-safe
etl queue add cronq --task exit_with >/dev/null
run etl schedule add every cronq '* * * * *' '{"from":"cron"}'
is "$rc" 0 "schedule add"
run etl schedule add bad cronq '61 * * * *'
is "$rc" 2 "a bad cron is refused (exit 2)"
run etl schedule add badtz cronq '* * * * *' --tz Mars/Olympus
is "$rc" 2 "an unknown time zone is refused (exit 2)"
run etl schedule add noq nosuchq '* * * * *'
is "$rc" 3 "a schedule for an unknown queue: exit 3"
for round in 1 2 3; do
	q "UPDATE etl.schedule SET last_tick_local = last_tick_local - interval '5 minutes' WHERE name = 'every'" >/dev/null
	before=$(q "SELECT count(*) FROM etl.job WHERE queue = 'cronq'")
	for i in 1 2 3 4; do q "SELECT count(*) FROM etl.maintain()" >/dev/null & done
	wait
	is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'cronq'")" $((before + 1)) "round $round: four concurrent maintenance runs over a backdated tick: one job"
done
etl queue add nyc --task exit_with >/dev/null
etl schedule add fallback nyc '30 1 * * *' --tz America/New_York >/dev/null
q "SELECT count(*) FROM etl.maintain('2026-11-01 05:30:10+00')" >/dev/null
q "SELECT count(*) FROM etl.maintain('2026-11-01 06:30:10+00')" >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'nyc'")" 1 "DST fall-back: 01:30 New York time runs once, not twice"
etl schedule add springfwd nyc '30 2 8 3 *' --tz America/New_York >/dev/null
q "SELECT count(*) FROM etl.maintain('2026-03-08 06:30:10+00')" >/dev/null
q "SELECT count(*) FROM etl.maintain('2026-03-08 07:30:10+00')" >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'nyc'")" 1 "DST spring-forward: 02:30 does not exist and does not run"
etl schedule rm fallback >/dev/null; etl schedule rm springfwd >/dev/null
# job options on a schedule: each tick's job carries them
etl queue add optq --task exit_with --retry-limit 2 >/dev/null
run etl schedule add withopts optq '0 3 * * *' '{"o": 1}' --priority 7 --retry-limit 5 --retry-delay 30 --singleton-key nightly --expire-seconds 600
is "$rc" 0 "schedule add with job options"
is "$(q "SELECT options FROM etl.schedule WHERE name = 'withopts'")" '{"priority": 7, "retry_delay": 30, "retry_limit": 5, "singleton_key": "nightly", "expire_seconds": 600}' "  the options stored with the schedule"
q "SELECT count(*) FROM etl.maintain('2026-06-01 03:00:10+00')" >/dev/null
is "$(q "SELECT priority || ' ' || retry_limit || ' ' || retry_delay || ' ' || singleton_key || ' ' || expire_seconds || ' ' || (data->>'o') FROM etl.job WHERE queue = 'optq'")" "7 5 30 nightly 600 1" "  the tick's job has them (its own retry limit over the queue's 2)"
run etl schedule add badopts optq '0 3 * * *' --retry-limit -1
is "$rc" 2 "  a bad option is refused (exit 2)"
run etl schedule ls --priority 3
is "$rc" 2 "  job options go with add only"
etl schedule rm withopts >/dev/null
# two controllers with an every-minute schedule: one job per tick
q "DELETE FROM etl.job WHERE queue = 'cronq'; UPDATE etl.schedule SET last_tick_local = NULL" >/dev/null
start_controller a --queues none_here --dead-after 4
start_controller b --queues none_here --dead-after 4
wait_until 20 qge "SELECT count(*) FROM etl.job WHERE queue = 'cronq'" 1
ok $? "the controllers' maintenance ticks the schedule"
sleep 3
is "$(q "SELECT count(*) = count(DISTINCT date_trunc('minute', created_on)) FROM etl.job WHERE queue = 'cronq'")" t "one job per tick with two controllers"
run etl schedule ls
like "$out" "every +cronq" "schedule ls lists it"
like "$out" "every +cronq .* [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}$" "  with its next fire time"
is "$(etl schedule ls --json | jq '.[0].next | length')" 3 "  --json: the next three"
stop_controller a TERM
stop_controller b TERM
etl schedule rm every >/dev/null

# 6: retention deletes only finished jobs past keep_until
etl queue add ret --task exit_with >/dev/null
for i in 1 2 3 4; do etl send ret '{}' >/dev/null; done
q "UPDATE etl.job SET state = 'active', started_on = now() WHERE queue = 'ret' AND id = (SELECT id FROM etl.job WHERE queue = 'ret' ORDER BY created_on LIMIT 1)" >/dev/null
# the state rule sets completion and retention on the move; backdated after it
q "UPDATE etl.job SET state = 'completed' WHERE queue = 'ret' AND state = 'created' AND id IN (SELECT id FROM etl.job WHERE queue = 'ret' AND state = 'created' ORDER BY created_on LIMIT 2)" >/dev/null
q "UPDATE etl.job SET completed_on = now() - interval '30 days', keep_until = now() - interval '1 day' WHERE queue = 'ret' AND state = 'completed'" >/dev/null
q "UPDATE etl.job SET created_on = now() - interval '60 days' WHERE queue = 'ret' AND state IN ('created', 'active')" >/dev/null
q "UPDATE etl.maintenance SET last_run = '-infinity'" >/dev/null
q "SELECT count(*) FROM etl.maintain()" >/dev/null
is "$(q "SELECT string_agg(state::text, ',' ORDER BY state) FROM etl.job WHERE queue = 'ret'")" "created,active" "only the finished jobs past keep_until are gone, old queued and active ones stay"
q "UPDATE etl.job SET created_on = now() WHERE queue = 'ret'" >/dev/null

# 7: redrive returns dead-lettered jobs exactly once
etl queue add dlq --task exit_with >/dev/null
etl queue add src --task exit_with --retry-limit 0 --dead-letter dlq >/dev/null
sid=$(etl send src '{"redrive": "me"}')
qtool claim src >/dev/null
qtool fail "$sid"
is "$(q "SELECT (source->>'queue') || ' ' || (source->>'id') || ' ' || (source->>'retry_count') FROM etl.job WHERE queue = 'dlq'")" "src $sid 0" "the dead letter names its source"
run etl redrive dlq
is "$out" "redrove 1 job" "redrive moves it back"
run etl redrive dlq
is "$out" "redrove 0 jobs" "and only once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'src' AND data->>'redrive' = 'me' AND state = 'created'")" 1 "the source queue has it again"
# --limit N: at most N, the oldest first
etl cancel "$(q "SELECT id FROM etl.job WHERE queue = 'src' AND data->>'redrive' = 'me' AND state = 'created'")" >/dev/null
for k in 1 2 3; do
	x=$(etl send src "{\"redrive\": \"lim$k\"}")
	qtool claim src >/dev/null
	qtool fail "$x"
done
run etl redrive dlq --limit 2
is "$out" "redrove 2 jobs" "redrive --limit 2: two of three"
is "$(q "SELECT string_agg(data->>'redrive', ',' ORDER BY created_on) FROM etl.job WHERE queue = 'src' AND data->>'redrive' LIKE 'lim%' AND state = 'created'")" "lim1,lim2" "  the oldest first"
run etl redrive dlq --limit 0
is "$rc" 2 "  --limit 0: bad usage"
run etl redrive dlq
is "$out" "redrove 1 job" "  and the rest after"

# 8: sub-tasks: a parent killed after its second child started
etl queue add child --task sleeper >/dev/null
etl queue add parent --task parent --retry-limit 2 >/dev/null
start_controller a --concurrency 4
pid_job=$(etl send parent '{"seconds": 1.5}')
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE queue = 'child' AND idempotency_key = 'c2' AND attached" 1
ok $? "the second child runs"
ppid=$(q "SELECT pid FROM etl.job WHERE id = '$pid_job'")
kill -9 "$ppid"
wait_until 60 qis "SELECT state FROM etl.job WHERE id = '$pid_job'" completed
ok $? "the retried parent completes"
is "$(q "SELECT retry_count FROM etl.job WHERE id = '$pid_job'")" 1 "after one retry"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'child'")" 3 "three children in all"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'child' AND retry_count = 0 AND state = 'completed'")" 3 "each ran once"
pctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$pid_job'")
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $pctx AND type = 'parent:child_QUEUED'")" 3 "the parent's context: one QUEUED per child"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $pctx AND type = 'parent:child_DONE'")" 3 "and one DONE per child"
is "$(q "SELECT count(*) FROM etl.etl_context WHERE parent_context_id = $pctx")" 3 "the children's contexts hang under the parent's"
run etl events --tree "$pctx"
is "$(printf '%s\n' "$out" | grep -c '^    context')" 3 "etl events --tree shows the three children under it"
like "$(q "SELECT output::text FROM etl.job WHERE id = '$pid_job'")" '"children": \[\{"slept": 1.5\}, \{"slept": 1.5\}, \{"slept": 1.5\}\]' "the parent's result has its children's"
stop_controller a TERM
done_testing
