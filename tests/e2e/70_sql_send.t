#!/usr/bin/env bash
# Enqueueing from SQL inside the user's own transaction (issue 21, in part): a job sent
# with etl.send() exists if and only if the transaction commits, beside the user's rows.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller s KILL' EXIT
etl queue add sq --task hello --retry-limit 0 >/dev/null
q "CREATE TABLE IF NOT EXISTS public.orders (id int PRIMARY KEY); TRUNCATE public.orders" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "service=test" >/dev/null <<'SQL'
BEGIN;
INSERT INTO public.orders VALUES (1);
SELECT etl.send('sq', '{"name": "order 1"}');
COMMIT;
BEGIN;
INSERT INTO public.orders VALUES (2);
SELECT etl.send('sq', '{"name": "order 2"}');
ROLLBACK;
SQL
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'sq'")" 1 "a send in a committed transaction makes one job, a rolled-back one none"
is "$(q "SELECT data->>'name' FROM etl.job WHERE queue = 'sq'")" "order 1" "the committed one"
is "$(q "SELECT count(*) FROM public.orders")" 1 "beside the user's own row"
# a send whose transaction fails later is gone too
run psql -X -q -v ON_ERROR_STOP=1 "service=test" -c "BEGIN; SELECT etl.send('sq', '{\"name\": \"order 3\"}'); INSERT INTO public.orders VALUES (1); COMMIT;"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'sq'")" 1 "a transaction that fails after the send leaves no job"
start_controller s --queues sq
wait_until 20 qis "SELECT state FROM etl.job WHERE queue = 'sq'" completed
ok $? "the committed job runs (NOTIFY at commit wakes the controller)"
stop_controller s TERM
q "DROP TABLE public.orders" >/dev/null
done_testing
