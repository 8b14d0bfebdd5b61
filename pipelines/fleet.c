/* SPDX-License-Identifier: MIT */
/*
 * A failover pair's member (docs/fleet.md), on the control lcore: the state
 * channel over a kernel UDP socket (lib/fleet seals and opens its messages),
 * the member's state (joining, standby, active), the sessions it syncs to
 * its partner as they are made, their send-counter leases and receive
 * marks, and the takeover that installs the partner's sessions with the
 * same keys and indices, counters above every lease the partner may have
 * used, and announces the gateway's addresses from this member's MAC.
 *
 * The workers see two things of it: dp->standby (a standby takes nothing
 * from its ports and sends nothing) and each keypair's send_limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/allowedips/sg_allowedips.h"
#include "lib/fleet/sg_fleet.h"
#include "lib/routing/sg_routing.h"
#include "pipelines/sg_gateway.h"
#include "pipelines/sg_net.h"
#include "pipelines/sg_stages.h"

#define NS_PER_MS 1000000ull
/* The sweep of leases, marks and gone sessions: every 20 ms, at most this many a round. */
#define SWEEP_NS   (20ull * NS_PER_MS)
#define SWEEP_MAX  4096
#define RX_PER_RUN 64

/* One session the pair knows of, by its local (receiver) index. */
struct fl_sess {
	uint32_t index;
	uint32_t pos; /* in live[] */
	/* Active: the lease the standby acknowledged, and the last mark sent. */
	struct sg_lease lease;
	uint64_t asked_ns;
	uint64_t mark_sent;
	/* Standby: the session as the partner synced it, and what it heard since. */
	bool heard;
	struct sg_fleet_session s;
	uint64_t heard_end, mark;
};

struct sg_fleet {
	struct sg_gateway *gw;
	int fd;
	struct sockaddr_storage partner;
	socklen_t partner_len;
	struct sg_fleet_chan ch;
	uint64_t heartbeat_ns, takeover_ns;
	uint64_t started_ns, partner_seen_ns, next_hb_ns, next_sweep_ns, last_resync_ns;
	uint32_t mask;
	struct fl_sess **slot; /* mask + 1, by index & mask */
	uint32_t *live;	       /* slots in use, dense */
	uint32_t n_live, sweep_pos;
	struct sg_fleet_mark marks[SG_FLEET_MARKS];
	unsigned n_marks;
	/* Both members active, sessions taken over on demand ([fleet] mode = anycast). */
	bool anycast;
	/* The partner's VM prefixes routed to it (nh SG_FLEET_ROUTE_NH). */
	struct sg_fleet_route routes[SG_MAX_VMS];
	unsigned n_routes;
	uint64_t next_routes_ns;
	struct sg_fleet_stats st;
};

