#!/usr/bin/env bash
# Floating peers (issue 13): two gateways, A and B, in their own namespaces on
# the one lab switch, with the same private key, different outer addresses
# and one PostgreSQL peer store (the test's own server, pg.sh).  Neither
# configuration lists a peer; each gateway has a VM of its own in the same
# org network; each LISTENs and checks the store only hourly, so what it
# learns from the other's CLI it learns by NOTIFY.
#  1. `sixgatectl peer add` through A's CLI; a wireguard-go client with that
#     config (endpoint A) pings A's VM: loaded on its first initiation on A.
#  2. The client's endpoint becomes B (its config set anew with B's
#     endpoint): its first initiation to B loads it there from the store,
#     and it pings B's VM.
#  3. `sixgatectl peer revoke` through B's CLI during a ping stream through
#     B: both gateways unload it within a second (the time printed); pings
#     through B stop, and a fresh initiation to A is refused.
#  4. A second peer pings B's VM in a stream while PostgreSQL is stopped and
#     started again: no ping lost; both gateways report the outage and
#     reconnect by themselves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
. "$(dirname "$0")/pg.sh"
lab_init fleet

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
pg_init
pg_start 1
psql -h "$PGD" -U sg -d postgres -qc 'CREATE DATABASE sixgate' || lab_die "createdb failed"

A6=fd00:1::1 A4=198.18.0.1
B6=fd00:1::2 B4=198.18.0.2
VMA=fdaa:0:18:0:a7b:0:1:2
VMB=fdaa:0:18:0:a7b:0:2:2
dp_switch_net
dp_gw_net a "$A6" "$A4"
dp_gw_net b "$B6" "$B4"
dp_client_net 1
dp_client_net 2
# shellcheck disable=SC2034 # read by dp_conf_begin
DP_CONF_EXTRA="
[store]
url = postgresql:///sixgate?host=$PGD&user=sg
check_interval_s = 3600"
# Two gateways and two VMs at once on a machine whose hugepages other tests
# share: the gateways take ordinary memory (a hugepage count that sufficed
# when checked may not when the pool is made).
# shellcheck disable=SC2034 # read by dp_gw_start_as
DP_EAL_MEM="--no-huge -m 256"
dp_conf_begin a
dp_conf_vm vma "${VMA%:*}:0/112" "$DP_ORG1" "$(lab_mac_of vma)"
dp_conf_begin b
dp_conf_vm vmb "${VMB%:*}:0/112" "$DP_ORG1" "$(lab_mac_of vmb)"
lab_check "no peer in either configuration" sh -c \
	"! grep -q '^\[peer' '${DPG_CONF[a]}' '${DPG_CONF[b]}'"
"$CTL" -c "${DPG_CONF[a]}" -p none peer list >/dev/null || lab_die "sixgatectl cannot create the schema"
dp_gw_start_as a vma
dp_gw_start_as b vmb
lab_check "two gateways, two DPDK prefixes: ${DPG_PREFIX[a]} ${DPG_PREFIX[b]}" \
	test "${DPG_PREFIX[a]}" != "${DPG_PREFIX[b]}"
lab_netns vma
lab_netns vmb
lab_vm_start vma vma "$(dp_sock a vma)" "$VMA/112" "$(lab_mac_of vma)"
lab_vm_start vmb vmb "$(dp_sock b vmb)" "$VMB/112" "$(lab_mac_of vmb)"

ctl_a() { "$CTL" -c "${DPG_CONF[a]}" -p "${DPG_PREFIX[a]}" "$@"; }
ctl_b() { "$CTL" -c "${DPG_CONF[b]}" -p "${DPG_PREFIX[b]}" "$@"; }
# store GW FIELD: one field of gateway GW's /sixgate/store.
store() {
	dp_tel_at "${DPG_PREFIX[$1]}" /sixgate/store |
		python3 -c "import json,sys; print(json.load(sys.stdin)['/sixgate/store']['$2'])"
}
stores() { # the store counters of both gateways, for the log
	local g
	for g in a b; do
		lab_log "store of $g: $(dp_tel_at "${DPG_PREFIX[$g]}" /sixgate/store)"
	done
}
lab_check "both gateways reach the database" test "$(store a reachable)" -eq 1 -a "$(store b reachable)" -eq 1

# A client set up from `sixgatectl peer add`'s output (as a user would).
client_up() { # client_up N CONFIG
	local n=$1 conf=$2 ifc="${LAB}wg$1"
	grep -v -E '^(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig) *=' \
		"$conf" >"$LAB_DIR/c$n.setconf"
	lab_wg_start "c$n" "$ifc"
	wg setconf "$ifc" "$LAB_DIR/c$n.setconf" || lab_die "wg setconf refused c$n's config"
	lab_addr "c$n" "$ifc" "$(sed -n 's/^Address = //p' "$conf")"
	lab_exec "c$n" ip link set "$ifc" mtu 1420 up
	lab_exec "c$n" ip -6 route add "$(sed -n 's/^AllowedIPs = //p' "$conf")" dev "$ifc"
}

