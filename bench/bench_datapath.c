/* SPDX-License-Identifier: MIT */
/*
 * bench_datapath: sixgate's per-core data path, the real stages of pipelines/
 * on one core, side by side in one run with the crypto they contain.
 *
 *   bench_datapath [--seconds S] [--peers N] [--burst N] [--cpu N] [--no-huge]
 *
 * What runs is the production code, unchanged:
 *   rx: sg_nic_input (outer Ethernet/IPv6/UDP checks, software UDP checksum)
 *       and sg_ingress_data (index -> keypair, replay pre-check, ONE
 *       lib/dpcrypto decrypt burst, replay commit, allowed IPs, org, 6PN route,
 *       the VM port's TX), or sg_ingress_data alone;
 *   tx: sg_egress_vm (VM frame checks, allowed IPs -> peer, org, MTU, session,
 *       padding, lib/dpcrypto encrypt bursts, outer headers, the NIC's TX).
 * EAL runs in-process and the gateway is built by sg_gateway_create, as
 * sixgate builds it, on tests/fixture: there is no NIC and no VM, both
 * "ports" are DPDK ring PMDs, so the stages' own rte_eth_tx_burst calls land
 * in rings that the benchmark drains and checks.  The gateway's sessions come
 * from real handshakes through sg_nic_input and the control lcore's code with
 * in-process clients, whose transport keys encrypt the packets fed to rx and
 * decrypt (once, to check them) what tx sends.
 *
 * Fed packets are pre-built images copied into fresh mbufs before each burst,
 * outside the timed region; only the stage call is timed (rdtsc).  An rx image
 * set holds consecutive counters per peer; each time a cell starts its set
 * again the benchmark empties the replay windows of that cell's keypairs (an
 * honest stand-in for fresh counters: commit still advances the window).
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <x86intrin.h>

#include <intel-ipsec-mb.h>
#include <sodium.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>
#include <rte_version.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/wire/sg_wire.h"
#include "lib/policy/sg_policy.h"
#include "tests/fixture/sg_fixture.h"

#define BURST_MAX SG_BURST_MAX

#define MAX_PEERS  10000
#define IMG_BURSTS 8	/* distinct bursts per cell before its images repeat */
#define IMG_MAX	   1536 /* outer frame of a 1420-byte inner packet: 1514 */
#define MAX_SLICES 20000
#define MAX_CELLS  16
#define OUTER_LEN  SG_FX_OUTER_LEN
#define N_POOL	   4095

static const uint32_t sizes[] = { 64, 512, 1420 };

/* A pre-built frame and what the benchmark needs to know about it. */
struct img {
	struct sg_pkt_meta meta; /* as sg_nic_input would leave it (rx) */
	uint16_t len;
	uint16_t client;
	uint64_t counter;
	uint8_t data[IMG_MAX];
};

enum kind {
	K_RX_NIC,  /* sg_nic_input, which hands data on to sg_ingress_data */
	K_RX_ING,  /* sg_ingress_data on metadata as sg_nic_input leaves it */
	K_TX,	   /* sg_egress_vm */
	K_DEC_IMB, /* lib/dpcrypto decrypt burst alone */
	K_DEC_SOD, /* libsodium decrypt, one packet at a time */
	K_ENC_IMB,
	K_ENC_SOD,
	K_CSUM, /* the software UDP checksum of the outer frame alone */
};

struct cell {
	const char *name;
	enum kind kind;
	unsigned first, n_clients; /* the clients whose packets it carries */
	struct img *img;	   /* n_img images, its own or another cell's */
	unsigned n_img, pos;
	unsigned *posp;	    /* the next image: &pos, or the rx cell's whose images it shares */
	bool shared;	    /* img belongs to another cell (built with its) */
	bool l4_good;	    /* mbufs say "L4 checksum good", as a NIC with offload does */
	bool skip;	    /* not measured (--only) */
	uint64_t nonce;	    /* encrypt-only cells */
	int crypto, sodium; /* the crypto-only cells of its direction (pipeline cells) */
	unsigned n_slices;
	double cpp[MAX_SLICES];
	uint64_t pkts, drops, bad;
	double med; /* median cycles per packet */
};

