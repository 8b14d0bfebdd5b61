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
#
# Several gateways on the one switch (a fleet: floating peers, failover
# pairs).  Each has a NAME (a short word: it names its namespace, its veth
# and its DPDK prefix); "gw" is the one gateway of the tests above, with the
# same files as ever.  Every gateway has the same private key
# ($LAB_DIR/gw.key, made by the first dp_conf_begin): a client's config names
# one gateway public key.
#
#   dp_switch_net                     # ns sw and its bridge (once)
#   dp_gw_net NAME ADDR6 ADDR4        # ns NAME, its NIC on the bridge, its
#                                     # outer addresses (two gateways may
#                                     # share one, as a failover pair does)
#   dp_conf_begin NAME                # NAME's config ($DP_CONF), then
#   dp_conf_vm ...; dp_conf_peer ...  #   its VMs (sockets in its own dir), peers
#   dp_gw_start_as NAME [VM...]       # starts it in ns NAME, makes it current
#   lab_vm_start vm1 vm1 "$(dp_sock NAME vm1)" ...   # a VM behind NAME
#   dp_use NAME                       # makes NAME current: DP_GW_NAME, DP_CONF,
#                                     # DP_PREFIX, DP_GW_PID, DP_GW6, DP_GW4
#   dp_tel_at PREFIX CMD              # telemetry of any gateway
#   DP_PREFIX=${DPG_PREFIX[b]} dp_counter NAME   # a counter of gateway b
#   dp_finish_gw NAME                 # SIGTERM, exit 0, no sanitizer report
#
# Per gateway NAME: DPG_ADDR6/DPG_ADDR4[NAME] its outer addresses, DPG_NIC
# its veth, DPG_CONF its config, DPG_SOCKS the directory of its vhost-user
# sockets, DPG_LOG its log, and once it runs DPG_PREFIX its --file-prefix
# (sixgatectl -p, dpdk-telemetry.py -f) and DPG_PID its PID.  For "gw" these
# are the files of the one-gateway tests: sixgate.conf, sixgate.log, the
# sockets in $LAB_DIR, the veth g0; for another NAME sixgate-NAME.conf,
# sixgate-NAME.log, $LAB_DIR/NAME.vhost/, the veth nNAME.  dp_conf_vm,
# dp_conf_peer, dp_gw_start, dp_client_start, dp_tel, dp_counter, dp_drop
# and dp_finish act on the current gateway ($DP_GW_NAME, "gw" unless changed).

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
DP_GW_NAME=${DP_GW_NAME:-gw}
declare -gA DPG_ADDR6 DPG_ADDR4 DPG_NIC DPG_CONF DPG_SOCKS DPG_LOG DPG_PREFIX DPG_PID

# dp_lab_net: the gw and sw namespaces, the bridge and the gateway's veth.
dp_lab_net() {
	dp_switch_net
	dp_gw_net gw "$DP_GW6" "$DP_GW4"
}

# dp_switch_net: namespace sw with the bridge br0 that clients and gateways join.
dp_switch_net() {
	lab_netns sw
	lab_exec sw ip link add br0 type bridge
	lab_exec sw ip link set br0 up
	# A plain switch: no netfilter on bridged frames (it would drop the
	# malformed ones the tests send before they reach the gateway).
	lab_exec sw sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null
}

