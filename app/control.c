/* SPDX-License-Identifier: MIT */
/*
 * The control lcore: handshakes (responder for clients, initiator for rekeys),
 * cookies under load, the per-source rate limit, the session timers, keypair
 * rotation and the deferred frees.  Workers reach it through two bounded rings
 * (handshake frames, peers needing attention) and never wait for it; it sends
 * on its own TX queue of the NIC.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "app/sixgate.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"

#define CTL_TICK_NS	  (20ull * 1000 * 1000)
#define CTL_IDLE_SLEEP_NS 100000
#define CTL_NS_PER_S	  1000000000ull

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * CTL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct ctl_peer *cp_of(struct sg_peer *p)
{
	return p->ctl;
}

/* The cookie's notion of a source: address bytes then the port. */
static size_t src_bytes(const struct sg_endpoint *ep, uint8_t out[18])
{
	size_t alen = ep->family == 4 ? 4 : 16;

	memcpy(out, ep->addr, alen);
	memcpy(out + alen, &ep->port, 2);
	return alen + 2;
}

static void send_msg(struct sg_ctl *c, const struct sg_endpoint *ep, const void *msg, size_t len)
{
	struct sg_worker *w = c->dp->ctl;
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->dp->pool);
	void *p;

	if (m == NULL) {
		sg_drop_count(&w->drops, SG_DROP_NO_MBUF, 1);
		return;
	}
	p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return;
	}
	memcpy(p, msg, len);
	if (sg_outer_push(&c->dp->gw, ep, m) != 0) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return;
	}
	sg_nic_send(w, &m, 1);
}

/* Releases the index of a handshake that will not become a keypair. */
static void release_hs_index(struct sg_ctl *c, struct ctl_peer *cp)
{
	if (!cp->hs_index_reserved)
		return;
	sg_peers_index_free(c->dp->peers, cp->hs.local_index);
	cp->hs_index_reserved = false;
}

static void timers_sent(struct ctl_peer *cp, uint64_t now)
{
	sg_timers_any_authenticated_packet_sent(&cp->timers, now);
	sg_timers_any_authenticated_packet_traversal(&cp->timers, now);
}

static void timers_received(struct ctl_peer *cp, uint64_t now)
{
	sg_timers_any_authenticated_packet_received(&cp->timers, now);
	sg_timers_any_authenticated_packet_traversal(&cp->timers, now);
}

/* Turns the finished handshake of peer into a keypair and publishes it. */
static int begin_session(struct sg_ctl *c, struct sg_peer *peer, uint64_t now)
{
	struct ctl_peer *cp = cp_of(peer);
	struct sg_noise_keypair nk;
	struct sg_keypair *kp;

	if (sg_noise_derive_keypair(&cp->hs, &nk, now) != 0)
		return -EINVAL;
	kp = sg_peers_keypair_new(c->dp->peers, peer, nk.local_index, nk.remote_index,
				  nk.sending_key, nk.receiving_key, nk.is_initiator, now);
	sg_noise_keypair_clear(&nk);
	if (kp == NULL)
		return -ENOMEM;
	cp->hs_index_reserved = false;
	sg_peers_install(c->dp->peers, kp);
	sg_timers_session_derived(&cp->timers, now);
	cp->handshakes++;
	return 0;
}

void sg_ctl_send_initiation(struct sg_ctl *c, struct sg_peer *peer);

void sg_ctl_send_initiation(struct sg_ctl *c, struct sg_peer *peer)
{
	struct ctl_peer *cp = cp_of(peer);
	uint64_t now = c->dp->ctl->now_ns;
	struct sg_msg_initiation msg;
	struct sg_endpoint ep;
	uint32_t idx;

	sg_peer_endpoint_get(peer, &ep);
	if (ep.family == 0)
		return;
	release_hs_index(c, cp);
	if (sg_peers_index_alloc(c->dp->peers, peer, &idx) != 0)
		return;
	if (sg_noise_create_initiation(&c->st, &cp->hs, &msg, idx, now) != 0) {
		sg_peers_index_free(c->dp->peers, idx);
		return;
	}
	cp->hs_index_reserved = true;
	sg_cookie_add_macs(&cp->maker, &msg, sizeof(msg), now);
	send_msg(c, &ep, &msg, sizeof(msg));
	sg_wipe(&msg, sizeof(msg));
	c->st_ctl.init_tx++;
	sg_timers_handshake_initiated(&cp->timers, now);
	timers_sent(cp, now);
}

