#!/usr/bin/env bash
# Nothing stuck, nothing runaway (issue 15): an end statement the database refuses is
# sent again, each job alone, until it lands (never given up: the job would stay active
# for good); one bad job holds up no other; a removed callback or scheduled queue stops
# nothing else; dead-letter cycles are refused.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db

# a guard the test controls: jobs listed in test_block (or all, with the nil uuid) cannot
# leave 'active'; each refusal is counted by a sequence (not rolled back)
q "DROP TABLE IF EXISTS public.test_block; CREATE TABLE public.test_block (id uuid);
   DROP SEQUENCE IF EXISTS public.test_refusals; CREATE SEQUENCE public.test_refusals;
   CREATE OR REPLACE FUNCTION public.test_block_fn() RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN
     IF EXISTS (SELECT 1 FROM public.test_block b
                 WHERE b.id = NEW.id OR b.id = '00000000-0000-0000-0000-000000000000') THEN
       PERFORM nextval('public.test_refusals');
       RAISE EXCEPTION 'end of job % refused by the test', NEW.id;
     END IF;
     RETURN NEW;
   END \$\$;
   CREATE TRIGGER test_block BEFORE UPDATE OF state ON etl.job FOR EACH ROW
     WHEN (OLD.state = 'active' AND NEW.state <> 'active') EXECUTE FUNCTION public.test_block_fn();" >/dev/null
refusals() { q "SELECT last_value - 1 + is_called::int FROM public.test_refusals"; }

# 1: every end refused for a while, then accepted: every job ends, none given up
etl queue add stuck --task hello --concurrency 5 >/dev/null
q "INSERT INTO public.test_block VALUES ('00000000-0000-0000-0000-000000000000')" >/dev/null
for i in 1 2 3 4 5; do etl send stuck "{\"name\": \"n$i\"}" >/dev/null; done
start_controller s1 --concurrency 8
# each job refused at least 4 times: once in the batch, then alone after 1, 2, 4 s
wait_until 40 qge "SELECT last_value FROM public.test_refusals" 20
ok $? "the database refused the ends 20 times (the controller kept sending them)"
is "$(jobs_in active stuck)" 5 "meanwhile the jobs are still active"
like "$(cat "$ETL_TMP/s1.log")" "recording its end failed 1 time .*trying again alone" "the controller says it tries again"
if grep -q "giving up" "$ETL_TMP/s1.log"; then ok 1 "it never gives up"; else ok 0 "it never gives up"; fi
q "DELETE FROM public.test_block" >/dev/null
wait_until 40 all_in 5 completed stuck
ok $? "once the database accepts them, all 5 jobs complete"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j ON j.etl_context_id = e.etl_context_id WHERE j.queue = 'stuck' AND e.type = 'hello:FINAL'")" 5 "each with one FINAL"

# 2: one job the database keeps refusing holds up no other ended with it
etl queue add poison --task sleeper --concurrency 6 >/dev/null
bad=$(etl send poison '{"seconds": 0.3}')
q "INSERT INTO public.test_block VALUES ('$bad')" >/dev/null
for i in 1 2 3 4 5; do etl send poison '{"seconds": 0.3}' >/dev/null; done
wait_until 30 all_in 5 completed poison
ok $? "the 5 good jobs complete beside the refused one"
is "$(q "SELECT state FROM etl.job WHERE id = '$bad'")" active "the refused one is still active"
q "DELETE FROM public.test_block" >/dev/null
wait_until 40 all_in 6 completed poison
ok $? "and completes once accepted"
stop_controller s1

# 3: a batch whose on_success queue was removed: its last job's end fails nothing
etl queue add cbq --task hello >/dev/null
etl queue add items --task hello >/dev/null
b=$(etl batch new --on-success cbq)
for i in 1 2 3; do etl send items "{\"name\": \"i$i\"}" --batch "$b" >/dev/null; done
etl batch close "$b" >/dev/null
etl queue rm cbq >/dev/null
start_controller s2
wait_until 30 all_in 3 completed items
ok $? "the batch's jobs complete though its callback queue is gone"
wait_until 10 grep -q "database: WARNING: .*no queue cbq for its success callback" "$ETL_TMP/s2.log"
ok $? "the controller logs the lost callback"
stop_controller s2

# 4: schedules: a queue in use is kept; a schedule whose queue vanished stops no other
etl queue add tick --task hello >/dev/null
etl queue add tock --task hello >/dev/null
etl schedule add every_tick tick '* * * * *' >/dev/null
etl schedule add every_tock tock '* * * * *' >/dev/null
run etl queue rm tick
is "$rc" 2 "queue rm of a scheduled queue is refused (exit 2)"
like "$err" "used by schedule every_tick" "naming the schedule"
q "DELETE FROM etl.queue WHERE name = 'tick'" >/dev/null	# behind etl's back
q "UPDATE etl.maintenance SET last_run = '-infinity'; UPDATE etl.schedule SET last_tick_local = NULL" >/dev/null
run q "SELECT what || '=' || n FROM etl.maintain() ORDER BY what"
is "$rc" 0 "maintenance does not raise"
is "$(echo "$out" | tr '\n' ' ')" "cron=1 journal=0 retention=0 " "the other schedule ticked and retention ran (and the journal's, with it)"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'tock'")" 1 "tock got its job"

# 5: dead-letter cycles
etl queue add dla --task hello >/dev/null
etl queue add dlb --task hello --dead-letter dla >/dev/null
run etl queue add dla --dead-letter dlb
is "$rc" 2 "A -> B -> A is refused (exit 2)"
like "$err" "dead letter cycle: dla -> dlb -> dla" "naming the cycle"
etl queue add dlc --task hello --dead-letter dlb >/dev/null
run etl queue add dla --dead-letter dlc
like "$err" "dead letter cycle: dla -> dlc -> dlb -> dla" "a longer cycle too"
run etl queue add dld --task hello --dead-letter dlc
is "$rc" 0 "a chain without a cycle is fine"
done_testing
