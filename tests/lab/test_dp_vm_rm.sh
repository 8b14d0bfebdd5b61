#!/usr/bin/env bash
# A VM removed at run time: vm2 is attached (sixgatectl vm add) and
# reachable; while client c1 pings vm1 every 50 ms, `sixgatectl vm rm vm2`
# detaches it.  vm1's pings lose nothing (120 of 120); vm2's route is gone
# and c1's pings to it are counted as no_route, one each; a second vm rm
# and an unknown name exit 2; `vm add vm2` again reuses the slot and vm2
# answers again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpvmrm

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
dp_basic
VM2_NET=fdaa:0:18:0:a7b:0:2:0/112
VM2=fdaa:0:18:0:a7b:0:2:2

vm2_add() {
	lab_check "sixgatectl vm add vm2 ($1)" "$CTL" -p "$DP_PREFIX" vm add vm2 \
		--socket "$LAB_DIR/vm2.sock" --prefix "$VM2_NET" --org "$DP_ORG1" --mac "$(lab_mac_of vm2)"
	lab_wait_for 10 test -S "$LAB_DIR/vm2.sock" || lab_die "no vhost-user socket for vm2"
	lab_vm_start vm2 vm2 "$LAB_DIR/vm2.sock" "$VM2/112" "$(lab_mac_of vm2)"
	lab_wait_for 30 lab_exec c1 ping -6 -c 1 -W 2 "$VM2" >/dev/null 2>&1
	lab_check "c1 reaches vm2 ($1)" lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$VM2"
}

lab_netns vm2
vm2_add "first attach"

lab_exec c1 ping -6 -i 0.05 -c 120 -W 1 "$DP_VM1" >"$LAB_DIR/ping1.log" 2>&1 &
pinger=$!
sleep 1
lab_check "sixgatectl vm rm vm2 while c1 pings vm1" "$CTL" -p "$DP_PREFIX" vm rm vm2
wait "$pinger"
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping1.log")
lab_log "vm1 answered $got of 120 pings sent across the removal"
lab_check "vm1's pings lost nothing while vm2 was removed" test "${got:-0}" -eq 120

lab_check "the gateway no longer routes vm2's /112" sh -c \
	"echo /sixgate/routes | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q '\"routes\": 1,' &&
	 ! (echo /sixgate/ports | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q vm2)"
before=$(dp_drop no_route)
lab_check "c1 cannot reach vm2 any more" sh -c \
	"! ip netns exec '$(lab_ns c1)' ping -6 -c 5 -i 0.2 -W 1 '$VM2' >/dev/null 2>&1"
after=$(dp_drop no_route)
lab_log "no_route: $before before, $after after 5 pings to vm2"
lab_check "c1's 5 pings to vm2 are counted as no_route" test $((after - before)) -eq 5

"$CTL" -p "$DP_PREFIX" vm rm vm2 2>"$LAB_DIR/e1"
rc=$?
lab_check "vm rm vm2 again exits 2: $(cat "$LAB_DIR/e1")" test "$rc" -eq 2
"$CTL" -p "$DP_PREFIX" vm rm nosuchvm 2>"$LAB_DIR/e2"
rc=$?
lab_check "vm rm of an unknown VM exits 2: $(cat "$LAB_DIR/e2")" test "$rc" -eq 2

# The VM side (virtio_user) does not reconnect by itself: a fresh one.
lab_vm_stop vm2
vm2_add "again, in the slot vm rm left"
lab_check "vm1 still answers" lab_exec c1 ping -6 -c 3 -i 0.2 -W 2 "$DP_VM1"
dp_finish
