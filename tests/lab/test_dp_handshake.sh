#!/usr/bin/env bash
# Handshake defences on the control lcore.
# 1. A flood of junk initiations with valid mac1 from one source: each is
#    refused once, as wg_static (its static key does not decrypt) or, when the
#    flood puts the gateway under load, as wg_mac2 with a cookie reply.  None
#    is charged to the source's rate limit (only messages whose mac2 proves
#    their source are, under load, as Linux does), and a real client's
#    traffic flows meanwhile.  tests/lab/test_dp_hsvictim.sh shows why.
# 2. With the gateway demanding cookies (--under-load, as when it is flooded),
#    a real wireguard-go client first gets a cookie reply (its initiation is
#    dropped as wg_mac2), retries with mac2 and completes the handshake.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dphand
dp_basic

N=400
rl0=$(dp_drop wg_hs_ratelimit)
mac2_0=$(dp_drop wg_mac2)
static0=$(dp_drop wg_static)
full0=$(dp_drop wg_hs_ring_full)
cookies0=$(dp_counter cookie_replies_tx)
lab_exec c1 timeout 30 python3 "$DP_ROOT/tests/lab/dp_hsflood.py" "$(cat "$LAB_DIR/gw.pub")" \
	"$DP_GW6" "$DP_PORT" "$N" &
flood=$!
lab_check "traffic flows during the flood" lab_exec c1 ping -6 -c 10 -i 0.05 -W 2 "$DP_VM1"
wait "$flood"
sleep 0.5
rl=$(($(dp_drop wg_hs_ratelimit) - rl0))
mac2=$(($(dp_drop wg_mac2) - mac2_0))
static=$(($(dp_drop wg_static) - static0))
full=$(($(dp_drop wg_hs_ring_full) - full0))
cookies=$(($(dp_counter cookie_replies_tx) - cookies0))
lab_log "flood of $N initiations: wg_static +$static, wg_mac2 +$mac2, wg_hs_ratelimit +$rl, cookie replies +$cookies"
lab_log "all drops: $(dp_tel /sixgate/counters | python3 -c 'import json,sys; d=json.load(sys.stdin)["/sixgate/counters"]; print({k: v for k, v in d["drops"].items() if v}, "handshake_rx", d["handshake_rx"], "nic_rx", d["nic_rx"], "initiations_rx", d["initiations_rx"])')"
# Which of the two refuses an initiation depends on whether the flood outran
# the control lcore (this machine is small and shared): then the handshake
# ring fills and the gateway demands cookies (or, at the very top, the ring
# refuses: wg_hs_ring_full).  Either way each initiation of the flood that
# reached the gateway is refused once (c1, which has its session, sends
# none), so N bounds the sum from above; a veth may lose a few of a burst.
# Every wg_mac2 drop is answered by exactly one cookie reply.
sum=$((static + mac2 + full))
lab_check "each initiation of the flood refused once: $((N * 3 / 4)) <= $sum <= $N" \
	test "$sum" -ge $((N * 3 / 4)) -a "$sum" -le "$N"
lab_check "none charged to the source's rate limit (no valid mac2)" test "$rl" -eq 0
lab_check "each wg_mac2 drop of the flood got a cookie reply ($mac2 = $cookies)" \
	test "$cookies" -eq "$mac2"
lab_check "no session came out of the flood" test "$(dp_counter keypairs_alive)" -le 3
dp_finish

# Phase 2: a gateway that wants cookies; a fresh client.
lab_log "restarting sixgate with --under-load"
LAB_FAILS_PHASE1=$LAB_FAILS
DP_GW_ARGS=--under-load dp_gw_start vm1
dp_client_net 2
lab_wg_keys c2
C2=fdaa:0:18:ff00::2
# The running gateway knows c1 only: give c2's handshake to c1's keys instead.
ifc="${LAB}wg2"
lab_wg_start c2 "$ifc"
wg set "$ifc" private-key "$LAB_DIR/c1.key" listen-port 51002 \
	peer "$(cat "$LAB_DIR/gw.pub")" endpoint "[$DP_GW6]:$DP_PORT" allowed-ips fdaa::/16
lab_addr c2 "$ifc" "$DP_C1/128"
lab_exec c2 ip link set "$ifc" mtu 1420 up
lab_exec c2 ip -6 route add fdaa::/16 dev "$ifc"
lab_exec c2 ping -6 -c 1 -W 1 "$DP_VM1" >/dev/null 2>&1
# The first initiation gets a cookie; wireguard-go retries 5 s later with mac2.
lab_check "handshake completes with a cookie" lab_wait_for 20 sh -c \
	"[ \"\$(wg show $ifc latest-handshakes | awk '{print \$2}')\" -gt 0 ]"
cookies=$(dp_counter cookie_replies_tx)
mac2=$(dp_drop wg_mac2)
lab_log "cookie replies sent $cookies, wg_mac2 drops $mac2"
lab_check "a cookie reply was sent" test "$cookies" -ge 1
lab_check "the initiation without mac2 was dropped as wg_mac2" test "$mac2" -ge 1
lab_check "each wg_mac2 drop got its cookie reply ($mac2 = $cookies)" test "$cookies" -eq "$mac2"
lab_check "the session made with the cookie works" lab_exec c2 ping -6 -c 3 -i 0.2 -W 2 "$DP_GW6"
LAB_FAILS=$((LAB_FAILS + LAB_FAILS_PHASE1))
dp_finish
