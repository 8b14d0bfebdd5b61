#!/usr/bin/env bash
# A host without DPDK enforces the gateway's policy in its kernel: `sixgate
# --check --emit-bpf OBJ` builds the demo policy's eBPF classifier, tc loads
# it (the kernel's verifier accepts it) on a veth in the test's own
# namespaces, and it decides real packets as the policy says.
#
# The demo policy (config/demo.policy): org isolation, "grant tcp from peer c1
# to vm vm2 port 5201". Here namespace "c" holds c1's address (org 0x18) and
# namespace "v" an address of vm2's /112 (org 0x29); the classifier runs on
# v's ingress with mark 0 (peer -> VM, destination outside the source's org).
# So TCP to port 5201 passes, TCP to 5202 and ICMPv6 echo do not, and the
# drops are counted by the clsact qdisc. The neighbours are static: the
# classifier rightly denies Neighbour Discovery too.
#
#   sudo bash tests/lab/test_policy_tc.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dp.sh"
lab_init pbpf

command -v clang >/dev/null || lab_die "clang is needed (scripts/setup installs it)"
[ -x "$DP_SIXGATE" ] || lab_die "no sixgate binary at $DP_SIXGATE"

# A scratch copy of the demo configuration, with its key files made here.
cp "$DP_ROOT/config/demo.conf" "$DP_ROOT/config/demo.policy" "$LAB_DIR/"
mkdir -p "$LAB_DIR/keys"
(umask 077 && wg genkey >"$LAB_DIR/keys/gateway.key")
obj=$LAB_DIR/demo-policy.o
lab_check "sixgate --check --emit-bpf builds the classifier" \
	"$DP_SIXGATE" --check --config "$LAB_DIR/demo.conf" --emit-bpf "$obj"
lab_check "the object is an eBPF ELF (e_machine 247)" python3 -c "
import sys
d = open(sys.argv[1], 'rb').read(20)
sys.exit(0 if d[:4] == b'\x7fELF' and int.from_bytes(d[18:20], 'little') == 247 else 1)" "$obj"
lab_check "its C source is beside it" grep -q 'classifier' "$LAB_DIR/demo-policy.c"
lab_check "a bad policy is refused with FILE:LINE" sh -c \
	"printf 'grant tcp from peer nobody to vm vm2\n' >'$LAB_DIR/demo.policy' &&
	 ! '$DP_SIXGATE' --check --config '$LAB_DIR/demo.conf' --emit-bpf '$LAB_DIR/bad.o' 2>'$LAB_DIR/bad.err' &&
	 grep -q 'demo.policy:1:' '$LAB_DIR/bad.err' && test ! -e '$LAB_DIR/bad.o'"

C1=fdaa:0:18:ff00::1
VM2=fdaa:0:29:0:b00:0:1:7
lab_netns c
lab_netns v
lab_veth c pc v pv
lab_exec c ip link set pc address 02:00:00:00:0c:01
lab_exec v ip link set pv address 02:00:00:00:0c:02
lab_addr c pc "$C1/64"
lab_addr v pv "$VM2/64"
lab_exec c ip -6 route add "$VM2/128" dev pc
lab_exec v ip -6 route add "$C1/128" dev pv
lab_exec c ip -6 neigh replace "$VM2" lladdr 02:00:00:00:0c:02 dev pc nud permanent
lab_exec v ip -6 neigh replace "$C1" lladdr 02:00:00:00:0c:01 dev pv nud permanent

# Before the classifier: everything passes (the lab itself works).
lab_check "without the classifier, c pings v" lab_exec c ping -6 -c 1 -W 5 "$VM2"

lab_exec v tc qdisc add dev pv clsact || lab_die "tc qdisc clsact"
lab_check "the kernel's verifier accepts the classifier (tc filter add ... bpf da)" \
	lab_exec v tc filter add dev pv ingress bpf da obj "$obj" sec classifier
lab_check "tc lists it" sh -c "ip netns exec '${LAB}v' tc filter show dev pv ingress | grep -q 'direct-action'"

# A listener on 5201 and 5202 in v; c connects to each with a deadline.
cat >"$LAB_DIR/listen.py" <<'EOF'
import socket, sys, threading
def serve(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], port))
    s.listen(8)
    while True:
        c, _ = s.accept()
        c.sendall(b"hello %d\n" % port)
        c.close()
for p in (5201, 5202):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
print("listening", flush=True)
threading.Event().wait()
EOF
cat >"$LAB_DIR/connect.py" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
data = s.recv(64)
sys.exit(0 if data == b"hello %s\n" % sys.argv[2].encode() else 1)
EOF
lab_spawn listen v python3 "$LAB_DIR/listen.py" "$VM2"
lab_wait_for 20 grep -q listening "$LAB_DIR/listen.log" || lab_die "listener did not start"

drops() { ip netns exec "${LAB}v" tc -s qdisc show dev pv ingress 2>/dev/null |
	sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -n 1; }
d0=$(drops)
lab_check "the grant: TCP c1 -> vm2 port 5201 connects" \
	lab_exec c python3 "$LAB_DIR/connect.py" "$VM2" 5201 10
lab_check "not granted: TCP c1 -> vm2 port 5202 does not" \
	sh -c "! ip netns exec '${LAB}c' python3 '$LAB_DIR/connect.py' '$VM2' 5202 3"
lab_check "org isolation: 3 pings c1 -> vm2 get no answer" \
	sh -c "! ip netns exec '${LAB}c' ping -6 -c 3 -i 0.2 -W 2 '$VM2'"
d1=$(drops)
lab_log "clsact ingress drops: ${d0:-?} -> ${d1:-?}"
# At least the 3 echo requests and the SYN to 5202 (TCP retries add more).
lab_check "the kernel counted the denied packets as drops (>= 4)" \
	test "$((${d1:-0} - ${d0:-0}))" -ge 4

lab_exec v tc filter del dev pv ingress
lab_check "the classifier removed, c pings v again" lab_exec c ping -6 -c 1 -W 5 "$VM2"
[ "$LAB_FAILS" -eq 0 ]
