#!/usr/bin/env bash
# A sixgate-pktgen capture replayed by Debian's tcpreplay into a running
# gateway, counted at a kernel VM.  sixgate (net_af_packet on its veth, as in
# the other dp tests) serves vm1, a kernel network stack behind vhost-user
# (vm.sh).  In a client namespace on the same switch, sixgate-pktgen
# (net_af_packet on the client's veth) makes real handshakes for 10 clients
# with the gateway, confirms each session with a keepalive, then seals 2,000
# IMIX data messages under those sessions and writes them to a classic pcap
# instead of sending them (--pcap-only), 2 ms apart.  tcpreplay replays the
# file on the client's veth.  Asserted, exactly: the VM's UDP socket receives
# each inner packet once (2,000 datagrams, sequence numbers 0..1,999), the
# gateway decrypted 2,000 and handed 2,000 to the VM, with no data-path drop.
# A second replay of the same file is all old counters: 2,000 wg_replay drops,
# nothing more decrypted or delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init pcaprp

PG=${DP_PKTGEN:-$DP_BUILD/app/sixgate-pktgen}
[ -x "$PG" ] || lab_die "no sixgate-pktgen at $PG (build with meson/ninja)"
command -v tcpreplay >/dev/null || lab_die "no tcpreplay (scripts/setup installs it)"
PEERS=10
N=2000
SEED=$((RANDOM + 1))

dp_lab_net
# The generator's namespace: one veth on the switch, no kernel IPv6 on it
# (sixgate-pktgen and tcpreplay own it; the kernel would add ND and MLD).
lab_netns c1
lab_veth sw "${LAB}w1" c1 "${LAB}c1"
lab_exec sw ip link set "${LAB}w1" master br0
lab_exec c1 sysctl -qw "net.ipv6.conf.${LAB}c1.disable_ipv6=1"

dp_conf_begin
dp_conf_vm vm1 "$DP_VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
"$PG" gen-config --peers $PEERS --seed $SEED --network "$DP_ORG1" >>"$DP_CONF" ||
	lab_die "gen-config failed"
dp_gw_start vm1
lab_netns vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$DP_VM1/112" "$(lab_mac_of vm1)"

# The VM's receiver: counts the inner UDP datagrams and their sequence
# numbers (the first 8 bytes of sixgate-pktgen's payload), rewriting
# vmrx.json at every pause.
cat >"$LAB_DIR/vmrx.py" <<'PY'
import json, os, socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind((sys.argv[1], 7777))
s.settimeout(0.2)
n, seqs, sizes = 0, set(), set()
def dump():
    with open(sys.argv[2] + ".tmp", "w") as f:
        json.dump({"datagrams": n, "distinct": len(seqs), "min": min(seqs, default=-1),
                   "max": max(seqs, default=-1), "sizes": sorted(sizes)}, f)
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
dump()
while True:
    try:
        b = s.recv(2048)
    except socket.timeout:
        dump()
        continue
    n += 1
    sizes.add(len(b) + 48)  # the inner IPv6 packet's size
    if len(b) >= 8:
        seqs.add(struct.unpack_from("<Q", b)[0])
PY
lab_spawn vmrx vm1 python3 "$LAB_DIR/vmrx.py" "$DP_VM1" "$LAB_DIR/vmrx.json"
VMRX_PID=$LAB_LAST_PID
lab_wait_for 10 test -s "$LAB_DIR/vmrx.json" || lab_die "the VM's receiver did not start"

# The capture: sessions made live over the veth, their data written, not sent.
PG_PREFIX=$(lab_dpdk_prefix pg)
LAB_PREFIXES+=("$PG_PREFIX") # recorded here: $(...) ran lab_dpdk_prefix in a subshell
lab_exec c1 timeout 120 "$PG" --file-prefix "$PG_PREFIX" --no-pci --no-huge -m 256 \
	--lcores "0@($(lab_cpus))" --vdev "net_af_packet0,iface=${LAB}c1" \
	-- --gw-pub "$(cat "$LAB_DIR/gw.pub")" --peers $PEERS --seed $SEED --vm-addr "$DP_VM1" \
	--size imix --rate 500 --pcap-only --pcap "$LAB_DIR/replay.pcap" --pcap-max $N \
	--json >"$LAB_DIR/pg.json" 2>"$LAB_DIR/pg.log"
PG_RC=$?
lab_log "pktgen: $(grep -h '^handshakes' "$LAB_DIR/pg.log")"
lab_check "sixgate-pktgen --pcap-only: $PEERS handshakes, $N data messages written" \
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(r)
sys.exit(0 if int(sys.argv[2]) == 0 and (r["handshakes"], r["in"]["tx"], r["pcap_frames"],
    r["tx_failed"]) == (int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[4]), 0) else 1)' \
	"$LAB_DIR/pg.json" $PG_RC $PEERS $N

counters() { dp_tel /sixgate/counters >"$LAB_DIR/$1.counters.json"; }

