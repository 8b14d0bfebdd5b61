/* SPDX-License-Identifier: MIT */
/*
 * Peers at scale: a store of many peers, and emulated clients (the protocol
 * core plays them, tests/fixture) that each handshake once against an
 * in-process gateway that has loaded none of them, then once more now that
 * they are loaded.
 *
 *   bench_store [--stored N] [--clients K] [--db PATH] [--json]
 *
 * Defaults: 100,000 stored peers, 2,000 clients (the scale is
 * --stored 1000000 --clients 10000).  Reports: how many first initiations
 * were answered, handshake latency (median, 99th percentile) for a
 * stored-but-not-loaded peer and for a loaded one, handshakes per second,
 * the peak of loaded peers, bytes per loaded peer (DPDK and C heaps, its
 * session included) and the process's RSS.  A latency here is one whole
 * handshake as the client sees it in process: its initiation made, the
 * gateway's work (and for a stored peer the store lookup on the sg-store
 * thread), its response consumed.  --json prints the same figures as one
 * JSON object instead (the store loader's counters too), for scripts and
 * the test command (tests/run).  Exit status: 0 when every client's
 * initiation was answered both times, 2 when not, 1 on an error.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <sqlite3.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"
#include "tests/fixture/sg_fixture.h"

static double dpdk_heap(void)
{
	struct rte_malloc_socket_stats s;

	rte_malloc_get_socket_stats((int)rte_socket_id(), &s);
	return (double)s.heap_allocsz_bytes;
}

/* Both heaps; glibc counts its large (mmapped) blocks apart, in hblkhd. */
static double heap_bytes(void)
{
	struct mallinfo2 mi = mallinfo2();

	return dpdk_heap() + (double)(mi.uordblks + mi.hblkhd);
}

/*
 * Both heaps but SQLite's own allocations (its page cache above all, which
 * its cache_size bounds whatever the number of peers).
 */
static double heap_bytes_no_sqlite(void)
{
	return heap_bytes() - (double)sqlite3_memory_used();
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kib;
}

