#!/usr/bin/env bash
# Bash completion (issue 21): every command (top too), subcommands, state values,
# queue names and job ids from the database, the command found after --pg-env NAME,
# task names from $ETL_TASK_PATH, and etl-controller's options and queues.
. "$ETL_TOP/tests/lib/tap.sh"
reset_db
etl queue add cq_one --task hello >/dev/null
id=$(etl send cq_one '{"name": "c"}')
# shellcheck source=/dev/null
. "$ETL_TOP/contrib/etl.bash-completion"
# comp WORDS...: the completions for the last word (the one being typed)
comp() {
	local fn=_etl
	[ "$1" = etl-controller ] && fn=_etl_controller
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
like "$(comp etl '')" "top" "etl <TAB> offers top"
like "$(comp etl '')" "schedule" "and the other commands"
is "$(comp etl --pg-env "$ETL_PG_ENV" q)" "queue " "the command is found after --pg-env NAME"
is "$(comp etl --pg-env "$ETL_PG_ENV" queue p)" "pause " "queue subcommands include pause"
is "$(comp etl queue pause cq)" "cq_one " "queue names come from the database"
is "$(comp etl ls --state c)" "cancelled completed created " "--state offers the state values"
like "$(comp etl cancel --q)" "--queue" "cancel offers --queue"
like "$(comp etl rm --q)" "--queue" "rm offers --queue"
is "$(comp etl show "${id:0:8}")" "$id " "job ids come from the database"
like "$(comp etl queue add x --ta)" "--task" "queue add offers its options (from its --help)"
like "$(comp etl queue add x --task hel)" "hello" "--task offers the tasks of ETL_TASK_PATH"
like "$(comp etl ls --)" "--data" "ls offers --key and --data"
like "$(comp etl top --)" "--once" "top offers its options"
like "$(comp etl-controller --uid)" "--uid-range" "etl-controller offers its options (from its --help)"
like "$(comp etl-controller --queues c)" "cq_one" "and queue names after --queues"
done_testing
