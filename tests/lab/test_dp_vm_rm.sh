#!/usr/bin/env bash
# A VM removed at run time: vm2 is attached (sixgatectl vm add) and
# reachable; while client c1 pings vm1 every 50 ms and a TCP transfer runs
# from c1 to vm1, `sixgatectl vm rm vm2` detaches it.  vm1's pings lose
# nothing (120 of 120); vm2's route is gone and c1's pings to it are counted
# as no_route, one each; a second vm rm and an unknown name exit 2; `vm add
# vm2` again reuses the slot and vm2 answers again.  The transfer, running
# from before the removal until after vm2 is back, completes with its
# SHA-256 equal, and the gateway drops nothing of it meanwhile: every drop
# reason a tunnel or VM packet can meet moves by 0 except no_route (exactly
# the 5 pings to the removed vm2) and vm_removed (what was queued for vm2),
# and vm1's port counts no tx_full and no rx_refused.  (The outer frames that
# are not the tunnel's, the lab bridge's ND/MLD chatter, are only logged.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpvmrm

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
dp_basic
VM2_NET=fdaa:0:18:0:a7b:0:2:0/112
VM2=fdaa:0:18:0:a7b:0:2:2

vm2_add() {
	lab_check "sixgatectl vm add vm2 ($1)" "$CTL" -p "$DP_PREFIX" vm add vm2 \
		--socket "$LAB_DIR/vm2.sock" --prefix "$VM2_NET" --org "$DP_ORG1" --mac "$(lab_mac_of vm2)"
	lab_wait_for 10 test -S "$LAB_DIR/vm2.sock" || lab_die "no vhost-user socket for vm2"
	lab_vm_start vm2 vm2 "$LAB_DIR/vm2.sock" "$VM2/112" "$(lab_mac_of vm2)"
	lab_wait_for 30 lab_exec c1 ping -6 -c 1 -W 2 "$VM2" >/dev/null 2>&1
	lab_check "c1 reaches vm2 ($1)" lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$VM2"
}

lab_netns vm2
vm2_add "first attach"

# snapshot NAME: the counters and the ports, as JSON, for the deltas below.
snapshot() {
	dp_tel /sixgate/counters >"$LAB_DIR/$1-counters.json"
	dp_tel /sixgate/ports >"$LAB_DIR/$1-ports.json"
}

# The transfer c1 -> vm1: paced (64 KiB every 10 ms, at most 52 Mbit/s),
# at least 8 MB, and on until $LAB_DIR/xfer.stop exists, so that it spans
# the removal and the new attach.
xport=$((20000 + RANDOM % 10000))
rm -f "$LAB_DIR/xfer.stop"
lab_spawn xfer-rx vm1 python3 "$DP_ROOT/tests/lab/dp_xfer.py" recv "$DP_VM1" "$xport" "$LAB_DIR/xfer-rx.json"
xrx=$LAB_LAST_PID
lab_wait_for 10 lab_exec vm1 sh -c "ss -ltn | grep -q ':$xport'"
snapshot before
lab_spawn xfer-tx c1 timeout 300 python3 "$DP_ROOT/tests/lab/dp_xfer.py" send "$DP_VM1" "$xport" 8 \
	"$LAB_DIR/xfer-tx.json" 0.01 "$LAB_DIR/xfer.stop"
xtx=$LAB_LAST_PID
sleep 2

lab_exec c1 ping -6 -i 0.05 -c 120 -W 1 "$DP_VM1" >"$LAB_DIR/ping1.log" 2>&1 &
pinger=$!
sleep 1
lab_check "the transfer to vm1 is running" kill -0 "$xtx"
lab_check "sixgatectl vm rm vm2 while c1 pings vm1 and sends to it" "$CTL" -p "$DP_PREFIX" vm rm vm2
wait "$pinger"
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping1.log")
lab_log "vm1 answered $got of 120 pings sent across the removal"
lab_check "vm1's pings lost nothing while vm2 was removed" test "${got:-0}" -eq 120

lab_check "the gateway no longer routes vm2's /112" sh -c \
	"echo /sixgate/routes | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q '\"routes\": 1,' &&
	 ! (echo /sixgate/ports | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q vm2)"
before=$(dp_drop no_route)
lab_check "c1 cannot reach vm2 any more" sh -c \
	"! ip netns exec '$(lab_ns c1)' ping -6 -c 5 -i 0.2 -W 1 '$VM2' >/dev/null 2>&1"
after=$(dp_drop no_route)
lab_log "no_route: $before before, $after after 5 pings to vm2"
lab_check "c1's 5 pings to vm2 are counted as no_route" test $((after - before)) -eq 5

