#!/bin/sh
# install-deps.sh: install what building and testing etl needs on Debian, when missing:
# the -dev packages of libpq, libev, cJSON and libbsd, pkg-config, the PostgreSQL
# server (for the tests' throwaway cluster), prove, valgrind and gdb; libmicrohttpd for
# etl-api; curl, jq and python3-jsonschema for its tests, wrk for its bench; PgBouncer
# for the pooler test; Node.js,
# npm and debugpy for the task glue's tests; psycopg2 for the Pelican example; libcurl and libmagic for the Dataverse
# dataload example; Chromium for the web view's
# browser test and Prometheus's promtool for the /metrics check (each tried apart: where
# it cannot be installed, its test says so and skips).
set -eu
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
for p in libpq-dev libev-dev libcjson-dev libbsd-dev libmd-dev libmicrohttpd-dev libcurl4-openssl-dev libmagic-dev pkg-config make gcc \
    perl valgrind gdb procps mandoc cppcheck clang clang-tidy libclang-rt-14-dev curl jq \
    python3-jsonschema python3-debugpy python3-psycopg2 wrk pgbouncer; do
	have_pkg "$p" || need="$need $p"
done
command -v python3 >/dev/null || need="$need python3"
# the Node.js task glue's tests (npm install ./contrib/node/etl-task)
command -v node >/dev/null || need="$need nodejs"
command -v npm >/dev/null || need="$need npm"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	need="$need postgresql"
fi
chromium=
command -v chromium >/dev/null || [ -n "${ETL_NO_CHROMIUM:-}" ] || chromium=chromium
promtool=
command -v promtool >/dev/null || [ -n "${ETL_NO_PROMTOOL:-}" ] || promtool=prometheus
[ -z "$need" ] && [ -z "$chromium" ] && [ -z "$promtool" ] && exit 0
echo "install-deps: installing$need" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
[ -z "$need" ] || $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
if [ -n "$chromium" ]; then
	echo "install-deps: installing chromium (for the web view's browser test)" >&2
	$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
	    echo "install-deps: chromium could not be installed: the browser test will skip" >&2
fi
if [ -n "$promtool" ]; then
	echo "install-deps: installing prometheus (its promtool checks /metrics)" >&2
	$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
	    echo "install-deps: prometheus could not be installed: the promtool check will skip" >&2
fi
