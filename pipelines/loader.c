/* SPDX-License-Identifier: MIT */
/*
 * Peers loaded from the store on their first handshake.  An initiation whose
 * static key is no loaded peer's (its mac1, cookie and rate limit already
 * passed) waits here while a thread of its own, neither a worker nor the
 * control lcore, reads the store: loaded peers' handshakes never wait on
 * disk.  The control lcore and the thread talk through two rings of lookup
 * slots; lookups are bounded in flight (the slots) and in rate (a token
 * bucket), and unknown keys are remembered for negative_cache_s.  A found,
 * usable peer is installed with sg_gateway_peer_add and the same initiation
 * is handled again, so that it is answered.
 *
 * The same slots carry checks of loaded peers (sixgatectl's notification
 * through telemetry, the store's own notifications, which the thread polls
 * for (PostgreSQL's LISTEN: a change made through any gateway of the
 * fleet), and a sweep whenever the store changed, as a backstop): a
 * revoked, expired or deleted peer is unloaded at once; one whose allowed IPs
 * changed gets the new set.  A store that cannot be reached (a database
 * server down) leaves loaded peers working: the thread counts the outage,
 * keeps the fault for telemetry, and its handle reconnects; once it is back,
 * every loaded peer is checked again (notifications may have been missed).  Peers idle past
 * idle_timeout_s, or the least recently active when max_loaded are loaded,
 * are evicted; they come back on their next handshake.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "lib/allowedips/sg_allowedips.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"
#include "pipelines/sg_gateway.h"
#include "pipelines/sg_stages.h"

#define NEG_SLOTS      4096 /* the negative cache: direct-mapped */
#define NOTIFY_LEN     256
#define SWEEP_PER_POLL 64
#define THREAD_IDLE_NS 200000
#define CHANGES_NS     20000000 /* how often the thread takes the store's notifications */

#define EVICT_SCAN_PER_TICK 4096

enum lookup_kind { LK_LOAD, LK_CHECK };

/* One lookup: filled by the control lcore, answered by the thread. */
struct lookup {
	enum lookup_kind kind;
	uint8_t key[32];
	struct rte_mbuf *m; /* LK_LOAD: the initiation that waits */
	int rc;		    /* 0, -ENOENT, or the store's fault */
	struct sg_store_peer peer;
};

struct neg_entry {
	uint8_t key[32];
	uint64_t until_ns;
};

struct notify {
	uint8_t key[32]; /* first: rte_jhash reads it by words */
	bool all;
};

struct sg_loader {
	struct sg_gateway *gw;
	struct sg_store *store; /* the thread's handle */
	pthread_t thread;
	bool running;
	SG_ATOMIC(bool) quit;
	struct rte_ring *req, *res, *notify;
	struct lookup *slots;
	struct lookup **free_slots;
	unsigned n_free, n_slots;
	unsigned held; /* initiations waiting in slots */

	/* Token bucket of lookups of unknown keys. */
	double tokens, rate, burst;
	uint64_t bucket_ns;

	struct neg_entry *neg;
	uint64_t neg_ns;
	uint32_t seed;

	/* The sweep of loaded peers against the store (next slot to check). */
	bool sweeping;
	unsigned sweep_at;
	uint64_t check_ns;
	SG_ATOMIC(bool) changed; /* set by the thread when the store's version moved */
	uint64_t idle_ns;
	unsigned max_loaded, loaded;
	uint64_t next_evict_ns;
	unsigned evict_at;

	pthread_mutex_t lock; /* stats and fault, for telemetry */
	struct sg_loader_stats st;
	char fault[SG_STORE_ERR_LEN];
};

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

/* --- the thread --- */

static void thread_fault(struct sg_loader *l, const char *msg)
{
	pthread_mutex_lock(&l->lock);
	snprintf(l->fault, sizeof(l->fault), "%s", msg);
	pthread_mutex_unlock(&l->lock);
}

