#!/usr/bin/env bash
# Malformed input from the VM side while a real client keeps pinging its VM:
# crafted frames sent from inside the VM's namespace onto its tap (truncated
# Ethernet and IPv6 headers, VLAN, ARP, IPv4, a wrong IP version, a payload
# length beyond the frame, a spoofed source, a destination no peer holds, one
# in another org, an oversized ICMPv6 error).  Each case moves its own drop
# counter by exactly the frames sent, sixgate keeps running, and the real
# client's traffic is not disturbed.  A valid frame with trailing padding,
# crafted the same way, gets its echo replies: the frames do reach the gateway.
# Last, a burst that mixes valid frames with several reasons at once.
# (An oversized echo request and its Packet Too Big are test_dp_mtu's.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpvmal
dp_basic

gwpid=$DP_GW_PID
lab_spawn ping-bg c1 ping -6 -i 0.05 -c 400 -W 2 "$DP_VM1"
pingpid=$LAB_LAST_PID

N=5
# case:reason:answers from the gateway ("-": not looked at)
for spec in valid_padded:-:$N eth_header_only:vm_truncated:- ip6_header_cut:vm_truncated:- \
	vlan_tagged:vm_truncated:- arp:vm_truncated:- ipv4:vm_truncated:- \
	ip6_version4:vm_truncated:- ip6_plen_long:vm_truncated:- vm_spoof:vm_spoof:- \
	no_peer:no_peer:- org_isolation:org_isolation:- too_big_icmp_error:too_big:0; do
	IFS=: read -r case reason answers <<<"$spec"
	[ "$reason" = - ] || before=$(dp_drop "$reason")
	got=$(lab_exec vm1 timeout 20 python3 "$DP_ROOT/tests/lab/dp_vm_malformed.py" "${LAB}vm1" \
		"$LAB_VM_GW_MAC" "$DP_VM1" "$DP_C1" "$case" "$N") || lab_log "sender for $case failed"
	if [ "$reason" != - ]; then
		sleep 0.3
		after=$(dp_drop "$reason")
		lab_log "$case: $reason $before -> $after, $got"
		lab_check "$case dropped as $reason ($N frames)" test $((after - before)) -eq $N
	else
		lab_log "$case: $got"
	fi
	[ "$answers" = - ] || lab_check "$case: $answers answers from the gateway" \
		test "$got" = "answers $answers"
	lab_check "sixgate still running after $case (PID $gwpid)" kill -0 "$gwpid"
done

# All at once: 5 rounds of 8 x (valid, vm_spoof, header only, no_peer,
# org_isolation, oversized error) back to back, so that one poll of the VM
# port mixes good frames with several reasons.
declare -A mixed_before
for reason in vm_spoof vm_truncated no_peer org_isolation too_big; do
	mixed_before[$reason]=$(dp_drop "$reason")
done
got=$(lab_exec vm1 timeout 20 python3 "$DP_ROOT/tests/lab/dp_vm_malformed.py" "${LAB}vm1" \
	"$LAB_VM_GW_MAC" "$DP_VM1" "$DP_C1" mixed_burst "$N") || lab_log "sender for mixed_burst failed"
sleep 0.3
for reason in vm_spoof vm_truncated no_peer org_isolation too_big; do
	after=$(dp_drop "$reason")
	lab_log "mixed_burst: $reason ${mixed_before[$reason]} -> $after"
	lab_check "mixed_burst: $reason moved by $((8 * N))" \
		test $((after - mixed_before[$reason])) -eq $((8 * N))
done
lab_check "mixed_burst: all $((8 * N)) valid frames answered ($got)" \
	test "$got" = "answers $((8 * N))"
lab_check "sixgate still running after mixed_burst (PID $gwpid)" kill -0 "$gwpid"

wait "$pingpid"
rc=$?
lab_forget_pid "$pingpid"
lab_log "background ping: $(grep -E 'transmitted' "$LAB_DIR/ping-bg.log")"
lab_check "the real client's 400 pings all answered" test "$rc" -eq 0
lab_check "no packet of the real client lost" grep -q " 0% packet loss" "$LAB_DIR/ping-bg.log"
lab_check "the same sixgate (PID $gwpid) ran throughout" test "$DP_GW_PID" = "$gwpid"

dp_finish
