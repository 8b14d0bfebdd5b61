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
 *
 * This is the public model and the stages' entry points; what only the stages
 * share is in pipelines/sg_stages.h, and the data plane is built and torn down
 * as a whole by pipelines/sg_gateway.h.
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
#include "lib/common/sg_limits.h"
#include "lib/peers/sg_peers.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The stages below take n <= SG_BURST_MAX packets (lib/common/sg_limits.h
 * holds the product's limits and defaults).
 */
#define SG_VM_TXRING_LEN 1024
#define SG_VM_PENDING	 256

struct sg_allowedips;
struct sg_allowedips_cache;
struct sg_policy_cache;
struct sg_dpcrypto;
struct sg_policy_acl;
struct sg_routing;

/*
 * The policy the workers apply (lib/policy compiled to rte_acl), published
 * in sg_dp.policy and replaced as a whole under RCU (pipelines/policy.c):
 * a worker loads the pointer once per burst and classifies the burst with
 * one rte_acl_classify.  Result r < n_rules is the rule that decided;
 * r == n_rules: no rule matched (default deny).  hits[w][r] counts the
 * packets of worker w per result, on lines of its own.
 */
struct sg_dp_policy {
	struct sg_policy_acl *acl;
	uint32_t n_rules;
	uint8_t *allow;			    /* per rule: 1 allow, 0 deny */
	uint32_t base_rule;		    /* index of the base rule (within the source's org) */
	uint64_t *hits[SG_MAX_WORKERS + 1]; /* the control lcore's context last */
	unsigned *lines;		    /* per rule: its line in the file (0: the base rule) */
	char *file;
	uint64_t compile_ns;
	uint64_t loaded_unix;
};

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
	SG_ATOMIC(uint64_t) vm_mac;
	bool vm_mac_fixed;
	struct rte_ether_addr gw_mac; /* source MAC of frames to the VM */
	struct rte_ring *txr;	      /* other workers -> owner */
	struct rte_mempool *pool;     /* what its port receives into: this VM's alone */
	/*
	 * Frames the vhost queue did not take yet (the VM is slower than us for
	 * a moment): the owner retries them first on its next round.
	 */
	struct rte_mbuf *pend[SG_VM_PENDING];
	unsigned n_pend;
	/*
	 * Removed at run time (sixgatectl vm rm): no route, no poll slot, no
	 * port; its pool and ring stay for the next VM attached into this slot.
	 */
	bool detached;
};

/*
 * Counters of one worker besides the drops; summed by telemetry.  Every frame
 * is accounted for: nic_rx + vm_rx + made = nic_tx + vm_tx + drops + consumed
 * + what is in flight (sg_gateway_in_flight), the balance sixgate prints when
 * it stops.
 */
struct sg_worker_stats {
	uint64_t nic_rx, nic_tx, vm_rx, vm_tx;
	uint64_t decrypted, encrypted, keepalive_rx, keepalive_tx;
	uint64_t handshake_rx, staged, local_replies, roams;
	/* Frames the gateway made itself: handshake messages, keepalives, ICMPv6 errors. */
	uint64_t made;
	/* Frames that ended here without a drop: keepalives, handshakes taken. */
	uint64_t consumed;
	uint64_t loops, busy_loops;
};

/*
 * Counters of one VM port kept by one worker (each worker has a row for
 * every VM, on its own cache lines); telemetry and /metrics add the rows up.
 */
struct sg_vm_stats {
	uint64_t rx;	     /* frames read from the VM's port (owner only) */
	uint64_t rx_refused; /* of those, dropped by egress's checks (spoof, route, org, size) */
	uint64_t tx;	     /* frames the VM's port took */
	uint64_t tx_full;    /* frames dropped as vm_tx_full: ring, queue and pending list full */
};

/*
 * Per-stage cycle counts (/sixgate/cycles), off by default.  While a
 * worker's cycles_on is set, each stage reads the TSC around every burst it
 * handles and adds the cycles and the packets of that burst to its own row;
 * off, a stage costs one predictable branch on the flag per burst and writes
 * nothing.  Stages do not overlap: nic_input stops counting before it hands
 * data to ingress, vm_rx stops before it hands a VM's frames to egress.
 *   nic_input  sg_nic_input: outer checks, local replies, handshakes out
 *   ingress    sg_ingress_data: decrypt, replay, inner checks, to the VMs
 *   egress     sg_egress_vm: VM frame checks, peer, encrypt, NIC TX
 *   vm_rx      the VM ports' poll (rte_eth_rx_burst on vhost-user) and the
 *              hand-off of other workers' frames to the VM (ring, pending);
 *              its packets are frames read plus frames handed to the VM
 * Only bursts that carried packets are counted (an empty poll is not).
 */
enum sg_stage {
	SG_STAGE_NIC_INPUT,
	SG_STAGE_INGRESS,
	SG_STAGE_EGRESS,
	SG_STAGE_VM_RX,
	SG_STAGE_MAX
};

struct sg_stage_cycles {
	uint64_t cycles, pkts;
};

/* The stage's name in telemetry ("nic_input", "ingress", "egress", "vm_rx"). */
const char *sg_stage_name(enum sg_stage s);

struct sg_dp;

