#!/usr/bin/env bash
# etl migrate: idempotent, safe five at once, and a newer schema is refused (issue 2, #2).
. "$ETL_TOP/tests/lib/tap.sh"
q 'DROP SCHEMA IF EXISTS etl CASCADE' >/dev/null
# the schema as pg_dump sees it, less comments and its random \restrict keys
dump() { pg_dump -s -n etl "service=test" | grep -Ev "^(--|\\\\(un)?restrict)" | md5sum; }

run etl migrate
is "$rc" 0 "first migrate exits 0"
like "$out" "upgraded from version 0 to 15" "first migrate creates version 15"
schema1=$(dump)
run etl migrate
is "$rc" 0 "second migrate exits 0"
like "$out" "is at version 15" "second migrate changes nothing"
is "$(dump)" "$schema1" "same schema after migrating twice"

q 'DROP SCHEMA etl CASCADE' >/dev/null
pids=()
for i in 1 2 3 4 5; do
	etl migrate >"$ETL_TMP/m$i.out" 2>&1 &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "five concurrent migrates all exit 0"
is "$(cat "$ETL_TMP"/m?.out | grep -c 'upgraded from version 0')" 1 "exactly one of them created the schema"
is "$(dump)" "$schema1" "same schema after concurrent migrates"
is "$(q 'SELECT version FROM etl.version')" 15 "version row is 15"

# an older schema is upgraded: version 1 lacks what 0002 to 0015 add
q "DROP INDEX etl.job_created; DROP INDEX etl.job_pending; DROP INDEX etl.job_done; DROP INDEX etl.job_dep_job; DROP TRIGGER job_defer_insert ON etl.job; DROP TRIGGER job_defer_update ON etl.job; ALTER TABLE etl.job DROP COLUMN deferred; DROP INDEX etl.job_fetch; CREATE INDEX job_fetch ON etl.job (queue, priority DESC, created_on, id) WHERE state IN ('created', 'retry'); CREATE INDEX job_fetch_all ON etl.job (priority DESC, created_on, id) WHERE state IN ('created', 'retry')" >/dev/null
q 'ALTER TABLE etl.job RENAME COLUMN attached TO lock_held; ALTER TABLE etl.controller DROP COLUMN allow_users, DROP COLUMN lease_bound, DROP COLUMN capacity, DROP COLUMN queues; DROP TABLE etl.log_trash; ALTER TABLE etl.step_cache DROP COLUMN input_sum; ALTER TABLE etl.job DROP COLUMN group_key; DROP TABLE etl.job_group; ALTER TYPE etl.claimed DROP ATTRIBUTE heartbeat_seconds, DROP ATTRIBUTE secret; ALTER TABLE etl.job DROP COLUMN run_secret; ALTER TABLE etl.queue DROP COLUMN paused; ALTER TABLE etl.job DROP COLUMN run, DROP COLUMN stopping; ALTER TYPE etl.claimed DROP ATTRIBUTE run, ADD ATTRIBUTE data text, ADD ATTRIBUTE jdata jsonb; ALTER TABLE etl.job ALTER COLUMN data SET COMPRESSION default, ALTER COLUMN output SET COMPRESSION default; ALTER TABLE etl.event ALTER COLUMN payload SET COMPRESSION default; UPDATE etl.version SET version = 1' >/dev/null
run etl ls
like "$err" "version 1, older than this etl's 15: run .etl migrate." "an older schema is refused until migrated"
run etl migrate
like "$out" "upgraded from version 1 to 15" "etl migrate upgrades it"
is "$(dump)" "$schema1" "to the same schema as a fresh one"

q 'UPDATE etl.version SET version = 99' >/dev/null
run etl migrate
is "$rc" 1 "migrate refuses a newer schema (exit 1)"
like "$err" "version 99, newer than this etl" "the error names the newer version"
run etl ls
is "$rc" 1 "etl ls refuses a newer schema"
like "$err" "newer than this etl" "with a clear message"
is "$(echo "$err" | wc -l)" 1 "in one line"
q 'UPDATE etl.version SET version = 1' >/dev/null

q 'DROP SCHEMA etl CASCADE' >/dev/null
run etl ls
is "$rc" 1 "a missing schema is an error"
like "$err" "run .etl migrate." "that says to run etl migrate"
etl migrate >/dev/null
done_testing
