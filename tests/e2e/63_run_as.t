#!/usr/bin/env bash
# Root is never chosen by the database (issue 16, point 2): a root controller runs a task
# only as a user its own configuration allows (--user, --allow-user); a queue whose run_as
# names another (a row any writer of etl.queue could make) fails its jobs, saying why,
# and nothing runs; `etl queue add --run-as` says which controllers would refuse it.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller ra KILL' EXIT
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
	for i in 1 2 3 4 5 6 7; do ok 0 "# SKIP needs root and a nobody user"; done
	done_testing
fi
mark="$ETL_TMP/became_root"
rm -f "$mark"
start_controller ra --user nobody
# a hostile writer of etl.queue, then a job for it
q "INSERT INTO etl.queue (name, task, run_as, retry_limit) VALUES ('evil', 'shell', 'root', 0)" >/dev/null
id=$(etl send evil "{\"command\": \"id -u > $mark\", \"shell\": true}")
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$id'" failed
ok $? "a job of a queue with run_as root fails on a controller that does not allow root"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$id'")" "run_as 'root' is not allowed by this controller \(--user and --allow-user allow: nobody\)" "saying why"
ok $([ ! -e "$mark" ] && echo 0 || echo 1) "and its command never ran"
like "$(cat "$ETL_TMP/ra.log")" "run_as 'root' is not allowed" "the controller logs it"
is "$(q "SELECT allow_users::text FROM etl.controller WHERE id = 'ra'")" "{nobody}" "the controller records whom it allows"
run etl queue add evil2 --task shell --run-as root
like "$err" "do not allow run_as 'root'.*ra \(on $(hostname)\)" "etl queue add --run-as root names the controllers that would refuse it"
run etl queue add fine --task hello --run-as nobody
is "$err" "" "and says nothing for a user they allow"
stop_controller ra
done_testing
