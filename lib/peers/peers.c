/* SPDX-License-Identifier: MIT */
#include "lib/peers/sg_peers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "lib/common/sg_common.h"
#include "lib/crypto/sg_crypto.h"

/* What a loaded peer costs (issue 10: at most 2 KiB with its session); see sg_peers.h. */
_Static_assert(sizeof(struct sg_peer) == 320, "struct sg_peer: five cache lines");
_Static_assert(sizeof(struct sg_keypair) == 448, "struct sg_keypair: seven cache lines");
_Static_assert(offsetof(struct sg_keypair, birth_ns) < 64 &&
		       offsetof(struct sg_keypair, tx_expire_ns) < 128,
	       "struct sg_keypair: each direction's fields in its line");

/*
 * A deferred free once the qsbr token is past: fn(ptr), or with fn NULL the
 * keypair (is_peer false) or the peer (is_peer true) ptr.
 */
struct deferred {
	void *ptr;
	void (*fn)(void *);
	uint64_t token;
	bool is_peer;
};

/*
 * Peers and keypairs come from pools of fixed-size objects carved out of
 * chunks of the DPDK heap, POOL_CHUNK at a time: rte_malloc puts a 128-byte
 * header in front of every allocation, which would be a quarter of a keypair
 * and more than a third of a peer.  A freed object goes back to its pool's
 * free list, not to the heap, so the pools keep the peak of loaded peers
 * (which max_peers bounds) for the next ones.  Control lcore only.
 */
struct pool {
	const char *name;
	size_t size;
	void *free;   /* linked through each free object's first word */
	void *chunks; /* linked through each chunk's first word */
};

#define POOL_CHUNK 64

static void *pool_get(struct pool *pl, int socket)
{
	void **o;

	if (pl->free == NULL) {
		/* The link to the next chunk takes the first cache line. */
		char *c = rte_malloc_socket(pl->name, RTE_CACHE_LINE_SIZE + POOL_CHUNK * pl->size,
					    RTE_CACHE_LINE_SIZE, socket);

		if (c == NULL)
			return NULL;
		*(void **)c = pl->chunks;
		pl->chunks = c;
		for (unsigned i = POOL_CHUNK; i-- > 0;) {
			o = (void **)(c + RTE_CACHE_LINE_SIZE + i * pl->size);
			*o = pl->free;
			pl->free = o;
		}
	}
	o = pl->free;
	pl->free = *o;
	memset(o, 0, pl->size);
	return o;
}

static void pool_put(struct pool *pl, void *o)
{
	*(void **)o = pl->free;
	pl->free = o;
}

static void pool_destroy(struct pool *pl)
{
	while (pl->chunks != NULL) {
		void *c = pl->chunks;

		pl->chunks = *(void **)c;
		rte_free(c);
	}
	pl->free = NULL;
}

#define DEFER_SLOTS 4096

/* Where each mbuf keeps the next staged mbuf of its peer (registered once). */
static int staged_next_off = -1;

static struct rte_mbuf **staged_next(struct rte_mbuf *m)
{
	return RTE_MBUF_DYNFIELD(m, staged_next_off, struct rte_mbuf **);
}

static int staged_field_register(void)
{
	static const struct rte_mbuf_dynfield desc = {
		.name = "sg_staged_next",
		.size = sizeof(struct rte_mbuf *),
		.align = __alignof__(struct rte_mbuf *),
	};

	if (staged_next_off < 0)
		staged_next_off = rte_mbuf_dynfield_register(&desc);
	return staged_next_off;
}

struct sg_peers {
	struct rte_rcu_qsbr *qsbr;
	int socket;
	unsigned max_peers;
	unsigned n_peers; /* live peers */
	unsigned n_slots; /* slots ever used: walks go this far */
	uint32_t *free_ids;
	unsigned n_free;
	struct sg_peer **peers;
	struct rte_hash *by_key;

	struct sg_peers_index ix;
	/* Control-only shadow of the index table: who reserved each slot. */
	struct sg_peer **owner;
	uint32_t *owner_index;
	unsigned ix_used;

	struct pool peer_pool, keypair_pool;
	struct deferred defer[DEFER_SLOTS];
	unsigned defer_head, defer_len;
	unsigned keypairs_alive;
	uint64_t reject_after_ns;
};

