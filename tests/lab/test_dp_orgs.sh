#!/usr/bin/env bash
# Org isolation: two clients in two orgs, each with a VM in its org.  Each
# client reaches its own VM; pings to the other org's VM are refused by the
# gateway, and the org_isolation drop counter moves by exactly the number of
# refused packets.  The same holds for a VM that tries the other org's client.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dporgs

VM2=$DP_VM2
C2=$DP_C2

dp_two_orgs_conf
dp_two_orgs_start

lab_check "c1 reaches vm1 (org 1)" lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1"
lab_check "c2 reaches vm2 (org 2)" lab_wait_for 30 lab_exec c2 ping -6 -c1 -W2 "$VM2"

before=$(dp_drop org_isolation)
lab_check "c1 -> vm2 refused" sh -c "! ip netns exec ${LAB}c1 ping -6 -c 5 -i 0.1 -W 1 $VM2"
lab_check "c2 -> vm1 refused" sh -c "! ip netns exec ${LAB}c2 ping -6 -c 5 -i 0.1 -W 1 $DP_VM1"
lab_check "vm1 -> c2 refused" sh -c "! ip netns exec ${LAB}vm1 ping -6 -c 3 -i 0.1 -W 1 $C2"
sleep 0.5
after=$(dp_drop org_isolation)
lab_log "org_isolation: $before -> $after"
lab_check "org_isolation moved by the 13 refused packets" test $((after - before)) -eq 13

lab_check "c1 still reaches vm1" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 "$DP_VM1"
lab_check "vm2 still reaches c2" lab_exec vm2 ping -6 -c 3 -i 0.1 -W 2 "$C2"

dp_finish
