#!/usr/bin/env bash
# Queues, sending, claiming by concurrent processes, retry, backoff and dead letter
# (issue 2, #3 and #4).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db

run etl queue add q1 --task hello
is "$rc" 0 "queue add exits 0"
is "$out" "queue q1 added" "queue add says added"
run etl queue add q1 --concurrency 4 --retry-limit 5
is "$out" "queue q1 updated" "a second add updates"
is "$(q "SELECT task, concurrency, retry_limit FROM etl.queue WHERE name = 'q1'")" "hello|4|5" "update keeps what was not given"
run etl queue add q2
is "$rc" 2 "a new queue without --task is bad usage"
like "$err" "needs a task" "and says so"
run etl queue add q3 --task hello --policy bogus
is "$rc" 2 "a bad policy is refused (exit 2)"
run etl queue add q4 --task hello --dead-letter nope
is "$rc" 3 "an unknown dead letter queue is not found (exit 3)"
run etl queue ls --json
like "$out" '"name":\s*"q1"' "queue ls --json lists q1"
run etl queue rm q1
is "$rc" 0 "queue rm exits 0"
run etl queue rm q1
is "$rc" 3 "removing it again: not found (exit 3)"

# 2,000 jobs, 4 claimers at once: every job claimed exactly once
etl queue add bulk --task hello >/dev/null
seq 1 2000 | sed 's/.*/{"n": &}/' > "$ETL_TMP/bulk.ndjson"
run etl send bulk --ndjson "$ETL_TMP/bulk.ndjson"
is "$out" 2000 "send --ndjson enqueues 2,000 jobs"
pids=()
for i in 1 2 3 4; do
	qtool drain 7 >"$ETL_TMP/claim$i.out" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
is "$(cat "$ETL_TMP"/claim?.out | wc -l)" 2000 "4 claimers claimed 2,000 jobs in all"
is "$(cat "$ETL_TMP"/claim?.out | sort -u | wc -l)" 2000 "each job exactly once"
busy=0
for i in 1 2 3 4; do [ -s "$ETL_TMP/claim$i.out" ] && busy=$((busy + 1)); done
diag "claims per process: $(wc -l "$ETL_TMP"/claim?.out | head -4 | awk '{print $1}' | tr '\n' ' ')"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'bulk' AND state = 'completed'")" 2000 "all 2,000 completed"

# priority order
etl queue add prio --task hello >/dev/null
low=$(etl send prio '{"p":"low"}')
high=$(etl send prio '{"p":"high"}' --priority 10)
is "$(qtool claim prio)" "$high" "the higher priority job is claimed first"
is "$(qtool claim prio)" "$low" "then the lower"
run qtool claim prio
is "$rc" 3 "then none"

# a job in the future is not claimed
later=$(etl send prio --start-after 3600)
run qtool claim prio
is "$rc" 3 "a job with start_after in an hour is not claimed"
q "UPDATE etl.job SET start_after = now() WHERE id = '$later'" >/dev/null
is "$(qtool claim prio)" "$later" "once due it is"

# retry: limit 2, delay 10 s with backoff; then failed with a copy in the dead letter queue
etl queue add dead --task hello >/dev/null
etl queue add flaky --task hello --retry-limit 2 --retry-delay 10 --retry-backoff --dead-letter dead >/dev/null
id=$(etl send flaky '{"try": "me"}')
delays=()
for attempt in 1 2 3; do
	got=$(qtool claim flaky)
	is "$got" "$id" "attempt $attempt claims the job"
	qtool fail "$id"
	if [ $attempt -lt 3 ]; then
		is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$id'")" "retry $attempt" "after failure $attempt: retry, retry_count $attempt"
		d=$(q "SELECT extract(epoch FROM start_after - now())::int FROM etl.job WHERE id = '$id'")
		delays+=("$d")
		# backdate instead of sleeping
		q "UPDATE etl.job SET start_after = now() WHERE id = '$id'" >/dev/null
	fi
done
lo1=$([ "${delays[0]}" -ge 4 ] && [ "${delays[0]}" -le 10 ]; echo $?)
ok "$lo1" "first retry delay ${delays[0]} s is in [5, 10] (10 s, equal jitter)"
lo2=$([ "${delays[1]}" -ge 9 ] && [ "${delays[1]}" -le 20 ]; echo $?)
ok "$lo2" "second retry delay ${delays[1]} s is in [10, 20] (doubled)"
is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$id'")" "failed 2" "after failure 3: failed with retry_count 2"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dead' AND data = '{\"try\": \"me\"}' AND parent_id = '$id'")" 1 "a copy is in the dead letter queue"

# no-retry failure goes straight to failed
id2=$(etl send flaky '{}')
qtool claim flaky >/dev/null
qtool fail "$id2" no-retry
is "$(q "SELECT state || ' ' || retry_count FROM etl.job WHERE id = '$id2'")" "failed 0" "a no-retry failure is failed at once"

# cancel and retry from the CLI
id3=$(etl send flaky '{}')
run etl cancel "$id3"
is "$rc" 0 "cancel a queued job"
is "$(q "SELECT state FROM etl.job WHERE id = '$id3'")" cancelled "it is cancelled"
run etl cancel "$id3"
is "$rc" 3 "cancelling it again finds nothing to cancel (exit 3)"
run etl retry "$id3"
is "$rc" 0 "retry a cancelled job"
is "$(q "SELECT state FROM etl.job WHERE id = '$id3'")" retry "it is queued again"
run etl show "$id3" --json
like "$out" '"state":\s*"retry"' "etl show --json shows it"
run etl show 00000000-0000-0000-0000-000000000000
is "$rc" 3 "etl show of an unknown job: exit 3"
run etl ls --queue flaky --state failed --json
is "$(printf '%s' "$out" | grep -c '"id"')" 2 "etl ls filters by queue and state"
run etl ls --state nonsense
is "$rc" 2 "etl ls with a bad state: exit 2"
done_testing