/*
 * mac1 always; under load mac2 too, else a cookie reply.  Returns true when
 * the message may go on.
 */
static bool check_macs(struct sg_ctl *c, struct rte_mbuf *m, const uint8_t *msg, size_t len,
		       uint32_t sender_index)
{
	struct sg_worker *w = c->dp->ctl;
	const struct sg_endpoint *src = &sg_meta(m)->src;
	uint64_t now = w->now_ns;
	uint8_t sb[18];
	size_t sl = src_bytes(src, sb);
	bool under = sg_cookie_under_load(&c->load, rte_ring_count(c->dp->hs_ring),
					  rte_ring_get_capacity(c->dp->hs_ring), now) ||
		     c->always_under_load;
	enum sg_cookie_result r = sg_cookie_validate(&c->checker, msg, len, sb, sl, under, now);

	if (r == SG_COOKIE_MAC1_BAD) {
		sg_drop_count(&w->drops, SG_DROP_WG_MAC1, 1);
		return false;
	}
	if (under && r != SG_COOKIE_MAC2_OK) {
		struct sg_msg_cookie_reply reply;

		if (sg_cookie_make_reply(&c->checker, &reply, msg, len, sender_index, sb, sl,
					 now) == 0) {
			send_msg(c, src, &reply, sizeof(reply));
			c->st_ctl.cookie_tx++;
		}
		sg_drop_count(&w->drops, SG_DROP_WG_MAC2, 1);
		return false;
	}
	if (!sg_ratelimit_allow_source(c->rl, src->addr, src->family == 4 ? AF_INET : AF_INET6,
				       now)) {
		sg_drop_count(&w->drops, SG_DROP_WG_HS_RATELIMIT, 1);
		return false;
	}
	return true;
}

static enum sg_drop_reason noise_reason(int rc)
{
	switch (rc) {
	case -EALREADY:
		return SG_DROP_WG_TIMESTAMP;
	case -EAGAIN:
		return SG_DROP_WG_HS_RATELIMIT;
	default:
		return SG_DROP_WG_HANDSHAKE;
	}
}

static void on_initiation(struct sg_ctl *c, struct rte_mbuf *m, const uint8_t *msg)
{
	const struct sg_msg_initiation *in = (const struct sg_msg_initiation *)msg;
	struct sg_worker *w = c->dp->ctl;
	uint64_t now = w->now_ns;
	struct sg_noise_init_ctx ictx;
	struct sg_msg_response resp;
	uint8_t rs[SG_PUBLIC_KEY_LEN];
	struct sg_peer *peer;
	struct ctl_peer *cp;
	uint32_t idx;
	int rc;

	c->st_ctl.init_rx++;
	if (!check_macs(c, m, msg, SG_MSG_INITIATION_LEN, sg_get_le32(msg + 4)))
		return;
	if (sg_noise_initiation_decrypt_static(&c->st, in, rs, &ictx) != 0) {
		sg_drop_count(&w->drops, SG_DROP_WG_HANDSHAKE, 1);
		return;
	}
	peer = sg_peers_lookup_key(c->dp->peers, rs);
	if (peer == NULL) {
		sg_noise_init_ctx_clear(&ictx);
		sg_drop_count(&w->drops, SG_DROP_WG_UNKNOWN_PEER, 1);
		return;
	}
	cp = cp_of(peer);
	rc = sg_noise_consume_initiation(&c->st, &ictx, &cp->hs, now);
	if (rc != 0) {
		sg_drop_count(&w->drops, noise_reason(rc), 1);
		return;
	}
	/* The initiation replaced any handshake of ours in progress. */
	release_hs_index(c, cp);
	if (sg_peers_index_alloc(c->dp->peers, peer, &idx) != 0) {
		sg_noise_peer_hs_zero(&cp->hs);
		sg_drop_count(&w->drops, SG_DROP_WG_HANDSHAKE, 1);
		return;
	}
	cp->hs_index_reserved = true;
	if (sg_noise_create_response(&c->st, &cp->hs, &resp, idx) != 0 ||
	    begin_session(c, peer, now) != 0) {
		sg_noise_peer_hs_zero(&cp->hs);
		sg_peers_index_free(c->dp->peers, idx);
		cp->hs_index_reserved = false;
		sg_drop_count(&w->drops, SG_DROP_WG_HANDSHAKE, 1);
		return;
	}
	sg_peer_endpoint_set(peer, &sg_meta(m)->src);
	timers_received(cp, now);
	sg_cookie_add_macs(&cp->maker, &resp, sizeof(resp), now);
	send_msg(c, &sg_meta(m)->src, &resp, sizeof(resp));
	c->st_ctl.resp_tx++;
	timers_sent(cp, now);
}

