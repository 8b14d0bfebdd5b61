/* SPDX-License-Identifier: MIT */
/*
 * The control lcore: the handshake frames and peer events the workers queue
 * for it, handed to lib/control (cookies under load, the per-source rate
 * limit, Noise_IKpsk2 as responder and initiator), the session timers,
 * keypair rotation and the deferred frees.  Workers reach it through two
 * bounded rings and never wait for it; it sends on its own NIC TX queue.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/policy/sg_policy.h"
#include "pipelines/sg_gateway.h"
#include "pipelines/sg_stages.h"

#define CTL_TICK_NS	  (20ull * 1000 * 1000)
#define CTL_IDLE_SLEEP_NS 100000
#define CTL_NS_PER_S	  1000000000ull

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * CTL_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct sg_ctl_peer *cp_of(struct sg_peer *p)
{
	return p->ctl;
}

static struct sg_ctl_peer *ctl_peer(struct sg_control_peer *p)
{
	return (struct sg_ctl_peer *)((char *)p - offsetof(struct sg_ctl_peer, cp));
}

/* Brings p to the next tick: its timers or stamps changed outside a tick. */
static void visit_soon(struct sg_ctl *c, struct sg_peer *p)
{
	cp_of(p)->touched = true;
	sg_timers_queue_earlier(&c->due, p->id, c->dp->ctl->now_ns);
}

static void send_msg(struct sg_ctl *c, const struct sg_endpoint *ep, const void *msg, size_t len)
{
	struct sg_worker *w = c->dp->ctl;
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->dp->pool);
	void *p;

	w->st.made++;
	if (m == NULL) {
		sg_drop_count(&w->drops, SG_DROP_NO_MBUF, 1);
		return;
	}
	p = rte_pktmbuf_append(m, (uint16_t)len);
	if (p == NULL) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return;
	}
	/* Before the headers: their checksum covers the message. */
	memcpy(p, msg, len);
	if (sg_outer_push(&c->dp->gw, ep, m) != 0) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return;
	}
	sg_nic_send(w, &m, 1);
}

/* --- lib/control's upcalls: the data plane's peer and index tables --- */

static struct sg_control_peer *up_peer_by_key(void *ctx, const uint8_t key[32])
{
	struct sg_ctl *c = ctx;
	struct sg_peer *p = sg_peers_lookup_key(c->dp->peers, key);

	if (p == NULL) {
		/* The peer store may know it: handshake() asks the loader. */
		memcpy(c->miss_key, key, sizeof(c->miss_key));
		c->miss = true;
		return NULL;
	}
	return &cp_of(p)->cp;
}

static struct sg_control_peer *up_peer_by_index(void *ctx, uint32_t index)
{
	struct sg_ctl *c = ctx;
	struct sg_peer *p = sg_peers_index_owner(c->dp->peers, index);

	return p != NULL ? &cp_of(p)->cp : NULL;
}

static int up_index_alloc(void *ctx, struct sg_control_peer *p, uint32_t *index)
{
	struct sg_ctl *c = ctx;

	return sg_peers_index_alloc(c->dp->peers, ctl_peer(p)->peer, index);
}

static void up_index_free(void *ctx, uint32_t index)
{
	struct sg_ctl *c = ctx;

	sg_peers_index_free(c->dp->peers, index);
}

static void confirm_next(struct sg_ctl *c, struct sg_peer *peer);

static int up_session_new(void *ctx, struct sg_control_peer *p, const struct sg_noise_keypair *nk,
			  uint64_t now_ns)
{
	struct sg_ctl *c = ctx;
	struct sg_keypair *kp;

	kp = sg_peers_keypair_new(c->dp->peers, ctl_peer(p)->peer, nk->local_index,
				  nk->remote_index, nk->sending_key, nk->receiving_key,
				  nk->is_initiator, now_ns);
	if (kp == NULL)
		return -ENOMEM;
	confirm_next(c, ctl_peer(p)->peer);
	/* A failover pair's standby hears of it before any packet uses it. */
	sg_fleet_session_new(c, kp);
	sg_peers_install(c->dp->peers, kp);
	return 0;
}

