#!/usr/bin/env bash
# The job's state has one owner (issue 13): every write of etl.job.state passes one rule
# (etl.job_state_rule, jobs.sql), which refuses moves it does not allow and sets the
# completion time and the queue's retention for every finished state, whoever wrote it.
# The function files are re-applied by etl migrate when they change.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db

etl queue add st --task hello --retention-seconds 600 >/dev/null
id=$(etl send st '{"n": 1}')
sqlerr() { psql -X -q -A -t "service=test" -c "$1" 2>&1 >/dev/null; }

# forbidden moves, straight through SQL
q "UPDATE etl.job SET state = 'active', started_on = now() WHERE id = '$id'" >/dev/null
q "UPDATE etl.job SET state = 'completed' WHERE id = '$id'" >/dev/null
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" completed "created -> active -> completed is allowed"
err=$(sqlerr "UPDATE etl.job SET state = 'active' WHERE id = '$id'")
like "$err" "no move from completed to active" "completed -> active raises"
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" completed "and the job stays completed"
err=$(sqlerr "UPDATE etl.job SET state = 'retry' WHERE id = '$id'")
like "$err" "no move from completed to retry" "completed -> retry raises"
id2=$(etl send st '{"n": 2}')
err=$(sqlerr "UPDATE etl.job SET state = 'failed' WHERE id = '$id2'")
like "$err" "no move from created to failed" "created -> failed raises (only a run fails)"
err=$(sqlerr "INSERT INTO etl.job (queue, state) VALUES ('st', 'completed')")
like "$err" "cannot be created completed" "a job cannot be born completed"
is "$(q "SELECT count(*) FROM unnest(enum_range(NULL::etl.job_state)) f, unnest(enum_range(NULL::etl.job_state)) t WHERE etl.job_move_ok(f, t)")" 17 "the rule allows 17 moves (docs/ARCHITECTURE.md)"

# retention: the queue's, for every finished state, whoever finished it
keep() { q "SELECT round(extract(epoch FROM keep_until - completed_on)) FROM etl.job WHERE id = '$1'"; }
is "$(keep "$id")" 600 "completed keeps the queue's retention"
etl cancel "$id2" >/dev/null
is "$(q "SELECT state FROM etl.job WHERE id = '$id2'")" cancelled "etl cancel cancels"
is "$(keep "$id2")" 600 "cancelled keeps the queue's retention (was 14 days)"
etl retry "$id2" >/dev/null
is "$(q "SELECT state, completed_on IS NULL, keep_until IS NULL FROM etl.job WHERE id = '$id2'")" "retry|t|t" "retry clears completion and retention"
id3=$(etl send st '{"n": 3}')
etl queue add st --retention-seconds 900 >/dev/null
etl queue rm st >/dev/null
is "$(q "SELECT state, output->>'message' FROM etl.job WHERE id = '$id3'")" "cancelled|queue removed" "queue rm cancels its waiting jobs"
is "$(q "SELECT keep_until IS NOT NULL AND completed_on IS NOT NULL FROM etl.job WHERE id = '$id3'")" t "with a completion time and a retention"

# the function files: re-applied when their hash differs, and a stale set is refused
q "UPDATE etl.version SET functions = 'stale'" >/dev/null
q "CREATE OR REPLACE FUNCTION etl.job_move_ok(f etl.job_state, t etl.job_state) RETURNS bool LANGUAGE sql AS 'SELECT true'" >/dev/null
run etl ls
is "$rc" 1 "etl ls refuses functions that are not this etl's"
like "$err" "functions .* are not this etl's.*etl migrate" "and says to run etl migrate"
run etl migrate
is "$rc" 0 "etl migrate re-applies them"
err=$(sqlerr "UPDATE etl.job SET state = 'active' WHERE id = '$id'")
like "$err" "no move from completed to active" "the rule is back"
run etl ls
is "$rc" 0 "etl ls works again"
is "$(q "SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'etl'::regnamespace AND 'plan_cache_mode=force_generic_plan' = ANY (proconfig)")" "claim,complete,fail,finish,job_started" "the hot functions keep one generic plan after a re-apply"
is "$(q "SELECT count(*) FROM pg_proc WHERE proname = 'claim' AND 'enable_sort=off' = ANY (proconfig)")" 1 "and the claim reads its index in order"
done_testing
