#!/usr/bin/env bash
# Events in bulk in one transaction cost the same per event whatever their number (issue
# 15): an ordinary event no longer writes its context's row, so a transaction of 10,000
# events leaves no chain of 10,000 row versions for each later event to walk.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
ctx=$(q "SELECT etl_context_id FROM etl.context_open(NULL, '{}', 'bulk:INITIAL', '{}', NULL)")
upd() { q "SELECT pg_stat_force_next_flush()" >/dev/null; q "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'etl.etl_context'::regclass"; }
before=$(upd)
q "BEGIN; INSERT INTO etl.event (etl_context_id, type, payload) SELECT $ctx, 'bulk:ROW', to_jsonb(i) FROM generate_series(1, 10000) i; SELECT pg_stat_force_next_flush(); COMMIT" >/dev/null
q "SELECT pg_stat_force_next_flush()" >/dev/null
after=$(upd)
ok $([ $((after - before)) -le 2 ] && echo 0 || echo 1) "10,000 events in one transaction wrote their context's row $((after - before)) times (not 10,000)"
is "$(q "SELECT etl.context_latest($ctx) = max(event_id) FROM etl.event WHERE etl_context_id = $ctx")" t "etl.context_latest is the latest event"
is "$(q "SELECT count(*) FROM etl.event WHERE etl_context_id = $ctx")" 10001 "every event is there"
q "INSERT INTO etl.event (etl_context_id, type, payload) VALUES ($ctx, 'bulk:ERROR', '\"e\"')" >/dev/null
is "$(q "SELECT status FROM etl.etl_context WHERE etl_context_id = $ctx")" ERROR "an ERROR still sets the status"
q "INSERT INTO etl.event (etl_context_id, type) VALUES ($ctx, 'bulk:ROW')" >/dev/null
is "$(q "SELECT status FROM etl.etl_context WHERE etl_context_id = $ctx")" OPEN "an event after it reopens the context"
q "INSERT INTO etl.event (etl_context_id, type, payload) VALUES ($ctx, 'bulk:FINAL', '{\"n\": 1}')" >/dev/null
is "$(q "SELECT status || ',' || (latest_event_id = etl.context_latest($ctx)) FROM etl.etl_context WHERE etl_context_id = $ctx")" "DONE,true" "a FINAL closes it and is its latest event"
run q "INSERT INTO etl.event (etl_context_id, type) VALUES ($ctx, 'bulk:ROW')"
like "$err" "is DONE" "nothing comes after the FINAL"
done_testing
