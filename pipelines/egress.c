/* SPDX-License-Identifier: MIT */
/*
 * Egress, VM to NIC: neighbor discovery answered for the VM (the gateway is its
 * router), the source checked against the VM's /112, one policy classify for
 * the burst (rte_acl: the org rule and the policy file's rules), the
 * destination looked up among the peers' allowed IPs, the tunnel MTU (ICMPv6 Packet
 * Too Big), then a usable session or the peer's staged queue, one batch
 * encrypt for the whole burst across all its peers, outer headers toward each
 * peer's latest endpoint, and one NIC send.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

#include "lib/allowedips/sg_allowedips.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/policy/sg_policy.h"
#include "lib/wire/sg_wire.h"
#include "lib/common/sg_prefix.h"
#include "pipelines/sg_stages.h"

/* Adds the data header in front and the padding and tag room behind. */
static int frame_data(struct sg_worker *w, struct sg_keypair *kp, struct rte_mbuf *m,
		      uint64_t counter, struct sg_dpcrypto_op *op, enum sg_drop_reason *why)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t padded = (uint32_t)sg_wire_padded_len(len, w->dp->gw.mtu);
	uint8_t *tail, *hdr;

	tail = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(padded - len + SG_TAG_LEN));
	hdr = (uint8_t *)rte_pktmbuf_prepend(m, SG_MSG_DATA_HEADER_LEN);
	if (tail == NULL || hdr == NULL) {
		*why = SG_DROP_NO_MBUF;
		return -1;
	}
	memset(tail, 0, padded - len);
	if (counter >= SG_REJECT_AFTER_MESSAGES) {
		*why = SG_DROP_NO_SESSION;
		return -1;
	}
	hdr[0] = SG_MSG_DATA;
	hdr[1] = hdr[2] = hdr[3] = 0;
	sg_put_le32(hdr + 4, kp->remote_index);
	sg_put_le64(hdr + 8, counter);
	op->key = kp->send_key;
	op->nonce = counter;
	op->src = hdr + SG_MSG_DATA_HEADER_LEN;
	op->dst = op->src;
	op->len = padded;
	op->tag = op->src + padded;
	op->aad = NULL;
	op->aad_len = 0;
	op->iv = NULL;
	return 0;
}

#define TX_RUN_CACHE 64

/* The packets of one burst that go to the same peer. */
struct tx_run {
	struct sg_peer *peer;
	struct sg_endpoint ep;
	uint64_t bytes;
	unsigned framed, data;
};

/*
 * Everything one burst sends, over all its peers: one encrypt call and one
 * NIC send for the lot.  Each peer's packets are framed (and take their
 * nonces) in order, and leave in that order.
 */
struct tx_batch {
	struct sg_dpcrypto_op ops[SG_BURST_MAX];
	struct rte_mbuf *ms[SG_BURST_MAX];
	uint16_t run_of[SG_BURST_MAX];
	struct tx_run runs[SG_BURST_MAX];
	unsigned n, n_runs;
	/* Peer -> its run, so that interleaved peers share one run (one stats update). */
	uint16_t run_cache[TX_RUN_CACHE];
};

static void batch_init(struct tx_batch *b)
{
	b->n = b->n_runs = 0;
	memset(b->run_cache, 0xff, sizeof(b->run_cache));
}

/* The batch's run for peer: the one it already has, or a new one. */
static struct tx_run *batch_run(struct tx_batch *b, struct sg_peer *peer, unsigned *ri)
{
	unsigned h = (unsigned)(((uintptr_t)peer >> 6) % TX_RUN_CACHE);
	unsigned r = b->run_cache[h];
	struct tx_run *run;

	if (r < b->n_runs && b->runs[r].peer == peer) {
		*ri = r;
		return &b->runs[r];
	}
	r = b->n_runs;
	run = &b->runs[r];
	run->peer = peer;
	run->bytes = 0;
	run->framed = run->data = 0;
	sg_peer_endpoint_get(peer, &run->ep);
	*ri = r;
	return run;
}

/* Frames n packets for peer with kp into the batch (at most SG_BURST_MAX in all). */
static void batch_add(struct sg_worker *w, struct tx_batch *b, struct sg_peer *peer,
		      struct sg_keypair *kp, struct rte_mbuf **pkts, unsigned n)
{
	unsigned ri, i;
	struct tx_run *run = batch_run(b, peer, &ri);
	uint64_t counter, limit;

