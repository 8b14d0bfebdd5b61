#!/usr/bin/env bash
# Handshake defences on the control lcore.
# 1. A flood of initiations with valid mac1 from one source is cut by the
#    per-source rate limit (wg_hs_ratelimit), and a real client still gets its
#    session and its traffic through meanwhile.
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
cookies0=$(dp_counter cookie_replies_tx)
lab_exec c1 timeout 30 python3 "$DP_ROOT/tests/lab/dp_hsflood.py" "$(cat "$LAB_DIR/gw.pub")" \
	"$DP_GW6" "$DP_PORT" "$N" &
flood=$!
lab_check "traffic flows during the flood" lab_exec c1 ping -6 -c 10 -i 0.05 -W 2 "$DP_VM1"
wait "$flood"
sleep 0.5
rl=$(($(dp_drop wg_hs_ratelimit) - rl0))
mac2=$(($(dp_drop wg_mac2) - mac2_0))
cookies=$(($(dp_counter cookie_replies_tx) - cookies0))
lab_log "flood of $N initiations: wg_hs_ratelimit +$rl, wg_mac2 +$mac2, cookie replies +$cookies, wg_handshake $(dp_drop wg_handshake)"
lab_log "all drops: $(dp_tel /sixgate/counters | python3 -c 'import json,sys; d=json.load(sys.stdin)["/sixgate/counters"]; print({k: v for k, v in d["drops"].items() if v}, "handshake_rx", d["handshake_rx"], "nic_rx", d["nic_rx"], "initiations_rx", d["initiations_rx"])')"
# 5 in the first burst, then 20 per second: nearly all of a fast flood is cut
# by the rate limit.  When the flood outruns the control lcore (this machine
# is small and shared), the handshake ring fills and the gateway goes under
# load: then it demands cookies first (wg_mac2, with cookie replies), which
# cuts the flood before the rate limit even sees it.  Either way each
# initiation of the flood is cut at most once (and c1, which already has its
# session, sends none meanwhile), so N bounds the sum from above too.  Which
# of the two cut it is up to the machine, but every wg_mac2 drop is answered
# by exactly one cookie reply.  Phase 2 is the one that guarantees cookies.
lab_check "the flood was cut (rate limit or cookies): $((N * 3 / 4)) <= $((rl + mac2)) <= $N" \
	test $((rl + mac2)) -ge $((N * 3 / 4)) -a $((rl + mac2)) -le "$N"
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
