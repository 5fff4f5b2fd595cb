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

# The rules hold within one statement too (they are checked per statement, over its rows
# in id order): a context opened, written and closed by one INSERT, and each rule broken
# inside one.
c2=$(q "INSERT INTO etl.etl_context DEFAULT VALUES RETURNING etl_context_id")
q "INSERT INTO etl.event (etl_context_id, type, payload) VALUES ($c2, 'm:INITIAL', '1'), ($c2, 'm:ROW', '2'), ($c2, 'm:ERROR', '3'), ($c2, 'm:ROW', '4')" >/dev/null
is "$(q "SELECT status || ',' || (initial_event_id = (SELECT min(event_id) FROM etl.event WHERE etl_context_id = $c2)) || ',' || (latest_event_id = etl.context_latest($c2)) FROM etl.etl_context WHERE etl_context_id = $c2")" "OPEN,true,true" "one INSERT of INITIAL, ROW, ERROR, ROW: OPEN, its INITIAL and latest recorded"
is "$(q "SELECT string_agg(error::text, ',' ORDER BY event_id) FROM etl.event WHERE etl_context_id = $c2")" "false,false,true,false" "the ERROR of a many-row INSERT is flagged"
run q "INSERT INTO etl.event (etl_context_id, type) VALUES ($c2, 'm:FINAL'), ($c2, 'm:ROW')"
like "$err" "is DONE" "an event after a FINAL of the same statement is refused (ET002)"
is "$(q "SELECT count(*) || ',' || status FROM etl.event e JOIN etl.etl_context c USING (etl_context_id) WHERE etl_context_id = $c2 GROUP BY status")" "4,OPEN" "and nothing of that statement is kept"
c3=$(q "INSERT INTO etl.etl_context DEFAULT VALUES RETURNING etl_context_id")
run q "INSERT INTO etl.event (etl_context_id, type) VALUES ($c3, 'm:INITIAL'), ($c3, 'm:INITIAL')"
like "$err" "already has its INITIAL" "two INITIALs in one statement are refused (ET003)"
run q "INSERT INTO etl.event (etl_context_id, type) VALUES ($c3, 'm:ROW'), ($c3, 'm:INITIAL')"
like "$err" "must be an :INITIAL" "a first event that is not the INITIAL is refused within a statement (ET004)"
run q "INSERT INTO etl.event (etl_context_id, type) VALUES (987654321, 'm:INITIAL')"
like "$err" "987654321" "an event of a context that does not exist is refused, naming it"
c4=$(q "INSERT INTO etl.etl_context DEFAULT VALUES RETURNING etl_context_id")
q "INSERT INTO etl.event (etl_context_id, type) VALUES ($c3, 'm:INITIAL'), ($c4, 'm:INITIAL'), ($c4, 'm:FINAL'), ($c3, 'm:ERROR')" >/dev/null
is "$(q "SELECT string_agg(status, ',' ORDER BY etl_context_id) FROM etl.etl_context WHERE etl_context_id IN ($c3, $c4)")" "ERROR,DONE" "one statement over two contexts moves each by its own last event"
done_testing
