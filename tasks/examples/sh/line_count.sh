#!/bin/sh
# line_count: an etl task in POSIX shell.  Payload {"file": PATH}: counts its lines,
# records progress and the FINAL with `etl progress` and `etl dispatch`.
set -eu
initial=$(cat)
file=$(printf '%s' "$initial" | sed -n 's/.*"payload": *{ *"file": *"\([^"]*\)".*/\1/p')
if [ -z "$file" ] || [ ! -r "$file" ]; then
	echo "line_count wants {\"file\": PATH} of a readable file" >&2
	exit 65
fi
etl progress 0 1 "counting" >/dev/null
n=$(wc -l < "$file" | tr -d ' ')
etl progress 1 1 "counted" >/dev/null
echo "$file: $n lines"
etl dispatch :FINAL "{\"lines\": $n}" >/dev/null
