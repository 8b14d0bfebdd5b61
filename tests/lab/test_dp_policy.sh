#!/usr/bin/env bash
# The policy file in the lab: two orgs (c1 and vm1 in org 1, c2 and vm2 in
# org 2) and a grant of ICMPv6 from c1 to vm2.  What the grant allows passes,
# the rest does not, and the counters move by exactly what was sent: the
# grant's two rules (requests and replies) in /sixgate/policy, org_isolation
# for the refused pings.  A SIGHUP with the grant removed stops c1's pings to
# vm2; a bad file on SIGHUP is refused with its line and traffic keeps
# flowing; reloads that keep the grant lose no ping; /sixgate/policy_reload
# brings the grant back; a TCP transfer runs on whole across five reloads that
# keep its grant (SIGHUP and `sixgatectl policy reload`), not one segment
# refused; sixgatectl shows the policy and refuses a bad file (exit 4); a
# SIGHUP without the grant stops a running TCP transfer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dppol
CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
ctl() { "$CTL" -c "$DP_CONF" -p "$DP_PREFIX" "$@"; }

POLICY=$LAB_DIR/lab.policy
grant_policy() {
	cat >"$POLICY" <<EOF
# c1 (org 1) may ping vm2 (org 2); the grant lets the echo replies back.
grant icmpv6 from peer c1 to vm vm2
# and reach its iperf3 port.
grant tcp from peer c1 to vm vm2 port 5201
EOF
}

# pol KEY: one field of /sixgate/policy (hits as hits.NAME).
pol() {
	dp_tel /sixgate/policy | python3 -c '
import json, sys
d = json.load(sys.stdin)["/sixgate/policy"]
k = sys.argv[1]
print(d["hits"].get(k[5:], 0) if k.startswith("hits.") else d[k])' "$1"
}

grant_policy
dp_two_orgs_conf
sed -i "s|^mtu = 1420$|mtu = 1420\npolicy_file = $POLICY|" "$DP_CONF"
dp_two_orgs_start

lab_check "c1 reaches vm1 (org 1)" lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1"
lab_check "c2 reaches vm2 (org 2)" lab_wait_for 30 lab_exec c2 ping -6 -c1 -W2 "$DP_VM2"
lab_check "the policy is the file" test "$(pol file)" = "$POLICY"
lab_check "5 rules: two grants, their replies, the base rule" test "$(pol rules)" -eq 5

# Granted: c1's pings to vm2 pass, and each rule counts exactly 5.
req=$(pol hits.rule_0_line_2)
rep=$(pol hits.rule_1_line_2)
iso=$(dp_drop org_isolation)
lab_check "c1 -> vm2 granted: 5 of 5 answered" lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$DP_VM2"
sleep 0.5
lab_check "the grant counted the 5 requests" test $(($(pol hits.rule_0_line_2) - req)) -eq 5
lab_check "its replies rule counted the 5 replies" test $(($(pol hits.rule_1_line_2) - rep)) -eq 5
lab_check "no org_isolation drop for them" test "$(dp_drop org_isolation)" -eq "$iso"

# Reloads that keep the grant lose nothing: 5 SIGHUPs during 40 pings.
lab_spawn pings c1 ping -6 -c 40 -i 0.05 -W 2 "$DP_VM2"
pings=$LAB_LAST_PID
for _ in 1 2 3 4 5; do
	sleep 0.3
	kill -HUP "$DP_GW_PID"
done
wait "$pings"
prc=$?
lab_forget_pid "$pings"
lab_log "$(tail -n 2 "$LAB_DIR/pings.log" | head -n 1)"
lab_check "40 of 40 pings answered across 5 reloads" test "$prc" -eq 0
lab_check "the 5 reloads happened" lab_wait_for 20 \
	sh -c "test \$(grep -c 'policy reloaded' $LAB_DIR/sixgate.log) -eq 5"
lab_check "no org_isolation drop during them" test "$(dp_drop org_isolation)" -eq "$iso"

# Not granted: c2 to vm1, refused under org_isolation, exactly 5.
lab_check "c2 -> vm1 refused" sh -c "! ip netns exec ${LAB}c2 ping -6 -c 5 -i 0.2 -W 1 $DP_VM1"
sleep 0.5
lab_check "org_isolation moved by the 5 refused pings" \
	test $(($(dp_drop org_isolation) - iso)) -eq 5

# The grant removed, on SIGHUP: c1's pings to vm2 stop.
echo "# no grant" >"$POLICY"
kill -HUP "$DP_GW_PID"
lab_check "SIGHUP reloaded the policy" lab_wait_for 20 \
	sh -c "test \$(grep -c 'policy reloaded' $LAB_DIR/sixgate.log) -eq 6"
lab_check "1 rule now (the base rule)" test "$(pol rules)" -eq 1
iso=$(dp_drop org_isolation)
lab_check "c1 -> vm2 refused now" sh -c "! ip netns exec ${LAB}c1 ping -6 -c 5 -i 0.2 -W 1 $DP_VM2"
sleep 0.5
lab_check "org_isolation moved by the 5 pings" test $(($(dp_drop org_isolation) - iso)) -eq 5

# A bad file on SIGHUP: refused with its line, the running policy stays.
printf 'grant icmpv6 from peer c1 to vm vm2\nallow from peer nobody to any\n' >"$POLICY"
kill -HUP "$DP_GW_PID"
lab_check "the bad file is refused with FILE:LINE" lab_wait_for 20 \
	grep -q "policy reload refused, the running policy stays: $POLICY:2: no peer 'nobody'" \
	"$LAB_DIR/sixgate.log"
