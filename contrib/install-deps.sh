#!/bin/sh
# install-deps.sh: install what building and testing etl needs on Debian, when missing:
# the -dev packages of libpq, libev, cJSON and libbsd, pkg-config, the PostgreSQL
# server (for the tests' throwaway cluster), prove, valgrind and gdb.
set -eu
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
for p in libpq-dev libev-dev libcjson-dev libbsd-dev pkg-config make gcc perl valgrind gdb procps mandoc \
    cppcheck clang clang-tidy libclang-rt-14-dev; do
	have_pkg "$p" || need="$need $p"
done
command -v python3 >/dev/null || need="$need python3"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	need="$need postgresql"
fi
[ -z "$need" ] && exit 0
echo "install-deps: installing$need" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
