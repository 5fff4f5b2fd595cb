#!/usr/bin/env bash
# Seed 003: a batch of 200 file copies, a manifest on success, cleanup always; with an
# unreadable file the discard path runs and cleanup still does.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller a KILL; stop_controller b KILL' EXIT
for qn in dataload file_copy dataload_manifest dataload_cleanup dataload_discard; do
	etl queue add $qn --task $qn --retry-limit 0 >/dev/null
done
src="$ETL_TMP/seed3/src"; dst="$ETL_TMP/seed3/dst"
rm -rf "$ETL_TMP/seed3"; mkdir -p "$src" "$dst"
for i in $(seq 1 200); do head -c $((i * 37)) /dev/urandom > "$src/file$i.dat"; done
start_controller a --concurrency 4
start_controller b --concurrency 4
id=$(etl send dataload "{\"dir\": \"$src\", \"dest\": \"$dst\"}")
wait_until 120 test -s "$dst/cleanup.done"
ok $? "the cleanup ran"
wait_until 10 test -s "$dst/manifest.json"
ok $? "the manifest was written"
is "$(grep -c '"md5"' "$dst/manifest.json")" 200 "it lists the 200 files"
bad=0
for i in $(seq 1 200); do
	want=$(md5sum < "$src/file$i.dat" | cut -d' ' -f1)
	grep -q "\"$want\"" "$dst/manifest.json" || bad=$((bad + 1))
done
is "$bad" 0 "with each file's MD5"
is "$(ls "$dst" | grep -c '^file')" 200 "the 200 copies are there"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dataload_manifest'")" 1 "the success callback ran once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dataload_discard'")" 0 "the discard path did not run"
ok "$([ ! -e "$dst/discarded" ]; echo $?)" "nothing marked discarded"

# an unreadable file: a dangling link (root reads any mode)
src2="$ETL_TMP/seed3/src2"; dst2="$ETL_TMP/seed3/dst2"
mkdir -p "$src2" "$dst2"
for i in $(seq 1 20); do echo "$i" > "$src2/f$i"; done
ln -s "$ETL_TMP/seed3/nowhere" "$src2/f21"
etl send dataload "{\"dir\": \"$src2\", \"dest\": \"$dst2\"}" >/dev/null
wait_until 60 test -s "$dst2/cleanup.done"
ok $? "with an unreadable file the cleanup still runs"
wait_until 10 test -s "$dst2/discarded"
ok $? "the discard path ran"
ok "$([ ! -e "$dst2/manifest.json" ]; echo $?)" "and no manifest was written"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dataload_discard'")" 1 "discard exactly once"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'dataload_manifest'")" 1 "success did not run again"
stop_controller a TERM; stop_controller b TERM
done_testing
