#!/usr/bin/env bash
# A claim lost between the claim and the pid record (issue 22, point 2): after a
# failover to a server that never saw the claim, the pid record updates no row.  The
# controller must not start that task (no INITIAL, no work done) nor record its end.
# Simulated by a trigger that makes the record of one job's pid update no row.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller lc KILL; q "DROP TRIGGER IF EXISTS lose_claim ON etl.job; DROP FUNCTION IF EXISTS public.lose_claim()" >/dev/null 2>&1' EXIT
etl queue add lc --task hello --retry-limit 0 >/dev/null
q "CREATE FUNCTION public.lose_claim() RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN
     IF NEW.data ? 'lose' AND NEW.pid IS NOT NULL AND OLD.pid IS NULL THEN
       RETURN NULL;	-- this row is not there on the new primary
     END IF;
     RETURN NEW;
   END \$\$;
   CREATE TRIGGER lose_claim BEFORE UPDATE ON etl.job FOR EACH ROW EXECUTE FUNCTION public.lose_claim()" >/dev/null
start_controller lc
lost=$(etl send lc '{"name": "lost", "lose": true}')
wait_until 20 grep -q "job $lost .*its claim was lost" "$ETL_TMP/lc.log"
ok $? "the pid record updated no row: the controller says the claim was lost"
wait_until 20 grep -q "job $lost .*nothing recorded" "$ETL_TMP/lc.log"
ok $? "  its task stopped before it started, its end not recorded"
is "$(q "SELECT count(*) FROM etl.event e JOIN etl.job j USING (etl_context_id) WHERE j.id = '$lost' AND e.type <> 'hello:INITIAL'")" 0 "  the task did nothing (no event past its INITIAL)"
log=$(q "SELECT log_path FROM etl.job WHERE id = '$lost'")
is "$log" "" "  (no row took its pid or log)"
is "$(grep -vc '^--- etl: ' "$ETL_TMP/logs/$lost.log" 2>/dev/null)" 0 "  its log has no output of the task (the run's marker only)"
j=$(etl send lc '{"name": "kept"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
ok $? "the controller goes on: the next job runs"
is "$(grep -c "recording ended jobs\|cannot record" "$ETL_TMP/lc.log")" 0 "no failed end, nothing given up"
q "DROP TRIGGER lose_claim ON etl.job; DROP FUNCTION public.lose_claim()" >/dev/null
stop_controller lc TERM
done_testing