"$CTL" -p "$DP_PREFIX" vm rm vm2 2>"$LAB_DIR/e1"
rc=$?
lab_check "vm rm vm2 again exits 2: $(cat "$LAB_DIR/e1")" test "$rc" -eq 2
"$CTL" -p "$DP_PREFIX" vm rm nosuchvm 2>"$LAB_DIR/e2"
rc=$?
lab_check "vm rm of an unknown VM exits 2: $(cat "$LAB_DIR/e2")" test "$rc" -eq 2

# The VM side (virtio_user) does not reconnect by itself: a fresh one.
lab_vm_stop vm2
vm2_add "again, in the slot vm rm left"
lab_check "vm1 still answers" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"

# The transfer: still running, then stopped; everything arrived, nothing dropped.
lab_check "the transfer to vm1 ran across vm rm and vm add" kill -0 "$xtx"
sleep 1
touch "$LAB_DIR/xfer.stop"
wait "$xtx"
xrc=$?
lab_forget_pid "$xtx"
lab_check "the sender finished (exit 0)" test "$xrc" -eq 0
lab_wait_for 60 test -s "$LAB_DIR/xfer-rx.json"
wait "$xrx" 2>/dev/null
lab_forget_pid "$xrx"
snapshot after
python3 - "$LAB_DIR" >"$LAB_DIR/xfer.sum" 2>&1 <<'PY'
import json, sys
d = sys.argv[1]
def snap(name):
    return (json.load(open("%s/%s-counters.json" % (d, name)))["/sixgate/counters"],
            json.load(open("%s/%s-ports.json" % (d, name)))["/sixgate/ports"])
c0, p0 = snap("before")
c1, p1 = snap("after")
tx = json.load(open(d + "/xfer-tx.json"))
rx = json.load(open(d + "/xfer-rx.json"))
drops = {k: c1["drops"][k] - c0["drops"].get(k, 0) for k in c1["drops"]}
moved = {k: v for k, v in drops.items() if v}
vm1 = {k: p1["vm1"][k] - p0["vm1"][k] for k in ("rx", "tx", "tx_full", "rx_refused")}
print("sent %d bytes in %.1f s (%.1f Mbit/s), received %d, sha256 %s; sender TCP retransmits %d; "
      "receive gaps over 1 s: %s" % (tx["bytes"], tx["seconds"], tx["bytes"] * 8 / tx["seconds"] / 1e6,
      rx["bytes"], "equal" if tx["sha256"] == rx["sha256"] else "DIFFERENT", tx["retrans"],
      rx["stalls"] or "none"))
print("drops that moved during the transfer: %s" % (moved or "none"))
print("vm1's port during the transfer: %s" % vm1)
def moved_fields(a, b):
    return {k: b[k] - a.get(k, 0) for k in b if isinstance(b[k], int) and b[k] != a.get(k, 0)}
# Not asserted: where a TCP retransmission may come from outside the gateway's
# drop counters (the kernel's af_packet ring: the NIC's imissed).
print("NIC port counters that moved: %s" % moved_fields(p0["/nic"], p1["/nic"]))
ok = (tx["bytes"] == rx["bytes"] and tx["sha256"] == rx["sha256"] and tx["bytes"] >= 8 << 20)
# Outer frames that are not the tunnel's (the lab bridge's ND and MLD chatter,
# addressed to other MACs or to the gateway's kernel side) are counted before
# the WireGuard layer: they carry nothing of the transfer.
chatter = ("eth_not_for_us", "eth_type", "ip_not_for_us", "ip_proto", "udp_port",
           "local_other", "martian", "local_ratelimit")
others = {k: v for k, v in moved.items() if k not in ("no_route", "vm_removed") + chatter}
print("drops that count against the transfer: %s" % (others or "none"))
ok_drops = not others and drops.get("no_route") == 5 and vm1["tx_full"] == 0 and vm1["rx_refused"] == 0
print("VERDICT transfer=%d drops=%d" % (ok, ok_drops))
PY
while read -r line; do lab_log "$line"; done <"$LAB_DIR/xfer.sum"
lab_check "the transfer completed intact (bytes and SHA-256 equal)" grep -q 'VERDICT transfer=1' "$LAB_DIR/xfer.sum"
lab_check "no tunnel or VM drop but the 5 no_route (and vm_removed); vm1: tx_full 0, rx_refused 0" \
	grep -q 'VERDICT .* drops=1' "$LAB_DIR/xfer.sum"
dp_finish
