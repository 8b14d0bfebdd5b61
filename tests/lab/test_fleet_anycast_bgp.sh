#!/usr/bin/env bash
# Anycast with BGP (issue 13, docs/anycast.md): two gateways announce one
# address to a router, each through its own BIRD, each BIRD steered by
# scripts/sixgate-health watching a real sixgate's telemetry.
#
#   ns "rt": BIRD, eBGP (AS 65000) to both gateways, kernel protocols with
#            "merge paths on": fd00:ac::1/128 and 198.18.99.1/32 get one
#            nexthop per gateway (IPv4 with IPv6 nexthops, RFC 8950); L4
#            multipath hashing (fib_multipath_hash_policy=1).
#   ns "ga", "gb": sixgate (net_af_packet on a veth toward rt, address6 and
#            address4 = the anycast addresses), BIRD (AS 65010) with the
#            static protocols "anycast" and "anycast4" (disabled until the
#            health check enables them), sixgate-health every second.
#
# Checks: sixgatectl health's verdicts on stand-in telemetry sockets; both
# nexthops once both gateways forward, each the link-local address of a
# gateway's sixgate NIC (the router's import filter sets it: the session
# runs between the gateway host's kernel and the router, the packets go to
# sixgate); a client's datagrams to each anycast address from 64 source
# ports reach both sixgates, all counted; SIGKILL of gateway a's
# sixgate: its nexthop leaves the router's route (the time is printed);
# sixgate a started again: both nexthops; SIGSTOP of gateway b's sixgate (a
# hung gateway: its telemetry does not answer): b's nexthop leaves; SIGCONT:
# back; the health check itself stopped (SIGTERM): it withdraws on its way
# out.  After each withdrawal the router's kernel routes (ip -6 route and
# ip -4 route, both families together) have the other nexthop only, and 64
# datagrams all reach the other gateway (exact counts of wg_unknown_index:
# the datagrams are WireGuard data messages of no session); the client's
# pings to the addresses are answered.
#
# Not checked here: WireGuard sessions that survive a change of the hash (a
# peer whose flow moves to the other gateway has its packets dropped there as
# wg_unknown_index until it handshakes again; keeping its session needs the
# state channel, docs/fleet.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init fleetbgp

CTL=${DP_SIXGATECTL:-$DP_BUILD/app/sixgatectl}
HEALTH=$DP_ROOT/scripts/sixgate-health
[ -x "$CTL" ] || lab_die "no sixgatectl at $CTL"
[ -x "$DP_SIXGATE" ] || lab_die "no sixgate at $DP_SIXGATE"
if ! command -v bird >/dev/null || ! command -v birdc >/dev/null; then
	lab_log "SKIP: no BIRD (scripts/setup installs the Debian package bird2)"
	exit 0
fi

# The health check's unit (config/sixgate-health.service), pointed at this tree.
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$LAB_DIR/unit"
	sed "s#/usr/local/bin/sixgate-health#$HEALTH#; s#/usr/local/bin/sixgatectl#$CTL#" \
		"$DP_ROOT/config/sixgate-health.service" >"$LAB_DIR/unit/sixgate-health.service"
	lab_check "systemd-analyze verify sixgate-health.service: no error, no warning" sh -c \
		"systemd-analyze verify '$LAB_DIR/unit/sixgate-health.service' >'$LAB_DIR/verify.log' 2>&1 && ! [ -s '$LAB_DIR/verify.log' ]"
fi

# sixgatectl health's verdicts on a stand-in telemetry socket (-S), one per
# case: every counter moving (0), a worker that stops (6), a gateway that
# is stopping (6), one without worker_loops (6), and one that accepts but
# never answers (5, within its 1 s bound).
cat >"$LAB_DIR/fake_telemetry.py" <<'PY'
import json, os, select, socket, sys
d = sys.argv[1]
cases = ["ok", "stuck", "stopping", "old", "silent"]
socks = {}
for c in cases:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(os.path.join(d, "tel-%s.sock" % c))
    s.listen(8)
    socks[s] = [c, 0]
