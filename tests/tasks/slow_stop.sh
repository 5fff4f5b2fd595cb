#!/bin/sh
# slow_stop: records RUN_START, works 3 s (or until SIGTERM, after which it takes 2 s to
# stop), records RUN_END; for the fencing tests.
cat >/dev/null
etl dispatch :RUN_START "{\"pid\": $$}" >/dev/null
stop=0
trap 'stop=1' TERM
i=0
while [ "$stop" -eq 0 ] && [ "$i" -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$stop" -eq 1 ] && sleep 2
etl dispatch :RUN_END "{\"pid\": $$}" >/dev/null
exit 0
