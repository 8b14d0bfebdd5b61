#!/usr/bin/env bash
# A failover pair (docs/fleet.md): two sixgate processes, A (node 1) and B
# (node 2), share the gateway's address fd00:1::1 on one switch and a state
# channel on a link of their own (fd00:2::/64).  One VM has a NIC on each
# (two vhost-user ports bridged in the VM's kernel).  A wireguard-go client
# sends a TCP transfer to the VM through the active member; the test kills
# the active with SIGKILL, the standby takes over (same keys and indices,
# counters above every lease, an unsolicited neighbour advertisement), the
# killed one is started again and becomes the standby; FLEET_FAILOVERS times
# (default 10), back and forth.  Then:
#  - the transfer completed, SHA-256 equal, with no receive gap over a second;
#  - the client sent one handshake initiation in all (a capture on its link);
#  - no (receiver index, counter) pair of the gateways' data packets appears
#    twice in that capture, over the whole run;
#  - every takeover installed the client's session, and each failover's gap
#    (the longest silence of the gateways toward the client) is printed;
#  - a split brain (the state channel cut, both active) still repeats no
#    nonce, and when the channel heals the lower node id yields.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init flfo

FAILOVERS=${FLEET_FAILOVERS:-10}
declare -A GW_PID GW_PREFIX GW_RUN
MAC_VM=$(lab_mac_of vm1)

# --- the network ---
lab_netns sw
lab_exec sw ip link add br0 type bridge
lab_exec sw ip link set br0 up
lab_exec sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
	net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null
for m in a b; do
	lab_netns "g$m"
	lab_veth sw "${LAB}s$m" "g$m" "${LAB}g$m" 2
	lab_exec sw ip link set "${LAB}s$m" master br0
	lab_exec "g$m" sysctl -qw "net.ipv6.conf.${LAB}g$m.disable_ipv6=1"
	lab_exec "g$m" ip link set "${LAB}g$m" arp off
done
# The state channel's own link, kernel to kernel.
lab_veth ga "${LAB}ma" gb "${LAB}mb"
# Addresses stay while the link is down (the split brain below cuts it).
lab_exec ga sysctl -qw "net.ipv6.conf.${LAB}ma.keep_addr_on_down=1"
lab_exec gb sysctl -qw "net.ipv6.conf.${LAB}mb.keep_addr_on_down=1"
lab_addr ga "${LAB}ma" fd00:2::1/64
lab_addr gb "${LAB}mb" fd00:2::2/64
dp_client_net 1
lab_wg_keys c1
lab_wg_keys gw
(umask 077 && wg genkey >"$LAB_DIR/fleet.key")

# The VM: one kernel, a bridge with its address, a NIC toward each member.
lab_netns vm1
lab_exec vm1 sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
lab_exec vm1 ip link add brvm address "$MAC_VM" type bridge stp_state 0 forward_delay 0
lab_exec vm1 sysctl -qw net.ipv6.conf.brvm.accept_dad=0 net.ipv6.conf.brvm.accept_ra=0
lab_exec vm1 ip link set brvm mtu 1500 up
lab_addr vm1 brvm "$DP_VM1/112"
lab_exec vm1 ip -6 neigh replace "$LAB_VM_GW_LL" lladdr "$LAB_VM_GW_MAC" dev brvm nud permanent
lab_exec vm1 ip -6 route replace default via "$LAB_VM_GW_LL" dev brvm

# conf M NODE PARTNER MYADDR PARTNERADDR: member M's configuration.
conf() {
	local m=$1 node=$2 partner=$3 me=$4 other=$5
	cat >"$LAB_DIR/$m.conf" <<EOF
[interface]
private_key_file = $LAB_DIR/gw.key
listen_port = $DP_PORT
address6 = $DP_GW6
address4 = $DP_GW4
mtu = 1420

[nic]
device = net_af_packet0,iface=${LAB}g$m
rx_queues = 1
tx_queues = 2

[workers]
lcores = 1

[metrics]
listen = off

[vm vm1]
socket = $LAB_DIR/vm1-$m.sock
prefix = $DP_VM1_NET
network = $DP_ORG1
mac = $MAC_VM

[peer c1]
public_key = $(cat "$LAB_DIR/c1.pub")
allowed_ips = $DP_C1/128
network = $DP_ORG1

[fleet]
node_id = $node
partner_id = $partner
secret_file = $LAB_DIR/fleet.key
listen = [$me]:7010
partner = [$other]:7010
EOF
}
conf a 1 2 fd00:2::1 fd00:2::2
conf b 2 1 fd00:2::2 fd00:2::1

