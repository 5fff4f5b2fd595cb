#!/usr/bin/env bash
# Seed 004: simple_foo_bar in C and in shell, by a controller, by etl run, under gdb.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
for t in foo_bar foo_bar_sh; do
	run etl run $t '{"msg": "foo"}'
	is "$rc" 0 "etl run $t exits 0"
	j=$(q "SELECT id FROM etl.job ORDER BY created_on DESC LIMIT 1")
	is "$(q "SELECT output->>'msg' FROM etl.job WHERE id = '$j'")" bar "etl run $t: FINAL {\"msg\": \"bar\"}"
	run etl run $t '{"msg": "baz"}'
	is "$rc" 65 "etl run $t with another msg: bad input"
	etl queue add $t --task $t >/dev/null
done
start_controller c1
a=$(etl send foo_bar '{"msg": "foo"}')
b=$(etl send foo_bar_sh '{"msg": "foo"}')
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE id IN ('$a', '$b') AND state = 'completed' AND output->>'msg' = 'bar'" 2
ok $? "both complete under the controller with FINAL {\"msg\": \"bar\"}"
for j in $a $b; do
	ctx=$(q "SELECT etl_context_id FROM etl.job WHERE id = '$j'")
	is "$(q "SELECT string_agg(split_part(type, ':', 2), ',' ORDER BY event_id) FROM etl.event WHERE etl_context_id = $ctx")" "INITIAL,FINAL" "job ${j:0:8}: INITIAL then FINAL"
done
if command -v gdb >/dev/null; then
	ETL_GDB_ARGS='-batch -ex run' run etl run foo_bar '{"msg": "foo"}' --gdb
	is "$rc" 0 "etl run foo_bar --gdb completes under gdb"
fi
stop_controller c1 TERM
done_testing