static void on_response(struct sg_ctl *c, struct rte_mbuf *m, const uint8_t *msg)
{
	const struct sg_msg_response *in = (const struct sg_msg_response *)msg;
	struct sg_worker *w = c->dp->ctl;
	uint64_t now = w->now_ns;
	uint32_t ri = sg_get_le32(msg + 8);
	struct sg_peer *peer;
	struct ctl_peer *cp;

	c->st_ctl.resp_rx++;
	if (!check_macs(c, m, msg, SG_MSG_RESPONSE_LEN, sg_get_le32(msg + 4)))
		return;
	peer = sg_peers_index_owner(c->dp->peers, ri);
	cp = peer != NULL ? cp_of(peer) : NULL;
	if (cp == NULL || !cp->hs_index_reserved || cp->hs.local_index != ri ||
	    sg_noise_consume_response(&c->st, &cp->hs, in) != 0) {
		sg_drop_count(&w->drops, SG_DROP_WG_HANDSHAKE, 1);
		return;
	}
	if (begin_session(c, peer, now) != 0) {
		release_hs_index(c, cp);
		sg_drop_count(&w->drops, SG_DROP_WG_HANDSHAKE, 1);
		return;
	}
	sg_peer_endpoint_set(peer, &sg_meta(m)->src);
	timers_received(cp, now);
	sg_timers_handshake_complete(&cp->timers, now);
	cp->last_handshake_ns = wall_ns();
	/* Confirm the session to the responder: staged packets, or a keepalive. */
	if (rte_ring_count(peer->staged) > 0)
		sg_egress_flush_staged(w, peer);
	else if (sg_egress_keepalive(w, peer))
		c->st_ctl.keepalive_tx++;
}

static void on_cookie_reply(struct sg_ctl *c, const uint8_t *msg)
{
	struct sg_worker *w = c->dp->ctl;
	struct sg_peer *peer = sg_peers_index_owner(c->dp->peers, sg_get_le32(msg + 4));

	c->st_ctl.cookie_rx++;
	if (peer == NULL ||
	    sg_cookie_consume_reply(&cp_of(peer)->maker, (const struct sg_msg_cookie_reply *)msg,
				    w->now_ns) != 0)
		sg_drop_count(&w->drops, SG_DROP_WG_COOKIE, 1);
}

static void handle_handshake(struct sg_ctl *c, struct rte_mbuf *m)
{
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, sg_meta(m)->wg_off);

	switch (msg[0]) {
	case SG_MSG_INITIATION:
		on_initiation(c, m, msg);
		break;
	case SG_MSG_RESPONSE:
		on_response(c, m, msg);
		break;
	case SG_MSG_COOKIE_REPLY:
		on_cookie_reply(c, msg);
		break;
	default:
		sg_drop_count(&c->dp->ctl->drops, SG_DROP_WG_TYPE, 1);
	}
	rte_pktmbuf_free(m);
}

static void drop_staged(struct sg_ctl *c, struct sg_peer *peer)
{
	struct rte_mbuf *m;

	while (rte_ring_dequeue(peer->staged, (void **)&m) == 0) {
		sg_drop(c->dp->ctl, m, SG_DROP_NO_SESSION);
		cp_of(peer)->staged_dropped++;
	}
}

