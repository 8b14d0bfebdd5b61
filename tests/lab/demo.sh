#!/usr/bin/env bash
# The sixgate demo: one command builds a lab around the gateway and shows it
# at work, then removes everything it made.
#
#   sudo tests/lab/demo.sh            (after: meson setup build && ninja -C build)
#
#   client c1 (org 0x18) --\                        /-- vm1  fdaa:0:18:0:a7b:0:1:2  (org 0x18)
#                           +-- switch -- sixgate --+
#   client c2 (org 0x29) --/   (WireGuard  (DPDK)   \-- vm2  fdaa:0:29:0:b00:0:1:2  (org 0x29)
#                               over UDP)     vhost-user
#
# The clients are wireguard-go, each in its own namespace; the VMs are kernel
# network stacks behind virtio_user (tests/lab/vm.sh).  Everything lives in
# network namespaces and uses lab addresses only (fd00::/8, fdaa::/16,
# 198.18.0.0/15).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '   %s\n' "$*"; }

lab_init dpdemo
VM2=$DP_VM2
C2=$DP_C2

say "Setting up: gateway, switch, two clients, two VMs in two orgs"
dp_two_orgs_conf
# The example policy as it is (its names are the lab's: c1, c2, vm1, vm2).
sed -i "s|^mtu = 1420$|mtu = 1420\npolicy_file = $DP_ROOT/config/demo.policy|" "$DP_CONF"
show "configuration ($DP_CONF):"
sed -e '/^#/d' -e '/^$/d' -e 's/^/     /' "$DP_CONF"
"$DP_SIXGATE" --check --config "$DP_CONF" >/dev/null || lab_die "the configuration does not check"
dp_two_orgs_start "$DP_GW4"
show "sixgate running (pid $DP_GW_PID, log $LAB_DIR/sixgate.log)"
show "c1 talks to the gateway over IPv6 ([$DP_GW6]:$DP_PORT), c2 over IPv4 ($DP_GW4:$DP_PORT)"

say "ping6 c1 -> vm1 and vm2 -> c2 (the first packet waits for the handshake)"
lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "c1 cannot reach vm1"
lab_wait_for 30 lab_exec c2 ping -6 -c1 -W2 "$VM2" || lab_die "c2 cannot reach vm2"
lab_exec c1 ping -6 -c 5 -i 0.2 "$DP_VM1" | sed 's/^/   /' | tail -n 3
lab_exec vm2 ping -6 -c 5 -i 0.2 "$C2" | sed 's/^/   /' | tail -n 3

say "TCP from c1 to vm1: 50 MB checked by SHA-256, then iperf3 for 5 s"
dp_xfer c1 vm1 "$DP_VM1" 50 | sed 's/^/   /'
lab_spawn iperf3-server vm1 iperf3 -s -1 -B "$DP_VM1"
lab_wait_for 5 lab_exec vm1 sh -c "ss -ltn | grep -q ':5201'"
lab_exec c1 timeout 20 iperf3 -c "$DP_VM1" -t 5 -f m | grep -E "sender|receiver" | sed 's/^/   /'

say "Cross-org: c1 (org 0x18) tries vm2 (org 0x29) -- the gateway refuses"
before=$(dp_drop org_isolation)
if lab_exec c1 ping -6 -c 5 -i 0.2 -W 1 "$VM2" >/dev/null 2>&1; then
	show "UNEXPECTED: c1 reached vm2"
else
	show "c1 -> vm2: 5 pings, no answer"
fi
sleep 0.3
show "org_isolation drops: $before -> $(dp_drop org_isolation)"

say "The policy (config/demo.policy) grants c1 TCP port 5201 on vm2: iperf3 for 2 s"
sed -e '/^#/d' -e '/^$/d' -e 's/^/     /' "$DP_ROOT/config/demo.policy"
lab_spawn iperf3-server2 vm2 iperf3 -s -1 -B "$VM2"
lab_wait_for 5 lab_exec vm2 sh -c "ss -ltn | grep -q ':5201'"
lab_exec c1 timeout 20 iperf3 -c "$VM2" -t 2 -f m | grep -E "sender|receiver" | sed 's/^/   /'
dp_tel /sixgate/policy | python3 -c '
import json, sys
d = json.load(sys.stdin)["/sixgate/policy"]
print("   %s: %d rules, compiled in %d us (rte_acl %s); allowed %d, policy_deny %d, "
      "org_isolation %d" % (d["file"], d["rules"], d["compile_us"], d["classify"], d["allowed"],
                            d["policy_deny"], d["org_isolation"]))
print("   hits: " + ", ".join("%s=%d" % kv for kv in sorted(d["hits"].items())))'

say "The gateway's counters (dpdk-telemetry.py /sixgate/counters)"
dp_tel /sixgate/counters | python3 -c '
import json, sys
d = json.load(sys.stdin)["/sixgate/counters"]
for k in ("nic_rx", "nic_tx", "vm_rx", "vm_tx", "decrypted", "encrypted", "initiations_rx",
          "responses_tx", "keepalive_rx", "keepalive_tx", "drops_total"):
    print("   %-16s %d" % (k, d[k]))
print("   drops by reason: " + (", ".join("%s=%d" % (k, v) for k, v in d["drops"].items() if v) or "none"))
print("   per worker NIC RX: %s" % d["worker_nic_rx"])'
say "Peers (/sixgate/peers)"
dp_tel /sixgate/peers | python3 -c '
import json, sys
for name, p in json.load(sys.stdin)["/sixgate/peers"].items():
    print("   %-4s %s endpoint %s  rx %d B  tx %d B  handshakes %d" % (
        name, p["public_key"][:12] + "...", p["endpoint"], p["rx_bytes"], p["tx_bytes"], p["handshakes"]))'

say "Prometheus metrics (curl http://127.0.0.1:9586/metrics in the gateway's namespace)"
lab_exec gw curl -s --max-time 10 http://127.0.0.1:9586/metrics |
	grep -E '^sixgate_(vm_packets_total|peer_transfer_total.*bytes|drops_total\{reason="org_isolation"\})' |
	sed 's/^/   /'

say "Done: stopping sixgate (SIGTERM: drain, final counters) and removing the lab"
kill -TERM "$DP_GW_PID"
wait "$DP_GW_PID" 2>/dev/null
grep -E "final (counters|drops)|sixgate stopped" "$LAB_DIR/sixgate.log" | sed 's/^/   /'
exit 0
