# postgres.sh: PostgreSQL 15 for the real-peer tests of storage/postgres and e2e (build tag
# peers). Defines:
#
#   install_postgres      for scripts/install-peers.sh: Debian's postgresql-15, without a
#                         system cluster and without starting a service.
#   start_test_postgres   initdb + start ONE scratch server on 127.0.0.1 (a free high port,
#                         data in a temp dir, fsync off) and export
#                         GATEHOUSE_TEST_POSTGRES_DSN (a superuser DSN); scripts/test-all.sh
#                         calls it once before the Go tests, which create their own schemas
#                         and databases in it.
#   stop_test_postgres    stop that server and delete its directory (test-all.sh traps EXIT).
#
# By hand:  source scripts/peers/postgres.sh && start_test_postgres
#           go test -tags peers ./storage/postgres/ ./e2e/ ; stop_test_postgres
#
# Sourced by bash scripts with set -euo pipefail; log/die/apt_install come from
# install-peers.sh when run from there.

# pg_bindir prints the directory of initdb/pg_ctl (Debian keeps them off PATH).
pg_bindir() {
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

# install_postgres installs postgresql-15 unless initdb and pg_ctl are present.
install_postgres() {
	if pg_bindir >/dev/null; then
		log "postgres: present ($("$(pg_bindir)/postgres" --version 2>/dev/null || echo unknown version))"
		return 0
	fi
	need_root postgresql-15
	# No system cluster (the tests make their own) and no service started by the package.
	mkdir -p /etc/postgresql-common
	if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
		echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf
	fi
	local rc=0
	apt_install_no_start postgresql-15 || rc=$?
	[[ "$rc" -eq 0 ]] || die "postgres: apt-get install failed (exit $rc)"
	pg_bindir >/dev/null || die "postgres: installed but initdb/pg_ctl not found under /usr/lib/postgresql"
	log "postgres: installed"
}

# pg_as_owner runs a command as the server's owner: the postgres user when we are root
# (PostgreSQL refuses to run as root), ourselves otherwise.
pg_as_owner() {
	if [[ "$(id -u)" -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# pg_free_port prints a TCP port on 127.0.0.1 that nothing listens on.
pg_free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# start_test_postgres starts the shared test server and exports GATEHOUSE_TEST_POSTGRES_DSN
# and GATEHOUSE_TEST_POSTGRES_DIR. Bounded: pg_ctl waits at most 60 s.
start_test_postgres() {
	local bin dir port
	bin="$(pg_bindir)" || { echo "start_test_postgres: PostgreSQL is not installed; run scripts/install-peers.sh" >&2; return 1; }
	dir="$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-pg.XXXXXX")"
	chmod 755 "$dir"
	if [[ "$(id -u)" -eq 0 ]]; then
		chown postgres: "$dir"
	fi
	pg_as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; return 1; }
	port="$(pg_free_port)" || { echo "start_test_postgres: no free port" >&2; return 1; }
	pg_as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
		"-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start >/dev/null || { cat "$dir/server.log" >&2; return 1; }
	export GATEHOUSE_TEST_POSTGRES_DIR="$dir"
	export GATEHOUSE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	echo "test PostgreSQL: GATEHOUSE_TEST_POSTGRES_DSN=$GATEHOUSE_TEST_POSTGRES_DSN (data in $dir)"
}

# stop_test_postgres stops the server start_test_postgres started and removes its files.
stop_test_postgres() {
	local dir="${GATEHOUSE_TEST_POSTGRES_DIR:-}" bin
	[[ -n "$dir" && -d "$dir/data" ]] || return 0
	bin="$(pg_bindir)" || return 0
	pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	unset GATEHOUSE_TEST_POSTGRES_DIR GATEHOUSE_TEST_POSTGRES_DSN
}
