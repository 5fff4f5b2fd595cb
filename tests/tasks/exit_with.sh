#!/bin/sh
# exit_with: a task that reads its INITIAL and exits with the status in its payload
# ({"status": N}), or kills itself with {"signal": "KILL"}; for the tests.
initial=$(cat)
echo "exit_with got: $initial"
sig=$(printf '%s' "$initial" | sed -n 's/.*"signal": *"\([A-Z]*\)".*/\1/p')
[ -n "$sig" ] && kill -s "$sig" $$
st=$(printf '%s' "$initial" | sed -n 's/.*"status": *\([0-9]*\).*/\1/p')
exit "${st:-0}"
