#!/usr/bin/env bash
# Proves the lab VM (vm.sh): two VMs, each a kernel stack behind a vhost-user
# socket, talk through a third DPDK process that serves both sockets and
# forwards between them, the way sixgate's VM ports will.
#
#   ns a: tap ${LAB}va == virtio_user == a.sock ==\                 /== b.sock == virtio_user == tap ${LAB}vb :ns b
#                                                  testpmd vswitch (net_vhost0 <-> net_vhost1)
#
# Checks ping6 both ways (ND between the VMs crosses the switch), iperf3 TCP,
# the VM's off-link contract (default route to the fixed gateway MAC, no ND),
# and that a VM that stops and starts again reconnects to the same switch.
here=$(dirname "$0")
. "$here/lib.sh"
. "$here/vm.sh"
lab_init vmlab

A6=fdaa:0:18:a7b:1::2
B6=fdaa:0:18:a7b:1::3
MAC_A=02:76:6d:00:00:0a
MAC_B=02:76:6d:00:00:0b

lab_netns a
lab_netns b
sa="$LAB_DIR/a.sock"
sb="$LAB_DIR/b.sock"

# lab_die exits, so the refusal is tried in a subshell.
fails() { ! ("$@"); }
lab_check "a VM without a vhost-user server is refused" fails lab_vm_start vx a "$LAB_DIR/none.sock" $A6/64

lab_vswitch_start sw "$sa" "$sb"
sw_pid=$LAB_LAST_PID
lab_vm_start va a "$sa" $A6/64 $MAC_A
lab_vm_start vb b "$sb" $B6/64 $MAC_B
ta=${LAB_VM_TAP[va]}
tb=${LAB_VM_TAP[vb]}

lab_check "VM a has its MAC" sh -c "ip -n ${LAB}a link show $ta | grep -qi 'ether $MAC_A'"
lab_check "VM a has MTU 1500, qlen 10000" sh -c "ip -n ${LAB}a link show $ta | grep -q 'mtu 1500 .*qlen 10000'"
lab_check "VM a routes off-link via $LAB_VM_GW_LL" \
	sh -c "ip -n ${LAB}a -6 route get fdaa:0:18:ffff::1 | grep -q 'via $LAB_VM_GW_LL dev $ta'"
lab_check "ping6 a -> b" lab_wait_for 20 lab_exec a ping -6 -c1 -W1 $B6
lab_check "ping6 b -> a" lab_exec b ping -6 -c1 -W1 $A6
lab_check "a learned b's MAC through the switch" \
	sh -c "ip -n ${LAB}a -6 neigh show $B6 | grep -qi 'lladdr $MAC_B'"

lab_exec a ping -6 -c 20 -i 0.05 -W 2 $B6 >"$LAB_DIR/ping.txt" 2>&1
rtt=$(awk '/^rtt/ {split($4, v, "/"); print v[1] "/" v[2] "/" v[3]}' "$LAB_DIR/ping.txt")
lab_log "ping6 VM a -> VM b through the switch: RTT min/avg/max ${rtt:-?} ms"
lab_check "20 pings, none lost" grep -q ' 0% packet loss' "$LAB_DIR/ping.txt"

lab_spawn iperf3-server b iperf3 -s -1 -B $B6
lab_wait_for 10 lab_exec b sh -c "ss -ltn | grep -q ':5201'"
lab_exec a timeout 30 iperf3 -c $B6 -t 2 -J >"$LAB_DIR/iperf3.json" 2>&1
bps=$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]))' \
	"$LAB_DIR/iperf3.json" 2>/dev/null || echo 0)
lab_log "iperf3 TCP VM a -> VM b through the switch: $((bps / 1000000)) Mbit/s"
lab_check "iperf3 moved data" test "$bps" -gt 1000000

# The contract for sixgate: an off-link packet leaves the VM addressed to the
# gateway MAC at once, with no ND before it.  The switch delivers it to VM b.
lab_spawn tshark-b b timeout 15 tshark -n -l -i "$tb" -f 'ip6 and not udp' -T fields -e eth.dst -e ipv6.dst -e icmpv6.type
lab_wait_for 10 grep -q 'Capturing on' "$LAB_DIR/tshark-b.log"
lab_exec a ping -6 -c 3 -i 0.2 -W 1 fdaa:0:18:ffff::1 >/dev/null 2>&1
sleep 1
lab_check "off-link ping goes to $LAB_VM_GW_MAC" grep -qi "^$LAB_VM_GW_MAC	fdaa:0:18:ffff::1	128" "$LAB_DIR/tshark-b.log"
lab_check "no ND for off-link addresses" sh -c "! grep -qi 'ff02::1:ff00:1	135' '$LAB_DIR/tshark-b.log'"

# VM a goes away and comes back; the switch keeps running.
lab_vm_stop va
lab_check "a stopped VM's interface is gone" sh -c "! ip -n ${LAB}a link show $ta"
lab_check "ping6 b -> a fails while a is down" sh -c "! ip netns exec ${LAB}b ping -6 -c1 -W1 $A6"
lab_vm_restart va
lab_check "switch still the same process" kill -0 "$sw_pid"
lab_check "ping6 a -> b after restart" lab_wait_for 20 lab_exec a ping -6 -c1 -W1 $B6
lab_check "ping6 b -> a after restart" lab_exec b ping -6 -c3 -i0.2 -W1 $A6

[ "$LAB_FAILS" -eq 0 ]