	if (run->ep.family == 0) {
		for (i = 0; i < n; i++)
			sg_drop(w, pkts[i], SG_DROP_NO_SESSION);
		return;
	}
	/*
	 * One atomic add reserves the nonces of the whole run.  A nonce of a
	 * packet dropped below is never sent: a gap, which the receiver's
	 * window accepts, as the packet's loss on the wire.
	 */
	counter = atomic_fetch_add_explicit(&kp->send_counter, n, memory_order_relaxed);
	/* A failover pair's lease (UINT64_MAX alone): what lies past it is not sent. */
	limit = atomic_load_explicit(&kp->send_limit, memory_order_relaxed);
	for (i = 0; i < n; i++) {
		enum sg_drop_reason why = SG_DROP_NONE;
		uint32_t len = rte_pktmbuf_pkt_len(pkts[i]);

		if (unlikely(counter + i >= limit)) {
			sg_drop(w, pkts[i], SG_DROP_FLEET_LEASE);
			continue;
		}
		if (frame_data(w, kp, pkts[i], counter + i, &b->ops[b->n], &why) != 0) {
			sg_drop(w, pkts[i], why);
			continue;
		}
		if (len > 0)
			run->data++;
		run->bytes += len;
		run->framed++;
		b->run_of[b->n] = (uint16_t)ri;
		b->ms[b->n++] = pkts[i];
	}
	if (ri == b->n_runs && run->framed > 0) {
		b->run_cache[((uintptr_t)peer >> 6) % TX_RUN_CACHE] = (uint16_t)ri;
		b->n_runs++;
	}
}

/* Encrypts the batch, puts the outer headers on and sends it; leaves it empty. */
static void batch_send(struct sg_worker *w, struct tx_batch *b)
{
	struct rte_mbuf *out[SG_BURST_MAX];
	unsigned sent[SG_BURST_MAX];
	unsigned no = 0, i;

	if (b->n == 0)
		return;
	sg_dpcrypto_encrypt_burst(w->crypto, b->ops, b->n);
	for (i = 0; i < b->n_runs; i++)
		sent[i] = 0;
	for (i = 0; i < b->n; i++) {
		unsigned r = b->run_of[i];

		if (b->ops[i].status != 0) {
			sg_drop(w, b->ms[i], SG_DROP_CRYPTO);
			continue;
		}
		if (sg_outer_push(&w->dp->gw, &b->runs[r].ep, b->ms[i]) != 0) {
			sg_drop(w, b->ms[i], SG_DROP_NO_MBUF);
			continue;
		}
		sent[r]++;
		out[no++] = b->ms[i];
	}
	for (i = 0; i < b->n_runs; i++) {
		struct tx_run *run = &b->runs[i];
		struct sg_peer *peer = run->peer;

		w->st.keepalive_tx += run->framed - run->data;
		atomic_store_explicit(&peer->st.last_tx_ns, w->now_ns, memory_order_relaxed);
		if (run->data > 0)
			atomic_store_explicit(&peer->st.last_data_tx_ns, w->now_ns,
					      memory_order_relaxed);
		atomic_fetch_add_explicit(&peer->st.tx_bytes, run->bytes, memory_order_relaxed);
		atomic_fetch_add_explicit(&peer->st.tx_packets, sent[i], memory_order_relaxed);
		sg_peer_touch(w, peer);
	}
	w->st.encrypted += no;
	batch_init(b);
	sg_nic_send(w, out, no);
}

static void send_batch(struct sg_worker *w, struct sg_peer *peer, struct sg_keypair *kp,
		       struct rte_mbuf **pkts, unsigned n)
{
	struct tx_batch b;

	batch_init(&b);
	batch_add(w, &b, peer, kp, pkts, n);
	batch_send(w, &b);
}

bool sg_egress_keepalive(struct sg_worker *w, struct sg_peer *peer)
{
	struct sg_keypair *kp = sg_peer_tx_keypair(peer, w->now_ns);
	struct rte_mbuf *m;

	if (kp == NULL)
		return false;
	w->st.made++;
	m = rte_pktmbuf_alloc(w->dp->pool);
	if (m == NULL) {
		sg_drop_count(&w->drops, SG_DROP_NO_MBUF, 1);
		return false;
	}
	send_batch(w, peer, kp, &m, 1);
	return true;
}

void sg_egress_flush_staged(struct sg_worker *w, struct sg_peer *peer)
{
	struct rte_mbuf *ms[SG_BURST_MAX];
	struct sg_keypair *kp;
	unsigned n;

	while (sg_peer_staged_count(peer) > 0) {
		kp = sg_peer_tx_keypair(peer, w->now_ns);
		if (kp == NULL)
			return;
		n = sg_peer_unstage(peer, ms, w->dp->burst);
		if (n == 0)
			break;
		send_batch(w, peer, kp, ms, n);
	}
	/* Emptied: the next packet staged starts a new deadline. */
	atomic_store_explicit(&peer->staged_at, 0, memory_order_relaxed);
}

