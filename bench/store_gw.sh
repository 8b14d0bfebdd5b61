#!/usr/bin/env bash
# bench/store_gw.sh: peers at scale against a *running* sixgate.  A store of
# N peers (default 1,000,000), K of them (default 10,000) the clients that
# sixgate-pktgen plays (keys from a seed, as `sixgate-pktgen gen-config`
# makes them); the gateway loads none at start ([store] max_loaded = K) and
# the K clients each handshake once against it over a net_memif NIC, then
# send one second of traffic to the VM (a virtio_user port on its vhost-user
# socket).  Root (DPDK), no network namespace, nothing leaves the process pair.
#
#   sudo bench/store_gw.sh [--stored N] [--clients K] [--out DIR]
#
# Prints: handshakes completed, initiations sent (K when every client's first
# initiation was answered: sixgate-pktgen resends one after a second without
# a response), the gateway's initiations received and responses sent, the
# store's lookups, loads and answers, handshakes per second (64 clients at a
# time, each from a /64 of its own), the gateway's peak of loaded peers and
# its RSS; in
# DIR/store_gw.json (default bench/out/).  Handshake latency per client is
# bench/store.sh's (in process); sixgate-pktgen times the whole set only.
# Exit 1 unless all K handshakes completed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STORED=1000000
CLIENTS=10000
OUT=$ROOT/bench/out
while [ $# -gt 0 ]; do
	case $1 in
	--stored) STORED=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) echo "bench/store_gw.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
. "$ROOT/tests/lab/lib.sh"
. "$ROOT/tests/lab/vm.sh"
. "$ROOT/tests/lab/dp.sh"
lab_init stgw
PG=$DP_BUILD/app/sixgate-pktgen
CTL=$DP_BUILD/app/sixgatectl
for b in "$DP_SIXGATE" "$PG" "$CTL"; do
	[ -x "$b" ] || lab_die "no $b (meson setup build && ninja -C build)"
done
[ "$CLIENTS" -ge 1 ] && [ "$CLIENTS" -le 100000 ] && [ "$STORED" -ge "$CLIENTS" ] ||
	lab_die "1 <= clients <= 100000 and clients <= stored"
SEED=$((RANDOM + 1))
mkdir -p "$OUT"

lab_wg_keys gw
DP_CONF=$LAB_DIR/sixgate.conf
cat >"$DP_CONF" <<EOF
# Written by bench/store_gw.sh.
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

[store]
path = $LAB_DIR/peers.db
max_loaded = $CLIENTS
lookups_per_second = 1000000
lookups_in_flight = 512

[vm vm1]
socket = $LAB_DIR/vm1.sock
prefix = $DP_VM1_NET
network = $DP_ORG1
mac = 52:54:00:00:00:01
EOF

# The store: sixgatectl creates it (schema, mode 0600); the clients' rows
# and the filler in one transaction.
"$CTL" -c "$DP_CONF" -p none peer list >/dev/null || lab_die "sixgatectl cannot create the store"
"$PG" gen-config --peers "$CLIENTS" --seed "$SEED" --network "$DP_ORG1" >"$LAB_DIR/clients.conf" ||
	lab_die "gen-config failed"
t0=$SECONDS
python3 - "$LAB_DIR/peers.db" "$LAB_DIR/clients.conf" "$STORED" <<'PY' || lab_die "filling the store failed"
import base64, os, sqlite3, sys, time
db, conf, stored = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows, cur = [], {}
for line in open(conf):
    line = line.strip()
    if line.startswith("[peer "):
        cur = {"name": line[6:-1]}
        rows.append(cur)
    elif " = " in line and cur:
        k, v = line.split(" = ", 1)
        cur[k] = v
h = sqlite3.connect(db)
h.execute("PRAGMA synchronous = OFF")
now = int(time.time())
with h:
    h.executemany("INSERT INTO peers (name, public_key, org, address, allowed_ips, created) "
                  "VALUES (?, ?, ?, ?, ?, ?)",
                  ((r["name"], r["public_key"], r["network"], r["allowed_ips"].split("/")[0],
                    r["allowed_ips"], now) for r in rows))
    def filler():
        for i in range(stored - len(rows)):
            a = "fdaa:0:99:ff00::%x:%x" % (i >> 16, i & 0xffff)
            yield ("filler%d" % i, base64.b64encode(os.urandom(32)).decode(), "fdaa:0:99::/48",
                   a, a + "/128", now)
    h.executemany("INSERT INTO peers (name, public_key, org, address, allowed_ips, created) "
                  "VALUES (?, ?, ?, ?, ?, ?)", filler())
print(h.execute("SELECT count(*) FROM peers").fetchone()[0], file=sys.stderr)
PY
fill=$((SECONDS - t0))
lab_log "store: $STORED peers ($CLIENTS clients), written in $fill s"

DP_PREFIX=$(lab_dpdk_prefix gw)
LAB_PREFIXES+=("$DP_PREFIX")
# shellcheck disable=SC2046
lab_spawn sixgate "" "$DP_SIXGATE" --file-prefix "$DP_PREFIX" --no-pci $(lab_eal_mem 128 1024) \
	--lcores "0@($(lab_cpus)),1@($(lab_cpus))" \
	-- --config "$DP_CONF" --idle-sleep-us 20 --status-interval 5