static const struct sg_control_ops ctl_ops = {
	.peer_by_key = up_peer_by_key,
	.peer_by_index = up_peer_by_index,
	.index_alloc = up_index_alloc,
	.index_free = up_index_free,
	.session_new = up_session_new,
};

int sg_ctl_init(struct sg_ctl *c, struct sg_dp *dp, const struct sg_config *cfg,
		const struct sg_gateway_opts *o, unsigned max_peers)
{
	struct sg_timers_params tp;
	int rc;

	c->dp = dp;
	sg_timers_params_default(&tp);
	tp.rekey_after_time = cfg->timers.rekey_after_time;
	tp.reject_after_time = cfg->timers.reject_after_time;
	tp.keepalive_timeout = cfg->timers.keepalive_timeout;
	tp.rekey_timeout = cfg->timers.rekey_timeout;
	/* The protocol's rekey rules apply anyway; a shorter time is the gateway's own. */
	if (tp.rekey_after_time < SG_REKEY_AFTER_TIME_S)
		c->rekey_after_time_s = tp.rekey_after_time;
	c->status_interval_s = o->status_interval_s;
	c->drain_ns = (uint64_t)(o->drain_ms ? o->drain_ms : SG_DRAIN_MS) * 1000000ull;
	rc = sg_control_init(&c->core, cfg->interface.private_key, &tp, 1u << 16, &ctl_ops, c,
			     sg_now_ns());
	if (rc != 0)
		return rc;
	c->core.always_under_load = o->under_load;
	/*
	 * As Linux: the per-source limit is charged only under load and only
	 * for messages whose mac2 proves their source; otherwise anyone who
	 * knows our public key could spend a victim's /64 or IPv4 budget with
	 * junk, and spoofed sources could fill the limiter's table.
	 */
	c->core.ratelimit_under_load_only = true;
	c->cps = rte_zmalloc("sg_ctl_peers", (max_peers ? max_peers : 1) * sizeof(*c->cps), 64);
	if (c->cps == NULL)
		return -ENOMEM;
	return sg_timers_queue_init(&c->due, max_peers);
}

int sg_ctl_peer_init(struct sg_ctl *c, struct sg_peer *p)
{
	struct sg_ctl_peer *cp = &c->cps[p->id];
	int rc;

	rc = sg_control_peer_init(&c->core, &cp->cp, p->public_key, p->psk, p->keepalive_s,
				  sg_now_ns());
	if (rc != 0)
		return rc;
	cp->peer = p;
	cp->from_store = false;
	cp->active_ns = sg_now_ns();
	cp->touched = false;
	p->ctl = cp;
	/* Nothing to do before its first deadline (a persistent keepalive), if any. */
	sg_timers_queue_set(&c->due, p->id, sg_timers_next_deadline(&cp->cp.timers, 0));
	return 0;
}

void sg_ctl_peer_fini(struct sg_ctl *c, struct sg_peer *p)
{
	struct sg_ctl_peer *cp = cp_of(p);
	struct rte_mbuf *m;

	while (sg_peer_unstage(p, &m, 1) == 1) {
		sg_drop(c->dp->ctl, m, SG_DROP_NO_SESSION);
		cp->staged_dropped++;
	}
	atomic_store_explicit(&p->staged_at, 0, memory_order_relaxed);
	sg_timers_queue_remove(&c->due, p->id);
	sg_control_peer_clear(&c->core, &cp->cp);
	sg_wipe(&cp->cp, sizeof(cp->cp));
}

void sg_ctl_fini(struct sg_ctl *c)
{
	unsigned i, n;

	if (c->dp == NULL)
		return;
	n = c->dp->peers != NULL ? sg_peers_slots(c->dp->peers) : 0;
	for (i = 0; c->cps != NULL && i < n; i++)
		if (sg_peers_at(c->dp->peers, i) != NULL)
			sg_control_peer_clear(&c->core, &c->cps[i].cp);
	rte_free(c->cps);
	c->cps = NULL;
	sg_timers_queue_fini(&c->due);
	sg_control_fini(&c->core);
}

/* --- handshakes --- */