/* Queues packets for a peer without a session and asks for a handshake. */
static void stage(struct sg_worker *w, struct sg_peer *peer, struct rte_mbuf **pkts, unsigned n)
{
	struct sg_endpoint ep;
	unsigned q, i;

	sg_peer_endpoint_get(peer, &ep);
	if (ep.family == 0) {
		/* Nowhere to send an initiation: the peer must come to us first. */
		for (i = 0; i < n; i++)
			sg_drop(w, pkts[i], SG_DROP_NO_SESSION);
		return;
	}
	/*
	 * The packets are the VM's own buffers: staging may not eat into the
	 * reserve its next bursts need, however many offline peers it sends to.
	 */
	if (rte_mempool_avail_count(pkts[0]->pool) < SG_VM_MBUFS_RESERVE) {
		for (i = 0; i < n; i++)
			sg_drop(w, pkts[i], SG_DROP_STAGED_VM_LIMIT);
		return;
	}
	q = sg_peer_stage(peer, pkts, n);
	w->st.staged += q;
	if (q > 0 && atomic_load_explicit(&peer->staged_at, memory_order_relaxed) == 0) {
		uint64_t none = 0;

		atomic_compare_exchange_strong(&peer->staged_at, &none, w->now_ns);
	}
	for (i = q; i < n; i++)
		sg_drop(w, pkts[i], SG_DROP_STAGED_FULL);
	if (!(atomic_load_explicit(&peer->events, memory_order_relaxed) &
	      SG_PEER_EV_WANT_HANDSHAKE))
		sg_peer_notify(w, peer, SG_PEER_EV_WANT_HANDSHAKE);
}

/* Adds a run of packets that all go to peer to the batch, or stages them. */
static void to_peer(struct sg_worker *w, struct tx_batch *b, struct sg_peer *peer,
		    struct rte_mbuf **pkts, unsigned n)
{
	struct sg_keypair *kp = sg_peer_tx_keypair(peer, w->now_ns);

	if (kp == NULL) {
		stage(w, peer, pkts, n);
		return;
	}
	/*
	 * Keep order: whatever waited for this session leaves first, and after
	 * whatever this burst already batched for the peer (rare: send it all).
	 */
	if (sg_unlikely(sg_peer_staged_count(peer) > 0)) {
		batch_send(w, b);
		sg_egress_flush_staged(w, peer);
	}
	batch_add(w, b, peer, kp, pkts, n);
}

void sg_egress_peer(struct sg_worker *w, struct sg_peer *peer, struct rte_mbuf **pkts, unsigned n)
{
	struct tx_batch b;

	batch_init(&b);
	to_peer(w, &b, peer, pkts, n);
	batch_send(w, &b);
}

enum vm_verdict { VV_DROP, VV_PEER, VV_REPLY };

/* Neighbor solicitations from the VM: we answer for every address but its own. */
static enum vm_verdict vm_nd(struct sg_vm *vm, struct rte_mbuf *m, struct rte_ipv6_hdr *ip,
			     uint32_t plen, enum sg_drop_reason *why)
{
	uint8_t *icmp = (uint8_t *)(ip + 1);
	uint8_t target[16];

	*why = SG_DROP_LOCAL_OTHER;
	if (ip->proto != IPPROTO_ICMPV6 || plen < 24 || icmp[0] != SG_ND_NEIGHBOR_SOLICIT ||
	    ip->hop_limits != 255)
		return VV_DROP;
	memcpy(target, icmp + 8, 16);
	if (sg_prefix_contains(vm->prefix, vm->prefix_len, target) || target[0] == 0xff)
		return VV_DROP;
	if (rte_ipv6_udptcp_cksum_verify(ip, icmp) != 0)
		return VV_DROP;
	if (sg_nd_make_advert(m, target, &vm->gw_mac,
			      SG_ND_NA_ROUTER | SG_ND_NA_SOLICITED | SG_ND_NA_OVERRIDE) != 0) {
		*why = SG_DROP_NO_MBUF;
		return VV_DROP;
	}
	return VV_REPLY;
}

/*
 * m becomes an ICMPv6 error back to VM vm, counted under why and as refused
 * in the VM's row; or is dropped.
 */