held = []
while True:
    for s in select.select(list(socks), [], [])[0]:
        conn, _ = s.accept()
        case, n = socks[s]
        socks[s][1] += 1
        if case == "silent":
            held.append(conn)
            continue
        conn.send(json.dumps({"version": "fake", "pid": os.getpid(), "max_output_len": 16384}).encode())
        conn.recv(1024)
        c = {"ticks": 100 + n, "workers": 2, "stopping": int(case == "stopping"),
             "worker_loops": [1000 + n, 1000 + n * (case != "stuck"), 0]}
        if case == "old":
            del c["worker_loops"], c["stopping"]
        conn.send(json.dumps({"/sixgate/counters": c}).encode())
        conn.close()
PY
lab_spawn fake-telemetry "" python3 "$LAB_DIR/fake_telemetry.py" "$LAB_DIR"
lab_wait_for 10 test -S "$LAB_DIR/tel-silent.sock" || lab_die "no stand-in telemetry socket"
fake_health() { # fake_health CASE: sixgatectl health's exit status and line
	local out rc
	out=$("$CTL" -S "$LAB_DIR/tel-$1.sock" health)
	rc=$?
	echo "$rc $out"
}
declare -A FAKE_WANT=([ok]="0 forwarding" [stuck]="6 not forwarding: worker 1 is stuck"
	[stopping]="6 not forwarding: stopping" [old]="6 not forwarding: the gateway reports no"
	[silent]="5 not forwarding: gateway at")
for c in ok stuck stopping old silent; do
	want=${FAKE_WANT[$c]}
	got=$(fake_health "$c")
	lab_check "sixgatectl health on a stand-in $c gateway: $want" test "${got:0:${#want}}" = "$want"
	lab_log "  $got"
done

ANY6=fd00:ac::1
ANY4=198.18.99.1
# sixgate's NICs get fixed MACs, so that the router knows their link-local
# addresses (EUI-64, which sixgate answers neighbour solicitations for).
NH_A=fe80::5a:ff:fe00:1
NH_B=fe80::5a:ff:fe00:2
declare -A MAC=([a]=02:5a:00:00:00:01 [b]=02:5a:00:00:00:02) NH=([a]=$NH_A [b]=$NH_B)

# --- the network ---
lab_netns rt
lab_netns ga
lab_netns gb
lab_exec rt sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1 \
	net.ipv6.fib_multipath_hash_policy=1 net.ipv4.fib_multipath_hash_policy=1
for g in a b; do
	n=$([ $g = a ] && echo 1 || echo 2)
	# The BGP link: the gateway host's kernel and the router.
	lab_veth rt "${LAB}r$g" "g$g" "${LAB}b$g"
	lab_addr rt "${LAB}r$g" "fd00:b9:$n::1/64"
	lab_addr "g$g" "${LAB}b$g" "fd00:b9:$n::2/64"
	# sixgate's NIC (af_packet on the veth; the gateway's kernel stays off it).
	lab_veth rt "${LAB}d$g" "g$g" "${LAB}n$g" 1
	lab_exec "g$g" sysctl -qw "net.ipv6.conf.${LAB}n$g.disable_ipv6=1"
	lab_exec "g$g" ip link set "${LAB}n$g" arp off
	lab_exec "g$g" ip link set "${LAB}n$g" address "${MAC[$g]}"
done
# A client behind the router.
lab_netns cl
lab_veth cl "${LAB}cl" rt "${LAB}rc"
lab_addr cl "${LAB}cl" fd00:c1::2/64
lab_addr rt "${LAB}rc" fd00:c1::1/64
lab_addr cl "${LAB}cl" 198.18.11.2/24
lab_addr rt "${LAB}rc" 198.18.11.1/24
lab_exec cl ip -6 route add default via fd00:c1::1
lab_exec cl ip -4 route add default via 198.18.11.1

