/* SPDX-License-Identifier: MIT */
/*
 * sixgate-pktgen: a DPDK traffic generator that plays N WireGuard clients on
 * one port (the "NIC" side, cabled or memif-paired to the gateway's NIC) and
 * a VM on another (a virtio_user port on the gateway's vhost-user socket).
 *
 * The clients' keys are derived from --seed (gen-config writes the matching
 * [peer] sections for the gateway's config), their handshakes are real
 * Noise_IKpsk2 initiations made by lib/noise with lib/cookie's MACs, and their
 * transport data is encrypted in bursts by lib/dpcrypto (ipsec-mb), each
 * packet under the next counter of its session so that no counter is ever
 * sent twice.  Every inner IPv6/UDP packet carries a sequence number and the
 * TSC at which it was sealed; the receiving side counts, checks order and
 * measures latency.  Egress (VM -> client) is sent as plain frames from the
 * VM port and received, authenticated and decrypted on the NIC port.
 *
 * One lcore does everything (the lab machines have two cores, one is the
 * gateway's worker); see docs/bench.md for what that limits.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/time.h>

#include <pcap/pcap.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "lib/common/sg_common.h"
#include "lib/common/sg_log.h"
#include "lib/cookie/sg_cookie.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/noise/sg_noise.h"
#include "lib/wire/sg_wire.h"

#define PG_MAX_PEERS   100000
#define PG_INDEX_BITS  17 /* peer number in the low bits of our receiver index */
#define PG_INDEX_MASK  ((1u << PG_INDEX_BITS) - 1)
#define PG_BURST       32
#define PG_UDP_PORT    7777 /* inner UDP port of generated traffic */
#define PG_MAX_FLOWS   4096 /* source ports PG_UDP_PORT .. + 4095 */
#define PG_MTU	       1420
#define PG_ETH_LEN     14
#define PG_IP6_LEN     40
#define PG_UDP_LEN     8
#define PG_OUTER_LEN   (PG_ETH_LEN + PG_IP6_LEN + PG_UDP_LEN)
#define PG_MIN_SIZE    (PG_IP6_LEN + PG_UDP_LEN + 16)
#define PG_SEEN_BITS   (1ull << 28) /* sequence numbers checked for duplicates */
#define PG_LAT_BUCKETS 1280
#define PG_MAX_SECONDS 3600
/*
 * Initiations out at once.  The gateway is under load (mac2, then the
 * per-source rate limit) from 1/8 of its handshake ring (1024): stay below.
 */
#define HS_WINDOW 64
/* Distinct junk initiations of --flood, and the /64s they come from. */
#define PG_FLOOD_MSGS	 1024
#define PG_FLOOD_SOURCES 4096

enum { DIR_IN, DIR_OUT, N_DIRS };
static const char *const dir_name[N_DIRS] = { "in", "out" };

struct pg_peer {
	struct sg_noise_static st;
	struct sg_noise_peer_hs hs;
	struct sg_cookie_maker maker;
	uint8_t send_key[32];
	uint8_t recv_key[32];
	uint32_t local_index; /* of the current session */
	uint32_t remote_index;
	uint32_t hs_index; /* of the handshake in progress */
	/*
	 * The two sessions before, still received on: the gateway confirms a
	 * session on its control lcore, and one that is late (loaded machine,
	 * fast rekeys) still sends under the one before the last.
	 */
	uint32_t prev_index[2];
	uint8_t prev_recv_key[2][32];
	uint64_t session_tsc;
	uint32_t sessions; /* made so far (a pooled message's freshness: pool_send) */
	uint64_t send_counter;
	uint64_t last_init_tsc;
	uint8_t inner[16]; /* the client's tunnel address (its allowed IP) */
	uint8_t outer[16]; /* its outer source address */
	uint16_t sport;
	bool up;
	bool in_flight;
	bool rekeying;
};

/* One direction's counts: what was sent, what came back, and how late. */
struct pg_dir {
	uint64_t tx, tx_bytes;
	uint64_t rx, rx_bytes;
	uint64_t reorder, dup, bad;
	uint64_t max_seq; /* highest sequence number received, plus one */
	uint64_t next_seq;
	uint64_t first_seq; /* of this measurement: earlier ones arrive late */
	uint64_t late;
	uint8_t *seen;
	uint64_t lat[PG_LAT_BUCKETS];
	uint64_t lat_n;
	uint64_t lat_max;
	uint32_t flows;	     /* distinct inner source ports received */
	uint8_t ports[8192]; /* which (a bit each) */
};

struct pg_opts {
	unsigned peers;
	unsigned flows; /* inner UDP flows per client, each its own source port */
	uint64_t seed;
	const char *size; /* 64, 512, 1420, imix */
	double rate;	  /* packets per second per direction; 0 = max */
	double seconds;
	bool dir[N_DIRS];
	bool json;
	uint16_t nic_port, vm_port;
	uint16_t nic_rxq;
	uint8_t gw_pub[32];
	bool have_gw_pub;
	uint8_t gw_addr[16];
	uint16_t gw_port;
	uint8_t vm_addr[16];
	uint8_t peer_net[16]; /* base of the clients' inner addresses */
	uint8_t client_net[16];
	struct rte_ether_addr client_mac, vm_mac;
	double hs_timeout;
	double drain;
	bool ndr;
	const char *pcap;
	uint64_t pcap_max;
	double trial;
	double rekey_after;
	double precision;
	double pdr_loss;
	bool pcap_only;
	bool flood;
	double flood_rate; /* 0 = one burst every loop turn */
	uint64_t pool_mb;  /* --pool: 0 = seal every data message as it is sent */
};

/*
 * --pool MB: the client -> VM data of a trial, sealed before it starts
 * (each its peer's next counter, as a trial would seal them) into slots of
 * a flat buffer, then copied into mbufs as the trial sends them, so that
 * the trial spends the generator's core on sending and receiving, not on
 * the AEAD.  When the pool runs out the trial seals as it sends.  Every
 * message is still fresh: a counter is never sealed twice, and what a
 * trial did not send is a gap the gateway's window accepts.  The latency
 * of a pooled message counts from when it left (tx_tsc), not from when it
 * was sealed.
 */
struct pg_slot {
	uint32_t peer;
	uint32_t sessions; /* the peer's, when sealed */
	uint16_t len;	   /* of the frame after this header */
	uint16_t size;	   /* of the inner packet */
	uint32_t pad;
};

struct pg_pool {
	uint8_t *buf;
	uint64_t *tx_tsc;
	uint64_t cap; /* slots that fit */
	uint32_t slot;
	uint64_t n, next; /* sealed; the next to send */
	uint64_t seq0;	  /* the sequence number of slot 0 */
	uint64_t sent, stale, sealed;
	double seal_seconds;
};

static struct {
	struct pg_opts o;
	struct pg_peer *peers;
	struct rte_mempool *pool;
	struct sg_dpcrypto *dc;
	struct rte_ether_addr gw_mac;	 /* learnt from the first response */
	struct rte_ether_addr gw_vm_mac; /* learnt from the first frame on the VM port */
	bool have_gw_mac;
	struct pg_dir d[N_DIRS];
	uint64_t hz;
	uint64_t rr_in, rr_out;	 /* round-robin peer cursors */
	uint64_t imix_i[N_DIRS]; /* per direction: each goes through the whole 7:4:1 cycle */
	uint64_t handshakes, hs_initiations, hs_cookies, hs_refused;
	uint64_t keepalives_tx, keepalives_rx, rx_other, rx_bad_tag, rx_unknown_index;
	uint64_t tx_retries, tx_failed, hs_responses;
	uint64_t rekeys;
	unsigned rekeys_in_flight, rekey_cursor;
	double hs_seconds;
	pcap_t *pcap_dead;
	pcap_dumper_t *pcap;
	uint64_t pcap_frames;
	struct timeval pcap_tv; /* wall clock at pcap_tsc */
	uint64_t pcap_tsc;
	double rate; /* of the current trial, 0 = max */
	bool have_vm;
	struct sg_cookie_maker flood_maker;
	struct sg_msg_initiation *flood_msgs;
	uint64_t flood_tx;
	struct pg_pool pl;
} g;

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- keys and addresses ---- */

/* Client i's private key: BLAKE2s keyed with the seed, so gen-config and a run agree. */
static void peer_private_key(uint64_t seed, unsigned i, uint8_t out[32])
{
	uint8_t key[8], in[24] = "sixgate-pktgen peer";

	sg_put_le64(key, seed);
	sg_put_le32(in + 20, i);
	sg_blake2s(out, 32, in, sizeof(in), key, sizeof(key));
}

/* base with n added to its 32 bits at byte at (12: the last, 4: the /64's low bits). */
static void addr_plus(const uint8_t base[16], uint32_t n, uint8_t out[16], unsigned at)
{
	uint32_t v = (uint32_t)base[at] << 24 | (uint32_t)base[at + 1] << 16 |
		     (uint32_t)base[at + 2] << 8 | base[at + 3];

	memcpy(out, base, 16);
	v += n;
	out[at] = (uint8_t)(v >> 24);
	out[at + 1] = (uint8_t)(v >> 16);
	out[at + 2] = (uint8_t)(v >> 8);
	out[at + 3] = (uint8_t)v;
}