/* Whether f takes in the partner's sessions now: a standby, or any anycast member. */
static bool hears(const struct sg_fleet *f)
{
	return f->anycast || f->st.state != SG_FLEET_ACTIVE;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *state_name(unsigned s)
{
	switch (s) {
	case SG_FLEET_JOINING:
		return "joining";
	case SG_FLEET_STANDBY:
		return "standby";
	case SG_FLEET_ACTIVE:
		return "active";
	default:
		return "none";
	}
}

const char *sg_fleet_state_name(unsigned state)
{
	return state_name(state);
}

/* --- the session table --- */

static struct fl_sess *sess_find(struct sg_fleet *f, uint32_t index)
{
	struct fl_sess *e = f->slot[index & f->mask];

	return e != NULL && e->index == index ? e : NULL;
}

static void sess_free(struct sg_fleet *f, struct fl_sess *e)
{
	uint32_t s = e->index & f->mask, last = f->live[--f->n_live];

	if (last != s) {
		f->live[e->pos] = last;
		f->slot[last]->pos = e->pos;
	}
	f->slot[s] = NULL;
	sg_wipe(e, sizeof(*e));
	free(e);
}

/* The entry of index, new (an older one in its slot goes) or as it was. */
static struct fl_sess *sess_get(struct sg_fleet *f, uint32_t index)
{
	uint32_t s = index & f->mask;
	struct fl_sess *e = f->slot[s];

	if (e != NULL && e->index == index)
		return e;
	if (e != NULL)
		sess_free(f, e);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	e->index = index;
	e->pos = f->n_live;
	f->live[f->n_live++] = s;
	f->slot[s] = e;
	return e;
}

static void sess_clear_all(struct sg_fleet *f)
{
	while (f->n_live > 0)
		sess_free(f, f->slot[f->live[f->n_live - 1]]);
}

/* A session of ours with no partner to lease from: its lease is our own. */
static void sess_alone(struct fl_sess *e)
{
	sg_lease_init(&e->lease, 0);
	sg_lease_alone(&e->lease);
}

/* A heard session we installed: ours now, its keys wiped here. */
static void sess_make_own(struct fl_sess *e)
{
	sg_wipe(&e->s, sizeof(e->s));
	e->heard = false;
	sess_alone(e);
}

/* The endpoint a synced session carries. */
static void endpoint_of(const struct sg_fleet_session *m, struct sg_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = m->ep_family;
	ep->port = m->ep_port;
	memcpy(ep->addr, m->ep_addr, 16);
	memcpy(ep->mac, m->ep_mac, 6);
}

/* --- the channel --- */

static void chan_send(struct sg_fleet *f, enum sg_fleet_type type, const void *payload, size_t len,
		      uint64_t *seq)
{
	uint8_t out[sizeof(struct sg_fleet_hdr) + SG_FLEET_NONCE + SG_FLEET_MAX_MSG + SG_FLEET_TAG];
	int n = sg_fleet_seal(&f->ch, type, payload, len, out, sizeof(out), seq);

	if (n < 0) {
		f->st.tx_errors++;
		return;
	}
	if (sendto(f->fd, out, (size_t)n, MSG_DONTWAIT, (const struct sockaddr *)&f->partner,
		   f->partner_len) != n)
		f->st.tx_errors++;
	else
		f->st.tx_msgs++;
	sg_wipe(out, (size_t)n);
}

static void send_state(struct sg_fleet *f, enum sg_fleet_type type)
{
	struct sg_fleet_heartbeat hb = { .state = (uint8_t)f->st.state, .sessions = f->n_live };

	chan_send(f, type, &hb, sizeof(hb), NULL);
}

static void send_ack(struct sg_fleet *f, uint64_t seq, uint32_t index)
{
	struct sg_fleet_ack a = { .seq = seq, .local_index = index };

	chan_send(f, SG_FLEET_ACK, &a, sizeof(a), NULL);
}

static void flush_marks(struct sg_fleet *f)
{
	if (f->n_marks == 0)
		return;
	chan_send(f, SG_FLEET_RX_MARK, f->marks, f->n_marks * sizeof(f->marks[0]), NULL);
	f->st.marks_sent += f->n_marks;
	f->n_marks = 0;
}

/*
 * The session message of kp, with the lease end the partner is to hear; its
 * endpoint is src when given (the handshake that makes it, before the peer's
 * endpoint moves there).
 */
static void session_msg(struct sg_keypair *kp, uint64_t lease_end, const struct sg_endpoint *src,
			struct sg_fleet_session *m)
{
	struct sg_peer *p = kp->peer;
	struct sg_endpoint ep;
	uint64_t now = sg_now_ns();

	memset(m, 0, sizeof(*m));
	memcpy(m->peer_public_key, p->public_key, 32);
	m->local_index = kp->local_index;
	m->remote_index = kp->remote_index;
	memcpy(m->send_key, kp->send_key, 32);
	memcpy(m->recv_key, kp->recv_key, 32);
	m->birth_unix_ns = wall_ns() - (now > kp->birth_ns ? now - kp->birth_ns : 0);
	m->lease_end = lease_end;
	m->rx_mark = __atomic_load_n(&kp->replay.top, __ATOMIC_RELAXED);
	m->initiator = kp->initiator;
	if (src != NULL)
		ep = *src;
	else
		sg_peer_endpoint_get(p, &ep);
	m->ep_family = ep.family;
	m->ep_port = ep.port;
	memcpy(m->ep_addr, ep.addr, 16);
	memcpy(m->ep_mac, ep.mac, 6);
}

/* Sends kp to the partner with a first lease of a block above what it may have used. */
static void sync_session(struct sg_fleet *f, struct fl_sess *e, struct sg_keypair *kp,
			 const struct sg_endpoint *src)
{
	struct sg_fleet_session m;
	uint64_t end =
		atomic_load_explicit(&kp->send_counter, memory_order_relaxed) + SG_LEASE_BLOCK;

	sg_lease_init(&e->lease, 0);
	e->lease.limit = end;
	e->mark_sent = __atomic_load_n(&kp->replay.top, __ATOMIC_RELAXED);
	/* The limit first: the partner hears an end above every counter sent. */
	atomic_store_explicit(&kp->send_limit, end, memory_order_release);
	session_msg(kp, end, src, &m);
	chan_send(f, SG_FLEET_SESSION, &m, sizeof(m), NULL);
	sg_wipe(&m, sizeof(m));
	f->st.sessions_sent++;
}

static bool partner_up(const struct sg_fleet *f)
{
	return f->st.partner_up != 0;
}

/*
 * Anycast: the partner was heard within two seconds.  What is forwarded to
 * it, and whether to forward rather than take a session over, goes by this,
 * not by partner_up: a member descheduled for a takeover time under load
 * must not make the other take every session it holds.
 */
#define PARTNER_REACHABLE_NS (2000 * NS_PER_MS)
static bool partner_reachable(const struct sg_fleet *f, uint64_t now)
{
	return f->partner_seen_ns != 0 && now - f->partner_seen_ns < PARTNER_REACHABLE_NS;
}

/*
 * Every live session to the partner, then RESYNC_DONE (it joined or came
 * back); at most once a takeover time.  Returns whether it ran.
 */
static bool bulk_resync(struct sg_fleet *f, uint64_t now)
{
	const struct sg_peers_index *ix = sg_peers_index_table(f->gw->dp.peers);
	uint32_t i;

	if (f->last_resync_ns != 0 && now - f->last_resync_ns < f->takeover_ns)
		return false;
	f->last_resync_ns = now;
	for (i = 0; i < f->n_live;) {
		struct fl_sess *e = f->slot[f->live[i]];
		struct sg_keypair *kp;

		if (e->heard) {
			i++;
			continue;
		}
		kp = sg_peers_lookup_index(ix, e->index);
		if (kp == NULL) {
			sess_free(f, e);
			continue;
		}
		sync_session(f, e, kp, NULL);
		i++;
	}
	send_state(f, SG_FLEET_RESYNC_DONE);
	f->st.resyncs_sent++;
	return true;
}

/* The partner is gone: the sessions' leases are ours alone (sg_lease_alone). */
static void announce(struct sg_fleet *f);

static void partner_lost(struct sg_fleet *f)
{
	const struct sg_peers_index *ix = sg_peers_index_table(f->gw->dp.peers);
	uint32_t i;

	f->st.partner_up = 0;
	f->st.partner_lost++;
	for (i = 0; i < f->n_live; i++) {
		struct fl_sess *e = f->slot[f->live[i]];
		struct sg_keypair *kp;

		if (e->heard)
			continue;
		kp = sg_peers_lookup_index(ix, e->index);
		sg_lease_alone(&e->lease);
		if (kp != NULL)
			atomic_store_explicit(&kp->send_limit, UINT64_MAX, memory_order_release);
	}
	sg_log(SG_LOG_WARN, "fleet: partner %u silent for %llu ms: going on alone", f->ch.partner,
	       (unsigned long long)(f->takeover_ns / NS_PER_MS));
}

/* --- taking over --- */

static struct rte_mbuf *frame_alloc(struct sg_worker *w, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(w->dp->pool);

	w->st.made++;
	if (m == NULL) {
		sg_drop_count(&w->drops, SG_DROP_NO_MBUF, 1);
		return NULL;
	}
	if (rte_pktmbuf_append(m, (uint16_t)len) == NULL) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return NULL;
	}
	memset(rte_pktmbuf_mtod(m, void *), 0, len);
	return m;
}

/*
 * An unsolicited neighbour advertisement of target from mac to all nodes,
 * with the override flag: every neighbour cache that has target moves to mac,
 * and the switches learn where mac is.
 */