static void want_handshake(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_worker *w = c->dp->ctl;

	/* A session may have come up since the worker asked. */
	if (sg_peer_tx_keypair(peer, w->now_ns) != NULL) {
		sg_egress_flush_staged(w, peer);
		return;
	}
	if (sg_timers_handshake_wanted(&cp_of(peer)->timers, w->now_ns))
		sg_ctl_send_initiation(c, peer);
}

static void handle_flags(struct sg_ctl *c, struct sg_peer *peer, unsigned flags)
{
	struct ctl_peer *cp = cp_of(peer);
	struct sg_keypair *next = peer->ks.next;

	if ((flags & SG_PEER_EV_CONFIRMED) && next != NULL && atomic_load(&next->confirmed) &&
	    sg_peers_confirm(c->dp->peers, peer, next)) {
		sg_timers_handshake_complete(&cp->timers, c->dp->ctl->now_ns);
		cp->last_handshake_ns = wall_ns();
		c->st_ctl.confirmed++;
		sg_egress_flush_staged(c->dp->ctl, peer);
	}
	if (flags & SG_PEER_EV_WANT_HANDSHAKE)
		want_handshake(c, peer);
}

/* Reports what the workers did since the last tick to the peer's timers. */
static void feed_timers(struct ctl_peer *cp, struct sg_peer *p)
{
	uint64_t rx = atomic_load_explicit(&p->st.last_rx_ns, memory_order_relaxed);
	uint64_t drx = atomic_load_explicit(&p->st.last_data_rx_ns, memory_order_relaxed);
	uint64_t tx = atomic_load_explicit(&p->st.last_tx_ns, memory_order_relaxed);
	uint64_t dtx = atomic_load_explicit(&p->st.last_data_tx_ns, memory_order_relaxed);

	if (rx != cp->seen_rx) {
		timers_received(cp, rx);
		cp->seen_rx = rx;
	}
	if (drx != cp->seen_data_rx) {
		sg_timers_data_received(&cp->timers, drx);
		cp->seen_data_rx = drx;
	}
	if (tx != cp->seen_tx) {
		timers_sent(cp, tx);
		cp->seen_tx = tx;
	}
	if (dtx != cp->seen_data_tx) {
		sg_timers_data_sent(&cp->timers, dtx);
		cp->seen_data_tx = dtx;
	}
}

/* Section 6.2's rekey rules, plus the configured gateway-side rekey interval. */
static bool rekey_due(struct sg_ctl *c, struct ctl_peer *cp, struct sg_peer *p, uint64_t now,
		      bool sent, bool received)
{
	struct sg_keypair *cur = p->ks.current;
	struct sg_timers_keypair tk;

	if (cur == NULL)
		return false;
	sg_timers_keypair_init(&tk, &cp->timers, cur->initiator, cur->birth_ns);
	tk.sent = atomic_load_explicit(&cur->send_counter, memory_order_relaxed);
	if (sent && sg_timers_rekey_on_send(&tk, now))
		return true;
	if (received && sg_timers_rekey_on_receive(&cp->timers, &tk, now))
		return true;
	return c->tc.rekey_after_time_s > 0 && (sent || received) && p->ks.next == NULL &&
	       now - cur->birth_ns >= (uint64_t)c->tc.rekey_after_time_s * CTL_NS_PER_S;
}