static void send_initiation(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_msg_initiation msg;
	struct sg_endpoint ep;

	sg_peer_endpoint_get(peer, &ep);
	if (ep.family == 0)
		return;
	if (sg_control_initiate(&c->core, &cp_of(peer)->cp, c->dp->ctl->now_ns, &msg) != 0)
		return;
	send_msg(c, &ep, &msg, sizeof(msg));
	sg_wipe(&msg, sizeof(msg));
}

static void control_src(struct sg_control_src *cs, const struct sg_endpoint *ep)
{
	cs->family = ep->family == 4 ? AF_INET : AF_INET6;
	memcpy(cs->addr, ep->addr, sizeof(cs->addr));
	cs->port_be = ep->port;
}

/* The response was consumed: confirm the session to the responder. */
static void session_up(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_worker *w = c->dp->ctl;

	cp_of(peer)->last_handshake_ns = wall_ns();
	if (sg_peer_staged_count(peer) > 0)
		sg_egress_flush_staged(w, peer);
	else if (sg_egress_keepalive(w, peer))
		c->st.keepalive_tx++;
}

/* Returns SG_DROP_NONE with *kept when the loader took m to ask the store. */
static enum sg_drop_reason handshake(struct sg_ctl *c, struct rte_mbuf *m, bool *kept)
{
	const struct sg_endpoint *src = &sg_meta(m)->src;
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, sg_meta(m)->wg_off);
	uint64_t now = c->dp->ctl->now_ns;
	struct sg_control_peer *p = NULL;
	struct sg_control_reply reply;
	struct sg_control_src cs;
	enum sg_drop_reason why;
	bool under;

	if (atomic_load_explicit(&c->dp->stopping, memory_order_relaxed))
		return SG_DROP_STOPPING;
	if (msg[0] == SG_MSG_COOKIE_REPLY)
		return sg_control_cookie_reply(&c->core, msg, now);
	if (msg[0] != SG_MSG_INITIATION && msg[0] != SG_MSG_RESPONSE)
		return SG_DROP_WG_TYPE;
	control_src(&cs, src);
	c->miss = false;
	/*
	 * An initiation back from its store lookup (kept == NULL) passed mac2 and
	 * the rate limit when it arrived: a load that came meanwhile must not ask
	 * it for a cookie (its first initiation unanswered) nor charge its
	 * source twice.  mac1 is checked again, as it costs nothing.
	 */
	under = kept != NULL && sg_control_under_load(&c->core, rte_ring_count(c->dp->hs_ring),
						      rte_ring_get_capacity(c->dp->hs_ring), now);
	c->hs_src = src;
	if (msg[0] == SG_MSG_INITIATION)
		why = sg_control_initiation(&c->core, msg, &cs, under, now, &reply, &p);
	else
		why = sg_control_response(&c->core, msg, &cs, under, now, &reply, &p);
	c->hs_src = NULL;
	if (reply.len > 0)
		send_msg(c, src, &reply.msg, reply.len);
	sg_wipe(&reply, sizeof(reply));
	/* mac1, the cookie and the rate limit passed: the store may know the key. */
	if (why == SG_DROP_WG_UNKNOWN_PEER && c->miss && c->loader != NULL && kept != NULL) {
		why = sg_loader_defer(c, c->miss_key, m);
		*kept = why == SG_DROP_NONE;
		return why;
	}
	if (why != SG_DROP_NONE)
		return why;
	sg_peer_endpoint_set(ctl_peer(p)->peer, src);
	ctl_peer(p)->active_ns = now;
	visit_soon(c, ctl_peer(p)->peer);
	if (msg[0] == SG_MSG_RESPONSE)
		session_up(c, ctl_peer(p)->peer);
	return SG_DROP_NONE;
}

static void handle_handshake(struct sg_ctl *c, struct rte_mbuf *m)
{
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, sg_meta(m)->wg_off);
	bool kept = false;
	enum sg_drop_reason why;

	/* Data under an unknown index, from an anycast member's worker. */
	if (msg[0] == SG_MSG_DATA) {
		sg_fleet_claim(c, m);
		return;
	}
	why = handshake(c, m, &kept);

	if (why != SG_DROP_NONE)
		sg_drop_count(&c->dp->ctl->drops, why, 1);
	else if (!kept)
		c->dp->ctl->st.consumed++;
	/* A kept initiation is in flight (sg_loader_held) until the store answers. */
	if (!kept)
		rte_pktmbuf_free(m);
}