static struct rte_mbuf *unsolicited_na(struct sg_worker *w, const uint8_t target[16],
				       const struct rte_ether_addr *mac)
{
	static const struct rte_ether_addr all_nodes = { { 0x33, 0x33, 0, 0, 0, 1 } };
	const uint32_t len = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + 32;
	struct rte_mbuf *m = frame_alloc(w, len);
	struct rte_ether_hdr *eth;

	if (m == NULL)
		return NULL;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	/* sg_nd_make_advert answers a solicitation from :: to all nodes. */
	eth->src_addr = all_nodes;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	if (sg_nd_make_advert(m, target, mac, SG_ND_NA_OVERRIDE) != 0) {
		sg_drop(w, m, SG_DROP_NO_MBUF);
		return NULL;
	}
	return m;
}

/* A gratuitous ARP: a broadcast request for our own IPv4 address from our MAC. */
static struct rte_mbuf *gratuitous_arp(struct sg_worker *w, const struct sg_gw *gw)
{
	struct rte_mbuf *m =
		frame_alloc(w, sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return NULL;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	eth->src_addr = gw->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = gw->mac;
	memcpy(&arp->arp_data.arp_sip, gw->v4, 4);
	memcpy(&arp->arp_data.arp_tip, gw->v4, 4);
	return m;
}

/* The gateway's addresses are ours now: on the NIC, and the VM-side router in every VM. */
static void announce(struct sg_fleet *f)
{
	static const uint8_t vm_gw_ll[16] = { 0xfe, 0x80, [15] = 0x01 };
	struct sg_dp *dp = &f->gw->dp;
	struct sg_worker *w = dp->ctl;
	struct rte_mbuf *m;
	unsigned i;

	if (dp->gw.has_v6) {
		if ((m = unsolicited_na(w, dp->gw.v6, &dp->gw.mac)) != NULL)
			sg_nic_send(w, &m, 1);
		if ((m = unsolicited_na(w, dp->gw.v6_ll, &dp->gw.mac)) != NULL)
			sg_nic_send(w, &m, 1);
	}
	if (dp->gw.has_v4 && (m = gratuitous_arp(w, &dp->gw)) != NULL)
		sg_nic_send(w, &m, 1);
	for (i = 0; i < dp->n_vms; i++) {
		if (dp->vms[i].detached)
			continue;
		if ((m = unsolicited_na(w, vm_gw_ll, &dp->vms[i].gw_mac)) != NULL)
			sg_vm_deliver(w, i, &m, 1);
	}
	f->st.announcements++;
}

static int by_birth(const void *a, const void *b)
{
	const struct fl_sess *x = *(const struct fl_sess *const *)a;
	const struct fl_sess *y = *(const struct fl_sess *const *)b;

	return x->s.birth_unix_ns < y->s.birth_unix_ns ? -1
						       : x->s.birth_unix_ns > y->s.birth_unix_ns;
}

/* Installs one heard session; false when it cannot be (its peer unknown here, its index taken). */
static bool take_session(struct sg_fleet *f, struct fl_sess *e, uint64_t now, uint64_t wall)
{
	struct sg_peers *t = f->gw->dp.peers;
	struct sg_peer *peer = sg_peers_lookup_key(t, e->s.peer_public_key);
	struct sg_keypair *kp;
	struct sg_endpoint ep;
	uint64_t age, birth;

	if (peer == NULL || sg_peers_index_claim(t, peer, e->index) != 0)
		return false;
	age = wall > e->s.birth_unix_ns ? wall - e->s.birth_unix_ns : 0;
	birth = now > age ? now - age : 0;
	kp = sg_peers_keypair_new(t, peer, e->index, e->s.remote_index, e->s.send_key,
				  e->s.recv_key, e->s.initiator != 0, birth);
	if (kp == NULL) {
		sg_peers_index_free(t, e->index);
		return false;
	}
	/* Above every counter the old active may have used, even alone (split brain). */
	atomic_store_explicit(&kp->send_counter, sg_lease_takeover_start(e->heard_end),
			      memory_order_relaxed);
	sg_replay_init_above(&kp->replay, e->mark);
	if (e->s.ep_family != 0) {
		endpoint_of(&e->s, &ep);
		sg_peer_endpoint_set(peer, &ep);
	}
	sg_peers_install_current(t, kp);
	if (peer->ctl != NULL)
		((struct sg_ctl_peer *)peer->ctl)->last_handshake_ns = e->s.birth_unix_ns;
	return true;
}

static void takeover(struct sg_fleet *f, uint64_t now, const char *why)
{
	uint64_t wall = wall_ns(), t0 = sg_now_ns();
	struct fl_sess **v = malloc((f->n_live ? f->n_live : 1) * sizeof(*v));
	uint32_t i, n = 0, taken = 0, skipped = 0;

	for (i = 0; v != NULL && i < f->n_live; i++)
		if (f->slot[f->live[i]]->heard)
			v[n++] = f->slot[f->live[i]];
	/* Oldest first: each peer ends with its newest session current. */
	if (n > 1)
		qsort(v, n, sizeof(*v), by_birth);
	for (i = 0; i < n; i++) {
		if (take_session(f, v[i], now, wall))
			taken++;
		else
			skipped++;
	}
	free(v);
	/* What was heard becomes ours: keys wiped here, leases our own (alone). */
	for (i = 0; i < f->n_live;) {
		struct fl_sess *e = f->slot[f->live[i]];

		if (!e->heard || sg_peers_lookup_index(sg_peers_index_table(f->gw->dp.peers),
						       e->index) == NULL) {
			sess_free(f, e);
			continue;
		}
		e->mark_sent = e->mark;
		sess_make_own(e);
		i++;
	}
	f->st.state = SG_FLEET_ACTIVE;
	f->st.partner_up = 0;
	f->st.takeovers++;
	f->st.taken_sessions += taken;
	f->st.skipped_sessions += skipped;
	atomic_store_explicit(&f->gw->dp.standby, false, memory_order_release);
	announce(f);
	f->st.last_takeover_us = (sg_now_ns() - t0) / 1000;
	f->st.last_silence_ms = f->partner_seen_ns ? (now - f->partner_seen_ns) / NS_PER_MS : 0;
	sg_log(SG_LOG_WARN,
	       "fleet: taking over from partner %u (%s): %u sessions installed, %u skipped, in "
	       "%llu us",
	       f->ch.partner, why, taken, skipped, (unsigned long long)f->st.last_takeover_us);
}

/* Active alone from the start: no partner answered while we joined. */
static void become_active(struct sg_fleet *f)
{
	f->st.state = SG_FLEET_ACTIVE;
	f->st.partner_up = 0;
	atomic_store_explicit(&f->gw->dp.standby, false, memory_order_release);
	announce(f);
	sg_log(SG_LOG_INFO, "fleet: node %u active (partner %u not heard)", f->ch.self,
	       f->ch.partner);
}

/* Both active after the channel healed: the lower node id yields and resyncs. */
static void yield(struct sg_fleet *f)
{
	struct sg_gateway *gw = f->gw;
	unsigned i, n = sg_peers_slots(gw->dp.peers);

	atomic_store_explicit(&gw->dp.standby, true, memory_order_release);
	for (i = 0; i < n; i++) {
		struct sg_peer *p = sg_peers_at(gw->dp.peers, i);

		if (p != NULL)
			sg_peers_clear_keypairs(gw->dp.peers, p);
	}
	sess_clear_all(f);
	f->st.state = SG_FLEET_JOINING;
	f->st.partner_up = 0;
	f->st.yields++;
	send_state(f, SG_FLEET_HELLO);
	sg_log(SG_LOG_WARN, "fleet: partner %u is active too: node %u yields and resyncs",
	       f->ch.partner, f->ch.self);
}

/* --- routes between the members: each forwards to the other's VMs --- */

/* Our VMs' prefixes, to the partner (anycast: every second and on its hello). */
static void send_routes(struct sg_fleet *f)
{
	struct sg_dp *dp = &f->gw->dp;
	struct sg_fleet_route r[SG_MAX_VMS];
	unsigned i, n = 0;

	for (i = 0; i < dp->n_vms; i++) {
		if (dp->vms[i].detached)
			continue;
		memcpy(r[n].prefix, dp->vms[i].prefix, 16);
		r[n++].len = dp->vms[i].prefix_len;
	}
	chan_send(f, SG_FLEET_ROUTES, r, n * sizeof(r[0]), NULL);
}

static bool route_in(const struct sg_fleet_route *v, unsigned n, const struct sg_fleet_route *r)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i].len == r->len && memcmp(v[i].prefix, r->prefix, 16) == 0)
			return true;
	return false;
}

