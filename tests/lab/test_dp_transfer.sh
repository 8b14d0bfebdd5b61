#!/usr/bin/env bash
# Bulk traffic through sixgate: a 50 MB TCP transfer client -> VM and 20 MB
# back, each checked byte for byte by SHA-256, then a UDP stream whose loss is
# measured (iperf3) and compared with the gateway's own counters.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpxfer
dp_basic

lab_check "50 MB TCP client -> VM, SHA-256 equal" dp_xfer c1 vm1 "$DP_VM1" 50
lab_log "client -> VM: $(grep sent "$LAB_DIR/checks.log" | tail -n 1)"
lab_check "20 MB TCP VM -> client, SHA-256 equal" dp_xfer vm1 c1 "$DP_C1" 20
lab_log "VM -> client: $(grep sent "$LAB_DIR/checks.log" | tail -n 1)"

# UDP: datagrams of 1372 bytes fit the 1420 tunnel MTU without fragmenting.
lab_spawn iperf3-server vm1 iperf3 -s -1 -B "$DP_VM1"
lab_wait_for 5 lab_exec vm1 sh -c "ss -ltn | grep -q ':5201'"
rate=${DP_UDP_RATE:-50M}
lab_exec c1 timeout 30 iperf3 -c "$DP_VM1" -u -b "$rate" -l 1372 -t 5 -J >"$LAB_DIR/udp.json" 2>"$LAB_DIR/udp.err"
read -r sent lost pct mbps < <(python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]["sum"]
print(e["packets"], e["lost_packets"], "%.2f" % e["lost_percent"], "%.1f" % (e["bits_per_second"] / 1e6))' \
	"$LAB_DIR/udp.json" 2>/dev/null || echo "0 0 100 0")
lab_log "UDP $rate offered: $sent datagrams, $lost lost ($pct %), $mbps Mbit/s received"
lab_check "UDP stream ran" test "${sent:-0}" -gt 1000
lab_check "UDP loss under 5 %" python3 -c "import sys; sys.exit(0 if float('$pct') < 5 else 1)"
drops=$(dp_tel /sixgate/counters | python3 -c '
import json, sys
d = json.load(sys.stdin)["/sixgate/counters"]["drops"]
print(" ".join("%s=%d" % (k, v) for k, v in d.items() if v))')
lab_log "gateway drops: ${drops:-none}"

dp_finish