struct sg_peers *sg_peers_create(const char *name, unsigned max_peers, unsigned index_bits,
				 struct rte_rcu_qsbr *qsbr, int socket)
{
	struct sg_peers *t;
	char hname[RTE_HASH_NAMESIZE];
	size_t nslots = (size_t)1 << index_bits;

	if (max_peers == 0 || index_bits < 4 || index_bits > 24 || qsbr == NULL) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (staged_field_register() < 0)
		return NULL;
	t = rte_zmalloc_socket("sg_peers", sizeof(*t), 64, socket);
	if (t == NULL)
		goto nomem;
	t->qsbr = qsbr;
	t->socket = socket;
	t->peer_pool = (struct pool){ .name = "sg_peer_pool", .size = sizeof(struct sg_peer) };
	t->keypair_pool =
		(struct pool){ .name = "sg_keypair_pool", .size = sizeof(struct sg_keypair) };
	t->reject_after_ns = (uint64_t)SG_REJECT_AFTER_TIME_S * 1000000000ull;
	t->max_peers = max_peers;
	t->peers = rte_zmalloc_socket("sg_peers_arr", max_peers * sizeof(*t->peers), 64, socket);
	t->free_ids = rte_zmalloc_socket("sg_peers_free", max_peers * sizeof(uint32_t), 64, socket);
	t->ix.slot = rte_zmalloc_socket("sg_peers_ix", nslots * sizeof(*t->ix.slot), 64, socket);
	t->owner = rte_zmalloc_socket("sg_peers_own", nslots * sizeof(*t->owner), 64, socket);
	t->owner_index = rte_zmalloc_socket("sg_peers_oix", nslots * sizeof(uint32_t), 64, socket);
	if (t->peers == NULL || t->free_ids == NULL || t->ix.slot == NULL || t->owner == NULL ||
	    t->owner_index == NULL)
		goto nomem;
	t->ix.mask = (uint32_t)nslots - 1;
	snprintf(hname, sizeof(hname), "pk_%s", name);
	struct rte_hash_parameters hp = {
		.name = hname,
		.entries = max_peers < 8 ? 8 : max_peers,
		.key_len = SG_PUBLIC_KEY_LEN,
		.hash_func = rte_jhash,
		.socket_id = socket,
	};
	t->by_key = rte_hash_create(&hp);
	if (t->by_key == NULL)
		goto nomem;
	return t;
nomem:
	sg_peers_destroy(t);
	rte_errno = ENOMEM;
	return NULL;
}

static void run_deferred(struct sg_peers *t, struct deferred *d);
static void defer(struct sg_peers *t, void *ptr, void (*fn)(void *), bool is_peer);

void sg_peers_set_reject_after(struct sg_peers *t, uint64_t ns)
{
	t->reject_after_ns = ns;
}

static void keypair_free(struct sg_peers *t, struct sg_keypair *kp)
{
	sg_wipe(kp, sizeof(*kp));
	pool_put(&t->keypair_pool, kp);
}

static void peer_free(struct sg_peers *t, struct sg_peer *p)
{
	if (p == NULL)
		return;
	struct rte_mbuf *m;

	while (sg_peer_unstage(p, &m, 1) == 1)
		rte_pktmbuf_free(m);
	sg_wipe(p, sizeof(*p));
	pool_put(&t->peer_pool, p);
}

void sg_peers_destroy(struct sg_peers *t)
{
	unsigned i;

	if (t == NULL)
		return;
	while (t->defer_len > 0) {
		struct deferred *d = &t->defer[t->defer_head];

		/* Nothing consumes the event ring any more. */
		if (d->is_peer)
			atomic_store_explicit(&((struct sg_peer *)d->ptr)->events, 0,
					      memory_order_relaxed);
		run_deferred(t, d);
		t->defer_head = (t->defer_head + 1) % DEFER_SLOTS;
		t->defer_len--;
	}
	if (t->ix.slot != NULL) {
		for (i = 0; i <= t->ix.mask; i++)
			if (t->ix.slot[i] != NULL)
				keypair_free(t, t->ix.slot[i]);
	}
	for (i = 0; i < t->n_slots; i++)
		peer_free(t, t->peers[i]);
	pool_destroy(&t->peer_pool);
	pool_destroy(&t->keypair_pool);
	rte_hash_free(t->by_key);
	rte_free(t->peers);
	rte_free(t->free_ids);
	rte_free(t->ix.slot);
	rte_free(t->owner);
	rte_free(t->owner_index);
	rte_free(t);
}