/* The partner's prefixes now: routes to what it left go, to what is new come (ours win). */
static void on_routes(struct sg_fleet *f, const uint8_t *pl, size_t len)
{
	struct sg_routing *rt = f->gw->dp.routes;
	struct sg_fleet_route v[SG_MAX_VMS];
	unsigned n = 0, i, keep = 0;
	uint32_t nh;

	for (i = 0; i < len / sizeof(v[0]) && n < SG_MAX_VMS; i++) {
		memcpy(&v[n], pl + i * sizeof(v[0]), sizeof(v[0]));
		if (v[n].len <= 128)
			n++;
	}
	for (i = 0; i < f->n_routes; i++) {
		if (route_in(v, n, &f->routes[i])) {
			f->routes[keep++] = f->routes[i];
			continue;
		}
		if (sg_routing_get(rt, f->routes[i].prefix, f->routes[i].len, &nh) == 0 &&
		    nh == SG_FLEET_ROUTE_NH)
			sg_routing_delete(rt, f->routes[i].prefix, f->routes[i].len);
	}
	f->n_routes = keep;
	for (i = 0; i < n; i++) {
		if (route_in(f->routes, f->n_routes, &v[i]))
			continue;
		/* A VM of ours with that prefix keeps it. */
		if (sg_routing_get(rt, v[i].prefix, v[i].len, &nh) == 0)
			continue;
		if (sg_routing_add(rt, v[i].prefix, v[i].len, SG_FLEET_ROUTE_NH) == 0)
			f->routes[f->n_routes++] = v[i];
	}
	f->st.partner_routes = f->n_routes;
}

/* Sends the inner packet of m (and the peer it is for, when out) to the partner; frees m. */
static void forward(struct sg_fleet *f, struct rte_mbuf *m, const struct sg_peer *to)
{
	struct sg_worker *w = f->gw->dp.ctl;
	uint8_t pl[SG_FLEET_MAX_MSG];
	uint32_t len = rte_pktmbuf_pkt_len(m), off = to != NULL ? 32 : 0;

	if (len + off > sizeof(pl) || !partner_reachable(f, w->now_ns)) {
		sg_drop(w, m, SG_DROP_FLEET_FORWARD);
		return;
	}
	if (to != NULL)
		memcpy(pl, to->public_key, 32);
	{
		/* rte_pktmbuf_read copies only what is not contiguous. */
		const void *d = rte_pktmbuf_read(m, 0, len, pl + off);

		if (d != pl + off)
			memcpy(pl + off, d, len);
	}
	chan_send(f, to != NULL ? SG_FLEET_FWD_OUT : SG_FLEET_FWD_IN, pl, len + off, NULL);
	sg_wipe(pl, len + off);
	w->st.consumed++;
	f->st.forwarded++;
	rte_pktmbuf_free(m);
}

/* An inner packet in a fresh mbuf, with room for what is put in front of it. */
static struct rte_mbuf *inner_mbuf(struct sg_fleet *f, const uint8_t *pkt, size_t len)
{
	struct rte_mbuf *m = frame_alloc(f->gw->dp.ctl, (uint32_t)len);

	if (m != NULL)
		memcpy(rte_pktmbuf_mtod(m, void *), pkt, len);
	return m;
}

/* FWD_IN: an inner packet the partner routed to one of our VMs (its policy passed there). */
static void on_fwd_in(struct sg_fleet *f, const uint8_t *pkt, size_t len)
{
	struct sg_dp *dp = &f->gw->dp;
	struct rte_mbuf *m;
	struct rte_ether_hdr *eth;
	uint32_t nh;

	if (len < sizeof(struct rte_ipv6_hdr) || (pkt[0] >> 4) != 6) {
		f->st.forward_refused++;
		return;
	}
	nh = sg_routing_lookup(dp->routes, pkt + 24);
	if (nh >= dp->n_vms || dp->vms[nh].detached) {
		f->st.forward_refused++;
		return;
	}
	if ((m = inner_mbuf(f, pkt, len)) == NULL)
		return;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eth));
	if (eth == NULL) {
		sg_drop(dp->ctl, m, SG_DROP_NO_MBUF);
		return;
	}
	sg_u64_to_mac(atomic_load_explicit(&dp->vms[nh].vm_mac, memory_order_relaxed),
		      &eth->dst_addr);
	rte_ether_addr_copy(&dp->vms[nh].gw_mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	f->st.forwards_in++;
	sg_vm_deliver(dp->ctl, nh, &m, 1);
}

