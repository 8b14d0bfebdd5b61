/* SPDX-License-Identifier: MIT */
/*
 * Ingress of transport data, NIC to VM: receiver index -> keypair (O(1), no
 * lock), replay pre-check before any crypto, one batch decrypt, replay commit,
 * key confirmation, roaming, keepalives, then the inner packet: IPv6 header
 * and length, source against the peer's allowed IPs, then for the whole burst
 * one policy classify (rte_acl: the org rule and the policy file's rules),
 * and the 6PN route to the VM that owns the destination's /112.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

#include "lib/allowedips/sg_allowedips.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/policy/sg_policy.h"
#include "lib/replay/sg_replay.h"
#include "lib/routing/sg_routing.h"
#include "lib/wire/sg_wire.h"
#include "lib/common/sg_prefix.h"
#include "pipelines/sg_stages.h"

/*
 * Finds each packet's keypair, with the loads of the whole burst in flight
 * at once: first every index slot, then every keypair, then what the
 * pre-check and the rest of the stage read of it (its replay window word,
 * its peer's stamps, endpoint and org).  kp[i] is NULL for an unknown index.
 */
static void find_keypairs(const struct sg_peers_index *ix, struct rte_mbuf **pkts, unsigned n,
			  struct sg_keypair **kp)
{
	uint32_t idx[SG_BURST_MAX];
	uint64_t ctr[SG_BURST_MAX];
	unsigned i;

	for (i = 0; i < n; i++) {
		const uint8_t *msg =
			rte_pktmbuf_mtod_offset(pkts[i], uint8_t *, sg_meta(pkts[i])->wg_off);

		idx[i] = sg_get_le32(msg + 4);
		ctr[i] = sg_get_le64(msg + 8);
		rte_prefetch0(&ix->slot[idx[i] & ix->mask]);
	}
	for (i = 0; i < n; i++) {
		kp[i] = atomic_load_explicit(&ix->slot[idx[i] & ix->mask], memory_order_acquire);
		if (kp[i] != NULL) {
			rte_prefetch0(kp[i]); /* its key, index, expiry and peer */
			rte_prefetch0(&kp[i]->replay_lock);
		}
	}
	for (i = 0; i < n; i++) {
		const struct sg_peer *p;

		if (kp[i] == NULL || kp[i]->local_index != idx[i]) {
			kp[i] = NULL;
			continue;
		}
		p = kp[i]->peer;
		rte_prefetch0(&kp[i]->replay.bitmap[(ctr[i] / SG_REPLAY_BITS_PER_WORD) %
						    SG_REPLAY_WORDS]);
		rte_prefetch0(&p->org);
		rte_prefetch0(&p->ep_lock);
		rte_prefetch0(&p->st);
	}
}

/* Pre-checks the counter on keypair kp (or NULL); fills op.  Returns a drop reason. */
static enum sg_drop_reason prepare(struct sg_worker *w, struct sg_keypair *kp, struct rte_mbuf *m,
				   struct sg_dpcrypto_op *op)
{
	struct sg_pkt_meta *meta = sg_meta(m);
	uint8_t *msg = rte_pktmbuf_mtod_offset(m, uint8_t *, meta->wg_off);
	uint64_t counter = sg_get_le64(msg + 8);

	if (kp == NULL)
		return SG_DROP_WG_UNKNOWN_INDEX;
	if (!sg_keypair_rx_valid(kp, w->now_ns))
		return SG_DROP_WG_KEYPAIR_EXPIRED;
	/* A hint only (another worker may commit meanwhile): commit decides. */
	if (!sg_replay_check(&kp->replay, counter))
		return SG_DROP_WG_REPLAY;
	op->key = kp->recv_key;
	op->nonce = counter;
	op->src = msg + SG_MSG_DATA_HEADER_LEN;
	op->dst = op->src;
	op->len = (uint32_t)(meta->wg_len - SG_MSG_DATA_MIN_LEN);
	op->tag = op->src + op->len;
	op->aad = NULL;
	op->aad_len = 0;
	op->iv = NULL;
	return SG_DROP_NONE;
}

/*
 * Commits the counters of the packets that authenticated (ok[i] true on
 * entry), each keypair's lock taken once for a run of its packets; ok[i]
 * becomes false for a counter committed meanwhile (a replay).
 */