struct bench {
	struct sg_fx fx;
	struct sg_worker *w;	 /* the gateway's worker 0 */
	struct sg_fx_client *cl; /* fx.cl */
	struct sg_keypair **kp;	 /* the gateway's side of each client's session */
	uint8_t vm_addr[16];	 /* the VM's tunnel address */
	unsigned n_clients;
	struct cell cells[MAX_CELLS];
	unsigned n_cells;
	unsigned burst, peers;
	double secs, tsc_hz;
	bool no_huge;
	unsigned no_huge_mb; /* -m for --no-huge: 512, more with many peers */
	const char *policy;  /* --policy FILE: [interface] policy_file */
	const char *only;    /* --only TEXT: the pipeline cells whose path has TEXT */
	int cpu;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static inline uint64_t tsc_begin(void)
{
	_mm_lfence();
	return __rdtsc();
}

static inline uint64_t tsc_end(void)
{
	unsigned aux;
	uint64_t t = __rdtscp(&aux);

	_mm_lfence();
	return t;
}

/* --- the gateway and its sessions --- */

/* The gateway, one VM, and one peer with a confirmed session per client. */
static int setup_gateway(struct bench *b)
{
	struct sg_fx_conf fc = { .n_clients = b->n_clients,
				 .n_vms = 1,
				 .burst = b->burst,
				 .mbufs = N_POOL,
				 .policy_file = b->policy };
	uint64_t now = sg_now_ns();
	int rc = sg_fx_start(&b->fx, &fc, "bench");

	if (rc != 0)
		return rc;
	b->w = b->fx.w;
	b->cl = b->fx.cl;
	sg_fx_vm_addr(&b->fx, 0, b->vm_addr);
	b->kp = calloc(b->n_clients, sizeof(*b->kp));
	if (b->kp == NULL)
		return -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < b->n_clients; i++) {
		rc = sg_fx_handshake(&b->fx, i, true, now);
		b->kp[i] = sg_fx_gw_keypair(&b->fx, i);
	}
	return rc;
}

/* --- packets --- */

static uint64_t seed_of(unsigned client, uint64_t counter)
{
	return counter * 0x9e3779b97f4a7c15ull ^ client;
}

/* A data message from client ci with counter, as the NIC would deliver it to us. */
static void make_rx_img(struct bench *b, struct img *im, unsigned ci, uint64_t counter,
			uint32_t len)
{
	const struct sg_fx_client *c = &b->cl[ci];
	uint8_t inner[IMG_MAX];

	sg_fx_inner(inner, len, c->addr, b->vm_addr, seed_of(ci, counter));
	im->len = sg_fx_data(&b->fx, ci, counter, inner, len, im->data);
	im->client = (uint16_t)ci;
	im->counter = counter;
	im->meta.src = c->ep;
	im->meta.wg_off = (uint16_t)OUTER_LEN;
	im->meta.wg_len = (uint16_t)(im->len - OUTER_LEN);
}

/* A frame from the VM to client ci's tunnel address. */
static void make_tx_img(struct bench *b, struct img *im, unsigned ci, uint64_t seq, uint32_t len)
{
	uint8_t inner[IMG_MAX];

	sg_fx_inner(inner, len, b->vm_addr, b->cl[ci].addr, seed_of(ci, seq));
	im->len = sg_fx_vm_frame(&b->fx, inner, len, im->data);
	memset(&im->meta, 0, sizeof(im->meta));
	im->client = (uint16_t)ci;
	im->counter = seq;
}

/* Image j of a cell belongs to client first + j % n: every burst mixes the cell's peers. */
static void build_images(struct bench *b, struct cell *c, uint32_t len)
{
	for (unsigned j = 0; j < c->n_img; j++) {
		unsigned ci = c->first + j % c->n_clients;
		uint64_t n = j / c->n_clients;

		if (c->kind == K_TX)
			make_tx_img(b, &c->img[j], ci, j, len);
		else
			make_rx_img(b, &c->img[j], ci, n, len);
	}
	*c->posp = 0;
}

/* --- one burst through one cell --- */

/* Starting its images again: the cell's counters become new to its keypairs. */
static void replay_reset(struct bench *b, const struct cell *c)
{
	for (unsigned i = 0; i < c->n_clients; i++) {
		struct sg_keypair *kp = b->kp[c->first + i];

		rte_spinlock_lock(&kp->replay_lock);
		sg_replay_init(&kp->replay);
		rte_spinlock_unlock(&kp->replay_lock);
	}
}

static int load(struct bench *b, struct cell *c, struct rte_mbuf **ms, const struct img **ims)
{
	if (*c->posp == 0 && (c->kind == K_RX_NIC || c->kind == K_RX_ING))
		replay_reset(b, c);
	if (rte_pktmbuf_alloc_bulk(b->fx.gw->dp.pool, ms, b->burst) != 0)
		return -ENOMEM;
	for (unsigned i = 0; i < b->burst; i++) {
		const struct img *im = &c->img[*c->posp + i];

		memcpy(rte_pktmbuf_mtod(ms[i], void *), im->data, im->len);
		ms[i]->data_len = im->len;
		ms[i]->pkt_len = im->len;
		*sg_meta(ms[i]) = im->meta;
		if (c->l4_good)
			ms[i]->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
		ims[i] = im;
	}
	*c->posp = (*c->posp + b->burst) % c->n_img;
	return 0;
}

