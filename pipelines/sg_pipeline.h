/* SPDX-License-Identifier: MIT */
/*
 * sixgate's packet pipelines: the state they share and the stages a worker
 * lcore runs.
 *
 *   NIC RX -> nic_input (eth/ARP/ND/ICMP/IP/UDP checks, local replies)
 *          -> handshakes to the control ring | data to ingress
 *   ingress: index -> keypair, replay pre-check, batch decrypt, commit,
 *            keepalive, inner IPv6, allowed IPs, org isolation, 6PN route
 *          -> the VM's vhost-user port (direct or through its TX ring)
 *   VM RX  -> egress: ND proxy, anti-spoofing, allowed IPs -> peer, org
 *            isolation, MTU (ICMPv6 Packet Too Big), session or staging,
 *            batch encrypt, outer headers to the endpoint -> NIC TX
 *
 * Every worker owns one TX queue on the NIC.  A VM port is polled and sent on
 * by one worker only (its owner); other workers hand it packets through the
 * port's multi-producer ring, so no TX queue is ever shared.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "lib/common/sg_common.h"
#include "lib/peers/sg_peers.h"
#include "pipelines/sg_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Packets per RX burst ([workers] burst): SG_BURST_DEFAULT unless configured,
 * at most SG_BURST_MAX, the size of every stage's per-burst arrays.  The
 * stages below take n <= SG_BURST_MAX.
 */
#define SG_BURST_DEFAULT 32
#define SG_BURST_MAX	 256
#define SG_MAX_WORKERS	 16
#define SG_MAX_VMS	 64
#define SG_MAX_NIC_RXQ	 8
#define SG_DEFAULT_MTU	 1420
#define SG_VM_TXRING_LEN 1024
#define SG_VM_PENDING	 256

struct sg_allowedips;
struct sg_dpcrypto;
struct sg_routing;

/* The gateway's own addresses on the NIC. */
struct sg_gw {
	struct rte_ether_addr mac;
	bool has_v4, has_v6;
	uint8_t v4[4];	   /* network order */
	uint8_t v6[16];	   /* global (ULA in the lab) address */
	uint8_t v6_ll[16]; /* link-local, derived from the MAC */
	uint16_t port_be;  /* listen port, network order */
	uint16_t mtu;	   /* inner MTU (1420) */
	uint8_t v4_ttl;
	/*
	 * The NIC computes outer IPv4 header and UDP checksums on TX (set by the
	 * app only when the port has RTE_ETH_TX_OFFLOAD_IPV4_CKSUM and _UDP_CKSUM
	 * enabled); otherwise sg_outer_push computes them in software.
	 */
	bool tx_csum_offload;
};

/* One VM: a vhost-user port, its /112 and its org network. */
struct sg_vm {
	char name[32];
	uint16_t port_id;
	unsigned owner; /* index of the worker that polls and sends on it */
	uint8_t prefix[16];
	uint8_t prefix_len; /* 112 */
	uint8_t org[16];
	uint8_t org_len; /* 48 */
	/*
	 * Destination MAC of frames to the VM: configured, or learned from the
	 * VM's own frames (0 until then: broadcast).  Six bytes in a uint64.
	 */
	atomic_uint_fast64_t vm_mac;
	bool vm_mac_fixed;
	struct rte_ether_addr gw_mac; /* source MAC of frames to the VM */
	struct rte_ring *txr;	      /* other workers -> owner */
	/*
	 * Frames the vhost queue did not take yet (the VM is slower than us for
	 * a moment): the owner retries them first on its next round.
	 */
	struct rte_mbuf *pend[SG_VM_PENDING];
	unsigned n_pend;
};

/* Counters of one worker besides the drops; summed by telemetry. */
struct sg_worker_stats {
	uint64_t nic_rx, nic_tx, vm_rx, vm_tx;
	uint64_t decrypted, encrypted, keepalive_rx, keepalive_tx;
	uint64_t handshake_rx, staged, local_replies, roams;
	uint64_t loops, busy_loops;
};

struct sg_dp;

/* One worker lcore (the control lcore has one too, for its own TX queue). */
struct sg_worker {
	alignas(64) struct sg_drop_counters drops;
	alignas(64) struct sg_worker_stats st;
	alignas(64) unsigned id;
	unsigned lcore;
	struct sg_dp *dp;
	uint16_t nic_rxq[SG_MAX_NIC_RXQ];
	unsigned n_nic_rxq;
	uint16_t nic_txq;
	unsigned vms[SG_MAX_VMS]; /* indices into dp->vms that this worker owns */
	unsigned n_vms;
	struct sg_dpcrypto *crypto;
	/* Frames redirected to this worker (an RX queue only the control lcore sees). */
	struct rte_ring *redirect;
	uint64_t now_ns;
};

/* The whole data plane; built by the app, read by every stage. */
struct sg_dp {
	struct sg_gw gw;
	uint16_t nic_port;
	unsigned n_nic_rxq; /* RX queues the workers poll */
	struct sg_vm vms[SG_MAX_VMS];
	unsigned n_vms;
	struct sg_peers *peers;
	struct sg_allowedips *aips;
	struct sg_routing *routes; /* 6PN /112 -> VM index */
	struct rte_rcu_qsbr *qsbr;
	struct rte_ring *hs_ring; /* workers -> control: handshake frames */
	struct rte_ring *ev_ring; /* workers -> control: peers needing attention */
	struct rte_mempool *pool;
	unsigned n_workers;
	struct sg_worker *workers[SG_MAX_WORKERS];
	struct sg_worker *ctl;	/* the control lcore's context (its own NIC TX queue) */
	unsigned burst;		/* packets per RX burst, 1..SG_BURST_MAX */
	unsigned idle_sleep_us; /* 0: pure polling */
	atomic_bool quit;
};