/* One worker lcore (the control lcore has one too, for its own TX queue). */
struct sg_worker {
	alignas(64) struct sg_drop_counters drops;
	alignas(64) struct sg_worker_stats st;
	alignas(64) struct sg_vm_stats vm_st[SG_MAX_VMS];
	alignas(64) unsigned id;
	unsigned lcore;
	struct sg_dp *dp;
	uint16_t nic_rxq[SG_MAX_NIC_QUEUES];
	unsigned n_nic_rxq;
	uint16_t nic_txq;
	unsigned vms[SG_MAX_VMS]; /* indices into dp->vms that this worker owns */
	unsigned n_vms;
	struct sg_dpcrypto *crypto;
	/* This worker's own cache of dp->aips lookups (ingress source, egress peer). */
	struct sg_allowedips_cache *aips_cache;
	/* And of its policy verdicts (sg_policy_acl_classify_cached), both stages. */
	struct sg_policy_cache *pol_cache;
	uint64_t now_ns;
	struct sg_log_rl_state icmp_rl;	 /* the ICMPv6 errors it sends (sg_icmp_allowed) */
	struct sg_log_rl_state local_rl; /* its replies to ARP, ND and echo requests */
	uint64_t dropcap_lost;		 /* dropped frames the full drop ring did not take */
	/*
	 * Per-stage cycles: the flag is written only when an operator turns
	 * counting on or off (sg_gateway_cycles_set), the rows only by this lcore.
	 */
	alignas(64) SG_ATOMIC(bool) cycles_on;
	struct sg_stage_cycles cyc[SG_STAGE_MAX];
};

/* The whole data plane; built by sg_gateway_create, read by every stage. */
struct sg_dp {
	struct sg_gw gw;
	uint16_t nic_port;
	unsigned n_nic_rxq; /* RX queues the workers poll (every queue the port has) */
	struct sg_vm vms[SG_MAX_VMS];
	unsigned n_vms;
	struct sg_peers *peers;
	struct sg_allowedips *aips;
	struct sg_routing *routes;		 /* 6PN /112 -> VM index */
	SG_ATOMIC(struct sg_dp_policy *) policy; /* never NULL while workers run */
	struct rte_rcu_qsbr *qsbr;
	struct rte_ring *hs_ring; /* workers -> control: handshake frames */
	struct rte_ring *ev_ring; /* workers -> control: peers needing attention */
	/*
	 * Peers whose flags were raised but that the ring refused (it has room
	 * for every peer twice, so never yet): the control lcore then sweeps
	 * every peer's flags once.
	 */
	SG_ATOMIC(uint64_t) ev_lost;
	struct rte_mempool *pool;
	unsigned n_workers;
	struct sg_worker *workers[SG_MAX_WORKERS];
	struct sg_worker *ctl;	/* the control lcore's context (its own NIC TX queue) */
	unsigned burst;		/* packets per RX burst, 1..SG_BURST_MAX */
	unsigned idle_sleep_us; /* 0: pure polling */
	/*
	 * Drop capture (pipelines/dropcap.c): while set, sg_drop puts refused
	 * frames on drop_ring for the control lcore to write, instead of freeing them.
	 */
	SG_ATOMIC(bool) drop_capture;
	struct rte_ring *drop_ring;
	/* Stopping: handshakes are refused (SG_DROP_STOPPING) while the rest drains. */
	SG_ATOMIC(bool) stopping;
	/*
	 * A failover pair's member that is not active (pipelines/fleet.c): it
	 * takes nothing from its ports and sends nothing (SG_DROP_FLEET_STANDBY).
	 */
	SG_ATOMIC(bool) standby;
	/*
	 * An anycast member: data under an index no keypair of ours has goes to
	 * the control lcore, which takes the session over when the partner
	 * synced it (a hash change moved the client here).
	 */
	bool fleet_claim;
	/*
	 * Inner packets for a VM of the partner's (a route of nh SG_FLEET_ROUTE_NH,
	 * learned over the state channel): workers -> control lcore, which
	 * forwards them.  NULL without a fleet.
	 */
	struct rte_ring *fwd_ring;
	SG_ATOMIC(bool) quit;
};

/* The next hop of a route to a VM the fleet partner serves. */
#define SG_FLEET_ROUTE_NH SG_MAX_VMS

/* Per-mbuf metadata the NIC stage leaves for later ones, in the mbuf's private area. */
struct sg_pkt_meta {
	struct sg_endpoint src; /* outer source, for roaming and replies */
	uint16_t wg_off;	/* offset of the WireGuard message in the frame */
	uint16_t wg_len;
	uint8_t drop_reason; /* set when a dropped frame goes to the drop capture */
	uint8_t drop_worker;
};

static inline struct sg_pkt_meta *sg_meta(struct rte_mbuf *m)
{
	return (struct sg_pkt_meta *)rte_mbuf_to_priv(m);
}

#define SG_MBUF_PRIV_SIZE RTE_ALIGN_CEIL(sizeof(struct sg_pkt_meta), RTE_MBUF_PRIV_ALIGN)

/* --- the stages, one file each in pipelines/ --- */

/* Classifies a burst from the NIC: local replies, handshakes out, data on. */
void sg_nic_input(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/* Ingress for transport data messages already checked by sg_nic_input. */
void sg_ingress_data(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/* Egress for a burst read from VM port vm. */
void sg_egress_vm(struct sg_worker *w, unsigned vm, struct rte_mbuf **pkts, unsigned n);

/*
 * One round of the worker's loop at w->now_ns: its NIC RX queues, then its
 * VM ports and their hand-off rings.  Returns the frames it handled.
 */
unsigned sg_worker_poll(struct sg_worker *w);

/* The worker lcore's loop; returns when dp->quit is set. */
int sg_worker_main(void *arg);

#ifdef __cplusplus
}
#endif
#endif