static void wg_nonce(uint8_t npub[12], uint64_t counter)
{
	memset(npub, 0, 4);
	for (int i = 0; i < 8; i++)
		npub[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* Crypto-only ops over the very bytes the stage would touch, in place. */
static void crypto_ops(struct bench *b, struct cell *c, struct rte_mbuf **ms,
		       const struct img **ims, struct sg_dpcrypto_op *ops)
{
	bool dec = c->kind == K_DEC_IMB || c->kind == K_DEC_SOD;

	for (unsigned i = 0; i < b->burst; i++) {
		struct sg_keypair *kp = b->kp[ims[i]->client];
		uint8_t *p = rte_pktmbuf_mtod(ms[i], uint8_t *);
		struct sg_dpcrypto_op *op = &ops[i];

		memset(op, 0, sizeof(*op));
		if (dec) {
			op->key = kp->recv_key;
			op->nonce = ims[i]->counter;
			op->src = p + OUTER_LEN + SG_MSG_DATA_HEADER_LEN;
			op->len = ims[i]->len - (uint32_t)(OUTER_LEN + SG_MSG_DATA_MIN_LEN);
		} else {
			op->key = kp->send_key;
			op->nonce = c->nonce++;
			op->src = p + RTE_ETHER_HDR_LEN;
			op->len = ims[i]->len - (uint32_t)RTE_ETHER_HDR_LEN;
		}
		op->dst = op->src;
		op->tag = op->src + op->len;
	}
}

static unsigned sodium_one_by_one(struct sg_dpcrypto_op *ops, unsigned n, bool dec)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i++) {
		struct sg_dpcrypto_op *op = &ops[i];
		unsigned long long tl;
		uint8_t npub[12];

		wg_nonce(npub, op->nonce);
		if (!dec) {
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(op->dst, op->tag, &tl,
									   op->src, op->len, NULL,
									   0, NULL, npub, op->key);
			continue;
		}
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			    op->dst, NULL, op->src, op->len, op->tag, NULL, 0, npub, op->key) != 0)
			bad++;
	}
	return bad;
}

/* What sg_nic_input does without NIC offload, and sg_outer_push always does. */
static unsigned csum_all(struct rte_mbuf **ms, unsigned n)
{
	unsigned bad = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rte_ipv6_hdr *ip =
			rte_pktmbuf_mtod_offset(ms[i], struct rte_ipv6_hdr *, RTE_ETHER_HDR_LEN);

		bad += rte_ipv6_udptcp_cksum_verify(ip, ip + 1) != 0;
	}
	return bad;
}

/* Runs the cell's stage (or crypto) on ms; returns the TSC cycles it took. */
static uint64_t run_stage(struct bench *b, struct cell *c, struct rte_mbuf **ms,
			  const struct img **ims)
{
	static struct sg_dpcrypto_op ops[BURST_MAX];
	struct sg_worker *w = b->w;
	unsigned n = b->burst, ok = n;
	uint64_t t0, t1;

	if (c->kind >= K_DEC_IMB && c->kind <= K_ENC_SOD)
		crypto_ops(b, c, ms, ims, ops);
	t0 = tsc_begin();
	switch (c->kind) {
	case K_RX_NIC:
		sg_nic_input(w, ms, n);
		break;
	case K_RX_ING:
		sg_ingress_data(w, ms, n);
		break;
	case K_TX:
		sg_egress_vm(w, 0, ms, n);
		break;
	case K_DEC_IMB:
		ok = sg_dpcrypto_decrypt_burst(w->crypto, ops, n);
		break;
	case K_ENC_IMB:
		ok = sg_dpcrypto_encrypt_burst(w->crypto, ops, n);
		break;
	case K_DEC_SOD:
	case K_ENC_SOD:
		ok = n - sodium_one_by_one(ops, n, c->kind == K_DEC_SOD);
		break;
	case K_CSUM:
		ok = n - csum_all(ms, n);
		break;
	}
	t1 = tsc_end();
	c->bad += n - ok;
	return t1 - t0;
}