# --- sixgate on each gateway: the same key and address (anycast) ---
lab_wg_keys gw
# gw_conf G: $LAB_DIR/sixgate-G.conf, one worker on the NIC ${LAB}nG.
gw_conf() {
	cat >"$LAB_DIR/sixgate-$1.conf" <<EOF
# Written by tests/lab/test_fleet_anycast_bgp.sh for one lab run.
[interface]
private_key_file = $LAB_DIR/gw.key
listen_port = $DP_PORT
address6 = $ANY6
address4 = $ANY4
mtu = 1420

[nic]
device = net_af_packet0,iface=${LAB}n$1
rx_queues = 1
tx_queues = 2

[workers]
lcores = 1
EOF
}
declare -A GW_PID GW_PREFIX GW_RUNS
# gw_start G: starts (or starts again) sixgate in ns gG, waits until it runs.
gw_start() {
	local g=$1 log
	GW_RUNS[$g]=$((${GW_RUNS[$g]:-0} + 1))
	log=sixgate-$g.${GW_RUNS[$g]}
	# Ordinary memory, not hugepages: two gateways need no speed here, and
	# the machine's hugepages are shared with other tests (a second gateway
	# once found too few left and failed to start).
	lab_spawn "$log" "g$g" "$DP_SIXGATE" --file-prefix "${GW_PREFIX[$g]}" --no-pci \
		--no-huge -m 256 --lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
		-- --config "$LAB_DIR/sixgate-$g.conf" --idle-sleep-us 50 --status-interval 0
	GW_PID[$g]=$LAB_LAST_PID
	lab_wait_for 30 grep -q "sixgate running" "$LAB_DIR/$log.log" ||
		lab_die "sixgate $g did not start"
}
for g in a b; do
	gw_conf $g
	GW_PREFIX[$g]=$(lab_dpdk_prefix "gw$g")
	LAB_PREFIXES+=("${GW_PREFIX[$g]}")
	gw_start $g
done

# --- BIRD: the router and each gateway's ---
bird_common() { # bird_common ROUTER_ID
	cat <<EOF
# Written by tests/lab/test_fleet_anycast_bgp.sh for one lab run.
log stderr all;
router id $1;
protocol device { scan time 2; }
# The lab's sessions come up within seconds, whichever BIRD starts first.
# A withdrawal does not wait for the hold time (it is sent at once); the
# hold time is long because a loaded machine kept a BIRD from its
# keepalives for 6 s, and once for 40 s (busy-polling DPDK processes of
# other tests on both vCPUs): the session dropped, and a's route with it.
template bgp lab {
	connect delay time 1;
	connect retry time 2;
	error wait time 1, 5;
	hold time 90;
	keepalive time 3;
}
EOF
}
{
	bird_common 198.18.9.1
	cat <<EOF
# The anycast /128 from every gateway whose path is as good: one kernel
# route with a nexthop per gateway (the "via" of each: that gateway's
# sixgate, on its data link).
protocol kernel {
	ipv6 { import none; export where source = RTS_BGP; };
	merge paths on;
}
protocol kernel {
	ipv4 { import none; export where source = RTS_BGP; };
	merge paths on;
}
EOF
	for g in a b; do
		n=$([ $g = a ] && echo 1 || echo 2)
		cat <<EOF
# The session runs between the gateway host's kernel and the router; the
# packets go to sixgate's NIC, at its link-local address on its own link.
protocol bgp gw_$g from lab {
	local fd00:b9:$n::1 as 65000;
	neighbor fd00:b9:$n::2 as 65010;
	ipv6 {
		import filter {
			if net != $ANY6/128 then reject;
			ifname = "${LAB}d$g";
			gw = ${NH[$g]};
			accept;
		};
		export none;
	};
	# IPv4 over the IPv6 session (RFC 8950), to the same link-local
	# address: the router's kernel route has IPv6 nexthops.
	ipv4 {
		extended next hop on;
		import filter {
			if net != $ANY4/32 then reject;
			ifname = "${LAB}d$g";
			gw = ${NH[$g]};
			accept;
		};
		export none;
	};
}
EOF
	done
} >"$LAB_DIR/bird-rt.conf"
for g in a b; do
	n=$([ $g = a ] && echo 1 || echo 2)
	{
		bird_common "198.18.9.1$n"
		cat <<EOF
# The anycast route, announced while sixgate-health keeps this protocol
# enabled; disabled (withdrawn) at start.
protocol static anycast {
	disabled;
	ipv6;
	route $ANY6/128 unreachable;
}
protocol static anycast4 {
	disabled;
	ipv4;
	route $ANY4/32 unreachable;
}
protocol bgp uplink from lab {
	local fd00:b9:$n::2 as 65010;
	neighbor fd00:b9:$n::1 as 65000;
	ipv6 { import none; export where proto = "anycast"; };
	ipv4 { import none; export where proto = "anycast4"; extended next hop on; };
}
EOF
	} >"$LAB_DIR/bird-$g.conf"