static int parse_addr6(const char *s, uint8_t out[16])
{
	return inet_pton(AF_INET6, s, out) == 1 ? 0 : -EINVAL;
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sixgate-pktgen gen-config --peers N [--seed S] [--peer-net ADDR]\n"
		"                                 [--network ORG/48]\n"
		"       sixgate-pktgen EAL-ARGS -- --gw-pub B64 [options]\n"
		"  --peers N             clients, 1..%u (default 1)\n"
		"  --flows N             inner UDP flows per client (source ports 7777 + 0..N-1,\n"
		"                        in turn), 1..4096 (default 1)\n"
		"  --seed S              key seed, as given to gen-config (default 1)\n"
		"  --size 64|512|1420|imix  inner IPv6 packet size (default 64; imix = 7:4:1)\n"
		"  --rate PPS|max        offered rate per direction (default max)\n"
		"  --seconds T           traffic time, up to %u (default 10)\n"
		"  --direction in|out|both  in = client -> VM, out = VM -> client (default in)\n"
		"  --json                final report as JSON on stdout (per-second lines to "
		"stderr)\n"
		"  --gw-addr ADDR        the gateway's outer IPv6 (default fd00:1::1)\n"
		"  --gw-port P           its WireGuard port (default 51820)\n"
		"  --vm-addr ADDR        the VM's address (default fdaa:0:18:0:a7b:0:1:2)\n"
		"  --vm-mac MAC          the VM port's source MAC (default 52:54:00:00:00:01)\n"
		"  --peer-net ADDR       client i's tunnel address is ADDR + i + 1\n"
		"                        (default fdaa:0:18:ff00::)\n"
		"  --client-net ADDR     client i's outer address is ADDR + i + 1 (default "
		"fd00:1::1:0:0)\n"
		"  --nic-port N, --vm-port N  ethdev port ids (default 0 and 1)\n"
		"  --nic-rxq N           NIC RX queues to poll (default 1; = the gateway's "
		"tx_queues\n"
		"                        on a memif pair)\n"
		"  --hs-timeout S        time allowed for all handshakes (default 60 + 0.005 per "
		"client)\n"
		"  --drain S             time to wait for the last packets (default 1)\n"
		"  --ndr                 RFC 2544 binary search for the no-drop rate (NDR, no\n"
		"                        loss) and the partial-drop rate (PDR, loss <= "
		"--pdr-loss,\n"
		"                        default 0.005) instead of one run\n"
		"  --rekey-after S       new handshake for a client whose session is S old, while\n"
		"                        traffic flows (default 120, REKEY_AFTER_TIME)\n"
		"  --pcap FILE           write the frames sent on the NIC port (handshakes and "
		"data)\n"
		"                        as classic pcap (microseconds, frames up to 1514 bytes)\n"
		"  --pcap-max N          at most N frames into it (default 1000000)\n"
		"  --pcap-only           handshake on the NIC port, then write --pcap-max data\n"
		"                        messages of those sessions to --pcap instead of sending\n"
		"                        them (timestamps --rate apart; no VM port): one pass\n"
		"                        of fresh counters to replay into that gateway\n"
		"  --flood PPS|max       also send invalid initiations (valid mac1, junk inside,\n"
		"                        from %u /64s) while traffic flows (max: a burst every\n"
		"                        loop turn)\n"
		"  --trial S             seconds per NDR trial (default 10; shorter for tests)\n"
		"  --pool MB             seal each trial's client -> VM data before it starts,\n"
		"                        up to MB megabytes of it (then seal as it sends)\n"
		"  --precision F         stop the search when the bounds are within F (default "
		"0.02)\n",
		PG_MAX_PEERS, PG_MAX_SECONDS, PG_FLOOD_SOURCES);
}

static int parse_mac(const char *s, struct rte_ether_addr *m)
{
	return rte_ether_unformat_addr(s, m) == 0 ? 0 : -EINVAL;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= lo && v <= hi))
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (!*s || *end || errno || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_PEERS = 256,
	OPT_SEED,
	OPT_SIZE,
	OPT_RATE,
	OPT_SECONDS,
	OPT_DIRECTION,
	OPT_JSON,
	OPT_GW_PUB,
	OPT_GW_ADDR,
	OPT_GW_PORT,
	OPT_VM_ADDR,
	OPT_VM_MAC,
	OPT_PEER_NET,
	OPT_CLIENT_NET,
	OPT_NIC_PORT,
	OPT_VM_PORT,
	OPT_NIC_RXQ,
	OPT_HS_TIMEOUT,
	OPT_DRAIN,
	OPT_NETWORK,
	OPT_NDR,
	OPT_PCAP,
	OPT_REKEY_AFTER,
	OPT_PCAP_MAX,
	OPT_TRIAL,
	OPT_PRECISION,
	OPT_PDR_LOSS,
	OPT_PCAP_ONLY,
	OPT_FLOOD,
	OPT_POOL,
	OPT_FLOWS,
	OPT_HELP,
};

