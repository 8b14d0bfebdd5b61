#!/usr/bin/env bash
# sixgate-pktgen against a running sixgate, both in memory: the gateway's NIC
# is one end of a net_memif pair and its VM port a vhost-user socket; the
# generator holds the other memif end and a virtio_user port on that socket.
# 100 generated clients handshake (real Noise_IKpsk2), then send at a low
# fixed rate in both directions.  Asserted, exactly: every packet sent is
# received, in order, once, across rekeys, or counted by the gateway as
# dropped at a full queue towards the generator (whose one lcore a loaded
# machine can deschedule); the gateway's own counters agree with the
# generator's (decrypted = data + keepalives sent, vm_tx = received on the VM
# port, vm_rx = sent from it, encrypted = received on the client side) and it
# dropped nothing but what the handshakes explain; the --pcap file holds every
# frame sent; an --ndr search with short trials gives NDR <= PDR <= full speed;
# under a --flood of invalid initiations every one is accounted for and the
# clients still rekey; with --pool the data sealed before the run arrives the
# same, and its latency counts from when it was sent.
# No kernel network is involved (no namespace needed).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init pktgen

PG=${DP_PKTGEN:-$DP_BUILD/app/sixgate-pktgen}
[ -x "$PG" ] || lab_die "no sixgate-pktgen at $PG (build with meson/ninja)"
PEERS=100
SEED=$((RANDOM + 1))

lab_wg_keys gw
DP_CONF=$LAB_DIR/sixgate.conf
cat >"$DP_CONF" <<EOF
# Written by tests/lab/test_pktgen.sh.
[interface]
private_key_file = $LAB_DIR/gw.key
listen_port = $DP_PORT
address6 = $DP_GW6
mtu = 1420

[nic]
device = net_memif0,role=server,socket=$LAB_DIR/nic.memif,socket-abstract=no,mac=02:53:47:00:00:01
rx_queues = 1
tx_queues = 2

[workers]
lcores = 1

[metrics]
listen = off

[vm vm1]
socket = $LAB_DIR/vm1.sock
prefix = $DP_VM1_NET
network = $DP_ORG1
mac = 52:54:00:00:00:01
EOF
"$PG" gen-config --peers $PEERS --seed $SEED --network "$DP_ORG1" >>"$DP_CONF" ||
	lab_die "gen-config failed"
lab_check "gen-config wrote $PEERS [peer] sections" \
	test "$(grep -c '^\[peer pg' "$DP_CONF")" -eq $PEERS

# The gateway: one worker (the machine has two cores), idle sleep so that it
# leaves the generator room.
DP_PREFIX=$(lab_dpdk_prefix gw)
LAB_PREFIXES+=("$DP_PREFIX")
# shellcheck disable=SC2046
lab_spawn sixgate "" "$DP_SIXGATE" --file-prefix "$DP_PREFIX" --no-pci $(lab_eal_mem 64 256) \
	--lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
	-- --config "$DP_CONF" --idle-sleep-us 20 --status-interval 5
DP_GW_PID=$LAB_LAST_PID
lab_wait_for 30 test -S "$LAB_DIR/vm1.sock" || lab_die "sixgate did not create vm1.sock"
lab_wait_for 20 grep -q "sixgate running" "$LAB_DIR/sixgate.log" || lab_die "sixgate did not start"

# pktgen_run NAME ARGS...: one generator run, its JSON in $LAB_DIR/NAME.json.
pktgen_run() {
	local name=$1 prefix mem
	shift
	prefix=$(lab_dpdk_prefix "$name")
	LAB_PREFIXES+=("$prefix")
	# virtio_user needs its memory in one file per segment list, or no hugepages.
	mem="--no-huge -m 512"
	[ "$(lab_eal_mem 128 512)" = "--huge-unlink" ] && mem="--single-file-segments"
	# shellcheck disable=SC2086
	timeout 120 "$PG" --file-prefix "$prefix" --no-pci $mem --lcores "0@($(lab_cpus))" \
		--vdev "net_memif0,role=client,socket=$LAB_DIR/nic.memif,socket-abstract=no" \
		--vdev "virtio_user0,path=$LAB_DIR/vm1.sock,queues=1,queue_size=1024" \
		-- --gw-pub "$(cat "$LAB_DIR/gw.pub")" --peers $PEERS --seed $SEED --nic-rxq 2 \
		--vm-addr "$DP_VM1" --drain 3 --json "$@" >"$LAB_DIR/$name.json" 2>"$LAB_DIR/$name.log"
}

