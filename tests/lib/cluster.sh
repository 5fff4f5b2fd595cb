# shellcheck shell=bash
# cluster.sh: a throwaway PostgreSQL cluster for tests and the demo.  Source it, then
# cluster_start DIR and cluster_stop.  The cluster listens only on a private unix socket
# directory and a free non-default port.  As root it runs as an unprivileged user
# (etltest), and its files live under /tmp when that user cannot reach DIR.
#
# After cluster_start: PGHOST PGPORT PGUSER PGDATABASE are exported, and a service file
# ($PGSERVICEFILE) names the pg_envs "test" (database etl_test) and "other" (etl_other).

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
CLUSTER_DIR=${CLUSTER_DIR:-}
CLUSTER_OSUSER=${CLUSTER_OSUSER:-}

_cluster_as() {
	if [ -n "$CLUSTER_OSUSER" ]; then
		runuser -u "$CLUSTER_OSUSER" -- "$@"
	else
		"$@"
	fi
}

_free_port() {
	local p
	for p in $(seq $((50000 + RANDOM % 10000)) 60999); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null &&
		   [ ! -e "/tmp/.s.PGSQL.$p" ]; then
			echo "$p"
			return
		fi
	done
	return 1
}

cluster_start() {
	local want=$1 port
	[ -x "$PGBIN/initdb" ] || { echo "cluster: no PostgreSQL server binaries (PGBIN=$PGBIN)" >&2; return 1; }
	if [ "$(id -u)" -eq 0 ]; then
		CLUSTER_OSUSER=etltest
		id "$CLUSTER_OSUSER" >/dev/null 2>&1 || useradd --system --no-create-home \
			--shell /usr/sbin/nologin "$CLUSTER_OSUSER"
	fi
	mkdir -p "$want"
	CLUSTER_DIR=$(cd "$want" && pwd)
	if [ -n "$CLUSTER_OSUSER" ]; then
		chown "$CLUSTER_OSUSER" "$CLUSTER_DIR"
		if ! runuser -u "$CLUSTER_OSUSER" -- test -w "$CLUSTER_DIR"; then
			CLUSTER_DIR=$(mktemp -d /tmp/etl-cluster.XXXXXX)
			chown "$CLUSTER_OSUSER" "$CLUSTER_DIR"
		fi
	fi
	# a unix socket path is at most 107 bytes
	if [ ${#CLUSTER_DIR} -gt 80 ]; then
		CLUSTER_DIR=$(mktemp -d /tmp/etl-cluster.XXXXXX)
		[ -z "$CLUSTER_OSUSER" ] || chown "$CLUSTER_OSUSER" "$CLUSTER_DIR"
	fi
	chmod 0755 "$CLUSTER_DIR"
	port=$(_free_port) || { echo "cluster: no free port" >&2; return 1; }
	if ! _cluster_as "$PGBIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust -E UTF8 \
		--locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1; then
		echo "cluster: initdb failed, see $CLUSTER_DIR/initdb.log" >&2
		tail -n 5 "$CLUSTER_DIR/initdb.log" >&2
		return 1
	fi
	_cluster_as tee -a "$CLUSTER_DIR/data/postgresql.conf" >/dev/null <<-CONF
		listen_addresses = ''
		port = $port
		unix_socket_directories = '$CLUSTER_DIR'
		max_connections = ${CLUSTER_MAX_CONNECTIONS:-200}
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		log_min_messages = warning
		log_line_prefix = '%m [%p] %a '
	CONF
	if ! _cluster_as "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w -t 60 start >/dev/null; then
		echo "cluster: pg_ctl start failed, see $CLUSTER_DIR/server.log" >&2
		tail -n 5 "$CLUSTER_DIR/server.log" >&2
		return 1
	fi
	export PGHOST=$CLUSTER_DIR PGPORT=$port PGUSER=postgres PGDATABASE=etl_test
	export PGSERVICEFILE=$CLUSTER_DIR/pg_service.conf
	cat >"$PGSERVICEFILE" <<-SVC
		[test]
		host=$CLUSTER_DIR
		port=$port
		user=postgres
		dbname=etl_test

		[other]
		host=$CLUSTER_DIR
		port=$port
		user=postgres
		dbname=etl_other
	SVC
	"$PGBIN/createdb" etl_test && "$PGBIN/createdb" etl_other
}

cluster_restart() {
	_cluster_as "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
		-w -t 60 -m "${1:-fast}" restart >/dev/null
}

cluster_stop() {
	[ -n "$CLUSTER_DIR" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
	_cluster_as "$PGBIN/pg_ctl" -D "$CLUSTER_DIR/data" -m immediate -w -t 60 stop \
		>/dev/null 2>&1 || true
}

# pgbouncer_start MODE [POOL_SIZE]: Debian's PgBouncer in front of the cluster's etl_test
# (pool_mode MODE, POOL_SIZE server connections, default 4), on a unix socket in a
# directory of its own; as root it runs as the cluster's user (PgBouncer refuses root).
# Sets PGB_DIR and PGB_PORT and writes $PGB_DIR/pg_service.conf, where the pg_env "test"
# goes through it.  pgbouncer_stop stops it.
pgbouncer_start() {
	local mode=$1 size=${2:-4} bin
	bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
	[ -x "$bin" ] || { echo "cluster: no pgbouncer (contrib/install-deps.sh)" >&2; return 1; }
	PGB_DIR=$(mktemp -d /tmp/etl-pgb.XXXXXX)
	chmod 0755 "$PGB_DIR"
	[ -z "$CLUSTER_OSUSER" ] || chown "$CLUSTER_OSUSER" "$PGB_DIR"
	PGB_PORT=$(_free_port) || return 1
	echo '"postgres" ""' >"$PGB_DIR/users.txt"
	cat >"$PGB_DIR/pgbouncer.ini" <<-INI
		[databases]
		etl_test = host=$CLUSTER_DIR port=$PGPORT dbname=etl_test
		[pgbouncer]
		listen_addr =
		listen_port = $PGB_PORT
		unix_socket_dir = $PGB_DIR
		auth_type = trust
		auth_file = $PGB_DIR/users.txt
		pool_mode = $mode
		default_pool_size = $size
		max_client_conn = 500
		logfile = $PGB_DIR/pgbouncer.log
		pidfile = $PGB_DIR/pgbouncer.pid
	INI
	cat >"$PGB_DIR/pg_service.conf" <<-SVC
		[test]
		host=$PGB_DIR
		port=$PGB_PORT
		user=postgres
		dbname=etl_test
	SVC
	_cluster_as "$bin" -d "$PGB_DIR/pgbouncer.ini" >"$PGB_DIR/start.log" 2>&1 || {
		echo "cluster: pgbouncer did not start: $(cat "$PGB_DIR/start.log")" >&2
		return 1
	}
	local i
	for i in $(seq 1 100); do
		[ -S "$PGB_DIR/.s.PGSQL.$PGB_PORT" ] && return 0
		sleep 0.1
	done
	echo "cluster: pgbouncer's socket did not appear, see $PGB_DIR/pgbouncer.log" >&2
	return 1
}

pgbouncer_stop() {
	[ -n "${PGB_DIR:-}" ] && [ -f "$PGB_DIR/pgbouncer.pid" ] || return 0
	kill "$(cat "$PGB_DIR/pgbouncer.pid")" 2>/dev/null || true
}
