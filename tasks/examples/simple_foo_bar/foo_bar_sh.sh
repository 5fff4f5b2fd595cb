#!/bin/sh
# foo_bar_sh: DAMA's simple_foo_bar worker as a shell task.  INITIAL {"msg": "foo"} ->
# FINAL {"msg": "bar"} with `etl dispatch`; any other msg is bad input (exit 65).
initial=$(cat)
# the payload is as it was sent: white space may differ
if ! printf '%s' "$initial" | grep -Eq '"payload": *\{ *"msg": *"foo" *\}'; then
	echo "foo_bar_sh wants {\"msg\": \"foo\"}" >&2
	exit 65
fi
etl dispatch :FINAL '{"msg": "bar"}' >/dev/null
