#!/usr/bin/env bash
# Deferred jobs (issue 22, point 3): a job whose start is in the future is counted in
# its waiting count (deferred), so the claim index leaves it out; the claims release it
# once its time has come, and writes that move its start or the job on undo it.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller df KILL' EXIT
etl queue add dq --task exit_with >/dev/null
st() { q "SELECT state || ',' || deferred || ',' || waiting FROM etl.job WHERE id = '$1'"; }

d=$(etl send dq '{}' --start-after 8)
n=$(etl send dq '{}')
is "$(st "$d")" "created,true,1" "a job sent to start in 8 s is deferred: one more in its waiting count"
is "$(st "$n")" "created,false,0" "a job sent to start now is not"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dq' AND state = 'created' AND waiting = 0")" 1 "so only the other one is in the claim index's rows"
start_controller df --queues dq
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$n'" completed
ok $? "the job to start now ran"
is "$(st "$d")" "created,true,1" "the ready job ran; the deferred one waits"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$d'" completed
ok $? "the deferred job ran"
ok "$(q "SELECT (started_on >= start_after)::int - 1 FROM etl.job WHERE id = '$d'")" "it ran once its time had come, not before"
is "$(q "SELECT deferred || ',' || waiting FROM etl.job WHERE id = '$d'")" "false,0" "released: no longer deferred or waiting"
stop_controller df

# a dependency and a delay: both count, in either order
a=$(etl send dq '{}')
b=$(etl send dq '{}' --after "$a" --start-after 2)
is "$(st "$b")" "created,true,2" "a job after another and deferred waits for both"
start_controller df --queues dq
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$a'" completed
wait_until 15 qis "SELECT state FROM etl.job WHERE id = '$b'" completed
ok $? "and runs once both are over"
stop_controller df

# cancelled while deferred: the count is given back; retried: queued now
c=$(etl send dq '{}' --start-after 3600)
etl cancel "$c" >/dev/null
is "$(st "$c")" "cancelled,false,0" "a deferred job cancelled is no longer deferred"
etl retry "$c" >/dev/null
is "$(q "SELECT state || ',' || deferred || ',' || waiting || ',' || (start_after <= now()) FROM etl.job WHERE id = '$c'")" "retry,false,0,true" "retried, it is queued to start now"

# a sender's own INSERT (the etl_sender role's way) is deferred the same
q "INSERT INTO etl.job (queue, data, start_after) VALUES ('dq', '{}', now() + interval '1 hour')" >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dq' AND deferred AND waiting = 1 AND state = 'created'")" 1 "a plain INSERT with a later start is deferred too"

# a writer's own flag is not trusted: an INSERT saying deferred with a start now is
# queued, and a row flagged by hand without its count does not break the claims
q "INSERT INTO etl.job (queue, data, deferred) VALUES ('dq', '{\"forged\": 1}', true)" >/dev/null
is "$(q "SELECT deferred || ',' || waiting FROM etl.job WHERE data->>'forged' = '1'")" "false,0" "an INSERT's deferred flag is the trigger's to set"
q "UPDATE etl.job SET deferred = true WHERE data->>'forged' = '1'" >/dev/null
q "UPDATE etl.job SET deferred = true, start_after = now() - interval '1 second' WHERE data->>'forged' = '1'" >/dev/null
run q "SELECT count(*) FROM etl.claim(ARRAY['nosuchqueue'], 1, 'x', 'h', NULL)"
is "$rc" 0 "a claim still works after a hand-set flag"

# a retry's backoff defers the retry; its time come, it runs again
etl queue add fq --task exit_with --retry-limit 1 --retry-delay 2 >/dev/null
f=$(etl send fq '{"status": 1}')
start_controller df --queues fq
wait_until 10 qis "SELECT state || ',' || deferred FROM etl.job WHERE id = '$f'" "retry,true"
ok $? "a failed run's retry, 2 s later, is deferred"
wait_until 15 qis "SELECT state || ',' || run FROM etl.job WHERE id = '$f'" "failed,2"
ok $? "and runs again once its time has come"
is "$(q "SELECT deferred || ',' || waiting FROM etl.job WHERE id = '$f'")" "false,0" "a failed job is neither deferred nor waiting"
stop_controller df

# many deferred jobs: the claims do not walk past them (the claim reads only jobs with
# nothing to wait for), and each is released when its time comes
q "INSERT INTO etl.job (queue, data, start_after) SELECT 'dq', '{}', now() + interval '2 seconds' FROM generate_series(1, 2000)" >/dev/null
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dq' AND deferred")" 2001 "2,000 deferred (and the one of an hour)"
start_controller df --queues dq --concurrency 16
wait_until 90 qis "SELECT count(*) FROM etl.job WHERE queue = 'dq' AND state = 'completed'" 2006
ok $? "2,000 deferred jobs all ran once their time came"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dq' AND deferred")" 1 "each ran; only the job of an hour is still deferred"
done_testing
