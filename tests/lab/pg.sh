#!/usr/bin/env bash
# A lab test's own PostgreSQL server: initdb in the test's directory as the
# user postgres (the server refuses root), a Unix socket there,
# listen_addresses '' (no TCP), fsync off.  Source after lib.sh:
#
#   . tests/lab/lib.sh; . tests/lab/pg.sh
#   lab_init mytest
#   pg_init                      # SKIP (exit 0) without a PostgreSQL server
#   pg_start 1                   # postgres1.log; PG_PID
#   psql -h "$PGD" -U sg -d postgres -qc 'CREATE DATABASE sixgate'
#   ... [store] url = postgresql:///sixgate?host=$PGD&user=sg
#   pg_stop; pg_start 2          # a fast shutdown, then a new server
#
# lab_cleanup ends the server (it is a lab_spawn process) and removes its
# directory with the test's.

# pg_init: PGBIN (the newest installed server), PGD (its directory, owned by
# postgres) and a fresh cluster with the trusted superuser sg.
pg_init() {
	PGBIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ] || ! id postgres >/dev/null 2>&1; then
		lab_log "SKIP: no PostgreSQL server (scripts/setup installs the Debian package postgresql)"
		exit 0
	fi
	# Every PostgreSQL backend makes a session of its own (setsid), so with
	# autogroup scheduling each is a group of one task; on this 6.18 kernel,
	# beside the lab's busy-polling VM bridges and gateways, such a backend
	# waited runnable for seconds (a `SELECT 1` took 4.5 s; a CLI's first
	# statement got no answer in 7 s; a fast shutdown took 2.2 s), and
	# test_fleet_floating failed 5 runs of 9.  Off for the test (3 of 3
	# passed), restored at cleanup.
	lab_sysctl kernel/sched_autogroup_enabled 0
	PGD=$LAB_DIR/pg
	chmod 711 "$LAB_DIR"
	mkdir "$PGD" && chown postgres: "$PGD"
	setpriv --reuid=postgres --regid=postgres --clear-groups \
		"$PGBIN/initdb" -D "$PGD/data" -U sg -A trust -E UTF8 --locale=C --no-sync \
		>"$LAB_DIR/initdb.log" 2>&1 || lab_die "initdb failed"
}

# pg_start N: starts the server (log postgresN.log, with every connection,
# lock waits and statements slower than 1 s), waits until it accepts.
pg_start() {
	lab_spawn "postgres$1" "" setpriv --reuid=postgres --regid=postgres --clear-groups \
		"$PGBIN/postgres" -D "$PGD/data" -k "$PGD" -c listen_addresses= -c fsync=off \
		-c log_connections=on -c log_lock_waits=on -c log_min_duration_statement=1000
	PG_PID=$LAB_LAST_PID
	lab_wait_for 30 "$PGBIN/pg_isready" -q -h "$PGD" || lab_die "PostgreSQL did not start"
}

# pg_stop: a fast shutdown: the server ends every client's connection, then exits.
pg_stop() {
	kill -INT "$PG_PID"
	wait "$PG_PID" 2>/dev/null
	lab_forget_pid "$PG_PID"
}