done
bird_start() { # bird_start NAME NS
	lab_exec "$2" bird -p -c "$LAB_DIR/bird-$1.conf" || lab_die "bird-$1.conf does not parse"
	lab_spawn "bird-$1" "$2" bird -f -c "$LAB_DIR/bird-$1.conf" -s "$LAB_DIR/bird-$1.ctl" \
		-P "$LAB_DIR/bird-$1.pid"
	lab_wait_for 60 birdc -s "$LAB_DIR/bird-$1.ctl" show status || lab_die "bird $1 did not start"
}
bird_start rt rt
bird_start a ga
bird_start b gb
established() { # established BIRD PROTO
	birdc -s "$LAB_DIR/bird-$1.ctl" show protocols "$2" | grep -q Established
}
for g in a b; do
	lab_wait_for 90 established rt "gw_$g" || lab_die "no BGP session router - gateway $g"
done
lab_log "BGP sessions established"

# --- the health checks ---
declare -A HC_PID
hc_start() {
	lab_spawn "health-$1" "g$1" "$HEALTH" -p "${GW_PREFIX[$1]}" -s "$LAB_DIR/bird-$1.ctl" \
		-P anycast -P anycast4 -i 1 -r 2 --sixgatectl "$CTL"
	HC_PID[$1]=$LAB_LAST_PID
}
hc_start a
hc_start b

# nexthops_of -6|-4 ADDR: the router's nexthops for ADDR, sorted, one a line
# ("via inet6 X" for IPv4 over IPv6 nexthops).
nexthops_of() {
	lab_exec rt ip "$1" route show "$2" | awk '
		{ for (i = 1; i < NF; i++) if ($i == "via") print ($(i + 1) == "inet6" ? $(i + 2) : $(i + 1)) }' |
		sort
}
# nexthops: the nexthops of both anycast addresses when they agree, else
# both sets (which then match no wanted set).
nexthops() {
	local v6 v4
	v6=$(nexthops_of -6 "$ANY6")
	v4=$(nexthops_of -4 "$ANY4")
	if [ "$v6" = "$v4" ]; then echo "$v6"; else echo "IPv6 ${v6//$'\n'/ }, IPv4 ${v4//$'\n'/ }"; fi
}
# wait_nexthops SECONDS NH...: waits until the route's nexthops are exactly
# NH...; sets WAITED_MS (since the call).
wait_nexthops() {
	local t=$1 want have t0 end
	shift
	want=$(printf '%s\n' "$@" | sort)
	t0=$(date +%s%N)
	end=$((SECONDS + t))
	while ((SECONDS < end)); do
		have=$(nexthops)
		if [ "$have" = "$want" ]; then
			WAITED_MS=$((($(date +%s%N) - t0) / 1000000))
			return 0
		fi
		sleep 0.05
	done
	lab_log "router's nexthops for $ANY6: ${have//$'\n'/ } (wanted $*)"
	lab_exec rt ip -6 route show "$ANY6" >&2
	lab_exec rt ip -4 route show "$ANY4" >&2
	return 1
}
health_rc() { # health_rc G: sixgatectl health's exit status for gateway G
	"$CTL" -p "${GW_PREFIX[$1]}" health >>"$LAB_DIR/checks.log" 2>&1
	echo $?
}

