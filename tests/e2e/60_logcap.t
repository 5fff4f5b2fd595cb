#!/usr/bin/env bash
# A job's log has a cap (issue 15): while its task writes, the log's blocks stay within
# --log-max; when it ends the log is its head, a line saying what was dropped, its tail.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller lc KILL' EXIT
etl queue add spew --task spew >/dev/null
start_controller lc --log-max 1048576
id=$(etl send spew '{"mb": 40}')
wait_until 30 qis "SELECT log_path IS NOT NULL FROM etl.job WHERE id = '$id'" t
log=$(q "SELECT log_path FROM etl.job WHERE id = '$id'")
wait_until 30 eval '[ "$(stat -c %s "$log" 2>/dev/null || echo 0)" -gt 20000000 ]'
ok $? "the task has written over 20 MB"
kib=$(du -k "$log" | cut -f1)
# the cap, and what the task writes between two checks (half a second at its rate)
ok $([ "$kib" -le 6144 ] && echo 0 || echo 1) "while it writes, its log takes $kib KiB on disk (cap 1 MiB, checked twice a second)"
wait_until 60 qis "SELECT state FROM etl.job WHERE id = '$id'" completed
ok $? "the job completes"
size=$(stat -c %s "$log")
ok $([ "$size" -le 1060000 ] && echo 0 || echo 1) "its log is $size bytes at the end (cap 1 MiB)"
is "$(grep -v "^--- etl: job " "$log" | head -1)" "spew: start" "it keeps its head"
is "$(tail -1 "$log")" "spew: end" "and its tail"
like "$(grep -a 'bytes of output dropped here' "$log")" "^\[etl: [0-9]+ bytes of output dropped here: the log is capped at 1048576 bytes" "and says how much was dropped"
is "$(tr -d '\n' < "$log" | tr -d 'x' | tr -d '\0' | wc -c)" "$(tr -d '\n' < "$log" | tr -d 'x' | wc -c)" "no hole (NUL bytes) is left in it"
run etl logs "$id"
like "$out" "spew: end" "etl logs shows it"

# a task that writes its whole output before the first check is capped at its end
etl queue add wr --task writer --retry-limit 0 >/dev/null
id2=$(etl send wr '{}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id2'" failed
log2=$(q "SELECT log_path FROM etl.job WHERE id = '$id2'")
size=$(stat -c %s "$log2")
ok $([ "$size" -le 1060000 ] && echo 0 || echo 1) "a task that wrote 10 MB at once: its log is $size bytes at its end"
like "$(tail -1 "$log2")" "writer: wrote 10 MB" "with its last line"
like "$(q "SELECT output->>'log_tail' FROM etl.job WHERE id = '$id2'")" "writer: wrote 10 MB" "which its ERROR quotes"
run etl-controller --log-max 1000
is "$rc" 2 "--log-max under 64 KiB is refused"
stop_controller lc
done_testing