static const struct option longopts[] = {
	{ "peers", required_argument, NULL, OPT_PEERS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "seconds", required_argument, NULL, OPT_SECONDS },
	{ "direction", required_argument, NULL, OPT_DIRECTION },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "gw-pub", required_argument, NULL, OPT_GW_PUB },
	{ "gw-addr", required_argument, NULL, OPT_GW_ADDR },
	{ "gw-port", required_argument, NULL, OPT_GW_PORT },
	{ "vm-addr", required_argument, NULL, OPT_VM_ADDR },
	{ "vm-mac", required_argument, NULL, OPT_VM_MAC },
	{ "peer-net", required_argument, NULL, OPT_PEER_NET },
	{ "client-net", required_argument, NULL, OPT_CLIENT_NET },
	{ "nic-port", required_argument, NULL, OPT_NIC_PORT },
	{ "vm-port", required_argument, NULL, OPT_VM_PORT },
	{ "nic-rxq", required_argument, NULL, OPT_NIC_RXQ },
	{ "hs-timeout", required_argument, NULL, OPT_HS_TIMEOUT },
	{ "drain", required_argument, NULL, OPT_DRAIN },
	{ "network", required_argument, NULL, OPT_NETWORK },
	{ "ndr", no_argument, NULL, OPT_NDR },
	{ "pcap", required_argument, NULL, OPT_PCAP },
	{ "rekey-after", required_argument, NULL, OPT_REKEY_AFTER },
	{ "pcap-max", required_argument, NULL, OPT_PCAP_MAX },
	{ "trial", required_argument, NULL, OPT_TRIAL },
	{ "precision", required_argument, NULL, OPT_PRECISION },
	{ "pdr-loss", required_argument, NULL, OPT_PDR_LOSS },
	{ "pcap-only", no_argument, NULL, OPT_PCAP_ONLY },
	{ "flood", required_argument, NULL, OPT_FLOOD },
	{ "pool", required_argument, NULL, OPT_POOL },
	{ "flows", required_argument, NULL, OPT_FLOWS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static const char *network_opt = "fdaa:0:18::/48";

static int parse_one(int c, const char *arg, struct pg_opts *o)
{
	uint64_t v;

	switch (c) {
	case OPT_PEERS:
		if (parse_u64(arg, 1, PG_MAX_PEERS, &v))
			return -EINVAL;
		o->peers = (unsigned)v;
		return 0;
	case OPT_SEED:
		return parse_u64(arg, 0, UINT64_MAX, &o->seed);
	case OPT_SIZE:
		if (strcmp(arg, "64") && strcmp(arg, "512") && strcmp(arg, "1420") &&
		    strcmp(arg, "imix"))
			return -EINVAL;
		o->size = arg;
		return 0;
	case OPT_RATE:
		if (strcmp(arg, "max") == 0) {
			o->rate = 0;
			return 0;
		}
		return parse_double(arg, 1, 1e9, &o->rate);
	case OPT_SECONDS:
		return parse_double(arg, 0.1, PG_MAX_SECONDS, &o->seconds);
	case OPT_DIRECTION:
		o->dir[DIR_IN] = !strcmp(arg, "in") || !strcmp(arg, "both");
		o->dir[DIR_OUT] = !strcmp(arg, "out") || !strcmp(arg, "both");
		return o->dir[DIR_IN] || o->dir[DIR_OUT] ? 0 : -EINVAL;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_GW_PUB:
		o->have_gw_pub = sg_key_from_base64(o->gw_pub, arg) == 0;
		return o->have_gw_pub ? 0 : -EINVAL;
	case OPT_GW_ADDR:
		return parse_addr6(arg, o->gw_addr);
	case OPT_GW_PORT:
		if (parse_u64(arg, 1, 65535, &v))
			return -EINVAL;
		o->gw_port = (uint16_t)v;
		return 0;
	case OPT_VM_ADDR:
		return parse_addr6(arg, o->vm_addr);
	case OPT_VM_MAC:
		return parse_mac(arg, &o->vm_mac);
	case OPT_PEER_NET:
		return parse_addr6(arg, o->peer_net);
	case OPT_CLIENT_NET:
		return parse_addr6(arg, o->client_net);
	case OPT_NIC_PORT:
	case OPT_VM_PORT:
		if (parse_u64(arg, 0, RTE_MAX_ETHPORTS - 1, &v))
			return -EINVAL;
		*(c == OPT_NIC_PORT ? &o->nic_port : &o->vm_port) = (uint16_t)v;
		return 0;
	case OPT_NIC_RXQ:
		if (parse_u64(arg, 1, 64, &v))
			return -EINVAL;
		o->nic_rxq = (uint16_t)v;
		return 0;
	case OPT_HS_TIMEOUT:
		return parse_double(arg, 1, 3600, &o->hs_timeout);
	case OPT_DRAIN:
		return parse_double(arg, 0, 60, &o->drain);
	case OPT_NETWORK:
		network_opt = arg;
		return 0;
	case OPT_NDR:
		o->ndr = true;
		return 0;
	case OPT_PCAP:
		o->pcap = arg;
		return 0;
	case OPT_REKEY_AFTER:
		return parse_double(arg, 0.5, 170, &o->rekey_after);
	case OPT_PCAP_MAX:
		return parse_u64(arg, 1, UINT64_MAX, &o->pcap_max);
	case OPT_TRIAL:
		return parse_double(arg, 0.5, 120, &o->trial);
	case OPT_PRECISION:
		return parse_double(arg, 0.001, 0.5, &o->precision);
	case OPT_PDR_LOSS:
		return parse_double(arg, 0, 0.5, &o->pdr_loss);
	case OPT_PCAP_ONLY:
		o->pcap_only = true;
		return 0;
	case OPT_FLOOD:
		o->flood = true;
		if (strcmp(arg, "max") == 0) {
			o->flood_rate = 0;
			return 0;
		}
		return parse_double(arg, 1, 1e9, &o->flood_rate);
	case OPT_POOL:
		return parse_u64(arg, 1, 65536, &o->pool_mb);
	case OPT_FLOWS:
		if (parse_u64(arg, 1, PG_MAX_FLOWS, &v) != 0)
			return -EINVAL;
		o->flows = (unsigned)v;
		return 0;
	case OPT_HELP:
		usage(stdout);
		exit(0);
	default:
		return -EINVAL;
	}
}

static int parse_options(int argc, char **argv, struct pg_opts *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->peers = 1;
	o->flows = 1;
	o->seed = 1;
	o->size = "64";
	o->seconds = 10;
	o->dir[DIR_IN] = true;
	o->gw_port = 51820;
	o->vm_port = 1;
	o->nic_rxq = 1;
	o->hs_timeout = 0; /* 60 s + 5 ms per client */
	o->drain = 1;
	o->trial = 10;
	o->rekey_after = 120;
	o->pcap_max = 1000000;
	o->precision = 0.02;
	o->pdr_loss = 0.005;
	parse_addr6("fd00:1::1", o->gw_addr);
	parse_addr6("fdaa:0:18:0:a7b:0:1:2", o->vm_addr);
	parse_addr6("fdaa:0:18:ff00::", o->peer_net);
	parse_addr6("fd00:1::2", o->client_net);
	parse_mac("02:70:67:00:00:01", &o->client_mac);
	parse_mac("52:54:00:00:00:01", &o->vm_mac);
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (parse_one(c, optarg, o) != 0) {
			const char *name = "?";

			for (const struct option *l = longopts; l->name; l++)
				if (l->val == c)
					name = l->name;
			if (c != '?')
				fprintf(stderr, "sixgate-pktgen: bad value for --%s: %s\n", name,
					optarg ? optarg : "");
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

/* ---- gen-config: the [peer] sections the gateway needs for these clients ---- */

static int gen_config(int argc, char **argv)
{
	struct pg_opts o;
	char b64[45], addr[INET6_ADDRSTRLEN];
	uint8_t priv[32], pub[32], inner[16];

	if (parse_options(argc - 1, argv + 1, &o) != 0)
		return 2;
	if (sg_crypto_init() != 0)
		return 2;
	printf("# %u clients of sixgate-pktgen, seed %" PRIu64 "\n", o.peers, o.seed);
	for (unsigned i = 0; i < o.peers; i++) {
		peer_private_key(o.seed, i, priv);
		if (sg_x25519_pubkey(pub, priv) != 0) {
			fprintf(stderr, "sixgate-pktgen: key %u unusable\n", i);
			return 1;
		}
		sg_wipe(priv, sizeof(priv));
		sg_key_to_base64(b64, pub);
		addr_plus(o.peer_net, i + 1, inner, 12);
		inet_ntop(AF_INET6, inner, addr, sizeof(addr));
		printf("\n[peer pg%u]\npublic_key = %s\nallowed_ips = %s/128\nnetwork = %s\n", i,
		       b64, addr, network_opt);
	}
	return ferror(stdout) ? 1 : 0;
}

/* ---- latency histogram: 32 linear steps per power of two (3% error) ---- */

static unsigned lat_bucket(uint64_t v)
{
	unsigned e, b;

	if (v < 64)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	b = 64 + (e - 6) * 32 + (unsigned)((v >> (e - 5)) & 31);
	return b < PG_LAT_BUCKETS ? b : PG_LAT_BUCKETS - 1;
}

static uint64_t bucket_value(unsigned b)
{
	unsigned e, sub;

	if (b < 64)
		return b;
	e = (b - 64) / 32 + 6;
	sub = (b - 64) % 32;
	return ((uint64_t)(32 + sub) << (e - 5)) + ((1ull << (e - 5)) >> 1);
}

static void lat_add(struct pg_dir *d, uint64_t ns)
{
	d->lat[lat_bucket(ns)]++;
	d->lat_n++;
	if (ns > d->lat_max)
		d->lat_max = ns;
}

/* The q-quantile (0..1) in ns, or 0 when nothing was measured. */
static double lat_quantile(const struct pg_dir *d, double q)
{
	uint64_t want, acc = 0;

	if (d->lat_n == 0)
		return 0;
	want = (uint64_t)(q * (double)d->lat_n);
	if (want >= d->lat_n)
		want = d->lat_n - 1;
	for (unsigned b = 0; b < PG_LAT_BUCKETS; b++) {
		acc += d->lat[b];
		if (acc > want)
			return (double)bucket_value(b);
	}
	return (double)d->lat_max;
}

/* ---- receive-side checks ---- */

static void seen_seq(struct pg_dir *d, uint64_t seq, uint64_t tsc, uint32_t bytes)
{
	uint64_t now = rte_rdtsc();

	if (seq >= d->next_seq) {
		d->bad++;
		return;
	}
	if (seq < d->first_seq) {
		d->late++;
		return;
	}
	if (seq < PG_SEEN_BITS) {
		uint8_t bit = (uint8_t)(1u << (seq & 7));

		if (d->seen[seq >> 3] & bit) {
			d->dup++;
			return;
		}
		d->seen[seq >> 3] |= bit;
	}
	/* A pooled message's stamp is when it was sealed: it left at tx_tsc. */
	if (d == &g.d[DIR_IN] && seq - g.pl.seq0 < g.pl.n)
		tsc = g.pl.tx_tsc[seq - g.pl.seq0];
	d->rx++;
	d->rx_bytes += bytes;
	if (seq + 1 < d->max_seq)
		d->reorder++;
	else
		d->max_seq = seq + 1;
	if (now >= tsc)
		lat_add(d, (now - tsc) * 1000000000ull / g.hz);
}

/* Counts the flows (inner source ports) a direction received. */
static void flow_seen(struct pg_dir *d, uint16_t sport)
{
	uint8_t bit = (uint8_t)(1u << (sport & 7));

	if (!(d->ports[sport >> 3] & bit)) {
		d->ports[sport >> 3] |= bit;
		d->flows++;
	}
}

/* An inner IPv6 packet of ours: returns false when it is not one. */
static bool inner_check(struct pg_dir *d, const uint8_t *ip, uint32_t len)
{
	uint32_t plen;

	if (len < PG_MIN_SIZE || (ip[0] >> 4) != 6 || ip[6] != IPPROTO_UDP)
		return false;
	plen = (uint32_t)ip[4] << 8 | ip[5];
	if (plen + PG_IP6_LEN > len || plen < PG_UDP_LEN + 16)
		return false;
	if (((uint32_t)ip[42] << 8 | ip[43]) != PG_UDP_PORT)
		return false;
	flow_seen(d, (uint16_t)((uint32_t)ip[40] << 8 | ip[41]));
	seen_seq(d, sg_get_le64(ip + 48), sg_get_le64(ip + 56), plen + PG_IP6_LEN);
	return true;
}

/* ---- frames ---- */

static void put_ip6(uint8_t *p, uint16_t plen, const uint8_t src[16], const uint8_t dst[16])
{
	p[0] = 0x60;
	p[1] = p[2] = p[3] = 0;
	p[4] = (uint8_t)(plen >> 8);
	p[5] = (uint8_t)plen;
	p[6] = IPPROTO_UDP;
	p[7] = 64;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
}

static void put_udp(uint8_t *p, uint16_t sport, uint16_t dport, uint16_t len)
{
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)p;

	u->src_port = rte_cpu_to_be_16(sport);
	u->dst_port = rte_cpu_to_be_16(dport);
	u->dgram_len = rte_cpu_to_be_16(len);
	u->dgram_cksum = 0;
}

static void udp_csum(uint8_t *ip)
{
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(ip + PG_IP6_LEN);

	u->dgram_cksum = 0;
	u->dgram_cksum = rte_ipv6_udptcp_cksum((const struct rte_ipv6_hdr *)ip, u);
}

static void put_eth(uint8_t *p, const struct rte_ether_addr *dst, const struct rte_ether_addr *src)
{
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x86;
	p[13] = 0xdd;
}

/*
 * An inner packet of size bytes from src to dst, sequence seq, stamped now;
 * its flow (source port) is the client's next in turn: with the clients
 * taken in turn, sequence numbers seq / peers are each client's own count.
 */
static void put_inner(uint8_t *ip, uint32_t size, const uint8_t src[16], const uint8_t dst[16],
		      uint64_t seq)
{
	uint8_t *pl = ip + PG_IP6_LEN + PG_UDP_LEN;
	uint16_t sport = (uint16_t)(PG_UDP_PORT + (seq / g.o.peers) % g.o.flows);

	put_ip6(ip, (uint16_t)(size - PG_IP6_LEN), src, dst);
	put_udp(ip + PG_IP6_LEN, sport, PG_UDP_PORT, (uint16_t)(size - PG_IP6_LEN));
	sg_put_le64(pl, seq);
	sg_put_le64(pl + 8, rte_rdtsc());
	memset(pl + 16, 0, size - PG_MIN_SIZE);
	udp_csum(ip);
}

static uint32_t next_size(int dir)
{
	static const uint16_t imix[12] = { 64, 64, 512, 64, 64, 512, 64, 1420, 64, 512, 64, 512 };

	if (g.o.size[0] == 'i')
		return imix[g.imix_i[dir]++ % 12];
	return (uint32_t)atoi(g.o.size);
}

/* Outer Ethernet/IPv6/UDP from src:sport toward the gateway; returns where the message goes. */
static uint8_t *put_outer(struct rte_mbuf *m, const uint8_t src[16], uint16_t sport,
			  uint32_t wg_len)
{
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);

	m->data_len = m->pkt_len = PG_OUTER_LEN + wg_len;
	put_eth(f, &g.gw_mac, &g.o.client_mac);
	put_ip6(f + PG_ETH_LEN, (uint16_t)(PG_UDP_LEN + wg_len), src, g.o.gw_addr);
	put_udp(f + PG_ETH_LEN + PG_IP6_LEN, sport, g.o.gw_port, (uint16_t)(PG_UDP_LEN + wg_len));
	return f + PG_OUTER_LEN;
}

/*
 * The frames as they leave, until --pcap-max (a frame that is then not sent
 * is still in).  With --pcap-only nothing leaves: frame k is stamped k/--rate
 * seconds after the first (1 us apart at max), the pace of a replay.
 */
static void pcap_write(struct rte_mbuf **m, unsigned n)
{
	uint64_t now_us = (rte_rdtsc() - g.pcap_tsc) * 1000000 / g.hz;
	struct pcap_pkthdr h;

	for (unsigned i = 0; i < n && g.pcap_frames < g.o.pcap_max; i++, g.pcap_frames++) {
		uint64_t us = g.o.pcap_only ? (uint64_t)((double)g.pcap_frames *
							 (g.o.rate ? 1e6 / g.o.rate : 1))
					    : now_us;

		h.ts.tv_sec =
			g.pcap_tv.tv_sec + (time_t)(((uint64_t)g.pcap_tv.tv_usec + us) / 1000000);
		h.ts.tv_usec = (suseconds_t)(((uint64_t)g.pcap_tv.tv_usec + us) % 1000000);
		h.len = rte_pktmbuf_pkt_len(m[i]);
		h.caplen = RTE_MIN(h.len, rte_pktmbuf_data_len(m[i]));
		pcap_dump((u_char *)g.pcap, &h, rte_pktmbuf_mtod(m[i], const u_char *));
	}
}

static int pcap_start(void)
{
	g.pcap_dead =
		pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 1514, PCAP_TSTAMP_PRECISION_MICRO);
	if (g.pcap_dead == NULL)
		return -ENOMEM;
	g.pcap = pcap_dump_open(g.pcap_dead, g.o.pcap);
	if (g.pcap == NULL) {
		fprintf(stderr, "sixgate-pktgen: %s: %s\n", g.o.pcap, pcap_geterr(g.pcap_dead));
		return -EIO;
	}
	gettimeofday(&g.pcap_tv, NULL);
	g.pcap_tsc = rte_rdtsc();
	return 0;
}

