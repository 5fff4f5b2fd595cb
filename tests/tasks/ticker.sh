#!/bin/sh
# ticker: {"steps": N, "gap": S}: N steps S seconds apart, each a :PROGRESS and a :ROW
# event; for the API and web view tests (a progress bar that moves).
initial=$(cat)
n=$(printf '%s' "$initial" | sed -n 's/.*"steps": *\([0-9]*\).*/\1/p')
gap=$(printf '%s' "$initial" | sed -n 's/.*"gap": *\([0-9.]*\).*/\1/p')
n=${n:-3}
i=0
while [ "$i" -lt "$n" ]; do
	sleep "${gap:-0.5}"
	i=$((i + 1))
	etl progress "$i" "$n" "step $i of $n" >/dev/null || exit 1
	etl dispatch :ROW "{\"n\": $i}" >/dev/null || exit 1
done
echo "ticker: $i steps"