static enum vm_verdict vm_error(struct sg_worker *w, const struct sg_vm *vm, struct rte_mbuf *m,
				const struct rte_ipv6_hdr *ip, uint8_t type, uint32_t word,
				enum sg_drop_reason why)
{
	uint8_t from[16];

	/* The error comes from the destination's side: a source the VM routes back. */
	memcpy(from, ip->dst_addr, 16);
	if (sg_icmp6_error(m, from, type, word) != 0)
		return VV_DROP;
	sg_drop_count(&w->drops, why, 1);
	w->vm_st[vm - w->dp->vms].rx_refused++;
	w->st.made++;
	return VV_REPLY;
}

/*
 * The frame's own checks: Ethernet, IPv6 and its length, ND and link-local
 * traffic for the gateway, the source in the VM's /112.  VV_PEER: it goes on
 * to the policy with *ipp and its key filled.
 */
static enum vm_verdict vm_parse(struct sg_vm *vm, struct rte_mbuf *m, struct rte_ipv6_hdr **ipp,
				struct sg_policy_key *key, enum sg_drop_reason *why)
{
	struct rte_ether_hdr *eth;
	struct rte_ipv6_hdr *ip;
	uint32_t avail, plen;

	*why = SG_DROP_VM_TRUNCATED;
	if (sg_unlikely(m->nb_segs > 1) && rte_pktmbuf_linearize(m) != 0)
		return VV_DROP;
	if (rte_pktmbuf_pkt_len(m) < sizeof(*eth) + sizeof(*ip))
		return VV_DROP;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv6_hdr *)(eth + 1);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6) ||
	    (rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6)
		return VV_DROP;
	avail = rte_pktmbuf_pkt_len(m) - (uint32_t)sizeof(*eth);
	plen = rte_be_to_cpu_16(ip->payload_len);
	if (plen + sizeof(*ip) > avail)
		return VV_DROP;
	rte_pktmbuf_trim(m, (uint16_t)(avail - plen - sizeof(*ip)));
	if (!vm->vm_mac_fixed && rte_is_unicast_ether_addr(&eth->src_addr))
		atomic_store_explicit(&vm->vm_mac, sg_mac_to_u64(&eth->src_addr),
				      memory_order_relaxed);
	/* Multicast and link-local traffic is for the gateway as the VM's router. */
	if (ip->dst_addr[0] == 0xff ||
	    (ip->dst_addr[0] == 0xfe && (ip->dst_addr[1] & 0xc0) == 0x80))
		return vm_nd(vm, m, ip, plen, why);
	if (!sg_prefix_contains(vm->prefix, vm->prefix_len, ip->src_addr)) {
		*why = SG_DROP_VM_SPOOF;
		return VV_DROP;
	}
	sg_policy_key_set(key, (const uint8_t *)ip, plen + (uint32_t)sizeof(*ip), SG_POLICY_DIR_OUT,
			  sg_prefix_contains(vm->org, vm->org_len, ip->dst_addr));
	*ipp = ip;
	return VV_PEER;
}

/*
 * After the policy allowed it (rule r) to the destination's peer (NULL:
 * none): the org, the hop limit and the tunnel MTU.  A packet that only the
 * base rule allowed must also go to a peer of the VM's own org.
 */
static enum vm_verdict vm_forward(struct sg_worker *w, struct sg_vm *vm, struct rte_mbuf *m,
				  struct rte_ipv6_hdr *ip, bool base_rule, struct sg_peer *peer,
				  enum sg_drop_reason *why)
{
	uint32_t plen = rte_be_to_cpu_16(ip->payload_len);

	if (peer == NULL) {
		*why = SG_DROP_NO_PEER;
		return VV_DROP;
	}
	if (base_rule && (peer->org_len != vm->org_len || memcmp(peer->org, vm->org, 16) != 0)) {
		*why = SG_DROP_ORG_ISOLATION;
		return VV_DROP;
	}
	/* Forwarded as a router does: the hop limit first, then the link's MTU. */
	if (ip->hop_limits <= 1) {
		*why = SG_DROP_HOP_LIMIT;
		return sg_icmp_allowed(w) ? vm_error(w, vm, m, ip, SG_ICMP6_TIME_EXCEEDED, 0, *why)
					  : VV_DROP;
	}
	if (plen + sizeof(*ip) > w->dp->gw.mtu) {
		*why = SG_DROP_TOO_BIG;
		return vm_error(w, vm, m, ip, SG_ICMP6_PACKET_TOO_BIG, w->dp->gw.mtu, *why);
	}
	ip->hop_limits--;
	rte_pktmbuf_adj(m, sizeof(struct rte_ether_hdr));
	return VV_PEER;
}