/* Per-mbuf metadata the NIC stage leaves for later ones, in the mbuf's private area. */
struct sg_pkt_meta {
	struct sg_endpoint src; /* outer source, for roaming and replies */
	uint16_t wg_off;	/* offset of the WireGuard message in the frame */
	uint16_t wg_len;
};

static inline struct sg_pkt_meta *sg_meta(struct rte_mbuf *m)
{
	return (struct sg_pkt_meta *)rte_mbuf_to_priv(m);
}

#define SG_MBUF_PRIV_SIZE RTE_ALIGN_CEIL(sizeof(struct sg_pkt_meta), RTE_MBUF_PRIV_ALIGN)

static inline uint64_t sg_mac_to_u64(const struct rte_ether_addr *a)
{
	uint64_t v = 0;

	memcpy(&v, a->addr_bytes, 6);
	return v;
}

static inline void sg_u64_to_mac(uint64_t v, struct rte_ether_addr *a)
{
	if (v == 0)
		memset(a->addr_bytes, 0xff, 6);
	else
		memcpy(a->addr_bytes, &v, 6);
}

static inline void sg_drop(struct sg_worker *w, struct rte_mbuf *m, enum sg_drop_reason r)
{
	sg_drop_count(&w->drops, r, 1);
	rte_pktmbuf_free(m);
}

/* --- stages, one file each in pipelines/ --- */

/* Classifies a burst from the NIC: local replies, handshakes out, data on. */
void sg_nic_input(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/* Ingress for transport data messages already checked by sg_nic_input. */
void sg_ingress_data(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/* Egress for a burst read from VM port vm. */
void sg_egress_vm(struct sg_worker *w, unsigned vm, struct rte_mbuf **pkts, unsigned n);

/*
 * Encrypts and sends packets (inner IPv6, no Ethernet header) to peer with
 * kp on w's NIC TX queue.  Used by egress, by the staged-queue flush and, with
 * n = 0 and keepalive set, to send a keepalive.
 */
void sg_egress_send(struct sg_worker *w, struct sg_peer *peer, struct sg_keypair *kp,
		    struct rte_mbuf **pkts, unsigned n);

/* Sends a keepalive (empty data message) to peer if it has a usable session. */
bool sg_egress_keepalive(struct sg_worker *w, struct sg_peer *peer);

/* Sends what waits in peer's staged queue, if the peer has a usable session now. */
void sg_egress_flush_staged(struct sg_worker *w, struct sg_peer *peer);

/* Hands a frame to VM vm: direct TX when w owns it, else the port's ring. */
void sg_vm_deliver(struct sg_worker *w, unsigned vm, struct rte_mbuf **pkts, unsigned n);

/* The owner's retry of frames its VM port did not take yet. */
unsigned sg_vm_flush_pending(struct sg_worker *w, struct sg_vm *vm);

/* Sends frames on w's NIC TX queue; what does not fit is dropped as TX_FULL. */
void sg_nic_send(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/* The worker lcore's loop; returns when dp->quit is set. */
int sg_worker_main(void *arg);

/* Puts peer on the event ring with flags ev (never blocks). */
void sg_peer_notify(struct sg_worker *w, struct sg_peer *peer, unsigned ev);

/* --- helpers shared by stages (pipelines/net.c) --- */

/* Whether addr lies inside prefix/len. */
bool sg_in_prefix(const uint8_t addr[16], const uint8_t prefix[16], unsigned len);

/*
 * Writes Ethernet + outer IPv4/IPv6 + UDP headers in front of a WireGuard
 * message of wg_len bytes that starts at the mbuf's data offset.  The
 * checksums are computed in software, or left to the NIC (mbuf TX offload
 * flags and the pseudo-header sum) when gw->tx_csum_offload is set.  Returns
 * 0, or -1 without headroom.
 */
int sg_outer_push(const struct sg_gw *gw, const struct sg_endpoint *ep, struct rte_mbuf *m);

/*
 * Turns m (an inner IPv6 packet with Ethernet header, from VM vm) into an
 * ICMPv6 Packet Too Big for its source, in place.  Returns 0, or -1 when the
 * packet should just be dropped (the source is not unicast, or no room).
 */
int sg_icmp6_too_big(struct rte_mbuf *m, const uint8_t from[16], uint32_t mtu);

#define SG_ND_NEIGHBOR_SOLICIT 135
#define SG_ND_NEIGHBOR_ADVERT  136
#define SG_ND_OPT_TARGET_LL    2
#define SG_ND_NA_ROUTER	       0x80
#define SG_ND_NA_SOLICITED     0x40
#define SG_ND_NA_OVERRIDE      0x20

/*
 * Rewrites m, a neighbor solicitation (Ethernet + IPv6 + ICMPv6), into the
 * advertisement of target at mac with flags, addressed back to the sender.
 * Returns 0, or -1 when the mbuf has no room.
 */
int sg_nd_make_advert(struct rte_mbuf *m, const uint8_t target[16],
		      const struct rte_ether_addr *mac, uint8_t flags);

#ifdef __cplusplus
}
#endif
#endif
