#!/usr/bin/env bash
# One tenant must not starve another of buffers.  A VM of org 1 sends to 72
# offline peers of its org (they have endpoints and never answer), 150
# datagrams each, so the gateway stages what it can for each of them.  A VM of
# org 2 on the same worker keeps talking to its client meanwhile: not one of
# its pings may be lost.  The attacker's packets are refused once its own
# buffers are at their reserve (staged_vm_limit), and what was staged is
# dropped 10 s later (staged_timeout), however often new packets come.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpten

OFFLINE=72
# One worker: both VMs share it.
DP_LCORES=1
dp_two_orgs_conf
for n in $(seq 1 $OFFLINE); do
	lab_wg_keys "off$n"
	dp_conf_peer "off$n" "$(cat "$LAB_DIR/off$n.pub")" "fdaa:0:18:ff01::$(printf %x "$n")/128" \
		"$DP_ORG1" "[fd00:1::99]:$((40000 + n))"
done
dp_two_orgs_start
lab_check "c1 reaches vm1" lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1"
lab_check "c2 reaches vm2" lab_wait_for 30 lab_exec c2 ping -6 -c1 -W2 "$DP_VM2"
lab_check "vm2 reaches c2" lab_wait_for 30 lab_exec vm2 ping -6 -c1 -W2 "$DP_C2"

staged0=$(dp_counter staged)
limit0=$(dp_drop staged_vm_limit)
timeout0=$(dp_drop staged_timeout)
lab_spawn ping-c2 c2 ping -6 -i 0.05 -c 300 -W 2 "$DP_VM2"
ping1=$LAB_LAST_PID
lab_spawn ping-vm2 vm2 ping -6 -i 0.05 -c 300 -W 2 "$DP_C2"
ping2=$LAB_LAST_PID
sleep 1
sent=$(lab_exec vm1 timeout 60 python3 "$DP_ROOT/tests/lab/dp_offline_flood.py" fdaa:0:18:ff01 "$OFFLINE" 150)
lab_log "vm1 sent $sent datagrams to $OFFLINE offline peers"
wait "$ping1"
rc1=$?
wait "$ping2"
rc2=$?
lab_forget_pid "$ping1"
lab_forget_pid "$ping2"
lab_log "c2 -> vm2: $(grep -E 'transmitted' "$LAB_DIR/ping-c2.log")"
lab_log "vm2 -> c2: $(grep -E 'transmitted' "$LAB_DIR/ping-vm2.log")"
lab_check "the other org's client reached its VM all along" test "$rc1" -eq 0
lab_check "no ping of c2 -> vm2 lost" grep -q " 0% packet loss" "$LAB_DIR/ping-c2.log"
lab_check "the other org's VM reached its client all along" test "$rc2" -eq 0
lab_check "no ping of vm2 -> c2 lost" grep -q " 0% packet loss" "$LAB_DIR/ping-vm2.log"
limit=$(($(dp_drop staged_vm_limit) - limit0))
staged=$(($(dp_counter staged) - staged0))
lab_log "staged $staged, refused at the VM's reserve: $limit"
lab_check "the attacker was refused at its reserve, counted" test "$limit" -gt 0
# What was staged waits 10 s at most, however often more came.
sleep 12
expired=$(($(dp_drop staged_timeout) - timeout0))
lab_log "expired after 10 s: $expired"
lab_check "all that was staged was dropped after 10 s (staged_timeout)" test "$expired" -gt 0 -a "$expired" -eq "$staged"
lab_check "afterwards c2 reaches vm2 with no loss" lab_exec c2 ping -6 -c 20 -i 0.1 -W 2 "$DP_VM2"
lab_check "afterwards vm2 reaches c2 with no loss" lab_exec vm2 ping -6 -c 20 -i 0.1 -W 2 "$DP_C2"
lab_check "and the attacker's own org works again" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"
dp_finish
