#!/usr/bin/env bash
# The tunnel MTU: a VM packet larger than 1420 bytes gets an ICMPv6 Packet Too
# Big back from the gateway (counted as too_big); the VM's kernel learns the
# path MTU and its next large packets, fragmented to fit, get through.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpmtu
dp_basic

before=$(dp_drop too_big)
# 1400 bytes of ICMPv6 payload: a 1448-byte IPv6 packet, over the tunnel MTU.
lab_exec vm1 ping -6 -c 1 -W 1 -s 1400 "$DP_C1" >/dev/null 2>&1
sleep 0.3
after=$(dp_drop too_big)
lab_log "too_big: $before -> $after; route: $(lab_exec vm1 ip -6 route get "$DP_C1" | head -1)"
lab_check "the large packet was refused as too_big" test $((after - before)) -ge 1
lab_check "the VM learned the path MTU 1420" sh -c "ip netns exec ${LAB}vm1 ip -6 route get $DP_C1 | grep -q 'mtu 1420'"
lab_check "large pings get through once the VM fragments" \
	lab_exec vm1 ping -6 -c 3 -i 0.2 -W 2 -s 1400 "$DP_C1"
lab_check "a packet of exactly 1420 bytes passes" lab_exec vm1 ping -6 -c 2 -W 2 -s 1372 -M do "$DP_C1"

dp_finish
