#!/usr/bin/env bash
# sixgate's lab VM: a real kernel network stack behind a vhost-user socket.
# Source it after lib.sh:
#
#   . tests/lab/lib.sh; . tests/lab/vm.sh
#   lab_init mytest
#   lab_netns vm1
#   lab_vm_start vm1 vm1 /path/vm1.sock fdaa:0:18:a7b:1::2/112 [02:76:6d:00:00:01]
#   lab_exec vm1 ping -6 ...            # the VM is the namespace ${LAB}vm1
#   lab_vm_stop vm1; lab_vm_restart vm1  # the VM goes away and comes back
#
# A VM here is one dpdk-testpmd process in io forward mode that bridges a
# virtio_user port (the VM's virtio NIC, client of the vhost-user socket that
# sixgate serves) to a net_tap port whose kernel side is the VM's eth0:
#
#   sixgate net_vhost (server) == SOCK == virtio_user0 -[testpmd io]- net_tap0 == TAP (kernel, netns NS)
#
# testpmd runs inside NS, so net_tap creates the TAP there and keeps managing
# it by name; nothing has to be moved between namespaces.
#
# What the VM's kernel does, and so what sixgate must do on a VM port:
# - Its address is ADDR6/LEN on TAP (on-link for that prefix), MAC is MAC.
# - Everything outside the prefix goes to a default route via $LAB_VM_GW_LL
#   (fe80::1), whose MAC is a permanent neighbour entry $LAB_VM_GW_MAC
#   (02:00:00:5e:00:01).  So the VM never does ND for remote addresses: every
#   frame it sends off-link has dst MAC $LAB_VM_GW_MAC, and sixgate needs no
#   ND on VM ports.  (It may accept any dst MAC.)
# - Frames into the VM must carry dst MAC = the VM's MAC (the kernel drops
#   unicast frames for other MACs); the src MAC may be any fixed one.
# - DAD, router solicitations and RA processing are off.  The kernel still
#   sends a few MLD reports and, for on-link destinations, ND; sixgate should
#   drop and count those.
# - MTU 1500, txqueuelen 10000, checksum offload off (frames carry full
#   checksums; see LAB.md).

LAB_VM_GW_LL=${LAB_VM_GW_LL:-fe80::1}
LAB_VM_GW_MAC=${LAB_VM_GW_MAC:-02:00:00:5e:00:01}
# Memory of one bridge process with --no-huge; it only holds a 2048-mbuf pool.
LAB_VM_MEM_MB=${LAB_VM_MEM_MB:-128}

# Per VM name: bridge PID, interface, MAC, and the arguments for a restart.
declare -gA LAB_VM_PID LAB_VM_TAP LAB_VM_MAC LAB_VM_ARGS

# lab_dpdk_eal NAME [PAGES]: sets LAB_DPDK_EAL to the EAL arguments of one lab
# DPDK process: its own --file-prefix (registered for cleanup), --no-pci, and
# memory.  With hugepages --in-memory --single-file-segments, which
# virtio_user needs for its memory table (LAB.md); without them --no-huge -m
# $LAB_VM_MEM_MB (also forced by LAB_DPDK_NOHUGE=1).
lab_dpdk_eal() {
	local name=$1 pages=${2:-32} mem
	# Called in this shell (not in $(...)) so the prefix is recorded.
	lab_dpdk_prefix "$name" >/dev/null
	mem=$(lab_eal_mem "$pages" "$LAB_VM_MEM_MB")
	[ -n "${LAB_DPDK_NOHUGE:-}" ] && mem="--no-huge -m $LAB_VM_MEM_MB"
	# --huge-unlink and --single-file-segments exclude each other;
	# --in-memory leaves no hugepage files behind either.
	case "$mem" in
	*--no-huge*) ;;
	*) mem="--in-memory --single-file-segments" ;;
	esac
	LAB_DPDK_EAL="--file-prefix ${LAB}-$name --no-pci $mem --lcores 0@($(lab_cpus)),1@($(lab_cpus))"
}

# lab_cpus: the CPUs this shell may use, as a DPDK cpuset ("0-1").  The
# lcores float over them: the machines are small and shared.
lab_cpus() { awk '/^Cpus_allowed_list/ {print $2}' /proc/self/status; }