static void pcap_stop(void)
{
	if (g.pcap)
		pcap_dump_close(g.pcap);
	if (g.pcap_dead)
		pcap_close(g.pcap_dead);
	g.pcap = NULL;
	g.pcap_dead = NULL;
}

/*
 * Sends n mbufs on port/queue 0, retrying while the ring is full (for up to
 * a second: the gateway may be descheduled on a loaded machine).  What never
 * left is freed, taken back from direction dir's counts (dir < 0: none) and
 * counted as tx_failed; the sequence numbers it used are never seen, which
 * the receiver tolerates.  With --pcap-only, data (dir DIR_IN) goes into
 * the pcap instead and counts as sent.  Returns how many were sent.
 */
static unsigned tx_all(uint16_t port, struct rte_mbuf **m, unsigned n, int dir, uint32_t over)
{
	uint64_t give_up = 0;
	unsigned sent = 0;

	if (g.o.pcap_only && dir == DIR_IN) {
		pcap_write(m, n);
		rte_pktmbuf_free_bulk(m, n);
		return n;
	}
	if (g.pcap && !g.o.pcap_only && port == g.o.nic_port)
		pcap_write(m, n);
	while (sent < n && !stop) {
		unsigned k = rte_eth_tx_burst(port, 0, m + sent, (uint16_t)(n - sent));

		sent += k;
		if (k)
			continue;
		g.tx_retries++;
		if (give_up == 0)
			give_up = rte_rdtsc() + g.hz;
		else if (rte_rdtsc() > give_up)
			break;
	}
	for (unsigned i = sent; i < n; i++) {
		g.tx_failed++;
		if (dir >= 0) {
			g.d[dir].tx--;
			g.d[dir].tx_bytes -= rte_pktmbuf_pkt_len(m[i]) - over;
		}
	}
	if (sent < n)
		rte_pktmbuf_free_bulk(m + sent, n - sent);
	return sent;
}

/*
 * Seals n data messages into m (inner packets of the next sizes, or
 * keepalives when keepalive) under each packet's peer's next counter;
 * size[i] is message i's inner size.
 */
static void seal_data(struct pg_peer **pp, unsigned n, bool keepalive, struct rte_mbuf **m,
		      uint32_t *sizes)
{
	struct sg_dpcrypto_op ops[PG_BURST];
	struct pg_dir *d = &g.d[DIR_IN];

	for (unsigned i = 0; i < n; i++) {
		struct pg_peer *p = pp[i];
		uint32_t size = keepalive ? 0 : next_size(DIR_IN);
		uint32_t padded = (uint32_t)sg_wire_padded_len(size, PG_MTU);
		uint8_t *wg = put_outer(m[i], p->outer, p->sport,
					SG_MSG_DATA_HEADER_LEN + padded + SG_TAG_LEN);
		uint8_t *inner = wg + SG_MSG_DATA_HEADER_LEN;
		uint64_t counter = p->send_counter++;

		wg[0] = SG_MSG_DATA;
		wg[1] = wg[2] = wg[3] = 0;
		sg_put_le32(wg + 4, p->remote_index);
		sg_put_le64(wg + 8, counter);
		if (!keepalive) {
			put_inner(inner, size, p->inner, g.o.vm_addr, d->next_seq++);
			memset(inner + size, 0, padded - size);
		}
		sizes[i] = size;
		ops[i] = (struct sg_dpcrypto_op){
			.key = p->send_key,
			.nonce = counter,
			.src = inner,
			.dst = inner,
			.len = padded,
			.tag = inner + padded,
		};
	}
	sg_dpcrypto_encrypt_burst(g.dc, ops, n);
	for (unsigned i = 0; i < n; i++)
		udp_csum(rte_pktmbuf_mtod(m[i], uint8_t *) + PG_ETH_LEN);
}

#define PG_DATA_OVER (PG_OUTER_LEN + SG_MSG_DATA_HEADER_LEN + SG_TAG_LEN)

/* Seals and sends n data messages (or keepalives when keepalive). */
static unsigned send_data(struct pg_peer **pp, unsigned n, bool keepalive)
{
	struct rte_mbuf *m[PG_BURST];
	uint32_t sizes[PG_BURST];
	struct pg_dir *d = &g.d[DIR_IN];

	if (rte_pktmbuf_alloc_bulk(g.pool, m, n) != 0)
		return 0;
	seal_data(pp, n, keepalive, m, sizes);
	for (unsigned i = 0; !keepalive && i < n; i++) {
		d->tx++;
		d->tx_bytes += sizes[i];
	}
	return tx_all(g.o.nic_port, m, n, keepalive ? -1 : DIR_IN, PG_DATA_OVER);
}

static void poll_nic(void);
static void poll_vm(void);

static struct pg_slot *pool_slot(uint64_t k)
{
	return (struct pg_slot *)(g.pl.buf + k * g.pl.slot);
}

/* --pool: room for the largest message of --size in each slot, and the slots. */
static int pool_setup(void)
{
	uint32_t most = g.o.size[0] == 'i' ? 1420 : (uint32_t)atoi(g.o.size);
	uint64_t bytes = g.o.pool_mb << 20;

	g.pl.slot = RTE_ALIGN_CEIL((uint32_t)sizeof(struct pg_slot) + PG_DATA_OVER +
					   (uint32_t)sg_wire_padded_len(most, PG_MTU),
				   64);
	g.pl.cap = bytes / (g.pl.slot + sizeof(uint64_t));
	g.pl.buf = malloc(g.pl.cap * g.pl.slot);
	g.pl.tx_tsc = malloc(g.pl.cap * sizeof(uint64_t));
	return g.pl.buf != NULL && g.pl.tx_tsc != NULL && g.pl.cap > PG_BURST ? 0 : -ENOMEM;
}

/*
 * Seals what a trial of seconds at rate (0: max, the whole pool) sends in,
 * the peers in turn as the trial would take them.  Called after
 * reset_counts: the sequence numbers are the trial's.
 */
static void pool_fill(double rate, double seconds)
{
	uint64_t want = rate > 0 ? (uint64_t)(rate * seconds) + PG_BURST : g.pl.cap;
	uint64_t t0 = rte_rdtsc();

	g.pl.n = g.pl.next = 0;
	g.pl.seq0 = g.d[DIR_IN].next_seq;
	want = RTE_MIN(want, g.pl.cap);
	while (g.pl.n < want && !stop) {
		struct pg_peer *pp[PG_BURST];
		struct rte_mbuf *m[PG_BURST];
		uint32_t sizes[PG_BURST];
		unsigned n = (unsigned)RTE_MIN((uint64_t)PG_BURST, want - g.pl.n);

		if (rte_pktmbuf_alloc_bulk(g.pool, m, n) != 0)
			break;
		for (unsigned i = 0; i < n; i++)
			pp[i] = &g.peers[g.rr_in++ % g.o.peers];
		seal_data(pp, n, false, m, sizes);
		for (unsigned i = 0; i < n; i++) {
			struct pg_slot *sl = pool_slot(g.pl.n + i);

			sl->peer = (uint32_t)(pp[i] - g.peers);
			sl->sessions = pp[i]->sessions;
			sl->len = (uint16_t)rte_pktmbuf_data_len(m[i]);
			sl->size = (uint16_t)sizes[i];
			memcpy(sl + 1, rte_pktmbuf_mtod(m[i], void *), sl->len);
		}
		rte_pktmbuf_free_bulk(m, n);
		g.pl.n += n;
		/* The gateway's keepalives and rekey answers wait for no one. */
		poll_nic();
		poll_vm();
	}
	g.pl.sealed += g.pl.n;
	g.pl.seal_seconds += (double)(rte_rdtsc() - t0) / (double)g.hz;
}

/*
 * Sends up to n pooled messages; returns how many left the pool (sent or
 * stale), 0 when it is empty.  A message sealed under a session the gateway
 * may no longer hold is stale: skipped, a gap.  That is two sessions back,
 * or one back while a new handshake is out.
 */
static unsigned pool_send(unsigned n)
{
	struct rte_mbuf *m[PG_BURST];
	struct pg_dir *d = &g.d[DIR_IN];
	unsigned k = 0, took = 0;
	uint64_t now;

	if (g.pl.next >= g.pl.n || rte_pktmbuf_alloc_bulk(g.pool, m, n) != 0)
		return 0;
	now = rte_rdtsc();
	while (k < n && g.pl.next < g.pl.n) {
		const struct pg_slot *sl = pool_slot(g.pl.next);
		const struct pg_peer *p = &g.peers[sl->peer];
		uint32_t newer = p->sessions - sl->sessions;

		took++;
		/*
		 * The gateway holds the session before the current one only until
		 * the next handshake reaches it: as responder it drops that one
		 * when it makes the new (as the kernel does).
		 */
		if (newer > 1 || (newer == 1 && p->rekeying)) {
			g.pl.stale++;
			g.pl.next++;
			continue;
		}
		memcpy(rte_pktmbuf_mtod(m[k], void *), sl + 1, sl->len);
		m[k]->data_len = m[k]->pkt_len = sl->len;
		g.pl.tx_tsc[g.pl.next++] = now;
		d->tx++;
		d->tx_bytes += sl->size;
		k++;
	}
	if (k < n)
		rte_pktmbuf_free_bulk(m + k, n - k);
	g.pl.sent += k;
	if (k > 0)
		tx_all(g.o.nic_port, m, k, DIR_IN, PG_DATA_OVER);
	return took;
}