lab_check "reload_failures is 1" test "$(pol reload_failures)" -eq 1
lab_check "still 1 rule" test "$(pol rules)" -eq 1
lab_check "traffic still flows: c1 -> vm1 5 of 5" lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$DP_VM1"
lab_check "and c1 -> vm2 is still refused" \
	sh -c "! ip netns exec ${LAB}c1 ping -6 -c 2 -i 0.2 -W 1 $DP_VM2"

# The grant back, through the telemetry command.
grant_policy
out=$(dp_tel /sixgate/policy_reload)
lab_log "policy_reload: $out"
lab_check "/sixgate/policy_reload loaded it" grep -q '"ok": 1' <<<"$out"
lab_check "c1 -> vm2 granted again" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM2"

# A TCP transfer across five reloads that keep its grant (3 SIGHUPs, 2 through
# sixgatectl): it completes, and no segment of it or its ACKs is refused.  Each
# reload is waited for (the policy's reload counter), so that all five happen
# while the transfer runs, however slow the machine; the grant's hits count
# from the last reload (each policy has counters of its own).
lab_spawn iperf3-keep-server vm2 iperf3 -s -1 -B "$DP_VM2"
lab_wait_for 5 lab_exec vm2 sh -c "ss -ltn | grep -q ':5201'"
iso=$(dp_drop org_isolation)
deny=$(dp_drop policy_deny)
reloads=$(pol reloads)
lab_spawn iperf3-keep c1 timeout 60 iperf3 -c "$DP_VM2" -t 20 -b 20M -f m
keep=$LAB_LAST_PID
sleep 1.5
t0=$(date +%s%N)
# reloaded_since N: the policy was reloaded at least N times since $reloads.
reloaded_since() { test "$(pol reloads)" -ge $((reloads + $1)); }
for k in 1 2 3; do
	kill -HUP "$DP_GW_PID"
	lab_check "SIGHUP $k during the transfer reloaded the policy" lab_wait_for 20 reloaded_since $k
	sleep 0.5
done
lab_check "sixgatectl policy reload during the transfer" sh -c "'$CTL' -c '$DP_CONF' -p '$DP_PREFIX' policy reload | grep -q '^policy reloaded: $POLICY: 5 rules compiled in'"
sleep 0.5
lab_check "sixgatectl policy reload again" ctl policy reload
lab_log "the 5 reloads took $((($(date +%s%N) - t0) / 1000000)) ms"
lab_check "the transfer still runs after the 5 reloads" kill -0 "$keep"
lab_check "the 5 reloads happened" test $(($(pol reloads) - reloads)) -eq 5
sleep 1
lab_check "its segments go through the grant since the last reload" \
	test "$(pol hits.rule_2_line_4)" -gt 100
lab_check "sixgatectl --json policy gives the grant's hits" \
	sh -c "'$CTL' -c '$DP_CONF' -p '$DP_PREFIX' --json policy | grep -q '\"rule_2_line_4\"'"
wait "$keep"
krc=$?
lab_forget_pid "$keep"
lab_log "iperf3: exit $krc: $(grep -E 'sender|receiver|error' "$LAB_DIR/iperf3-keep.log" | tr '\n' ' ')"
lab_check "the transfer completed across the reloads" test "$krc" -eq 0
lab_check "no org_isolation drop during the reloads" test "$(dp_drop org_isolation)" -eq "$iso"
lab_check "no policy_deny drop during the reloads" test "$(dp_drop policy_deny)" -eq "$deny"
lab_check "sixgatectl policy shows the file and its rules" \
	sh -c "'$CTL' -c '$DP_CONF' -p '$DP_PREFIX' policy | grep -qx 'rules: 5'"
printf 'grant tcp from peer c1 to vm vm2 port 99999\n' >"$POLICY"
ctl policy reload 2>"$LAB_DIR/ctl.err"
crc=$?
lab_log "sixgatectl policy reload (bad file): exit $crc: $(cat "$LAB_DIR/ctl.err")"
lab_check "sixgatectl refuses a bad file with exit 4" test "$crc" -eq 4
lab_check "and names its line" grep -q "$POLICY:1:" "$LAB_DIR/ctl.err"
lab_check "the running policy stays (5 rules)" test "$(pol rules)" -eq 5
grant_policy

# A TCP transfer through the grant; a SIGHUP without it stops the transfer.
lab_spawn iperf3-server vm2 iperf3 -s -1 -B "$DP_VM2"
lab_wait_for 5 lab_exec vm2 sh -c "ss -ltn | grep -q ':5201'"
lab_spawn iperf3 c1 timeout 25 iperf3 -c "$DP_VM2" -t 15 -f m
xfer=$LAB_LAST_PID
sleep 4
lab_check "the TCP transfer runs through the grant" test "$(pol hits.rule_2_line_4)" -gt 100
iso=$(dp_drop org_isolation)
echo "# no grant" >"$POLICY"
kill -HUP "$DP_GW_PID"
sleep 3
lab_check "after the reload its segments are refused" test "$(dp_drop org_isolation)" -gt "$iso"
wait "$xfer"
xrc=$?
lab_forget_pid "$xfer"
lab_log "iperf3 exit status $xrc: $(grep -E 'sender|receiver|error' "$LAB_DIR/iperf3.log" | tr '\n' ' ')"
lab_check "the transfer did not complete" test "$xrc" -ne 0

dp_finish
