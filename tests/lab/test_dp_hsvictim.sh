#!/usr/bin/env bash
# One tenant must not keep another from its handshake.  The gateway's public
# key is in every client's configuration, so anyone can compute mac1: a host
# on the victim's /64 floods junk initiations with valid mac1 (about 2,000 a
# second) while the victim, a real wireguard-go client, makes its first
# handshake.  The victim's session must come up within the normal retry time
# (its first initiation, or the retry 5 s later), and the junk must be
# refused and counted, never charged to the /64 the victim shares.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dphsv

# c1 (fd00:1::11) is the victim; c2 (fd00:1::12, the same /64) the attacker.
dp_basic_gw
dp_client_net 2

rl0=$(dp_drop wg_hs_ratelimit)
# 2,000 a second for 25 s from the victim's /64.
lab_spawn flood c2 timeout 60 python3 "$DP_ROOT/tests/lab/dp_hsflood.py" \
	"$(cat "$LAB_DIR/gw.pub")" "$DP_GW6" "$DP_PORT" 50000 2000
floodpid=$LAB_LAST_PID
sleep 3
start=$(date +%s)
dp_client_start 1 "$DP_C1"
lab_check "the victim's handshake completes within the retry time" \
	lab_wait_for 12 lab_exec c1 ping -6 -c1 -W1 "$DP_VM1"
lab_log "the victim's tunnel was up after $(($(date +%s) - start)) s"
lab_check "the victim's traffic passes during the flood" \
	lab_exec c1 ping -6 -c 20 -i 0.1 -W 2 "$DP_VM1"
lab_check "the flood was still running" kill -0 "$floodpid"
wait "$floodpid" 2>/dev/null
lab_forget_pid "$floodpid"
lab_log "drops: $(dp_tel /sixgate/counters | python3 -c 'import json,sys; d=json.load(sys.stdin)["/sixgate/counters"]; print({k: v for k, v in d["drops"].items() if v})')"
lab_check "the junk was refused and counted (wg_static or wg_mac2)" \
	test $(($(dp_drop wg_static) + $(dp_drop wg_mac2))) -ge 10000
lab_check "none of it charged to the shared /64's rate limit" \
	test "$(($(dp_drop wg_hs_ratelimit) - rl0))" -eq 0
dp_finish
