#!/usr/bin/env bash
# A PostgreSQL peer store under a running gateway.  The test's own server
# (initdb in the test's directory as the user postgres, a Unix socket there,
# listen_addresses ''), one database that sixgatectl and the gateway share.
# Every sixgatectl here is given a telemetry prefix that reaches no gateway
# (as the CLI of another gateway of the fleet would be) and the gateway's
# periodic check is an hour: what the gateway learns, it learns by NOTIFY.
# A wireguard-go client added with `sixgatectl peer add` is answered on its
# first initiation; the server is stopped mid-run: pings still pass, the
# store is reported unreachable (reachable 0, outages 1, the fault); the
# server starts again: the gateway reconnects by itself (reconnects 1);
# `sixgatectl peer revoke` during a ping stream then stops it within a second.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
. "$(dirname "$0")/pg.sh"
lab_init dpstpg

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
pg_init
pg_start 1
psql -h "$PGD" -U sg -d postgres -qc 'CREATE DATABASE sixgate' || lab_die "createdb failed"

dp_lab_net
dp_client_net 1
DP_CONF_EXTRA="
[store]
url = postgresql:///sixgate?host=$PGD&user=sg
check_interval_s = 3600"
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
ctl() { "$CTL" -c "$DP_CONF" -p nogateway "$@"; }
ctl peer list >/dev/null || lab_die "sixgatectl cannot create the schema"
lab_check "sixgatectl made the schema (version 2)" test \
	"$(psql -h "$PGD" -U sg -d sixgate -tAc 'SELECT schema_version FROM sixgate_meta')" = 2
dp_gw_start vm1
lab_netns vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
store=$(dp_tel /sixgate/store)
field() { echo "$store" | python3 -c "import json,sys; print(json.load(sys.stdin)['/sixgate/store']['$1'])"; }
lab_check "the gateway reaches the database" test "$(field reachable)" -eq 1

ctl peer add c1 --org "$DP_ORG1" >"$LAB_DIR/c1.wg" 2>"$LAB_DIR/ctl.err" ||
	lab_die "peer add failed: $(cat "$LAB_DIR/ctl.err")"
lab_check "no warning from sixgatectl (the database notifies)" test ! -s "$LAB_DIR/ctl.err"
addr=$(sed -n 's/^Address = //p' "$LAB_DIR/c1.wg")
route=$(sed -n 's/^AllowedIPs = //p' "$LAB_DIR/c1.wg")
grep -v -E '^(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig) *=' \
	"$LAB_DIR/c1.wg" >"$LAB_DIR/c1.setconf"
ifc="${LAB}wg1"
lab_wg_start c1 "$ifc"
wg setconf "$ifc" "$LAB_DIR/c1.setconf" || lab_die "wg setconf refused the config"
lab_addr c1 "$ifc" "$addr"
lab_exec c1 ip link set "$ifc" mtu 1420 up
lab_exec c1 ip -6 route add "$route" dev "$ifc"
# A loaded machine may lose the first ping on the way to the VM: what counts
# is that the first initiation was answered (the store's counters).
lab_check "pings pass (the peer loaded from PostgreSQL)" \
	lab_wait_for 15 lab_exec c1 ping -6 -c 1 -W 2 "$DP_VM1"
store=$(dp_tel /sixgate/store)
lab_check "one lookup, one load, the first initiation answered" test "$(field lookups)" -eq 1 -a \
	"$(field loaded_total)" -eq 1 -a "$(field answered)" -eq 1

# The database goes away under traffic.
pg_stop
reach() { store=$(dp_tel /sixgate/store) && [ "$(field reachable)" -eq "$1" ]; }
lab_check "the gateway reports the store unreachable" lab_wait_for 5 reach 0
lab_log "store: $store"
outages=$(field outages)
fault=$(field fault)
lab_check "one outage" test "$outages" -eq 1
lab_check "the fault says why: $fault" sh -c 'case "$1" in *"database unreachable"*) ;; *) exit 1 ;; esac' _ "$fault"
lab_check "the loaded peer keeps working (client -> VM)" \
	lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$DP_VM1"
lab_check "and VM -> client" lab_exec vm1 ping -6 -c 5 -i 0.2 -W 2 "${addr%/128}"
pg_start 2
lab_check "the gateway reconnects by itself" lab_wait_for 10 reach 1
lab_check "one reconnect" test "$(field reconnects)" -eq 1 -a "$(field outages)" -eq 1
lab_check "traffic after the reconnect" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"
lab_check "the log says it once each: lost, and back" sh -c "
	test \$(grep -c 'database unreachable.*loaded peers keep working; reconnecting' '$LAB_DIR/sixgate.log') -eq 1 &&
	test \$(grep -c 'store reachable again' '$LAB_DIR/sixgate.log') -eq 1"

# Revoked through the database alone, while pings flow every 50 ms.
lab_exec c1 ping -6 -D -i 0.05 -w 6 -W 1 "$DP_VM1" >"$LAB_DIR/ping.log" 2>&1 &
pinger=$!
sleep 2
t_revoke=$(date +%s.%N)
lab_check "sixgatectl peer revoke c1 (no telemetry)" ctl peer revoke c1
# The change is committed when sixgatectl returns: the bound runs from there.
t_done=$(date +%s.%N)
wait "$pinger"
python3 - "$LAB_DIR/ping.log" "$t_revoke" "$t_done" <<'PY' >"$LAB_DIR/ping.sum"
import re, sys
t, done = float(sys.argv[2]), float(sys.argv[3])
stamps = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\].*bytes from", open(sys.argv[1]).read(), re.M)]
last = max([s for s in stamps if s < done + 1.0] or [t])
print(len([s for s in stamps if s < t]), len([s for s in stamps if s > done + 1.0]),
      "%.0f" % (1000 * (done - t)), "%.0f" % (1000 * (last - done)))
PY
read -r before after ctl_ms last_ms <"$LAB_DIR/ping.sum"
lab_log "pings answered: $before before the revoke, $after later than 1 s after sixgatectl returned" \
	"(it took $ctl_ms ms; the last answer came $last_ms ms after it returned)"
lab_check "pings flowed before the revoke" test "$before" -gt 10
lab_check "none answered later than 1 s after the revoke was committed" test "$after" -eq 0
store=$(dp_tel /sixgate/store)
lab_log "store: $store"
lab_check "unloaded by NOTIFY" test "$(field unloaded)" -eq 1 -a "$(field loaded)" -eq 0 -a \
	"$(field notifications)" -ge 2
dp_finish
rc=$?
pg_stop
exit $rc
