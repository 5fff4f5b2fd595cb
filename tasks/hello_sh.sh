#!/bin/sh
# hello_sh: the hello task as a shell script, for tasks in any language.  It reads the
# INITIAL event on stdin, records progress and its FINAL with `etl dispatch`.
# INITIAL {"name": "x"} -> FINAL {"greeting": "hello, x"}.
set -eu
initial=$(cat)
name=$(printf '%s' "$initial" | sed -n 's/.*"payload": *{[^}]*"name": *"\([^"\\]*\)".*/\1/p')
if [ -z "$name" ]; then
	echo "hello_sh wants {\"name\": \"...\"} (plain letters)" >&2
	exit 65
fi
etl progress 0 1 "greeting" >/dev/null
echo "hello, $name"
etl dispatch :FINAL "{\"greeting\": \"hello, $name\"}" >/dev/null
