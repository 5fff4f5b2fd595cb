#!/usr/bin/env bash
# The web view in a real browser (issue 18): headless Chromium (Debian's) loads the
# overview, the activity view of a running pipeline and a job's page from etl-api, and
# the test asserts on the rendered page: queue rows, a progress bar whose value moves
# (the same element, updated in place, with no layout shift), the journal and log filled
# live, sub-tasks each with its bar, a bulk retry by button, a phone width without
# sideways scrolling, keyboard focus.  Screenshots go to the build folder.
. "$ETL_TOP/tests/lib/tap.sh"
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then
	echo "1..0 # SKIP chromium is not installed (contrib/install-deps.sh installs it where it can)"
	exit 0
fi
export CHROMIUM
reset_db
shots=$ETL_BUILD/screenshots
mkdir -p "$shots"
trap 'stop_controller wv KILL; kill $API_PID 2>/dev/null; [ -n "${BR_PID:-}" ] && kill $BR_PID 2>/dev/null; wait 2>/dev/null' EXIT

tf=$ETL_TMP/wv_tokens
rm -f "$tf"
A=$(etl-api --token-file "$tf" --new-token ops admin)
V=$(etl-api --token-file "$tf" --new-token watcher viewer)
start_api wv_api --token-file "$tf" --log-dir "$ETL_TMP/logs"
ok $? "etl-api is up ($API_URL)"
etl queue add pipe --task ticker >/dev/null
etl queue add child --task ticker >/dev/null
etl queue add parents --task parent >/dev/null
etl queue add broken --task exit_with --retry-limit 0 >/dev/null
start_controller wv --concurrency 8

coproc BR { python3 "$ETL_TOP/tests/tools/browser.py"; }
BR_PID=$BR_PID
# br COMMAND...: one command to the browser; its answer in $reply, status 0 when ok
br() {
	echo "$*" >&"${BR[1]}"
	if ! IFS= read -r -t 60 reply <&"${BR[0]}"; then
		reply="fail no answer"
		return 1
	fi
	[ "${reply#ok }" != "$reply" ]
}
val() { printf '%s' "${reply#ok }"; }

br size 1280 800
ok $? "Chromium started (headless, DevTools over a pipe)" || diag "$reply"

# ---- the overview
br goto "$API_URL/?token=$A#/"
br wait 10 "document.querySelector('#queues tr[data-queue=\"pipe\"]') !== null"
ok $? "overview: the queues table has a row per queue" || diag "$reply"
br eval "location.search"
is "$(val)" '""' "  the token is taken out of the address"
br eval "document.getElementById('who').textContent"
is "$(val)" '"ops (admin)"' "  the page says who is signed in"
br wait 10 "document.querySelector('#controllers tbody tr td') && document.querySelector('#controllers tbody tr td').textContent === 'wv'"
ok $? "  the controllers table shows the controller" || diag "$reply"
br wait 5 "document.getElementById('live').classList.contains('on')"
ok $? "  and its live feed is connected"
br shot "$shots/overview.png"
ok $? "  screenshot: $shots/overview.png"

# ---- activity: a running pipeline's progress bar moves, in place, live
jp=$(etl send pipe '{"steps": 14, "gap": 0.5}')
br goto "$API_URL/#/activity"
ok $? "activity: the page opens" || diag "$reply"
br wait 10 "(() => { const p = document.querySelector('#running tr[data-job=\"$jp\"] progress'); if (!p || !(p.value > 0)) return false; window.__bar = p; window.__v0 = p.value; window.__cls = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; }).observe({ type: 'layout-shift' }); return p.value; })()"
ok $? "activity: the running job has a progress bar with a value ($(val))" || diag "$reply"
br wait 10 "window.__bar.isConnected && window.__bar.value > window.__v0 && window.__bar.value"
ok $? "  its value moves on the same element, live ($(val))" || diag "$reply"
br eval "document.querySelector('#running tr[data-job=\"$jp\"] .msg').textContent"
like "$(val)" 'step [0-9]+ of 14' "  with the task's message"
br shot "$shots/activity.png"
br eval "window.__cls"
ok $(awk -v c="$(val)" 'BEGIN { exit !(c < 0.05) }'; echo $?) "  updates shift no layout (cumulative shift $(val))"

