#!/bin/sh
# dataload_cleanup: seed 003's on_finish callback, run whatever the outcome: removes
# leftover temporary copies from DEST and writes DEST/cleanup.done with the batch's counts.
set -eu
initial=$(cat)
dest=$(printf '%s' "$initial" | sed -n 's/.*"dest": *"\([^"]*\)".*/\1/p')
[ -n "$dest" ] && [ -d "$dest" ] || { echo "dataload_cleanup: no dest folder in $initial" >&2; exit 65; }
rm -f "$dest"/*.etl-*.tmp
printf '%s\n' "$initial" > "$dest/cleanup.done"
echo "cleaned $dest"
etl dispatch :FINAL "{\"cleaned\": \"$dest\"}" >/dev/null
