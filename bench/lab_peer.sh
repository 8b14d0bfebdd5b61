#!/usr/bin/env bash
# The peer baseline of bench/run: one gateway in the lab topology
#
#   client c1 (wireguard-go) -- switch -- gateway ns -- VM vm1 (a kernel stack)
#
# end to end with iperf3 (TCP, client -> VM, then VM -> client), for either
#
#   sixgate       the gateway of tests/lab/dp.sh (net_af_packet on the veth,
#                 two worker lcores, the VM behind vhost-user and testpmd)
#   wireguard-go  wireguard-go in the gateway namespace, the kernel routing
#                 between its TUN and a veth to the VM's namespace
#
#   bench/lab_peer.sh sixgate|wireguard-go OUT.json [SECONDS]
#
# Root (namespaces); lab addresses only; everything it made is removed on exit.
# OUT.json: {"gateway", "seconds", "c2vm_mbps", "vm2c_mbps", "retransmits"}.
. "$(dirname "$0")/../tests/lab/lib.sh"
. "$(dirname "$0")/../tests/lab/vm.sh"
. "$(dirname "$0")/../tests/lab/dp.sh"

kind=${1:?sixgate or wireguard-go}
out=${2:?output file}
secs=${3:-10}
lab_init bnpeer

# wg_gw_start: the same places as dp_basic, with wireguard-go as the gateway.
wg_gw_start() {
	lab_netns gw
	lab_netns sw
	lab_exec sw ip link add br0 type bridge
	lab_exec sw ip link set br0 up
	lab_veth sw "${LAB}s0" gw "${LAB}g0"
	lab_exec sw ip link set "${LAB}s0" master br0
	lab_addr gw "${LAB}g0" "$DP_GW6/64"
	dp_client_net 1
	lab_wg_keys c1
	lab_wg_keys gw
	local ifc="${LAB}wgg"
	lab_wg_start gw "$ifc"
	wg set "$ifc" private-key "$LAB_DIR/gw.key" listen-port "$DP_PORT" \
		peer "$(cat "$LAB_DIR/c1.pub")" allowed-ips "$DP_C1/128"
	lab_exec gw ip link set "$ifc" mtu 1420 up
	lab_exec gw ip -6 route add "$DP_C1/128" dev "$ifc"
	# The VM: a kernel stack in its own namespace behind a veth.
	lab_netns vm1
	lab_veth gw "${LAB}gv" vm1 "${LAB}vm1"
	lab_exec gw sysctl -qw net.ipv6.conf.all.forwarding=1
	lab_addr gw "${LAB}gv" "fdaa:0:18:0:a7b:0:1:1/112"
	lab_addr vm1 "${LAB}vm1" "$DP_VM1/112"
	lab_exec vm1 ip -6 route add default via fdaa:0:18:0:a7b:0:1:1
	dp_client_start 1 "$DP_C1"
	lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM"
}

case $kind in
sixgate) dp_basic ;;
wireguard-go) wg_gw_start ;;
*) lab_die "unknown gateway $kind" ;;
esac

# iperf_mbps [-R]: one TCP run c1 -> vm1 (or back with -R); prints "MBPS RETR".
iperf_mbps() {
	lab_spawn iperf3-server vm1 iperf3 -s -1 -B "$DP_VM1"
	local pid=$LAB_LAST_PID
	lab_wait_for 5 lab_exec vm1 sh -c "ss -ltn | grep -q ':5201'"
	lab_exec c1 timeout $((secs + 20)) iperf3 -c "$DP_VM1" -t "$secs" -O 1 -J "$@" \
		>"$LAB_DIR/iperf.json" 2>&1
	wait "$pid" 2>/dev/null
	lab_forget_pid "$pid"
	python3 -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]
print("%.1f %d" % (e["sum_received"]["bits_per_second"] / 1e6, e["sum_sent"].get("retransmits", 0)))' \
		"$LAB_DIR/iperf.json" 2>/dev/null || echo "0 0"
}

read -r up up_retr < <(iperf_mbps)
read -r down down_retr < <(iperf_mbps -R)
lab_log "$kind: client -> VM $up Mbit/s, VM -> client $down Mbit/s"
python3 -c '
import json, sys
json.dump({"gateway": sys.argv[1], "seconds": int(sys.argv[2]), "c2vm_mbps": float(sys.argv[3]),
           "vm2c_mbps": float(sys.argv[4]), "retransmits": int(sys.argv[5]) + int(sys.argv[6])},
          open(sys.argv[7], "w"))' "$kind" "$secs" "$up" "$down" "$up_retr" "$down_retr" "$out"
if [ "$kind" = sixgate ]; then
	dp_tel /sixgate/cycles >"$out.cycles" 2>/dev/null || true
	dp_finish
fi