void sg_ctl_handshake_again(struct sg_ctl *c, struct rte_mbuf *m)
{
	enum sg_drop_reason why = handshake(c, m, NULL);

	/* One initiation received, whatever it took to answer it. */
	c->core.stats.init_rx--;
	if (why != SG_DROP_NONE)
		sg_drop_count(&c->dp->ctl->drops, why, 1);
	else
		c->dp->ctl->st.consumed++;
	rte_pktmbuf_free(m);
}

/* --- peer events and timers --- */

static void drop_staged(struct sg_ctl *c, struct sg_peer *peer, enum sg_drop_reason why)
{
	struct rte_mbuf *m;

	while (sg_peer_unstage(peer, &m, 1) == 1) {
		sg_drop(c->dp->ctl, m, why);
		cp_of(peer)->staged_dropped++;
	}
	atomic_store_explicit(&peer->staged_at, 0, memory_order_relaxed);
}

/* Staged packets wait SG_STAGED_TIMEOUT_S at most, however often more come. */
static void expire_staged(struct sg_ctl *c, struct sg_peer *p, uint64_t now)
{
	uint64_t at = atomic_load_explicit(&p->staged_at, memory_order_relaxed);

	if (at != 0 && now > at && now - at >= (uint64_t)SG_STAGED_TIMEOUT_S * CTL_NS_PER_S)
		drop_staged(c, p, SG_DROP_STAGED_TIMEOUT);
}

static void want_handshake(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_worker *w = c->dp->ctl;

	/* A session may have come up since the worker asked. */
	if (sg_peer_tx_keypair(peer, w->now_ns) != NULL) {
		sg_egress_flush_staged(w, peer);
		return;
	}
	/* An anycast partner may hold its sessions: taken over, no handshake. */
	switch (sg_fleet_claim_peer(c, peer)) {
	case 1:
		sg_egress_flush_staged(w, peer);
		return;
	case -1:
		return;
	}
	if (sg_timers_handshake_wanted(&cp_of(peer)->cp.timers, w->now_ns))
		send_initiation(c, peer);
}

/*
 * Promotes the peer's next keypair to current once a worker has seen it
 * confirmed (a packet received under it).  Called for the worker's event and
 * before a new handshake replaces next: a client that rekeyed twice in a row
 * may have confirmed the first session while its second initiation was still
 * queued, and that session was live (counted, staged packets flushed) even
 * though the next one supersedes it.
 */
static void confirm_next(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_ctl_peer *cp = cp_of(peer);
	struct sg_keypair *next = peer->ks.next;

	if (next != NULL && atomic_load(&next->confirmed) &&
	    sg_peers_confirm(c->dp->peers, peer, next)) {
		sg_timers_handshake_complete(&cp->cp.timers, c->dp->ctl->now_ns);
		cp->last_handshake_ns = wall_ns();
		c->st.confirmed++;
		sg_egress_flush_staged(c->dp->ctl, peer);
	}
}

static void handle_flags(struct sg_ctl *c, struct sg_peer *peer, unsigned flags)
{
	/* Whatever the flags, the next tick reads the peer's stamps and timers. */
	visit_soon(c, peer);
	if (flags & SG_PEER_EV_CONFIRMED)
		confirm_next(c, peer);
	if (flags & SG_PEER_EV_WANT_HANDSHAKE)
		want_handshake(c, peer);
}

/* What the workers stamped on a peer since the last tick, as timer events. */
enum stamp { ST_RX, ST_DATA_RX, ST_TX, ST_DATA_TX, ST_COUNT };

static void report(struct sg_ctl_peer *cp, enum stamp k, uint64_t at)
{
	switch (k) {
	case ST_RX:
		sg_control_peer_received(&cp->cp, at);
		break;
	case ST_DATA_RX:
		sg_timers_data_received(&cp->cp.timers, at);
		break;
	case ST_TX:
		sg_control_peer_sent(&cp->cp, at);
		break;
	default:
		sg_timers_data_sent(&cp->cp.timers, at);
	}
}

