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

/* Finds the keypair and pre-checks the counter; fills op.  Returns a drop reason. */
static enum sg_drop_reason prepare(struct sg_worker *w, const struct sg_peers_index *ix,
				   struct rte_mbuf *m, struct sg_keypair **kpp,
				   struct sg_dpcrypto_op *op)
{
	struct sg_pkt_meta *meta = sg_meta(m);
	uint8_t *msg = rte_pktmbuf_mtod_offset(m, uint8_t *, meta->wg_off);
	uint64_t counter = sg_get_le64(msg + 8);
	struct sg_keypair *kp = sg_peers_lookup_index(ix, sg_get_le32(msg + 4));

	if (kp == NULL)
		return SG_DROP_WG_UNKNOWN_INDEX;
	if (!sg_keypair_rx_valid(kp, w->now_ns))
		return SG_DROP_WG_KEYPAIR_EXPIRED;
	/* A hint only (another worker may commit meanwhile): commit decides. */
	if (!sg_replay_check(&kp->replay, counter))
		return SG_DROP_WG_REPLAY;
	*kpp = kp;
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

static bool commit(struct sg_keypair *kp, uint64_t counter)
{
	bool ok;

	rte_spinlock_lock(&kp->replay_lock);
	ok = sg_replay_commit(&kp->replay, counter);
	rte_spinlock_unlock(&kp->replay_lock);
	return ok;
}

/* What every authenticated packet does to its peer: stamps, roaming, confirmation. */
static void authenticated(struct sg_worker *w, struct sg_keypair *kp, struct rte_mbuf *m,
			  uint32_t len)
{
	struct sg_peer *p = kp->peer;
	struct sg_endpoint cur;

	atomic_store_explicit(&p->st.last_rx_ns, w->now_ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.rx_bytes, len, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->st.rx_packets, 1, memory_order_relaxed);
	/* Roaming: replies follow the outer source of the latest authentic packet. */
	sg_peer_endpoint_get(p, &cur);
	if (memcmp(&cur, &sg_meta(m)->src, sizeof(cur)) != 0) {
		sg_peer_endpoint_set(p, &sg_meta(m)->src);
		w->st.roams++;
	}
	if (!atomic_load_explicit(&kp->confirmed, memory_order_relaxed) &&
	    !atomic_exchange(&kp->confirmed, true)) {
		/* Key confirmation: the session can send now; staged packets go first. */
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
	if (sg_allowedips_lookup(w->dp->aips, AF_INET6, ip->src_addr) != peer)
		return SG_DROP_INNER_SRC;
	sg_policy_key_set(key, pkt, *ip_len, SG_POLICY_DIR_IN,
			  sg_prefix_contains(peer->org, peer->org_len, ip->dst_addr));
	return SG_DROP_NONE;
}

/* The VM that owns the destination, or -1 with *why; the hop limit spent. */
static int route(struct sg_dp *dp, uint8_t *pkt, enum sg_drop_reason *why)
{
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)pkt;
	int vm = (int)sg_routing_lookup(dp->routes, ip->dst_addr);

	if (vm == SG_ROUTING_NO_ROUTE || (unsigned)vm >= dp->n_vms) {
		*why = SG_DROP_NO_ROUTE;
		return -1;
	}
	/* Forwarded as a router does; at the last hop a Time Exceeded goes back. */
	if (ip->hop_limits <= 1) {
		*why = SG_DROP_HOP_LIMIT;
		return -1;
	}
	ip->hop_limits--;
	return vm;
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
	int vms[SG_BURST_MAX];
	unsigned no = 0, i;

	if (b->n == 0)
		return;
	sg_policy_acl_classify(pol->acl, b->kptr, b->res, b->n);
	for (i = 0; i < b->n; i++) {
		struct rte_mbuf *m = b->ms[i];
		enum sg_drop_reason why = sg_policy_verdict(w, pol, b->res[i]);
		int vm = -1;

		if (why == SG_DROP_NONE)
			vm = route(w->dp, b->pkt[i], &why);
		if (vm < 0 && why == SG_DROP_HOP_LIMIT) {
			time_exceeded(w, b->kps[i]->peer, m, b->ip_len[i]);
			continue;
		}
		if (vm < 0) {
			sg_drop(w, m, why);
			continue;
		}
		atomic_store_explicit(&b->kps[i]->peer->st.last_data_rx_ns, w->now_ns,
				      memory_order_relaxed);
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
	struct sg_keypair *kps[SG_BURST_MAX];
	struct rte_mbuf *ms[SG_BURST_MAX];
	struct inner_batch b;
	unsigned k = 0, i;

	for (i = 0; i < n; i++) {
		enum sg_drop_reason why = prepare(w, ix, pkts[i], &kps[k], &ops[k]);

		if (why != SG_DROP_NONE) {
			sg_drop(w, pkts[i], why);
			continue;
		}
		ms[k++] = pkts[i];
	}
	if (k == 0)
		return;
	sg_dpcrypto_decrypt_burst(w->crypto, ops, k);
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
		if (!commit(kps[i], ops[i].nonce)) {
			sg_drop(w, m, SG_DROP_WG_REPLAY);
			continue;
		}
		w->st.decrypted++;
		authenticated(w, kps[i], m, ops[i].len);
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
	to_vms(w, &b);
}

void sg_ingress_data(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	uint64_t t0 = sg_cycles_start(w);

	ingress_burst(w, pkts, n);
	sg_cycles_add(w, SG_STAGE_INGRESS, t0, n);
}