# gw_drop G REASON: one drop counter of gateway G's sixgate (empty if it
# does not answer).
gw_drop() {
	echo /sixgate/counters | timeout 10 dpdk-telemetry.py -f "${GW_PREFIX[$1]}" 2>/dev/null |
		python3 -c 'import json, sys
print(json.load(sys.stdin)["/sixgate/counters"]["drops"][sys.argv[1]])' "$2"
}
# spray N PORT: N WireGuard data messages with unknown receiver indices from
# the client to the anycast address, each from its own UDP source port from
# PORT up (the router's L4 hash spreads them over its nexthops); a gateway
# drops each one it gets as wg_unknown_index.
SPRAY_TO=$ANY6
spray() {
	lab_exec cl python3 - "$SPRAY_TO" "$DP_PORT" "$1" "$2" <<'PY'
import socket, struct, sys
addr, port, n, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
v6 = ":" in addr
for i in range(n):
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("fd00:c1::2" if v6 else "198.18.11.2", sport + i))
    s.sendto(struct.pack("<BxxxIQ", 4, 0x5A000000 + i, 0) + bytes(16), (addr, port))
    s.close()
PY
}
# spray_once N PORT G...: sprays, then waits until the running gateways
# G... have together counted N more; true when they have exactly N, and
# each has some (two gateways: the router spreads) or all (one).
SPRAY=
spray_once() {
	local n=$1 port=$2 g v sum=0
	shift 2
	declare -A before got
	for g in "$@"; do before[$g]=$(gw_drop "$g" wg_unknown_index); done
	spray "$n" "$port" || return 1
	for _ in $(seq 1 50); do
		sum=0
		for g in "$@"; do
			v=$(gw_drop "$g" wg_unknown_index)
			got[$g]=$((${v:-0} - before[$g]))
			sum=$((sum + got[$g]))
		done
		[ "$sum" -ge "$n" ] && break
		sleep 0.2
	done
	SPRAY="$n datagrams from the client to $SPRAY_TO: gateway a got ${got[a]:--}, gateway b ${got[b]:--}"
	[ "$sum" -eq "$n" ] || return 1
	for g in "$@"; do [ "${got[$g]}" -gt 0 ] || return 1; done
}
# spray_check N PORT G...: spray_once while the router's nexthops are
# those of G...  On a loaded machine a health check may time out on a
# healthy gateway and withdraw it for a second or two; a spray during
# such a flap (seen in the checks' logs) says nothing and is made again,
# at most 3 times, from other source ports.
spray_check() {
	local n=$1 port=$2 g try flaps
	shift 2
	local want=()
	for g in "$@"; do want+=("${NH[$g]}"); done
	for try in 1 2 3; do
		wait_nexthops 30 "${want[@]}" || return 1
		flaps=$(cat "$LAB_DIR"/health-?.log | wc -l)
		spray_once "$n" $((port + 100 * try)) "$@" && return 0
		[ "$(cat "$LAB_DIR"/health-?.log | wc -l)" != "$flaps" ] || return 1
		lab_log "  (a health check changed its mind during the spray: $SPRAY; again)"
	done
	return 1
}

lab_check "sixgatectl health: gateway a forwarding (exit 0)" test "$(health_rc a)" = 0
lab_check "sixgatectl health: gateway b forwarding (exit 0)" test "$(health_rc b)" = 0
if wait_nexthops 60 "$NH_A" "$NH_B"; then
	lab_log "both gateways in the router's ECMP routes, $WAITED_MS ms after the health checks started"
	lab_exec rt ip -6 route show "$ANY6" >&2
	lab_exec rt ip -4 route show "$ANY4" >&2
else
	lab_check "both gateways in the router's ECMP route" false
fi

# Packets: each sixgate answers the router at its link-local address; a
# client's datagrams are spread over both; its ping is answered.
for g in a b; do
	lab_check "the router reaches sixgate $g at ${NH[$g]}" \
		lab_wait_for 20 lab_exec rt ping -6 -c1 -W1 "${NH[$g]}%${LAB}d$g"
done
lab_check "64 datagrams from the client: all arrive, at both gateways" spray_check 64 41000 a b
lab_log "  $SPRAY"
lab_check "the client's ping to $ANY6 is answered" lab_exec cl ping -6 -c2 -W2 "$ANY6"
SPRAY_TO=$ANY4
lab_check "64 IPv4 datagrams from the client: all arrive, at both gateways" spray_check 64 45000 a b
lab_log "  $SPRAY"
lab_check "the client's ping to $ANY4 is answered" lab_exec cl ping -4 -c2 -W2 "$ANY4"
SPRAY_TO=$ANY6