# gw_start M: starts member M (its Nth run logs to sixgate-M-N.log) and the
# VM's bridge to its vhost-user port.
gw_start() {
	local m=$1 n=$((${GW_RUN[$1]:-0} + 1)) mem
	GW_RUN[$m]=$n
	lab_dpdk_prefix "g$m-$n" >/dev/null
	GW_PREFIX[$m]="${LAB}-g$m-$n"
	mem=$(lab_eal_mem 64 256)
	rm -f "$LAB_DIR/vm1-$m.sock"
	# shellcheck disable=SC2086
	lab_spawn "sixgate-$m-$n" "g$m" "$DP_SIXGATE" --file-prefix "${GW_PREFIX[$m]}" --no-pci $mem \
		--lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
		-- --config "$LAB_DIR/$m.conf" --idle-sleep-us 20 --status-interval 5
	GW_PID[$m]=$LAB_LAST_PID
	lab_wait_for 30 test -S "$LAB_DIR/vm1-$m.sock" || lab_die "member $m did not create its VM socket"
	lab_wait_for 20 grep -q "sixgate running" "$LAB_DIR/sixgate-$m-$n.log" ||
		lab_die "member $m did not start"
	lab_vm_stop "v$m"
	lab_vm_start "v$m" vm1 "$LAB_DIR/vm1-$m.sock" - "02:76:6d:00:0f:0$([ "$m" = a ] && echo 1 || echo 2)"
	lab_exec vm1 ip link set "${LAB}v$m" master brvm || lab_die "VM NIC $m into the bridge"
}

# tel M CMD: member M's telemetry; fleet M KEY: one field of /sixgate/fleet.
tel() { echo "$2" | timeout 10 dpdk-telemetry.py -f "${GW_PREFIX[$1]}" 2>/dev/null; }
fleet() {
	tel "$1" /sixgate/fleet | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["/sixgate/fleet"][sys.argv[1]])
except Exception:
    print("?")' "$2"
}
is_state() { [ "$(fleet "$1" state)" = "$2" ]; }
has_sessions() { [ "$(fleet "$1" sessions)" -ge 1 ] 2>/dev/null; }

gw_start a
lab_wait_for 30 is_state a active || lab_die "member A did not become active alone"
gw_start b
lab_wait_for 30 is_state b standby || lab_die "member B did not become A's standby"
lab_log "A active, B standby"

# The capture on the client's link: every WireGuard message both ways.
# (tshark's dumpcap, classic pcap.)
lab_spawn dumpcap c1 dumpcap -q -P -i "${LAB}c1" -f "udp port $DP_PORT" -w "$LAB_DIR/client.pcap"
TCPDUMP_PID=$LAB_LAST_PID
lab_wait_for 10 test -s "$LAB_DIR/client.pcap" || lab_die "dumpcap did not start"
dp_client_start 1 "$DP_C1"
lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM through A"
lab_wait_for 10 has_sessions b ||
	lab_die "B did not hear the client's session"
HS_T0=$SECONDS

# The transfer: 8 MB at least, paced, and on until xfer.stop exists.
port=$((20000 + RANDOM % 10000))
lab_spawn xfer-rx vm1 python3 "$DP_ROOT/tests/lab/dp_xfer.py" recv "$DP_VM1" "$port" "$LAB_DIR/xfer-rx.json"
RX_PID=$LAB_LAST_PID
sleep 0.5
lab_spawn xfer-tx c1 python3 "$DP_ROOT/tests/lab/dp_xfer.py" send "$DP_VM1" "$port" 8 \
	"$LAB_DIR/xfer-tx.json" 0.01 "$LAB_DIR/xfer.stop"
TX_PID=$LAB_LAST_PID
sleep 2

# failover: kills the active member, waits for the standby to take over,
# starts the killed one again and waits for it to be the standby.
active=a
TAKEN_OK=0
KILL_TIMES=()
for i in $(seq 1 "$FAILOVERS"); do
	standby=$([ $active = a ] && echo b || echo a)
	before=$(fleet $standby takeovers)
	KILL_TIMES+=("$(date +%s.%N)")
	kill -KILL "${GW_PID[$active]}"
	wait "${GW_PID[$active]}" 2>/dev/null
	lab_forget_pid "${GW_PID[$active]}"
	if ! lab_wait_for 20 is_state $standby active; then
		lab_log "failover $i: $standby did not take over"
		break
	fi
	taken=$(fleet $standby taken_sessions)
	lab_log "failover $i: $active killed, $standby active ($(fleet $standby last_silence_ms) ms of silence," \
		"takeovers $before -> $(fleet $standby takeovers), sessions installed in all $taken)"
	[ "$(fleet $standby skipped_sessions)" = 0 ] && TAKEN_OK=$((TAKEN_OK + 1))
	gw_start $active
	if ! lab_wait_for 30 is_state $active standby; then
		lab_log "failover $i: $active did not come back as the standby"
		break
	fi
	lab_wait_for 10 has_sessions $active ||
		lab_log "failover $i: $active heard no session in its resync"
	active=$standby
	sleep 1
