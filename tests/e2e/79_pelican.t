#!/usr/bin/env bash
# Pelican's checks for real (issue 20, seed 001): 10,000 generated OCDS compiled releases
# with defects injected at known rates, extracted and checked on two controllers: each
# item checked once, every defect found (the counts the generator recorded, so the rates
# within 1 %), the report's examples the same when it is made again, the ancestor found
# by time_based; a kill -9 of extract at each point of its run duplicates nothing; when
# every item check fails the dataset still reaches a report; a filtered dataset.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller pa KILL; stop_controller pb KILL' EXIT
# the tasks run Debian's python3 (their #! line), whatever python3 the PATH finds first
/usr/bin/python3 -c 'import psycopg2' 2>/dev/null
ok $? "/usr/bin/python3 has psycopg2 (contrib/install-deps.sh installs python3-psycopg2)"
q "DROP SCHEMA IF EXISTS pelican CASCADE" >/dev/null
for qn in pelican_extract pelican_check_item pelican_check_dataset pelican_time_based pelican_report pelican_dataset_filter; do
	etl queue add "$qn" --task "$qn" --retry-limit 2 >/dev/null
done
w=$ETL_TMP/pelican
rm -rf "$w"; mkdir -p "$w"; chmod 0755 "$w"
python3 "$ETL_TOP/tests/tools/ocds_gen.py" 10000 1 "$w/d1.ndjson" "$w/d1.truth"
start_controller pa --concurrency 4
start_controller pb --concurrency 4
ds_of() { q "SELECT id FROM pelican.dataset WHERE name = '$1'"; }
reported() { qis "SELECT count(*) FROM pelican.report r JOIN pelican.dataset d ON d.id = r.dataset_id WHERE d.name = '$1'" 1; }

etl send pelican_extract "{\"name\": \"d1\", \"source\": \"kfp-1\", \"file\": \"$w/d1.ndjson\"}" >/dev/null
wait_until 300 reported d1
ok $? "10,000 releases extracted, checked and reported" || {
	diag "$(q "SELECT queue || ' ' || state || ' ' || coalesce(output::text, '') FROM etl.job WHERE queue LIKE 'pelican%' ORDER BY created_on LIMIT 5")"
	diag "$(tail -20 "$ETL_TMP/logs/$(q "SELECT id FROM etl.job WHERE queue = 'pelican_extract' ORDER BY created_on LIMIT 1").log" 2>&1)"
}
d1=$(ds_of d1)
is "$(q "SELECT count(*) FILTER (WHERE state = 'OK' AND checks = 1) FROM pelican.data_item WHERE dataset_id = $d1")" 10000 "each item checked once, and OK"
is "$(q "SELECT count(*) FROM etl.job WHERE queue LIKE 'pelican%' AND retry_count > 0")" 0 "  no job needed a second run"
is "$(q "SELECT count(*) FROM pelican.item_result WHERE dataset_id = $d1")" 90000 "  nine results per item stored"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'pelican_check_item'")" 20 "check jobs carry batches of 500 item ids (20 jobs)"
is "$(q "SELECT count(DISTINCT controller_id) FROM etl.job WHERE queue = 'pelican_check_item'")" 2 "  run by both controllers"
is "$(q "SELECT count(*) FROM etl.job WHERE queue = 'pelican_check_dataset'")" 1 "check_dataset ran once"
is "$(q "SELECT (SELECT started_on FROM etl.job WHERE queue = 'pelican_check_dataset') > (SELECT max(completed_on) FROM etl.job WHERE queue = 'pelican_check_item')")" t "  after every item check ended"
is "$(q "SELECT phase || ' ' || state FROM pelican.dataset WHERE id = $d1")" "CHECKED OK" "the dataset is CHECKED"
# the defects found: exactly the generator's counts, so the rates within 1 %
for c in ocid.format date.format tender.value.amount.non_negative tender.value.currency.code dates.coherent contracts.value.within_award parties.referenced; do
	want=$(jq -r ".failed[\"$c\"]" "$w/d1.truth")
	rate=$(jq -r ".rates[\"$c\"]" "$w/d1.truth")
	got=$(q "SELECT report->'checks'->'$c'->>'failed' FROM pelican.report WHERE dataset_id = $d1")
	is "$got" "$want" "$c: $got failed, as injected (rate $(awk -v g="$got" 'BEGIN { printf "%.4f", g / 10000 }') for $rate)"
done
ok $(awk -v g="$(q "SELECT report->'checks'->'parties.referenced'->>'failed' FROM pelican.report WHERE dataset_id = $d1")" 'BEGIN { exit !(g / 10000 - 0.07 < 0.01 && 0.07 - g / 10000 < 0.01) }'; echo $?) "  (within 1 % of the rate)"
is "$(q "SELECT report->'checks'->'buyer.id.present'->>'failed' FROM pelican.report WHERE dataset_id = $d1")" 0 "a check with no defect injected fails nothing"
ex=$(q "SELECT report->'checks'->'dates.coherent'->'examples'->'failed' FROM pelican.report WHERE dataset_id = $d1")
is "$(q "SELECT count(*) FROM pelican.item_result WHERE check_name = 'dates.coherent' AND passed = false AND item_id IN (SELECT jsonb_array_elements_text('$ex')::bigint)")" 3 "the report's failing examples fail that check"
etl send pelican_report "{\"dataset_id\": $d1}" >/dev/null
wait_until 60 qis "SELECT count(*) FROM etl.job WHERE queue = 'pelican_report' AND state = 'completed'" 2
is "$(q "SELECT report->'checks'->'dates.coherent'->'examples'->'failed' FROM pelican.report WHERE dataset_id = $d1")" "$ex" "  made again, the same examples (seeded)"
like "$(q "SELECT report->'dataset_checks'->'unique.ocid'->>'passed' FROM pelican.report WHERE dataset_id = $d1")" true "dataset-level checks in the report"
is "$(q "SELECT report->'dataset_checks'->'ocid.persistence'->'result'->>'ancestor' FROM pelican.report WHERE dataset_id = $d1")" "" "the first dataset of its source has no ancestor"