struct sg_peer *sg_peers_add(struct sg_peers *t, const struct sg_peer_conf *c, int *err)
{
	struct sg_peer *p;

	if (t->n_peers >= t->max_peers) {
		*err = -ENOSPC;
		return NULL;
	}
	if (rte_hash_lookup(t->by_key, c->public_key) >= 0) {
		*err = -EEXIST;
		return NULL;
	}
	p = pool_get(&t->peer_pool, t->socket);
	if (p == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	p->id = t->n_free > 0 ? t->free_ids[t->n_free - 1] : t->n_slots;
	snprintf(p->name, sizeof(p->name), "%s", c->name ? c->name : "");
	memcpy(p->public_key, c->public_key, sizeof(p->public_key));
	memcpy(p->psk, c->psk, sizeof(p->psk));
	memcpy(p->org, c->org, sizeof(p->org));
	p->org_len = c->org_len;
	p->keepalive_s = c->keepalive_s;
	rte_seqlock_init(&p->ep_lock);
	sg_keyslots_init(&p->ks);
	if (c->endpoint != NULL)
		p->ep = *c->endpoint;
	/* Any worker stages; whoever sends the session's first packets drains. */
	rte_spinlock_init(&p->staged.lock);
	if (rte_hash_add_key_data(t->by_key, p->public_key, p) < 0) {
		peer_free(t, p);
		*err = -ENOMEM;
		return NULL;
	}
	if (p->id == t->n_slots)
		t->n_slots++;
	else
		t->n_free--;
	t->n_peers++;
	atomic_store_explicit((SG_ATOMIC(struct sg_peer *) *)&t->peers[p->id], p,
			      memory_order_release);
	*err = 0;
	return p;
}

struct sg_peer *sg_peers_lookup_key(const struct sg_peers *t, const uint8_t key[32])
{
	void *data;

	if (rte_hash_lookup_data(t->by_key, key, &data) < 0)
		return NULL;
	return data;
}

unsigned sg_peers_count(const struct sg_peers *t)
{
	return t->n_peers;
}

unsigned sg_peers_slots(const struct sg_peers *t)
{
	return t->n_slots;
}

struct sg_peer *sg_peers_at(const struct sg_peers *t, unsigned i)
{
	return i < t->n_slots ? t->peers[i] : NULL;
}

/* The peer's grace period is over: free it unless it waits on the event ring. */
static void peer_reclaim(struct sg_peers *t, struct sg_peer *p)
{
	if (atomic_load_explicit(&p->events, memory_order_acquire) & SG_PEER_EV_QUEUED) {
		/* The event ring's consumer frees it (sg_peers_event_done). */
		p->id = UINT32_MAX;
		return;
	}
	peer_free(t, p);
}

void sg_peers_remove(struct sg_peers *t, struct sg_peer *p)
{
	sg_peers_clear_keypairs(t, p);
	rte_hash_del_key(t->by_key, p->public_key);
	p->removed = true;
	atomic_store_explicit((SG_ATOMIC(struct sg_peer *) *)&t->peers[p->id], NULL,
			      memory_order_release);
	t->free_ids[t->n_free++] = p->id;
	t->n_peers--;
	defer(t, p, NULL, true);
}

bool sg_peers_event_done(struct sg_peers *t, struct sg_peer *p)
{
	if (!p->removed)
		return false;
	atomic_fetch_and_explicit(&p->events, ~(unsigned)SG_PEER_EV_QUEUED, memory_order_acq_rel);
	/* Past its grace period (peer_reclaim ran and left it to us): free it now. */
	if (p->id == UINT32_MAX)
		peer_free(t, p);
	return true;
}

int sg_peers_index_alloc(struct sg_peers *t, struct sg_peer *peer, uint32_t *index)
{
	unsigned tries;

	/*
	 * Keep the table at most three quarters full: random probing then
	 * takes 4 tries on average, and 64 all fail with odds below 1e-8.
	 */
	if (t->ix_used >= (t->ix.mask + 1) / 4 * 3)
		return -ENOSPC;
	for (tries = 0; tries < 64; tries++) {
		uint32_t idx;

		sg_random(&idx, sizeof(idx));
		if (t->owner[idx & t->ix.mask] != NULL)
			continue;
		t->owner[idx & t->ix.mask] = peer;
		t->owner_index[idx & t->ix.mask] = idx;
		t->ix_used++;
		*index = idx;
		return 0;
	}
	return -ENOSPC;
}

int sg_peers_index_claim(struct sg_peers *t, struct sg_peer *peer, uint32_t index)
{
	uint32_t s = index & t->ix.mask;

	if (t->owner[s] != NULL)
		return -EEXIST;
	t->owner[s] = peer;
	t->owner_index[s] = index;
	t->ix_used++;
	return 0;
}

struct sg_peer *sg_peers_index_owner(const struct sg_peers *t, uint32_t index)
{
	uint32_t s = index & t->ix.mask;

