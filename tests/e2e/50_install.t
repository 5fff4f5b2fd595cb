#!/usr/bin/env bash
# Installing: make install DESTDIR= PREFIX=, a task built out of tree against the
# installed libetl.pc, man pages that lint clean, tasks in Python and shell (issue 8).
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
trap 'stop_controller c1 KILL' EXIT
dest="$ETL_TMP/root"
rm -rf "$dest"
san=; case "$ETL_BUILD" in *asan*) san="SANITIZE=1";; esac
make -s -C "$ETL_TOP" O="$ETL_BUILD" $san install DESTDIR="$dest" PREFIX=/usr >"$ETL_TMP/install.log" 2>&1
ok $? "make install DESTDIR=... PREFIX=/usr"
for f in bin/etl bin/etl-controller bin/etl-api share/man/man8/etl-api.8 lib/systemd/system/etl-api.service share/etl/web/index.html share/etl/web/app.js share/etl/web/openapi.json lib/libetl.so.0.1.0 lib/libetl.so.0 lib/libetl.so lib/libetl.a \
    lib/pkgconfig/libetl.pc include/etl.h libexec/etl/tasks/hello libexec/etl/tasks/sql \
    share/man/man1/etl.1 share/man/man8/etl-controller.8 share/man/man3/libetl.3 \
    share/man/man7/etl-task.7 share/man/man8/etl-keeper.8 libexec/etl/etl-keeper \
    share/etl/gdb/etl.py lib/systemd/system/etl-controller.service \
    share/bash-completion/completions/etl share/bash-completion/completions/etl-controller; do
	ok "$([ -e "$dest/usr/$f" ]; echo $?)" "installs $f"
done
is "$(readelf -d "$dest/usr/lib/libetl.so.0.1.0" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" libetl.so.0 "the library has its soname"
is "$(nm -D --defined-only "$dest/usr/lib/libetl.so.0.1.0" | awk '{print $3}' | grep -v '^etl_' | grep -vc '^LIBETL_0$')" 0 "it exports etl_* only"
# the installed etl finds its tasks next to itself (libexec/etl/tasks)
run env -u ETL_TASK_PATH "$dest/usr/bin/etl" run hello '{"name":"installed"}'
is "$out" "hello, installed" "the installed etl runs an installed task from its default task path"
# the installed controller finds its keeper next to itself (libexec/etl/etl-keeper)
etl queue add inst --task hello >/dev/null
CTL_WRAPPER="env -u ETL_TASK_PATH LD_LIBRARY_PATH=$dest/usr/lib PATH=$dest/usr/bin:$PATH" \
	start_controller inst --queues inst
i=$(etl send inst '{"name": "installed"}')
wait_until 20 qis "SELECT state FROM etl.job WHERE id = '$i'" completed
ok $? "the installed controller runs a task under the installed keeper"
stop_controller inst TERM

# a task built out of tree against the installed libetl.pc
if [ -n "$san" ]; then
	ok 0 "# SKIP the installed library is built with ASan: an out-of-tree task would need it too"
	ok 0 "# SKIP (as above)"
else
	# the install is under $dest, not /usr: point its .pc's prefix there (a sysroot would
	# move libpq's and cJSON's include paths too)
	mkdir -p "$ETL_TMP/ext" "$ETL_TMP/pc"
	sed "s|^prefix=.*|prefix=$dest/usr|" "$dest/usr/lib/pkgconfig/libetl.pc" > "$ETL_TMP/pc/libetl.pc"
	export PKG_CONFIG_PATH="$ETL_TMP/pc"
	cc -o "$ETL_TMP/ext/greet" "$ETL_TOP/tasks/examples/outoftree/greet.c" \
		$(pkg-config --cflags --libs libetl) 2>"$ETL_TMP/ext.log"
	ok $? "cc greet.c \$(pkg-config --cflags --libs libetl) builds against the install"
	LD_LIBRARY_PATH="$dest/usr/lib" ETL_TASK_PATH="$ETL_TMP/ext" run etl run greet '{"who": "world"}'
	is "$rc/$(q "SELECT output->>'greeting' FROM etl.job ORDER BY created_on DESC LIMIT 1")" "0/greetings, world" "and runs under etl run"
	unset PKG_CONFIG_PATH