# 1. Added through A's CLI, first initiation to A.
ctl_a peer add c1 --org "$DP_ORG1" >"$LAB_DIR/c1.wg" 2>"$LAB_DIR/ctl.err" ||
	lab_die "peer add through A failed: $(cat "$LAB_DIR/ctl.err")"
lab_check "c1's config names A's endpoint" grep -qx "Endpoint = \[$A6\]:$DP_PORT" "$LAB_DIR/c1.wg"
client_up 1 "$LAB_DIR/c1.wg"
C1=$(sed -n 's/^Address = //p' "$LAB_DIR/c1.wg")
C1=${C1%/128}
lab_check "c1 pings A's VM through A" lab_wait_for 20 lab_exec c1 ping -6 -c 1 -W 2 "$VMA"
lab_check "A: one lookup, one load, the first initiation answered" test "$(store a lookups)" -eq 1 -a \
	"$(store a loaded_total)" -eq 1 -a "$(store a answered)" -eq 1 -a "$(store a loaded)" -eq 1
lab_check "B has not seen c1" test "$(store b lookups)" -eq 0 -a "$(store b loaded)" -eq 0
lab_check "A's VM answers c1" lab_exec vma ping -6 -c 3 -i 0.2 -W 2 "$C1"

# 2. The client moves to B: its config with B's endpoint, set anew (as a
# client restarts its tunnel), so that it has no session and initiates to B
# on its next packet; B answers that initiation from the store.  (With
# `wg set ... endpoint` alone it would keep its session with A and send on it
# to B, which knows no such receiver index, until wireguard-go's retry 15 s
# later; but A answers data with a keepalive 10 s after it, and that
# authenticated keepalive roams the client back to A first: seen back on A
# within 5 s, and no initiation reached B in 30 s.)
GWPUB=$(cat "$LAB_DIR/gw.pub")
lab_check "A and B have one public key, the one in c1's config" grep -qx "PublicKey = $GWPUB" "$LAB_DIR/c1.wg"
sed "s/^Endpoint = .*/Endpoint = [$B6]:$DP_PORT/" "$LAB_DIR/c1.setconf" >"$LAB_DIR/c1b.setconf"
t_move=$(date +%s.%N)
wg setconf "${LAB}wg1" "$LAB_DIR/c1b.setconf" || lab_die "wg setconf refused c1's config for B"
lab_check "c1's endpoint is B" sh -c "wg show '${LAB}wg1' endpoints | grep -q '\[$B6\]:$DP_PORT'"
lab_check "c1 pings B's VM through B" lab_wait_for 45 lab_exec c1 ping -6 -c 1 -W 2 "$VMB"
move_s=$(python3 -c "import sys, time; print('%.1f' % (time.time() - float(sys.argv[1])))" "$t_move")
lab_log "c1 reached B's VM ${move_s} s after its config named B"
lab_check "B: one lookup, one load, the first initiation answered" test "$(store b lookups)" -eq 1 -a \
	"$(store b loaded_total)" -eq 1 -a "$(store b answered)" -eq 1 -a "$(store b loaded)" -eq 1
lab_check "B's VM answers c1" lab_exec vmb ping -6 -c 3 -i 0.2 -W 2 "$C1"
lab_check "c1 is still loaded on A" test "$(store a loaded)" -eq 1
stores

# 3. Revoked through B's CLI while c1 pings B's VM every 50 ms; a watcher
# reads both gateways' /sixgate/store every 10 ms (their telemetry sockets,
# directly) and stamps the moment each reports the peer unloaded.
lab_exec c1 ping -6 -D -i 0.05 -w 6 -W 1 "$VMB" >"$LAB_DIR/ping.log" 2>&1 &
pinger=$!
python3 - "${DPG_PREFIX[a]}" "${DPG_PREFIX[b]}" >"$LAB_DIR/watch.out" 2>"$LAB_DIR/watch.log" <<'PY' &
import json, socket, sys, time

def connect(prefix):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix)
    return s, json.loads(s.recv(1024))["max_output_len"]

socks = [connect(p) for p in sys.argv[1:]]
seen = [None] * len(socks)
end = time.time() + 12
while None in seen and time.time() < end:
    for i, (s, n) in enumerate(socks):
        if seen[i] is None:
            s.send(b"/sixgate/store")
            d = json.loads(s.recv(n))["/sixgate/store"]
            if d["unloaded"] >= 1 and d["loaded"] == 0:
                seen[i] = time.time()
    time.sleep(0.01)
print(" ".join("%.6f" % t if t else "none" for t in seen))
PY
watcher=$!
sleep 2
t_revoke=$(date +%s.%N)
lab_check "sixgatectl -c B -p B peer revoke c1" ctl_b peer revoke c1
t_done=$(date +%s.%N)
wait "$pinger"
wait "$watcher"
python3 - "$LAB_DIR/ping.log" "$t_revoke" "$t_done" "$LAB_DIR/watch.out" <<'PY' >"$LAB_DIR/ping.sum"
import re, sys
t, done = float(sys.argv[2]), float(sys.argv[3])
stamps = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\].*bytes from", open(sys.argv[1]).read(), re.M)]
last = max([s for s in stamps if s < done + 1.0] or [t])
seen = ["%.0f" % (1000 * (float(w) - done)) if w != "none" else "none" for w in open(sys.argv[4]).read().split()]
print(len([s for s in stamps if s < t]), len([s for s in stamps if s > done + 1.0]),
      "%.0f" % (1000 * (done - t)), "%.0f" % (1000 * (last - done)), *seen)