/* FWD_OUT: an inner packet from a VM of the partner's to a peer whose session is ours. */
static void on_fwd_out(struct sg_fleet *f, const uint8_t *pl, size_t len)
{
	struct sg_dp *dp = &f->gw->dp;
	struct sg_peer *p;
	struct rte_mbuf *m;

	if (len < 32 + sizeof(struct rte_ipv6_hdr) || (pl[32] >> 4) != 6) {
		f->st.forward_refused++;
		return;
	}
	p = sg_peers_lookup_key(dp->peers, pl);
	/* Only to the peer the destination belongs to, and only on a session of ours. */
	if (p == NULL || sg_allowedips_lookup(dp->aips, AF_INET6, pl + 32 + 24) != p ||
	    sg_peer_tx_keypair(p, dp->ctl->now_ns) == NULL) {
		f->st.forward_refused++;
		return;
	}
	if ((m = inner_mbuf(f, pl + 32, len - 32)) == NULL)
		return;
	f->st.forwards_out++;
	sg_egress_peer(dp->ctl, p, &m, 1);
}

/* Whether the partner holds a session of the peer with this key. */
static bool partner_holds(const struct sg_fleet *f, const uint8_t key[32])
{
	for (uint32_t i = 0; i < f->n_live; i++) {
		const struct fl_sess *e = f->slot[f->live[i]];

		if (e->heard && sg_memeq(e->s.peer_public_key, key, 32))
			return true;
	}
	return false;
}

/* --- anycast: a peer's sessions taken over on demand --- */

/*
 * Installs every session the partner synced for the peer with this key (its
 * client's packets now reach us), makes them ours and tells the partner,
 * which retires its own.  Returns how many were installed.
 */
static unsigned claim_peer(struct sg_fleet *f, const uint8_t *key_in, uint64_t now)
{
	struct fl_sess *v[8];
	uint8_t key[32];
	uint64_t wall = wall_ns();
	unsigned n = 0, taken = 0, i, j;
	const struct sg_peers_index *ix = sg_peers_index_table(f->gw->dp.peers);

	/* A copy: key_in may be a heard session's, which is wiped below. */
	memcpy(key, key_in, sizeof(key));
	for (i = 0; i < f->n_live && n < SG_ARRAY_SIZE(v); i++) {
		struct fl_sess *e = f->slot[f->live[i]];

		if (e->heard && sg_memeq(e->s.peer_public_key, key, 32))
			v[n++] = e;
	}
	if (n == 0)
		return 0;
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && v[j - 1]->s.birth_unix_ns > v[j]->s.birth_unix_ns; j--) {
			struct fl_sess *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		struct fl_sess *e = v[i];

		if (!take_session(f, e, now, wall)) {
			f->st.skipped_sessions++;
			sess_free(f, e);
			v[i] = NULL;
			continue;
		}
		taken++;
		sess_make_own(e);
	}
	/* First TAKEN, so that the partner has let its own go when our SESSIONs come. */
	chan_send(f, SG_FLEET_TAKEN, key, 32, NULL);
	for (i = 0; i < n; i++) {
		struct sg_keypair *kp =
			v[i] != NULL ? sg_peers_lookup_index(ix, v[i]->index) : NULL;

		if (kp != NULL && partner_reachable(f, now))
			sync_session(f, v[i], kp, NULL);
	}
	f->st.claims++;
	f->st.taken_sessions += taken;
	return taken;
}

/* The partner took the peer of key: its sessions here are retired. */
static void on_taken(struct sg_fleet *f, const uint8_t key[32])
{
	struct sg_peers *t = f->gw->dp.peers;
	struct sg_peer *p = sg_peers_lookup_key(t, key);
	uint32_t i;

	if (p == NULL)
		return;
	for (i = 0; i < f->n_live;) {
		struct fl_sess *e = f->slot[f->live[i]];
		struct sg_keypair *kp =
			e->heard ? NULL : sg_peers_lookup_index(sg_peers_index_table(t), e->index);

		if (kp != NULL && kp->peer == p) {
			sess_free(f, e);
			continue;
		}
		i++;
	}
	sg_peers_clear_keypairs(t, p);
	if (p->ctl != NULL)
		((struct sg_ctl_peer *)p->ctl)->fleet_gone_ns = sg_now_ns();
	f->st.given_away++;
}

/*
 * Whether the partner took p's sessions within REKEY_TIMEOUT: its SESSIONs
 * follow, and until they come no handshake is started for p.
 */
static bool gone_lately(const struct sg_peer *p, uint64_t now)
{
	const struct sg_ctl_peer *cp = p->ctl;

	return cp != NULL && cp->fleet_gone_ns != 0 &&
	       now - cp->fleet_gone_ns < (uint64_t)SG_REKEY_TIMEOUT_S * 1000000000ull;
}

/* What waits for p's session goes to the partner, which holds it. */
static void forward_staged(struct sg_fleet *f, struct sg_peer *p)
{
	struct rte_mbuf *m;

	while (sg_peer_unstage(p, &m, 1) == 1)
		forward(f, m, p);
	atomic_store_explicit(&p->staged_at, 0, memory_order_relaxed);
}

int sg_fleet_claim_peer(struct sg_ctl *c, struct sg_peer *peer)
{
	struct sg_fleet *f = c->fleet;
	uint64_t now = c->dp->ctl->now_ns;

	if (f == NULL || !f->anycast)
		return 0;
	/*
	 * The client talks to the partner: what our VMs send it goes there over
	 * the channel, and the session stays where the client's packets arrive.
	 */
	if (sg_fleet_peer_at_partner(c, peer)) {
		forward_staged(f, peer);
		return -1;
	}
	if (claim_peer(f, peer->public_key, now) > 0)
		return 1;
	return gone_lately(peer, now) ? -1 : 0;
}

bool sg_fleet_peer_at_partner(struct sg_ctl *c, const struct sg_peer *peer)
{
	const struct sg_fleet *f = c->fleet;

	return f != NULL && f->anycast && partner_reachable(f, c->dp->ctl->now_ns) &&
	       partner_holds(f, peer->public_key);
}

