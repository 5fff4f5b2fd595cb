#!/bin/sh
# hostile: a task that tries to reach another job's task, whose pid is in its payload
# ({"target": PID}): signal it (kill -0), read its environment and its memory map.  Its
# FINAL says what it could do: {"uid", "signal", "environ", "maps"}, each "allowed" or
# "denied".  For the isolation tests.
initial=$(cat)
t=$(printf '%s' "$initial" | sed -n 's/.*"target": *\([0-9]*\).*/\1/p')
try() { if "$@" >/dev/null 2>&1; then echo allowed; else echo denied; fi; }
sig=$(try kill -0 "$t")
env=$(try cat "/proc/$t/environ")
maps=$(try cat "/proc/$t/maps")
etl dispatch :FINAL "{\"uid\": $(id -u), \"signal\": \"$sig\", \"environ\": \"$env\", \"maps\": \"$maps\"}" >/dev/null
