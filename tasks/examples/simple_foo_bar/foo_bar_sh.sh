#!/bin/sh
# foo_bar_sh: DAMA's simple_foo_bar worker as a shell task.  INITIAL {"msg": "foo"} ->
# FINAL {"msg": "bar"} with `etl dispatch`; any other msg is bad input (exit 65).
initial=$(cat)
case "$initial" in
*'"payload":{"msg":"foo"}'*) ;;
*) echo "foo_bar_sh wants {\"msg\": \"foo\"}" >&2; exit 65 ;;
esac
etl dispatch :FINAL '{"msg": "bar"}' >/dev/null