/* Whether the store answered (rc): an outage starts at -ENOTCONN and ends at the next answer. */
static void thread_reach(struct sg_loader *l, int64_t rc)
{
	bool down = rc == -ENOTCONN, answered = rc >= 0 || rc == -ENOENT;

	if (!answered)
		thread_fault(l, sg_store_error(l->store));
	if (!answered && !down)
		return;
	pthread_mutex_lock(&l->lock);
	if (down && !l->st.unreachable) {
		l->st.unreachable = 1;
		l->st.outages++;
		/* Once an outage: the log has the whole line, telemetry a shortened one. */
		sg_log(SG_LOG_ERR, "%s (loaded peers keep working; reconnecting)", l->fault);
	} else if (!down && l->st.unreachable) {
		l->st.unreachable = 0;
		l->st.reconnects++;
		sg_log(SG_LOG_INFO, "store reachable again: every loaded peer is checked again");
	}
	pthread_mutex_unlock(&l->lock);
}

/* A change the store notified: checked like sixgatectl's (a full ring: a sweep). */
static void thread_changed(void *arg, const uint8_t *key)
{
	struct sg_loader *l = arg;

	pthread_mutex_lock(&l->lock);
	l->st.notifications++;
	pthread_mutex_unlock(&l->lock);
	if (sg_loader_notify(l, key) != 0)
		atomic_store_explicit(&l->changed, true, memory_order_release);
}

