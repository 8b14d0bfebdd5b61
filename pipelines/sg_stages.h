/* SPDX-License-Identifier: MIT */
/*
 * What only the stages of pipelines/ share: the output functions (tx.c), the
 * egress calls the control lcore makes, and small inline helpers.  Nothing
 * outside pipelines/ includes this header.
 */
#ifndef SG_STAGES_H
#define SG_STAGES_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "pipelines/sg_net.h"
#include "pipelines/sg_pipeline.h"

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

/*
 * Per-stage cycles (struct sg_stage_cycles): sg_cycles_start gives the TSC
 * while this worker counts, else 0; sg_cycles_add adds the cycles since t0
 * and n packets to stage s when t0 is not 0.
 */
static inline uint64_t sg_cycles_start(const struct sg_worker *w)
{
	if (likely(!atomic_load_explicit(&w->cycles_on, memory_order_relaxed)))
		return 0;
	return rte_rdtsc();
}

static inline void sg_cycles_add(struct sg_worker *w, enum sg_stage s, uint64_t t0, unsigned n)
{
	if (t0 != 0) {
		w->cyc[s].cycles += rte_rdtsc() - t0;
		w->cyc[s].pkts += n;
	}
}

/* Hands a dropped frame to the drop capture; false when its ring is full. */
bool sg_drop_keep(struct sg_worker *w, struct rte_mbuf *m, enum sg_drop_reason r);

/*
 * The one place a stage frees a packet it refuses: counted under r, and
 * captured with its reason while someone captures drops.
 */
static inline void sg_drop(struct sg_worker *w, struct rte_mbuf *m, enum sg_drop_reason r)
{
	sg_drop_count(&w->drops, r, 1);
	if (unlikely(atomic_load_explicit(&w->dp->drop_capture, memory_order_relaxed)) &&
	    sg_drop_keep(w, m, r))
		return;
	rte_pktmbuf_free(m);
}

/* Whether data under an unknown index goes to the control lcore (an anycast member). */
static inline bool sg_fleet_claimable(const struct sg_worker *w)
{
	return w->dp->fleet_claim && w != w->dp->ctl;
}

/* Hands m (data under an unknown index) to the control lcore on the handshake ring. */
static inline void sg_fleet_claim_hand(struct sg_worker *w, struct rte_mbuf *m)
{
	if (rte_ring_enqueue(w->dp->hs_ring, m) != 0)
		sg_drop(w, m, SG_DROP_WG_HS_RING_FULL);
}

/* sg_drop of n frames for one reason. */
static inline void sg_drop_burst(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n,
				 enum sg_drop_reason r)
{
	for (unsigned i = 0; i < n; i++)
		sg_drop(w, pkts[i], r);
}

/*
 * Raises ev on peer and puts it on the event ring if it was not there yet.
 * Never blocks: when the ring is full the flags stay raised and the control
 * lcore sweeps flagged peers on its timer tick.
 */
/* The policy for this burst: loaded once, valid until the worker's next quiescent state. */
static inline const struct sg_dp_policy *sg_policy_get(const struct sg_worker *w)
{
	return atomic_load_explicit(&w->dp->policy, memory_order_acquire);
}

/*
 * The verdict of classify result r, counted in the worker's own hit
 * counters: SG_DROP_NONE, SG_DROP_POLICY_DENY (a deny rule decided) or
 * SG_DROP_ORG_ISOLATION (no rule matched: the packet crosses orgs).
 */
static inline enum sg_drop_reason sg_policy_verdict(const struct sg_worker *w,
						    const struct sg_dp_policy *p, uint32_t r)
{
	p->hits[w->id][r]++;
	if (sg_unlikely(r >= p->n_rules))
		return SG_DROP_ORG_ISOLATION;
	return p->allow[r] ? SG_DROP_NONE : SG_DROP_POLICY_DENY;
}

static inline void sg_peer_notify(struct sg_worker *w, struct sg_peer *peer, unsigned ev)
{
	if (sg_peer_flag(peer, ev) && rte_ring_enqueue(w->dp->ev_ring, peer) != 0)
		atomic_fetch_add_explicit(&w->dp->ev_lost, 1, memory_order_relaxed);
}

/*
 * After writing a peer's time stamps: brings it to the control lcore's next
 * tick, whose timers read them.  The peer is queued at most once per visit
 * of the control lcore (SG_PEER_EV_ACTIVE stays raised until then), so the
 * cost for a busy peer is one relaxed load per run, and idle peers cost the
 * control lcore nothing.
 */
static inline void sg_peer_touch(struct sg_worker *w, struct sg_peer *peer)
{
	if (!(atomic_load_explicit(&peer->events, memory_order_relaxed) & SG_PEER_EV_ACTIVE))
		sg_peer_notify(w, peer, SG_PEER_EV_ACTIVE);
}

/*
 * Whether the worker may send one more ICMPv6 error now: a token bucket per
 * worker (burst 10, then 100 a second), as routers limit theirs.
 */
static inline bool sg_icmp_allowed(struct sg_worker *w)
{
	return sg_log_rl_allow(&w->icmp_rl, w->now_ns) != 0;
}

/* --- output (tx.c) --- */

/* Sends frames on w's NIC TX queue; what does not fit is dropped as NIC_TX_FULL. */
void sg_nic_send(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n);

/*
 * Hands frames to VM vm: direct TX when w owns it, else the port's ring;
 * what does not fit is dropped as VM_TX_FULL and counted in w->vm_st[vm].
 */
void sg_vm_deliver(struct sg_worker *w, unsigned vm, struct rte_mbuf **pkts, unsigned n);

/* The owner's retry of frames its VM port did not take yet. */
unsigned sg_vm_flush_pending(struct sg_worker *w, struct sg_vm *vm);

/* --- egress calls of the control lcore and of ingress (egress.c) --- */

/*
 * Sends inner IPv6 packets to peer as egress does (its session, or staged
 * while there is none): for packets the gateway makes itself.
 */
void sg_egress_peer(struct sg_worker *w, struct sg_peer *peer, struct rte_mbuf **pkts, unsigned n);

/* Sends a keepalive (empty data message) to peer if it has a usable session. */
bool sg_egress_keepalive(struct sg_worker *w, struct sg_peer *peer);

/* Sends what waits in peer's staged queue, if the peer has a usable session now. */
void sg_egress_flush_staged(struct sg_worker *w, struct sg_peer *peer);

/* --- the control lcore's setup (control.c), for gateway.c --- */

struct sg_config;
struct sg_ctl;
struct sg_gateway_opts;

/* The control state for a table of up to max_peers peers. */
int sg_ctl_init(struct sg_ctl *c, struct sg_dp *dp, const struct sg_config *cfg,
		const struct sg_gateway_opts *o, unsigned max_peers);

/* The control state of p, the peer just added to dp->peers. */
int sg_ctl_peer_init(struct sg_ctl *c, struct sg_peer *p);

/* Ends p's handshake, wipes its control state and drops its staged packets (removal). */
void sg_ctl_peer_fini(struct sg_ctl *c, struct sg_peer *p);

/* Handles initiation m again, now that the loader installed its peer; frees m. */
void sg_ctl_handshake_again(struct sg_ctl *c, struct rte_mbuf *m);

/* Wipes and frees the control state. */
void sg_ctl_fini(struct sg_ctl *c);

#endif
