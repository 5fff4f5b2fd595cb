#!/usr/bin/env bash
# Groups across queues (issue 21, pg-boss's groups): `etl group set KEY N` caps how many
# jobs sent with --group KEY run at once, whatever their queues, on any number of
# controllers; jobs of other groups, and of none, are not held up.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller g1 KILL; stop_controller g2 KILL' EXIT
etl queue add ga --task sleeper >/dev/null
etl queue add gb --task sleeper >/dev/null
run etl group set tenant1 2
is "$rc/$out" "0/group tenant1: at most 2 at once" "etl group set tenant1 2"
for i in 1 2 3; do
	etl send ga "{\"seconds\": 0.6, \"n\": $i}" --group tenant1 >/dev/null
	etl send gb "{\"seconds\": 0.6, \"n\": $i}" --group tenant1 >/dev/null
done
for i in 1 2 3; do etl send ga "{\"seconds\": 0.6, \"free\": $i}" >/dev/null; done
etl send gb '{"seconds": 0.6}' --group tenant2 >/dev/null
start_controller g1 --concurrency 8
start_controller g2 --concurrency 8
# the most of the group's jobs active at once, sampled while they run
max=0
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ]; do
	a=$(q "SELECT count(*) FROM etl.job WHERE group_key = 'tenant1' AND state = 'active'")
	[ "$a" -gt "$max" ] && max=$a
	[ "$(q "SELECT count(*) FROM etl.job WHERE state <> 'completed'")" = 0 ] && break
	sleep 0.05
done
is "$(q "SELECT count(*) FROM etl.job WHERE state = 'completed'")" 10 "all ten jobs complete, on two controllers"
ok "$([ "$max" -le 2 ]; echo $?)" "tenant1's six jobs in two queues: at most 2 active at once (seen: $max)"
# jobs without a group, and of another group, ran beside them
beside=$(q "SELECT count(*) FROM etl.job a WHERE a.group_key IS NULL AND EXISTS (SELECT 1 FROM etl.job b WHERE b.group_key = 'tenant1' AND b.started_on < a.completed_on AND a.started_on < b.completed_on)")
ok "$([ "$beside" -gt 0 ]; echo $?)" "jobs of no group ran beside the group's, not held up by its cap ($beside of 3)"
run etl group ls
like "$out" "tenant1 +2 +0 +0" "etl group ls: the group, its cap, active and waiting"
run etl group ls --json
is "$(printf '%s' "$out" | jq -r '.[0].name + " " + (.[0].concurrency | tostring)')" "tenant1 2" "  --json"
run etl group set tenant1 0
is "$rc" 2 "a cap of 0 is refused (exit 2)"
run etl send ga '{}' --group ""
is "$rc" 2 "an empty group key is refused (exit 2)"
run etl group rm tenant1
is "$rc" 0 "etl group rm"
run etl group rm tenant1
is "$rc" 3 "  a second time: not found (exit 3)"
q "SELECT etl.send('ga', '{\"seconds\": 0.1}', '{\"group_key\": \"sqlgroup\"}')" >/dev/null
is "$(q "SELECT group_key FROM etl.job WHERE data->>'seconds' = '0.1'")" sqlgroup "etl.send in SQL takes group_key"
stop_controller g1 TERM
stop_controller g2 TERM
done_testing