/* A frame the VM port got: the VM's Ethernet header and the original inner packet. */
static bool rx_output_ok(struct bench *b, struct rte_mbuf *m, const struct img *im)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint32_t len = im->len - (uint32_t)(OUTER_LEN + SG_MSG_DATA_MIN_LEN);
	uint8_t want[IMG_MAX];

	if (m->nb_segs != 1 || rte_pktmbuf_pkt_len(m) != RTE_ETHER_HDR_LEN + len ||
	    !rte_is_same_ether_addr(&eth->dst_addr, &b->fx.vm_mac) ||
	    !rte_is_same_ether_addr(&eth->src_addr, &b->fx.gw->dp.vms[0].gw_mac) ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6))
		return false;
	sg_fx_inner(want, len, b->cl[im->client].addr, b->vm_addr,
		    seed_of(im->client, im->counter));
	want[7]--; /* forwarded as a router does: one hop spent */
	return memcmp(eth + 1, want, len) == 0;
}

/* A frame the NIC got: outer headers to the client, and data the client decrypts. */
static bool tx_output_ok(struct bench *b, struct rte_mbuf *m, const struct img *im)
{
	const struct sg_fx_client *c = &b->cl[im->client];
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint8_t *msg = (uint8_t *)(udp + 1), plain[IMG_MAX];
	uint32_t len = im->len - (uint32_t)RTE_ETHER_HDR_LEN;

	if (m->nb_segs != 1 || rte_pktmbuf_pkt_len(m) != OUTER_LEN + SG_MSG_DATA_MIN_LEN + len ||
	    memcmp(eth->dst_addr.addr_bytes, c->ep.mac, 6) != 0 ||
	    memcmp(ip->dst_addr, c->ep.addr, 16) != 0 || memcmp(ip->src_addr, sg_fx_gw6, 16) != 0 ||
	    udp->dst_port != c->ep.port || udp->src_port != rte_cpu_to_be_16(SG_FX_GW_PORT) ||
	    rte_ipv6_udptcp_cksum_verify(ip, udp) != 0 || msg[0] != SG_MSG_DATA ||
	    sg_get_le32(msg + 4) != c->nk.local_index)
		return false;
	if (sg_aead_decrypt(plain, msg + SG_MSG_DATA_HEADER_LEN, len + SG_TAG_LEN, NULL, 0,
			    sg_get_le64(msg + 8), c->nk.receiving_key) != 0)
		return false;
	/* Forwarded as a router does: one hop spent. */
	plain[7]++;
	return memcmp(plain, im->data + RTE_ETHER_HDR_LEN, len) == 0;
}

/* Takes what the stage sent from the port's ring (checking it if asked), frees it. */
static void collect(struct bench *b, struct cell *c, struct rte_mbuf **ms, const struct img **ims,
		    bool verify)
{
	struct rte_mbuf *out[BURST_MAX];
	struct rte_ring *r = c->kind == K_TX ? b->fx.nic_tx : b->fx.vm_tx[0];
	unsigned n, i;

	if (c->kind >= K_DEC_IMB) {
		rte_pktmbuf_free_bulk(ms, b->burst);
		return;
	}
	n = rte_ring_dequeue_burst(r, (void **)out, BURST_MAX, NULL);
	if (n != b->burst) {
		/* Lost packets (counted as drops too); outputs no longer pair with images. */
		c->bad += n > b->burst ? n - b->burst : b->burst - n;
		verify = false;
	}
	for (i = 0; verify && i < n; i++)
		if (!(c->kind == K_TX ? tx_output_ok(b, out[i], ims[i])
				      : rx_output_ok(b, out[i], ims[i])))
			c->bad++;
	rte_pktmbuf_free_bulk(out, n);
}

static uint64_t drops_total(const struct sg_worker *w)
{
	uint64_t n = 0;

	for (unsigned r = SG_DROP_NONE + 1; r < SG_DROP_MAX; r++)
		n += w->drops.n[r];
	return n;
}

static uint64_t run_burst(struct bench *b, struct cell *c, bool verify)
{
	struct rte_mbuf *ms[BURST_MAX];
	const struct img *ims[BURST_MAX];
	uint64_t t;

	/* The worker loop reads the clock once a round; not part of a stage. */
	b->w->now_ns = sg_now_ns();
	if (load(b, c, ms, ims) != 0) {
		c->bad += b->burst;
		return 0;
	}
	t = run_stage(b, c, ms, ims);
	collect(b, c, ms, ims, verify);
	return t;
}

/* --- measuring --- */