static void commit_all(struct sg_keypair **kps, const struct sg_dpcrypto_op *ops, bool *ok,
		       unsigned n)
{
	struct sg_keypair *held = NULL;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (!ok[i])
			continue;
		if (kps[i] != held) {
			if (held != NULL)
				rte_spinlock_unlock(&held->replay_lock);
			held = kps[i];
			rte_spinlock_lock(&held->replay_lock);
		}
		ok[i] = sg_replay_commit(&held->replay, ops[i].nonce);
	}
	if (held != NULL)
		rte_spinlock_unlock(&held->replay_lock);
}

/*
 * A run of authenticated packets of one peer in a burst: its stamps and
 * counters are written once for the run, not once per packet.
 */
struct peer_run {
	struct sg_peer *peer;
	struct sg_endpoint ep; /* the peer's endpoint as this run last saw or set it */
	uint64_t bytes, packets;
};

static void run_end(struct sg_worker *w, struct peer_run *r)
{
	struct sg_peer *p = r->peer;

	if (p == NULL)
		return;
	atomic_store_explicit(&p->st.last_rx_ns, w->now_ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.rx_bytes, r->bytes, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.rx_packets, r->packets, memory_order_relaxed);
	sg_peer_touch(w, p);
	r->peer = NULL;
}

/* What every authenticated packet does to its peer: stamps, roaming, confirmation. */
static void authenticated(struct sg_worker *w, struct peer_run *r, struct sg_keypair *kp,
			  struct rte_mbuf *m, uint32_t len)
{
	struct sg_peer *p = kp->peer;

	if (p != r->peer) {
		run_end(w, r);
		r->peer = p;
		r->bytes = r->packets = 0;
		sg_peer_endpoint_get(p, &r->ep);
	}
	r->bytes += len;
	r->packets++;
	/* Roaming: replies follow the outer source of the latest authentic packet. */
	if (memcmp(&r->ep, &sg_meta(m)->src, sizeof(r->ep)) != 0) {
		r->ep = sg_meta(m)->src;
		sg_peer_endpoint_set(p, &r->ep);
		w->st.roams++;
	}
	if (!atomic_load_explicit(&kp->confirmed, memory_order_relaxed) &&
	    !atomic_exchange(&kp->confirmed, true)) {
		/* Key confirmation: the session can send now; staged packets go first. */
		run_end(w, r);
		sg_peer_notify(w, p, SG_PEER_EV_CONFIRMED);
		sg_egress_flush_staged(w, p);
	}
}

/*
 * Checks the decrypted inner packet (IPv6, its length, its source among the
 * peer's allowed IPs) and fills its policy key.  Returns a drop reason.
 */
static enum sg_drop_reason inner(struct sg_worker *w, struct sg_keypair *kp, const uint8_t *pkt,
				 uint32_t len, uint32_t *ip_len, struct sg_policy_key *key)
{
	const struct rte_ipv6_hdr *ip = (const struct rte_ipv6_hdr *)pkt;
	const struct sg_peer *peer = kp->peer;
	uint32_t plen;

	if (len < sizeof(*ip))
		return len >= 1 && (pkt[0] >> 4) == 4 ? SG_DROP_INNER_NOT_IPV6
						      : SG_DROP_INNER_TRUNCATED;
	if ((pkt[0] >> 4) != 6)
		return SG_DROP_INNER_NOT_IPV6;
	plen = rte_be_to_cpu_16(ip->payload_len);
	if (plen + sizeof(*ip) > len)
		return SG_DROP_INNER_TRUNCATED;
	*ip_len = plen + (uint32_t)sizeof(*ip);
	if (sg_allowedips_lookup_cached(w->dp->aips, w->aips_cache, ip->src_addr) != peer)
		return SG_DROP_INNER_SRC;
	sg_policy_key_set(key, pkt, *ip_len, SG_POLICY_DIR_IN,
			  sg_prefix_contains(peer->org, peer->org_len, ip->dst_addr));
	return SG_DROP_NONE;
}

/* The VM nh that owns the destination, or -1 with *why; the hop limit spent. */
static int route(struct sg_dp *dp, uint8_t *pkt, uint64_t nh, enum sg_drop_reason *why)
{
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)pkt;

	if (nh == SG_FLEET_ROUTE_NH && dp->fwd_ring != NULL) {
		/* A VM of the fleet partner's: the control lcore forwards it. */
		if (ip->hop_limits <= 1) {
			*why = SG_DROP_HOP_LIMIT;
			return -1;
		}
		ip->hop_limits--;
		return -2;
	}
	if (nh == SG_ROUTING_NO_ROUTE || nh >= dp->n_vms) {
		*why = SG_DROP_NO_ROUTE;
		return -1;
	}
	/* Forwarded as a router does; at the last hop a Time Exceeded goes back. */
	if (ip->hop_limits <= 1) {
		*why = SG_DROP_HOP_LIMIT;
		return -1;
	}
	ip->hop_limits--;
	return (int)nh;
}