static void tick_peer(struct sg_ctl *c, struct sg_peer *p, uint64_t now)
{
	struct ctl_peer *cp = cp_of(p);
	uint64_t old_tx = cp->seen_data_tx, old_rx = cp->seen_data_rx;
	unsigned d, flags = 0;

	if (atomic_load_explicit(&p->events, memory_order_relaxed) != 0)
		flags = sg_peer_take_flags(p);
	if (flags != 0)
		handle_flags(c, p, flags);
	feed_timers(cp, p);
	if (rekey_due(c, cp, p, now, cp->seen_data_tx != old_tx, cp->seen_data_rx != old_rx) &&
	    sg_timers_handshake_wanted(&cp->timers, now)) {
		c->st_ctl.rekeys++;
		sg_ctl_send_initiation(c, p);
	}
	d = sg_timers_poll(&cp->timers, now);
	if (d & SG_TIMERS_SEND_KEEPALIVE) {
		if (sg_egress_keepalive(c->dp->ctl, p))
			c->st_ctl.keepalive_tx++;
	}
	if (d & SG_TIMERS_INITIATE_HANDSHAKE)
		sg_ctl_send_initiation(c, p);
	if (d & SG_TIMERS_GIVE_UP) {
		c->st_ctl.give_up++;
		release_hs_index(c, cp);
		drop_staged(c, p);
	}
	if (d & SG_TIMERS_EXPIRE_KEYPAIRS) {
		c->st_ctl.expired++;
		sg_peers_clear_keypairs(c->dp->peers, p);
		sg_noise_peer_hs_zero(&cp->hs);
		release_hs_index(c, cp);
	}
}

static void print_status(struct sg_ctl *c)
{
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	uint64_t total = 0;
	unsigned i, sessions = 0;

	sg_ctl_sum(c, &drops, &st);
	for (i = 1; i < SG_DROP_MAX; i++)
		total += drops.n[i];
	for (i = 0; i < sg_peers_count(c->dp->peers); i++)
		sessions += sg_peers_at(c->dp->peers, i)->ks.current != NULL;
	sg_log(SG_LOG_INFO,
	       "status: peers %u sessions %u nic rx %lu tx %lu vm rx %lu tx %lu decrypted %lu "
	       "encrypted %lu handshakes in %lu out %lu drops %lu",
	       sg_peers_count(c->dp->peers), sessions, (unsigned long)st.nic_rx,
	       (unsigned long)st.nic_tx, (unsigned long)st.vm_rx, (unsigned long)st.vm_tx,
	       (unsigned long)st.decrypted, (unsigned long)st.encrypted,
	       (unsigned long)c->st_ctl.init_rx, (unsigned long)c->st_ctl.init_tx,
	       (unsigned long)total);
}

static void tick(struct sg_ctl *c, uint64_t now)
{
	unsigned i, n = sg_peers_count(c->dp->peers);

	for (i = 0; i < n; i++)
		tick_peer(c, sg_peers_at(c->dp->peers, i), now);
	sg_peers_reclaim(c->dp->peers);
	if (now >= c->next_gc_ns) {
		sg_ratelimit_gc(c->rl, now);
		c->next_gc_ns = now + CTL_NS_PER_S;
	}
	if (c->tc.status_interval_s > 0 && now >= c->next_status_ns) {
		if (c->next_status_ns != 0)
			print_status(c);
		c->next_status_ns = now + (uint64_t)c->tc.status_interval_s * CTL_NS_PER_S;
	}
}

/* Frames on the RX queue only the control lcore sees go to worker 0. */
static unsigned redirect_extra_rxq(struct sg_ctl *c)
{
	struct rte_mbuf *pkts[SG_BURST_MAX];
	struct sg_worker *w0 = c->dp->workers[0];
	unsigned n, q, total = 0;
	uint16_t rxq;

	for (rxq = c->extra_rxq; rxq < c->extra_rxq_end; rxq++) {
		n = rte_eth_rx_burst(c->dp->nic_port, rxq, pkts, (uint16_t)c->dp->burst);
		if (n == 0)
			continue;
		q = rte_ring_enqueue_burst(w0->redirect, (void **)pkts, n, NULL);
		c->st_ctl.redirected += q;
		for (; q < n; q++)
			sg_drop(c->dp->ctl, pkts[q], SG_DROP_TX_FULL);
		total += n;
	}
	return total;
}