# deltas BEFORE AFTER EXPECT_DECRYPTED EXPECT_VM_TX EXPECT_REPLAY: the
# gateway's counters between two snapshots.  Data-path drops are every
# reason but the link-local noise of the kernels on the switch and in the VM.
deltas() {
	python3 - "$LAB_DIR/$1.counters.json" "$LAB_DIR/$2.counters.json" "$3" "$4" "$5" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["/sixgate/counters"]
b = json.load(open(sys.argv[2]))["/sixgate/counters"]
dec, vmtx, rep = (int(x) for x in sys.argv[3:6])
d = {k: b[k] - a[k] for k in b if isinstance(b[k], int)}
drops = {k: b["drops"][k] - a["drops"][k] for k in b["drops"]}
noise = ("eth_type", "eth_not_for_us", "ip_not_for_us", "ip_proto", "local_other", "martian",
         "local_ratelimit", "vm_truncated", "vm_spoof", "no_peer")
data = {k: v for k, v in drops.items() if v and k not in noise and k != "wg_replay"}
bad = []
def want(what, got, exp):
    print("%-48s %8d %s %d" % (what, got, "==" if got == exp else "!= (FAIL)", exp))
    if got != exp:
        bad.append(what)
want("gateway decrypted", d["decrypted"], dec)
want("gateway vm_tx", d["vm_tx"], vmtx)
want("gateway wg_replay drops", drops["wg_replay"], rep)
want("gateway data-path drops but wg_replay %s" % data, sum(data.values()), 0)
sys.exit(1 if bad else 0)
PY
}

# vm_got N: the VM received N datagrams, sequence numbers 0..N-1, each once.
vm_got() {
	python3 - "$LAB_DIR/vmrx.json" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
print("VM:", r)
sys.exit(0 if (r["datagrams"], r["distinct"], r["min"], r["max"]) == (n, n, 0, n - 1) else 1)
PY
}

# vm_at_least N: the VM has received N datagrams or more.
vm_at_least() { [ "$(vm_count)" -ge "$1" ]; }

# replays_at_least SNAPSHOT N: N more wg_replay drops than in SNAPSHOT.
replays_at_least() {
	dp_tel /sixgate/counters | python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["/sixgate/counters"]["drops"]["wg_replay"]
b = json.load(sys.stdin)["/sixgate/counters"]["drops"]["wg_replay"]
sys.exit(0 if b - a >= int(sys.argv[2]) else 1)' "$LAB_DIR/$1.counters.json" "$2"
}

vm_count() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["datagrams"])' "$LAB_DIR/vmrx.json"; }

# replay NAME: tcpreplay the capture once on the client's veth, at 500
# frames per second; checks that it sent every frame.
replay() {
	lab_exec c1 tcpreplay -i "${LAB}c1" --pps 500 "$LAB_DIR/replay.pcap" >"$LAB_DIR/$1.log" 2>&1 &&
		grep -qE "Successful packets: +$N\b" "$LAB_DIR/$1.log" &&
		grep -qE "Failed packets: +0\b" "$LAB_DIR/$1.log"
}

lab_check "the pcap: classic, microseconds, Ethernet, $N data frames of 1514 bytes at most" \
	python3 - "$LAB_DIR/replay.pcap" "$N" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
magic, major, minor, _, _, snap, link = struct.unpack("<IHHiIII", b[:24])
assert (magic, major, minor, snap, link) == (0xa1b2c3d4, 2, 4, 1514, 1), (magic, snap, link)
off, n, sizes = 24, 0, set()
while off < len(b):
    _, usec, incl, orig = struct.unpack("<IIII", b[off:off + 16])
    assert incl == orig <= 1514 and b[off + 16 + 62] == 4, (incl, orig)  # WireGuard data
    sizes.add(orig)
    off += 16 + incl
    n += 1
print("frames", n, "sizes", sorted(sizes))
assert n == int(sys.argv[2]) and max(sizes) == 1514
PY

sleep 1
counters c0
lab_check "tcpreplay 1: $N frames sent" replay replay1
lab_wait_for 30 vm_at_least $N
sleep 1
counters c1
lab_check "replay 1: the VM received each of the $N inner packets once" vm_got $N
lab_check "replay 1: the gateway decrypted $N, delivered $N to the VM, dropped none" \
	deltas c0 c1 $N $N 0
lab_log "replay 1: VM $(vm_count) datagrams"

lab_check "tcpreplay 2 (the same file): $N frames sent" replay replay2
lab_wait_for 30 replays_at_least c1 $N
sleep 1
counters c2
lab_check "replay 2: every frame a replay ($N wg_replay), nothing decrypted or delivered" \
	deltas c1 c2 0 0 $N
lab_check "replay 2: the VM still has $N datagrams" vm_got $N
lab_stop "$VMRX_PID"
lab_check "no sanitizer report from sixgate-pktgen" \
	sh -c "! grep -qE 'runtime error|AddressSanitizer|LeakSanitizer' '$LAB_DIR/pg.log'"
cat "$LAB_DIR/checks.log" >&2
dp_finish
