#!/usr/bin/env bash
# The docs say what the programs do (issue 21, in part): every option of each program's
# --help (and of each etl command's) is in its man page; -h, -V and --version work.
. "$ETL_TOP/tests/lib/tap.sh"
man="$ETL_TOP/contrib/man"
# long options a man page names (roff escapes the dashes)
man_opts() { sed 's/\\-/-/g' "$1" | grep -o -- '--[a-z][a-z-]*' | sort -u; }
help_opts() { grep -o -- '--[a-z][a-z-]*' | sort -u; }
missing() {	# missing MANPAGE < HELP: the options of HELP the page lacks
	comm -23 <(help_opts) <(man_opts "$1") | tr '\n' ' '
}
is "$(etl-controller --help | missing "$man/etl-controller.8")" "" "every etl-controller option is in etl-controller(8)"
is "$(etl-api --help | missing "$man/etl-api.8")" "" "every etl-api option is in etl-api(8)"
is "$("$ETL_BUILD/libexec/etl/etl-keeper" --help | grep -o -- ' -[a-zA-Z] ' | tr -d ' ' | sort -u | while read -r o; do grep -q "^\.B.* \\\\$o\|^\.B \\\\$o\|\.RB \[ \\\\$o" "$man/etl-keeper.8" || printf '%s ' "$o"; done)" "" "every etl-keeper option is in etl-keeper(8)"
cmds=$(etl --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
all=$(etl --help; for c in $cmds; do etl "$c" --help 2>&1; done)
is "$(printf '%s\n' "$all" | missing "$man/etl.1")" "" "every option of etl and its commands is in etl(1)"
for c in $cmds; do
	sed 's/\\-/-/g' "$man/etl.1" | grep -q "^\.B[IR]* \"*$c\b\|[ \"]$c[\" ]\|^\.B $c$" ||
		{ ok 1 "etl(1) names the command $c"; continue; }
	ok 0 "etl(1) names the command $c"
done
for p in etl etl-controller etl-api; do
	run "$p" -V
	like "$out" "^$p [0-9]" "$p -V prints its version"
	run "$p" --version
	like "$out" "^$p [0-9]" "$p --version prints its version"
done
run etl -h
like "$out" "^usage: etl" "etl -h prints the usage"
done_testing
