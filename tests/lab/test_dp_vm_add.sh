#!/usr/bin/env bash
# A VM attached at run time: while client c1 pings vm1 every 50 ms,
# `sixgatectl vm add vm2` attaches a second vhost-user port with its /112;
# vm2 then answers c1, and vm1's pings lost nothing.  A second vm add with
# the same name or /112 is refused (exit 3).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpvmadd

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
dp_basic
VM2_NET=fdaa:0:18:0:a7b:0:2:0/112
VM2=fdaa:0:18:0:a7b:0:2:2

lab_exec c1 ping -6 -i 0.05 -c 120 -W 1 "$DP_VM1" >"$LAB_DIR/ping1.log" 2>&1 &
pinger=$!
sleep 1
lab_check "sixgatectl vm add vm2" "$CTL" -p "$DP_PREFIX" vm add vm2 --socket "$LAB_DIR/vm2.sock" \
	--prefix "$VM2_NET" --org "$DP_ORG1" --mac "$(lab_mac_of vm2)"
lab_wait_for 10 test -S "$LAB_DIR/vm2.sock" || lab_die "no vhost-user socket for vm2"
lab_netns vm2
lab_vm_start vm2 vm2 "$LAB_DIR/vm2.sock" "$VM2/112" "$(lab_mac_of vm2)"
lab_check "the gateway routes the new /112" sh -c \
	"echo /sixgate/routes | timeout 10 dpdk-telemetry.py -f '$DP_PREFIX' | grep -q vm2"
lab_wait_for 30 lab_exec c1 ping -6 -c 1 -W 2 "$VM2" >/dev/null 2>&1
lab_check "c1 reaches vm2" lab_exec c1 ping -6 -c 5 -i 0.2 -W 2 "$VM2"
wait "$pinger"
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$LAB_DIR/ping1.log")
lab_log "vm1 answered $got of 120 pings sent across the attach"
lab_check "vm1's pings lost nothing while vm2 was attached" test "${got:-0}" -eq 120
"$CTL" -p "$DP_PREFIX" vm add vm2 --socket "$LAB_DIR/vm3.sock" --prefix fdaa:0:18:0:a7b:0:3:0/112 \
	--org "$DP_ORG1" 2>"$LAB_DIR/e1"
rc=$?
lab_check "the same name again exits 3: $(cat "$LAB_DIR/e1")" test "$rc" -eq 3
"$CTL" -p "$DP_PREFIX" vm add vm3 --socket "$LAB_DIR/vm3.sock" --prefix "$VM2_NET" \
	--org "$DP_ORG1" 2>"$LAB_DIR/e2"
rc=$?
lab_check "the same /112 again exits 3: $(cat "$LAB_DIR/e2")" test "$rc" -eq 3
dp_finish
