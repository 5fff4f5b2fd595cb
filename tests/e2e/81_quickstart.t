#!/usr/bin/env bash
# The README's quick start, as written, on a throwaway cluster (issue 21): its lines are
# taken from README.md and run in a fresh HOME, as root and as an ordinary user, with
# only what ties them to a Debian machine swapped for this cluster: no apt (the cluster
# is up), `make install` into a folder (with LD_LIBRARY_PATH for ldconfig), createuser
# as the cluster's superuser, the service's socket folder, no `etl top`; ETL_LOG_DIR
# keeps root's job logs out of /var/log/etl.  And as root
# without --user: the controller refuses to start, saying what to change.
. "$ETL_TOP/tests/lib/tap.sh"
dest=$(mktemp -d /tmp/etl-qs.XXXXXX)
chmod 0755 "$dest"
# (only the controllers installed here: another shard's run theirs beside)
qs_stop() {
	local p
	for p in $(pgrep -f "etl-controller --user"); do
		case "$(readlink "/proc/$p/exe")" in "$dest"/*) kill "$p" 2>/dev/null;; esac
	done
}
trap 'qs_stop; rm -rf "$dest"' EXIT
san=; case "$ETL_BUILD" in *asan*) san="SANITIZE=1";; esac
make -s -C "$ETL_TOP" O="$ETL_BUILD" $san install DESTDIR="$dest" PREFIX=/usr/local >"$ETL_TMP/qs-install.log" 2>&1
ok $? "make install (into a folder for the test)"

# the quick start's lines, from the README
awk '/^## Quick start/ { on = 1; next } on && /^## / { exit } on && /^    / { print substr($0, 5) }' \
	"$ETL_TOP/README.md" >"$ETL_TMP/qs.raw"
like "$(cat "$ETL_TMP/qs.raw")" "etl-controller --user" "the README has a quick start"
sed -e '/^sudo apt install/d' \
    -e '/^make && sudo make install/d' \
    -e 's/^sudo -u postgres createuser/PGUSER=postgres createuser/' \
    -e "s|^host=/var/run/postgresql\$|host=$PGHOST\\nport=$PGPORT|" \
    -e '/^etl top/d' \
    "$ETL_TMP/qs.raw" >"$dest/qs.sh"
echo 'kill %1; wait' >>"$dest/qs.sh"
chmod 0644 "$dest/qs.sh"
is "$(grep -c . "$dest/qs.sh")" "$(($(grep -c . "$ETL_TMP/qs.raw") - 1))" "  run as written but for apt, make install and etl top (a port line added, the controller stopped at the end)"

# quickstart USER: the script in a fresh HOME as USER; its output in $ETL_TMP/qs-USER.out
quickstart() {
	local u=$1 home="$dest/home-$1"
	mkdir -p "$home"
	chmod 0700 "$home"
	[ "$u" = "$(id -un)" ] || chown "$u" "$home"
	q "DROP DATABASE IF EXISTS etl" >/dev/null
	q "DROP ROLE IF EXISTS \"$u\"" >/dev/null
	local as=()
	[ "$u" = "$(id -un)" ] || as=(runuser -u "$u" --)
	(cd "$home" && timeout 90 "${as[@]}" env -i HOME="$home" USER="$u" LOGNAME="$u" LANG=C.UTF-8 \
		PATH="$dest/usr/local/bin:/usr/bin:/bin" LD_LIBRARY_PATH="$dest/usr/local/lib" \
		PGHOST="$PGHOST" PGPORT="$PGPORT" ETL_LOG_DIR="$home/logs" bash "$dest/qs.sh") >"$ETL_TMP/qs-$u.out" 2>&1
}

me=$(id -un)
quickstart "$me"
ok $? "the quick start as $me: every line succeeds" || diag "$(tail -20 "$ETL_TMP/qs-$me.out")"
like "$(cat "$ETL_TMP/qs-$me.out")" "hello, ada" "  the job's log says hello"
like "$(cat "$ETL_TMP/qs-$me.out")" "hello:FINAL" "  its events end in its FINAL"
like "$(cat "$ETL_TMP/qs-$me.out")" "state +completed" "  etl show: completed"

if [ "$(id -u)" -eq 0 ]; then
	# as root without --user: tasks would run as nobody, who cannot read root's
	# ~/.pg_service.conf; the controller says so before claiming anything
	home="$dest/home-$me"
	out=$(cd "$home" && timeout 30 env -i HOME="$home" PATH="$dest/usr/local/bin:/usr/bin:/bin" \
		LD_LIBRARY_PATH="$dest/usr/local/lib" PGHOST="$PGHOST" PGPORT="$PGPORT" ETL_PG_ENV=dev \
		etl-controller --log-dir "$dest/logs" 2>&1)
	rc=$?
	is "$rc" 1 "as root without --user: the controller refuses to start"
	like "$out" "tasks run as nobody, who cannot reach pg_env 'dev'" "  saying tasks would run as nobody and cannot reach the pg_env"
	like "$out" "PGSERVICEFILE at it .*--user NAME" "  and what to change"
	# an ordinary user: the cluster's own OS user
	if [ -n "${CLUSTER_OSUSER:-}" ] && id "$CLUSTER_OSUSER" >/dev/null 2>&1; then
		quickstart "$CLUSTER_OSUSER"
		ok $? "the quick start as an ordinary user ($CLUSTER_OSUSER): every line succeeds" || diag "$(tail -20 "$ETL_TMP/qs-$CLUSTER_OSUSER.out")"
		like "$(cat "$ETL_TMP/qs-$CLUSTER_OSUSER.out")" "hello, ada" "  the job's log says hello"
	else
		ok 0 "# SKIP no ordinary user here to run it as"
		ok 0 "# SKIP (as above)"
	fi
fi
q "DROP DATABASE IF EXISTS etl" >/dev/null
done_testing