# dp_gw_net NAME ADDR6 ADDR4: namespace NAME for a gateway, its NIC (a veth
# whose other end is on the bridge) and the outer addresses of its config.
dp_gw_net() {
	local name=$1 nic="${LAB}n$1" port="${LAB}s$1"
	if [ "$name" = gw ]; then
		nic="${LAB}g0" port="${LAB}s0"
	fi
	[ ${#port} -le 15 ] || lab_die "dp_gw_net: the gateway name $name is too long"
	DPG_ADDR6[$name]=$2
	DPG_ADDR4[$name]=$3
	DPG_NIC[$name]=$nic
	lab_netns "$name"
	# af_packet's fanout spreads flows over the workers' sockets whatever the
	# veth has.  (af_xdp would need one combined channel per queue; a veth
	# reports one, so the lab uses af_packet: DP_NIC=af_xdp only on real NICs.)
	lab_veth sw "$port" "$name" "$nic" 2
	lab_exec sw ip link set "$port" master br0
	# The gateway namespace's kernel must stay quiet on the NIC: sixgate owns it.
	lab_exec "$name" sysctl -qw "net.ipv6.conf.$nic.disable_ipv6=1"
	lab_exec "$name" ip link set "$nic" arp off
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

# dp_conf_begin [NAME]: starts gateway NAME's config ($DP_GW_NAME, default
# gw: $LAB_DIR/sixgate.conf) with the gateway key, and makes NAME current;
# $DP_CONF is the file.  The workers are $DP_LCORES (default 1,2),
# $DP_CONF_EXTRA goes after [workers].
# shellcheck disable=SC2120 # NAME is optional
dp_conf_begin() {
	local name=${1:-$DP_GW_NAME}
	# One key for every gateway of the lab, made once.
	[ -s "$LAB_DIR/gw.key" ] || lab_wg_keys gw
	DP_GW_NAME=$name
	DP_CONF=$LAB_DIR/sixgate.conf
	DPG_SOCKS[$name]=$LAB_DIR
	if [ "$name" != gw ]; then
		DP_CONF=$LAB_DIR/sixgate-$name.conf
		DPG_SOCKS[$name]=$LAB_DIR/$name.vhost
		mkdir -p "${DPG_SOCKS[$name]}"
	fi
	DPG_CONF[$name]=$DP_CONF
	cat >"$DP_CONF" <<EOF
# Written by tests/lab/dp.sh for one lab run.
[interface]
private_key_file = $LAB_DIR/gw.key
listen_port = $DP_PORT
address6 = ${DPG_ADDR6[$name]:-$DP_GW6}
address4 = ${DPG_ADDR4[$name]:-$DP_GW4}
mtu = 1420

[nic]
device = net_${DP_NIC:-af_packet}0,iface=${DPG_NIC[$name]:-${LAB}g0}
rx_queues = 2
tx_queues = 3

[workers]
lcores = ${DP_LCORES:-1,2}
${DP_CONF_EXTRA:-}
EOF
}

# dp_sock GATEWAY VM: the path of VM's vhost-user socket on that gateway.
dp_sock() { echo "${DPG_SOCKS[$1]:-$LAB_DIR}/$2.sock"; }

# dp_conf_vm NAME PREFIX/112 ORG/48 MAC: a [vm NAME] section, its socket in
# the current gateway's directory (dp_sock).
dp_conf_vm() {
	cat >>"$DP_CONF" <<EOF

[vm $1]
socket = $(dp_sock "$DP_GW_NAME" "$1")
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

# dp_gw_start [VM...]: starts the current gateway on $DP_CONF (which a test
# may have written itself) with dp_gw_start_as.
dp_gw_start() {
	DPG_CONF[$DP_GW_NAME]=${DP_CONF:-$LAB_DIR/sixgate.conf}
	dp_gw_start_as "$DP_GW_NAME" "$@"
}

# dp_gw_start_as NAME [VM...]: starts sixgate NAME on its config in ns NAME
# (--file-prefix ${LAB}-NAME) and makes it current (dp_use); waits for the
# named VMs' sockets and for its start.
dp_gw_start_as() {
	local name=$1 mem log=sixgate prefix v
	shift
	[ "$name" = gw ] || log=sixgate-$name
	[ -x "$DP_SIXGATE" ] || lab_die "no sixgate binary at $DP_SIXGATE (build with meson/ninja)"
	prefix=$(lab_dpdk_prefix "$name")
	LAB_PREFIXES+=("$prefix")
	# DP_EAL_MEM: other EAL memory options (the capture test needs hugepage files).
	mem=${DP_EAL_MEM:-$(lab_eal_mem 64 256)}
	# shellcheck disable=SC2086
	lab_spawn "$log" "$name" "$DP_SIXGATE" --file-prefix "$prefix" --no-pci $mem \
		--lcores "0@($(lab_cpus)),1@($(lab_cpus)),2@($(lab_cpus))" \
		-- --config "${DPG_CONF[$name]:-$LAB_DIR/sixgate.conf}" --idle-sleep-us "${DP_IDLE_US:-20}" \
		--status-interval 5 ${DP_GW_ARGS:-}
	DPG_PID[$name]=$LAB_LAST_PID
	DPG_PREFIX[$name]=$prefix
	DPG_LOG[$name]=$LAB_DIR/$log.log
	dp_use "$name"
	for v in "$@"; do
		lab_wait_for 30 test -S "$(dp_sock "$name" "$v")" || lab_die "sixgate $name did not create $v.sock"
	done
	lab_wait_for 20 grep -q "sixgate running" "${DPG_LOG[$name]}" ||
		lab_die "sixgate $name did not start"
}

# dp_use NAME: gateway NAME becomes the current one (DP_GW_NAME, DP_CONF,
# DP_PREFIX, DP_GW_PID, DP_GW6 and DP_GW4 are its).
dp_use() {
	DP_GW_NAME=$1
	DP_CONF=${DPG_CONF[$1]:-$DP_CONF}
	DP_PREFIX=${DPG_PREFIX[$1]:-}
	DP_GW_PID=${DPG_PID[$1]:-}
	DP_GW6=${DPG_ADDR6[$1]:-$DP_GW6}
	DP_GW4=${DPG_ADDR4[$1]:-$DP_GW4}
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

# dp_tel CMD: one telemetry command's JSON on stdout (the current gateway).
dp_tel() { dp_tel_at "$DP_PREFIX" "$1"; }

# dp_tel_at PREFIX CMD: the same from the gateway with that --file-prefix.
dp_tel_at() {
	echo "$2" | timeout 10 dpdk-telemetry.py -f "$1" 2>/dev/null
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

# dp_finish: stops the current gateway and checks that it ran clean
# (dp_finish_gw); then returns the test's verdict.
dp_finish() {
	dp_finish_gw "$DP_GW_NAME"
	[ "$LAB_FAILS" -eq 0 ]
}

# dp_finish_gw NAME: stops gateway NAME with SIGTERM and checks that it ran
# clean: alive until now, exit status 0, no sanitizer report in its log.
dp_finish_gw() {
	local rc pid=${DPG_PID[$1]:-$DP_GW_PID} log=${DPG_LOG[$1]:-$LAB_DIR/sixgate.log} who=sixgate
	[ "$1" = gw ] || who="sixgate $1"
	lab_check "$who still running at the end" kill -0 "$pid"
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
	rc=$?
	lab_forget_pid "$pid"
	lab_check "$who exited cleanly on SIGTERM" test "$rc" -eq 0
	lab_check "no sanitizer report from $who" \
		sh -c "! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' '$log'"
}