# Arguments of a testpmd that only bridges: io forwarding of port pairs,
# started at once, statistics every 10 s to its log instead of a prompt
# (without -i and without --stats-period testpmd waits for Enter and quits at
# EOF on stdin).  A small pool keeps memory low; 2176 = 2048 + headroom.
LAB_TESTPMD_FWD="--forward-mode=io --auto-start --stats-period 10 --total-num-mbufs=2048 --mbuf-size=2176"

# lab_mac_of NAME: a stable locally administered MAC for a VM name.
lab_mac_of() {
	local h
	h=$(printf '%s' "$1" | cksum | awk '{printf "%06x", $1 % 16777216}')
	echo "02:76:6d:${h:0:2}:${h:2:2}:${h:4:2}"
}

# lab_vm_start NAME NS SOCK ADDR6/LEN [MAC]: starts VM NAME in lab namespace
# NS (made with lab_netns), connected as virtio client to the vhost-user
# server socket SOCK, which must exist already.  Its interface is ${LAB}NAME
# (LAB_VM_TAP[NAME]), its MAC LAB_VM_MAC[NAME] (MAC or one derived from NAME),
# its bridge PID LAB_VM_PID[NAME] (ADDR6/LEN "-": the interface comes up
# without an address or routes).  Returns when the interface is up with its
# address and routes; dies if the bridge could not attach both ports.
lab_vm_start() {
	local name=$1 ns=$2 sock=$3 addr=$4 mac=${5:-$(lab_mac_of "$1")}
	local tap="${LAB}$name" nsn="${LAB}$ns" log="$LAB_DIR/vm-$name.log"
	[ ${#tap} -le 15 ] || lab_die "lab_vm_start: interface name $tap is longer than 15"
	[ -n "$ns" ] || lab_die "lab_vm_start: a VM needs its own namespace"
	[ -S "$sock" ] || lab_die "lab_vm_start: no vhost-user server at $sock"
	LAB_VM_ARGS[$name]="$ns $sock $addr $mac"
	# shellcheck disable=SC2034 # read by the tests
	LAB_VM_TAP[$name]=$tap
	# shellcheck disable=SC2034
	LAB_VM_MAC[$name]=$mac

	# Interfaces created in NS from now on inherit these: no DAD, no
	# router solicitations at link-up, no RA.
	ip netns exec "$nsn" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.default.accept_ra=0

	lab_dpdk_eal "vm-$name"
	# A bridge that ends before it attached is started again, up to three
	# times; each failed try's log, with its exit status, is kept as
	# vm-NAME.tryN.log.  (The failures seen in fresh-clone runs, a restarted
	# bridge "gone" within 16-40 ms with an empty log, were the wait below
	# reading the previous bridge's log: lab_spawn now empties it first.)
	local try rc t0
	for try in 1 2 3; do
		# shellcheck disable=SC2086 # the argument strings are meant to split
		lab_spawn "vm-$name" "$ns" stdbuf -oL -eL dpdk-testpmd $LAB_DPDK_EAL \
			--vdev="virtio_user0,path=$sock,queues=1" \
			--vdev="net_tap0,iface=$tap,mac=$mac" \
			-- $LAB_TESTPMD_FWD </dev/null
		LAB_VM_PID[$name]=$LAB_LAST_PID
		t0=$SECONDS

		# "ports=2" means both the virtio and the tap port came up; with one
		# port testpmd would reflect the VM's own frames back into it.
		lab_wait_for 90 sh -c "grep -q 'forwarding - ports=2' '$log' || ! kill -0 $LAB_LAST_PID"
		grep -q 'forwarding - ports=2' "$log" && break
		if ((SECONDS - t0 >= 90)) && kill -0 "$LAB_LAST_PID" 2>/dev/null; then
			lab_vm_stop "$name"
			lab_die "lab_vm_start $name: bridge ran 90 s without attaching both ports (see $log)"
		fi
		# It ended (or is ending): its status, then another try.
		kill -KILL "$LAB_LAST_PID" 2>/dev/null
		wait "$LAB_LAST_PID" 2>/dev/null
		rc=$?
		lab_forget_pid "$LAB_LAST_PID"
		LAB_VM_PID[$name]=
		echo "lab: the bridge ended with status $rc after $((SECONDS - t0)) s, before attaching" >>"$log"
		mv "$log" "$LAB_DIR/vm-$name.try$try.log"
		[ "$try" -lt 3 ] ||
			lab_die "lab_vm_start $name: bridge ended 3 times before attaching both ports (see $LAB_DIR/vm-$name.try*.log)"
		lab_log "lab_vm_start $name: the bridge ended before attaching (status $rc); starting it again"
		sleep 1
	done
	if [ "$addr" = - ]; then
		lab_vm_link_up "$name" "$ns" "$mac"
	else
		lab_vm_setup_if "$name" "$ns" "$addr" "$mac"
	fi
}

# lab_vm_link_up NAME NS MAC: the VM's NIC up with its MAC and no address (a
# VM with two NICs in one bridge: lab_vm_start NAME NS SOCK - MAC).
lab_vm_link_up() {
	local name=$1 ns=$2 mac=$3 tap="${LAB}$1"
	lab_wait_for 10 lab_exec "$ns" ip link show "$tap" || lab_die "no interface $tap in $ns"
	lab_exec "$ns" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1"
	lab_exec "$ns" ip link set "$tap" address "$mac" mtu 1500 txqueuelen 10000 up ||
		lab_die "configure $tap"
	lab_exec "$ns" ethtool -K "$tap" tx off rx off >/dev/null 2>&1 || true
}

# lab_vm_setup_if NAME NS ADDR MAC: the kernel side of the VM's NIC.
lab_vm_setup_if() {
	local name=$1 ns=$2 addr=$3 mac=$4 tap="${LAB}$1"
	lab_wait_for 10 lab_exec "$ns" ip link show "$tap" || lab_die "no interface $tap in $ns"
	lab_exec "$ns" sysctl -qw "net.ipv6.conf.$tap.accept_dad=0" \
		"net.ipv6.conf.$tap.router_solicitations=0" "net.ipv6.conf.$tap.accept_ra=0"
	lab_exec "$ns" ip link set "$tap" address "$mac" mtu 1500 txqueuelen 10000 up ||
		lab_die "configure $tap"
	lab_exec "$ns" ethtool -K "$tap" tx off rx off >/dev/null 2>&1 || true
	lab_addr "$ns" "$tap" "$addr"
	lab_exec "$ns" ip -6 neigh replace "$LAB_VM_GW_LL" lladdr "$LAB_VM_GW_MAC" \
		dev "$tap" nud permanent || lab_die "gateway neighbour on $tap"
	lab_exec "$ns" ip -6 route replace default via "$LAB_VM_GW_LL" dev "$tap" ||
		lab_die "default route on $tap"
}

# lab_vm_stop NAME: ends VM NAME's bridge process (the interface goes with
# it); the vhost-user server sees the virtio device go away.
lab_vm_stop() {
	local pid=${LAB_VM_PID[$1]:-}
	[ -n "$pid" ] || return 0
	lab_stop "$pid"
	lab_forget_pid "$pid"
	LAB_VM_PID[$1]=
}

# lab_vm_restart NAME: stops VM NAME if it runs and starts it again with the
# same socket, address and MAC: it reconnects to the running server.
lab_vm_restart() {
	local ns sock addr mac
	read -r ns sock addr mac <<<"${LAB_VM_ARGS[$1]}"
	lab_vm_stop "$1"
	lab_vm_start "$1" "$ns" "$sock" "$addr" "$mac"
}

# lab_vswitch_start NAME SOCK0 SOCK1: a stand-in for sixgate in lab tests: a
# testpmd vhost-user server with two ports, io-forwarded to each other (a
# two-port hub).  Returns when both sockets exist; PID in LAB_LAST_PID.
lab_vswitch_start() {
	local name=$1 s0=$2 s1=$3
	lab_dpdk_eal "$name"
	# shellcheck disable=SC2086
	lab_spawn "$name" "" stdbuf -oL -eL dpdk-testpmd $LAB_DPDK_EAL \
		--vdev="net_vhost0,iface=$s0,queues=1" --vdev="net_vhost1,iface=$s1,queues=1" \
		-- $LAB_TESTPMD_FWD </dev/null
	lab_wait_for 30 test -S "$s0" -a -S "$s1" || lab_die "vswitch $name: no sockets"
}
