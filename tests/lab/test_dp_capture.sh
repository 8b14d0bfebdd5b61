#!/usr/bin/env bash
# Packet capture on a live gateway: sixgate --capture serves rte_pdump, and
# Debian's dpdk-dumpcap attaches to it (a secondary process) and writes pcapng
# of the NIC port and of the VM port with a BPF filter: N pings through the
# tunnel give exactly N WireGuard data packets on the NIC and N echo requests
# on the VM port (capinfos counts them, tshark decodes them).  Without
# --capture no other process can attach (test_dp_memory).  After SIGTERM, no
# hugepage file and no /var/run/dpdk/PREFIX is left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpcap

N=20
free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
if [ "$free" -lt 96 ] || ! mountpoint -q /dev/hugepages; then
	# A secondary process maps the primary's hugepage files: no hugepages, no capture.
	lab_log "SKIP: needs 96 free 2 MB hugepages on /dev/hugepages (has $free)"
	exit 0
fi
# Hugepage files that a secondary can map (no --huge-unlink), bounded memory.
DP_EAL_MEM="--socket-mem 128 --socket-limit 128" DP_GW_ARGS="--capture" dp_basic
lab_check "its hugepage files exist while it runs (for dumpcap to map)" sh -c "ls /dev/hugepages | grep -q '^${DP_PREFIX}map_'"
lab_check "the gateway keeps a multi-process socket for dumpcap" test -S "/var/run/dpdk/$DP_PREFIX/mp_socket"
lab_exec gw dpdk-dumpcap --file-prefix "$DP_PREFIX" -D >"$LAB_DIR/interfaces.txt" 2>&1
lab_log "interfaces: $(grep -E '^[0-9]' "$LAB_DIR/interfaces.txt" | tr '\n' ' ')"
nic=$(awk '/^[0-9]+\. net_af_packet/ {print $2; exit}' "$LAB_DIR/interfaces.txt")
vm=$(awk '/^[0-9]+\. net_vhost/ {print $2; exit}' "$LAB_DIR/interfaces.txt")
lab_check "dumpcap lists the NIC and the VM port" test -n "$nic" -a -n "$vm"

# capture NAME IFACE FILTER: dumpcap in the background until N packets; sets CAP_PID.
capture() {
	lab_spawn "dumpcap-$1" gw stdbuf -oL -eL dpdk-dumpcap --file-prefix "$DP_PREFIX" -i "$2" -p -f "$3" \
		-c "$N" -w "$LAB_DIR/$1.pcapng" -a duration:60
	CAP_PID=$LAB_LAST_PID
	lab_wait_for 20 grep -q "Capturing on" "$LAB_DIR/dumpcap-$1.log" || lab_die "dumpcap $1 did not start"
}
# finish NAME: waits for dumpcap to stop by itself after N packets.
finish() {
	lab_wait_for 30 sh -c "! kill -0 $CAP_PID" || lab_log "dumpcap $1 still running"
	wait "$CAP_PID" 2>/dev/null
	lab_forget_pid "$CAP_PID"
}

capture nic "$nic" "ip6 and udp dst port $DP_PORT"
lab_exec c1 ping -6 -c "$N" -i 0.1 -W 2 "$DP_VM1" >"$LAB_DIR/ping1.txt" 2>&1
finish nic
lab_check "the pings got through while the NIC was captured" grep -q " 0% packet loss" "$LAB_DIR/ping1.txt"
lab_check "NIC capture: a pcapng of exactly $N packets" sh -c \
	"capinfos -t -c '$LAB_DIR/nic.pcapng' | grep -q pcapng && [ \"\$(capinfos -M -c -T '$LAB_DIR/nic.pcapng' | awk 'NR==2 {print \$2}')\" = $N ]"
lab_check "... all WireGuard to the gateway's port, the pings as transport data" sh -c \
	"[ \"\$(tshark -r '$LAB_DIR/nic.pcapng' -Y 'wg && udp.dstport == $DP_PORT' 2>/dev/null | wc -l)\" = $N ] &&
	 [ \"\$(tshark -r '$LAB_DIR/nic.pcapng' -Y 'wg.type == 4' 2>/dev/null | wc -l)\" -ge $((N - 2)) ]"

capture vm "$vm" "icmp6 and ip6[40] == 128"
lab_exec c1 ping -6 -c "$N" -i 0.1 -W 2 "$DP_VM1" >"$LAB_DIR/ping2.txt" 2>&1
finish vm
lab_check "VM capture: exactly $N echo requests toward the VM" sh -c \
	"[ \"\$(tshark -r '$LAB_DIR/vm.pcapng' -Y 'icmpv6.type == 128 && ipv6.dst == $DP_VM1' 2>/dev/null | wc -l)\" = $N ]"
tshark -r "$LAB_DIR/vm.pcapng" 2>/dev/null | head -n 2 | sed 's/^/    /' >&2
lab_check "the gateway keeps running after dumpcap detached" lab_exec c1 ping -6 -c 3 -i 0.1 -W 2 "$DP_VM1"

dp_finish
rc=$?
lab_check "no hugepage file of the gateway left" sh -c "! ls /dev/hugepages 2>/dev/null | grep -q '^$DP_PREFIX'"
lab_check "no /var/run/dpdk/$DP_PREFIX left" test ! -e "/var/run/dpdk/$DP_PREFIX"
[ "$rc" -eq 0 ] && [ "$LAB_FAILS" -eq 0 ]
