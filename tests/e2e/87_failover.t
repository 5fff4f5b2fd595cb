#!/usr/bin/env bash
# Failover with synchronous replication (issue 22, point 2): a primary of our own and a
# streaming replica made by pg_basebackup -R (synchronous_standby_names names it); a
# controller on the multi-host service, jobs sent one by one throughout; the primary is
# stopped -m immediate and the replica promoted 2 s later.  Every acknowledged send is
# on the new primary, every job completes, no two runs of a job are alive at once (read
# from the tasks' own log, not from the database), and work resumes within seconds.
. "$ETL_TOP/tests/lib/tap.sh"
. "$ETL_TOP/tests/lib/cluster.sh"
rdir=
sender=
cleanup() {
	[ -n "$sender" ] && kill "$sender" 2>/dev/null
	stop_controller fo KILL
	[ -n "$rdir" ] && _cluster_as "$PGBIN/pg_ctl" -D "$rdir/data" -m immediate -w stop >/dev/null 2>&1
	cluster_stop
}
trap cleanup EXIT
# a primary of our own (the suite's cluster runs with synchronous_commit off)
cluster_start "$ETL_TMP/fo_primary" || { echo "Bail out! no primary"; exit 1; }
pdir=$CLUSTER_DIR pport=$PGPORT
rdir=$(mktemp -d /tmp/etl-replica.XXXXXX)
chmod 0755 "$rdir"
[ -z "$CLUSTER_OSUSER" ] || chown "$CLUSTER_OSUSER" "$rdir"
rport=$(_free_port)
_cluster_as "$PGBIN/pg_basebackup" -D "$rdir/data" -R -c fast -X stream -h "$pdir" -p "$pport" -U postgres >"$rdir/basebackup.log" 2>&1
ok $? "a replica by pg_basebackup -R"
_cluster_as tee -a "$rdir/data/postgresql.conf" >/dev/null <<-CONF
	port = $rport
	unix_socket_directories = '$rdir'
CONF
# after the primary_conninfo pg_basebackup -R wrote: the name the primary waits for
_cluster_as tee -a "$rdir/data/postgresql.auto.conf" >/dev/null <<-CONF
	primary_conninfo = 'host=$pdir port=$pport user=postgres application_name=replica1'
CONF
_cluster_as "$PGBIN/pg_ctl" -D "$rdir/data" -l "$rdir/server.log" -w -t 60 start >/dev/null
ok $? "the replica starts"
_cluster_as tee -a "$pdir/data/postgresql.conf" >/dev/null <<-CONF
	synchronous_standby_names = 'replica1'
	synchronous_commit = on
CONF
q "SELECT pg_reload_conf()" >/dev/null
wait_until 30 qis "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'replica1'" sync
ok $? "it streams, synchronously" || { diag "$(tail -5 "$rdir/server.log")"; exit 1; }
is "$(q "SHOW synchronous_commit")" on "the primary waits for it at every commit"

# the service: both servers, the writable one wanted
cat >"$PGSERVICEFILE" <<-SVC
	[test]
	host=$pdir,$rdir
	port=$pport,$rport
	user=postgres
	dbname=etl_test
	target_session_attrs=read-write
SVC
etl migrate >/dev/null
etl queue add fo --task runlog --retry-limit 5 --retry-delay 0 >/dev/null
runs=$ETL_TMP/fo_runs.log acked=$ETL_TMP/fo_acked
: >"$runs"
: >"$acked"
start_controller fo --concurrency 8
# one send at a time, each id written once its send was acknowledged
(
	while :; do
		id=$(etl send fo "{\"log\": \"$runs\", \"seconds\": 0.4}" 2>/dev/null) && echo "$id" >>"$acked"
		sleep 0.02
	done
) &
sender=$!
wait_until 30 eval '[ "$(wc -l <"$acked")" -ge 60 ]'
ok $? "60 sends acknowledged before the failover"
_cluster_as "$PGBIN/pg_ctl" -D "$pdir/data" -m immediate -w stop >/dev/null
t_stop=$(date +%s.%N)
before=$(wc -l <"$acked")
diag "primary stopped -m immediate with $before sends acknowledged"
sleep 2	# the outage: no primary at all for 2 s
_cluster_as "$PGBIN/pg_ctl" -D "$rdir/data" -w promote >/dev/null
ok $? "the replica is promoted"
t_promote=$(date +%s.%N)
wait_until 30 eval '[ "$(wc -l <"$acked")" -ge $((before + 60)) ]'
ok $? "sends are acknowledged again by the new primary"
kill "$sender"
wait "$sender" 2>/dev/null
sender=
n=$(wc -l <"$acked")
ids=$(sed "s/.*/'&'/" "$acked" | paste -sd, -)
is "$(q "SELECT count(*) FROM etl.job WHERE id IN ($ids)")" "$n" "all $n acknowledged sends are on the new primary"
wait_until 120 qis "SELECT count(*) FROM etl.job WHERE id IN ($ids) AND state = 'completed'" "$n"
ok $? "and every one of them completes"
is "$(q "SELECT count(*) FROM etl.job WHERE state IN ('created', 'retry', 'active')")" 0 "nothing left waiting or active"
first=$(q "SELECT extract(epoch FROM min(completed_on)) FROM etl.job WHERE completed_on > to_timestamp($t_promote)")
resumed=$(awk -v a="$first" -v b="$t_promote" 'BEGIN { printf "%.1f", a - b }')
diag "first job completed $resumed s after the promotion (stopped at $t_stop)"
ok "$(awk -v r="$resumed" 'BEGIN { exit !(r < 10) }'; echo $?)" "work resumed within seconds of the promotion"
# from the tasks' own log: per job, sort its runs; a run must start after the last ended
overlaps=$(sort -k1,1 -k3,3n "$runs" | awk '
	$2 == "start" { if ($1 in live && live[$1] > 0) bad++; live[$1]++ }
	$2 == "end"   { live[$1]-- }
	END { print bad + 0 }')
is "$overlaps" 0 "no two runs of one job were ever alive at once (the tasks' log)"
is "$(awk '$2 == "start"' "$runs" | wc -l)" "$(awk '$2 == "start" { print $1 }' "$runs" | sort -u | wc -l)" "each job ran once (no run cut short and retried)"
diag "$(awk '$2 == "start"' "$runs" | wc -l) runs of $n jobs"
stop_controller fo TERM
is "$rc" 0 "the controller stops cleanly on the new primary"
done_testing
