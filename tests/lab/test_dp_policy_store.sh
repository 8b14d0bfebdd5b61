#!/usr/bin/env bash
# A policy that names a peer of the store only.  Two orgs (c1 and vm1 in
# org 1, c2 and vm2 in org 2, both clients [peer] sections); c3 is in the
# peer store alone (`sixgatectl peer add`, org 1) and the policy grants it
# ICMPv6 to vm2.  `sixgate --check` resolves the name from the store and
# refuses one in neither; the gateway compiles the grant from the store:
# c3's pings to vm2 pass (the grant's two rules count exactly 5 each), c1's
# are refused (org_isolation moves by exactly 5).  `sixgatectl peer set
# --allowed-ips` recompiles the policy once (the new address is granted at
# once, the periodic store check changes nothing more); `sixgatectl peer rm`
# recompiles it to the base rule alone, and a SIGHUP then refuses the name
# with FILE:LINE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dppst
CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
ctl() { "$CTL" -c "$DP_CONF" -p "$DP_PREFIX" "$@"; }

# pol KEY: one field of /sixgate/policy (hits as hits.NAME).
pol() {
	dp_tel /sixgate/policy | python3 -c '
import json, sys
d = json.load(sys.stdin)["/sixgate/policy"]
k = sys.argv[1]
print(d["hits"].get(k[5:], 0) if k.startswith("hits.") else d[k])' "$1"
}

POLICY=$LAB_DIR/lab.policy
printf '# c3, a peer of the store alone (org 1), may ping vm2 (org 2).\n%s\n' \
	"grant icmpv6 from peer c3 to vm vm2" >"$POLICY"
DP_CONF_EXTRA="
[store]
path = $LAB_DIR/peers.db
check_interval_s = 1"
dp_two_orgs_conf
dp_client_net 3
sed -i "s|^mtu = 1420$|mtu = 1420\npolicy_file = $POLICY|" "$DP_CONF"

# c3 goes into the store before the gateway starts (no gateway to notify yet).
DP_PREFIX=none ctl peer add c3 --org "$DP_ORG1" >"$LAB_DIR/c3.wg" 2>"$LAB_DIR/ctl.err" ||
	lab_die "peer add failed: $(cat "$LAB_DIR/ctl.err")"
addr=$(sed -n 's/^Address = //p' "$LAB_DIR/c3.wg")
lab_check "c3's address in org 1: $addr" test "$addr" = "fdaa:0:18:ff00::2/128"

# (The printed config routes c3's org through the tunnel; c3 also needs org 2's vm2.)
# --check resolves the store's name, and refuses a name in neither.
lab_check "sixgate --check accepts the store's c3" "$DP_SIXGATE" --check --config "$DP_CONF"
cp "$DP_CONF" "$LAB_DIR/bad.conf"
printf 'grant icmpv6 from peer c3 to vm vm2\nallow from peer nobody to any\n' \
	>"$LAB_DIR/bad.policy"
sed -i "s|^policy_file = .*|policy_file = $LAB_DIR/bad.policy|" "$LAB_DIR/bad.conf"
out=$("$DP_SIXGATE" --check --config "$LAB_DIR/bad.conf" 2>&1)
rc=$?
lab_log "--check of a policy naming nobody: exit $rc: $out"
lab_check "--check refuses a name in neither, exit 1" test "$rc" -eq 1
lab_check "with FILE:LINE and the reason" grep -qF \
	"$LAB_DIR/bad.policy:2: no peer 'nobody' (neither in the config nor in the store)" \
	<<<"$out"

dp_two_orgs_start
grep -v -E '^(Address|DNS|MTU|Table|PreUp|PostUp|PreDown|PostDown|SaveConfig) *=' \
	"$LAB_DIR/c3.wg" | sed 's|^AllowedIPs = .*|AllowedIPs = fdaa::/16|' >"$LAB_DIR/c3.setconf"
ifc="${LAB}wg3"
lab_wg_start c3 "$ifc"
wg setconf "$ifc" "$LAB_DIR/c3.setconf" || lab_die "wg setconf refused the config"
lab_addr c3 "$ifc" "$addr"
lab_exec c3 ip link set "$ifc" mtu 1420 up
lab_exec c3 ip -6 route add fdaa::/16 dev "$ifc"