/*
 * Reports the peer's new stamps to its timers in the order they happened: a
 * request sent and its answer received within one tick must read as "sent,
 * then received" (a passive keepalive later), not the other way round (a
 * needless handshake).  Equal stamps keep rx before tx.
 */
static unsigned feed_timers(struct sg_ctl_peer *cp, struct sg_peer *p)
{
	uint64_t at[ST_COUNT] = {
		atomic_load_explicit(&p->st.last_rx_ns, memory_order_relaxed),
		atomic_load_explicit(&p->st.last_data_rx_ns, memory_order_relaxed),
		atomic_load_explicit(&p->st.last_tx_ns, memory_order_relaxed),
		atomic_load_explicit(&p->st.last_data_tx_ns, memory_order_relaxed),
	};
	uint64_t *seen[ST_COUNT] = { &cp->seen_rx, &cp->seen_data_rx, &cp->seen_tx,
				     &cp->seen_data_tx };
	bool fresh[ST_COUNT];
	unsigned k, n = 0, moved;

	for (k = 0; k < ST_COUNT; k++) {
		fresh[k] = at[k] != *seen[k];
		n += fresh[k];
		*seen[k] = at[k];
	}
	moved = n;
	while (n-- > 0) {
		unsigned first = ST_COUNT;

		for (k = 0; k < ST_COUNT; k++)
			if (fresh[k] && (first == ST_COUNT || at[k] < at[first]))
				first = k;
		report(cp, (enum stamp)first, at[first]);
		fresh[first] = false;
	}
	return moved;
}

/* Section 6.2's rekey rules, plus the configured gateway-side rekey interval. */
static bool rekey_due(struct sg_ctl *c, struct sg_ctl_peer *cp, struct sg_peer *p, uint64_t now,
		      bool sent, bool received)
{
	struct sg_keypair *cur = p->ks.current;
	struct sg_timers_keypair tk;

	if (cur == NULL)
		return false;
	sg_timers_keypair_init(&tk, &cp->cp.timers, cur->initiator, cur->birth_ns);
	tk.sent = atomic_load_explicit(&cur->send_counter, memory_order_relaxed);
	if (sent && sg_timers_rekey_on_send(&tk, now))
		return true;
	if (received && sg_timers_rekey_on_receive(&cp->cp.timers, &tk, now))
		return true;
	return c->rekey_after_time_s > 0 && (sent || received) && p->ks.next == NULL &&
	       now - cur->birth_ns >= (uint64_t)c->rekey_after_time_s * CTL_NS_PER_S;
}

