#!/usr/bin/env bash
# Anycast WireGuard (docs/fleet.md): members A and B, [fleet] mode = anycast,
# both answer on fd00:1::1 behind a router namespace that reaches them over
# links of their own, with an ECMP route to fd00:1::1 by 5-tuple hash
# (fib_multipath_hash_policy = 1).  Both are active and sync their sessions
# to each other over the state channel.  A wireguard-go client behind the
# router sends a TCP transfer to the VM (a NIC on each member); the test
# moves the flow between the members by changing the route (one nexthop, the
# other, both), FLEET_MOVES times (default 6).  A member that gets data
# under an index it does not hold takes the peer's synced sessions over
# (counters above the partner's lease, its window above the partner's mark)
# and tells the partner, which lets them go.  Then: the transfer completed,
# SHA-256 equal, no receive gap over a second; one handshake initiation from
# the client and none from the gateways (also 17 s after the last move, when
# the new-handshake timer of the member that gave the session away has run
# out); no (receiver index, counter) pair twice from the gateways; each
# member took the session over at least twice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
. "$(dirname "$0")/fleet.sh"
lab_init flac

MOVES=${FLEET_MOVES:-6}

fleet_members
fleet_router
fleet_route a

fleet_conf anycast
fleet_gw_start a
fleet_gw_start b
lab_wait_for 30 fleet_both_up || lab_die "the members did not see each other"
lab_log "A and B active, each the other's partner; A at ${FLEET_LL[a]}, B at ${FLEET_LL[b]}"

fleet_capture_start
dp_client_start 1 "$DP_C1"
lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM through A"
lab_wait_for 10 fleet_has_sessions b || lab_die "B did not hear the client's session"
fleet_xfer_start
sleep 2

: >"$LAB_DIR/moves.txt"
seq_to=(b a both b a both b a)
for i in $(seq 1 "$MOVES"); do
	to=${seq_to[$(((i - 1) % ${#seq_to[@]}))]}
	date +%s.%N >>"$LAB_DIR/moves.txt"
	fleet_route "$to"
	sleep 3
	lab_log "move $i: route via $to; claims A $(fleet_field a claims), B $(fleet_field b claims)"
done
fleet_route both
# Longer than KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) and its jitter: the
# member the flow left, whose last word to the client may have been data
# it sent, has given the session away and must not start a handshake when
# its new-handshake timer runs out (the partner holds the session).
sleep 17

CA=$(fleet_field a claims)
CB=$(fleet_field b claims)
lab_log "sessions taken over: A $CA times, B $CB times; given away: A $(fleet_field a given_away), B $(fleet_field b given_away)"
lab_check "each member took the client's session over at least twice" \
	test "${CA:-0}" -ge 2 -a "${CB:-0}" -ge 2
fleet_xfer_check
fleet_capture_check "$LAB_DIR/moves.txt"
fleet_finish
