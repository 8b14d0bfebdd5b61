#!/usr/bin/env bash
# The gateway as initiator: a VM sends to a peer that has no session yet.  With
# an endpoint configured, the packets are staged, the gateway sends the
# handshake initiation itself and delivers the staged packets once the
# session is up, so the very first ping is answered.  A peer without any
# endpoint cannot be reached: its packets are dropped as no_session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpinit

C2=fdaa:0:18:ff00::2
dp_lab_net
dp_client_net 1
lab_wg_keys c1
lab_wg_keys c2
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$DP_C1/128" "$DP_ORG1" "[fd00:1::11]:51001"
dp_conf_peer c2 "$(cat "$LAB_DIR/c2.pub")" "$C2/128" "$DP_ORG1"
dp_gw_start vm1
lab_netns vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"

# wireguard-go that knows the gateway's key but not where it is: it waits.
ifc="${LAB}wg1"
lab_wg_start c1 "$ifc"
wg set "$ifc" private-key "$LAB_DIR/c1.key" listen-port 51001 \
	peer "$(cat "$LAB_DIR/gw.pub")" allowed-ips fdaa::/16
lab_addr c1 "$ifc" "$DP_C1/128"
lab_exec c1 ip link set "$ifc" mtu 1420 up
lab_exec c1 ip -6 route add fdaa::/16 dev "$ifc"
# wireguard-go brings its TUN up asynchronously; a data packet that arrives
# within milliseconds of "ip link set up" is sometimes lost inside the client
# (seen in captures: delivered to it, never answered).  Give it a moment.
sleep 1

lab_check "the VM's first ping to c1 is answered" lab_exec vm1 ping -6 -c 1 -W 5 "$DP_C1"
lab_check "and the next ones" lab_exec vm1 ping -6 -c 5 -i 0.1 -W 2 "$DP_C1"
lab_log "initiations sent $(dp_counter initiations_tx), packets staged $(dp_counter staged)"
lab_check "the gateway initiated the handshake" test "$(dp_counter initiations_tx)" -ge 1
lab_check "the first packet was staged, not dropped" test "$(dp_counter staged)" -ge 1
lab_check "wireguard-go learned the gateway's endpoint" \
	sh -c "wg show $ifc endpoints | grep -q 'fd00:1::1\]:$DP_PORT'"
lab_check "c1 -> VM works on the session the gateway made" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 "$DP_VM1"

before=$(dp_drop no_session)
lab_exec vm1 ping -6 -c 4 -i 0.1 -W 1 "$C2" >/dev/null 2>&1
sleep 0.3
after=$(dp_drop no_session)
lab_log "no_session: $before -> $after"
lab_check "a peer with no endpoint: no_session moved by 4" test $((after - before)) -eq 4

dp_finish