static uint64_t min_ns(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * When p is to be visited again: its earliest timer, its staged packets'
 * expiry, and the next tick after a visit that found it changed (moved).
 * That extra visit reads again what a worker may have written just as this
 * one cleared SG_PEER_EV_ACTIVE (a stamp or staged_at not yet visible then,
 * whose worker saw the flag still raised and queued nothing).
 */
static uint64_t next_visit(struct sg_ctl_peer *cp, struct sg_peer *p, uint64_t now, bool moved)
{
	uint64_t at = sg_timers_next_deadline(&cp->cp.timers, now);
	uint64_t staged = atomic_load_explicit(&p->staged_at, memory_order_relaxed);

	if (staged != 0)
		at = min_ns(at, staged + (uint64_t)SG_STAGED_TIMEOUT_S * CTL_NS_PER_S);
	else if (sg_peer_staged_count(p) > 0)
		moved = true; /* staged, its time not visible yet */
	if (moved)
		at = min_ns(at, now + CTL_TICK_NS);
	/* Due now is for the next tick, not this one again. */
	return at != SG_TIMERS_NEVER && at <= now ? now + 1 : at;
}

/*
 * What the old walk did to every peer, now done to the peers that are due:
 * the flags, the stamps fed to the timers, the staged packets' expiry, the
 * rekey rules, the timers' decisions.  A peer not visited has nothing due:
 * no stamp moved (a worker would have raised SG_PEER_EV_ACTIVE), no flag
 * (the event ring), no handshake (visit_soon), no deadline reached.
 */
static void tick_peer(struct sg_ctl *c, struct sg_peer *p, uint64_t now)
{
	struct sg_ctl_peer *cp = cp_of(p);
	uint64_t old_tx = cp->seen_data_tx, old_rx = cp->seen_data_rx;
	/* Before the stamps are read: a stamp written after this raises it again. */
	bool moved = sg_peer_take_active(p) || cp->touched;
	uint64_t rx = atomic_load_explicit(&p->st.last_rx_ns, memory_order_relaxed);
	unsigned d, flags = 0;

	cp->touched = false;
	if (rx > cp->active_ns)
		cp->active_ns = rx;

	if (atomic_load_explicit(&p->events, memory_order_relaxed) & ~(unsigned)SG_PEER_EV_ACTIVE)
		flags = sg_peer_take_flags(p) & ~(unsigned)SG_PEER_EV_ACTIVE;
	if (flags != 0)
		handle_flags(c, p, flags);
	if (feed_timers(cp, p) > 0)
		moved = true;
	expire_staged(c, p, now);
	if (rekey_due(c, cp, p, now, cp->seen_data_tx != old_tx, cp->seen_data_rx != old_rx) &&
	    sg_timers_handshake_wanted(&cp->cp.timers, now)) {
		c->st.rekeys++;
		send_initiation(c, p);
	}
	d = sg_timers_poll(&cp->cp.timers, now);
	if ((d & SG_TIMERS_SEND_KEEPALIVE) && sg_egress_keepalive(c->dp->ctl, p))
		c->st.keepalive_tx++;
	if ((d & SG_TIMERS_INITIATE_HANDSHAKE) && !sg_fleet_peer_at_partner(c, p))
		send_initiation(c, p);
	if (d & SG_TIMERS_GIVE_UP) {
		c->st.give_up++;
		sg_control_release_index(&c->core, &cp->cp);
		drop_staged(c, p, SG_DROP_NO_SESSION);
	}
	if (d & SG_TIMERS_EXPIRE_KEYPAIRS) {
		c->st.expired++;
		sg_peers_clear_keypairs(c->dp->peers, p);
		sg_noise_peer_hs_zero(&cp->cp.hs);
		sg_control_release_index(&c->core, &cp->cp);
	}
	moved = moved || cp->touched;
	cp->touched = false;
	sg_timers_queue_set(&c->due, p->id, next_visit(cp, p, now, moved));
}

static void print_status(struct sg_ctl *c)
{
	struct sg_gateway *gw = (struct sg_gateway *)((char *)c - offsetof(struct sg_gateway, ctl));
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	uint64_t total = 0;
	unsigned i, sessions = 0;

	sg_gateway_sum(gw, &drops, &st);
	for (i = 1; i < SG_DROP_MAX; i++)
		total += drops.n[i];
	for (i = 0; i < sg_peers_slots(c->dp->peers); i++) {
		struct sg_peer *p = sg_peers_at(c->dp->peers, i);

		sessions += p != NULL && p->ks.current != NULL;
	}
	sg_log(SG_LOG_INFO,
	       "status: peers %u sessions %u nic rx %lu tx %lu vm rx %lu tx %lu decrypted %lu "
	       "encrypted %lu handshakes in %lu out %lu drops %lu",
	       sg_peers_count(c->dp->peers), sessions, (unsigned long)st.nic_rx,
	       (unsigned long)st.nic_tx, (unsigned long)st.vm_rx, (unsigned long)st.vm_tx,
	       (unsigned long)st.decrypted, (unsigned long)st.encrypted,
	       (unsigned long)c->core.stats.init_rx, (unsigned long)c->core.stats.init_tx,
	       (unsigned long)total);
}

/*
 * The event ring refused a peer (never seen: it has room for every peer
 * twice): its flags stay raised with nobody to take them, so take every
 * peer's once.
 */
static void sweep_flags(struct sg_ctl *c)
{
	uint64_t lost = atomic_load_explicit(&c->dp->ev_lost, memory_order_relaxed);
	unsigned i, n = sg_peers_slots(c->dp->peers);

	if (lost == c->ev_lost_seen)
		return;
	c->ev_lost_seen = lost;
	for (i = 0; i < n; i++) {
		struct sg_peer *p = sg_peers_at(c->dp->peers, i);

		if (p != NULL && atomic_load_explicit(&p->events, memory_order_relaxed) != 0)
			handle_flags(c, p, sg_peer_take_flags(p));
	}
}

/* Visits the peers that are due, the earliest first, at most SG_CTL_TICK_VISITS_MAX. */
static void visit_due(struct sg_ctl *c, uint64_t now)
{
	uint64_t visits = 0;
	uint32_t id;

	while (visits < SG_CTL_TICK_VISITS_MAX && sg_timers_queue_pop(&c->due, now, &id)) {
		struct sg_peer *p = sg_peers_at(c->dp->peers, id);

		if (p == NULL || p->ctl == NULL)
			continue;
		tick_peer(c, p, now);
		visits++;
	}
	c->st.ticks++;
	c->st.tick_visits += visits;
	if (visits > c->st.tick_visits_max)
		c->st.tick_visits_max = visits;
}

static void tick(struct sg_ctl *c, uint64_t now)
{
	sweep_flags(c);
	visit_due(c, now);
	sg_peers_reclaim(c->dp->peers);
	if (now >= c->next_gc_ns) {
		sg_ratelimit_gc(c->core.rl, now);
		c->next_gc_ns = now + CTL_NS_PER_S;
	}
	if (c->heartbeat != NULL && now >= c->next_heartbeat_ns) {
		c->heartbeat();
		c->next_heartbeat_ns = now + c->heartbeat_ns;
	}
	if (c->status_interval_s > 0 && now >= c->next_status_ns) {
		if (c->next_status_ns != 0)
			print_status(c);
		c->next_status_ns = now + (uint64_t)c->status_interval_s * CTL_NS_PER_S;
	}
}

void sg_ctl_capture_drops(struct sg_ctl *c, struct sg_dropcap *dc)
{
	if (dc == NULL) {
		atomic_store(&c->dropcap_stop, true);
		return;
	}
	sg_dropcap_close(atomic_exchange(&c->dropcap_new, dc));
}

static void dropcap_end(struct sg_ctl *c)
{
	atomic_store(&c->dp->drop_capture, false);
	sg_log(SG_LOG_INFO, "drop capture: %lu frames in %s",
	       (unsigned long)sg_dropcap_written(c->dropcap), sg_dropcap_path(c->dropcap));
	sg_dropcap_close(c->dropcap);
	c->dropcap = NULL;
}

/* Takes over a new drop capture, writes what the workers dropped, ends it when done. */
static unsigned dropcap_poll(struct sg_ctl *c)
{
	struct sg_dropcap *nw = atomic_exchange(&c->dropcap_new, NULL);
	struct rte_mbuf *ms[SG_BURST_MAX];
	unsigned n;

	if (nw != NULL) {
		if (c->dropcap != NULL)
			dropcap_end(c);
		c->dropcap = nw;
		atomic_store(&c->dropcap_stop, false);
		atomic_store(&c->dp->drop_capture, true);
		sg_log(SG_LOG_INFO, "drop capture: writing dropped frames to %s",
		       sg_dropcap_path(nw));
	}
	n = rte_ring_dequeue_burst(c->dp->drop_ring, (void **)ms, SG_BURST_MAX, NULL);
	if (c->dropcap == NULL) {
		/* Frames dropped just before the capture ended. */
		rte_pktmbuf_free_bulk(ms, n);
		return n;
	}
	if (!sg_dropcap_write(c->dropcap, ms, n) || atomic_load(&c->dropcap_stop))
		dropcap_end(c);
	return n;
}

/* Hands a VM attach (cv) or removal (rm) to the control lcore and waits for it. */
static int vm_request(struct sg_ctl *c, const struct sg_config_vm *cv, const char *rm)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&c->req_lock);
	c->req_vm = cv;
	c->req_rm = rm;
	c->req_done = false;
	atomic_store_explicit(&c->req_pending, true, memory_order_release);
	while (!c->req_done && rc == 0)
		rc = pthread_cond_timedwait(&c->req_cond, &c->req_lock, &until);
	if (!c->req_done) {
		/* Not taken in time: withdraw it (the control lcore takes it under the lock). */
		atomic_store_explicit(&c->req_pending, false, memory_order_release);
		pthread_mutex_unlock(&c->req_lock);
		return -ETIMEDOUT;
	}
	rc = c->req_rc;
	pthread_mutex_unlock(&c->req_lock);
	return rc;
}