DP_GW_PID=$LAB_LAST_PID
lab_wait_for 30 test -S "$LAB_DIR/vm1.sock" || lab_die "sixgate did not create vm1.sock"
lab_wait_for 30 grep -q "sixgate running" "$LAB_DIR/sixgate.log" || lab_die "sixgate did not start"
rss0=$(awk '/^VmRSS/ {print $2}' "/proc/$DP_GW_PID/status")
dp_tel /sixgate/counters >"$LAB_DIR/c0.json"
dp_tel /sixgate/store >"$LAB_DIR/s0.json"

prefix=$(lab_dpdk_prefix pg)
LAB_PREFIXES+=("$prefix")
mem="--no-huge -m 1024"
[ "$(lab_eal_mem 256 1024)" = "--huge-unlink" ] && mem="--single-file-segments"
# shellcheck disable=SC2086
timeout 300 "$PG" --file-prefix "$prefix" --no-pci $mem --lcores "0@($(lab_cpus))" \
	--vdev "net_memif0,role=client,socket=$LAB_DIR/nic.memif,socket-abstract=no" \
	--vdev "virtio_user0,path=$LAB_DIR/vm1.sock,queues=1" \
	-- --gw-pub "$(cat "$LAB_DIR/gw.pub")" --peers "$CLIENTS" --seed "$SEED" --nic-rxq 2 \
	--vm-addr "$DP_VM1" --hs-timeout 240 --size 64 --rate 10000 --seconds 1 --direction in \
	--drain 2 --json >"$LAB_DIR/pg.json" 2>"$LAB_DIR/pg.log"
pgrc=$?
dp_tel /sixgate/counters >"$LAB_DIR/c1.json"
dp_tel /sixgate/store >"$LAB_DIR/s1.json"
rss1=$(awk '/^VmRSS/ {print $2}' "/proc/$DP_GW_PID/status")
[ $pgrc -eq 0 ] || { tail -n 20 "$LAB_DIR/pg.log" >&2; lab_die "sixgate-pktgen exited $pgrc"; }

python3 - "$LAB_DIR" "$OUT/store_gw.json" "$STORED" "$CLIENTS" "$fill" "$rss0" "$rss1" \
	"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" "$(nproc)" <<'PY'
import json, sys
d, out = sys.argv[1], sys.argv[2]
stored, k, fill, rss0, rss1, cpu, ncpu = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), \
    int(sys.argv[6]), int(sys.argv[7]), sys.argv[8], sys.argv[9]
pg = json.load(open(d + "/pg.json"))
c0, c1 = (json.load(open("%s/%s.json" % (d, n)))["/sixgate/counters"] for n in ("c0", "c1"))
s0, s1 = (json.load(open("%s/%s.json" % (d, n)))["/sixgate/store"] for n in ("s0", "s1"))
dc = {x: c1[x] - c0[x] for x in ("initiations_rx", "responses_tx", "peers")}
dc["drops"] = {x: c1["drops"][x] - c0["drops"][x] for x in c1["drops"] if c1["drops"][x] != c0["drops"][x]}
ds = {x: s1[x] - s0[x] for x in ("lookups", "loaded_total", "answered", "unknown", "limited", "faults")}
r = {"stored": stored, "clients": k, "fill_seconds": fill, "handshakes": pg["handshakes"],
     "handshake_seconds": pg["handshake_seconds"], "initiations_sent": pg["initiations"],
     "handshakes_per_s": round(pg["handshakes"] / pg["handshake_seconds"]) if pg["handshake_seconds"] else 0,
     "gateway": dc, "store": ds, "loaded_at_start": s0["loaded"], "peak_loaded": s1["loaded"],
     "rss_mb_start": rss0 // 1024, "rss_mb": rss1 // 1024,
     "bytes_per_loaded_peer_rss": round((rss1 - rss0) * 1024 / max(1, s1["loaded"]))}
json.dump(r, open(out, "w"), indent=1)
print("bench/store_gw.sh: %d stored peers, %d clients (sixgate-pktgen) against a running sixgate, "
      "%s (%s CPUs); the store written in %d s" % (stored, k, cpu, ncpu, fill))
print("handshakes %d of %d in %.2f s (%d/s); initiations sent %d "
      "(%d resent without a response)" % (
          r["handshakes"], k, r["handshake_seconds"], r["handshakes_per_s"], r["initiations_sent"],
          r["initiations_sent"] - r["handshakes"]))
print("gateway: %d initiations received, %d responses sent; store: %d lookups, %d loaded, "
      "%d answered after their lookup, %d unknown, %d limited, %d faults" % (
          dc["initiations_rx"], dc["responses_tx"], ds["lookups"], ds["loaded_total"],
          ds["answered"], ds["unknown"], ds["limited"], ds["faults"]))
print("gateway drops meanwhile: %s" % (dc["drops"] or "none"))
print("loaded peers: %d at start, %d at the end (the peak: none evicted); gateway RSS %d MB at "
      "start, %d MB after (%d bytes of RSS per loaded peer)" % (
          r["loaded_at_start"], r["peak_loaded"], r["rss_mb_start"], r["rss_mb"],
          r["bytes_per_loaded_peer_rss"]))
sys.exit(0 if r["handshakes"] == k else 1)
PY
rc=$?
dp_finish >/dev/null 2>&1 || true
exit $rc