/* One pass over every image of every pipeline cell, each output checked. */
static int check_pass(struct bench *b, uint32_t len)
{
	uint64_t d0 = drops_total(b->w);
	int fail = 0;

	/* rx first: the data it carries confirms the sessions tx then sends on. */
	for (int tx = 0; tx <= 1; tx++) {
		for (unsigned i = 0; i < b->n_cells; i++) {
			struct cell *c = &b->cells[i];

			if (c->kind > K_TX || (c->kind == K_TX) != tx)
				continue;
			c->bad = 0;
			for (unsigned k = 0; k < c->n_img / b->burst; k++)
				run_burst(b, c, true);
			if (c->bad != 0) {
				fprintf(stderr,
					"bench_datapath: %u B %s: %lu packets wrong or lost\n", len,
					c->name, (unsigned long)c->bad);
				fail = 1;
			}
		}
		sg_ctl_poll(&b->fx.gw->ctl, sg_now_ns());
		sg_fx_drain(b->fx.ctl_tx);
	}
	if (drops_total(b->w) != d0) {
		fprintf(stderr, "bench_datapath: %u B: %lu packets dropped in the check pass\n",
			len, (unsigned long)(drops_total(b->w) - d0));
		fail = 1;
	}
	return fail ? -EIO : 0;
}

/* Bursts of cell c for slice_cyc TSC cycles; returns timed cycles per packet. */
static double run_slice(struct bench *b, struct cell *c, uint64_t slice_cyc)
{
	uint64_t t0 = __rdtsc(), busy = 0, pkts = 0, d0 = drops_total(b->w);

	do {
		busy += run_burst(b, c, false);
		pkts += b->burst;
	} while (__rdtsc() - t0 < slice_cyc);
	c->pkts += pkts;
	c->drops += drops_total(b->w) - d0;
	sg_ctl_poll(&b->fx.gw->ctl, sg_now_ns());
	sg_fx_drain(b->fx.ctl_tx);
	return (double)busy / (double)pkts;
}

static int cmp_double(const void *x, const void *y)
{
	double u = *(const double *)x, v = *(const double *)y;

	return (u > v) - (u < v);
}

/*
 * The cells take turns in 1 ms slices, so that a neighbour's load hits them
 * alike; each cell's figure is the median of its slices' cycles per packet.
 */
static void measure(struct bench *b, double secs)
{
	uint64_t slice = (uint64_t)(b->tsc_hz / 1000);
	unsigned n = (unsigned)(secs * 1000 / b->n_cells), s, i;

	n = n < 1 ? 1 : n > MAX_SLICES ? MAX_SLICES : n;
	for (i = 0; i < b->n_cells; i++) {
		if (b->cells[i].skip)
			continue;
		run_slice(b, &b->cells[i], slice * 10);
		b->cells[i].n_slices = 0;
		b->cells[i].pkts = b->cells[i].drops = b->cells[i].bad = 0;
	}
	for (s = 0; s < n && !stop; s++)
		for (i = 0; i < b->n_cells; i++)
			if (!b->cells[i].skip)
				b->cells[i].cpp[b->cells[i].n_slices++] =
					run_slice(b, &b->cells[i], slice);
	for (i = 0; i < b->n_cells; i++) {
		struct cell *c = &b->cells[i];

		if (c->skip)
			continue;
		qsort(c->cpp, c->n_slices, sizeof(double), cmp_double);
		c->med = c->cpp[c->n_slices / 2];
	}
}

/* --- the report --- */

static void print_row(struct bench *b, const struct cell *c, uint32_t len)
{
	double mpps = b->tsc_hz / c->med / 1e6;

	printf("%6u  %-28s %5u %7.2f %7.2f %8.0f", len, c->name, c->n_clients, mpps,
	       mpps * len * 8 / 1e3, c->med);
	if (c->crypto >= 0) {
		double cry = b->cells[c->crypto].med, sod = b->cells[c->sodium].med;

		printf(" %7.0f %6.0f %8.2f %8.2f %8.2f", cry, c->med - cry, cry / c->med,
		       sod / c->med, (c->med - cry + sod) / c->med);
	} else if (c->sodium >= 0) {
		printf(" %7s %6s %8s %8.2f", "", "", "", b->cells[c->sodium].med / c->med);
	}
	if (c->drops != 0 || c->bad != 0)
		printf("  LOST %lu", (unsigned long)(c->drops + c->bad));
	printf("\n");
}

