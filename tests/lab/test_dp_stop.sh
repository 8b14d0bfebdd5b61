#!/usr/bin/env bash
# Graceful stop under load: a ping flood from a wireguard-go client to the VM
# and the VM's pings to a peer that has no session (staged), then SIGTERM.
# sixgate refuses new handshakes, drains, logs a final counter summary that
# adds up (received + made = sent + dropped + consumed + in flight), frees its
# EAL memory and exits 0 within the bound, leaving no hugepage file and no
# /var/run/dpdk/PREFIX.  Then a second gateway: a second SIGTERM during a
# long drain ends it at once.  And `sixgate --version`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpstop

C2=fdaa:0:18:ff00::2
lab_check "--version names sixgate, DPDK, libsodium and ipsec-mb's code path" sh -c \
	"'$DP_SIXGATE' --version >'$LAB_DIR/version.txt' && grep -q '^sixgate ' '$LAB_DIR/version.txt' &&
	 grep -q '^DPDK: DPDK 22' '$LAB_DIR/version.txt' && grep -q '^libsodium: 1' '$LAB_DIR/version.txt' &&
	 grep -Eq '^Intel ipsec-mb: [0-9.]+, (sse|avx|avx2|avx512):' '$LAB_DIR/version.txt'"
lab_log "$(tr '\n' ';' <"$LAB_DIR/version.txt")"

dp_lab_net
dp_client_net 1
lab_wg_keys c1
lab_wg_keys c2
dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$DP_C1/128" "$DP_ORG1"
# c2 has an endpoint where nobody answers: what the VM sends it stays staged.
dp_conf_peer c2 "$(cat "$LAB_DIR/c2.pub")" "$C2/128" "$DP_ORG1" "[fd00:1::12]:51002"
dp_gw_start vm1
lab_netns vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
dp_client_start 1 "$DP_C1"
lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM"

# Load: a flood through the tunnel, and packets staged for c2.
lab_spawn flood c1 ping -6 -f -s 400 -w 60 "$DP_VM1"
flood=$LAB_LAST_PID
lab_spawn staged vm1 ping -6 -i 0.2 -w 60 "$C2"
staged=$LAB_LAST_PID
sleep 3
dec=$(dp_counter decrypted)
lab_log "under load: $dec packets decrypted, $(dp_counter staged) staged"
lab_check "traffic flows before the stop" test "$dec" -gt 100

t0=$(date +%s%N)
kill -TERM "$DP_GW_PID"
for _ in $(seq 1 300); do
	kill -0 "$DP_GW_PID" 2>/dev/null || break
	sleep 0.05
done
wait "$DP_GW_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
lab_forget_pid "$DP_GW_PID"
lab_log "sixgate exited $rc, $ms ms after SIGTERM"
lab_check "exit status 0 after SIGTERM under load" test "$rc" -eq 0
# The bound: the drain (1 s by default) plus freeing the ports; generous for a loaded machine.
lab_check "stopped within 12 s (drain 1 s)" test "$ms" -lt 12000
lab_check "new handshakes refused while stopping" grep -q "stopping: handshakes refused" "$LAB_DIR/sixgate.log"
grep -E "final (counters|drops)" "$LAB_DIR/sixgate.log" | sed 's/^/    /' >&2
lab_check "the summary adds up: received + made = sent + dropped + consumed + in flight" \
	python3 - "$LAB_DIR/sixgate.log" <<'PY'
import re, sys
line = [l for l in open(sys.argv[1]) if "final counters:" in l][-1]
v = {k: int(n) for k, n in re.findall(r"(\w+)=(\d+)", line)}
drops = [l for l in open(sys.argv[1]) if "final drops:" in l][-1]
by_reason = sum(int(n) for n in re.findall(r"=(\d+)", drops))
ok = (v["received"] + v["made"] == v["sent"] + v["dropped"] + v["consumed"] + v["in_flight"]
      and "adds up" in line and by_reason == v["dropped"] and v["received"] > 100
      and v["in_flight"] > 0)  # c2's staged packets were never sent
sys.exit(0 if ok else 1)
PY
lab_check "no hugepage file of the gateway left" sh -c "! ls /dev/hugepages 2>/dev/null | grep -q '^$DP_PREFIX'"
lab_check "no /var/run/dpdk/$DP_PREFIX left" test ! -e "/var/run/dpdk/$DP_PREFIX"
lab_check "no sanitizer report from sixgate" \
	sh -c "! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' '$LAB_DIR/sixgate.log'"
lab_stop "$flood"
lab_stop "$staged"
lab_vm_stop vm1

# A second SIGTERM while a long drain waits for c2's staged packets: at once.
mv "$LAB_DIR/sixgate.log" "$LAB_DIR/sixgate-1.log"
DP_GW_ARGS="--drain-ms 60000" dp_gw_start vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
lab_wait_for 30 lab_exec vm1 sh -c "ping -6 -c1 -W1 $C2; true" || true
lab_exec vm1 ping -6 -c 3 -i 0.2 -W 1 "$C2" >/dev/null 2>&1
lab_check "packets staged for c2" test "$(dp_counter staged)" -gt 0
kill -TERM "$DP_GW_PID"
lab_wait_for 10 grep -q "stopping: handshakes refused" "$LAB_DIR/sixgate.log"
sleep 0.5
lab_check "still draining after the first SIGTERM" kill -0 "$DP_GW_PID"
t0=$(date +%s%N)
kill -TERM "$DP_GW_PID"
wait "$DP_GW_PID"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
lab_forget_pid "$DP_GW_PID"
lab_log "second SIGTERM: exit $rc after $ms ms"
lab_check "a second SIGTERM exits at once (status 143)" test "$rc" -eq 143
lab_check "... within 2 s" test "$ms" -lt 2000
rm -rf "/var/run/dpdk/$DP_PREFIX"
[ "$LAB_FAILS" -eq 0 ]
