#!/bin/sh
# spew: writes a start line, {"mb": N} megabytes of output a tenth of a second apart, and
# an end line; for the log cap tests.
initial=$(cat)
mb=$(printf '%s' "$initial" | sed -n 's/.*"mb": *\([0-9]*\).*/\1/p')
echo "spew: start"
i=0
while [ "$i" -lt "${mb:-1}" ]; do
	head -c 1048576 /dev/zero | tr '\0' 'x'
	echo
	sleep 0.1
	i=$((i + 1))
done
echo "spew: end"