static void print_header(struct bench *b, const char *mem)
{
	printf("bench_datapath: sixgate's data path (pipelines/) on one core, bursts of %u "
	       "spread over %u peers%s\n",
	       b->burst, b->peers, b->peers > 1 ? ", and from 1 peer" : "");
	printf("%s, ipsec-mb %s (arch %s), libsodium %s, TSC %.2f GHz, core %d, %s, "
	       "%.2f s per size\n\n",
	       rte_version(), imb_get_version_str(), sg_dpcrypto_arch_name(b->w->crypto),
	       sodium_version_string(), b->tsc_hz / 1e9, b->cpu, mem,
	       b->secs / (double)SG_ARRAY_SIZE(sizes));
	{
		const struct sg_dp_policy *p = atomic_load(&b->fx.gw->dp.policy);

		printf("policy: %s, %u rules (rte_acl %s)\n\n", p->file, p->n_rules,
		       sg_policy_acl_alg(p->acl));
	}
	printf("%6s  %-28s %5s %7s %7s %8s %7s %6s %8s %8s %8s\n", "bytes", "path", "peers", "Mpps",
	       "Gbit/s", "cyc/pkt", "crypto", "other", "x crypto", "x sodium", "x naive");
}

static void print_footer(void)
{
	printf("bytes: inner IPv6 packet = WireGuard plaintext (the wire adds 32 B of WireGuard "
	       "and 62 B of\nEthernet/IPv6/UDP); Gbit/s counts inner bytes.  Medians of 1 ms "
	       "slices, cells interleaved.\nhwcsum: mbufs flagged \"L4 checksum good\" as by a "
	       "NIC with RX offload (no software check).\ncrypto: cyc/pkt of the dpcrypto burst "
	       "alone on the same packets; other = cyc/pkt - crypto.\nx crypto: rate / "
	       "dpcrypto-only rate.  x sodium: rate / libsodium-one-at-a-time rate.\nx naive: rate "
	       "/ estimated rate of the same stage with libsodium per packet (other + sodium).\n"
	       "udp checksum sw: the outer UDP checksum alone, which nic_input (without offload) "
	       "and egress\n(always) compute in software.\n");
}

/* --- setup of the cells --- */

static struct cell *cell_add(struct bench *b, const char *name, enum kind k, unsigned first,
			     unsigned n)
{
	struct cell *c = &b->cells[b->n_cells++];

	c->name = name;
	c->kind = k;
	c->first = first;
	c->n_clients = n;
	c->crypto = c->sodium = -1;
	c->posp = &c->pos;
	/*
	 * The rx cells of a mix take turns on one stream of images (each image,
	 * whichever cell sends it, a new counter of its peer), so that they can
	 * share their peers: the benchmark holds a session a peer, as a gateway
	 * with that many peers does, not one a peer for each cell.
	 */
	for (unsigned i = 0; (k == K_RX_NIC || k == K_RX_ING) && i + 1 < b->n_cells; i++) {
		struct cell *o = &b->cells[i];

		if ((o->kind == K_RX_NIC || o->kind == K_RX_ING) && !o->shared &&
		    o->first == first && o->n_clients == n) {
			c->img = o->img;
			c->n_img = o->n_img;
			c->posp = &o->pos;
			c->shared = true;
			return c;
		}
	}
	if (k <= K_TX) {
		/* At least one image per peer, so that every peer's state is touched. */
		c->n_img = IMG_BURSTS * b->burst;
		if (c->n_img < n)
			c->n_img = (n + b->burst - 1) / b->burst * b->burst;
		c->img = calloc(c->n_img, sizeof(*c->img));
	}
	return c;
}

/* The crypto-only cells run on the images of a pipeline cell, with its keys. */
static void crypto_pair(struct bench *b, struct cell *src, enum kind imb, enum kind sod,
			const char *n_imb, const char *n_sod)
{
	unsigned ci = b->n_cells;
	struct cell *x = cell_add(b, n_imb, imb, src->first, src->n_clients);
	struct cell *y = cell_add(b, n_sod, sod, src->first, src->n_clients);

	x->img = y->img = src->img;
	x->n_img = y->n_img = src->n_img;
	x->sodium = (int)ci + 1;
	for (unsigned i = 0; i < ci; i++) {
		struct cell *c = &b->cells[i];

		if (c->kind <= K_TX && (c->kind == K_TX) == (imb == K_ENC_IMB)) {
			c->crypto = (int)ci;
			c->sodium = (int)ci + 1;
		}
	}
}

/*
 * Two mixes: bursts that spread over --peers peers (one packet each when the
 * peers are as many as the burst), and one peer alone (a bulk flow).  The
 * cells of a mix share its peers (rx and tx, as a gateway's peers send and
 * receive): --peers sessions, and one more for the bulk flow.
 */