int sg_ctl_vm_attach(struct sg_ctl *c, const struct sg_config_vm *cv)
{
	return vm_request(c, cv, NULL);
}

int sg_ctl_vm_detach(struct sg_ctl *c, const char *name)
{
	return vm_request(c, NULL, name);
}

/* A VM to attach or remove from telemetry: done here, on the control lcore. */
static unsigned serve_requests(struct sg_ctl *c)
{
	struct sg_gateway *gw = (struct sg_gateway *)((char *)c - offsetof(struct sg_gateway, ctl));

	if (!atomic_load_explicit(&c->req_pending, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&c->req_lock);
	if (atomic_load_explicit(&c->req_pending, memory_order_acquire)) {
		c->req_rc = c->req_vm != NULL ? sg_gateway_vm_attach(gw, c->req_vm)
					      : sg_gateway_vm_detach(gw, c->req_rm);
		c->req_done = true;
		atomic_store_explicit(&c->req_pending, false, memory_order_release);
		pthread_cond_broadcast(&c->req_cond);
	}
	pthread_mutex_unlock(&c->req_lock);
	return 1;
}

unsigned sg_ctl_poll(struct sg_ctl *c, uint64_t now_ns)
{
	struct sg_dp *dp = c->dp;
	struct rte_mbuf *hs[SG_BURST_MAX];
	struct sg_peer *ev[SG_BURST_MAX];
	unsigned n, i, work = 0;

	dp->ctl->now_ns = now_ns;
	work += dropcap_poll(c);
	n = rte_ring_dequeue_burst(dp->hs_ring, (void **)hs, dp->burst, NULL);
	for (i = 0; i < n; i++)
		handle_handshake(c, hs[i]);
	work += n;
	n = rte_ring_dequeue_burst(dp->ev_ring, (void **)ev, dp->burst, NULL);
	for (i = 0; i < n; i++)
		if (!sg_peers_event_done(dp->peers, ev[i]))
			handle_flags(c, ev[i], sg_peer_take_flags(ev[i]));
	work += n;
	work += sg_loader_poll(c, now_ns);
	work += sg_fleet_poll(c, now_ns);
	work += serve_requests(c);
	if (now_ns >= c->next_tick_ns) {
		tick(c, now_ns);
		c->next_tick_ns = now_ns + CTL_TICK_NS;
	}
	return work;
}

/* Whether a stop has drained what it can: everything sent, or its time is up. */
static bool drained(struct sg_ctl *c, uint64_t now)
{
	struct sg_gateway *gw = (struct sg_gateway *)((char *)c - offsetof(struct sg_gateway, ctl));

	if (c->drain_end_ns == 0) {
		c->drain_end_ns = now + c->drain_ns;
		sg_log(SG_LOG_INFO, "stopping: handshakes refused, draining for up to %lu ms",
		       (unsigned long)(c->drain_ns / 1000000));
	}
	return now >= c->drain_end_ns || sg_gateway_in_flight(gw) == 0;
}

void sg_ctl_run(struct sg_ctl *c)
{
	while (!atomic_load_explicit(&c->dp->quit, memory_order_relaxed)) {
		uint64_t now = sg_now_ns();

		if (atomic_load_explicit(&c->dp->stopping, memory_order_relaxed) &&
		    drained(c, now)) {
			atomic_store(&c->dp->quit, true);
			break;
		}
		if (sg_ctl_poll(c, now) == 0) {
			struct timespec ts = { 0, CTL_IDLE_SLEEP_NS };

			nanosleep(&ts, NULL);
		}
	}
}