static void *loader_main(void *arg)
{
	struct sg_loader *l = arg;
	uint64_t next_version = 0, next_changes = 0;
	int64_t version = sg_store_version(l->store);

	while (!atomic_load_explicit(&l->quit, memory_order_acquire)) {
		struct lookup *lk[32];
		unsigned n = rte_ring_dequeue_burst(l->req, (void **)lk, 32, NULL), i;
		uint64_t now = sg_now_ns();

		for (i = 0; i < n; i++) {
			lk[i]->rc = sg_store_get_by_key(l->store, lk[i]->key, &lk[i]->peer);
			thread_reach(l, lk[i]->rc);
			/* Never full: it has room for every slot. */
			(void)rte_ring_enqueue(l->res, lk[i]);
		}
		if (now >= next_version) {
			int64_t v = sg_store_version(l->store);

			thread_reach(l, v);
			if (v >= 0 && v != version) {
				version = v;
				atomic_store_explicit(&l->changed, true, memory_order_release);
			}
			next_version = now + l->check_ns;
		}
		if (now >= next_changes) {
			thread_reach(l, sg_store_changes(l->store, thread_changed, l));
			next_changes = now + CHANGES_NS;
		}
		if (n == 0) {
			struct timespec ts = { 0, THREAD_IDLE_NS };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* --- the control lcore's side --- */

static struct sg_gateway *gw_of(struct sg_ctl *c)
{
	return (struct sg_gateway *)((char *)c - offsetof(struct sg_gateway, ctl));
}

static void count(struct sg_loader *l, uint64_t *field)
{
	pthread_mutex_lock(&l->lock);
	(*field)++;
	pthread_mutex_unlock(&l->lock);
}

static struct neg_entry *neg_slot(struct sg_loader *l, const uint8_t key[32])
{
	return &l->neg[rte_jhash(key, 32, l->seed) % NEG_SLOTS];
}

static bool neg_hit(struct sg_loader *l, const uint8_t key[32], uint64_t now)
{
	struct neg_entry *e = neg_slot(l, key);

	return now < e->until_ns && memcmp(e->key, key, 32) == 0;
}

static void neg_add(struct sg_loader *l, const uint8_t key[32], uint64_t now)
{
	struct neg_entry *e = neg_slot(l, key);

	memcpy(e->key, key, 32);
	e->until_ns = now + l->neg_ns;
}

static void neg_forget(struct sg_loader *l, const uint8_t key[32])
{
	struct neg_entry *e = neg_slot(l, key);

	if (memcmp(e->key, key, 32) == 0)
		e->until_ns = 0;
}

static bool take_token(struct sg_loader *l, uint64_t now)
{
	l->tokens += (double)(now - l->bucket_ns) * l->rate / 1e9;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->bucket_ns = now;
	if (l->tokens < 1.0)
		return false;
	l->tokens -= 1.0;
	return true;
}

static struct lookup *slot_get(struct sg_loader *l)
{
	return l->n_free > 0 ? l->free_slots[--l->n_free] : NULL;
}

static void slot_put(struct sg_loader *l, struct lookup *lk)
{
	sg_store_peer_clear(&lk->peer);
	lk->m = NULL;
	l->free_slots[l->n_free++] = lk;
}

static void ask(struct sg_loader *l, struct lookup *lk, enum lookup_kind kind,
		const uint8_t key[32], struct rte_mbuf *m)
{
	lk->kind = kind;
	memcpy(lk->key, key, 32);
	lk->m = m;
	/* Never full: it has room for every slot. */
	(void)rte_ring_enqueue(l->req, lk);
}

enum sg_drop_reason sg_loader_defer(struct sg_ctl *c, const uint8_t key[32], struct rte_mbuf *m)
{
	struct sg_loader *l = c->loader;
	uint64_t now = c->dp->ctl->now_ns;
	struct lookup *lk;

	if (neg_hit(l, key, now)) {
		count(l, &l->st.negative_hits);
		return SG_DROP_WG_UNKNOWN_PEER;
	}
	if (l->n_free == 0 || !take_token(l, now)) {
		count(l, &l->st.limited);
		return SG_DROP_STORE_LIMIT;
	}
	lk = slot_get(l);
	count(l, &l->st.lookups);
	l->held++;
	ask(l, lk, LK_LOAD, key, m);
	return SG_DROP_NONE;
}

/* The store's peer as the configuration would give it. */
static void to_config(const struct sg_store_peer *sp, struct sg_config_peer *cp,
		      struct sg_config_prefix *ips)
{
	memset(cp, 0, sizeof(*cp));
	snprintf(cp->name, sizeof(cp->name), "%.*s", (int)sizeof(cp->name) - 1, sp->name);
	memcpy(cp->public_key, sp->public_key, 32);
	cp->has_preshared_key = sp->has_psk;
	memcpy(cp->preshared_key, sp->psk, 32);
	for (unsigned i = 0; i < sp->n_allowed_ips && i < SG_MAX_ALLOWED_IPS; i++) {
		ips[i].family = sp->allowed_ips[i].family;
		ips[i].len = sp->allowed_ips[i].len;
		memcpy(ips[i].addr, sp->allowed_ips[i].addr, 16);
		cp->n_allowed_ips++;
	}
	cp->allowed_ips = ips;
	if (sp->has_endpoint) {
		cp->has_endpoint = 1;
		cp->endpoint.family = sp->ep_family;
		memcpy(cp->endpoint.addr, sp->ep_addr, 16);
		cp->endpoint.port = sp->ep_port;
	}
	cp->persistent_keepalive = sp->keepalive_s;
	cp->network.family = AF_INET6;
	cp->network.len = sp->org.len;
	memcpy(cp->network.addr, sp->org.addr, 16);
}

static void unload(struct sg_ctl *c, struct sg_peer *p, uint64_t *why)
{
	struct sg_loader *l = c->loader;

	sg_gateway_peer_remove(gw_of(c), p);
	l->loaded--;
	count(l, why);
}

/* The least recently active peer of the store, or NULL. */
static struct sg_peer *lru(struct sg_ctl *c)
{
	struct sg_peers *t = c->dp->peers;
	struct sg_peer *best = NULL;
	uint64_t oldest = UINT64_MAX;

	for (unsigned i = 0; i < sg_peers_slots(t); i++) {
		struct sg_peer *p = sg_peers_at(t, i);
		struct sg_ctl_peer *cp = p != NULL ? p->ctl : NULL;

		if (cp != NULL && cp->from_store && cp->active_ns < oldest) {
			oldest = cp->active_ns;
			best = p;
		}
	}
	return best;
}

static int install(struct sg_ctl *c, const struct sg_store_peer *sp, uint64_t now)
{
	struct sg_loader *l = c->loader;
	struct sg_config_prefix ips[SG_MAX_ALLOWED_IPS];
	struct sg_config_peer cp;
	struct sg_peer *p;
	int rc;

	if (l->loaded >= l->max_loaded) {
		struct sg_peer *victim = lru(c);

		if (victim != NULL)
			unload(c, victim, &l->st.evicted_lru);
	}
	to_config(sp, &cp, ips);
	rc = sg_gateway_peer_add(gw_of(c), &cp);
	sg_wipe(cp.preshared_key, sizeof(cp.preshared_key));
	if (rc != 0)
		return rc;
	p = sg_peers_lookup_key(c->dp->peers, sp->public_key);
	((struct sg_ctl_peer *)p->ctl)->from_store = true;
	((struct sg_ctl_peer *)p->ctl)->loaded_ns = now;
	((struct sg_ctl_peer *)p->ctl)->active_ns = now;
	l->loaded++;
	count(l, &l->st.loaded);
	return 0;
}

static void loaded(struct sg_ctl *c, struct lookup *lk, uint64_t now)
{
	struct sg_loader *l = c->loader;
	struct sg_worker *w = c->dp->ctl;
	uint64_t resp_tx = c->core.stats.resp_tx;

	if (lk->rc == -ENOENT) {
		count(l, &l->st.unknown);
		neg_add(l, lk->key, now);
		sg_drop(w, lk->m, SG_DROP_WG_UNKNOWN_PEER);
		return;
	}
	if (lk->rc != 0) {
		count(l, &l->st.faults);
		sg_drop(w, lk->m, SG_DROP_STORE_FAULT);
		return;
	}
	if (!sg_store_peer_usable(&lk->peer, (int64_t)wall_s())) {
		count(l, &l->st.refused);
		neg_add(l, lk->key, now);
		sg_drop(w, lk->m, SG_DROP_WG_PEER_REFUSED);
		return;
	}
	/* Two initiations of one key may both have asked: the second finds it loaded. */
	if (sg_peers_lookup_key(c->dp->peers, lk->key) == NULL && install(c, &lk->peer, now) != 0) {
		count(l, &l->st.faults);
		sg_drop(w, lk->m, SG_DROP_STORE_FAULT);
		return;
	}
	sg_ctl_handshake_again(c, lk->m);
	if (c->core.stats.resp_tx != resp_tx)
		count(l, &l->st.answered);
}

static bool same_ips(struct sg_ctl *c, struct sg_peer *p, const struct sg_store_peer *sp)
{
	struct sg_allowedips *t = c->dp->aips;

	if (sg_allowedips_count_peer(t, p) != sp->n_allowed_ips)
		return false;
	for (unsigned i = 0; i < sp->n_allowed_ips; i++) {
		const struct sg_store_prefix *a = &sp->allowed_ips[i];
		uint8_t probe[16];

		memcpy(probe, a->addr, 16);
		if (sg_allowedips_lookup(t, a->family, probe) != p)
			return false;
	}
	return true;
}

static void checked(struct sg_ctl *c, struct lookup *lk)
{
	struct sg_loader *l = c->loader;
	struct sg_peer *p = sg_peers_lookup_key(c->dp->peers, lk->key);
	struct sg_ctl_peer *cp = p != NULL ? p->ctl : NULL;

	if (cp == NULL || !cp->from_store)
		return;
	if (lk->rc != 0 && lk->rc != -ENOENT) {
		count(l, &l->st.faults); /* a fault keeps loaded peers working */
		return;
	}
	if (lk->rc == -ENOENT || !sg_store_peer_usable(&lk->peer, (int64_t)wall_s())) {
		unload(c, p, &l->st.unloaded);
		return;
	}
	if (!same_ips(c, p, &lk->peer)) {
		sg_allowedips_remove_by_peer(c->dp->aips, p);
		for (unsigned i = 0; i < lk->peer.n_allowed_ips; i++) {
			const struct sg_store_prefix *a = &lk->peer.allowed_ips[i];

			(void)sg_allowedips_insert(c->dp->aips, a->family, a->addr, a->len, p);
		}
		count(l, &l->st.changed);
	}
}

/* Starts checks of loaded store peers: those named by sixgatectl, then the sweep. */
static void start_checks(struct sg_ctl *c)
{
	struct sg_loader *l = c->loader;
	struct sg_peers *t = c->dp->peers;
	struct notify *nt;
	unsigned n = 0;

	while (l->n_free > 0 && rte_ring_dequeue(l->notify, (void **)&nt) == 0) {
		/* The policy's store names may stand for other prefixes now. */
		sg_gateway_policy_store_changed(gw_of(c));
		if (nt->all) {
			/* Anything may have changed: added keys too. */
			memset(l->neg, 0, NEG_SLOTS * sizeof(*l->neg));
			l->sweeping = true;
			l->sweep_at = 0;
		} else {
			neg_forget(l, nt->key);
			if (sg_peers_lookup_key(t, nt->key) != NULL) {
				count(l, &l->st.checks);
				ask(l, slot_get(l), LK_CHECK, nt->key, NULL);
			}
		}
		free(nt);
	}
	if (atomic_exchange_explicit(&l->changed, false, memory_order_acq_rel)) {
		sg_gateway_policy_store_changed(gw_of(c));
		l->sweeping = true;
		l->sweep_at = 0;
	}
	while (l->sweeping && l->n_free > 0 && n++ < SWEEP_PER_POLL) {
		struct sg_peer *p;

		if (l->sweep_at >= sg_peers_slots(t)) {
			l->sweeping = false;
			break;
		}
		p = sg_peers_at(t, l->sweep_at++);
		if (p != NULL && p->ctl != NULL && ((struct sg_ctl_peer *)p->ctl)->from_store) {
			count(l, &l->st.checks);
			ask(l, slot_get(l), LK_CHECK, p->public_key, NULL);
		}
	}
}

/* Unloads store peers idle past idle_timeout_s, a slice of the table per tick. */
static void evict_idle(struct sg_ctl *c, uint64_t now)
{
	struct sg_loader *l = c->loader;
	struct sg_peers *t = c->dp->peers;

	if (l->idle_ns == 0 || now < l->next_evict_ns)
		return;
	for (unsigned n = 0; n < EVICT_SCAN_PER_TICK; n++) {
		struct sg_peer *p;
		struct sg_ctl_peer *cp;

		if (l->evict_at >= sg_peers_slots(t)) {
			l->evict_at = 0;
			l->next_evict_ns = now + NS_PER_S;
			return;
		}
		p = sg_peers_at(t, l->evict_at++);
		cp = p != NULL ? p->ctl : NULL;
		if (cp != NULL && cp->from_store && now > cp->active_ns &&
		    now - cp->active_ns >= l->idle_ns)
			unload(c, p, &l->st.evicted_idle);
	}
}

unsigned sg_loader_poll(struct sg_ctl *c, uint64_t now_ns)
{
	struct sg_loader *l = c->loader;
	struct lookup *lk[32];
	unsigned n, i;

	if (l == NULL)
		return 0;
	n = rte_ring_dequeue_burst(l->res, (void **)lk, 32, NULL);
	for (i = 0; i < n; i++) {
		if (lk[i]->kind == LK_LOAD) {
			l->held--;
			loaded(c, lk[i], now_ns);
		} else
			checked(c, lk[i]);
		slot_put(l, lk[i]);
	}
	start_checks(c);
	evict_idle(c, now_ns);
	return n;
}

int sg_loader_notify(struct sg_loader *l, const uint8_t *key)
{
	struct notify *nt = calloc(1, sizeof(*nt));

	if (nt == NULL)
		return -ENOMEM;
	nt->all = key == NULL;
	if (key != NULL)
		memcpy(nt->key, key, 32);
	if (rte_ring_enqueue(l->notify, nt) != 0) {
		free(nt);
		return -ENOSPC;
	}
	return 0;
}

unsigned sg_loader_held(const struct sg_loader *l)
{
	return l != NULL ? l->held : 0;
}

unsigned sg_loader_in_flight(const struct sg_loader *l)
{
	return l->n_slots - l->n_free;
}

void sg_loader_stats_get(struct sg_loader *l, struct sg_loader_stats *st, char *fault, size_t len)
{
	pthread_mutex_lock(&l->lock);
	*st = l->st;
	snprintf(fault, len, "%s", l->fault);
	pthread_mutex_unlock(&l->lock);
}

int sg_loader_start(struct sg_gateway *gw, const struct sg_config *cfg)
{
	struct sg_loader *l;
	char err[SG_STORE_ERR_LEN], shown[256];
	unsigned i, ring;
	int rc;

	l = rte_zmalloc("sg_loader", sizeof(*l), RTE_CACHE_LINE_SIZE);
	if (l == NULL)
		return -ENOMEM;
	gw->ctl.loader = l;
	l->gw = gw;
	pthread_mutex_init(&l->lock, NULL);
	sg_store_redact(cfg->store.path, shown, sizeof(shown));
	rc = sg_store_open(&l->store, cfg->store.path, SG_STORE_READONLY, 1000, err, sizeof(err));
	if (rc != 0) {
		sg_log(SG_LOG_ERR, "%s:%u: [store] %s", cfg->file, cfg->store.line, err);
		return rc;
	}
	l->n_slots = cfg->store.lookups_in_flight;
	ring = rte_align32pow2(l->n_slots + 1);
	l->slots = rte_zmalloc("sg_lookups", l->n_slots * sizeof(*l->slots), 64);
	l->free_slots = rte_zmalloc("sg_lookups_free", l->n_slots * sizeof(*l->free_slots), 64);
	l->neg = rte_zmalloc("sg_negcache", NEG_SLOTS * sizeof(*l->neg), 64);
	l->req = rte_ring_create("sg_store_req", ring, (int)rte_socket_id(),
				 RING_F_SP_ENQ | RING_F_SC_DEQ);
	l->res = rte_ring_create("sg_store_res", ring, (int)rte_socket_id(),
				 RING_F_SP_ENQ | RING_F_SC_DEQ);
	l->notify =
		rte_ring_create("sg_store_ntf", NOTIFY_LEN, (int)rte_socket_id(), RING_F_SC_DEQ);
	if (l->slots == NULL || l->free_slots == NULL || l->neg == NULL || l->req == NULL ||
	    l->res == NULL || l->notify == NULL)
		return -ENOMEM;
	for (i = 0; i < l->n_slots; i++)
		l->free_slots[l->n_free++] = &l->slots[i];
	l->rate = cfg->store.lookups_per_second;
	l->burst = l->n_slots;
	l->tokens = l->burst;
	l->bucket_ns = sg_now_ns();
	l->neg_ns = (uint64_t)cfg->store.negative_cache_s * NS_PER_S;
	l->check_ns = (uint64_t)cfg->store.check_interval_s * NS_PER_S;
	l->idle_ns = (uint64_t)cfg->store.idle_timeout_s * NS_PER_S;
	l->max_loaded = cfg->store.max_loaded;
	sg_random(&l->seed, sizeof(l->seed));
	if (pthread_create(&l->thread, NULL, loader_main, l) != 0)
		return -EAGAIN;
	pthread_setname_np(l->thread, "sg-store");
	l->running = true;
	sg_log(SG_LOG_INFO, "store %s: up to %u peers loaded, %u lookups/s, %u in flight", shown,
	       l->max_loaded, cfg->store.lookups_per_second, l->n_slots);
	return 0;
}

void sg_loader_stop(struct sg_gateway *gw)
{
	struct sg_loader *l = gw->ctl.loader;
	struct notify *nt;
	struct lookup *lk;

	if (l == NULL)
		return;
	if (l->running) {
		atomic_store_explicit(&l->quit, true, memory_order_release);
		pthread_join(l->thread, NULL);
	}
	while (l->req != NULL && rte_ring_dequeue(l->req, (void **)&lk) == 0)
		rte_pktmbuf_free(lk->m);
	while (l->res != NULL && rte_ring_dequeue(l->res, (void **)&lk) == 0)
		rte_pktmbuf_free(lk->m);
	while (l->notify != NULL && rte_ring_dequeue(l->notify, (void **)&nt) == 0)
		free(nt);
	for (unsigned i = 0; l->slots != NULL && i < l->n_slots; i++)
		sg_store_peer_clear(&l->slots[i].peer);
	sg_store_close(l->store);
	rte_ring_free(l->req);
	rte_ring_free(l->res);
	rte_ring_free(l->notify);
	rte_free(l->slots);
	rte_free(l->free_slots);
	rte_free(l->neg);
	pthread_mutex_destroy(&l->lock);
	rte_free(l);
	gw->ctl.loader = NULL;
}