# a later dataset of the same source: time_based finds the ancestor itself
python3 "$ETL_TOP/tests/tools/ocds_gen.py" 1000 1 "$w/d2.ndjson" "$w/d2.truth"
etl send pelican_extract "{\"name\": \"d2\", \"source\": \"kfp-1\", \"file\": \"$w/d2.ndjson\"}" >/dev/null
wait_until 120 reported d2
d2=$(ds_of d2)
is "$(q "SELECT ancestor_id FROM pelican.dataset WHERE id = $d2")" "$d1" "time_based found the ancestor (the previous dataset of the source)"
is "$(q "SELECT result->>'kept' || ' ' || (passed::text) FROM pelican.dataset_result WHERE dataset_id = $d2 AND check_name = 'ocid.persistence'")" "1000 false" "  and compared the pairs: 1,000 of 10,000 ocids kept, a fail"

# kill -9 of extract at each point of its run: nothing twice
python3 "$ETL_TOP/tests/tools/ocds_gen.py" 500 7 "$w/k.ndjson" "$w/k.truth"
for point in start inserting before_ack acked; do
	j=$(etl send pelican_extract "{\"name\": \"k_$point\", \"source\": \"kill-$point\", \"file\": \"$w/k.ndjson\", \"per_job\": 125, \"insert_batch\": 100, \"hold_at\": \"$point\"}")
	wait_until 60 qis "SELECT progress->>'message' FROM etl.job WHERE id = '$j'" "holding at $point"
	ok $? "extract holds at $point"
	pid=$(q "SELECT pid FROM etl.job WHERE id = '$j'")
	pkill -KILL -P "$pid"
	wait_until 120 reported "k_$point"
	ok $? "extract killed at $point: the dataset still reaches its report"
	is "$(q "SELECT count(*) || ' ' || sum(size) FROM pelican.dataset WHERE name = 'k_$point'")/$(q "SELECT count(*) FROM pelican.data_item i JOIN pelican.dataset d ON d.id = i.dataset_id WHERE d.name = 'k_$point'")/$(q "SELECT count(*) FROM etl.job WHERE queue = 'pelican_check_item' AND data->>'dataset_id' = '$(ds_of "k_$point")'")" \
		"1 500/500/4" "  one dataset, 500 items, 4 check jobs: nothing duplicated"
	is "$(q "SELECT retry_count FROM etl.job WHERE id = '$j'")" 1 "  (the job ran again once)"
done

# every item check failing: the dataset still reaches a report, FAILED
etl queue add pelican_check_item --task /bin/false --retry-limit 0 >/dev/null
etl send pelican_extract "{\"name\": \"f1\", \"source\": \"broken\", \"file\": \"$w/k.ndjson\"}" >/dev/null
wait_until 120 reported f1
ok $? "every item check failing: a report still comes"
is "$(q "SELECT phase || ' ' || state || ' ' || (meta->>'items_not_checked') FROM pelican.dataset WHERE name = 'f1'")" "CHECKED FAILED 500" "  the dataset CHECKED, FAILED, its 500 items not checked"
etl queue add pelican_check_item --task pelican_check_item --retry-limit 2 >/dev/null

# a filtered dataset, and a filter of a dataset not yet checked is ignored
eur=$(q "SELECT count(*) FROM pelican.data_item WHERE dataset_id = $d1 AND data->'tender'->'value'->>'currency' = 'EUR'")
etl send pelican_dataset_filter "{\"dataset_id\": $d1, \"name\": \"d1_eur\", \"filter\": {\"currency\": \"EUR\"}}" >/dev/null
wait_until 120 reported d1_eur
is "$(q "SELECT size || ' ' || phase FROM pelican.dataset WHERE name = 'd1_eur'")" "$eur CHECKED" "dataset_filter: the $eur EUR items, checked"
q "UPDATE pelican.dataset SET phase = 'DATASET' WHERE id = $d2" >/dev/null
j=$(etl send pelican_dataset_filter "{\"dataset_id\": $d2, \"name\": \"d2_x\", \"filter\": {\"currency\": \"EUR\"}}")
wait_until 30 qis "SELECT state FROM etl.job WHERE id = '$j'" completed
is "$(q "SELECT output->>'ignored' FROM etl.job WHERE id = '$j'")/$(q "SELECT count(*) FROM pelican.dataset WHERE name = 'd2_x'")" "true/0" "  a dataset not CHECKED is ignored"
done_testing
