#!/bin/sh
# probe: reports who and how it runs, for the tests: FINAL {"uid", "nice"}; with payload
# {"hog": "memory"} it allocates 300 MB in awk, with {"hog": "cpu"} it spins.
initial=$(cat)
case "$initial" in
*'"hog":"memory"'* | *'"hog": "memory"'*) awk 'BEGIN { s = sprintf("%300000000s", ""); print length(s) }' || exit 2 ;;
*'"hog":"cpu"'* | *'"hog": "cpu"'*) while :; do :; done ;;
esac
etl dispatch :FINAL "{\"uid\": $(id -u), \"nice\": $(ps -o ni= -p $$ | tr -d ' ')}" >/dev/null
