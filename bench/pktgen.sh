#!/usr/bin/env bash
# bench/pktgen.sh: sixgate's no-drop and partial-drop rates (RFC 2544, as
# FD.io CSIT reports them for VPP), measured end to end by sixgate-pktgen
# against a running sixgate with one worker: per inner packet size and
# direction, for each number of clients.  Both processes in memory (net_memif
# NIC pair, vhost-user/virtio_user VM port), as tests/lab/test_pktgen.sh.
#
#   sudo bench/pktgen.sh [--peers "1 100 10000"] [--sizes "64 512 1420 imix"]
#                        [--directions "in out both"] [--trial S] [--out FILE]
#                        [--rate PPS --seconds S] [--extra "PKTGEN ARGS"]
#                        [--precision F] [--pool MB]
#
# Prints one table (NDR, PDR, their Gbit/s of inner packets and p99 latency
# at NDR) and writes every search's JSON to --out (default
# bench/out/pktgen.json).  Takes about (trial + 1 s) x 10 trials per row.
# With --rate, each row is one run at that rate per direction for --seconds
# instead of a search (--rate max: full speed).  --extra goes to every
# sixgate-pktgen (for example "--flood max" or "--rekey-after 1").  Each
# row's JSON also holds the gateway's drop counters over the row ("gw_drops",
# deltas of /sixgate/counters) and its handshake counters.  --pool MB (default
# 1024; 0 = off) has sixgate-pktgen seal each trial's client -> VM data before
# the trial starts, up to MB megabytes of it, so that the trial's core goes to
# sending and receiving (docs/bench.md).
set -u
. "$(dirname "$0")/../tests/lab/lib.sh"
. "$(dirname "$0")/../tests/lab/vm.sh"
. "$(dirname "$0")/../tests/lab/dp.sh"

PEERS_LIST="100"
SIZES="64 1420"
DIRS="in out"
TRIAL=10
OUT=$DP_ROOT/bench/out/pktgen.json
RATE=
SECS=10
EXTRA=
PRECISION=0.02
POOL=1024
while [ $# -gt 0 ]; do
	case $1 in
	--peers) PEERS_LIST=$2; shift 2 ;;
	--sizes) SIZES=$2; shift 2 ;;
	--directions) DIRS=$2; shift 2 ;;
	--trial) TRIAL=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--extra) EXTRA=$2; shift 2 ;;
	--precision) PRECISION=$2; shift 2 ;;
	--pool) POOL=$2; shift 2 ;;
	*) echo "usage: $0 [--peers LIST] [--sizes LIST] [--directions LIST] [--trial S] [--out FILE]" \
		"[--rate PPS --seconds S] [--extra ARGS] [--precision F] [--pool MB]" >&2
		exit 2 ;;
	esac
done
lab_init pgbench
POOL_ARGS=()
[ "$POOL" -gt 0 ] 2>/dev/null && POOL_ARGS=(--pool "$POOL")
PG=$DP_BUILD/app/sixgate-pktgen
[ -x "$PG" ] && [ -x "$DP_SIXGATE" ] || lab_die "build first: meson setup build && ninja -C build"
mkdir -p "$(dirname "$OUT")"
lab_wg_keys gw
results=()

for peers in $PEERS_LIST; do
	conf=$LAB_DIR/sixgate-$peers.conf
	cat >"$conf" <<EOF
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
	"$PG" gen-config --peers "$peers" --seed "$peers" --network "$DP_ORG1" >>"$conf" ||
		lab_die "gen-config"
	prefix=$(lab_dpdk_prefix "gw$peers")
	LAB_PREFIXES+=("$prefix")
	rm -f "$LAB_DIR/vm1.sock" "$LAB_DIR/nic.memif"
	# shellcheck disable=SC2046
	lab_spawn "sixgate-$peers" "" "$DP_SIXGATE" --file-prefix "$prefix" --no-pci \
		$(lab_eal_mem 64 512) --lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
		-- --config "$conf" --idle-sleep-us 20
	gw=$LAB_LAST_PID
	# shellcheck disable=SC2034 # read by dp_tel (dp.sh)
	DP_PREFIX=$prefix
	lab_wait_for 120 grep -aq "sixgate running" "$LAB_DIR/sixgate-$peers.log" ||
		lab_die "sixgate with $peers peers did not start"
	for size in $SIZES; do
		for dir in $DIRS; do
			name="p$peers-$size-$dir"
			pre=$(lab_dpdk_prefix "$name")
			LAB_PREFIXES+=("$pre")
			mem="--no-huge -m 512"
			[ "$(lab_eal_mem 128 512)" = "--huge-unlink" ] && mem="--single-file-segments"
			if [ -n "$RATE" ]; then
				how=(--rate "$RATE" --seconds "$SECS")
				lab_log "rate $RATE: $peers clients, $size bytes, direction $dir, $SECS s ${EXTRA}"
			else
				how=(--ndr --trial "$TRIAL" --precision "$PRECISION")
				lab_log "NDR/PDR: $peers clients, $size bytes, direction $dir, trials of $TRIAL s ${EXTRA}"
			fi
			dp_tel /sixgate/counters >"$LAB_DIR/$name.before.json"
			# shellcheck disable=SC2086
			"$PG" --file-prefix "$pre" --no-pci $mem --lcores "0@($(lab_cpus))" \
				--vdev "net_memif0,role=client,socket=$LAB_DIR/nic.memif,socket-abstract=no" \
				--vdev "virtio_user0,path=$LAB_DIR/vm1.sock,queues=1" \
				-- --gw-pub "$(cat "$LAB_DIR/gw.pub")" --peers "$peers" --seed "$peers" \
				--nic-rxq 2 --vm-addr "$DP_VM1" --size "$size" --direction "$dir" \
				"${how[@]}" ${POOL_ARGS[@]+"${POOL_ARGS[@]}"} $EXTRA --json >"$LAB_DIR/$name.json" 2>"$LAB_DIR/$name.log"
			dp_tel /sixgate/counters >"$LAB_DIR/$name.after.json"
			# The gateway's side of the row: its drops and handshake counters.
			python3 - "$LAB_DIR/$name" "$peers" "$size" "$dir" "$EXTRA" <<'PY' || true