void sg_ctl_run(struct sg_ctl *c)
{
	struct sg_dp *dp = c->dp;
	struct rte_mbuf *hs[SG_BURST_MAX];
	struct sg_peer *ev[SG_BURST_MAX];

	while (!atomic_load_explicit(&dp->quit, memory_order_relaxed)) {
		uint64_t now = sg_now_ns();
		unsigned n, i, work = 0;

		dp->ctl->now_ns = now;
		n = rte_ring_dequeue_burst(dp->hs_ring, (void **)hs, dp->burst, NULL);
		for (i = 0; i < n; i++)
			handle_handshake(c, hs[i]);
		work += n;
		n = rte_ring_dequeue_burst(dp->ev_ring, (void **)ev, dp->burst, NULL);
		for (i = 0; i < n; i++)
			handle_flags(c, ev[i], sg_peer_take_flags(ev[i]));
		work += n;
		if (c->has_extra_rxq)
			work += redirect_extra_rxq(c);
		if (now >= c->next_tick_ns) {
			tick(c, now);
			c->next_tick_ns = now + CTL_TICK_NS;
		}
		if (work == 0) {
			struct timespec ts = { 0, CTL_IDLE_SLEEP_NS };

			nanosleep(&ts, NULL);
		}
	}
}

void sg_ctl_sum(const struct sg_ctl *c, struct sg_drop_counters *drops, struct sg_worker_stats *st)
{
	const struct sg_dp *dp = c->dp;
	unsigned i;

	memset(drops, 0, sizeof(*drops));
	memset(st, 0, sizeof(*st));
	for (i = 0; i <= dp->n_workers; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;
		const uint64_t *a = (const uint64_t *)&w->st;
		uint64_t *b = (uint64_t *)st;
		size_t k;

		sg_drop_sum(drops, &w->drops);
		for (k = 0; k < sizeof(*st) / sizeof(uint64_t); k++)
			b[k] += a[k];
	}
}

static uint32_t ctl_rand(void *ctx)
{
	return sg_timers_splitmix32(ctx);
}

int sg_ctl_init(struct sg_ctl *c, struct sg_dp *dp, const uint8_t private_key[32])
{
	unsigned i, n = sg_peers_count(dp->peers);
	uint64_t now = sg_now_ns();
	int rc;

	c->dp = dp;
	c->start_ns = now;
	pthread_mutex_init(&c->tel_lock, NULL);
	rc = sg_noise_static_init(&c->st, private_key);
	if (rc != 0)
		return rc;
	sg_cookie_checker_init(&c->checker, c->st.public_key, now);
	c->rl = sg_ratelimit_create(1u << 16);
	if (c->rl == NULL)
		return -ENOMEM;
	sg_random(&c->rng, sizeof(c->rng));
	c->cps = rte_zmalloc("sg_ctl_peers", (n ? n : 1) * sizeof(*c->cps), 64);
	if (c->cps == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct sg_peer *p = sg_peers_at(dp->peers, i);
		struct ctl_peer *cp = &c->cps[i];

		p->ctl = cp;
		rc = sg_noise_peer_hs_init(&cp->hs, &c->st, p->public_key,
					   sg_is_zero(p->psk, sizeof(p->psk)) ? NULL : p->psk);
		if (rc != 0) {
			sg_log(SG_LOG_ERR, "peer %s: unusable public key", p->name);
			return rc;
		}
		sg_cookie_maker_init(&cp->maker, p->public_key);
		rc = sg_timers_init(&cp->timers, &c->tc.params, ctl_rand, &c->rng);
		if (rc != 0) {
			sg_log(SG_LOG_ERR, "[timers]: inconsistent protocol times");
			return rc;
		}
		if (p->keepalive_s > 0)
			sg_timers_set_persistent_keepalive(&cp->timers, p->keepalive_s, now);
	}
	return 0;
}

void sg_ctl_fini(struct sg_ctl *c)
{
	unsigned i, n;

	if (c->dp == NULL)
		return;
	n = sg_peers_count(c->dp->peers);
	for (i = 0; c->cps != NULL && i < n; i++) {
		sg_noise_peer_hs_clear(&c->cps[i].hs);
		sg_cookie_maker_clear(&c->cps[i].maker);
	}
	rte_free(c->cps);
	c->cps = NULL;
	sg_ratelimit_destroy(c->rl);
	sg_cookie_checker_clear(&c->checker);
	sg_noise_static_clear(&c->st);
}