/* Leaves the inner packet (ip_len bytes) with room for an Ethernet header in front. */
static void strip_outer(struct rte_mbuf *m, uint32_t ip_len)
{
	struct sg_pkt_meta *meta = sg_meta(m);

	rte_pktmbuf_adj(m, (uint16_t)(meta->wg_off + SG_MSG_DATA_HEADER_LEN -
				      sizeof(struct rte_ether_hdr)));
	rte_pktmbuf_trim(
		m, (uint16_t)(rte_pktmbuf_pkt_len(m) - sizeof(struct rte_ether_hdr) - ip_len));
	m->ol_flags = 0;
}

/*
 * The peer's packet ran out of hops here: a Time Exceeded goes back to it
 * through the tunnel (rate limited), from the destination it was for.
 */
static void time_exceeded(struct sg_worker *w, struct sg_peer *peer, struct rte_mbuf *m,
			  uint32_t ip_len)
{
	struct rte_ipv6_hdr *ip;
	uint8_t from[16];

	sg_drop_count(&w->drops, SG_DROP_HOP_LIMIT, 1);
	strip_outer(m, ip_len);
	ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, sizeof(struct rte_ether_hdr));
	memcpy(from, ip->dst_addr, 16);
	if (!sg_icmp_allowed(w) || sg_icmp6_error(m, from, SG_ICMP6_TIME_EXCEEDED, 0) != 0) {
		rte_pktmbuf_free(m);
		return;
	}
	rte_pktmbuf_adj(m, sizeof(struct rte_ether_hdr));
	w->st.made++;
	sg_egress_peer(w, peer, &m, 1);
}

