#!/usr/bin/env bash
# Helpers for the fleet tests (test_fleet_*.sh): two sixgate members A and B
# (nodes 1 and 2) in namespaces ga and gb, with the same key, addresses and
# peers, a state channel on a link of their own (fd00:2::1 <-> fd00:2::2), and
# one VM (ns vm1) with a NIC toward each member, both in a bridge of the VM's
# kernel that holds its address.  Source after lib.sh, vm.sh and dp.sh:
#
#   fleet_members                   # ga, gb, the channel link, keys, the VM
#   lab_veth ... "ga" "${LAB}ga"    # each member's NIC veth: the test's topology
#   fleet_conf pair                 # a.conf and b.conf ([fleet] mode)
#   fleet_gw_start a; fleet_wait a active
#   fleet_field b sessions          # one field of /sixgate/fleet
#   fleet_xfer_start; ...; fleet_xfer_check
#   fleet_capture_start; ...; fleet_capture_check KILL_TIMES_FILE
#
# The lab's VM bridge learns where the VM-side router MAC is from the frames
# the members deliver (the one that delivered last gets the VM's replies).

declare -gA FLEET_PID FLEET_PREFIX FLEET_RUN FLEET_LL
FLEET_MAC_VM=$(lab_mac_of vm1)
# The VMs each member serves (FLEET_VMS_a, FLEET_VMS_b; default vm1 on both,
# the VM with a NIC toward each member).  A VM that only one member serves
# has a namespace of its own and one NIC (fleet_gw_start starts it).
FLEET_VM2_NET=fdaa:0:18:0:a7b:0:2:0/112
FLEET_VM2=fdaa:0:18:0:a7b:0:2:2
fleet_vm_net() { [ "$1" = vm1 ] && echo "$DP_VM1_NET" || echo "$FLEET_VM2_NET"; }
fleet_vm_addr() { [ "$1" = vm1 ] && echo "$DP_VM1" || echo "$FLEET_VM2"; }
fleet_vms() { local v="FLEET_VMS_$1"; echo "${!v:-vm1}"; }

# fleet_members: the members' namespaces, the channel link, keys, the VM.
fleet_members() {
	local m
	for m in a b; do
		lab_netns "g$m"
	done
	lab_veth ga "${LAB}ma" gb "${LAB}mb"
	# Addresses stay while the link is down (a test may cut it).
	lab_exec ga sysctl -qw "net.ipv6.conf.${LAB}ma.keep_addr_on_down=1"
	lab_exec gb sysctl -qw "net.ipv6.conf.${LAB}mb.keep_addr_on_down=1"
	lab_addr ga "${LAB}ma" fd00:2::1/64
	lab_addr gb "${LAB}mb" fd00:2::2/64
	lab_wg_keys c1
	lab_wg_keys gw
	(umask 077 && wg genkey >"$LAB_DIR/fleet.key")
	[ -n "${FLEET_VMS_a:-}${FLEET_VMS_b:-}" ] && return 0
	lab_netns vm1
	lab_exec vm1 sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
	lab_exec vm1 ip link add brvm address "$FLEET_MAC_VM" type bridge stp_state 0 forward_delay 0
	lab_exec vm1 sysctl -qw net.ipv6.conf.brvm.accept_dad=0 net.ipv6.conf.brvm.accept_ra=0
	lab_exec vm1 ip link set brvm mtu 1500 up
	lab_addr vm1 brvm "$DP_VM1/112"
	lab_exec vm1 ip -6 neigh replace "$LAB_VM_GW_LL" lladdr "$LAB_VM_GW_MAC" dev brvm nud permanent
	lab_exec vm1 ip -6 route replace default via "$LAB_VM_GW_LL" dev brvm
}

# fleet_nic_quiet M: member M's NIC veth g-M, kernel quiet (sixgate owns it).
fleet_nic_quiet() {
	lab_exec "g$1" sysctl -qw "net.ipv6.conf.${LAB}g$1.disable_ipv6=1"
	lab_exec "g$1" ip link set "${LAB}g$1" arp off
}

