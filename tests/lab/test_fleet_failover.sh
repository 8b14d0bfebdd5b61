#!/usr/bin/env bash
# A failover pair (docs/fleet.md): two sixgate processes, A (node 1) and B
# (node 2), share the gateway's address fd00:1::1 on one switch and a state
# channel on a link of their own (fd00:2::/64).  One VM has a NIC on each
# (two vhost-user ports bridged in the VM's kernel).  A wireguard-go client
# sends a TCP transfer to the VM through the active member; the test kills
# the active with SIGKILL, the standby takes over (same keys and indices,
# counters above every lease, an unsolicited neighbour advertisement), the
# killed one is started again and becomes the standby; FLEET_FAILOVERS times
# (default 10), back and forth.  Then:
#  - every takeover installed the client's session;
#  - a split brain (the state channel cut, both active) and its heal: the
#    lower node id yields;
#  - the transfer completed, SHA-256 equal, with no receive gap over a second;
#  - the client sent one handshake initiation in all (a capture on its link);
#  - no (receiver index, counter) pair of the gateways' data packets appears
#    twice in that capture, over the whole run;
#  - after each kill the gateways answered the client within a second (the
#    gaps are printed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
. "$(dirname "$0")/fleet.sh"
lab_init flfo

FAILOVERS=${FLEET_FAILOVERS:-10}

# The switch both members' NICs and the client are on.
lab_netns sw
lab_exec sw ip link add br0 type bridge
lab_exec sw ip link set br0 up
lab_exec sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
	net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null
fleet_members
for m in a b; do
	lab_veth sw "${LAB}s$m" "g$m" "${LAB}g$m" 2
	lab_exec sw ip link set "${LAB}s$m" master br0
	fleet_nic_quiet $m
done
dp_client_net 1
fleet_conf pair

fleet_gw_start a
lab_wait_for 30 fleet_is_state a active || lab_die "member A did not become active alone"
fleet_gw_start b
# Under load a member may miss the other's heartbeats and take over for a
# moment; the split brain heals (the lower node id yields).  What the test
# needs is one active member and one standby, whichever is which.
settled() {
	{ fleet_is_state a active && fleet_is_state b standby; } ||
		{ fleet_is_state b active && fleet_is_state a standby; }
}
lab_wait_for 30 settled || lab_die "the pair did not settle to one active member and one standby"
lab_log "A $(fleet_field a state), B $(fleet_field b state)"

fleet_capture_start
dp_client_start 1 "$DP_C1"
if ! lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1"; then
	for m in a b; do
		lab_log "member $m: $(echo /sixgate/counters | timeout 10 dpdk-telemetry.py -f "${FLEET_PREFIX[$m]}" 2>&1 | tr -d '\n' | cut -c1-1500)"
	done
	lab_log "client neighbours: $(lab_exec c1 ip -6 neigh | tr '\n' ';')"
	lab_log "switch: $(lab_exec sw bridge fdb show br br0 | grep -v permanent | tr '\n' ';')"
	lab_log "VM bridge: $(lab_exec vm1 bridge fdb show br brvm | grep -v permanent | tr '\n' ';')"
	# Seen twice in about ten runs, cause not found yet (see the note): the
	# client's first ping answered, the next ones not reaching the active.
	# The state above is kept in the log; the client's neighbour cache is
	# flushed and the test goes on if that helps.
	lab_exec c1 ip -6 neigh flush dev "${LAB}c1"
	lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM"
	lab_log "the ping passed after the client's neighbour cache was flushed"
fi
if ! lab_wait_for 20 eval 'fleet_has_sessions a && fleet_has_sessions b'; then
	for m in a b; do
		lab_log "member $m: $(echo /sixgate/fleet | timeout 10 dpdk-telemetry.py -f "${FLEET_PREFIX[$m]}" 2>&1 | tr -d '\n')"
	done
	lab_die "the standby did not hear the client's session"
fi
HS_T0=$SECONDS
fleet_xfer_start
sleep 2

TAKEN_OK=0
: >"$LAB_DIR/kills.txt"
for i in $(seq 1 "$FAILOVERS"); do
	lab_wait_for 30 settled || lab_log "failover $i: the pair is not settled"
	active=$(fleet_is_state a active && echo a || echo b)
	standby=$([ "$active" = a ] && echo b || echo a)
	date +%s.%N >>"$LAB_DIR/kills.txt"
	fleet_kill "$active"
	if ! lab_wait_for 20 fleet_is_state "$standby" active; then
		lab_log "failover $i: $standby did not take over"
		break
	fi
	lab_log "failover $i: $active killed, $standby active after" \
		"$(fleet_field "$standby" last_silence_ms) ms of silence" \
		"($(fleet_field "$standby" taken_sessions) sessions installed," \
		"$(fleet_field "$standby" skipped_sessions) skipped)"
	[ "$(fleet_field "$standby" skipped_sessions)" = 0 ] &&
		[ "$(fleet_field "$standby" taken_sessions)" -ge 1 ] && TAKEN_OK=$((TAKEN_OK + 1))
	fleet_gw_start "$active"
	if ! lab_wait_for 30 fleet_is_state "$active" standby; then
		lab_log "failover $i: $active did not come back as the standby"
		break
	fi
	lab_wait_for 10 fleet_has_sessions "$active" ||
		lab_log "failover $i: $active heard no session in its resync"
	sleep 1
done
lab_log "$(wc -l <"$LAB_DIR/kills.txt") failovers in $((SECONDS - HS_T0)) s since the handshake"
lab_check "$FAILOVERS failovers, each a takeover with the client's session installed" \
	test "$TAKEN_OK" -eq "$FAILOVERS"

# Split brain: the channel cut, both active; the capture goes on.
lab_wait_for 30 settled
CUT_AT=$(date +%s.%N)
lab_exec ga ip link set "${LAB}ma" down
lab_wait_for 10 eval 'fleet_is_state a active && fleet_is_state b active'
BOTH=$( (fleet_is_state a active && fleet_is_state b active) && echo yes || echo no)
lab_check "split brain: both members active while the channel is cut" test "$BOTH" = yes
sleep 2
lab_exec ga ip link set "${LAB}ma" up
lab_check "channel healed: node 1 (A) yields and is B's standby again" \
	lab_wait_for 20 fleet_is_state a standby
lab_check "B active after the heal" fleet_is_state b active
sleep 2

fleet_xfer_check
fleet_capture_check "$LAB_DIR/kills.txt" "$CUT_AT"
fleet_finish
