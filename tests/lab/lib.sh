#!/usr/bin/env bash
# sixgate's namespace lab: helpers that integration tests and the demo source.
#
#   . tests/lab/lib.sh
#   lab_init mytest            # unique prefix, cleanup trap, work dir
#   lab_netns client           # namespace "${LAB}client", torn down on exit
#   lab_veth client c0 gw g0   # veth pair between two namespaces ("" = root ns)
#   lab_spawn NAME cmd...      # start a process in the background, remember its PID
#
# Every namespace, interface and process a test creates is recorded and removed
# by lab_cleanup, which runs on EXIT, INT and TERM, even when the test fails.
# Only PIDs started here are ever signalled.  Traffic stays inside these
# namespaces: fd00::/8, fdaa::/16 and 198.18.0.0/15 only.

set -o pipefail

LAB_NETNS=()
LAB_LINKS=()
LAB_PIDS=()
LAB_PREFIXES=()
LAB_WG_SOCKS=()
LAB_SYSCTLS=() # "path value" pairs to write back at cleanup, last first

lab_log() { printf '[%s] %s\n' "${LAB:-lab}" "$*" >&2; }
# The reason a test died is printed once more after the kept logs, at the
# very end, where a runner that keeps only the tail still shows it.
LAB_DIED=()
lab_die() {
	lab_log "FAIL: $*"
	LAB_DIED+=("$*")
	exit 1
}
# lab_abort MSG: as lab_die, but the test fails even when called in a subshell
# such as $(...), where exit alone would end only the subshell: the test's
# shell is sent SIGUSR1, which lab_init's trap turns into exit 1 (and cleanup)
# once the current command is done.
lab_abort() {
	lab_log "FAIL: $*"
	LAB_DIED+=("$*")
	[ "$BASHPID" = "$$" ] || kill -USR1 "$$"
	exit 1
}

# lab_init NAME: a short unique prefix ($LAB) and a work dir ($LAB_DIR).
lab_init() {
	[ "$(id -u)" = 0 ] || lab_die "needs root (namespaces)"
	local name=$1
	LAB="${name:0:5}$((RANDOM % 1000))"
	LAB_DIR=$(mktemp -d "/tmp/sixgate-lab-${name}.XXXXXX")
	export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	trap 'exit 1' USR1
}