# fleet_conf MODE: a.conf (node 1) and b.conf (node 2), [fleet] mode = MODE.
fleet_conf() {
	local mode=$1 m node partner me other
	for m in a b; do
		if [ "$m" = a ]; then
			node=1 partner=2 me=fd00:2::1 other=fd00:2::2
		else
			node=2 partner=1 me=fd00:2::2 other=fd00:2::1
		fi
		cat >"$LAB_DIR/$m.conf" <<EOC
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

$(for v in $(fleet_vms $m); do
			printf '[vm %s]\nsocket = %s\nprefix = %s\nnetwork = %s\nmac = %s\n\n' "$v" \
				"$LAB_DIR/$v-$m.sock" "$(fleet_vm_net "$v")" "$DP_ORG1" "$(lab_mac_of "$v")"
		done)
[peer c1]
public_key = $(cat "$LAB_DIR/c1.pub")
allowed_ips = $DP_C1/128
network = $DP_ORG1

[fleet]
mode = $mode
node_id = $node
partner_id = $partner
secret_file = $LAB_DIR/fleet.key
listen = [$me]:7010
partner = [$other]:7010
EOC
	done
}

# fleet_gw_start M: starts member M (its Nth run logs to sixgate-M-N.log) and
# the VM's bridge to its vhost-user port (NIC v-M in the VM's bridge).
fleet_gw_start() {
	local m=$1 n=$((${FLEET_RUN[$1]:-0} + 1)) mem v
	FLEET_RUN[$m]=$n
	lab_dpdk_prefix "g$m-$n" >/dev/null
	FLEET_PREFIX[$m]="${LAB}-g$m-$n"
	# Ordinary memory: the VMs' bridges need the hugepages (as test_fleet_floating).
	mem="--no-huge -m 256"
	for v in $(fleet_vms "$m"); do rm -f "$LAB_DIR/$v-$m.sock"; done
	# shellcheck disable=SC2086
	lab_spawn "sixgate-$m-$n" "g$m" "$DP_SIXGATE" --file-prefix "${FLEET_PREFIX[$m]}" --no-pci \
		$mem --lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
		-- --config "$LAB_DIR/$m.conf" --idle-sleep-us 20 --status-interval 5
	FLEET_PID[$m]=$LAB_LAST_PID
	for v in $(fleet_vms "$m"); do
		lab_wait_for 30 test -S "$LAB_DIR/$v-$m.sock" || lab_die "member $m did not create $v-$m.sock"
	done
	lab_wait_for 20 grep -q "sixgate running" "$LAB_DIR/sixgate-$m-$n.log" ||
		lab_die "member $m did not start"
	for v in $(fleet_vms "$m"); do
		if [ "$v" = vm1 ] && [ -z "${FLEET_VMS_a:-}${FLEET_VMS_b:-}" ]; then
			lab_vm_stop "v$m"
			lab_vm_start "v$m" vm1 "$LAB_DIR/vm1-$m.sock" - \
				"02:76:6d:00:0f:0$([ "$m" = a ] && echo 1 || echo 2)"
			lab_exec vm1 ip link set "${LAB}v$m" master brvm || lab_die "VM NIC $m into the bridge"
		else
			lab_vm_stop "$v"
			lab_vm_start "$v" "$v" "$LAB_DIR/$v-$m.sock" "$(fleet_vm_addr "$v")/112" "$(lab_mac_of "$v")"
		fi
	done
}