lab_check "c1 reaches vm1 (org 1)" lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1"
lab_check "3 rules: the grant, its replies, the base rule" test "$(pol rules)" -eq 3
lab_check "one name resolved by the store" test "$(pol store_names)" -eq 1
lab_check "c3 (store only) reaches vm2 through the grant" \
	lab_wait_for 30 lab_exec c3 ping -6 -c1 -W2 "$DP_VM2"

req=$(pol hits.rule_0_line_2)
rep=$(pol hits.rule_1_line_2)
iso=$(dp_drop org_isolation)
lab_check "c3 -> vm2: 5 of 5 answered" lab_exec c3 ping -6 -c 5 -i 0.2 -W 2 "$DP_VM2"
sleep 0.5
lab_check "the grant counted exactly the 5 requests" \
	test $(($(pol hits.rule_0_line_2) - req)) -eq 5
lab_check "its replies rule exactly the 5 replies" test $(($(pol hits.rule_1_line_2) - rep)) -eq 5
lab_check "no org_isolation drop for them" test "$(dp_drop org_isolation)" -eq "$iso"
lab_check "c3 -> vm1 (its own org, the base rule)" lab_exec c3 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"
lab_check "c1 -> vm2 refused (not granted)" \
	sh -c "! ip netns exec ${LAB}c1 ping -6 -c 5 -i 0.2 -W 1 $DP_VM2"
sleep 0.5
lab_check "org_isolation moved by exactly the 5 refused pings" \
	test $(($(dp_drop org_isolation) - iso)) -eq 5
lab_check "the grant's hits did not move for them" \
	test $(($(pol hits.rule_0_line_2) - req)) -eq 5

# A second address for c3 in the store: the policy is recompiled once.
lab_addr c3 "$ifc" fdaa:0:18:ff00::99/128
rec=$(pol store_recompiles)
lab_check "sixgatectl peer set c3 --allowed-ips (+ ::99)" ctl peer set c3 \
	--allowed-ips "${addr},fdaa:0:18:ff00::99/128"
lab_check "the policy is recompiled after the store change" lab_wait_for 20 \
	sh -c "test \$(grep -c 'policy recompiled after a store change' $LAB_DIR/sixgate.log) -eq 1"
lab_check "5 rules now (c3's two prefixes, both ways, the base rule)" test "$(pol rules)" -eq 5
req=$(pol hits.rule_1_line_2)
rep=$(pol hits.rule_3_line_2)
lab_check "c3 -> vm2 from ::99 granted at once: 3 of 3" lab_exec c3 ping -6 -c 3 -i 0.2 -W 2 \
	-I fdaa:0:18:ff00::99 "$DP_VM2"
sleep 0.5
lab_check "the ::99 grant rule counted exactly 3" test $(($(pol hits.rule_1_line_2) - req)) -eq 3
lab_check "its replies rule exactly 3" test $(($(pol hits.rule_3_line_2) - rep)) -eq 3
sleep 2.5 # the store's periodic check (1 s) sees the same change: nothing more to do
lab_check "exactly one recompile for the change" test $(($(pol store_recompiles) - rec)) -eq 1
lab_check "and no file reload" test "$(pol reloads)" -eq 0

# c3 leaves the store: its rules match nothing, and the next reload refuses the name.
lab_check "sixgatectl peer rm c3" ctl peer rm c3
lab_check "the policy is recompiled to the base rule alone" lab_wait_for 20 \
	sh -c "test \$(grep -c 'policy recompiled after a store change' $LAB_DIR/sixgate.log) -eq 2"
lab_check "1 rule now" test "$(pol rules)" -eq 1
lab_check "the log says c3 left the store" grep -qF \
	"$POLICY:2: peer 'c3' is no longer in the store" "$LAB_DIR/sixgate.log"
kill -HUP "$DP_GW_PID"
lab_check "a SIGHUP refuses the name with FILE:LINE" lab_wait_for 20 grep -qF \
	"policy reload refused, the running policy stays: $POLICY:2: no peer 'c3' (neither in the config nor in the store)" \
	"$LAB_DIR/sixgate.log"
lab_check "reload_failures is 1" test "$(pol reload_failures)" -eq 1
lab_check "still 1 rule" test "$(pol rules)" -eq 1
lab_check "c1 -> vm1 still flows" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"

dp_finish