struct round {
	unsigned answered;
	double median_us, p99_us, per_s;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Filler peers written in one transaction, straight into the store's schema. */
static int fill(const char *path, unsigned n)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_open(path, &h) != SQLITE_OK)
		return -EIO;
	sqlite3_exec(h, "PRAGMA synchronous = OFF; BEGIN", NULL, NULL, NULL);
	rc = sqlite3_prepare_v2(h,
				"INSERT INTO peers (name, public_key, org, address, allowed_ips, "
				"created) VALUES (?1, ?2, 'fdaa:0:99::/48', ?3, ?4, ?5)",
				-1, &st, NULL);
	for (unsigned i = 0; rc == SQLITE_OK && i < n; i++) {
		char name[32], b64[45], addr[64], ips[80];
		uint8_t key[32];

		sg_random(key, sizeof(key));
		sg_key_to_base64(b64, key);
		snprintf(name, sizeof(name), "filler%u", i);
		snprintf(addr, sizeof(addr), "fdaa:0:99:ff00::%x:%x", i >> 16, i & 0xffff);
		snprintf(ips, sizeof(ips), "%s/128", addr);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, b64, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, addr, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, ips, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_exec(h, rc == SQLITE_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		fprintf(stderr, "bench_store: filling the store: %s\n", sqlite3_errmsg(h));
	sqlite3_close(h);
	return rc == SQLITE_OK ? 0 : -EIO;
}

/*
 * Each client's handshake, client i at now + i ms on the gateway's clock (so
 * that the lookup rate's tokens come back); its latency into lat[]; returns
 * how many were answered.
 */
static void round_of(struct sg_fx *f, unsigned k, uint64_t now, uint64_t *lat, struct round *r)
{
	unsigned answered = 0;
	uint64_t t0 = sg_now_ns();
	double secs;

	for (unsigned i = 0; i < k; i++) {
		uint64_t a = sg_now_ns();

		answered += sg_fx_initiate(f, i, now + (uint64_t)i * 1000000ull);
		lat[i] = sg_now_ns() - a;
	}
	secs = (double)(sg_now_ns() - t0) / 1e9;
	qsort(lat, k, sizeof(*lat), cmp_u64);
	r->answered = answered;
	r->median_us = (double)lat[k / 2] / 1e3;
	r->p99_us = (double)lat[k * 99 / 100] / 1e3;
	r->per_s = k / secs;
}

static void json_round(const char *name, const struct round *r)
{
	printf("  \"%s\": {\"answered\": %u, \"median_us\": %.1f, \"p99_us\": %.1f, "
	       "\"handshakes_per_s\": %.0f},\n",
	       name, r->answered, r->median_us, r->p99_us, r->per_s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stored", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned stored = 100000, k = 2000;
	const char *db = "/tmp/sg-bench-store.db";
	char fp[64];
	struct sg_fx f;
	struct sg_fx_conf c;
	uint64_t *lat;
	double before, t_fill;
	struct round cold, warm;
	struct sg_loader_stats ls;
	char fault[SG_STORE_ERR_LEN];
	bool json = false;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 's')
			stored = (unsigned)strtoul(optarg, NULL, 10);
		else if (o == 'c')
			k = (unsigned)strtoul(optarg, NULL, 10);
		else if (o == 'd')
			db = optarg;
		else if (o == 'j')
			json = true;
		else
			return 1;
	}
	if (k == 0 || k > 20000 || stored < k) {
		fprintf(stderr, "bench_store: 1 <= clients <= 20000 and clients <= stored\n");
		return 1;
	}
	snprintf(fp, sizeof(fp), "--file-prefix=sg-bench-store-%d", getpid());
	char *av[] = { argv[0],	   "-l",
		       "0",	   "--no-huge",
		       "-m",	   "1024",
		       "--no-pci", "--no-telemetry",
		       fp,	   "--log-level=lib.eal:warning",
		       NULL };
	/* DPDK logs to stdout by default: keep stdout for the figures (--json). */
	rte_openlog_stream(stderr);
	if (sg_crypto_init() != 0 || rte_eal_init(10, av) < 0) {
		fprintf(stderr, "bench_store: EAL init failed\n");
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.n_vms = 1;
	c.n_clients = k;
	c.n_stored = k;
	c.store = db;
	c.store_max_loaded = k;
	c.store_lookups_per_second = 1000000;
	lat = calloc(k, sizeof(*lat));
	/*
	 * What a gateway costs with one stored client, to take away from the
	 * whole: the rest grows with the peers (their tables are sized for
	 * store_max_loaded = clients).
	 */
	char small_db[300];
	double fixed, fixed_dpdk;
	snprintf(small_db, sizeof(small_db), "%s-small", db);
	c.n_clients = c.n_stored = c.store_max_loaded = 1;
	c.store = small_db;
	before = heap_bytes_no_sqlite();
	fixed_dpdk = dpdk_heap();
	rc = sg_fx_start(&f, &c, "bst1");
	fixed = heap_bytes_no_sqlite() - before;
	fixed_dpdk = dpdk_heap() - fixed_dpdk;
	sg_fx_stop(&f);
	unlink(small_db);
	if (rc != 0) {
		fprintf(stderr, "bench_store: gateway: %s\n", strerror(-rc));
		return 1;
	}
	c.n_clients = c.n_stored = c.store_max_loaded = k;
	c.store = db;
	double before_all = heap_bytes_no_sqlite(), before_dpdk = dpdk_heap();
	before = heap_bytes();
	rc = sg_fx_start(&f, &c, "bst");
	if (rc != 0 || lat == NULL) {
		fprintf(stderr, "bench_store: gateway: %s\n", strerror(-rc));
		return 1;
	}
	t_fill = (double)sg_now_ns();
	if (fill(db, stored - k) != 0)
		return 1;
	t_fill = ((double)sg_now_ns() - t_fill) / 1e9;
	if (!json)
		printf("store %s: %u peers (%u filler written in %.1f s), %u emulated clients\n",
		       db, stored, stored - k, t_fill, k);

	uint64_t now = sg_now_ns();
	double heap0 = heap_bytes(), dpdk0 = dpdk_heap();
	unsigned loaded0 = sg_peers_count(f.gw->dp.peers);
	round_of(&f, k, now, lat, &cold);
	if (!json)
		printf("stored, not loaded: %u of %u first initiations answered; handshake median "
		       "%.0f us, p99 %.0f us; %.0f handshakes/s\n",
		       cold.answered, k, cold.median_us, cold.p99_us, cold.per_s);
	double per_peer = (heap_bytes() - heap0) / k, per_peer_dpdk = (dpdk_heap() - dpdk0) / k;
	/* Everything that grew with the peers, the fixture's own client records aside. */
	double all = (heap_bytes_no_sqlite() - before_all - fixed -
		      (double)k * sizeof(struct sg_fx_client)) /
		     k;
	double sqlite_mb = (double)sqlite3_memory_used() / 1e6;
	double all_dpdk = (dpdk_heap() - before_dpdk - fixed_dpdk) / k;
	unsigned loaded = sg_peers_count(f.gw->dp.peers);
	round_of(&f, k, now + (uint64_t)k * 1000000ull + 1000000000ull, lat, &warm);
	/* Nothing is evicted in the second round: the count after it is no lower. */
	if (sg_peers_count(f.gw->dp.peers) > loaded)
		loaded = sg_peers_count(f.gw->dp.peers);
	sg_loader_stats_get(f.gw->ctl.loader, &ls, fault, sizeof(fault));
	double heap_mb = (heap_bytes() - before) / 1e6;
	long rss_mb = rss_kib() / 1024;
	if (!json) {
		printf("loaded:             %u of %u answered; handshake median %.0f us, p99 %.0f "
		       "us; %.0f handshakes/s\n",
		       warm.answered, k, warm.median_us, warm.p99_us, warm.per_s);
		printf("peak loaded peers %u; per loaded peer with its session: %.0f bytes of DPDK "
		       "heap, %.0f with the C heap (allowed-IPs nodes, and SQLite's page cache as "
		       "it grows); with the tables sized for them too and without SQLite's own "
		       "%.1f MB: %.0f bytes (%.0f of DPDK heap); the gateway's heaps %.1f MB; RSS "
		       "%ld MB\n",
		       loaded, per_peer_dpdk, per_peer, sqlite_mb, all, all_dpdk, heap_mb, rss_mb);
		printf("store loader: %lu lookups, %lu loaded, %lu answered after their lookup, "
		       "%lu unknown, %lu limited, %lu faults\n",
		       (unsigned long)ls.lookups, (unsigned long)ls.loaded,
		       (unsigned long)ls.answered, (unsigned long)ls.unknown,
		       (unsigned long)ls.limited, (unsigned long)ls.faults);
	} else {
		printf("{\n  \"stored\": %u,\n  \"clients\": %u,\n  \"fill_seconds\": %.1f,\n",
		       stored, k, t_fill);
		printf("  \"loaded_at_start\": %u,\n", loaded0);
		json_round("stored_not_loaded", &cold);
		json_round("loaded", &warm);
		printf("  \"peak_loaded\": %u,\n  \"bytes_per_loaded_peer_dpdk\": %.0f,\n"
		       "  \"bytes_per_loaded_peer\": %.0f,\n"
		       "  \"bytes_per_loaded_peer_all_dpdk\": %.0f,\n"
		       "  \"bytes_per_loaded_peer_all\": %.0f,\n  \"sqlite_mb\": %.1f,\n"
		       "  \"heap_mb\": %.1f,\n  \"rss_mb\": %ld,\n",
		       loaded, per_peer_dpdk, per_peer, all_dpdk, all, sqlite_mb, heap_mb, rss_mb);
		printf("  \"loader\": {\"lookups\": %lu, \"loaded\": %lu, \"answered\": %lu, "
		       "\"unknown\": %lu, \"limited\": %lu, \"faults\": %lu}\n}\n",
		       (unsigned long)ls.lookups, (unsigned long)ls.loaded,
		       (unsigned long)ls.answered, (unsigned long)ls.unknown,
		       (unsigned long)ls.limited, (unsigned long)ls.faults);
	}
	sg_fx_stop(&f);
	free(lat);
	unlink(db);
	char side[300];
	snprintf(side, sizeof(side), "%s-wal", db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db);
	unlink(side);
	rte_eal_cleanup();
	return cold.answered == k && warm.answered == k ? 0 : 2;
}
