#!/usr/bin/env bash
# Helpers for the data-path tests (test_dp_*.sh) and the demo: sixgate in a
# gateway namespace, wireguard-go clients on the NIC side, VMs behind
# vhost-user.  Source after lib.sh and vm.sh:
#
#   . tests/lab/lib.sh; . tests/lab/vm.sh; . tests/lab/dp.sh
#   lab_init dpping
#   dp_lab_net                      # namespaces gw + veth toward the clients
#   dp_conf_begin; dp_conf_vm vm1 ...; dp_conf_peer c1 ...; dp_gw_start
#   dp_client_start c1 ...
#   dp_tel /sixgate/counters        # JSON from the gateway's telemetry socket
#
# Layout (everything in lab namespaces, lab address ranges only):
#
#   client ns "cN":  wgcN (wireguard-go, fdaa:0:18:ff00::N)   ethernet c0N
#                       |  fd00:1::1N / 198.18.0.1N
#                    ---+------ bridge "br" in ns "sw" -------+---
#                                                             |
#   gateway ns "gw": g0 <- sixgate (net_af_packet), fd00:1::1 / 198.18.0.1
#                    vhost-user sockets -> VMs (vm.sh), each in its own ns
#
# The bridge lets several clients, and a client that changes its address
# (roaming), share the gateway's one NIC.