# fleet_router: namespace rt between the client c1 (fd00:3::10) and a link to
# each member (r-M <-> g-M), forwarding, ECMP by 5-tuple hash; FLEET_LL[M]
# is member M's link-local address (sixgate derives it from the MAC, EUI-64).
fleet_router() {
	local m
	lab_netns rt
	lab_exec rt sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.fib_multipath_hash_policy=1
	for m in a b; do
		lab_veth rt "${LAB}r$m" "g$m" "${LAB}g$m" 2
		fleet_nic_quiet $m
		FLEET_LL[$m]=$(lab_exec "g$m" cat "/sys/class/net/${LAB}g$m/address" | python3 -c '
import sys
b = [int(x, 16) for x in sys.stdin.read().strip().split(":")]
b[0] ^= 2
print("fe80::%02x%02x:%02xff:fe%02x:%02x%02x" % tuple(b))')
	done
	lab_netns c1
	lab_veth rt "${LAB}rc" c1 "${LAB}c1"
	lab_addr rt "${LAB}rc" fd00:3::1/64
	lab_addr c1 "${LAB}c1" fd00:3::10/64
	lab_exec c1 ip -6 route add default via fd00:3::1
}

# fleet_route WHO: the gateway address via member a, b, or both (ECMP).
fleet_route() {
	case $1 in
	a | b) lab_exec rt ip -6 route replace "$DP_GW6/128" via "${FLEET_LL[$1]}" dev "${LAB}r$1" ;;
	both) lab_exec rt ip -6 route replace "$DP_GW6/128" nexthop via "${FLEET_LL[a]}" dev "${LAB}ra" \
		nexthop via "${FLEET_LL[b]}" dev "${LAB}rb" ;;
	esac
}

# fleet_both_up: both members (anycast) see each other.
fleet_both_up() { [ "$(fleet_field a partner_up)" = 1 ] && [ "$(fleet_field b partner_up)" = 1 ]; }

# fleet_kill M: SIGKILL to member M.
fleet_kill() {
	kill -KILL "${FLEET_PID[$1]}"
	wait "${FLEET_PID[$1]}" 2>/dev/null
	lab_forget_pid "${FLEET_PID[$1]}"
}

# fleet_field M KEY: one field of member M's /sixgate/fleet ("?" when it does not answer).
fleet_field() {
	echo /sixgate/fleet | timeout 10 dpdk-telemetry.py -f "${FLEET_PREFIX[$1]}" 2>/dev/null |
		python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["/sixgate/fleet"][sys.argv[1]])
except Exception:
    print("?")' "$2"
}
fleet_is_state() { [ "$(fleet_field "$1" state)" = "$2" ]; }
fleet_has_sessions() { [ "$(fleet_field "$1" sessions)" -ge 1 ] 2>/dev/null; }

# fleet_capture_start: every WireGuard message on the client's link (dumpcap, classic pcap).
fleet_capture_start() {
	lab_spawn dumpcap c1 dumpcap -q -P -i "${LAB}c1" -f "udp port $DP_PORT" -w "$LAB_DIR/client.pcap"
	FLEET_CAP_PID=$LAB_LAST_PID
	lab_wait_for 10 test -s "$LAB_DIR/client.pcap" || lab_die "dumpcap did not start"
}

# fleet_xfer_start [NS ADDR]: a TCP transfer client -> the VM (vm1), 8 MB at
# least, paced, on until xfer.stop.
fleet_xfer_start() {
	local port=$((20000 + RANDOM % 10000)) ns=${1:-vm1} to=${2:-$DP_VM1}
	rm -f "$LAB_DIR/xfer.stop"
	lab_spawn xfer-rx "$ns" python3 "$DP_ROOT/tests/lab/dp_xfer.py" recv "$to" "$port" \
		"$LAB_DIR/xfer-rx.json"
	FLEET_RX_PID=$LAB_LAST_PID
	sleep 0.5
	lab_spawn xfer-tx c1 python3 "$DP_ROOT/tests/lab/dp_xfer.py" send "$to" "$port" 8 \
		"$LAB_DIR/xfer-tx.json" 0.01 "$LAB_DIR/xfer.stop"
	FLEET_TX_PID=$LAB_LAST_PID
}

# fleet_xfer_check: stops the transfer; checks bytes, SHA-256 and that no gap was over a second.
fleet_xfer_check() {
	touch "$LAB_DIR/xfer.stop"
	lab_wait_for 120 sh -c "! kill -0 $FLEET_TX_PID" || lab_log "the sender did not finish"
	wait "$FLEET_TX_PID" 2>/dev/null
	lab_forget_pid "$FLEET_TX_PID"
	wait "$FLEET_RX_PID" 2>/dev/null
	lab_forget_pid "$FLEET_RX_PID"
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
}