void sg_fleet_claim(struct sg_ctl *c, struct rte_mbuf *m)
{
	struct sg_fleet *f = c->fleet;
	struct sg_worker *w = c->dp->ctl;
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, sg_meta(m)->wg_off);
	struct fl_sess *e = f != NULL ? sess_find(f, sg_get_le32(msg + 4)) : NULL;

	if (e == NULL || !e->heard || claim_peer(f, e->s.peer_public_key, w->now_ns) == 0) {
		sg_drop(w, m, SG_DROP_WG_UNKNOWN_INDEX);
		return;
	}
	/* The index is ours now: the packet goes the way of any other. */
	sg_nic_input(w, &m, 1);
}

/* --- messages from the partner --- */

static void on_session(struct sg_fleet *f, const struct sg_fleet_session *m, uint64_t seq)
{
	struct fl_sess *e;

	if (!hears(f))
		return;
	e = sess_find(f, m->local_index);
	/* An anycast member's own session under that index: ours stays. */
	if (e != NULL && !e->heard) {
		f->st.rx_refused++;
		return;
	}
	e = sess_get(f, m->local_index);
	if (e == NULL) {
		f->st.rx_refused++;
		return;
	}
	e->heard = true;
	e->s = *m;
	e->heard_end = m->lease_end;
	e->mark = m->rx_mark;
	f->st.sessions_heard++;
	send_ack(f, seq, m->local_index);
	/*
	 * Anycast: the partner took this peer a moment ago while packets of ours
	 * to it waited for the session: they take it back now.
	 */
	if (f->anycast) {
		struct sg_peer *p = sg_peers_lookup_key(f->gw->dp.peers, m->peer_public_key);
		uint64_t now = f->gw->dp.ctl->now_ns;
		struct sg_endpoint ep;

		/*
		 * A peer never seen here: where it is, so that what our VMs send it
		 * waits for the session (and goes to the partner) instead of being
		 * dropped as unreachable.
		 */
		if (p != NULL && m->ep_family != 0) {
			sg_peer_endpoint_get(p, &ep);
			if (ep.family == 0) {
				endpoint_of(m, &ep);
				sg_peer_endpoint_set(p, &ep);
			}
		}

		/* What waited for it goes to the partner, which holds the session now. */
		if (p != NULL && sg_peer_staged_count(p) > 0 && gone_lately(p, now) &&
		    sg_peer_tx_keypair(p, now) == NULL)
			forward_staged(f, p);
	}
}

static void on_ack(struct sg_fleet *f, const struct sg_fleet_ack *a)
{
	struct fl_sess *e = sess_find(f, a->local_index);
	struct sg_keypair *kp;

	if (e == NULL || e->heard || f->st.state != SG_FLEET_ACTIVE)
		return;
	if (e->lease.asked == 0 || e->lease.asked_seq != a->seq)
		return;
	sg_lease_acked(&e->lease, a->seq);
	kp = sg_peers_lookup_index(sg_peers_index_table(f->gw->dp.peers), a->local_index);
	if (kp != NULL)
		atomic_store_explicit(&kp->send_limit, e->lease.limit, memory_order_release);
	f->st.leases_acked++;
}

/*
 * A split brain healed and the partner yielded: while it was active it sent on
 * our sessions from its takeover start (our last lease it heard + 2^40) up,
 * and the clients' windows moved there.  Our counters jump above all of it
 * (twice the gap: its start, and what it can have sent in a session's life),
 * so that what we send is taken again.
 */
static void jump_counters(struct sg_fleet *f)
{
	const struct sg_peers_index *ix = sg_peers_index_table(f->gw->dp.peers);

	for (uint32_t i = 0; i < f->n_live; i++) {
		struct fl_sess *e = f->slot[f->live[i]];
		struct sg_keypair *kp = e->heard ? NULL : sg_peers_lookup_index(ix, e->index);

		if (kp != NULL)
			atomic_fetch_add_explicit(&kp->send_counter, 2 * SG_LEASE_TAKEOVER_GAP,
						  memory_order_relaxed);
	}
	f->st.counter_jumps++;
}

static void on_state(struct sg_fleet *f, enum sg_fleet_type type,
		     const struct sg_fleet_heartbeat *hb, uint64_t now)
{
	unsigned ps = hb->state, was = f->st.partner_state;

	f->st.partner_state = ps;
	/* Before the resync below, which leases from the counters as they are then. */
	if (!f->anycast && f->st.state == SG_FLEET_ACTIVE && was == SG_FLEET_ACTIVE &&
	    ps == SG_FLEET_JOINING)
		jump_counters(f);
	switch (f->st.state) {
	case SG_FLEET_JOINING:
		if (type == SG_FLEET_RESYNC_DONE) {
			f->st.state = SG_FLEET_STANDBY;
			f->st.resyncs_heard++;
			sg_log(SG_LOG_INFO, "fleet: node %u standby for partner %u (%u sessions)",
			       f->ch.self, f->ch.partner, f->n_live);
		} else if (ps == SG_FLEET_JOINING && f->ch.self > f->ch.partner) {
			/* Both joining: the higher node id goes first. */
			become_active(f);
		}
		break;
	case SG_FLEET_STANDBY:
		/* The partner restarted (it asks for a resync): what it had is ours now. */
		if (type == SG_FLEET_HELLO || ps == SG_FLEET_JOINING)
			takeover(f, now, "it restarted");
		break;
	case SG_FLEET_ACTIVE:
		if (!f->anycast && ps == SG_FLEET_ACTIVE && f->ch.self < f->ch.partner) {
			yield(f);
			return;
		}
		break;
	}
	/* A pair's active syncs a partner that is not active; anycast members sync each other. */
	if (f->st.state == SG_FLEET_ACTIVE && (f->anycast || ps != SG_FLEET_ACTIVE)) {
		if (!partner_up(f) || type == SG_FLEET_HELLO) {
			bool was_up = partner_up(f);

			f->st.partner_up = 1;
			if (!was_up)
				f->last_resync_ns = 0;
			/*
			 * Back after we went on alone: it may have been active
			 * meanwhile (the channel cut), so our counters jump too.
			 */
			if (!was_up && !f->anycast && f->st.partner_lost > 0 &&
			    !(was == SG_FLEET_ACTIVE && ps == SG_FLEET_JOINING))
				jump_counters(f);
			/*
			 * A partner that (re)joins may have held the address a
			 * moment ago (it yielded after a split brain): ours again.
			 */
			if (bulk_resync(f, now) && type == SG_FLEET_HELLO && !f->anycast)
				announce(f);
		}
	}
}