done
DONE=${#KILL_TIMES[@]}
lab_log "$DONE failovers in $((SECONDS - HS_T0)) s since the handshake"
lab_check "$FAILOVERS failovers, each a takeover with the client's session installed" \
	test "$TAKEN_OK" -eq "$FAILOVERS"

# Split brain: the channel cut, both active; the capture goes on.
lab_exec ga ip link set "${LAB}ma" down
lab_wait_for 10 is_state $([ $active = a ] && echo b || echo a) active
BOTH=$( (is_state a active && is_state b active) && echo yes || echo no)
lab_check "split brain: both members active while the channel is cut" test "$BOTH" = yes
sleep 2
lab_exec ga ip link set "${LAB}ma" up
lab_check "channel healed: node 1 (A) yields and is B's standby again" \
	lab_wait_for 20 is_state a standby
lab_check "B active after the heal" is_state b active
sleep 2

touch "$LAB_DIR/xfer.stop"
lab_wait_for 120 sh -c "! kill -0 $TX_PID" || lab_log "the sender did not finish"
wait "$TX_PID" 2>/dev/null
lab_forget_pid "$TX_PID"
wait "$RX_PID" 2>/dev/null
lab_forget_pid "$RX_PID"
lab_check "the transfer completed, SHA-256 equal, no receive gap over a second" python3 - \
	"$LAB_DIR/xfer-tx.json" "$LAB_DIR/xfer-rx.json" <<'PY'
import json, sys
tx = json.load(open(sys.argv[1])); rx = json.load(open(sys.argv[2]))
print("sent %d bytes in %.1f s, received %d, sha256 %s, stalls %s, retransmissions %s" % (
    tx["bytes"], tx["seconds"], rx["bytes"], "equal" if tx["sha256"] == rx["sha256"] else "DIFFERENT",
    rx.get("stalls"), tx.get("retrans")))
sys.exit(0 if tx["sha256"] == rx["sha256"] and tx["bytes"] == rx["bytes"] and not rx.get("stalls") else 1)
PY
lab_log "transfer: $(grep 'sent .* bytes' "$LAB_DIR/checks.log" | tail -n 1)"

sleep 1
kill -INT "$TCPDUMP_PID" 2>/dev/null
wait "$TCPDUMP_PID" 2>/dev/null
lab_forget_pid "$TCPDUMP_PID"
printf '%s\n' "${KILL_TIMES[@]}" >"$LAB_DIR/kills.txt"
lab_check "one handshake initiation from the client; no (index, counter) twice; every gap under 1 s" \
	python3 - "$LAB_DIR/client.pcap" "$LAB_DIR/kills.txt" "$DP_PORT" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
kills = [float(x) for x in open(sys.argv[2]).read().split()]
port = int(sys.argv[3])
magic = struct.unpack("<I", data[:4])[0]
ns = magic == 0xa1b23c4d
off, seen, dup, inits, from_gw = 24, set(), 0, [], []
top = {}
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
    t = sec + frac / (1e9 if ns else 1e6)
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    if len(pkt) < 14 + 40 + 8 or pkt[12:14] != b"\x86\xdd" or pkt[20] != 17:
        continue
    sport, dport = struct.unpack(">HH", pkt[54:58])
    wg = pkt[62:]
    if len(wg) < 4:
        continue
    mtype = wg[0]
    if dport == port and mtype == 1:
        inits.append(t)
    if sport == port and mtype == 4 and len(wg) >= 32:
        idx, ctr = struct.unpack("<IQ", wg[4:16])
        if (idx, ctr) in seen:
            dup += 1
        seen.add((idx, ctr))
        top[idx] = max(top.get(idx, 0), ctr)
        if len(wg) > 32:  # data, not a keepalive: the transfer's ACKs
            from_gw.append(t)
gaps = []
for k in kills:
    before = [t for t in from_gw if t <= k]
    after = [t for t in from_gw if t > k]
    if before and after:
        gaps.append(after[0] - before[-1])
# wireguard-go rekeys its session after REKEY_AFTER_TIME (120 s) by itself:
# an initiation that late is the protocol's timer, not a failover's doing.
early = [t for t in inits if inits and t < inits[0] + 115]
print("client initiations %d (%d in the 115 s after the first); gateway data packets %d, "
      "distinct (index, counter) %d, repeated %d"
      % (len(inits), len(early), len(from_gw), len(seen), dup))
print("highest counter per index: %s" % ", ".join("%08x:%d" % kv for kv in sorted(top.items())))
print("failover gaps (s): %s; longest %.3f" % (" ".join("%.3f" % g for g in gaps),
                                              max(gaps) if gaps else -1))
ok = len(early) == 1 and dup == 0 and len(from_gw) > 1000 and len(gaps) == len(kills) and max(gaps) < 1.0
sys.exit(0 if ok else 1)
PY
lab_log "$(grep -E 'client initiations|failover gaps' "$LAB_DIR/checks.log" | tail -n 2 | tr '\n' ' ')"

for m in a b; do
	lab_check "member $m: no sanitizer report" \
		sh -c "! cat '$LAB_DIR'/sixgate-$m-*.log | grep -qE 'runtime error|AddressSanitizer'"
done
for m in a b; do
	kill -TERM "${GW_PID[$m]}" 2>/dev/null
	wait "${GW_PID[$m]}" 2>/dev/null
	lab_forget_pid "${GW_PID[$m]}"
done
if [ "$LAB_FAILS" -gt 0 ]; then
	lab_log "failed checks: ${LAB_FAILED[*]}"
	exit 1
fi