	return t->owner_index[s] == index ? t->owner[s] : NULL;
}

void sg_peers_index_free(struct sg_peers *t, uint32_t index)
{
	uint32_t s = index & t->ix.mask;

	if (t->owner[s] == NULL || t->owner_index[s] != index || t->ix.slot[s] != NULL)
		return;
	t->owner[s] = NULL;
	t->owner_index[s] = 0;
	t->ix_used--;
}

struct sg_keypair *sg_peers_keypair_new(struct sg_peers *t, struct sg_peer *peer,
					uint32_t local_index, uint32_t remote_index,
					const uint8_t send_key[32], const uint8_t recv_key[32],
					bool initiator, uint64_t now_ns)
{
	struct sg_keypair *kp;

	if (sg_peers_index_owner(t, local_index) != peer)
		return NULL;
	kp = pool_get(&t->keypair_pool, t->socket);
	if (kp == NULL)
		return NULL;
	kp->local_index = local_index;
	kp->remote_index = remote_index;
	memcpy(kp->send_key, send_key, sizeof(kp->send_key));
	memcpy(kp->recv_key, recv_key, sizeof(kp->recv_key));
	kp->birth_ns = now_ns;
	kp->expire_ns = now_ns + t->reject_after_ns;
	kp->tx_expire_ns = kp->expire_ns;
	kp->initiator = initiator;
	kp->peer = peer;
	atomic_init(&kp->confirmed, initiator);
	atomic_init(&kp->send_counter, 0);
	atomic_init(&kp->send_limit, UINT64_MAX);
	rte_spinlock_init(&kp->replay_lock);
	sg_replay_init(&kp->replay);
	t->keypairs_alive++;
	return kp;
}

static void release_keypair_now(struct sg_peers *t, struct sg_keypair *kp)
{
	uint32_t s = kp->local_index & t->ix.mask;

	if (t->owner_index[s] == kp->local_index) {
		t->owner[s] = NULL;
		t->owner_index[s] = 0;
		t->ix_used--;
	}
	t->keypairs_alive--;
	keypair_free(t, kp);
}

static void retire(struct sg_peers *t, struct sg_keypair *kp)
{
	uint32_t s;

	if (kp == NULL)
		return;
	s = kp->local_index & t->ix.mask;
	if (atomic_load_explicit(&t->ix.slot[s], memory_order_relaxed) == kp)
		atomic_store_explicit(&t->ix.slot[s], NULL, memory_order_release);
	/* The owner entry stays until the free, so the index is not reused early. */
	defer(t, kp, NULL, false);
}

/* Makes the control lcore's view of the slots visible to the workers. */
static void publish(struct sg_peer *p)
{
	atomic_store_explicit(&p->kp_cur, p->ks.current, memory_order_release);
	atomic_store_explicit(&p->kp_next, p->ks.next, memory_order_release);
	atomic_store_explicit(&p->kp_prev, p->ks.previous, memory_order_release);
}

static void install(struct sg_peers *t, struct sg_keypair *kp, bool current)
{
	struct sg_peer *p = kp->peer;
	void *dropped[2] = { NULL, NULL };
	unsigned i, n;

	atomic_store_explicit(&t->ix.slot[kp->local_index & t->ix.mask], kp, memory_order_release);
	n = sg_keyslots_install(&p->ks, kp, current, dropped);
	publish(p);
	for (i = 0; i < n; i++)
		retire(t, dropped[i]);
}

void sg_peers_install(struct sg_peers *t, struct sg_keypair *kp)
{
	install(t, kp, kp->initiator);
}

void sg_peers_install_current(struct sg_peers *t, struct sg_keypair *kp)
{
	atomic_store_explicit(&kp->confirmed, true, memory_order_relaxed);
	install(t, kp, true);
}

bool sg_peers_confirm(struct sg_peers *t, struct sg_peer *peer, struct sg_keypair *kp)
{
	void *dropped = NULL;

	if (!sg_keyslots_confirm(&peer->ks, kp, &dropped))
		return false;
	publish(peer);
	retire(t, dropped);
	return true;
}

void sg_peers_clear_keypairs(struct sg_peers *t, struct sg_peer *peer)
{
	void *dropped[3] = { NULL, NULL, NULL };
	unsigned i, n = sg_keyslots_clear(&peer->ks, dropped);

	publish(peer);
	for (i = 0; i < n; i++)
		retire(t, dropped[i]);
}

static void run_deferred(struct sg_peers *t, struct deferred *d)
{
	if (d->fn != NULL)
		d->fn(d->ptr);
	else if (d->is_peer)
		peer_reclaim(t, d->ptr);
	else
		release_keypair_now(t, d->ptr);
}

static void defer(struct sg_peers *t, void *ptr, void (*fn)(void *), bool is_peer)
{
	struct deferred *d;

	if (t->defer_len == DEFER_SLOTS) {
		/* Full: wait out one grace period here, on the control lcore only. */
		rte_rcu_qsbr_synchronize(t->qsbr, RTE_QSBR_THRID_INVALID);
		sg_peers_reclaim(t);
	}
	d = &t->defer[(t->defer_head + t->defer_len) % DEFER_SLOTS];
	d->ptr = ptr;
	d->fn = fn;
	d->is_peer = is_peer;
	d->token = rte_rcu_qsbr_start(t->qsbr);
	t->defer_len++;
}

void sg_peers_defer(struct sg_peers *t, void *ptr, void (*fn)(void *))
{
	defer(t, ptr, fn, false);
}

unsigned sg_peers_reclaim(struct sg_peers *t)
{
	unsigned n = 0;

	while (t->defer_len > 0) {
		struct deferred *d = &t->defer[t->defer_head];

		if (rte_rcu_qsbr_check(t->qsbr, d->token, false) != 1)
			break;
		run_deferred(t, d);
		t->defer_head = (t->defer_head + 1) % DEFER_SLOTS;
		t->defer_len--;
		n++;
	}
	return n;
}

unsigned sg_peers_deferred(const struct sg_peers *t)
{
	return t->defer_len;
}

unsigned sg_peers_keypairs_alive(const struct sg_peers *t)
{
	return t->keypairs_alive;
}

const struct sg_peers_index *sg_peers_index_table(const struct sg_peers *t)
{
	return &t->ix;
}

void sg_peer_endpoint_set(struct sg_peer *p, const struct sg_endpoint *ep)
{
	struct sg_endpoint cur;

	sg_peer_endpoint_get(p, &cur);
	if (memcmp(&cur, ep, sizeof(cur)) == 0)
		return;
	rte_seqlock_write_lock(&p->ep_lock);
	p->ep = *ep;
	rte_seqlock_write_unlock(&p->ep_lock);
}

unsigned sg_peer_stage(struct sg_peer *p, struct rte_mbuf **pkts, unsigned n)
{
	unsigned i, room;

	rte_spinlock_lock(&p->staged.lock);
	room = SG_MAX_STAGED_PACKETS - atomic_load_explicit(&p->staged.n, memory_order_relaxed);
	if (n > room)
		n = room;
	for (i = 0; i < n; i++) {
		*staged_next(pkts[i]) = NULL;
		if (p->staged.tail != NULL)
			*staged_next(p->staged.tail) = pkts[i];
		else
			p->staged.head = pkts[i];
		p->staged.tail = pkts[i];
	}
	atomic_fetch_add_explicit(&p->staged.n, n, memory_order_relaxed);
	rte_spinlock_unlock(&p->staged.lock);
	return n;
}

unsigned sg_peer_unstage(struct sg_peer *p, struct rte_mbuf **out, unsigned max)
{
	unsigned n = 0;

	if (sg_peer_staged_count(p) == 0)
		return 0;
	rte_spinlock_lock(&p->staged.lock);
	while (n < max && p->staged.head != NULL) {
		struct rte_mbuf *m = p->staged.head;

		p->staged.head = *staged_next(m);
		*staged_next(m) = NULL;
		out[n++] = m;
	}
	if (p->staged.head == NULL)
		p->staged.tail = NULL;
	atomic_fetch_sub_explicit(&p->staged.n, n, memory_order_relaxed);
	rte_spinlock_unlock(&p->staged.lock);
	return n;
}