static void handle(struct sg_fleet *f, const uint8_t *buf, size_t len, uint64_t now)
{
	uint8_t pl[SG_FLEET_MAX_MSG];
	enum sg_fleet_type type;
	uint64_t seq;
	int n = sg_fleet_open(&f->ch, buf, len, pl, &type, &seq);
	size_t i;

	if (n < 0)
		return;
	f->st.rx_msgs++;
	f->partner_seen_ns = now;
	switch (type) {
	case SG_FLEET_HELLO:
	case SG_FLEET_HEARTBEAT:
	case SG_FLEET_RESYNC_DONE:
		if ((size_t)n == sizeof(struct sg_fleet_heartbeat))
			on_state(f, type, (const struct sg_fleet_heartbeat *)pl, now);
		break;
	case SG_FLEET_SESSION:
		if ((size_t)n == sizeof(struct sg_fleet_session))
			on_session(f, (const struct sg_fleet_session *)pl, seq);
		break;
	case SG_FLEET_SESSION_DEL:
		if (n == 4 && hears(f)) {
			uint32_t idx;
			struct fl_sess *e;

			memcpy(&idx, pl, 4);
			if ((e = sess_find(f, idx)) != NULL && e->heard)
				sess_free(f, e);
		}
		break;
	case SG_FLEET_LEASE:
		if ((size_t)n == sizeof(struct sg_fleet_lease) && hears(f)) {
			struct sg_fleet_lease l;
			struct fl_sess *e;

			memcpy(&l, pl, sizeof(l));
			e = sess_find(f, l.local_index);
			/* Not one we heard (an anycast member took it over): no ack, no more counters. */
			if (e != NULL && !e->heard)
				break;
			if (e != NULL && l.end > e->heard_end)
				e->heard_end = l.end;
			/* Acknowledged only when heard: an unknown session is never taken over. */
			if (e != NULL)
				send_ack(f, seq, l.local_index);
		}
		break;
	case SG_FLEET_RX_MARK:
		if (n % sizeof(struct sg_fleet_mark) == 0 && hears(f))
			for (i = 0; i < (size_t)n / sizeof(struct sg_fleet_mark); i++) {
				struct sg_fleet_mark mk;
				struct fl_sess *e;

				memcpy(&mk, pl + i * sizeof(mk), sizeof(mk));
				if ((e = sess_find(f, mk.local_index)) != NULL && e->heard &&
				    mk.mark > e->mark)
					e->mark = mk.mark;
			}
		break;
	case SG_FLEET_TAKEN:
		if (n == 32 && f->anycast)
			on_taken(f, pl);
		break;
	case SG_FLEET_ROUTES:
		if (f->anycast && (size_t)n % sizeof(struct sg_fleet_route) == 0)
			on_routes(f, pl, (size_t)n);
		break;
	case SG_FLEET_FWD_IN:
		if (f->anycast)
			on_fwd_in(f, pl, (size_t)n);
		break;
	case SG_FLEET_FWD_OUT:
		if (f->anycast)
			on_fwd_out(f, pl, (size_t)n);
		break;
	case SG_FLEET_ACK:
		if ((size_t)n == sizeof(struct sg_fleet_ack)) {
			struct sg_fleet_ack a;

			memcpy(&a, pl, sizeof(a));
			on_ack(f, &a);
		}
		break;
	}
	sg_wipe(pl, (size_t)n);
}

/* --- the active's sweep: gone sessions, leases, receive marks --- */

static void sweep(struct sg_fleet *f, uint64_t now)
{
	const struct sg_peers_index *ix = sg_peers_index_table(f->gw->dp.peers);
	unsigned visits = 0;

	while (visits++ < SWEEP_MAX && f->n_live > 0) {
		struct fl_sess *e;
		struct sg_keypair *kp;
		uint64_t want, mark;

		if (f->sweep_pos >= f->n_live) {
			f->sweep_pos = 0;
			if (visits > 1)
				break;
		}
		e = f->slot[f->live[f->sweep_pos]];
		if (e->heard) {
			f->sweep_pos++;
			continue;
		}
		kp = sg_peers_lookup_index(ix, e->index);
		if (kp == NULL) {
			if (partner_up(f))
				chan_send(f, SG_FLEET_SESSION_DEL, &e->index, 4, NULL);
			sess_free(f, e);
			continue;
		}
		f->sweep_pos++;
		if (!partner_up(f))
			continue;
		/* An ask not acknowledged within a takeover time is asked again. */
		if (e->lease.asked != 0 && now - e->asked_ns > f->takeover_ns)
			e->lease.asked = 0;
		want = sg_lease_want(&e->lease,
				     atomic_load_explicit(&kp->send_counter, memory_order_relaxed));
		if (want != 0) {
			struct sg_fleet_lease l = { .local_index = e->index, .end = want };
			uint64_t seq = 0;

			chan_send(f, SG_FLEET_LEASE, &l, sizeof(l), &seq);
			sg_lease_asked(&e->lease, want, seq);
			e->asked_ns = now;
			f->st.leases_asked++;
		}
		mark = __atomic_load_n(&kp->replay.top, __ATOMIC_RELAXED);
		if (mark != e->mark_sent) {
			f->marks[f->n_marks].local_index = e->index;
			f->marks[f->n_marks].mark = mark;
			e->mark_sent = mark;
			if (++f->n_marks == SG_FLEET_MARKS)
				flush_marks(f);
		}
	}
	flush_marks(f);
}

/* --- the control lcore's hooks --- */

void sg_fleet_session_new(struct sg_ctl *c, struct sg_keypair *kp)
{
	struct sg_fleet *f = c->fleet;
	struct fl_sess *e;

	if (f == NULL || f->st.state != SG_FLEET_ACTIVE)
		return;
	e = sess_get(f, kp->local_index);
	if (e == NULL)
		return;
	e->heard = false;
	if (partner_up(f))
		sync_session(f, e, kp, c->hs_src);
	else
		sess_alone(e);
}

