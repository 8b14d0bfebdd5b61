#!/usr/bin/env bash
# Session keys live in DPDK memory: sixgate runs so that no other process can
# map it.  No shared configuration and no multi-process socket (a secondary
# process cannot attach), no hugepage file left behind to map, and telemetry
# still answers.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpmem

dp_lab_net
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
dp_gw_start vm1

run=/var/run/dpdk/$DP_PREFIX
lab_check "no shared configuration in $run" test ! -e "$run/config"
lab_check "no multi-process socket" test ! -e "$run/mp_socket"
lab_check "a secondary process cannot attach" sh -c \
	"! timeout 30 ip netns exec '${LAB}gw' dpdk-proc-info --file-prefix '$DP_PREFIX' --no-pci \
		--log-level=lib.eal:error -- --stats >'$LAB_DIR/proc-info.log' 2>&1"
lab_log "dpdk-proc-info: $(tail -n 2 "$LAB_DIR/proc-info.log" | tr '\n' ' ')"
lab_check "no hugepage file of the gateway" sh -c "! ls /dev/hugepages 2>/dev/null | grep -q '^$DP_PREFIX'"
lab_check "telemetry still answers" test "$(dp_counter workers)" -eq 2
dp_finish