PY
read -r before after ctl_ms last_ms a_ms b_ms <"$LAB_DIR/ping.sum"
lab_log "revoke through B: sixgatectl took $ctl_ms ms; after it returned, A reported the peer unloaded" \
	"in $a_ms ms (NOTIFY only), B in $b_ms ms; the last ping answered through B came $last_ms ms" \
	"after it; $before answered before the revoke, $after later than 1 s after it"
lab_check "pings flowed through B before the revoke" test "$before" -gt 10
lab_check "none answered through B later than 1 s after the revoke" test "$after" -eq 0
lab_check "A unloaded c1 within a second (by NOTIFY): $a_ms ms" test "$a_ms" != none -a "${a_ms#-}" -lt 1000
lab_check "B unloaded c1 within a second: $b_ms ms" test "$b_ms" != none -a "${b_ms#-}" -lt 1000
stores
for g in a b; do
	lab_check "$g: unloaded 1, loaded 0" test "$(store $g unloaded)" -eq 1 -a "$(store $g loaded)" -eq 0
done
lab_check "A heard of it by NOTIFY (the add, the revoke)" test "$(store a notifications)" -ge 2
# Back to A with a fresh session (setconf drops the old one): the initiation
# reaches A, which refuses it now.
refused0=$(store a refused)
wg setconf "${LAB}wg1" "$LAB_DIR/c1.setconf"
lab_check "no ping through A any more" sh -c "! ip netns exec '${LAB}c1' ping -6 -c 3 -i 0.5 -W 2 '$VMA' >/dev/null"
lab_check "A refuses c1's new initiation, loads nothing" test "$(store a refused)" -gt "$refused0" -a \
	"$(store a loaded_total)" -eq 1 -a "$(store a loaded)" -eq 0
lab_check "A counts it as wg_peer_refused" test "$(DP_PREFIX=${DPG_PREFIX[a]} dp_drop wg_peer_refused)" -ge 1
wg set "${LAB}wg1" peer "$GWPUB" remove

# 4. The database goes away and comes back under a ping stream of a second
# peer (added through B's CLI, endpoint B) to B's VM.
ctl_b peer add c2 --org "$DP_ORG1" >"$LAB_DIR/c2.wg" 2>"$LAB_DIR/ctl.err" ||
	lab_die "peer add through B failed: $(cat "$LAB_DIR/ctl.err")"
lab_check "c2's config names B's endpoint" grep -qx "Endpoint = \[$B6\]:$DP_PORT" "$LAB_DIR/c2.wg"
client_up 2 "$LAB_DIR/c2.wg"
lab_check "c2 pings B's VM" lab_wait_for 20 lab_exec c2 ping -6 -c 1 -W 2 "$VMB"
lab_exec c2 ping -6 -c 200 -i 0.1 -W 2 "$VMB" >"$LAB_DIR/stream.log" 2>&1 &
pinger=$!
sleep 2
pg_stop
reach() { [ "$(store a reachable)" -eq "$1" ] && [ "$(store b reachable)" -eq "$1" ]; }
lab_check "both gateways report the store unreachable" lab_wait_for 10 reach 0
stores
for g in a b; do
	# shellcheck disable=SC2016 # the script's own $1 and $2
	lab_check "$g: one outage, the fault says why" sh -c 'test "$1" -eq 1 && case "$2" in
		*"database unreachable"*) ;; *) exit 1 ;; esac' _ "$(store $g outages)" "$(store $g fault)"
done
pg_start 2
lab_check "both gateways reconnect by themselves" lab_wait_for 15 reach 1
lab_check "the ping stream outlasted the outage" kill -0 "$pinger"
for g in a b; do
	lab_check "$g: one outage, one reconnect" test "$(store $g outages)" -eq 1 -a "$(store $g reconnects)" -eq 1
done
wait "$pinger"
lab_log "stream through B: $(grep 'packets transmitted' "$LAB_DIR/stream.log")"
lab_check "no ping of the stream lost (200 of 200)" grep -q '^200 packets transmitted, 200 received' "$LAB_DIR/stream.log"
lab_check "c2 is still loaded on B (answered 2: c1 and c2, each once)" test "$(store b loaded)" -eq 1 -a "$(store b answered)" -eq 2
for g in a b; do
	lab_check "$g's log: the database lost once and back once" sh -c "
		test \$(grep -c 'database unreachable.*loaded peers keep working; reconnecting' '${DPG_LOG[$g]}') -eq 1 &&
		test \$(grep -c 'store reachable again' '${DPG_LOG[$g]}') -eq 1"
done

dp_finish_gw a
dp_finish_gw b
pg_stop
[ "$LAB_FAILS" -eq 0 ]