counters() { dp_tel /sixgate/counters >"$LAB_DIR/$1.counters.json"; }

# check_run NAME BEFORE AFTER: the generator's own accounting, then the gateway's deltas.
check_run() {
	python3 - "$LAB_DIR/$1.json" "$LAB_DIR/$2.counters.json" "$LAB_DIR/$3.counters.json" ${4:+"$4"} <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))["/sixgate/counters"]
b = json.load(open(sys.argv[3]))["/sixgate/counters"]
d = {k: b[k] - a[k] for k in b if isinstance(b[k], int)}
drops = {k: b["drops"][k] - a["drops"][k] for k in b["drops"]}
bad = []
def want(what, got, exp):
    print("%-52s %12d %s %d" % (what, got, "==" if got == exp else "!= (FAIL)", exp))
    if got != exp:
        bad.append(what)
want("handshakes", r["handshakes"], r["peers"])
# On a loaded machine the generator's single lcore can be descheduled long
# enough for the gateway's queues towards it to fill: such a packet is one
# the gateway counted (vm_tx_full towards the VM port, nic_tx_full towards
# the clients), never an unexplained loss.
full_vm, full_nic = drops["vm_tx_full"], drops["nic_tx_full"]
if full_vm or full_nic:
    print("lost to full queues towards the generator: vm_tx_full %d nic_tx_full %d" %
          (full_vm, full_nic))
want("in: received + the gateway's vm_tx_full = sent", r["in"]["rx"] + full_vm, r["in"]["tx"])
want("out: sent - received <= the gateway's nic_tx_full", r["out"]["tx"] - r["out"]["rx"] <= full_nic,
     True)
for dname in ("in", "out"):
    x = r[dname]
    want(dname + ": reordered", x["reordered"], 0)
    want(dname + ": duplicated", x["duplicated"], 0)
    want(dname + ": sent > 0", x["tx"] > 0, True)
want("refused by the generator (bad tag, index, other)",
     r["rx_bad_tag"] + r["rx_unknown_index"] + r["rx_other"], 0)
want("gateway decrypted = in sent + keepalives", d["decrypted"],
     r["in"]["tx"] + r["keepalives_tx"])
want("gateway keepalive_rx = keepalives sent", d["keepalive_rx"], r["keepalives_tx"])
want("gateway vm_tx = in received", d["vm_tx"], r["in"]["rx"])
want("gateway vm_rx = out sent", d["vm_rx"], r["out"]["tx"])
want("gateway encrypted = out sent + its keepalives", d["encrypted"],
     r["out"]["tx"] + d["keepalive_tx"])
want("gateway's NIC frames (responses + encrypted) = received by the generator + nic_tx_full",
     d["responses_tx"] + d["encrypted"],
     r["responses"] + r["out"]["rx"] + r["keepalives_rx"] + full_nic)
want("gateway confirmed sessions = handshakes + rekeys", d["confirmed"],
     r["handshakes"] + r["rekeys"])
want("one confirming keepalive per session", r["keepalives_tx"], r["handshakes"] + r["rekeys"])
if len(sys.argv) > 4:
    want("every client rekeyed at least once", r["rekeys"] >= r["peers"], True)
# Handshakes: every initiation arrived; every response the gateway made
# reached the generator, unless the gateway counted it nic_tx_full (the
# generator's queues come up after its link, or it was descheduled); an initiation the gateway
# refused is one it counted wg_hs_flood or wg_timestamp (a retransmission that met the first
# in its queue on a loaded machine).  Nothing else is dropped.
want("gateway initiations_rx = initiations sent", d["initiations_rx"], r["initiations"])
refused = drops["wg_hs_flood"] + drops["wg_timestamp"]
want("gateway initiations refused = wg_hs_flood + wg_timestamp",
     d["initiations_rx"] - d["responses_tx"], refused)
want("  ... each one a retransmission", refused <= r["initiations"] - r["handshakes"] - r["rekeys"],
     True)
want("gateway drops other than those", d["drops_total"] - full_nic - full_vm - refused, 0)
want("generator: nothing left unsent", r["tx_failed"], 0)
sys.exit(1 if bad else 0)
PY
}

