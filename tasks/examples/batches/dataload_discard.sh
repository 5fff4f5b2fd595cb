#!/bin/sh
# dataload_discard: seed 003's on_discard callback: the first file that failed for good
# marks the load as discarded (DEST/discarded) so nothing publishes a partial dataset.
set -eu
initial=$(cat)
dest=$(printf '%s' "$initial" | sed -n 's/.*"dest": *"\([^"]*\)".*/\1/p')
[ -n "$dest" ] && [ -d "$dest" ] || { echo "dataload_discard: no dest folder" >&2; exit 65; }
printf '%s\n' "$initial" > "$dest/discarded"
echo "discarded the load into $dest"
