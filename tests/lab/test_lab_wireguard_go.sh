#!/usr/bin/env bash
# Proves the lab itself: two wireguard-go peers in two namespaces, joined by a
# veth, exchange ping6 and a short iperf3 run through their tunnel.
. "$(dirname "$0")/lib.sh"
lab_init wglab

lab_netns a
lab_netns b
lab_veth a "${LAB}va" b "${LAB}vb"
lab_addr a "${LAB}va" fd00:1::1/64
lab_addr b "${LAB}vb" fd00:1::2/64
lab_wait_for 5 lab_exec a ping -6 -c1 -W1 fd00:1::2 || lab_die "underlay ping"

lab_wg_keys a
lab_wg_keys b
wa="${LAB}wa"
wb="${LAB}wb"
lab_wg_start a "$wa"
lab_wg_start b "$wb"
wg set "$wa" private-key "$LAB_DIR/a.key" listen-port 51820 \
	peer "$(cat "$LAB_DIR/b.pub")" endpoint "[fd00:1::2]:51821" allowed-ips fdaa:0:18::2/128
wg set "$wb" private-key "$LAB_DIR/b.key" listen-port 51821 \
	peer "$(cat "$LAB_DIR/a.pub")" endpoint "[fd00:1::1]:51820" allowed-ips fdaa:0:18::1/128
lab_addr a "$wa" fdaa:0:18::1/128
lab_addr b "$wb" fdaa:0:18::2/128
lab_exec a ip link set "$wa" mtu 1420 up
lab_exec b ip link set "$wb" mtu 1420 up
lab_exec a ip -6 route add fdaa:0:18::2/128 dev "$wa"
lab_exec b ip -6 route add fdaa:0:18::1/128 dev "$wb"

# The first initiation may be lost while the other side comes up (5 s retry).
lab_check "ping6 through the tunnel" lab_wait_for 15 lab_exec a ping -6 -c1 -W1 fdaa:0:18::2
lab_check "10 pings, none lost" lab_exec a ping -6 -c10 -i0.1 -W2 fdaa:0:18::2

lab_spawn iperf3-server b iperf3 -s -1 -B fdaa:0:18::2
lab_wait_for 5 lab_exec b sh -c "ss -ltn | grep -q ':5201'"
lab_exec a iperf3 -c fdaa:0:18::2 -t 2 -J >"$LAB_DIR/iperf3.json" 2>&1
bps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' "$LAB_DIR/iperf3.json" 2>/dev/null || echo 0)
lab_log "iperf3 TCP through wireguard-go: $((bps / 1000000)) Mbit/s"
lab_check "iperf3 moved data" test "$bps" -gt 1000000
hs=$(wg show "$wa" latest-handshakes | awk '{print $2}')
lab_check "handshake recorded by wg" test "${hs:-0}" -gt 0

[ "$LAB_FAILS" -eq 0 ]