unsigned sg_fleet_poll(struct sg_ctl *c, uint64_t now)
{
	struct sg_fleet *f = c->fleet;
	uint8_t buf[sizeof(struct sg_fleet_hdr) + SG_FLEET_NONCE + SG_FLEET_MAX_MSG + SG_FLEET_TAG +
		    1];
	unsigned work = 0;
	uint64_t quiet_since;
	bool silent;

	if (f == NULL)
		return 0;
	while (work < RX_PER_RUN) {
		ssize_t n = recv(f->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0)
			break;
		handle(f, buf, (size_t)n, now);
		work++;
	}
	if (f->gw->dp.fwd_ring != NULL) {
		struct rte_mbuf *ms[32];
		unsigned i, k = rte_ring_dequeue_burst(f->gw->dp.fwd_ring, (void **)ms, 32, NULL);

		for (i = 0; i < k; i++)
			forward(f, ms[i], NULL);
		work += k;
	}
	if (f->anycast && now >= f->next_routes_ns) {
		f->next_routes_ns = now + 1000 * NS_PER_MS;
		send_routes(f);
	}
	if (now >= f->next_sweep_ns) {
		f->next_sweep_ns = now + SWEEP_NS;
		if (f->st.state == SG_FLEET_ACTIVE)
			sweep(f, now);
	}
	if (now < f->next_hb_ns)
		return work;
	f->next_hb_ns = now + f->heartbeat_ns;
	quiet_since = f->partner_seen_ns ? f->partner_seen_ns : f->started_ns;
	silent = now - quiet_since > f->takeover_ns;
	switch (f->st.state) {
	case SG_FLEET_JOINING:
		if (silent)
			become_active(f);
		else
			send_state(f, SG_FLEET_HELLO);
		break;
	case SG_FLEET_STANDBY:
		if (silent)
			takeover(f, now, "its heartbeats stopped");
		break;
	case SG_FLEET_ACTIVE:
		if (partner_up(f) && silent)
			partner_lost(f);
		break;
	}
	if (f->st.state != SG_FLEET_JOINING)
		send_state(f, SG_FLEET_HEARTBEAT);
	f->st.sessions = f->n_live;
	return work + 1;
}

void sg_fleet_stats_get(const struct sg_fleet *f, struct sg_fleet_stats *st)
{
	*st = f->st;
	st->rx_bad = f->ch.rx_bad;
	st->rx_replayed = f->ch.rx_replayed;
	st->rx_stale = f->ch.rx_stale;
}

/* --- start and stop --- */

static socklen_t sockaddr_of(const struct sg_config_endpoint *ep, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ep->family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(ep->port);
		memcpy(&a->sin_addr, ep->addr, 4);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	a6->sin6_family = AF_INET6;
	a6->sin6_port = htons(ep->port);
	memcpy(&a6->sin6_addr, ep->addr, 16);
	return sizeof(*a6);
}

int sg_fleet_start(struct sg_gateway *gw, const struct sg_config *cfg)
{
	struct sg_fleet *f;
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (!cfg->fleet.enabled)
		return 0;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->gw = gw;
	f->fd = -1;
	f->mask = sg_peers_index_table(gw->dp.peers)->mask;
	f->slot = calloc((size_t)f->mask + 1, sizeof(*f->slot));
	f->live = calloc((size_t)f->mask + 1, sizeof(*f->live));
	if (f->slot == NULL || f->live == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = sg_fleet_chan_init(&f->ch, cfg->fleet.secret, cfg->fleet.node_id,
				cfg->fleet.partner_id, wall_ns());
	if (rc != 0)
		goto fail;
	f->fd = socket(cfg->fleet.listen.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	len = sockaddr_of(&cfg->fleet.listen, &ss);
	if (f->fd < 0 || bind(f->fd, (struct sockaddr *)&ss, len) != 0) {
		rc = -errno;
		sg_log(SG_LOG_ERR, "%s:%u: [fleet] cannot listen on the state channel: %s",
		       cfg->file, cfg->fleet.line, strerror(errno));
		goto fail;
	}
	f->partner_len = sockaddr_of(&cfg->fleet.partner, &f->partner);
	f->heartbeat_ns = (uint64_t)cfg->fleet.heartbeat_ms * NS_PER_MS;
	f->takeover_ns = (uint64_t)cfg->fleet.takeover_ms * NS_PER_MS;
	f->started_ns = sg_now_ns();
	f->st.node_id = cfg->fleet.node_id;
	f->st.partner_id = cfg->fleet.partner_id;
	f->anycast = cfg->fleet.anycast != 0;
	f->st.anycast = f->anycast;
	gw->ctl.fleet = f;
	if (f->anycast) {
		/* Both answer on the address; a HELLO asks the partner for its sessions. */
		f->st.state = SG_FLEET_ACTIVE;
		gw->dp.fleet_claim = true;
		gw->dp.fwd_ring =
			rte_ring_create("sg_fleet_fwd", 1024, (int)rte_socket_id(), RING_F_SC_DEQ);
		if (gw->dp.fwd_ring == NULL) {
			gw->ctl.fleet = NULL;
			rc = -ENOMEM;
			goto fail;
		}
		send_state(f, SG_FLEET_HELLO);
		sg_log(SG_LOG_INFO, "fleet: node %u anycast with partner %u", f->ch.self,
		       f->ch.partner);
		return 0;
	}
	f->st.state = SG_FLEET_JOINING;
	/* Silent until the pair decided who is active. */
	atomic_store_explicit(&gw->dp.standby, true, memory_order_release);
	sg_log(SG_LOG_INFO, "fleet: node %u joining, partner %u", f->ch.self, f->ch.partner);
	return 0;
fail:
	if (f->fd >= 0)
		close(f->fd);
	sg_fleet_chan_clear(&f->ch);
	free(f->slot);
	free(f->live);
	free(f);
	return rc;
}

void sg_fleet_stop(struct sg_gateway *gw)
{
	struct sg_fleet *f = gw->ctl.fleet;

	if (f == NULL)
		return;
	gw->ctl.fleet = NULL;
	if (gw->dp.fwd_ring != NULL) {
		struct rte_mbuf *m;

		while (rte_ring_dequeue(gw->dp.fwd_ring, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(gw->dp.fwd_ring);
		gw->dp.fwd_ring = NULL;
	}
	sess_clear_all(f);
	close(f->fd);
	sg_fleet_chan_clear(&f->ch);
	free(f->slot);
	free(f->live);
	sg_wipe(f, sizeof(*f));
	free(f);
}