# fleet_capture_check EVENTS [UNTIL]: stops the capture; checks one initiation
# from the client (within REKEY_AFTER_TIME of the first), none from the
# gateways (before UNTIL, unix seconds, when given: a split brain's sessions
# are documented to end), no (receiver index, counter) pair twice from the
# gateways, and that after each time in the file EVENTS (one a line, unix
# seconds) the gateways answered within a second.
fleet_capture_check() {
	sleep 1
	kill -INT "$FLEET_CAP_PID" 2>/dev/null
	wait "$FLEET_CAP_PID" 2>/dev/null
	lab_forget_pid "$FLEET_CAP_PID"
	lab_check "one handshake in all (the client's); no (index, counter) twice; every gap under 1 s" \
		python3 - "$LAB_DIR/client.pcap" "$1" "$DP_PORT" "${2:-0}" <<'PY'
import struct, sys
until = float(sys.argv[4]) or float("inf")
data = open(sys.argv[1], "rb").read()
events = [float(x) for x in open(sys.argv[2]).read().split()]
port = int(sys.argv[3])
ns = struct.unpack("<I", data[:4])[0] == 0xa1b23c4d
off, seen, dup, inits, from_gw, top, n4, gw_inits, gw_late = 24, set(), 0, [], [], {}, 0, 0, 0
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
    if dport == port and wg[0] == 1:
        inits.append(t)
    if sport == port and wg[0] == 1:
        gw_inits += t < until
        gw_late += t >= until
    if sport == port and wg[0] == 4 and len(wg) >= 32:
        idx, ctr = struct.unpack("<IQ", wg[4:16])
        n4 += 1
        dup += (idx, ctr) in seen
        seen.add((idx, ctr))
        top[idx] = max(top.get(idx, 0), ctr)
        if len(wg) > 32:  # data, not a keepalive: the transfer's ACKs
            from_gw.append(t)
gaps = []
for k in events:
    before = [t for t in from_gw if t <= k]
    after = [t for t in from_gw if t > k]
    if before and after:
        gaps.append(after[0] - before[-1])
# wireguard-go rekeys by itself after REKEY_AFTER_TIME (120 s): an initiation
# that late is the protocol's timer, not the fleet's doing.
early = [t for t in inits if t < inits[0] + 115] if inits else []
print("client initiations %d (%d in the 115 s after the first), gateway initiations %d "
      "(%d more after the split brain); gateway data packets %d, distinct (index, counter) %d, "
      "repeated %d" % (len(inits), len(early), gw_inits, gw_late, n4, len(seen), dup))
print("highest counter per index: %s" % ", ".join("%08x:%d" % kv for kv in sorted(top.items())))
print("gaps after each event (s): %s; longest %.3f" % (" ".join("%.3f" % g for g in gaps),
                                                       max(gaps) if gaps else -1))
ok = len(early) == 1 and gw_inits == 0 and dup == 0 and len(from_gw) > 1000 and len(gaps) == len(events) and \
    (not gaps or max(gaps) < 1.0)
sys.exit(0 if ok else 1)
PY
	lab_log "$(grep -E 'client initiations|gaps after' "$LAB_DIR/checks.log" | tail -n 2 | tr '\n' ' ')"
}

# fleet_finish: sanitizer check of every member's logs, SIGTERM to both, the verdict.
fleet_finish() {
	local m
	for m in a b; do
		echo /sixgate/fleet | timeout 10 dpdk-telemetry.py -f "${FLEET_PREFIX[$m]}" \
			>"$LAB_DIR/fleet-$m.json" 2>/dev/null
		echo /sixgate/counters | timeout 10 dpdk-telemetry.py -f "${FLEET_PREFIX[$m]}" \
			>"$LAB_DIR/counters-$m.json" 2>/dev/null
		lab_check "member $m: no sanitizer report" \
			sh -c "! cat '$LAB_DIR'/sixgate-$m-*.log | grep -qE 'runtime error|AddressSanitizer'"
		kill -TERM "${FLEET_PID[$m]}" 2>/dev/null
		wait "${FLEET_PID[$m]}" 2>/dev/null
		lab_forget_pid "${FLEET_PID[$m]}"
	done
	if [ "$LAB_FAILS" -gt 0 ]; then
		lab_log "failed checks: ${LAB_FAILED[*]}"
		return 1
	fi
}