/* n inner packets from the VM to the clients, as plain frames on the VM port. */
static unsigned send_egress(unsigned n)
{
	struct rte_mbuf *m[PG_BURST];
	struct pg_dir *d = &g.d[DIR_OUT];

	if (rte_pktmbuf_alloc_bulk(g.pool, m, n) != 0)
		return 0;
	for (unsigned i = 0; i < n; i++) {
		struct pg_peer *p = &g.peers[g.rr_out++ % g.o.peers];
		uint32_t size = next_size(DIR_OUT);
		uint8_t *f = rte_pktmbuf_mtod(m[i], uint8_t *);

		m[i]->data_len = m[i]->pkt_len = PG_ETH_LEN + size;
		put_eth(f, &g.gw_vm_mac, &g.o.vm_mac);
		put_inner(f + PG_ETH_LEN, size, g.o.vm_addr, p->inner, d->next_seq++);
		d->tx++;
		d->tx_bytes += size;
	}
	return tx_all(g.o.vm_port, m, n, DIR_OUT, PG_ETH_LEN);
}

/*
 * --flood: initiations that pass the gateway's first check (mac1 under its
 * public key) and fail the next (junk ephemeral and static: a wg_static or,
 * under load, a wg_mac2 or rate-limit drop), as an attacker without any
 * peer's key sends them.  mac1 covers no address, so a pool of messages is
 * sealed once and sent in turn from PG_FLOOD_SOURCES /64s.
 */
static int flood_setup(void)
{
	g.flood_msgs = calloc(PG_FLOOD_MSGS, sizeof(*g.flood_msgs));
	if (g.flood_msgs == NULL)
		return -ENOMEM;
	sg_cookie_maker_init(&g.flood_maker, g.o.gw_pub);
	for (unsigned i = 0; i < PG_FLOOD_MSGS; i++) {
		struct sg_msg_initiation *msg = &g.flood_msgs[i];

		sg_random(msg, sizeof(*msg));
		msg->header.type = SG_MSG_INITIATION;
		memset(msg->header.reserved, 0, sizeof(msg->header.reserved));
		memset(&msg->macs, 0, sizeof(msg->macs));
		if (sg_cookie_add_macs(&g.flood_maker, msg, sizeof(*msg), sg_now_ns()) != 0)
			return -EINVAL;
	}
	return 0;
}

static void send_flood(unsigned n)
{
	struct rte_mbuf *m[PG_BURST];

	if (rte_pktmbuf_alloc_bulk(g.pool, m, n) != 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint64_t k = g.flood_tx + i;
		uint32_t src_n = 0x40000000u + (uint32_t)(k % PG_FLOOD_SOURCES);
		uint8_t src[16];
		uint8_t *wg;

		addr_plus(g.o.client_net, src_n, src, 4);
		wg = put_outer(m[i], src, (uint16_t)(30000 + k % 1000), sizeof(*g.flood_msgs));
		memcpy(wg, &g.flood_msgs[k % PG_FLOOD_MSGS], sizeof(*g.flood_msgs));
		udp_csum(rte_pktmbuf_mtod(m[i], uint8_t *) + PG_ETH_LEN);
	}
	g.flood_tx += tx_all(g.o.nic_port, m, n, -1, 0);
}

/* ---- handshakes ---- */

static void rekey_tick(uint64_t now);

/* The client whose handshake (hs) or session (else) has receiver index index. */
static struct pg_peer *peer_by_index(uint32_t index, bool hs)
{
	uint32_t i = index & PG_INDEX_MASK;
	struct pg_peer *p;

	if (i >= g.o.peers || index == 0)
		return NULL;
	p = &g.peers[i];
	if (hs)
		return p->hs_index == index ? p : NULL;
	if (!p->up ||
	    (p->local_index != index && p->prev_index[0] != index && p->prev_index[1] != index))
		return NULL;
	return p;
}

static void send_initiation(struct pg_peer *p, uint64_t now_tsc)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g.pool);
	struct sg_msg_initiation msg;
	uint32_t rnd;
	uint8_t *wg;

	if (m == NULL)
		return;
	/*
	 * Random high bits, never those of a session the gateway may still
	 * send under: a new session under an old one's index would take that
	 * session's packets (a bad tag: 3 in 32,768 rekeys).
	 */
	do {
		sg_random(&rnd, sizeof(rnd));
		p->hs_index = (rnd & ~PG_INDEX_MASK) | (uint32_t)(p - g.peers);
	} while ((p->hs_index & ~PG_INDEX_MASK) == 0 || p->hs_index == p->local_index ||
		 p->hs_index == p->prev_index[0] || p->hs_index == p->prev_index[1]);
	if (sg_noise_create_initiation(&p->st, &p->hs, &msg, p->hs_index, sg_now_ns()) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	sg_cookie_add_macs(&p->maker, &msg, sizeof(msg), sg_now_ns());
	wg = put_outer(m, p->outer, p->sport, sizeof(msg));
	memcpy(wg, &msg, sizeof(msg));
	sg_wipe(&msg, sizeof(msg));
	udp_csum(rte_pktmbuf_mtod(m, uint8_t *) + PG_ETH_LEN);
	p->last_init_tsc = now_tsc;
	p->in_flight = true;
	g.hs_initiations++;
	tx_all(g.o.nic_port, &m, 1, -1, 0);
}

static void on_response(const uint8_t *msg, const uint8_t *eth)
{
	const struct sg_msg_response *r = (const struct sg_msg_response *)msg;
	struct pg_peer *p = peer_by_index(sg_get_le32((const uint8_t *)&r->receiver_index), true);
	struct sg_noise_keypair kp;

	g.hs_responses++;
	if (p == NULL || (p->up && !p->rekeying) ||
	    sg_noise_consume_response(&p->st, &p->hs, r) != 0 ||
	    sg_noise_derive_keypair(&p->hs, &kp, sg_now_ns()) != 0) {
		g.hs_refused++;
		return;
	}
	if (p->up) {
		/* A rekey: what the gateway sent under the old session still arrives. */
		memcpy(p->prev_recv_key[1], p->prev_recv_key[0], 32);
		p->prev_index[1] = p->prev_index[0];
		memcpy(p->prev_recv_key[0], p->recv_key, 32);
		p->prev_index[0] = p->local_index;
		g.rekeys++;
		g.rekeys_in_flight--;
	} else {
		g.handshakes++;
	}
	memcpy(p->send_key, kp.sending_key, 32);
	memcpy(p->recv_key, kp.receiving_key, 32);
	p->local_index = kp.local_index;
	p->remote_index = kp.remote_index;
	p->send_counter = 0;
	sg_noise_keypair_clear(&kp);
	p->up = true;
	p->in_flight = false;
	p->rekeying = false;
	p->hs_index = 0;
	p->session_tsc = rte_rdtsc();
	p->sessions++;
	if (!g.have_gw_mac) {
		memcpy(&g.gw_mac, eth + 6, 6);
		g.have_gw_mac = true;
	}
	/* Key confirmation: the gateway may send to us only once it has heard from us. */
	g.keepalives_tx += send_data(&p, 1, true);
}

static void on_cookie(const uint8_t *msg)
{
	const struct sg_msg_cookie_reply *c = (const struct sg_msg_cookie_reply *)msg;
	struct pg_peer *p = peer_by_index(sg_get_le32((const uint8_t *)&c->receiver_index), true);

	if (p == NULL || sg_cookie_consume_reply(&p->maker, c, sg_now_ns()) != 0) {
		g.hs_refused++;
		return;
	}
	g.hs_cookies++;
	/* Under load: the next initiation carries mac2; send it at once. */
	p->last_init_tsc = 0;
}

/* ---- NIC receive: handshake replies and egress data ---- */

struct rx_op {
	struct rte_mbuf *m;
	uint8_t *plain;
};

static const uint8_t *recv_key_of(const struct pg_peer *p, uint32_t index)
{
	if (index == p->local_index)
		return p->recv_key;
	return p->prev_recv_key[index == p->prev_index[0] ? 0 : 1];
}

static void nic_rx_burst(struct rte_mbuf **m, unsigned n)
{
	struct sg_dpcrypto_op ops[PG_BURST];
	struct rte_mbuf *keep[PG_BURST];
	unsigned k = 0;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *f = rte_pktmbuf_mtod(m[i], uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(m[i]);
		uint8_t *wg = f + PG_OUTER_LEN;
		uint32_t wlen;
		struct pg_peer *p;

		if (m[i]->nb_segs > 1 || len < PG_OUTER_LEN + 4 || f[12] != 0x86 || f[13] != 0xdd ||
		    f[PG_ETH_LEN + 6] != IPPROTO_UDP) {
			g.rx_other++;
			rte_pktmbuf_free(m[i]);
			continue;
		}
		wlen = len - PG_OUTER_LEN;
		if (wg[0] == SG_MSG_RESPONSE && wlen >= SG_MSG_RESPONSE_LEN) {
			on_response(wg, f);
		} else if (wg[0] == SG_MSG_COOKIE_REPLY && wlen >= SG_MSG_COOKIE_REPLY_LEN) {
			on_cookie(wg);
		} else if (wg[0] == SG_MSG_DATA && wlen >= SG_MSG_DATA_MIN_LEN &&
			   (p = peer_by_index(sg_get_le32(wg + 4), false)) != NULL) {
			uint32_t clen = wlen - SG_MSG_DATA_HEADER_LEN - SG_TAG_LEN;

			ops[k] = (struct sg_dpcrypto_op){
				.key = recv_key_of(p, sg_get_le32(wg + 4)),
				.nonce = sg_get_le64(wg + 8),
				.src = wg + SG_MSG_DATA_HEADER_LEN,
				.dst = wg + SG_MSG_DATA_HEADER_LEN,
				.len = clen,
				.tag = wg + SG_MSG_DATA_HEADER_LEN + clen,
			};
			keep[k++] = m[i];
			continue;
		} else if (wg[0] == SG_MSG_DATA) {
			g.rx_unknown_index++;
		} else {
			g.rx_other++;
		}
		rte_pktmbuf_free(m[i]);
	}
	if (k == 0)
		return;
	sg_dpcrypto_decrypt_burst(g.dc, ops, k);
	for (unsigned i = 0; i < k; i++) {
		if (ops[i].status != 0)
			g.rx_bad_tag++;
		else if (ops[i].len == 0)
			g.keepalives_rx++;
		else if (!inner_check(&g.d[DIR_OUT], ops[i].dst, ops[i].len))
			g.rx_other++;
	}
	rte_pktmbuf_free_bulk(keep, k);
}

