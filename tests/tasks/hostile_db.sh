#!/bin/sh
# hostile_db: a task that tries to reach beyond its own run through the database and the
# CLI, given another job ({"job": ID, "ctx": N}): each attempt's outcome ("denied" or
# "allowed") goes into its FINAL, recorded through its own run's proof.  For the roles
# tests.
initial=$(cat)
job=$(printf '%s' "$initial" | sed -n 's/.*"job": *"\([0-9a-f-]*\)".*/\1/p')
ctx=$(printf '%s' "$initial" | sed -n 's/.*"ctx": *\([0-9]*\).*/\1/p')
pid=$(printf '%s' "$initial" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')
try() { if "$@" >/dev/null 2>&1; then echo allowed; else echo denied; fi; }
sql() { psql -X -q -v ON_ERROR_STOP=1 "service=${ETL_PG_ENV}" -c "$1"; }
secret=$(cat /proc/self/fd/3 2>/dev/null)
r1=$(try sql "INSERT INTO etl.queue (name, task, run_as) VALUES ('evil', 'shell', 'root')")
r2=$(try etl queue add evil2 --task shell --run-as root)
r3=$(try etl dispatch --context "$ctx" :FINAL '{"forged": true}')
r4=$(try sql "SELECT etl.task_event('$ETL_JOB_ID', $ETL_RUN, '$secret', $ctx, 'x:FINAL', '{}', NULL)")
r5=$(try sql "UPDATE etl.job SET state = 'completed' WHERE id = '$job'")
r6=$(try sql "SELECT data FROM etl.job WHERE id = '$job'")
r7=$(try etl send hostile '{}')
r8=$(try etl cancel "$job")
r9=$(try sql "SELECT etl.task_progress('$job', 1, 'guess', '{}')")
r10=$(try kill -0 "$pid")
env_leak=$(env | grep -c '^PGUSER=\|^PGPASSFILE=' || true)
[ -n "$secret" ] && env | grep -qF "$secret" && env_leak=$((env_leak + 1))
grep -qF "$secret" /proc/$$/cmdline && env_leak=$((env_leak + 1))
etl dispatch :FINAL "{\"queue_insert\": \"$r1\", \"queue_add\": \"$r2\", \"dispatch_other\": \"$r3\", \"task_event_other\": \"$r4\", \"update_job\": \"$r5\", \"read_payload\": \"$r6\", \"send\": \"$r7\", \"cancel\": \"$r8\", \"guess_secret\": \"$r9\", \"signal\": \"$r10\", \"env_leak\": $env_leak, \"service_file\": \"$PGSERVICEFILE\", \"has_secret\": $([ -n "$secret" ] && echo true || echo false)}" >/dev/null
