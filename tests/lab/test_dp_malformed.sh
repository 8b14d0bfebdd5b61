#!/usr/bin/env bash
# Malformed input at the gateway while a real client keeps pinging its VM:
# truncated, oversized, wrong-type, reserved-bits, unknown-index, bad-tag,
# replayed, broken-checksum, truncated-IP and foreign-MAC packets.  Each case
# moves its own drop counter by exactly the packets sent, and the real
# client's traffic is not disturbed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpmalf
dp_basic

lab_exec c1 ping -6 -c1 -W1 "$DP_GW6" >/dev/null
gwmac=$(lab_exec c1 ip -6 neigh show "$DP_GW6" | awk '{print $5}')
[ -n "$gwmac" ] || lab_die "no neighbour entry for the gateway"
lab_spawn ping-bg c1 ping -6 -i 0.05 -c 600 -W 2 "$DP_VM1"
pingpid=$LAB_LAST_PID

N=5
# case:reason:packets per send.  The two cases that need a real data message
# of the client's ping come first, while the ping surely runs (on a loaded
# machine the other cases can take longer than its 30 s).
for spec in wg_bad_tag:wg_bad_tag:1 wg_replay:wg_replay:1 wg_size:wg_size:1 wg_size_init:wg_size:1 wg_type:wg_type:1 \
	wg_reserved:wg_reserved:1 wg_unknown_index:wg_unknown_index:1 udp_port:udp_port:1 \
	ip_fragment:ip_fragment:3 ip_truncated:ip_truncated:1 udp_csum:udp_csum:1 \
	ip_proto:ip_proto:1 eth_not_for_us:eth_not_for_us:1 ip_csum:ip_csum:1; do
	IFS=: read -r case reason per <<<"$spec"
	before=$(dp_drop "$reason")
	lab_exec c1 timeout 20 python3 "$DP_ROOT/tests/lab/dp_malformed.py" "${LAB}c1" "$gwmac" \
		"$DP_GW6" "$DP_GW4" fd00:1::11 198.18.0.11 "$DP_PORT" "$case" "$N" ||
		lab_log "sender for $case failed"
	sleep 0.3
	after=$(dp_drop "$reason")
	lab_log "$case: $reason $before -> $after"
	lab_check "$case dropped as $reason ($((N * per)) packets)" test $((after - before)) -eq $((N * per))
done

wait "$pingpid"
rc=$?
lab_forget_pid "$pingpid"
lab_log "background ping: $(grep -E 'transmitted' "$LAB_DIR/ping-bg.log")"
lab_check "the real client's 600 pings all answered" test "$rc" -eq 0
lab_check "no packet of the real client lost" grep -q " 0% packet loss" "$LAB_DIR/ping-bg.log"

dp_finish