fi
# the systemd units: paths for this PREFIX, valid, hardened; the etl user and folders
for u in etl-controller etl-api; do
	f="$dest/usr/lib/systemd/system/$u.service"
	like "$(grep '^ExecStart=' "$f")" "^ExecStart=/usr/bin/$u --config /etc/etl/" "$u.service: ExecStart and --config for PREFIX=/usr"
	if command -v systemd-analyze >/dev/null; then
		sed "s|=/usr/bin/|=$dest/usr/bin/|" "$f" >"$ETL_TMP/$u.service"
		systemd-analyze verify --man=no "$ETL_TMP/$u.service" >"$ETL_TMP/verify.log" 2>&1
		ok $? "  systemd-analyze verify: clean" || diag "$(cat "$ETL_TMP/verify.log")"
		score=$(systemd-analyze security --offline=true "$f" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
		ok "$(awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'; echo $?)" "  systemd-analyze security: $score (2.0 or below)"
	else
		ok 0 "# SKIP systemd-analyze is not installed"
		ok 0 "# SKIP (as above)"
	fi
done
for f in usr/lib/sysusers.d/etl.conf usr/lib/tmpfiles.d/etl.conf etc/etl/etl.conf.example etc/etl/etl-api.conf.example etc/etl/pg_service.conf.example; do
	ok "$([ -e "$dest/$f" ]; echo $?)" "installs $f"
done
if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	sr=$ETL_TMP/sysroot
	rm -rf "$sr"; mkdir -p "$sr/etc" "$sr/usr/lib/sysusers.d" "$sr/usr/lib/tmpfiles.d"
	cp "$dest/usr/lib/sysusers.d/etl.conf" "$sr/usr/lib/sysusers.d/"
	cp "$dest/usr/lib/tmpfiles.d/etl.conf" "$sr/usr/lib/tmpfiles.d/"
	systemd-sysusers --root="$sr" >/dev/null 2>&1
	like "$(grep '^etl:' "$sr/etc/passwd")" "^etl:x:[0-9]+:[0-9]+:.*:/var/lib/etl:/usr/sbin/nologin$" "sysusers.d makes the etl user (no login)"
	systemd-tmpfiles --root="$sr" --create >/dev/null 2>&1
	is "$(stat -c '%a %U' "$sr/var/log/etl" 2>&1 | sed "s/ .*/ /")$(awk -F: '$1 == "etl" {print $3}' "$sr/etc/passwd")" "750 $(stat -c '%u' "$sr/var/log/etl" 2>/dev/null)" "tmpfiles.d makes /var/log/etl, 0750, the etl user's"
	is "$(awk '$2 == "/var/log/etl" {print $6}' "$dest/usr/lib/tmpfiles.d/etl.conf")" "-" "  no age on the logs: each goes with its job, at its queue's retention"
fi
make -s -C "$ETL_TOP" O="$ETL_BUILD" $san uninstall DESTDIR="$dest" PREFIX=/usr >>"$ETL_TMP/install.log" 2>&1
ok $? "make uninstall"
is "$(find "$dest" -type f | wc -l)" 0 "leaves no file behind"

# man pages lint clean
if command -v mandoc >/dev/null; then
	for m in "$ETL_TOP"/contrib/man/*.[1378]; do
		is "$(mandoc -T lint -W warning "$m" 2>&1)" "" "mandoc -T lint: $(basename "$m") is clean"
	done
else
	ok 0 "# SKIP mandoc is not installed"
fi

# tasks in any language under the controller
etl queue add wc --task word_count >/dev/null
etl queue add lc --task line_count >/dev/null
start_controller c1
a=$(etl send wc '{"text": "the cat and the hat\nthe end"}')
b=$(etl send lc "{\"file\": \"$ETL_TOP/README.md\"}")
wait_until 20 qis "SELECT count(*) FROM etl.job WHERE id IN ('$a', '$b') AND state = 'completed'" 2
ok $? "the Python and shell tasks complete under the controller"
is "$(q "SELECT output->>'words' || ' ' || (output->'top'->0->>0) FROM etl.job WHERE id = '$a'")" "7 the" "the Python task's FINAL"
is "$(q "SELECT output->>'lines' FROM etl.job WHERE id = '$b'")" "$(wc -l < "$ETL_TOP/README.md" | tr -d ' ')" "the shell task's FINAL"
run etl ls --queue wc
like "$(printf '%s\n' "$out" | sed -n 2p)" "^$a	wc	completed	" "etl ls prints TSV when piped"
stop_controller c1 TERM
done_testing