counters c0
# Run 1 rekeys every session after 1 s while traffic flows (the old session
# stays until the new one's response; both sides receive on both meanwhile).
lab_check "run 1: 64-byte inner packets, 20,000 pps each way, 3 s, a rekey every 1 s" \
	pktgen_run run1 --size 64 --rate 20000 --seconds 3 --direction both --rekey-after 1
counters c1
lab_log "run 1: $(grep -E '^(in|out):' "$LAB_DIR/run1.log" | tr '\n' ' ')"
lab_check "run 1: exact accounting, generator and gateway, across rekeys" check_run run1 c0 c1 rekeys
lab_check "run 2: IMIX inner packets, 5,000 pps each way, 2 s, 16 flows a client, --pcap" \
	pktgen_run run2 --size imix --rate 5000 --seconds 2 --direction both --flows 16 \
	--pcap "$LAB_DIR/run2.pcap"
counters c2
lab_log "run 2: $(grep -E '^(in|out):' "$LAB_DIR/run2.log" | tr '\n' ' ')"
lab_check "run 2: exact accounting, generator and gateway" check_run run2 c1 c2
lab_check "run 2: the 16 flows (inner source ports) arrived each way; run 1's one" python3 -c '
import json, sys
r2, r1 = (json.load(open(f)) for f in sys.argv[1:3])
print("run 2 flows", r2["flows"], r2["in"]["flows"], r2["out"]["flows"], "run 1", r1["in"]["flows"], r1["out"]["flows"])
sys.exit(0 if r2["in"]["flows"] == r2["out"]["flows"] == 16 and r1["in"]["flows"] == r1["out"]["flows"] == 1 else 1)
' "$LAB_DIR/run2.json" "$LAB_DIR/run1.json"
# The capture: classic pcap, microseconds, Ethernet, snaplen 1514; one frame
# for every initiation, keepalive and data message sent on the NIC port.
lab_check "run 2: the pcap holds every frame sent on the NIC port, none over 1514 bytes" \
	python3 - "$LAB_DIR/run2.pcap" "$LAB_DIR/run2.json" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
r = json.load(open(sys.argv[2]))
magic, major, minor, _, _, snap, link = struct.unpack("<IHHiIII", b[:24])
assert (magic, major, minor, snap, link) == (0xa1b2c3d4, 2, 4, 1514, 1), (magic, snap, link)
off, n, sizes = 24, 0, set()
while off < len(b):
    _, usec, incl, orig = struct.unpack("<IIII", b[off:off + 16])
    assert usec < 1000000 and incl == orig <= 1514, (usec, incl, orig)
    sizes.add(orig)
    off += 16 + incl
    n += 1
want = r["initiations"] + r["keepalives_tx"] + r["in"]["tx"]
print("frames", n, "expected", want, "sizes", sorted(sizes))
assert n == want and 1514 in sizes and 158 in sizes
PY
# The NDR/PDR search, with short trials: it runs, the figures are ordered.
lab_check "run 3: --ndr with 1 s trials" pktgen_run run3 --size 64 --direction in --ndr \
	--trial 1 --precision 0.25 --drain 1
lab_check "run 3: NDR <= PDR <= the full-speed trial, each trial's received <= sent" \
	python3 - "$LAB_DIR/run3.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["trials"]
print("ndr", r["ndr"]["pps"], "pdr", r["pdr"]["pps"], "max", t[0]["pps"], "trials", len(t))
assert len(t) >= 1 and all(x["rx"] <= x["tx"] for x in t)
assert 0 < r["ndr"]["pps"] <= r["pdr"]["pps"] <= t[0]["pps"] * 1.0001
PY
# Run 4: a flood of invalid initiations (valid mac1, junk inside) while data
# flows and every client rekeys each second.  Counted exactly: every
# initiation that arrived either met a full handshake ring on the worker or
# reached the control lcore, and every one there was answered or refused
# under a named reason; the data is decrypted in full and reaches the VM
# unless its ring was full; the real clients still rekey (through cookies,
# once the flood has put the gateway under load).
counters c3
lab_check "run 4: 64-byte packets in at 2,000 pps, 3 s, --flood 50000, a rekey every 1 s" \
	pktgen_run run4 --size 64 --rate 2000 --seconds 3 --direction in --flood 50000 --rekey-after 1