# 1. Gateway a's sixgate is killed: its health check withdraws.
kill -KILL "${GW_PID[a]}"
wait "${GW_PID[a]}" 2>/dev/null
lab_forget_pid "${GW_PID[a]}"
lab_check "gateway a killed: only b's nexthop within 40 s" wait_nexthops 40 "$NH_B"
lab_log "withdraw after SIGKILL of sixgate a: $WAITED_MS ms"
T_KILL=$WAITED_MS
lab_check "sixgatectl health: killed gateway a unreachable (exit 5)" test "$(health_rc a)" = 5
lab_check "64 datagrams with a withdrawn: all at gateway b" spray_check 64 42000 b
lab_log "  $SPRAY"
lab_check "the client's ping to $ANY6 is answered (by b)" lab_exec cl ping -6 -c2 -W2 "$ANY6"
SPRAY_TO=$ANY4
lab_check "64 IPv4 datagrams with a withdrawn: all at gateway b" spray_check 64 46000 b
lab_log "  $SPRAY"
SPRAY_TO=$ANY6

# 2. Started again: announced after two checks that pass.
t0=$(date +%s%N)
gw_start a
T_START=$((($(date +%s%N) - t0) / 1000000))
lab_check "gateway a back: both nexthops within 40 s" wait_nexthops 40 "$NH_A" "$NH_B"
lab_log "announce after sixgate a ran again: $WAITED_MS ms (its start took $T_START ms)"
T_BACK=$WAITED_MS

# 3. Gateway b hangs (SIGSTOP: its telemetry, workers and control lcore all
# stop): withdrawn; SIGCONT: announced again.
B_BEFORE=$(gw_drop b wg_unknown_index)
kill -STOP "${GW_PID[b]}"
lab_check "gateway b stopped: only a's nexthop within 40 s" wait_nexthops 40 "$NH_A"
lab_log "withdraw after SIGSTOP of sixgate b: $WAITED_MS ms"
T_STOP=$WAITED_MS
lab_check "sixgatectl health: stopped gateway b unreachable (exit 5)" test "$(health_rc b)" = 5
lab_check "64 datagrams with b withdrawn: all at gateway a" spray_check 64 43000 a
lab_log "  $SPRAY"
kill -CONT "${GW_PID[b]}"
lab_check "gateway b continued: both nexthops within 40 s" wait_nexthops 40 "$NH_A" "$NH_B"
lab_log "announce after SIGCONT of sixgate b: $WAITED_MS ms"
T_CONT=$WAITED_MS
lab_check "gateway b got none of them while withdrawn" test "$(gw_drop b wg_unknown_index)" = "$B_BEFORE"
lab_check "64 datagrams with both back: all arrive, at both gateways" spray_check 64 44000 a b
lab_log "  $SPRAY"

# 4. The health check itself ends (SIGTERM): it withdraws on its way out.
lab_stop "${HC_PID[a]}"
lab_check "health check a stopped: only b's nexthop within 40 s" wait_nexthops 40 "$NH_B"
lab_log "withdraw when sixgate-health a ended: $WAITED_MS ms"
lab_check "health check a logged the withdrawals and announcements" \
	test "$(grep -c 'withdrawn\|announced' "$LAB_DIR/health-a.log")" -ge 5

for g in a b; do
	lab_log "sixgate-health $g's log:"
	sed 's/^/  /' "$LAB_DIR/health-$g.log" >&2
done
lab_log "figures: withdraw $T_KILL ms (SIGKILL), $T_STOP ms (SIGSTOP); announce $T_BACK ms" \
	"after a restart (start $T_START ms), $T_CONT ms after SIGCONT"

# Both sixgates end cleanly on SIGTERM, gateway b's while its health check
# still queries it (a query while the gateway was freed at exit crashed
# sixgate before sg_telemetry_close: 3 of 5 stops under a query loop).
for g in a b; do
	kill -TERM "${GW_PID[$g]}"
	wait "${GW_PID[$g]}"
	rc=$?
	lab_forget_pid "${GW_PID[$g]}"
	lab_check "sixgate $g exited cleanly on SIGTERM" test "$rc" -eq 0
done
[ "$LAB_FAILS" -eq 0 ]
