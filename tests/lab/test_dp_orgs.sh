#!/usr/bin/env bash
# Org isolation: two clients in two orgs, each with a VM in its org.  Each
# client reaches its own VM; pings to the other org's VM are refused by the
# gateway, and the org_isolation drop counter moves by exactly the number of
# refused packets.  The same holds for a VM that tries the other org's client.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dporgs

VM2_NET=fdaa:0:29:0:b00:0:1:0/112
VM2=fdaa:0:29:0:b00:0:1:2
C2=fdaa:0:29:ff00::2

dp_lab_net
dp_client_net 1
dp_client_net 2
lab_wg_keys c1
lab_wg_keys c2
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
dp_conf_vm vm2 "$VM2_NET" "$DP_ORG2" "$(lab_mac_of vm2)"
dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$DP_C1/128" "$DP_ORG1"
dp_conf_peer c2 "$(cat "$LAB_DIR/c2.pub")" "$C2/128" "$DP_ORG2"
dp_gw_start vm1 vm2
lab_netns vm1
lab_netns vm2
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
lab_vm_start vm2 vm2 "$LAB_DIR/vm2.sock" "$VM2/112" "$(lab_mac_of vm2)"
dp_client_start 1 "$DP_C1"
dp_client_start 2 "$C2"

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