counters c4
lab_log "run 4: $(grep -E '^(in|flood):' "$LAB_DIR/run4.log" | tr '\n' ' ')"
lab_check "run 4: the flood and the handshakes counted exactly" \
	python3 - "$LAB_DIR/run4.json" "$LAB_DIR/c3.counters.json" "$LAB_DIR/c4.counters.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))["/sixgate/counters"]
b = json.load(open(sys.argv[3]))["/sixgate/counters"]
d = {k: b[k] - a[k] for k in b if isinstance(b[k], int)}
drops = {k: b["drops"][k] - a["drops"][k] for k in b["drops"]}
print("generator:", {k: r[k] for k in ("flood_tx", "initiations", "responses", "cookie_replies",
                                       "handshakes", "rekeys")}, r["in"]["tx"], r["in"]["rx"])
print("gateway:", {k: d[k] for k in ("initiations_rx", "responses_tx", "decrypted", "vm_tx")},
      {k: v for k, v in drops.items() if v})
bad = []
def want(what, got, exp):
    print("%-60s %10d %s %d" % (what, got, "==" if got == exp else "!= (FAIL)", exp))
    if got != exp:
        bad.append(what)
want("flood sent", r["flood_tx"] > 0, True)
want("flood + initiations = hs_ring_full + initiations_rx", r["flood_tx"] + r["initiations"],
     drops["wg_hs_ring_full"] + d["initiations_rx"])
refused = sum(drops[k] for k in ("wg_mac2", "wg_static", "wg_hs_ratelimit", "wg_timestamp",
                                 "wg_hs_flood", "wg_handshake"))
want("initiations_rx - responses_tx = refused under a named reason",
     d["initiations_rx"] - d["responses_tx"], refused)
want("junk refused at least as flood that reached the control lcore",
     refused >= d["initiations_rx"] - r["initiations"], True)
want("real clients rekeyed under the flood", r["rekeys"] > 0, True)
want("gateway decrypted = in sent + keepalives", d["decrypted"], r["in"]["tx"] + r["keepalives_tx"])
want("VM received + vm_tx_full = in sent", r["in"]["rx"] + drops["vm_tx_full"], r["in"]["tx"])
want("gateway vm_tx = in received", d["vm_tx"], r["in"]["rx"])
want("generator: reordered + duplicated", r["in"]["reordered"] + r["in"]["duplicated"], 0)
sys.exit(1 if bad else 0)
PY
# Run 5: the client -> VM data sealed before the run (--pool), while every
# client rekeys each second: the same exact accounting; the data came from
# the pool (what two rekeys made stale was skipped, never sent, and the run
# then sealed as it sent); and its latency counts from when it left, not from
# when it was sealed (before the run: up to seconds earlier).
counters c5
lab_check "run 5: --pool 32, 64-byte packets, 20,000 pps each way, 3 s, a rekey every 1 s" \
	pktgen_run run5 --size 64 --rate 20000 --seconds 3 --direction both --rekey-after 1 --pool 32
counters c6
lab_log "run 5: $(grep -E '^(in|out|pool):' "$LAB_DIR/run5.log" | tr '\n' ' ')"
lab_check "run 5: exact accounting, generator and gateway, from the pool" check_run run5 c5 c6 rekeys
lab_check "run 5: the data came from the pool; its latency from when it left" \
	python3 - "$LAB_DIR/run5.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
p, i = r["pool"], r["in"]
print("pool", p, "in tx", i["tx"], "rx", i["rx"], "p50 us", i["latency_ns"]["p50"] / 1e3)
# Sealed for the whole run; what two rekeys made stale was skipped (and the
# run sealed more as it sent): had it been sent, the gateway would have
# dropped it (wg_unknown_index) and the exact accounting above would fail.
assert 10000 <= p["sent"] <= i["tx"], "the run's data from the pool"
assert p["sealed"] >= 60000 and p["sent"] + p["stale"] <= p["sealed"]
assert i["latency_ns"]["p50"] < 100e6, "p50 from the sealing time, not the send"
PY
lab_check "no sanitizer report from sixgate-pktgen" \
	sh -c "! cat '$LAB_DIR'/run*.log | grep -qE 'runtime error|AddressSanitizer|LeakSanitizer'"
cat "$LAB_DIR/checks.log" >&2
dp_finish
