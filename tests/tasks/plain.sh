#!/bin/sh
# plain: a task in no particular language (no libetl): it records RUN_START, works
# {"seconds": N}, records RUN_END and exits with {"status": N}; with {"leave": true} it
# first starts a background child and a setsid daemon that outlive it; with {"ticks": N}
# it works N half-seconds instead, each recorded with `etl progress` (a heartbeat).  On SIGTERM it
# records RUN_END (stopped) and exits 143.  An empty INITIAL (its controller died before
# writing it): it does nothing and exits 75 (try again), as etl-task(7) asks.  For the
# keeper and lease tests.
initial=$(cat)
[ -n "$initial" ] || exit 75
field() { printf '%s' "$initial" | sed -n "s/.*\"$1\": *\\([0-9.a-z]*\\).*/\\1/p"; }
secs=$(field seconds)
st=$(field status)
etl dispatch :RUN_START "{\"pid\": $$}" >/dev/null
trap 'etl dispatch :RUN_END "{\"pid\": $$, \"stopped\": true}" >/dev/null; exit 143' TERM
if [ "$(field leave)" = true ]; then
	sleep 300 &
	setsid sh -c 'sleep 300' </dev/null >/dev/null 2>&1 &
fi
ticks=$(field ticks)
if [ -n "$ticks" ]; then
	i=0
	while [ "$i" -lt "$ticks" ]; do
		i=$((i + 1))
		etl progress "$i" "$ticks" >/dev/null
		sleep 0.5 &
		wait $!
	done
else
	# sleep in the background so the trap runs at once
	sleep "${secs:-1}" &
	wait $!
fi
etl dispatch :RUN_END "{\"pid\": $$}" >/dev/null
exit "${st:-0}"
