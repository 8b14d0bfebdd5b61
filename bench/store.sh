#!/usr/bin/env bash
# bench/store.sh: peers at scale.  A store of 1,000,000 peers, and 10,000
# distinct emulated clients (the protocol core plays them) that each
# handshake once against an in-process gateway that has loaded none of them,
# then once more now that they are loaded (bench_store, on tests/fixture's
# gateway over ring ports).
#
#   bench/store.sh [--stored N] [--clients K] [--out DIR] [--check]
#
# Defaults: --stored 1000000 --clients 10000 (about 2 minutes here, most of it
# writing the store; the store is a temporary file, removed at the end).
# Prints the figures: first initiations answered, handshake latency (median,
# p99) for a stored-but-not-loaded peer and for a loaded one, handshakes per
# second, the peak of loaded peers, bytes per loaded peer and the RSS; writes
# them to DIR/store.json (default bench/out/).
# --check: exit 1 unless every client's first initiation was answered (both
# rounds, and the store loader's own count), nothing was limited, unknown or
# faulty, the peak of loaded peers equals the clients, a loaded peer with its
# session costs at most 2 KiB (both heaps, the tables sized for the peers
# included, SQLite's own page cache aside: its cache_size bounds it) and every figure is there; the test command (tests/run) runs
# `--stored 20000 --clients 1000 --check`.  The binary comes from
# $SG_BUILD_DIR (default build/).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SG_BUILD_DIR:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=$ROOT/bench/out
STORED=1000000
CLIENTS=10000
CHECK=0

while [ $# -gt 0 ]; do
	case $1 in
	--stored) STORED=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--check) CHECK=1; shift ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "bench/store.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
BIN=$BUILD/bench/bench_store
[ -x "$BIN" ] || { echo "bench/store.sh: no $BIN (meson setup build && ninja -C build)" >&2; exit 1; }
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/sg-bench-store.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "bench/store.sh: bench_store --stored $STORED --clients $CLIENTS" >&2
start=$SECONDS
rc=0
"$BIN" --stored "$STORED" --clients "$CLIENTS" --db "$tmp/peers.db" --json \
	>"$tmp/out.json" 2>"$tmp/err.txt" || rc=$?
secs=$((SECONDS - start))
if ! python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/out.json" 2>/dev/null; then
	echo "bench/store.sh: bench_store exited $rc without its figures:" >&2
	tail -n 20 "$tmp/err.txt" >&2
	exit 1
fi
cp "$tmp/out.json" "$OUT/store.json"

python3 - "$OUT/store.json" "$CHECK" "$rc" "$secs" "$(nproc)" \
	"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
check, rc, secs, cpus, cpu = sys.argv[2] == "1", int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
k = r["clients"]
cold, warm, ld = r["stored_not_loaded"], r["loaded"], r["loader"]
print("bench_store: %d stored peers, %d emulated clients, %s (%s CPUs); %d s in all, "
      "the store written in %.1f s" % (r["stored"], k, cpu, cpus, secs, r["fill_seconds"]))
print("| figure | stored, not loaded | loaded |")
print("| --- | ---: | ---: |")
print("| first initiations answered | %d of %d | %d of %d |" % (cold["answered"], k, warm["answered"], k))
print("| handshake median (us) | %.0f | %.0f |" % (cold["median_us"], warm["median_us"]))
print("| handshake p99 (us) | %.0f | %.0f |" % (cold["p99_us"], warm["p99_us"]))
print("| handshakes/s (one client at a time) | %.0f | %.0f |" % (cold["handshakes_per_s"], warm["handshakes_per_s"]))
print("peak loaded peers %d; per loaded peer with its session: %.0f bytes of DPDK heap, %.0f with "
      "the C heap; with the tables sized for them too and without SQLite's own %.1f MB: %.0f "
      "bytes (%.0f of DPDK heap); the gateway's heaps %.1f MB; RSS %d MB" % (
          r["peak_loaded"], r["bytes_per_loaded_peer_dpdk"], r["bytes_per_loaded_peer"],
          r["sqlite_mb"], r["bytes_per_loaded_peer_all"], r["bytes_per_loaded_peer_all_dpdk"],
          r["heap_mb"], r["rss_mb"]))
print("store loader: %d lookups, %d loaded, %d answered after their lookup, %d unknown, "
      "%d limited, %d faults" % (ld["lookups"], ld["loaded"], ld["answered"], ld["unknown"],
                                 ld["limited"], ld["faults"]))
if not check:
    sys.exit(0 if rc == 0 else 1)
fails = []
def want(what, ok):
    print("%s  %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        fails.append(what)
want("bench_store exited 0 (exit %d)" % rc, rc == 0)
want("no peer loaded before the clients (%d)" % r["loaded_at_start"], r["loaded_at_start"] == 0)
want("every client's first initiation answered: %d of %d" % (cold["answered"], k), cold["answered"] == k)
want("the store was asked once per client: %d lookups, %d loaded, %d answered after the lookup" % (
    ld["lookups"], ld["loaded"], ld["answered"]), ld["lookups"] == k and ld["loaded"] == k and ld["answered"] == k)
want("none unknown, limited or faulty (%d, %d, %d)" % (ld["unknown"], ld["limited"], ld["faults"]),
     ld["unknown"] == 0 and ld["limited"] == 0 and ld["faults"] == 0)
want("every loaded client answered again: %d of %d" % (warm["answered"], k), warm["answered"] == k)
want("peak of loaded peers = clients: %d" % r["peak_loaded"], r["peak_loaded"] == k)
want("a loaded peer with its session costs at most 2 KiB, everything counted: %.0f bytes" %
     r["bytes_per_loaded_peer_all"], 0 < r["bytes_per_loaded_peer_all"] <= 2048)
want("the figures are there (latency, rate, bytes per peer, RSS)",
     all(x[f] > 0 for x in (cold, warm) for f in ("median_us", "p99_us", "handshakes_per_s"))
     and all(x[f] >= x["median_us"] for x in (cold, warm) for f in ("p99_us",))
     and r["bytes_per_loaded_peer_dpdk"] > 0 and r["bytes_per_loaded_peer"] > 0 and r["rss_mb"] > 0)
sys.exit(1 if fails else 0)
PY
