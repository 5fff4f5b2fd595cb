#!/usr/bin/env bash
# Quiet wake-ups (issue 22, point 8): a job sent wakes one controller of those serving
# its queue, not all of them; one that is full hands the wake-up on; a controller with
# a priority range passes on what it may not take; an end of a limited queue's job lets
# the next one go; a forged cancel is ignored.  Every controller polls only once a minute here, so a wake-up that
# nobody answers shows as a job that waits (the waits below are bounded well under it).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
names="w1 w2 w3 f1 f2 p1 p2 l1 l2"
# shellcheck disable=SC2086
trap 'for c in $names; do stop_controller $c KILL; done' EXIT
metric() {	# metric PORT NAME: its value in the controller's /metrics
	python3 -c 'import sys, urllib.request
for l in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode().splitlines():
    if l.startswith(sys.argv[2] + " "):
        print(l.split()[1])' "$1" "$2"
}
port() { echo $((20000 + RANDOM % 20000)); }
quiet="--poll-interval 60"

# 1. three controllers of one queue, sixty jobs sent one by one
etl queue add w --task hello >/dev/null
declare -A P
for c in w1 w2 w3; do
	P[$c]=$(port)
	# shellcheck disable=SC2086
	start_controller "$c" --queues w --concurrency 4 --metrics "127.0.0.1:${P[$c]}" $quiet
done
for c in w1 w2 w3; do
	wait_until 10 eval "[ \"\$(metric ${P[$c]} etl_controllers_live)\" = 3 ]"
	ok $? "$c sees the three live controllers"
done
c0=0
for c in w1 w2 w3; do c0=$((c0 + $(metric "${P[$c]}" etl_claim_duration_seconds_count))); done
for i in $(seq 1 60); do etl send w "{\"name\": \"w$i\"}" >/dev/null; done
wait_until 30 all_in 60 completed w
ok $? "60 jobs sent one by one completed (the controllers poll once a minute)"
claims=0 passed=0
for c in w1 w2 w3; do
	claims=$((claims + $(metric "${P[$c]}" etl_claim_duration_seconds_count)))
	passed=$((passed + $(metric "${P[$c]}" 'etl_wakeups_total{outcome="passed"}')))
done
claims=$((claims - c0))
diag "claim statements for 60 jobs with 3 controllers: $claims; wake-ups passed to another: $passed"
ok $([ "$claims" -le 90 ]; echo $?) "at most 1.5 claims a job ($claims; every controller woken for every job made 180)"
ok $([ "$passed" -ge 100 ]; echo $?) "each wake-up passed by the two controllers it did not name ($passed of 120)"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'w'")" 3 "all three took some"
for c in w1 w2 w3; do stop_controller "$c" TERM; done

# 2. a full controller hands its wake-ups on: f1 runs one job at a time and is busy
etl queue add s --task sleeper >/dev/null
etl queue add h --task hello >/dev/null
P[f1]=$(port)
# shellcheck disable=SC2086
start_controller f1 --queues s,h --concurrency 1 --metrics "127.0.0.1:${P[f1]}" $quiet
# shellcheck disable=SC2086
start_controller f2 --queues h --concurrency 4 $quiet
wait_until 10 eval "[ \"\$(metric ${P[f1]} etl_controllers_live)\" = 2 ]"
ok $? "f1 sees both controllers"
etl send s '{"seconds": 60}' >/dev/null
wait_until 10 qis "SELECT count(*) FROM etl.job WHERE queue = 's' AND state = 'active'" 1
ok $? "f1 is full: its one slot runs a long job"
for i in $(seq 1 20); do etl send h "{\"name\": \"h$i\"}" >/dev/null; done
wait_until 20 all_in 20 completed h
ok $? "20 jobs sent one by one completed"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'h' AND controller_id = 'f1'")" 0 "none by the full f1"
h=$(metric "${P[f1]}" etl_wakeups_handed_on_total)
diag "f1 handed on $h wake-ups"
ok $([ "$h" -ge 1 ]; echo $?) "f1 handed on those it was woken for"
etl cancel "$(q "SELECT id FROM etl.job WHERE queue = 's'")" >/dev/null
stop_controller f1 TERM; stop_controller f2 TERM

# 3. priority ranges: what p1 may not take, it hands on to p2, and the other way
etl queue add p --task hello >/dev/null
P[p1]=$(port) P[p2]=$(port)
# shellcheck disable=SC2086
start_controller p1 --queues p --min-priority 10 $quiet --metrics "127.0.0.1:${P[p1]}"
# shellcheck disable=SC2086
start_controller p2 --queues p --max-priority 9 $quiet --metrics "127.0.0.1:${P[p2]}"
for c in p1 p2; do
	wait_until 10 eval "[ \"\$(metric ${P[$c]} etl_controllers_live)\" = 2 ]"
	ok $? "$c sees both controllers"
done
for i in $(seq 1 10); do
	etl send p --priority 5 "{\"name\": \"lo$i\"}" >/dev/null
	etl send p --priority 15 "{\"name\": \"hi$i\"}" >/dev/null
done
wait_until 20 all_in 20 completed p
ok $? "20 jobs of two priorities, one range each, completed"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'p' AND (priority >= 10) <> (controller_id = 'p1')")" 0 "each by the controller of its range"
stop_controller p1 TERM; stop_controller p2 TERM

# 4. a queue limited to one at a time: each end lets the next go, with no poll
etl queue add l --task sleeper --concurrency 1 >/dev/null
# shellcheck disable=SC2086
start_controller l1 --queues l $quiet
# shellcheck disable=SC2086
start_controller l2 --queues l $quiet
seq 1 6 | sed 's/.*/{"seconds": 0.2}/' | etl send l --ndjson - >/dev/null
wait_until 20 all_in 6 completed l
ok $? "6 jobs of a queue of concurrency 1, sent at once, completed one after another"
most=$(q "SELECT max((SELECT count(*) FROM etl.job b WHERE b.queue = 'l' AND b.started_on <= a.started_on AND b.completed_on > a.started_on)) FROM etl.job a WHERE a.queue = 'l'")
is "$most" 1 "never two at once"
stop_controller l1 TERM; stop_controller l2 TERM

# 5. a NOTIFY is only a hint, which any client of the database may send: a forged
#    cancel of a running job is checked against its row and ignored
start_controller l1 --queues s
id=$(etl send s '{"seconds": 60}')
wait_until 10 qis "SELECT state FROM etl.job WHERE id = '$id'" active
q "NOTIFY etl_cancel, '$id'" >/dev/null
wait_until 10 grep -q "a cancel notification for it, but it is not cancelled: ignored" "$ETL_TMP/l1.log"
ok $? "a forged cancel notification is ignored, saying so"
is "$(q "SELECT state FROM etl.job WHERE id = '$id'")" active "  the job runs on"
ok $(alive "$(q "SELECT pid FROM etl.job WHERE id = '$id'")"; echo $?) "  its task too"
etl cancel "$id" >/dev/null
wait_until 10 qis "SELECT state || ' ' || stopping FROM etl.job WHERE id = '$id'" "cancelled false"
ok $? "a real cancel stops it"
stop_controller l1 TERM
done_testing