/* What one VM burst leaves for the policy: the packets and their keys. */
struct vm_batch {
	struct sg_policy_key keys[SG_BURST_MAX];
	const uint8_t *kptr[SG_BURST_MAX];
	uint32_t res[SG_BURST_MAX];
	struct rte_ipv6_hdr *ip[SG_BURST_MAX];
	struct rte_mbuf *ms[SG_BURST_MAX];
	struct sg_peer *peer[SG_BURST_MAX];    /* the destination's, for an allowed one */
	enum sg_drop_reason why[SG_BURST_MAX]; /* the policy's verdict */
	unsigned n;
};

static inline void egress_burst(struct sg_worker *w, unsigned vmi, struct rte_mbuf **pkts,
				unsigned n)
{
	struct sg_vm *vm = &w->dp->vms[vmi];
	const struct sg_dp_policy *pol = sg_policy_get(w);
	struct rte_mbuf *out[SG_BURST_MAX], *rep[SG_BURST_MAX];
	struct sg_peer *peers[SG_BURST_MAX];
	struct vm_batch c;
	struct tx_batch b;
	unsigned no = 0, nr = 0, i;

	c.n = 0;
	for (i = 0; i < n && i < 4; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		enum sg_drop_reason why = SG_DROP_NONE;

		if (i + 4 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 4], void *));
		switch (vm_parse(vm, pkts[i], &c.ip[c.n], &c.keys[c.n], &why)) {
		case VV_PEER:
			rte_prefetch0(sg_allowedips_cache_slot(w->aips_cache, c.ip[c.n]->dst_addr));
			c.kptr[c.n] = (const uint8_t *)&c.keys[c.n];
			c.ms[c.n++] = pkts[i];
			break;
		case VV_REPLY:
			rep[nr++] = pkts[i];
			break;
		default:
			w->vm_st[vmi].rx_refused++;
			sg_drop(w, pkts[i], why);
		}
	}
	if (c.n > 0)
		sg_policy_acl_classify_cached(w->pol_cache, pol->acl, c.kptr, c.res, c.n);
	/*
	 * With many peers their state is out of cache: the burst's lookups
	 * first (their cache slots were prefetched above), each peer's lines
	 * prefetched as it is found, then its current keypair's, so that the
	 * misses overlap instead of following one another packet by packet.
	 */
	for (i = 0; i < c.n; i++) {
		c.peer[i] = NULL;
		c.why[i] = sg_policy_verdict(w, pol, c.res[i]);
		if (c.why[i] != SG_DROP_NONE)
			continue;
		c.peer[i] =
			sg_allowedips_lookup_cached(w->dp->aips, w->aips_cache, c.ip[i]->dst_addr);
		if (c.peer[i] != NULL)
			sg_peer_prefetch_tx(c.peer[i]);
	}
	for (i = 0; i < c.n; i++) {
		const struct sg_keypair *kp;

		if (c.peer[i] != NULL &&
		    (kp = atomic_load_explicit(&c.peer[i]->kp_cur, memory_order_relaxed)) != NULL)
			sg_keypair_prefetch_tx(kp);
	}
	for (i = 0; i < c.n; i++) {
		enum sg_drop_reason why = c.why[i];

		if (why != SG_DROP_NONE) {
			w->vm_st[vmi].rx_refused++;
			sg_drop(w, c.ms[i], why);
			continue;
		}
		switch (vm_forward(w, vm, c.ms[i], c.ip[i], c.res[i] == pol->base_rule, c.peer[i],
				   &why)) {
		case VV_PEER:
			peers[no] = c.peer[i];
			out[no++] = c.ms[i];
			break;
		case VV_REPLY:
			rep[nr++] = c.ms[i];
			break;
		default:
			w->vm_st[vmi].rx_refused++;
			sg_drop(w, c.ms[i], why);
		}
	}
	if (nr > 0) {
		w->st.local_replies += nr;
		sg_vm_deliver(w, vmi, rep, nr);
	}
	batch_init(&b);
	for (i = 0; i < no;) {
		unsigned j = i + 1;

		while (j < no && peers[j] == peers[i])
			j++;
		to_peer(w, &b, peers[i], out + i, j - i);
		i = j;
	}
	batch_send(w, &b);
}

void sg_egress_vm(struct sg_worker *w, unsigned vmi, struct rte_mbuf **pkts, unsigned n)
{
	uint64_t t0 = sg_cycles_start(w);

	egress_burst(w, vmi, pkts, n);
	sg_cycles_add(w, SG_STAGE_EGRESS, t0, n);
}