# ---- a job's page: journal and log live, its end, its buttons
br goto "$API_URL/#/job/$jp"
br wait 10 "document.querySelectorAll('#events tbody tr[data-key]').length >= 2"
ok $? "job page: its journal fills in" || diag "$reply"
br wait 20 "document.getElementById('job-state').textContent === 'completed'"
ok $? "  and follows the job to its end (completed)" || diag "$reply"
br wait 5 "[...document.querySelectorAll('#events td')].some((t) => t.textContent === 'ticker:FINAL')"
ok $? "  the FINAL event is in the journal"
br wait 5 "document.getElementById('log').textContent.includes('ticker: 14 steps')"
ok $? "  its log is shown" || diag "$reply"
br eval "[document.getElementById('retry').disabled, document.getElementById('cancel').disabled]"
is "$(val)" "[false,true]" "  an admin may retry a finished job, not cancel it"
br eval "document.querySelector('#job-state').closest('main').querySelector('progress').value"
is "$(val)" 14 "  its bar reads the last progress"
br shot "$shots/job.png"

# a parent's page: each sub-task with its own bar
jparent=$(etl send parents '{"seconds": 1}')
br goto "$API_URL/#/job/$jparent"
br wait 20 "document.querySelectorAll('#tree .ctx progress').length >= 1"
ok $? "a parent's page: its sub-tasks appear, each with a bar" || diag "$reply"
br wait 30 "document.querySelectorAll('#tree .ctx').length === 3 && document.getElementById('job-state').textContent === 'completed'"
ok $? "  all three, and the parent completes" || diag "$reply"
br eval "[...document.querySelectorAll('#tree .ctx progress')].map((p) => p.value).join(',')"
is "$(val)" '"3,3,3"' "  each sub-task's bar full"
br shot "$shots/subtasks.png"

# ---- failures: grouped, retried by a button
for i in 1 2; do etl send broken "{\"status\": 4, \"i\": $i}" >/dev/null; done
wait_until 20 all_in 2 failed broken
br goto "$API_URL/#/failures"
br wait 10 "document.querySelector('#failures tbody tr[data-key] .retry-queue') !== null"
ok $? "failures: a row per queue and error, with a retry button" || diag "$reply"
br eval "document.querySelector('#failures tbody tr[data-key] td:nth-child(3)').textContent"
is "$(val)" '"2"' "  counting the jobs"
br eval "document.querySelector('#failures .retry-queue').click(), true"
wait_until 10 qge "SELECT min(run) FROM etl.job WHERE queue = 'broken'" 2
ok $? "  the button retries them"
br shot "$shots/failures.png"

# ---- a viewer sees no enabled buttons
br goto "$API_URL/?token=$V#/job/$jp"
br wait 10 "document.getElementById('retry') !== null"
br eval "document.getElementById('retry').disabled"
is "$(val)" true "a viewer's job page: the retry button is disabled"

# ---- a phone's width, the keyboard
br size 390 844
br goto "$API_URL/#/"
br wait 10 "document.querySelector('#queues tr[data-queue=\"pipe\"]') !== null"
br eval "document.documentElement.scrollWidth <= window.innerWidth + 1"
is "$(val)" true "at a phone's width the page does not scroll sideways (tables do, in their box)"
br shot "$shots/phone.png"
br eval "document.activeElement && document.activeElement.blur(), true"
br key Tab
br eval "document.activeElement.tagName + ' ' + document.activeElement.textContent"
like "$(val)" '^"A ' "the keyboard reaches the links (Tab: $(val))"

# ---- without a token: the sign-in form, and no data
br size 1280 800
br eval "sessionStorage.clear(), true"
br goto "$API_URL/?again#/"
br wait 10 "!document.getElementById('login').hidden"
ok $? "without a token: the sign-in form is shown" || diag "$reply"
br eval "document.querySelectorAll('#queues').length"
is "$(val)" 0 "  and no data"

echo "quit" >&"${BR[1]}" 2>/dev/null
exec {BR[1]}>&-
wait "$BR_PID" 2>/dev/null
done_testing