import json, sys
base = sys.argv[1]
try:
    r = json.load(open(base + ".json"))
except (OSError, ValueError):
    r = {"error": "no result (see %s.log)" % base}
r.update({"peers": int(sys.argv[2]), "size": sys.argv[3], "direction": sys.argv[4],
          "extra": sys.argv[5]})
try:
    a = json.load(open(base + ".before.json"))["/sixgate/counters"]
    b = json.load(open(base + ".after.json"))["/sixgate/counters"]
    r["gw_drops"] = {k: b["drops"][k] - a["drops"][k] for k in b["drops"]
                     if b["drops"][k] != a["drops"][k]}
    r["gw"] = {k: b[k] - a[k] for k in ("initiations_rx", "responses_tx", "cookie_tx",
                                          "confirmed", "decrypted", "encrypted", "vm_tx",
                                          "ticks", "tick_visits", "tick_visits_max")
               if isinstance(b.get(k), int)}
except (OSError, ValueError, KeyError, TypeError):
    pass
json.dump(r, open(base + ".json", "w"))
PY
			results+=("$LAB_DIR/$name.json")
		done
	done
	lab_stop "$gw"
done

python3 - "$OUT" "${results[@]}" <<'PY'
import json, os, sys, time
out, files = sys.argv[1], sys.argv[2:]
rows = []
for f in files:
    try:
        rows.append(json.load(open(f)))
    except (OSError, ValueError):
        rows.append({"file": f, "error": "no result (see its .log)"})
    if "error" in rows[-1] and "file" not in rows[-1]:
        rows[-1]["file"] = f
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
feat = " ".join(f for f in ("aes", "avx2", "avx512f", "avx512vl", "vaes") if f in flags)
print("sixgate-pktgen NDR/PDR, %s, %s (%s), one gateway worker; generator and gateway share %d CPUs"
      % (time.strftime("%Y-%m-%d"), cpu, feat, os.cpu_count()))
print("%8s %6s %5s %12s %10s %12s %10s %12s  %s" % ("clients", "size", "dir", "NDR pps", "NDR Gb/s",
                                                   "PDR pps", "PDR Gb/s", "p99 @NDR us", "extra"))
for r in rows:
    if "error" in r:
        print("%s %s %s: %s" % (r.get("peers"), r.get("size"), r.get("direction"), r["error"]))
        continue
    if "ndr" not in r:
        # One run at a fixed rate: what was received, per direction.
        for d in ("in", "out"):
            if d in r:
                x = r[d]
                print("%8d %6s %5s rate %.0f: sent %d received %d lost %d, %.4f Mpps %.3f Gb/s "
                      "p99 %.1f us  %s" % (r["peers"], r["size"], d, r["rate"], x["tx"], x["rx"],
                                           x["lost"], x["mpps"], x["gbps"],
                                           x["latency_ns"]["p99"] / 1e3, r.get("extra", "")))
        continue
    print("%8d %6s %5s %12.0f %10.3f %12.0f %10.3f %12.1f  %s" % (
        r["peers"], r["size"], r["direction"], r["ndr"]["pps"], r["ndr"]["gbps"], r["pdr"]["pps"],
        r["pdr"]["gbps"], r["ndr"]["latency_ns"]["p99"] / 1e3, r.get("extra", "")))
json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpu": cpu,
           "features": feat, "results": rows}, open(out, "w"), indent=1)
print("written:", out)
PY