static void poll_nic(void)
{
	struct rte_mbuf *m[PG_BURST];

	for (uint16_t q = 0; q < g.o.nic_rxq; q++) {
		uint16_t n = rte_eth_rx_burst(g.o.nic_port, q, m, PG_BURST);

		if (n)
			nic_rx_burst(m, n);
	}
}

static void poll_vm(void)
{
	struct rte_mbuf *m[PG_BURST];
	uint16_t n = g.have_vm ? rte_eth_rx_burst(g.o.vm_port, 0, m, PG_BURST) : 0;

	for (uint16_t i = 0; i < n; i++) {
		uint8_t *f = rte_pktmbuf_mtod(m[i], uint8_t *);
		uint32_t len = rte_pktmbuf_data_len(m[i]);

		if (m[i]->nb_segs == 1 && len > PG_ETH_LEN && f[12] == 0x86 && f[13] == 0xdd &&
		    inner_check(&g.d[DIR_IN], f + PG_ETH_LEN, len - PG_ETH_LEN))
			memcpy(&g.gw_vm_mac, f + 6, 6);
		else
			g.rx_other++;
	}
	if (n)
		rte_pktmbuf_free_bulk(m, n);
}

/* Waits until both ports report link up (a memif or vhost-user peer connected). */
static int wait_links(double seconds)
{
	uint64_t deadline = rte_rdtsc() + (uint64_t)(seconds * (double)g.hz);
	uint16_t ports[2] = { g.o.nic_port, g.o.vm_port };

	for (int i = 0; i < (g.have_vm ? 2 : 1); i++) {
		struct rte_eth_link link;

		for (;;) {
			memset(&link, 0, sizeof(link));
			rte_eth_link_get_nowait(ports[i], &link);
			if (link.link_status == RTE_ETH_LINK_UP)
				break;
			if (rte_rdtsc() > deadline || stop)
				return -ETIMEDOUT;
			rte_delay_ms(10);
		}
	}
	/* The other side's queues may come up just after its link. */
	rte_delay_ms(200);
	return 0;
}

static int handshake_all(void)
{
	uint64_t start = rte_rdtsc(), retry = g.hz, deadline;
	/* The clients with an initiation out, oldest first (each at most once). */
	unsigned *fifo = calloc(g.o.peers, sizeof(*fifo));
	unsigned head = 0, count = 0, next_new = 0, n = g.o.peers;

	if (fifo == NULL)
		return -ENOMEM;

	if (g.o.hs_timeout == 0)
		g.o.hs_timeout = 60 + g.o.peers * 0.005;
	deadline = start + (uint64_t)(g.o.hs_timeout * (double)g.hz);
	while (g.handshakes < g.o.peers && !stop) {
		uint64_t now = rte_rdtsc();
		/*
		 * One client first, until the gateway answers (its queues toward us
		 * may come up after the link), then a bounded window, so that its
		 * handshake queue is not flooded.
		 */
		unsigned window = g.handshakes ? HS_WINDOW : 1;

		if (now > deadline)
			break;
		/* Retransmissions: the oldest initiations unanswered for 250 ms. */
		while (count > 0) {
			struct pg_peer *p = &g.peers[fifo[head]];

			if (!p->up && now - p->last_init_tsc < retry)
				break;
			head = (head + 1) % n;
			count--;
			if (p->up)
				continue;
			send_initiation(p, now);
			fifo[(head + count++) % n] = (unsigned)(p - g.peers);
		}
		while (next_new - g.handshakes < window && next_new < n) {
			struct pg_peer *p = &g.peers[next_new];

			send_initiation(p, now);
			fifo[(head + count++) % n] = next_new++;
		}
		poll_nic();
		poll_vm();
		rekey_tick(now);
	}
	free(fifo);
	g.hs_seconds = (double)(rte_rdtsc() - start) / (double)g.hz;
	return g.handshakes == g.o.peers ? 0 : -ETIMEDOUT;
}

/* ---- reporting ---- */

struct snap {
	uint64_t tx[N_DIRS], rx[N_DIRS], rx_bytes[N_DIRS];
};

static void take(struct snap *s)
{
	for (int d = 0; d < N_DIRS; d++) {
		s->tx[d] = g.d[d].tx;
		s->rx[d] = g.d[d].rx;
		s->rx_bytes[d] = g.d[d].rx_bytes;
	}
}

static FILE *human(void)
{
	return g.o.json ? stderr : stdout;
}

static void second_line(unsigned sec, const struct snap *a, const struct snap *b, double dt,
			FILE *js)
{
	FILE *f = human();

	fprintf(f, "%3us", sec);
	for (int d = 0; d < N_DIRS; d++) {
		double txp = (double)(b->tx[d] - a->tx[d]) / dt;
		double rxp = (double)(b->rx[d] - a->rx[d]) / dt;
		double gb = (double)(b->rx_bytes[d] - a->rx_bytes[d]) * 8 / dt / 1e9;

		if (!g.o.dir[d])
			continue;
		fprintf(f, "  %s: tx %.3f Mpps rx %.3f Mpps %.3f Gbit/s", dir_name[d], txp / 1e6,
			rxp / 1e6, gb);
		if (js)
			fprintf(js,
				"%s\"%s\": {\"tx_pps\": %.0f, \"rx_pps\": %.0f, \"rx_gbps\": %.4f}",
				d == DIR_IN || !g.o.dir[DIR_IN] ? "" : ", ", dir_name[d], txp, rxp,
				gb);
	}
	fprintf(f, "\n");
}

/* --pool: what was sealed ahead and what of it was sent. */
static void pool_report(FILE *f)
{
	if (g.pl.buf != NULL)
		fprintf(f,
			"pool: %" PRIu64 " messages sealed ahead in %.2f s, %" PRIu64
			" sent from it, %" PRIu64
			" stale (under a session the gateway may have let go), slots of %u bytes\n",
			g.pl.sealed, g.pl.seal_seconds, g.pl.sent, g.pl.stale, g.pl.slot);
}

static void pool_json(void)
{
	if (g.pl.buf != NULL)
		printf(", \"pool\": {\"sealed\": %" PRIu64 ", \"sent\": %" PRIu64
		       ", \"stale\": %" PRIu64 ", \"seal_seconds\": %.3f}",
		       g.pl.sealed, g.pl.sent, g.pl.stale, g.pl.seal_seconds);
}

static void report(double secs, char *per_second)
{
	FILE *f = human();

	fprintf(f,
		"handshakes: %" PRIu64 " of %u in %.2f s, then %" PRIu64 " rekeys (%" PRIu64
		" initiations, %" PRIu64 " cookie replies)\n",
		g.handshakes, g.o.peers, g.hs_seconds, g.rekeys, g.hs_initiations, g.hs_cookies);
	for (int d = 0; d < N_DIRS; d++) {
		const struct pg_dir *x = &g.d[d];

		if (!g.o.dir[d])
			continue;
		fprintf(f,
			"%s: sent %" PRIu64 " received %" PRIu64 " lost %" PRId64
			" reordered %" PRIu64 " duplicated %" PRIu64 " flows %u"
			" | %.3f Mpps %.3f Gbit/s inner | latency p50 %.1f "
			"p99 %.1f p99.9 %.1f max %.1f us\n",
			dir_name[d], x->tx, x->rx, (int64_t)(x->tx - x->rx), x->reorder, x->dup,
			x->flows, (double)x->rx / secs / 1e6, (double)x->rx_bytes * 8 / secs / 1e9,
			lat_quantile(x, 0.5) / 1e3, lat_quantile(x, 0.99) / 1e3,
			lat_quantile(x, 0.999) / 1e3, (double)x->lat_max / 1e3);
	}
	fprintf(f,
		"keepalives: sent %" PRIu64 " received %" PRIu64 "; refused: %" PRIu64
		" bad tag, %" PRIu64 " unknown index, %" PRIu64 " other frames\n",
		g.keepalives_tx, g.keepalives_rx, g.rx_bad_tag, g.rx_unknown_index, g.rx_other);
	if (g.o.flood)
		fprintf(f, "flood: %" PRIu64 " invalid initiations sent (%.0f per second)\n",
			g.flood_tx, (double)g.flood_tx / secs);
	pool_report(f);
	if (!g.o.json)
		return;
	printf("{\"peers\": %u, \"flows\": %u, \"size\": \"%s\", \"rate\": %.0f, \"seconds\": "
	       "%.3f, "
	       "\"handshakes\": %" PRIu64 ", \"handshake_seconds\": %.3f, "
	       "\"initiations\": %" PRIu64 ", \"responses\": %" PRIu64
	       ", \"cookie_replies\": %" PRIu64 ", \"rekeys\": %" PRIu64 ", \"tx_failed\": %" PRIu64
	       ", \"keepalives_tx\": %" PRIu64 ", \"keepalives_rx\": %" PRIu64
	       ", \"rx_bad_tag\": %" PRIu64 ", \"rx_unknown_index\": %" PRIu64
	       ", \"rx_other\": %" PRIu64 ", \"flood_tx\": %" PRIu64 ", \"hs_refused\": %" PRIu64,
	       g.o.peers, g.o.flows, g.o.size, g.o.rate, secs, g.handshakes, g.hs_seconds,
	       g.hs_initiations, g.hs_responses, g.hs_cookies, g.rekeys, g.tx_failed,
	       g.keepalives_tx, g.keepalives_rx, g.rx_bad_tag, g.rx_unknown_index, g.rx_other,
	       g.flood_tx, g.hs_refused);
	pool_json();
	for (int d = 0; d < N_DIRS; d++) {
		const struct pg_dir *x = &g.d[d];

		if (!g.o.dir[d])
			continue;
		printf(", \"%s\": {\"tx\": %" PRIu64 ", \"rx\": %" PRIu64 ", \"lost\": %" PRId64
		       ", \"reordered\": %" PRIu64 ", \"duplicated\": %" PRIu64 ", \"flows\": %u"
		       ", \"tx_bytes\": %" PRIu64 ", \"rx_bytes\": %" PRIu64
		       ", \"mpps\": %.4f, \"gbps\": %.4f, \"latency_ns\": {\"p50\": %.0f, "
		       "\"p99\": %.0f, \"p99.9\": %.0f, \"max\": %" PRIu64 "}}",
		       dir_name[d], x->tx, x->rx, (int64_t)(x->tx - x->rx), x->reorder, x->dup,
		       x->flows, x->tx_bytes, x->rx_bytes, (double)x->rx / secs / 1e6,
		       (double)x->rx_bytes * 8 / secs / 1e9, lat_quantile(x, 0.5),
		       lat_quantile(x, 0.99), lat_quantile(x, 0.999), x->lat_max);
	}
	printf(", \"per_second\": [%s]}\n", per_second);
}