lab_cleanup() {
	local rc=$?
	local i pid
	trap - EXIT
	for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
		pid=${LAB_PIDS[i]}
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${LAB_PIDS[@]}"; do
		for _ in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	for s in "${LAB_WG_SOCKS[@]}"; do rm -f "/var/run/wireguard/$s.sock"; done
	for l in "${LAB_LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
	for n in "${LAB_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
	for p in "${LAB_PREFIXES[@]}"; do rm -rf "/var/run/dpdk/$p"; done
	for ((i = ${#LAB_SYSCTLS[@]} - 1; i >= 0; i--)); do
		echo "${LAB_SYSCTLS[i]#* }" >"${LAB_SYSCTLS[i]%% *}" 2>/dev/null
	done
	if [ $rc -ne 0 ] && [ -n "${LAB_DIR:-}" ]; then
		lab_log "logs kept in $LAB_DIR"
		for f in "$LAB_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f (last 30 lines)" >&2
			tail -n 30 "$f" >&2
		done
		# Last, so that a runner that keeps only the tail still shows them.
		if [ ${#LAB_FAILED[@]} -gt 0 ]; then
			echo "--- failed checks:" >&2
			printf '  FAIL: %s\n' "${LAB_FAILED[@]}" >&2
			grep -E '!= \(FAIL\)|Error|assert' "$LAB_DIR/checks.log" 2>/dev/null | tail -n 10 >&2
		fi
		if [ ${#LAB_DIED[@]} -gt 0 ]; then
			printf -- '--- died: %s\n' "${LAB_DIED[@]}" >&2
		elif [ ${#LAB_FAILED[@]} -eq 0 ]; then
			echo "--- exit status $rc (no failed check; the last command of the test failed)" >&2
		fi
	elif [ -n "${LAB_DIR:-}" ]; then
		rm -rf "$LAB_DIR"
	fi
	exit $rc
}

# lab_netns SHORT: creates namespace ${LAB}SHORT with lo up; prints nothing.
lab_netns() {
	local ns="${LAB}$1"
	ip netns add "$ns" || lab_die "ip netns add $ns"
	LAB_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# lab_ns SHORT: the full name of a lab namespace ("" = the root namespace).
lab_ns() { [ -n "$1" ] && echo "${LAB}$1"; }

# lab_exec SHORT cmd...: runs cmd in a lab namespace ("" = root).
lab_exec() {
	local ns=$1
	shift
	if [ -n "$ns" ]; then ip netns exec "${LAB}$ns" "$@"; else "$@"; fi
}

# lab_veth NS_A IF_A NS_B IF_B [QUEUES]: a veth pair, each end in its namespace
# ("" keeps it in the root namespace), up, with checksum offload off (see LAB.md).
lab_veth() {
	local nsa=$1 ifa=$2 nsb=$3 ifb=$4 q=${5:-1}
	ip link add "$ifa" numtxqueues "$q" numrxqueues "$q" type veth peer name "$ifb" \
		numtxqueues "$q" numrxqueues "$q" || lab_die "veth $ifa/$ifb"
	[ -z "$nsa" ] && LAB_LINKS+=("$ifa")
	[ -z "$nsb" ] && LAB_LINKS+=("$ifb")
	[ -n "$nsa" ] && ip link set "$ifa" netns "${LAB}$nsa"
	[ -n "$nsb" ] && ip link set "$ifb" netns "${LAB}$nsb"
	lab_exec "$nsa" ip link set "$ifa" up
	lab_exec "$nsb" ip link set "$ifb" up
	lab_exec "$nsa" ethtool -K "$ifa" tx off rx off >/dev/null 2>&1 || true
	lab_exec "$nsb" ethtool -K "$ifb" tx off rx off >/dev/null 2>&1 || true
}

# lab_addr NS IF ADDR/LEN: assigns an address (only lab ranges are accepted).
lab_addr() {
	local ns=$1 ifc=$2 addr=$3
	case "$addr" in
	fd* | 198.18.* | 198.19.*) ;;
	*) lab_die "lab_addr: $addr is outside fd00::/8 and 198.18.0.0/15" ;;
	esac
	lab_exec "$ns" ip addr add "$addr" dev "$ifc" nodad 2>/dev/null ||
		lab_exec "$ns" ip addr add "$addr" dev "$ifc" || lab_die "addr $addr on $ifc"
}

# lab_spawn NAME NS cmd...: starts cmd in the background in NS ("" = root),
# output to $LAB_DIR/NAME.log; sets LAB_LAST_PID.
lab_spawn() {
	local name=$1 ns=$2
	shift 2
	# Emptied here, before the fork: the child's own ">" runs later, and a
	# wait that greps the log of a restarted process would otherwise read
	# the previous run's lines (a VM bridge "attached" 16 ms after its
	# start, then its log was empty: the cause of lab_vm_start's failures).
	: >"$LAB_DIR/$name.log"
	if [ -n "$ns" ]; then
		ip netns exec "${LAB}$ns" "$@" >"$LAB_DIR/$name.log" 2>&1 &
	else
		"$@" >"$LAB_DIR/$name.log" 2>&1 &
	fi
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_sysctl PATH VALUE: writes VALUE to /proc/sys/PATH for this test; the
# value before is written back at cleanup, also when the test fails.
lab_sysctl() {
	local f=/proc/sys/$1
	[ -w "$f" ] || return 0
	LAB_SYSCTLS+=("$f $(cat "$f")")
	echo "$2" >"$f" || lab_die "cannot set $1 to $2"
}

# lab_stop PID: ends one process started by lab_spawn, and waits for it.
lab_stop() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	lab_forget_pid "$pid"
	return 0
}

# lab_forget_pid PID: drops PID from the cleanup list once it has been waited
# for, so that cleanup never signals a later process that reuses the number.
lab_forget_pid() {
	local p keep=()
	for p in "${LAB_PIDS[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	LAB_PIDS=("${keep[@]}")
}

# lab_wait_for SECONDS cmd...: retries cmd every 0.2 s until it succeeds.
lab_wait_for() {
	local t=$1
	shift
	local end=$((SECONDS + t))
	while ((SECONDS < end)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# lab_wg_keys NAME: writes $LAB_DIR/NAME.key and NAME.pub.
lab_wg_keys() {
	(umask 077 && wg genkey >"$LAB_DIR/$1.key")
	wg pubkey <"$LAB_DIR/$1.key" >"$LAB_DIR/$1.pub"
}

# lab_proc_state PID: "running, state S, 12 ms on CPU" or "exited with status N", for a log line.
lab_proc_state() {
	local st
	if st=$(awk '{print "state " $3 ", " int(($14 + $15) * 1000 / 100) " ms on CPU"}' "/proc/$1/stat" 2>/dev/null); then
		echo "running, $st"
	else
		wait "$1" 2>/dev/null
		echo "exited with status $?"
	fi
}

# lab_wg_start NS IFNAME: starts wireguard-go with a TUN device in NS.  The
# interface name must be unique machine-wide (the control socket is shared).
lab_wg_start() {
	local ns=$1 ifc=$2
	lab_spawn "wg-$ifc" "$ns" wireguard-go -f "$ifc"
	LAB_WG_SOCKS+=("$ifc")
	# 30 s: once in a fresh-clone run it had printed nothing after 10 s.
	lab_wait_for 30 test -S "/var/run/wireguard/$ifc.sock" ||
		lab_die "wireguard-go $ifc did not start in 30 s ($(lab_proc_state "$LAB_LAST_PID"))"
	lab_wait_for 5 lab_exec "$ns" ip link show "$ifc" || lab_die "no TUN $ifc"
}

# lab_dpdk_prefix NAME: a unique --file-prefix, removed on cleanup; prints it.
# Call it in this shell (not in $(...)), or the prefix is not recorded.
lab_dpdk_prefix() {
	local p="${LAB}-$1"
	LAB_PREFIXES+=("$p")
	echo "$p"
}

# lab_hugepages: prints the EAL memory arguments that work on this machine.
lab_eal_mem() {
	local free
	free=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
	if [ "${free:-0}" -ge "${1:-64}" ] && mountpoint -q /dev/hugepages; then
		echo "--huge-unlink"
	else
		echo "--no-huge -m ${2:-256}"
	fi
}

# lab_check NAME cmd...: runs one check, prints ok/FAIL, counts failures.
LAB_FAILS=0
LAB_FAILED=()
lab_check() {
	local name=$1
	shift
	if "$@" >>"$LAB_DIR/checks.log" 2>&1; then
		lab_log "ok: $name"
	else
		lab_log "FAIL: $name"
		LAB_FAILS=$((LAB_FAILS + 1))
		LAB_FAILED+=("$name")
	fi
}

# lab_dpdk_start NAME NS BINARY [EAL args...] [-- app args...]: starts a DPDK
# process with its own --file-prefix (removed on cleanup), --no-pci and the
# memory arguments that work here; sets LAB_LAST_PID.
lab_dpdk_start() {
	local name=$1 ns=$2 bin=$3
	shift 3
	lab_dpdk_prefix "$name" >/dev/null
	# shellcheck disable=SC2046
	lab_spawn "$name" "$ns" "$bin" --file-prefix "${LAB}-$name" --no-pci $(lab_eal_mem) "$@"
}
