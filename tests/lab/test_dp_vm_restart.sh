#!/usr/bin/env bash
# A VM that stops and starts again reconnects to its vhost-user socket while
# sixgate keeps running: traffic stops while the VM is away and flows again
# once it is back, with the same gateway process and session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpvmrs
dp_basic

lab_check "ping before the restart" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 "$DP_VM1"
lab_vm_stop vm1
lab_check "no answer while the VM is away" sh -c "! ip netns exec ${LAB}c1 ping -6 -c 2 -W 1 $DP_VM1"
for round in 1 2; do
	lab_vm_restart vm1
	lab_check "ping after restart $round" lab_wait_for 20 lab_exec c1 ping -6 -c1 -W1 "$DP_VM1"
	lab_check "VM -> client after restart $round" lab_exec vm1 ping -6 -c 3 -i 0.1 -W 2 "$DP_C1"
done
lab_check "the same sixgate process all along" kill -0 "$DP_GW_PID"
lab_check "link reported up by telemetry" sh -c "echo /sixgate/routes | timeout 10 dpdk-telemetry.py -f $DP_PREFIX | grep -q '\"link_up\": 1'"

dp_finish
