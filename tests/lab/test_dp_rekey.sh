#!/usr/bin/env bash
# Rekey under traffic: with rekey_after_time shortened to 2 s the gateway
# renegotiates the session again and again while an 80 MB TCP transfer runs;
# the transfer neither stalls nor loses a byte (SHA-256), the old keypairs are
# freed after their grace period, and the client follows every new session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dprekey
DP_CONF_EXTRA="
[timers]
rekey_after_time = 2
reject_after_time = 30"
dp_basic

r0=$(dp_counter rekeys)
lab_check "80 MB TCP client -> VM during rekeys, SHA-256 equal" \
	dp_xfer c1 vm1 "$DP_VM1" 80 0.015
lab_log "$(grep sent "$LAB_DIR/checks.log" | tail -n 1)"
r1=$(dp_counter rekeys)
hs=$(dp_tel /sixgate/peers | python3 -c 'import json,sys; print(json.load(sys.stdin)["/sixgate/peers"]["c1"]["handshakes"])')
lab_log "rekeys by the gateway during the transfer: $((r1 - r0)); handshakes with c1: $hs"
lab_check "at least 3 rekeys during the transfer" test $((r1 - r0)) -ge 3
alive=$(dp_counter keypairs_alive)
lab_log "keypairs alive after the transfer: $alive"
lab_check "old keypairs freed (at most 3 alive)" test "$alive" -le 3
lab_check "traffic still flows after the rekeys" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 "$DP_VM1"

dp_finish