/* ---- the run ---- */

static unsigned credit(double rate, uint64_t start, uint64_t now, uint64_t sent)
{
	double due;

	if (rate == 0)
		return PG_BURST;
	due = (double)(now - start) * rate / (double)g.hz;
	if (due <= (double)sent)
		return 0;
	return due - (double)sent > PG_BURST ? PG_BURST : (unsigned)(due - (double)sent);
}

/*
 * One client a call, in turn: a new handshake once its session is
 * --rekey-after old (as REKEY_AFTER_TIME, 120 s, asks of an initiator), sent
 * while the old session carries on; retried after 1 s.  At most HS_WINDOW at
 * once.
 */
static void rekey_tick(uint64_t now)
{
	struct pg_peer *p = &g.peers[g.rekey_cursor];
	uint64_t after = (uint64_t)(g.o.rekey_after * (double)g.hz);

	g.rekey_cursor = (g.rekey_cursor + 1) % g.o.peers;
	if (!p->up)
		return;
	if (p->rekeying) {
		if (now - p->last_init_tsc > g.hz)
			send_initiation(p, now);
		return;
	}
	/* now may be older than a session that a response installed since. */
	if (now < p->session_tsc + after || g.rekeys_in_flight >= HS_WINDOW)
		return;
	p->rekeying = true;
	g.rekeys_in_flight++;
	send_initiation(p, now);
}

/* Starts a new measurement: counts from zero, earlier sequence numbers are "late". */
static void reset_counts(void)
{
	for (int d = 0; d < N_DIRS; d++) {
		struct pg_dir *x = &g.d[d];
		uint8_t *seen = x->seen;
		uint64_t next = x->next_seq;

		memset(x, 0, sizeof(*x));
		x->seen = seen;
		x->next_seq = next;
		x->first_seq = next;
		x->max_seq = next;
	}
}

/*
 * Sends for seconds at rate (0: max) in the directions asked, then waits
 * for the drain.  Per-second lines when lines (and into js when not NULL).
 * Returns the time traffic was sent, in seconds.
 */
static double trial(double seconds, double rate, bool lines, FILE *js)
{
	uint64_t start = rte_rdtsc(), end = start + (uint64_t)(seconds * (double)g.hz);
	uint64_t next_sec = start + g.hz, last = start, drain_end, stopped;
	struct snap a, b;
	unsigned sec = 0;
	uint64_t flood0 = g.flood_tx;

	reset_counts();
	g.rate = rate;
	if (g.pl.buf != NULL && g.o.dir[DIR_IN]) {
		pool_fill(rate, seconds);
		start = rte_rdtsc();
		end = start + (uint64_t)(seconds * (double)g.hz);
		next_sec = start + g.hz;
		last = start;
	}
	take(&a);
	while (!stop) {
		uint64_t now = rte_rdtsc();
		unsigned n;

		if (now >= end)
			break;
		if (g.o.dir[DIR_IN] && (n = credit(g.rate, start, now, g.d[DIR_IN].tx)) > 0 &&
		    pool_send(n) == 0) {
			struct pg_peer *pp[PG_BURST];

			for (unsigned i = 0; i < n; i++)
				pp[i] = &g.peers[g.rr_in++ % g.o.peers];
			send_data(pp, n, false);
		}
		if (g.o.dir[DIR_OUT] && (n = credit(g.rate, start, now, g.d[DIR_OUT].tx)) > 0)
			send_egress(n);
		if (g.o.flood && (n = credit(g.o.flood_rate, start, now, g.flood_tx - flood0)) > 0)
			send_flood(n);
		poll_nic();
		poll_vm();
		rekey_tick(now);
		if (now >= next_sec) {
			take(&b);
			if (lines) {
				if (js && sec)
					fputs(", ", js);
				if (js)
					fputs("{", js);
				second_line(sec + 1, &a, &b, (double)(now - last) / (double)g.hz,
					    js);
				if (js)
					fputs("}", js);
			}
			sec++;
			a = b;
			last = now;
			next_sec += g.hz;
		}
	}
	stopped = rte_rdtsc();
	/* The last packets still in the gateway. */
	drain_end = stopped + (uint64_t)(g.o.drain * (double)g.hz);
	while (rte_rdtsc() < drain_end) {
		poll_nic();
		poll_vm();
	}
	return (double)(stopped - start) / (double)g.hz;
}

static void run_traffic(void)
{
	size_t pscap = 1 << 16;
	char *ps = calloc(1, pscap);
	FILE *js = ps ? fmemopen(ps, pscap, "w") : NULL;
	double secs = trial(g.o.seconds, g.o.rate, true, js);

	if (js) {
		fflush(js);
		fclose(js);
	}
	report(secs, ps ? ps : (char *)"");
	free(ps);
}

struct ndr_trial {
	double rate, secs;
	uint64_t tx, rx;
	double loss, p50, p99, p999;
};

/* Offered and received over the directions asked, and the worst latencies. */
static void trial_sum(struct ndr_trial *t)
{
	t->tx = t->rx = 0;
	t->p50 = t->p99 = t->p999 = 0;
	for (int d = 0; d < N_DIRS; d++) {
		if (!g.o.dir[d])
			continue;
		t->tx += g.d[d].tx;
		t->rx += g.d[d].rx;
		t->p50 = RTE_MAX(t->p50, lat_quantile(&g.d[d], 0.5));
		t->p99 = RTE_MAX(t->p99, lat_quantile(&g.d[d], 0.99));
		t->p999 = RTE_MAX(t->p999, lat_quantile(&g.d[d], 0.999));
	}
	t->loss = t->tx ? (double)(t->tx - RTE_MIN(t->rx, t->tx)) / (double)t->tx : 1;
}

static int run_one_trial(double rate, struct ndr_trial *t, unsigned k)
{
	t->secs = trial(g.o.trial, rate, false, NULL);
	trial_sum(t);
	/* The offered rate per direction, as sent (max: what the generator reached). */
	t->rate = (double)t->tx / t->secs / (g.o.dir[DIR_IN] && g.o.dir[DIR_OUT] ? 2 : 1);
	fprintf(human(),
		"trial %2u: %s %.0f pps per direction: sent %" PRIu64 " received %" PRIu64
		" loss %.4f%% latency p50 %.1f p99 %.1f p99.9 %.1f us\n",
		k, rate ? "offered" : "max, reached", t->rate, t->tx, t->rx, t->loss * 100,
		t->p50 / 1e3, t->p99 / 1e3, t->p999 / 1e3);
	return 0;
}

/*
 * RFC 2544's binary search, as CSIT runs it: the highest offered rate with
 * no loss over a trial (NDR), and with at most --pdr-loss (PDR).  The first
 * trial at full speed bounds both: if it loses nothing, the generator is
 * the limit and both are that rate.
 */
static int run_ndr(void)
{
	struct ndr_trial t[64], best[2];
	const double limit[2] = { 0, g.o.pdr_loss };
	const char *what[2] = { "ndr", "pdr" };
	unsigned k = 0;
	double inner = 0;

	memset(best, 0, sizeof(best));
	if (run_one_trial(0, &t[k], k) != 0)
		return -ETIMEDOUT;
	k++;
	for (int w = 0; w < 2; w++) {
		double lo = w ? best[0].rate : 0, hi = t[0].rate;

		if (t[0].loss <= limit[w]) {
			best[w] = t[0];
			continue;
		}
		if (w && best[0].rate > 0)
			best[1] = best[0];
		/* Down to a thousandth of full speed: below that, NDR is 0. */
		while (hi - lo > g.o.precision * hi && hi > t[0].rate / 1024 && k < RTE_DIM(t) &&
		       !stop) {
			double mid = (lo + hi) / 2;

			if (run_one_trial(mid, &t[k], k) != 0)
				return -ETIMEDOUT;
			if (t[k].loss <= limit[w]) {
				lo = mid;
				best[w] = t[k];
				best[w].rate = mid;
			} else {
				hi = mid;
			}
			k++;
		}
	}
	pool_report(human());
	/* The mean inner packet size, as the last trial received it. */
	for (int d = 0; d < N_DIRS; d++)
		if (g.o.dir[d] && g.d[d].rx)
			inner = (double)g.d[d].rx_bytes / (double)g.d[d].rx;
	for (int w = 0; w < 2; w++)
		fprintf(human(),
			"%s: %.0f pps per direction (%.3f Mpps, %.3f Gbit/s inner of %.0f-byte "
			"mean "
			"packets), loss %.4f%%, latency p50 %.1f p99 %.1f p99.9 %.1f us\n",
			w ? "PDR" : "NDR", best[w].rate, best[w].rate / 1e6,
			best[w].rate * inner * 8 / 1e9, inner, best[w].loss * 100,
			best[w].p50 / 1e3, best[w].p99 / 1e3, best[w].p999 / 1e3);
	if (g.o.json) {
		printf("{\"peers\": %u, \"size\": \"%s\", \"direction\": \"%s\", "
		       "\"trial_seconds\": "
		       "%.3f, \"pdr_loss\": %.4f, \"handshakes\": %" PRIu64
		       ", \"handshake_seconds\": %.3f, \"initiations\": %" PRIu64
		       ", \"rekeys\": %" PRIu64 ", \"flood_tx\": %" PRIu64,
		       g.o.peers, g.o.size,
		       g.o.dir[DIR_IN] && g.o.dir[DIR_OUT] ? "both"
		       : g.o.dir[DIR_IN]		   ? "in"
							   : "out",
		       g.o.trial, g.o.pdr_loss, g.handshakes, g.hs_seconds, g.hs_initiations,
		       g.rekeys, g.flood_tx);
		pool_json();
		for (int w = 0; w < 2; w++)
			printf(", \"%s\": {\"pps\": %.0f, \"gbps\": %.4f, \"loss\": %.6f, "
			       "\"latency_ns\": {\"p50\": %.0f, \"p99\": %.0f, \"p99.9\": %.0f}}",
			       what[w], best[w].rate, best[w].rate * inner * 8 / 1e9, best[w].loss,
			       best[w].p50, best[w].p99, best[w].p999);
		printf(", \"trials\": [");
		for (unsigned i = 0; i < k; i++)
			printf("%s{\"pps\": %.0f, \"tx\": %" PRIu64 ", \"rx\": %" PRIu64
			       ", \"loss\": %.6f, \"p99_ns\": %.0f}",
			       i ? ", " : "", t[i].rate, t[i].tx, t[i].rx, t[i].loss, t[i].p99);
		printf("]}\n");
	}
	return best[0].rate > 0 ? 0 : 1;
}

