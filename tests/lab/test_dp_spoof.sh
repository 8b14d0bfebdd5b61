#!/usr/bin/env bash
# Anti-spoofing both ways: a client that sends with an inner source outside
# its allowed IPs is dropped (inner_src), and so is a VM that sends from an
# address outside its /112 (vm_spoof); each counter moves by the number of
# packets sent, and real traffic keeps flowing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpspoof
dp_basic

BAD_C=fdaa:0:18:ff00::99
BAD_VM=fdaa:0:18:0:a7b:0:2:5
lab_addr c1 "${LAB}wg1" "$BAD_C/128"
lab_addr vm1 "${LAB}vm1" "$BAD_VM/128"

before=$(dp_drop inner_src)
lab_exec c1 ping -6 -c 7 -i 0.1 -W 1 -I "$BAD_C" "$DP_VM1" >/dev/null 2>&1
sleep 0.5
after=$(dp_drop inner_src)
lab_log "inner_src: $before -> $after"
lab_check "client spoofing: inner_src moved by 7" test $((after - before)) -eq 7

before=$(dp_drop vm_spoof)
lab_exec vm1 ping -6 -c 6 -i 0.1 -W 1 -I "$BAD_VM" "$DP_C1" >/dev/null 2>&1
sleep 0.5
after=$(dp_drop vm_spoof)
lab_log "vm_spoof: $before -> $after"
lab_check "VM spoofing: vm_spoof moved by 6" test $((after - before)) -eq 6

lab_check "real traffic still flows" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 -I "$DP_C1" "$DP_VM1"

dp_finish
