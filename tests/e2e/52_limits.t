#!/usr/bin/env bash
# Tasks run as a user, with limits and nice; the controller's configuration file
# (issue 8).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL; stop_controller c2 KILL; stop_controller c3 KILL' EXIT
etl queue add hello --task hello >/dev/null
etl queue add mem --task probe --rlimit-as 104857600 --retry-limit 0 >/dev/null
etl queue add cpu --task probe --rlimit-cpu 1 --retry-limit 0 >/dev/null
etl queue add nice5 --task probe --nice 5 >/dev/null
start_controller c1 --concurrency 4 --allow-user nobody,ghostuser
m=$(etl send mem '{"hog": "memory"}')
cpu=$(etl send cpu '{"hog": "cpu"}')
h=$(etl send hello '{"name": "bystander"}')
n=$(etl send nice5 '{}')
wait_until 30 qis "SELECT count(*) FROM etl.job WHERE id IN ('$m', '$cpu') AND state = 'failed'" 2
ok $? "the memory and CPU hogs fail"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$m'")" "under RLIMIT_AS 104857600 bytes" "the memory hog's ERROR names RLIMIT_AS"
like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$cpu'")" "SIGXCPU.*under RLIMIT_CPU 1 s" "the CPU hog's ERROR names SIGXCPU and RLIMIT_CPU"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$h'" completed
ok $? "another task keeps running and completes"
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$n'" completed
is "$(q "SELECT output->>'nice' FROM etl.job WHERE id = '$n'")" 5 "a queue's nice value applies to its tasks"

if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	etl queue add asnobody --task probe --run-as nobody >/dev/null
	r=$(etl send asnobody '{}')
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$r'" completed
	ok $? "a task with run_as nobody completes"
	is "$(q "SELECT output->>'uid' FROM etl.job WHERE id = '$r'")" "$(id -u nobody)" "its id -u is nobody's"
	log=$(q "SELECT log_path FROM etl.job WHERE id = '$r'")
	is "$(stat -c '%U %a' "$log")" "nobody 640" "its log belongs to nobody, mode 0640"
	etl queue add asghost --task probe --run-as ghostuser --retry-limit 0 >/dev/null
	g=$(etl send asghost '{}')
	wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$g'" failed
	like "$(q "SELECT output->>'message' FROM etl.job WHERE id = '$g'")" "no user 'ghostuser'" "a run_as user that does not exist fails the job, saying so"
else
	for i in 1 2 3 4 5; do ok 0 "# SKIP run_as needs root and a nobody user"; done
fi
stop_controller c1 TERM

# the configuration file; the command line wins
conf="$ETL_TMP/etl.conf"
cat > "$conf" <<CONF
# etl.conf for the test
pg_env = test
id = fromconf
concurrency = 3
queues = "hello,nice5"
task_path = $ETL_TASK_PATH
log_dir = $ETL_TMP/logs
CONF
start_controller c2 --config "$conf"
like "$(grep starting "$ETL_TMP/c2.log" | tail -1)" "as 'c2'.*queues hello,nice5, concurrency 3" "options come from the file (the command line's --id wins)"
stop_controller c2 TERM
start_controller c3 --config "$conf" --concurrency 2
like "$(grep starting "$ETL_TMP/c3.log" | tail -1)" "concurrency 2" "a flag wins over the file"
stop_controller c3 TERM
printf 'concurrency = 3\nbogus = 1\n' > "$ETL_TMP/bad.conf"
run etl-controller --config "$ETL_TMP/bad.conf"
is "$rc" 2 "an unknown key: exit 2"
like "$err" "bad.conf:2: unknown key bogus" "naming the file and line"
done_testing