/*
 * --pcap-only: the data messages of the sessions just made, sealed as a run
 * seals them (each client's counters in order, clients in turn) but written
 * to the pcap instead of the NIC port.  Replayed once into this gateway while
 * the sessions live (REJECT_AFTER_TIME, 180 s), every one is fresh; a second
 * replay is all replays.
 */
static int write_pcap_data(void)
{
	struct pg_dir *d = &g.d[DIR_IN];

	reset_counts();
	while (d->tx < g.o.pcap_max && !stop) {
		struct pg_peer *pp[PG_BURST];
		unsigned n = (unsigned)RTE_MIN((uint64_t)PG_BURST, g.o.pcap_max - d->tx);

		for (unsigned i = 0; i < n; i++)
			pp[i] = &g.peers[g.rr_in++ % g.o.peers];
		if (send_data(pp, n, false) != n)
			return -ENOMEM;
	}
	fprintf(human(),
		"handshakes: %" PRIu64 " of %u in %.2f s (%" PRIu64 " initiations); pcap: %" PRIu64
		" data messages, %" PRIu64 " bytes of inner packets, written to %s\n",
		g.handshakes, g.o.peers, g.hs_seconds, g.hs_initiations, d->tx, d->tx_bytes,
		g.o.pcap);
	if (g.o.json)
		printf("{\"peers\": %u, \"size\": \"%s\", \"rate\": %.0f, \"handshakes\": %" PRIu64
		       ", \"initiations\": %" PRIu64 ", \"responses\": %" PRIu64
		       ", \"keepalives_tx\": %" PRIu64 ", \"tx_failed\": %" PRIu64
		       ", \"pcap_frames\": %" PRIu64 ", \"in\": {\"tx\": %" PRIu64
		       ", \"tx_bytes\": %" PRIu64 "}}\n",
		       g.o.peers, g.o.size, g.o.rate, g.handshakes, g.hs_initiations,
		       g.hs_responses, g.keepalives_tx, g.tx_failed, g.pcap_frames, d->tx,
		       d->tx_bytes);
	return d->tx == g.o.pcap_max ? 0 : -EINTR;
}

/* ---- setup ---- */

static int port_setup(uint16_t port, uint16_t nrxq)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	if (!rte_eth_dev_is_valid_port(port))
		return -ENODEV;
	rc = rte_eth_dev_configure(port, nrxq, 1, &conf);
	for (uint16_t q = 0; rc == 0 && q < nrxq; q++)
		rc = rte_eth_rx_queue_setup(port, q, 1024, (unsigned)rte_eth_dev_socket_id(port),
					    NULL, g.pool);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(port, 0, 1024, (unsigned)rte_eth_dev_socket_id(port),
					    NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc == 0)
		rte_eth_promiscuous_enable(port);
	return rc;
}

static int setup_peers(void)
{
	uint8_t priv[32];

	g.peers = calloc(g.o.peers, sizeof(*g.peers));
	if (g.peers == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < g.o.peers; i++) {
		struct pg_peer *p = &g.peers[i];

		peer_private_key(g.o.seed, i, priv);
		if (sg_noise_static_init(&p->st, priv) != 0 ||
		    sg_noise_peer_hs_init(&p->hs, &p->st, g.o.gw_pub, NULL) != 0) {
			sg_wipe(priv, sizeof(priv));
			return -ENOKEY;
		}
		sg_cookie_maker_init(&p->maker, g.o.gw_pub);
		addr_plus(g.o.peer_net, i + 1, p->inner, 12);
		/*
		 * Each client in a /64 of its own, as clients on the Internet are:
		 * the gateway's per-source handshake limit (under load) is per /64.
		 */
		addr_plus(g.o.client_net, i + 1, p->outer, 4);
		p->sport = (uint16_t)(40000 + i % 20000);
	}
	sg_wipe(priv, sizeof(priv));
	for (int d = 0; d < N_DIRS; d++) {
		g.d[d].seen = calloc(1, PG_SEEN_BITS / 8);
		if (g.d[d].seen == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void teardown(void)
{
	if (g.peers) {
		for (unsigned i = 0; i < g.o.peers; i++) {
			sg_noise_static_clear(&g.peers[i].st);
			sg_noise_peer_hs_clear(&g.peers[i].hs);
			sg_cookie_maker_clear(&g.peers[i].maker);
		}
		sg_wipe(g.peers, sizeof(*g.peers) * g.o.peers);
		free(g.peers);
	}
	for (int d = 0; d < N_DIRS; d++)
		free(g.d[d].seen);
	free(g.flood_msgs);
	free(g.pl.buf);
	free(g.pl.tx_tsc);
	sg_cookie_maker_clear(&g.flood_maker);
	sg_dpcrypto_destroy(g.dc);
}

int main(int argc, char **argv)
{
	int n, rc = 0;

	if (argc > 1 && strcmp(argv[1], "gen-config") == 0)
		return gen_config(argc, argv);
	n = rte_eal_init(argc, argv);
	if (n < 0)
		rte_exit(2, "sixgate-pktgen: EAL init failed\n");
	argc -= n;
	argv += n;
	argv[0] = (char *)"sixgate-pktgen";
	if (parse_options(argc, argv, &g.o) != 0)
		rte_exit(2, "sixgate-pktgen: bad options\n");
	if (!g.o.have_gw_pub)
		rte_exit(2, "sixgate-pktgen: --gw-pub is required\n");
	if (g.o.pcap_only && (!g.o.pcap || g.o.ndr || g.o.flood))
		rte_exit(2, "sixgate-pktgen: --pcap-only needs --pcap, and no --ndr or --flood\n");
	if (g.o.pcap_only)
		g.o.dir[DIR_OUT] = false;
	g.have_vm = !g.o.pcap_only;
	if (sg_crypto_init() != 0)
		rte_exit(2, "sixgate-pktgen: crypto init failed\n");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.hz = rte_get_tsc_hz();
	memset(&g.gw_mac, 0xff, sizeof(g.gw_mac));
	memset(&g.gw_vm_mac, 0xff, sizeof(g.gw_vm_mac));
	g.dc = sg_dpcrypto_create();
	g.pool = rte_pktmbuf_pool_create("pg_pool", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 (int)rte_socket_id());
	if (g.dc == NULL || g.pool == NULL)
		rte_exit(2, "sixgate-pktgen: no crypto engine or mbuf pool\n");
	if (port_setup(g.o.nic_port, g.o.nic_rxq) != 0)
		rte_exit(2, "sixgate-pktgen: cannot start NIC port %u\n", g.o.nic_port);
	if (g.have_vm && port_setup(g.o.vm_port, 1) != 0)
		rte_exit(2, "sixgate-pktgen: cannot start VM port %u\n", g.o.vm_port);
	if (setup_peers() != 0)
		rte_exit(2, "sixgate-pktgen: cannot set up %u clients\n", g.o.peers);
	if (g.o.pcap && pcap_start() != 0)
		rte_exit(2, "sixgate-pktgen: cannot write %s\n", g.o.pcap);
	if (g.o.flood && flood_setup() != 0)
		rte_exit(2, "sixgate-pktgen: cannot seal the flood's initiations\n");
	if (g.o.pool_mb > 0 && !g.o.pcap_only && pool_setup() != 0)
		rte_exit(2, "sixgate-pktgen: no memory for a --pool of %" PRIu64 " MB\n",
			 g.o.pool_mb);
	fprintf(human(), "sixgate-pktgen: %u clients, size %s, %s, direction %s%s%s\n", g.o.peers,
		g.o.size,
		g.o.pcap_only ? "pcap only"
		: g.o.ndr     ? "NDR/PDR search"
		: g.o.rate    ? "fixed rate"
			      : "max rate",
		g.o.dir[DIR_IN] ? "in" : "", g.o.dir[DIR_IN] && g.o.dir[DIR_OUT] ? "+" : "",
		g.o.dir[DIR_OUT] ? "out" : "");
	if (wait_links(30) != 0) {
		fprintf(stderr, "sixgate-pktgen: the ports' links are not up after 30 s\n");
		rc = 1;
	} else if (handshake_all() != 0) {
		fprintf(stderr, "sixgate-pktgen: only %" PRIu64 " of %u handshakes in %.0f s\n",
			g.handshakes, g.o.peers, g.o.hs_timeout);
		rc = 1;
	} else {
		/* Let the gateway see the confirming keepalives before it is sent to. */
		uint64_t settle = rte_rdtsc() + g.hz / 5;

		while (rte_rdtsc() < settle) {
			poll_nic();
			poll_vm();
		}
		if (g.hs_seconds > 170)
			fprintf(stderr,
				"sixgate-pktgen: warning: the handshakes took %.0f s: the first "
				"sessions may have passed the gateway's 180 s limit before their "
				"rekey (wg_keypair_expired drops)\n",
				g.hs_seconds);
		if (g.o.pcap_only) {
			rc = write_pcap_data() == 0 ? 0 : 1;
		} else if (g.o.ndr) {
			rc = run_ndr();
		} else {
			run_traffic();
			for (int d = 0; d < N_DIRS; d++)
				if (g.o.dir[d] && g.d[d].rx == 0)
					rc = 1;
		}
	}
	pcap_stop();
	teardown();
	rte_eth_dev_stop(g.o.nic_port);
	rte_eth_dev_close(g.o.nic_port);
	if (g.have_vm) {
		rte_eth_dev_stop(g.o.vm_port);
		rte_eth_dev_close(g.o.vm_port);
	}
	rte_eal_cleanup();
	return rc;
}