/* Strips the outer headers and puts an Ethernet header for the VM in front. */
static void to_vm_frame(struct sg_dp *dp, struct rte_mbuf *m, unsigned vm, uint32_t ip_len)
{
	struct rte_ether_hdr *eth;

	strip_outer(m, ip_len);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	sg_u64_to_mac(atomic_load_explicit(&dp->vms[vm].vm_mac, memory_order_relaxed),
		      &eth->dst_addr);
	rte_ether_addr_copy(&dp->vms[vm].gw_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
}

/* Hands runs of packets for the same VM over in one call. */
static void deliver_runs(struct sg_worker *w, struct rte_mbuf **out, const int *vm, unsigned n)
{
	unsigned i = 0;

	while (i < n) {
		unsigned j = i + 1;

		while (j < n && vm[j] == vm[i])
			j++;
		sg_vm_deliver(w, (unsigned)vm[i], out + i, j - i);
		i = j;
	}
}

/* The packets of a burst that passed decryption and the inner checks. */
struct inner_batch {
	struct sg_policy_key keys[SG_BURST_MAX];
	const uint8_t *kptr[SG_BURST_MAX];
	uint32_t res[SG_BURST_MAX];
	struct rte_mbuf *ms[SG_BURST_MAX];
	struct sg_keypair *kps[SG_BURST_MAX];
	uint8_t *pkt[SG_BURST_MAX];
	uint32_t ip_len[SG_BURST_MAX];
	unsigned n;
};

/* Decides the batch with one classify, then routes and delivers what passed. */
static void to_vms(struct sg_worker *w, struct inner_batch *b)
{
	const struct sg_dp_policy *pol = sg_policy_get(w);
	struct rte_mbuf *out[SG_BURST_MAX];
	uint8_t dst[SG_BURST_MAX][16];
	uint64_t nh[SG_BURST_MAX];
	struct sg_peer *stamped = NULL;
	int vms[SG_BURST_MAX];
	unsigned no = 0, i;

	if (b->n == 0)
		return;
	sg_policy_acl_classify_cached(w->pol_cache, pol->acl, b->kptr, b->res, b->n);
	for (i = 0; i < b->n; i++)
		memcpy(dst[i], ((const struct rte_ipv6_hdr *)b->pkt[i])->dst_addr, 16);
	sg_routing_lookup_bulk(w->dp->routes, dst, nh, b->n);
	for (i = 0; i < b->n; i++) {
		struct rte_mbuf *m = b->ms[i];
		enum sg_drop_reason why = sg_policy_verdict(w, pol, b->res[i]);
		struct sg_peer *peer = b->kps[i]->peer;
		int vm = -1;

		if (why == SG_DROP_NONE)
			vm = route(w->dp, b->pkt[i], nh[i], &why);
		if (vm < 0 && why == SG_DROP_HOP_LIMIT) {
			time_exceeded(w, peer, m, b->ip_len[i]);
			continue;
		}
		if (vm == -2) {
			/* The inner packet alone, to the fleet partner. */
			strip_outer(m, b->ip_len[i]);
			rte_pktmbuf_adj(m, sizeof(struct rte_ether_hdr));
			if (rte_ring_enqueue(w->dp->fwd_ring, m) != 0)
				sg_drop(w, m, SG_DROP_FLEET_FORWARD);
			continue;
		}
		if (vm < 0) {
			sg_drop(w, m, why);
			continue;
		}
		/* The same stamp for the whole burst: once per run of a peer. */
		if (peer != stamped) {
			atomic_store_explicit(&peer->st.last_data_rx_ns, w->now_ns,
					      memory_order_relaxed);
			sg_peer_touch(w, peer);
			stamped = peer;
		}
		to_vm_frame(w->dp, m, (unsigned)vm, b->ip_len[i]);
		out[no] = m;
		vms[no++] = vm;
	}
	deliver_runs(w, out, vms, no);
}

static inline void ingress_burst(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	const struct sg_peers_index *ix = sg_peers_index_table(w->dp->peers);
	struct sg_dpcrypto_op ops[SG_BURST_MAX];
	struct sg_keypair *found[SG_BURST_MAX], *kps[SG_BURST_MAX];
	struct rte_mbuf *ms[SG_BURST_MAX];
	bool ok[SG_BURST_MAX];
	struct peer_run run = { .peer = NULL };
	struct inner_batch b;
	unsigned k = 0, i;

	find_keypairs(ix, pkts, n, found);
	for (i = 0; i < n; i++) {
		enum sg_drop_reason why = prepare(w, found[i], pkts[i], &ops[k]);

		if (why != SG_DROP_NONE) {
			if (unlikely(why == SG_DROP_WG_UNKNOWN_INDEX) && sg_fleet_claimable(w))
				sg_fleet_claim_hand(w, pkts[i]);
			else
				sg_drop(w, pkts[i], why);
			continue;
		}
		kps[k] = found[i];
		ms[k++] = pkts[i];
	}
	if (k == 0)
		return;
	sg_dpcrypto_decrypt_burst(w->crypto, ops, k);
	for (i = 0; i < k; i++)
		ok[i] = ops[i].status == 0;
	commit_all(kps, ops, ok, k);
	/*
	 * The inner sources' allowed-IPs cache slots, for the whole burst
	 * before the first is read: with many peers they are out of cache.
	 */
	for (i = 0; i < k; i++)
		if (ops[i].status == 0 && ops[i].len >= sizeof(struct rte_ipv6_hdr))
			rte_prefetch0(sg_allowedips_cache_slot(
				w->aips_cache,
				((const struct rte_ipv6_hdr *)ops[i].dst)->src_addr));
	b.n = 0;
	for (i = 0; i < k; i++) {
		struct rte_mbuf *m = ms[i];
		enum sg_drop_reason why;

		if (i + 1 < k)
			rte_prefetch0(ops[i + 1].src);
		if (ops[i].status != 0) {
			sg_drop(w, m,
				ops[i].status == -EBADMSG ? SG_DROP_WG_BAD_TAG : SG_DROP_CRYPTO);
			continue;
		}
		if (!ok[i]) {
			sg_drop(w, m, SG_DROP_WG_REPLAY);
			continue;
		}
		w->st.decrypted++;
		authenticated(w, &run, kps[i], m, ops[i].len);
		if (ops[i].len == 0) {
			/* A keepalive: it did its work (stamps, endpoint); nothing to deliver. */
			w->st.keepalive_rx++;
			w->st.consumed++;
			rte_pktmbuf_free(m);
			continue;
		}
		why = inner(w, kps[i], ops[i].dst, ops[i].len, &b.ip_len[b.n], &b.keys[b.n]);
		if (why != SG_DROP_NONE) {
			sg_drop(w, m, why);
			continue;
		}
		b.kptr[b.n] = (const uint8_t *)&b.keys[b.n];
		b.ms[b.n] = m;
		b.kps[b.n] = kps[i];
		b.pkt[b.n++] = ops[i].dst;
	}
	run_end(w, &run);
	to_vms(w, &b);
}

void sg_ingress_data(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	uint64_t t0 = sg_cycles_start(w);

	ingress_burst(w, pkts, n);
	sg_cycles_add(w, SG_STAGE_INGRESS, t0, n);
}
