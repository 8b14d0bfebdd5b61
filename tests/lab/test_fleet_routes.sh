#!/usr/bin/env bash
# Routes between the members of a fleet (docs/fleet.md): A and B in anycast
# mode behind the router of test_fleet_anycast.sh, but each serves a VM of
# its own: vm1 behind A, vm2 behind B (one org).  Each member routes the
# other's VM prefixes (learned over the state channel) to it: an inner packet
# that passed the ingress member's policy goes over the channel to the
# member that has the VM; a VM's reply to a client whose session the other
# member holds goes back the same way and is encrypted there.  The client is
# routed to A, then to B (which takes its session over):
#  - ping vm1 and vm2 either way; a TCP transfer to vm2 across the move,
#    SHA-256 equal, no receive gap over a second;
#  - the forwards counted on both members; one handshake in all; no
#    (receiver index, counter) pair twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
. "$(dirname "$0")/fleet.sh"
lab_init flrt

FLEET_VMS_a=vm1
FLEET_VMS_b=vm2
fleet_members
lab_netns vm1
lab_netns vm2
fleet_router
fleet_route a
fleet_conf anycast
fleet_gw_start a
fleet_gw_start b
lab_wait_for 30 fleet_both_up || lab_die "the members did not see each other"
lab_wait_for 10 eval '[ "$(fleet_field a partner_routes)" = 1 ] && [ "$(fleet_field b partner_routes)" = 1 ]' ||
	lab_die "the members did not learn each other's VM prefix"
lab_log "A serves vm1, B vm2; each routes the other's /112 to it"

fleet_capture_start
dp_client_start 1 "$DP_C1"
lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> vm1 through A"
lab_check "client -> vm2 (behind B) through A: 5 pings answered" \
	lab_exec c1 ping -6 -c5 -i0.2 -W2 "$FLEET_VM2"
fleet_xfer_start vm2 "$FLEET_VM2"
sleep 4
date +%s.%N >"$LAB_DIR/moves.txt"
fleet_route b
sleep 4
lab_check "B took the client's session over" test "$(fleet_field b claims)" -ge 1
lab_check "client -> vm1 (behind A) through B: 5 pings answered" \
	lab_exec c1 ping -6 -c5 -i0.2 -W2 "$DP_VM1"
for m in a b; do
	lab_log "member $m: forwarded $(fleet_field $m forwarded), in $(fleet_field $m forwards_in)," \
		"out $(fleet_field $m forwards_out), refused $(fleet_field $m forward_refused)"
done
lab_check "both members forwarded to each other's VMs and sessions" sh -c \
	"[ $(fleet_field a forwards_in) -ge 5 ] && [ $(fleet_field b forwards_in) -ge 5 ] && [ $(fleet_field a forwards_out) -ge 5 ] && [ $(fleet_field b forwards_out) -ge 5 ]"
fleet_xfer_check
fleet_capture_check "$LAB_DIR/moves.txt"
fleet_finish
