#!/usr/bin/env bash
# The controller as a service: READY=1 and WATCHDOG=1 to $NOTIFY_SOCKET, --daemon with a
# locked pidfile, SIGHUP reopening the log file, --help (issue 3).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
sock="$ETL_TMP/notify.sock"
rm -f "$sock"
# a stand-in for systemd: print every datagram on the socket for 6 seconds
python3 - "$sock" >"$ETL_TMP/notify.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.2)
end = time.time() + 6
while time.time() < end:
    try:
        print(s.recv(4096).decode(), flush=True)
    except socket.timeout:
        pass
PY
listener=$!
wait_until 5 test -S "$sock"
NOTIFY_SOCKET="$sock" WATCHDOG_USEC=400000 start_controller svc
wait_until 5 grep -q "READY=1" "$ETL_TMP/notify.out"
ok $? "READY=1 reaches \$NOTIFY_SOCKET once connected"
wait_until 5 grep -q "WATCHDOG=1" "$ETL_TMP/notify.out"
ok $? "WATCHDOG=1 is sent when \$WATCHDOG_USEC asks"
stop_controller svc TERM
is "$rc" 0 "SIGTERM: exit 0"
grep -q "STOPPING=1" "$ETL_TMP/notify.out"
ok $? "STOPPING=1 on SIGTERM"
kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null

# --daemon with a locked pidfile and a log file reopened on SIGHUP
pidf="$ETL_TMP/ctl.pid"
logf="$ETL_TMP/ctl-daemon.log"
etl-controller --daemon --pidfile "$pidf" --log-file "$logf" --id dmn --log-dir "$ETL_TMP/logs"
is "$?" 0 "--daemon returns at once with 0"
wait_until 5 test -s "$pidf"
ok $? "it writes its pidfile"
dpid=$(cat "$pidf")
ok $(alive "$dpid"; echo $?) "the daemon runs (pid $dpid)"
wait_until 5 grep -q "connected" "$logf"
ok $? "it logs to --log-file"
run etl-controller --daemon --pidfile "$pidf" --log-file "$logf" --id dmn2 --log-dir "$ETL_TMP/logs"
is "$rc" 1 "a second one with the same pidfile refuses to start"
like "$(cat "$logf") $err" "already running" "saying it is already running"
mv "$logf" "$logf.1"
kill -HUP "$dpid"
wait_until 5 test -s "$logf"
ok $? "SIGHUP reopens the log file"
like "$(cat "$logf")" "log reopened" "and the new file has the next lines"
kill -TERM "$dpid"
wait_until 10 eval "! alive $dpid"
ok $? "the daemon stops on SIGTERM"
ok "$([ ! -e "$pidf" ]; echo $?)" "and removes its pidfile"

run etl-controller --help
is "$rc" 0 "etl-controller --help exits 0"
like "$out" "--concurrency" "and lists the options"
run etl-controller --bogus
is "$rc" 2 "an unknown option: exit 2"
run etl-controller --queues "a b"
is "$rc" 2 "a bad queue name: exit 2"
done_testing
