#!/bin/sh
# runlog: a task in no language (no database connection) that appends "JOB start TIME PID"
# and "JOB end TIME PID" lines to the file its payload names, {"log": PATH, "seconds":
# S}, around S seconds of work: the failover test reads whether two runs of one job were
# ever alive at once from this file, not from the database it is testing.
initial=$(cat)
[ -n "$initial" ] || exit 75
log=$(printf '%s' "$initial" | sed -n 's/.*"log": *"\([^"]*\)".*/\1/p')
secs=$(printf '%s' "$initial" | sed -n 's/.*"seconds": *\([0-9.]*\).*/\1/p')
[ -n "$log" ] || { echo "runlog: no log in the payload" >&2; exit 64; }
echo "$ETL_JOB_ID start $(date +%s.%N) $$" >>"$log"
sleep "${secs:-0.3}"
echo "$ETL_JOB_ID end $(date +%s.%N) $$" >>"$log"
