#!/usr/bin/env bash
# Roaming: in the middle of a TCP transfer the client's outer endpoint changes,
# first its UDP port, then its IP address.  The gateway follows the source of
# the latest authenticated packet, so its replies (the TCP ACKs, and the data
# of the VM's answer) reach the client at its new place and the transfer ends
# complete.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dproam
dp_basic

endpoint() {
	dp_tel /sixgate/peers | python3 -c 'import json,sys; print(json.load(sys.stdin)["/sixgate/peers"]["c1"]["endpoint"])'
}
lab_log "endpoint before: $(endpoint)"
roams0=$(dp_counter roams)

( dp_xfer c1 vm1 "$DP_VM1" 40 0.01 >"$LAB_DIR/xfer.out" 2>&1; echo $? >"$LAB_DIR/xfer.rc" ) &
xfer=$!
sleep 3
# A new UDP port: wireguard-go rebinds its socket.
wg set "${LAB}wg1" listen-port 52001
sleep 3
# A new address: the old one goes away, so the kernel picks the new source.
lab_addr c1 "${LAB}c1" fd00:1::21/64
lab_exec c1 ip addr del fd00:1::11/64 dev "${LAB}c1"
wait "$xfer"
lab_log "$(cat "$LAB_DIR/xfer.out")"
lab_check "40 MB transfer across two roams, SHA-256 equal" test "$(cat "$LAB_DIR/xfer.rc")" = 0
ep=$(endpoint)
roams=$(($(dp_counter roams) - roams0))
lab_log "endpoint after: $ep; roams counted: $roams"
lab_check "gateway follows the new endpoint" test "$ep" = "[fd00:1::21]:52001"
# Each change of the source of an authentic packet counts as a roam: at least
# the two here.  Possibly more: at each change a packet from the old place may
# still wait on the other worker's queue, and moving back and forth again
# counts too (the last packet's place wins, as the endpoint check shows).
lab_check "the gateway counted both roams ($roams >= 2)" test "$roams" -ge 2
lab_check "replies reach the new endpoint" lab_exec vm1 ping -6 -c 3 -i 0.1 -W 2 "$DP_C1"

dp_finish