static int setup_cells(struct bench *b)
{
	unsigned p = b->peers;
	struct cell *ing, *tx;

	struct cell *nic, *sum;

	nic = cell_add(b, "rx nic_input+ingress", K_RX_NIC, 0, p);
	cell_add(b, "rx nic_input+ingress hwcsum", K_RX_NIC, 0, p)->l4_good = true;
	ing = cell_add(b, "rx ingress", K_RX_ING, 0, p);
	tx = cell_add(b, "tx egress", K_TX, 0, p);
	if (p > 1) {
		cell_add(b, "rx nic_input+ingress", K_RX_NIC, p, 1);
		cell_add(b, "rx ingress", K_RX_ING, p, 1);
		cell_add(b, "tx egress", K_TX, p, 1);
	}
	for (unsigned i = 0; i < b->n_cells; i++)
		if (b->cells[i].img == NULL)
			return -ENOMEM;
	crypto_pair(b, ing, K_DEC_IMB, K_DEC_SOD, "decrypt dpcrypto burst",
		    "decrypt sodium 1-by-1");
	crypto_pair(b, tx, K_ENC_IMB, K_ENC_SOD, "encrypt dpcrypto burst", "encrypt sodium 1-by-1");
	sum = cell_add(b, "udp checksum sw (outer)", K_CSUM, nic->first, nic->n_clients);
	sum->img = nic->img;
	sum->n_img = nic->n_img;
	/* The crypto-only cells stay: the pipeline cells' ratios are to them. */
	for (unsigned i = 0; b->only != NULL && i < b->n_cells; i++)
		b->cells[i].skip = b->cells[i].kind <= K_TX
					   ? strstr(b->cells[i].name, b->only) == NULL
					   : b->cells[i].kind == K_CSUM;
	return 0;
}

static int run_sizes(struct bench *b, const char *mem)
{
	int rc = 0;

	print_header(b, mem);
	for (size_t s = 0; s < SG_ARRAY_SIZE(sizes) && !stop; s++) {
		for (unsigned i = 0; i < b->n_cells; i++)
			if (b->cells[i].kind <= K_TX && !b->cells[i].shared)
				build_images(b, &b->cells[i], sizes[s]);
		if (check_pass(b, sizes[s]) != 0)
			return -EIO;
		measure(b, b->secs / (double)SG_ARRAY_SIZE(sizes));
		for (unsigned i = 0; i < b->n_cells; i++) {
			if (b->cells[i].skip)
				continue;
			print_row(b, &b->cells[i], sizes[s]);
			if (b->cells[i].drops != 0 || b->cells[i].bad != 0)
				rc = -EIO;
		}
		printf("\n");
		fflush(stdout);
	}
	print_footer();
	return rc;
}

/* --- EAL, arguments, main --- */

static char runtime_dir[PATH_MAX];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* /var/run/dpdk/PREFIX stays after a DPDK process exits: remove ours. */
static void remove_runtime_dir(const char *prefix)
{
	const char *base = strrchr(runtime_dir, '/');

	if (runtime_dir[0] == '\0' || base == NULL || strcmp(base + 1, prefix) != 0)
		return;
	nftw(runtime_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Where EAL puts its runtime files, should init fail before telling us. */
static void guess_runtime_dir(const char *prefix)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0 || xdg == NULL)
		snprintf(runtime_dir, sizeof(runtime_dir), "/var/run/dpdk/%s", prefix);
	else
		snprintf(runtime_dir, sizeof(runtime_dir), "%s/dpdk/%s", xdg, prefix);
}

/* EAL memory for n clients: the pool and the tables, and about 8 KB per peer. */
static unsigned mem_mb(unsigned n_clients)
{
	return 64 + n_clients / 128;
}

static bool hugepages_usable(unsigned need_mb)
{
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "r");
	char line[512];
	unsigned long n = 0;
	bool mounted = false;

	if (f == NULL)
		return false;
	if (fscanf(f, "%lu", &n) != 1)
		n = 0;
	fclose(f);
	f = fopen("/proc/mounts", "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		mounted |= strstr(line, " hugetlbfs ") != NULL;
	if (f != NULL)
		fclose(f);
	/* Leave the rest to others. */
	return mounted && n >= 32 && n * 2 >= need_mb;
}

