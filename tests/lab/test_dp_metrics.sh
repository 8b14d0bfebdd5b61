#!/usr/bin/env bash
# Prometheus metrics: sixgate serves GET /metrics on 127.0.0.1:9586 (its
# namespace's loopback) by default.  curl scrapes it; the text parses with
# Debian's python3-prometheus-client parser; counters move by exactly the
# packets sent (pings through the tunnel into the VM, UDP datagrams to a port
# the gateway does not listen on); every counter lies between two telemetry
# reads taken around the scrape; the per-peer series hold the peer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpmet

URL=http://127.0.0.1:9586/metrics
PY=/usr/bin/python3 # Debian's python3, which has python3-prometheus-client
N=25
M=40

dp_basic
scrape() { lab_exec gw curl -sf --max-time 10 "$URL"; }
# metric FILE NAME{LABELS}: one sample's value from a scrape.
metric() {
	$PY - "$1" "$2" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
want = sys.argv[2]
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        if (s.name + ("{%s}" % labels if labels else "")) == want:
            print(int(s.value))
            sys.exit(0)
sys.exit("no sample %s" % want)
PY
}

lab_check "GET /metrics answers 200" lab_wait_for 10 sh -c "ip netns exec '${LAB}gw' curl -sf '$URL' >'$LAB_DIR/m0.txt'"
lab_check "the text parses as Prometheus text (prometheus_client), with HELP and TYPE" \
	$PY - "$LAB_DIR/m0.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
fams = list(text_string_to_metric_families(text))
names = {f.name for f in fams}
need = {"sixgate_drops", "sixgate_nic_rx_packets", "sixgate_vm_packets", "sixgate_worker_packets",
        "sixgate_handshake_messages", "sixgate_peer_transfer", "sixgate_peer_last_handshake_seconds"}
missing = need - names
print(len(fams), "families;", "missing:", missing or "none")
sys.exit(1 if missing or text.count("# TYPE ") != len(fams) else 0)
PY
lab_check "405 for a POST" sh -c "[ \"\$(ip netns exec '${LAB}gw' curl -s -o /dev/null -w '%{http_code}' -X POST -d x '$URL')\" = 405 ]"
lab_check "text/plain; version=0.0.4" sh -c "ip netns exec '${LAB}gw' curl -sI '$URL' | grep -qi '^content-type: text/plain; version=0.0.4'"
lab_check "404 for another path" sh -c "[ \"\$(ip netns exec '${LAB}gw' curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9586/other)\" = 404 ]"

# Exact moves: N pings into the VM, M datagrams to UDP port 9999 of the gateway.
scrape >"$LAB_DIR/m1.txt"
lab_exec c1 ping -6 -c "$N" -i 0.05 -W 2 "$DP_VM1" >"$LAB_DIR/ping.txt" 2>&1
lab_check "$N pings, none lost" grep -q " 0% packet loss" "$LAB_DIR/ping.txt"
lab_exec c1 "$PY" -c "
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range($M):
    s.sendto(b'not wireguard', ('$DP_GW6', 9999))
    time.sleep(0.01)"
sleep 1
scrape >"$LAB_DIR/m2.txt"
vm_tx1=$(metric "$LAB_DIR/m1.txt" 'sixgate_vm_packets_total{direction="tx",vm="vm1"}')
vm_tx2=$(metric "$LAB_DIR/m2.txt" 'sixgate_vm_packets_total{direction="tx",vm="vm1"}')
udp1=$(metric "$LAB_DIR/m1.txt" 'sixgate_drops_total{reason="udp_port"}')
udp2=$(metric "$LAB_DIR/m2.txt" 'sixgate_drops_total{reason="udp_port"}')
lab_log "vm1 tx $vm_tx1 -> $vm_tx2, udp_port drops $udp1 -> $udp2"
lab_check "vm1's tx moved by exactly the $N pings" test $((vm_tx2 - vm_tx1)) -eq "$N"
lab_check "drops{reason=udp_port} moved by exactly the $M datagrams" test $((udp2 - udp1)) -eq "$M"
rx=$(metric "$LAB_DIR/m2.txt" 'sixgate_peer_transfer_total{kind="rx_packets",peer="c1"}')
lab_check "per-peer series for c1: at least the $N pings received" test "${rx:-0}" -ge "$N"
hs=$(metric "$LAB_DIR/m2.txt" 'sixgate_peer_last_handshake_seconds{peer="c1"}')
lab_check "c1's last handshake within the last 5 minutes" test $(($(date +%s) - ${hs:-0})) -lt 300

# The same numbers as telemetry: each counter between two reads taken around a scrape.
dp_tel /sixgate/counters >"$LAB_DIR/t1.json"
scrape >"$LAB_DIR/m3.txt"
dp_tel /sixgate/counters >"$LAB_DIR/t2.json"
lab_check "metrics match telemetry (every counter and drop reason)" \
	$PY - "$LAB_DIR/m3.txt" "$LAB_DIR/t1.json" "$LAB_DIR/t2.json" <<'PY'
import json, sys
from prometheus_client.parser import text_string_to_metric_families
m = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        m[(s.name, tuple(sorted(s.labels.items())))] = s.value
t1 = json.load(open(sys.argv[2]))["/sixgate/counters"]
t2 = json.load(open(sys.argv[3]))["/sixgate/counters"]
pairs = {"nic_rx": "sixgate_nic_rx_packets_total", "nic_tx": "sixgate_nic_tx_packets_total",
         "vm_rx": "sixgate_vm_rx_packets_total", "vm_tx": "sixgate_vm_tx_packets_total",
         "decrypted": "sixgate_decrypted_packets_total",
         "encrypted": "sixgate_encrypted_packets_total"}
bad = []
for k, name in pairs.items():
    if not t1[k] <= m[(name, ())] <= t2[k]:
        bad.append((k, t1[k], m[(name, ())], t2[k]))
for reason, v in t1["drops"].items():
    got = m[("sixgate_drops_total", (("reason", reason),))]
    if not v <= got <= t2["drops"][reason]:
        bad.append((reason, v, got, t2["drops"][reason]))
if len(t1["drops"]) != sum(1 for k in m if k[0] == "sixgate_drops_total"):
    bad.append("not every drop reason")
if m[("sixgate_handshake_messages_total", (("direction", "rx"), ("message", "initiation")))] < t1["initiations_rx"]:
    bad.append("initiations")
print(bad or "all equal")
sys.exit(1 if bad else 0)
PY
dp_finish