DP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The sixgate binary: $DP_SIXGATE, or app/sixgate in $DP_BUILD, $SG_BUILD_DIR
# (relative to the repo top, as for the interop test), build-dp or build.
if [ -z "${DP_BUILD:-}" ] && [ -n "${SG_BUILD_DIR:-}" ]; then
	case $SG_BUILD_DIR in
	/*) DP_BUILD=$SG_BUILD_DIR ;;
	*) DP_BUILD=$DP_ROOT/$SG_BUILD_DIR ;;
	esac
fi
if [ -z "${DP_BUILD:-}" ]; then
	for DP_BUILD in "$DP_ROOT/build-dp" "$DP_ROOT/build"; do
		[ -x "$DP_BUILD/app/sixgate" ] && break
	done
fi
DP_SIXGATE=${DP_SIXGATE:-$DP_BUILD/app/sixgate}
DP_GW6=fd00:1::1
DP_GW4=198.18.0.1
DP_PORT=51820
DP_ORG1=fdaa:0:18::/48
DP_ORG2=fdaa:0:29::/48

# dp_lab_net: the gw and sw namespaces, the bridge and the gateway's veth.
dp_lab_net() {
	lab_netns gw
	lab_netns sw
	lab_exec sw ip link add br0 type bridge
	lab_exec sw ip link set br0 up
	# A plain switch: no netfilter on bridged frames (it would drop the
	# malformed ones the tests send before they reach the gateway).
	lab_exec sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null
	# af_packet's fanout spreads flows over the workers' sockets whatever the
	# veth has.  (af_xdp would need one combined channel per queue; a veth
	# reports one, so the lab uses af_packet: DP_NIC=af_xdp only on real NICs.)
	lab_veth sw "${LAB}s0" gw "${LAB}g0" 2
	lab_exec sw ip link set "${LAB}s0" master br0
	# The gateway namespace's kernel must stay quiet on the NIC: sixgate owns it.
	lab_exec gw sysctl -qw "net.ipv6.conf.${LAB}g0.disable_ipv6=1"
	lab_exec gw ip link set "${LAB}g0" arp off
}

# dp_client_net N: namespace cN attached to the bridge with fd00:1::1N and 198.18.0.1N.
dp_client_net() {
	local n=$1
	lab_netns "c$n"
	lab_veth sw "${LAB}w$n" "c$n" "${LAB}c$n"
	lab_exec sw ip link set "${LAB}w$n" master br0
	lab_addr "c$n" "${LAB}c$n" "fd00:1::1$n/64"
	lab_addr "c$n" "${LAB}c$n" "198.18.0.1$n/24"
}

# dp_conf_begin: starts $LAB_DIR/sixgate.conf with the gateway's key; the
# workers are $DP_LCORES (default 1,2), $DP_CONF_EXTRA goes after [workers].
dp_conf_begin() {
	lab_wg_keys gw
	DP_CONF=$LAB_DIR/sixgate.conf
	cat >"$DP_CONF" <<EOF
# Written by tests/lab/dp.sh for one lab run.
[interface]
private_key_file = $LAB_DIR/gw.key
listen_port = $DP_PORT
address6 = $DP_GW6
address4 = $DP_GW4
mtu = 1420

[nic]
device = net_${DP_NIC:-af_packet}0,iface=${LAB}g0
rx_queues = 2
tx_queues = 3

[workers]
lcores = ${DP_LCORES:-1,2}
${DP_CONF_EXTRA:-}
EOF
}

# dp_conf_vm NAME PREFIX/112 ORG/48 MAC: a [vm NAME] section, socket in $LAB_DIR.
dp_conf_vm() {
	cat >>"$DP_CONF" <<EOF

[vm $1]
socket = $LAB_DIR/$1.sock
prefix = $2
network = $3
mac = $4
EOF
}

# dp_conf_peer NAME PUBKEY ALLOWED ORG [ENDPOINT]: a [peer NAME] section.
dp_conf_peer() {
	cat >>"$DP_CONF" <<EOF

[peer $1]
public_key = $2
allowed_ips = $3
network = $4
EOF
	[ -n "${5:-}" ] && echo "endpoint = $5" >>"$DP_CONF"
	return 0
}

# dp_gw_start [VM...]: starts sixgate in ns gw; waits for the named VMs' sockets.
dp_gw_start() {
	local mem
	[ -x "$DP_SIXGATE" ] || lab_die "no sixgate binary at $DP_SIXGATE (build with meson/ninja)"
	DP_PREFIX=$(lab_dpdk_prefix gw)
	LAB_PREFIXES+=("$DP_PREFIX")
	# DP_EAL_MEM: other EAL memory options (the capture test needs hugepage files).
	mem=${DP_EAL_MEM:-$(lab_eal_mem 64 256)}
	# shellcheck disable=SC2086
	lab_spawn sixgate gw "$DP_SIXGATE" --file-prefix "$DP_PREFIX" --no-pci $mem \
		--lcores "0@($(lab_cpus)),1@($(lab_cpus)),2@($(lab_cpus))" \
		-- --config "$DP_CONF" --idle-sleep-us "${DP_IDLE_US:-20}" --status-interval 5 \
		${DP_GW_ARGS:-}
	DP_GW_PID=$LAB_LAST_PID
	local v
	for v in "$@"; do
		lab_wait_for 30 test -S "$LAB_DIR/$v.sock" || lab_die "sixgate did not create $v.sock"
	done
	lab_wait_for 20 grep -q "sixgate running" "$LAB_DIR/sixgate.log" ||
		lab_die "sixgate did not start"
}

# dp_client_start N PEERNAME_VAR: wireguard-go wgcN in ns cN with address
# ADDR (fdaa:...), talking to the gateway over GWADDR (default IPv6).
dp_client_start() {
	local n=$1 addr=$2 gwaddr=${3:-[$DP_GW6]}
	local ifc="${LAB}wg$n"
	lab_wg_start "c$n" "$ifc"
	wg set "$ifc" private-key "$LAB_DIR/c$n.key" listen-port $((51000 + n)) \
		peer "$(cat "$LAB_DIR/gw.pub")" endpoint "$gwaddr:$DP_PORT" allowed-ips fdaa::/16 \
		persistent-keepalive 0
	lab_addr "c$n" "$ifc" "$addr/128"
	lab_exec "c$n" ip link set "$ifc" mtu 1420 up
	lab_exec "c$n" ip -6 route add fdaa::/16 dev "$ifc"
}

# dp_tel CMD: one telemetry command's JSON on stdout.
dp_tel() {
	echo "$1" | timeout 10 dpdk-telemetry.py -f "$DP_PREFIX" 2>/dev/null
}

# dp_counter NAME: one top-level counter of /sixgate/counters.  A name the
# gateway does not report (a typo, a renamed counter) fails the test, as does
# a telemetry socket that does not answer.
dp_counter() {
	local v
	v=$(dp_tel /sixgate/counters | python3 -c '
import json, sys
name = sys.argv[1]
try:
    d = json.load(sys.stdin)["/sixgate/counters"]
except (ValueError, KeyError, TypeError) as e:
    sys.exit("dp_counter %s: no /sixgate/counters from the gateway (%r)" % (name, e))
if not isinstance(d.get(name), int):
    sys.exit("dp_counter: the gateway has no counter %r; it has: %s" % (
        name, " ".join(sorted(k for k, v in d.items() if isinstance(v, int)))))
print(d[name])' "$1") || lab_abort "dp_counter $1 failed (see above)"
	echo "$v"
}

# dp_drop REASON: one drop counter (the short name, e.g. inner_src).  An
# unknown reason fails the test, as for dp_counter.
dp_drop() {
	local v
	v=$(dp_tel /sixgate/counters | python3 -c '
import json, sys
name = sys.argv[1]
try:
    d = json.load(sys.stdin)["/sixgate/counters"]["drops"]
except (ValueError, KeyError, TypeError) as e:
    sys.exit("dp_drop %s: no /sixgate/counters drops from the gateway (%r)" % (name, e))
if not isinstance(d.get(name), int):
    sys.exit("dp_drop: the gateway has no drop reason %r; it has: %s" % (
        name, " ".join(sorted(d))))
print(d[name])' "$1") || lab_abort "dp_drop $1 failed (see above)"
	echo "$v"
}

# The usual cast: VM vm1 in org 1 and client c1 of org 1.
DP_VM1_NET=fdaa:0:18:0:a7b:0:1:0/112
DP_VM1=fdaa:0:18:0:a7b:0:1:2
DP_C1=fdaa:0:18:ff00::1

# dp_basic_gw: the gateway with vm1 and peer c1 (whose namespace exists,
# its tunnel not yet).  DP_CONF_EXTRA may add config lines ([timers] ...)
# after [workers].
dp_basic_gw() {
	dp_lab_net
	dp_client_net 1
	lab_wg_keys c1
	dp_conf_begin
	dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
	dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$DP_C1/128" "$DP_ORG1"
	dp_gw_start vm1
	lab_netns vm1
	lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
}

# dp_basic: dp_basic_gw, then client c1 up to a first ping through the tunnel.
dp_basic() {
	dp_basic_gw
	dp_client_start 1 "$DP_C1"
	lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$DP_VM1" || lab_die "no ping client -> VM"
}

# The second org's cast: VM vm2 and client c2 of org 2.
DP_VM2_NET=fdaa:0:29:0:b00:0:1:0/112
DP_VM2=fdaa:0:29:0:b00:0:1:2
DP_C2=fdaa:0:29:ff00::2

# dp_two_orgs_conf: the lab network, clients c1 and c2, and a configuration
# with vm1 and c1 in org 1, vm2 and c2 in org 2 ($DP_CONF).
dp_two_orgs_conf() {
	dp_lab_net
	dp_client_net 1
	dp_client_net 2
	lab_wg_keys c1
	lab_wg_keys c2
	dp_conf_begin
	dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
	dp_conf_vm vm2 "$DP_VM2_NET" "$DP_ORG2" "$(lab_mac_of vm2)"
	dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$DP_C1/128" "$DP_ORG1"
	dp_conf_peer c2 "$(cat "$LAB_DIR/c2.pub")" "$DP_C2/128" "$DP_ORG2"
}

# dp_two_orgs_start [C2_GATEWAY]: starts the gateway on that configuration,
# both VMs and both clients; c2 reaches the gateway at C2_GATEWAY when given
# (for example $DP_GW4, for an outer IPv4 tunnel).
dp_two_orgs_start() {
	dp_gw_start vm1 vm2
	lab_netns vm1
	lab_netns vm2
	lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"
	lab_vm_start vm2 vm2 "$LAB_DIR/vm2.sock" "$DP_VM2/112" "$(lab_mac_of vm2)"
	dp_client_start 1 "$DP_C1"
	dp_client_start 2 "$DP_C2" ${1:+"$1"}
}

# dp_xfer FROM TO ADDR MBYTES [PACE]: TCP transfer of MBYTES from ns FROM to
# ns TO (listening on ADDR); checks bytes and SHA-256.  Sets DP_XFER_MBPS.
dp_xfer() {
	local from=$1 to=$2 addr=$3 mb=$4 pace=${5:-0} port=$((20000 + RANDOM % 10000))
	local py="$DP_ROOT/tests/lab/dp_xfer.py"
	rm -f "$LAB_DIR/xfer-rx.json" "$LAB_DIR/xfer-tx.json"
	lab_spawn xfer-rx "$to" python3 "$py" recv "$addr" "$port" "$LAB_DIR/xfer-rx.json"
	local rxpid=$LAB_LAST_PID
	sleep 0.5
	lab_exec "$from" timeout 300 python3 "$py" send "$addr" "$port" "$mb" \
		"$LAB_DIR/xfer-tx.json" "$pace" || return 1
	wait "$rxpid" 2>/dev/null
	python3 - "$LAB_DIR/xfer-tx.json" "$LAB_DIR/xfer-rx.json" <<'PY' || return 1
import json, sys
tx = json.load(open(sys.argv[1])); rx = json.load(open(sys.argv[2]))
print("sent %d bytes in %.1f s (%.0f Mbit/s), received %d, sha256 %s" % (
    tx["bytes"], tx["seconds"], tx["bytes"] * 8 / tx["seconds"] / 1e6, rx["bytes"],
    "equal" if tx["sha256"] == rx["sha256"] else "DIFFERENT"))
sys.exit(0 if tx == {**tx, "bytes": rx["bytes"], "sha256": rx["sha256"]} else 1)
PY
}

# dp_finish: stops sixgate with SIGTERM and checks that it ran clean (alive
# until now, exit status 0, no sanitizer report in its log); then returns the
# test's verdict.
dp_finish() {
	local rc
	lab_check "sixgate still running at the end" kill -0 "$DP_GW_PID"
	kill -TERM "$DP_GW_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$DP_GW_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$DP_GW_PID" 2>/dev/null
	rc=$?
	lab_forget_pid "$DP_GW_PID"
	lab_check "sixgate exited cleanly on SIGTERM" test "$rc" -eq 0
	lab_check "no sanitizer report from sixgate" \
		sh -c "! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' '$LAB_DIR/sixgate.log'"
	[ "$LAB_FAILS" -eq 0 ]
}