static int eal_start(struct bench *b, char *prog, const char *prefix)
{
	char lcore[16], fp[64], mb[16];
	char *av[16];
	int ac = 0;

	snprintf(lcore, sizeof(lcore), "%d", b->cpu);
	snprintf(fp, sizeof(fp), "--file-prefix=%s", prefix);
	av[ac++] = prog;
	av[ac++] = "-l";
	av[ac++] = lcore;
	av[ac++] = "--no-pci";
	av[ac++] = "--no-telemetry";
	av[ac++] = fp;
	av[ac++] = "--log-level=lib.eal:warning";
	if (b->no_huge) {
		av[ac++] = "--no-huge";
		snprintf(mb, sizeof(mb), "%u", b->no_huge_mb);
		av[ac++] = "-m";
		av[ac++] = mb;
	} else {
		av[ac++] = "--huge-unlink";
	}
	av[ac] = NULL;
	guess_runtime_dir(prefix);
	if (rte_eal_init(ac, av) < 0) {
		fprintf(stderr, "bench_datapath: EAL init failed: %s\n", rte_strerror(rte_errno));
		return -1;
	}
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--seconds S] [--peers N] [--burst N] [--cpu N] [--no-huge] [--policy "
		"F]\n       [--only TEXT]\n"
		"  --seconds S  total measuring time, split over the sizes (default 12)\n"
		"  --peers N    peers a burst spreads over, 1..%d (default 32); a second mix\n"
		"               always has one peer only\n"
		"  --burst N    packets per burst, 1..%d (default 32)\n"
		"  --cpu N      core to run on (default: the one it starts on)\n"
		"  --no-huge    EAL memory without hugepages (default: hugepages when free)\n"
		"  --policy F   the gateway's policy file (e.g. bench_policy --write 1000 F)\n"
		"  --only TEXT  measure only the stage rows whose path has TEXT (\"tx egress\",\n"
		"               \"rx ingress\"; the crypto rows stay), e.g. under perf\n",
		prog, MAX_PEERS, BURST_MAX);
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "peers", required_argument, NULL, 'p' },
		{ "burst", required_argument, NULL, 'b' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "no-huge", no_argument, NULL, 'n' },
		{ "policy", required_argument, NULL, 'P' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned cpu;
	char *end;
	int o, rc = 0;

	while (rc == 0 && (o = getopt_long(argc, argv, "s:p:b:c:nP:o:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			b->secs = strtod(optarg, &end);
			if (*end != '\0' || !(b->secs > 0 && b->secs <= 600))
				rc = -EINVAL;
			break;
		case 'p':
			rc = parse_uint(optarg, 1, MAX_PEERS, &b->peers);
			break;
		case 'b':
			rc = parse_uint(optarg, 1, BURST_MAX, &b->burst);
			break;
		case 'c':
			rc = parse_uint(optarg, 0, CPU_SETSIZE - 1, &cpu);
			b->cpu = (int)cpu;
			break;
		case 'n':
			b->no_huge = true;
			break;
		case 'P':
			b->policy = optarg;
			break;
		case 'o':
			b->only = optarg;
			break;
		default:
			rc = -EINVAL;
		}
	}
	return rc == 0 && optind == argc ? 0 : -EINVAL;
}

static void teardown(struct bench *b)
{
	for (unsigned i = 0; i < b->n_cells; i++)
		if (b->cells[i].kind <= K_TX && !b->cells[i].shared)
			free(b->cells[i].img);
	free(b->kp);
	sg_fx_stop(&b->fx);
}

int main(int argc, char **argv)
{
	static struct bench b;
	char prefix[32], mem_buf[32];
	const char *mem;
	int rc;

	b.secs = 12;
	b.peers = 32;
	b.burst = 32;
	b.cpu = -1;
	if (parse_args(argc, argv, &b) != 0) {
		usage(argv[0]);
		return 2;
	}
	if (sg_crypto_init() != 0)
		return 1;
	if (b.cpu < 0)
		b.cpu = sched_getcpu();
	/* The mix's peers and the bulk flow's one (see setup_cells). */
	b.n_clients = b.peers + (b.peers > 1 ? 1 : 0);
	b.no_huge = b.no_huge || !hugepages_usable(mem_mb(b.n_clients));
	b.no_huge_mb = 512 + mem_mb(b.n_clients);
	snprintf(mem_buf, sizeof(mem_buf), "--no-huge -m %u", b.no_huge_mb);
	mem = b.no_huge ? mem_buf : "hugepages";
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	/* A closed pipe ("| head") ends the run early, but still through the cleanup. */
	signal(SIGPIPE, on_signal);
	snprintf(prefix, sizeof(prefix), "bench-dp-%d", (int)getpid());
	if (eal_start(&b, argv[0], prefix) != 0) {
		remove_runtime_dir(prefix);
		return 1;
	}
	b.tsc_hz = (double)rte_get_tsc_hz();
	rc = setup_gateway(&b);
	if (rc == 0)
		rc = setup_cells(&b);
	if (rc != 0)
		fprintf(stderr, "bench_datapath: setup failed: %s\n", strerror(-rc));
	else
		rc = run_sizes(&b, mem);
	teardown(&b);
	rte_eal_cleanup();
	remove_runtime_dir(prefix);
	return rc == 0 ? 0 : 1;
}
