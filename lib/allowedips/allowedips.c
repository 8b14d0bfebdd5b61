/* SPDX-License-Identifier: MIT */
/*
 * Allowed IPs: a path-compressed binary trie per address family.
 *
 * Every node holds a prefix (key, cidr).  A node with a peer is a prefix of
 * the table; a node without one is a branch node, made only where two
 * prefixes part ways, and it always has two children.  A node's key and cidr
 * never change once it is published, so a reader only has to load the child
 * and peer pointers atomically.  Keys are kept as two host-order 64-bit words
 * (IPv4 in the top 32 bits of the first) so matching is a mask and a compare.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/allowedips/sg_allowedips.h"

/*
 * The first 48 bytes are all a lookup touches; the node is 64 bytes and
 * cache-line aligned, so a lookup reads one line per level.
 */
struct node {
	struct node *child[2];
	void *peer;
	uint64_t key[2];
	uint8_t cidr;
	uint8_t bits;
	uint8_t slot; /* index in the parent's child[], or ROOT_SLOT */
	/* Writer-only fields. */
	struct node *parent;
	struct node *peer_next; /* the next node of the same peer */
};

_Static_assert(sizeof(struct node) == 64, "one cache line per node");

#define ROOT_SLOT 2

struct peer_entry {
	const void *peer; /* NULL: free slot */
	struct node *head, *tail;
	size_t n;
};

/* Open addressing with linear probing; writer-only. */
struct peer_map {
	struct peer_entry *slots;
	size_t cap; /* a power of two, or 0 */
	size_t used;
};

struct sg_allowedips {
	struct node *root[2]; /* [0] IPv4, [1] IPv6 */
	size_t count;
	struct peer_map peers;
	sg_allowedips_retire_fn retire;
	void *retire_ctx;
	/* Moves after every change; never 0, so that a zeroed cache entry is stale. */
	uint64_t gen;
};

/* After a change is published: every cached lookup is stale from now on. */
static void changed(struct sg_allowedips *t)
{
	__atomic_fetch_add(&t->gen, 1, __ATOMIC_RELEASE);
}

static inline struct node *load_ptr(struct node *const *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void publish(struct node **p, struct node *v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Returns the root index of a family and its bit count, or -1. */
static int family_index(int family, uint8_t *bits)
{
	if (family == AF_INET) {
		*bits = 32;
		return 0;
	}
	if (family == AF_INET6) {
		*bits = 128;
		return 1;
	}
	return -1;
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void load_key(uint64_t key[2], const uint8_t *addr, uint8_t bits)
{
	if (bits == 32) {
		key[0] = (uint64_t)((uint32_t)addr[0] << 24 | (uint32_t)addr[1] << 16 |
				    (uint32_t)addr[2] << 8 | addr[3])
			 << 32;
		key[1] = 0;
	} else {
		key[0] = get_be64(addr);
		key[1] = get_be64(addr + 8);
	}
}

static void store_key(uint8_t *addr, const uint64_t key[2], uint8_t bits)
{
	uint8_t full[16];

	put_be64(full, key[0]);
	put_be64(full + 8, key[1]);
	memcpy(addr, full, bits / 8);
}

static uint64_t word_mask(int cidr)
{
	if (cidr <= 0)
		return 0;
	if (cidr >= 64)
		return ~0ull;
	return ~0ull << (64 - cidr);
}

static void mask_key(uint64_t key[2], uint8_t cidr)
{
	key[0] &= word_mask(cidr);
	key[1] &= word_mask(cidr - 64);
}

/* Bit i of the key, counting from the most significant bit. */
static inline unsigned int key_bit(const uint64_t key[2], uint8_t i)
{
	return i < 64 ? (unsigned int)(key[0] >> (63 - i)) & 1
		      : (unsigned int)(key[1] >> (127 - i)) & 1;
}

static inline bool node_matches(const struct node *n, const uint64_t key[2])
{
	return ((key[0] ^ n->key[0]) & word_mask(n->cidr)) == 0 &&
	       ((key[1] ^ n->key[1]) & word_mask(n->cidr - 64)) == 0;
}

/* How many leading bits two keys share. */
static uint8_t common_bits(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (uint8_t)__builtin_clzll(x);
	x = a[1] ^ b[1];
	return x ? (uint8_t)(64 + __builtin_clzll(x)) : 128;
}

static uint64_t hash_ptr(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static struct peer_entry *peer_find(const struct peer_map *m, const void *peer)
{
	if (!m->cap)
		return NULL;
	for (size_t i = hash_ptr(peer) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->slots[i].peer == peer)
			return &m->slots[i];
		if (!m->slots[i].peer)
			return NULL;
	}
}

static struct peer_entry *peer_slot_for_add(struct peer_map *m, const void *peer)
{
	size_t i = hash_ptr(peer) & (m->cap - 1);

	while (m->slots[i].peer && m->slots[i].peer != peer)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

/* Makes room for one more peer, so that peer_get() cannot fail afterwards. */
static int peer_reserve(struct peer_map *m)
{
	struct peer_entry *old = m->slots;
	size_t old_cap = m->cap;
	size_t cap = old_cap ? old_cap * 2 : 16;

	if ((m->used + 1) * 2 <= old_cap)
		return 0;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].peer)
			*peer_slot_for_add(m, old[i].peer) = old[i];
	free(old);
	return 0;
}

/* Finds or adds the entry of peer; peer_reserve() must have run before. */
static struct peer_entry *peer_get(struct peer_map *m, const void *peer)
{
	struct peer_entry *e = peer_slot_for_add(m, peer);

	if (!e->peer) {
		memset(e, 0, sizeof(*e));
		e->peer = peer;
		m->used++;
	}
	return e;
}

/* Removes an entry; entries after it shift back so probing stays correct. */
static void peer_delete(struct peer_map *m, struct peer_entry *e)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)(e - m->slots);

	m->slots[i].peer = NULL;
	m->used--;
	for (size_t j = (i + 1) & mask; m->slots[j].peer; j = (j + 1) & mask) {
		size_t home = hash_ptr(m->slots[j].peer) & mask;
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);

		if (stays)
			continue;
		m->slots[i] = m->slots[j];
		m->slots[j].peer = NULL;
		i = j;
	}
}

static void list_append(struct sg_allowedips *t, struct node *n, void *peer)
{
	struct peer_entry *e = peer_get(&t->peers, peer);

	n->peer_next = NULL;
	if (e->tail)
		e->tail->peer_next = n;
	else
		e->head = n;
	e->tail = n;
	e->n++;
}

/* Unlinks n from its peer's list; drops the peer's entry when it empties. */
static void list_unlink(struct sg_allowedips *t, struct node *n)
{
	struct peer_entry *e = peer_find(&t->peers, n->peer);
	struct node *prev = NULL;

	for (struct node *it = e->head; it != n; it = it->peer_next)
		prev = it;
	if (prev)
		prev->peer_next = n->peer_next;
	else
		e->head = n->peer_next;
	if (e->tail == n)
		e->tail = prev;
	n->peer_next = NULL;
	if (--e->n == 0)
		peer_delete(&t->peers, e);
}

static struct node *node_new(const uint64_t key[2], uint8_t cidr, uint8_t bits)
{
	struct node *n = aligned_alloc(64, sizeof(*n));

	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->key[0] = key[0];
	n->key[1] = key[1];
	mask_key(n->key, cidr);
	n->cidr = cidr;
	n->bits = bits;
	n->slot = ROOT_SLOT;
	return n;
}

void sg_allowedips_node_free(void *node)
{
	free(node);
}

static void retire(struct sg_allowedips *t, struct node *n)
{
	if (t->retire)
		t->retire(t->retire_ctx, n);
	else
		free(n);
}

/* The pointer that links n into the trie: its parent's child slot or a root. */
static struct node **link_of(struct sg_allowedips *t, struct node *n)
{
	if (n->slot == ROOT_SLOT)
		return &t->root[n->bits == 128];
	return &n->parent->child[n->slot];
}

/* Sets the parent of an unpublished or writer-owned child. */
static void adopt(struct node *parent, struct node *child, unsigned int slot)
{
	child->parent = parent;
	child->slot = (uint8_t)slot;
	parent->child[slot] = child;
}

/* Gives an existing node (a branch node or a prefix) to peer. */
static void node_set_peer(struct sg_allowedips *t, struct node *n, void *peer)
{
	if (n->peer == peer)
		return;
	if (n->peer)
		list_unlink(t, n);
	else
		t->count++;
	list_append(t, n, peer);
	__atomic_store_n(&n->peer, peer, __ATOMIC_RELEASE);
}

/*
 * Hangs a new prefix node nn at *link, where the node old (maybe NULL) is now.
 * A branch node is made when nn and old part ways below nn's cidr.
 */
static int link_new(struct node **link, struct node *parent, unsigned int slot, struct node *nn,
		    struct node *old)
{
	struct node *top = nn;

	if (old) {
		uint8_t c = common_bits(nn->key, old->key);

		if (c >= nn->cidr) {
			/* nn is a prefix of old: old goes below nn. */
			adopt(nn, old, key_bit(old->key, nn->cidr));
		} else {
			top = node_new(nn->key, c, nn->bits);
			if (!top)
				return -ENOMEM;
			adopt(top, nn, key_bit(nn->key, c));
			adopt(top, old, key_bit(old->key, c));
		}
	}
	top->parent = parent;
	top->slot = (uint8_t)slot;
	/* Everything below top is complete: now readers may see it. */
	publish(link, top);
	return 0;
}

int sg_allowedips_insert(struct sg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 void *peer)
{
	uint64_t key[2];
	uint8_t bits;
	int fi = family_index(family, &bits);
	struct node *parent = NULL, *n, *nn;
	struct node **link;
	unsigned int slot = ROOT_SLOT;

	if (fi < 0 || cidr > bits || !peer || !addr)
		return -EINVAL;
	if (peer_reserve(&t->peers))
		return -ENOMEM;
	load_key(key, addr, bits);
	mask_key(key, cidr);

	link = &t->root[fi];
	for (n = *link; n && n->cidr <= cidr && node_matches(n, key); n = *link) {
		if (n->cidr == cidr) {
			node_set_peer(t, n, peer);
			changed(t);
			return 0;
		}
		parent = n;
		slot = key_bit(key, n->cidr);
		link = &n->child[slot];
	}

	nn = node_new(key, cidr, bits);
	if (!nn)
		return -ENOMEM;
	nn->peer = peer;
	if (link_new(link, parent, slot, nn, n)) {
		free(nn);
		return -ENOMEM;
	}
	list_append(t, nn, peer);
	t->count++;
	changed(t);
	return 0;
}

/*
 * Takes a prefix node out of the trie.  It stays as a branch node when it has
 * two children; otherwise its child (if any) takes its place, and a parent
 * branch node left with one child is replaced by that child.
 */
static void node_remove(struct sg_allowedips *t, struct node *n)
{
	struct node *child, *parent = n->parent, *other;

	__atomic_store_n(&n->peer, NULL, __ATOMIC_RELEASE);
	t->count--;
	if (n->child[0] && n->child[1])
		return;

	child = n->child[0] ? n->child[0] : n->child[1];
	if (child) {
		child->parent = parent;
		child->slot = n->slot;
	}
	publish(link_of(t, n), child);
	if (!child && parent && !parent->peer) {
		other = parent->child[!n->slot];
		other->parent = parent->parent;
		other->slot = parent->slot;
		publish(link_of(t, parent), other);
		retire(t, parent);
	}
	retire(t, n);
}

int sg_allowedips_remove(struct sg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 void *peer)
{
	uint64_t key[2];
	uint8_t bits;
	int fi = family_index(family, &bits);
	struct node *n;

	if (fi < 0 || cidr > bits || !addr || !peer)
		return -ENOENT;
	load_key(key, addr, bits);
	mask_key(key, cidr);
	for (n = t->root[fi]; n && n->cidr < cidr && node_matches(n, key);)
		n = n->child[key_bit(key, n->cidr)];
	if (!n || n->cidr != cidr || !node_matches(n, key) || n->peer != peer)
		return -ENOENT;
	list_unlink(t, n);
	node_remove(t, n);
	changed(t);
	return 0;
}

size_t sg_allowedips_remove_by_peer(struct sg_allowedips *t, void *peer)
{
	struct peer_entry *e = peer_find(&t->peers, peer);
	struct node *n, *next;
	size_t removed;

	if (!e)
		return 0;
	removed = e->n;
	n = e->head;
	peer_delete(&t->peers, e);
	for (; n; n = next) {
		next = n->peer_next;
		n->peer_next = NULL;
		node_remove(t, n);
	}
	changed(t);
	return removed;
}

unsigned sg_allowedips_cache_bits(unsigned n)
{
	unsigned bits = SG_ALLOWEDIPS_CACHE_BITS_MIN;

	while (bits < SG_ALLOWEDIPS_CACHE_BITS_MAX && (1ull << bits) < 2ull * n)
		bits++;
	return bits;
}

void *sg_allowedips_lookup_cached(const struct sg_allowedips *t, struct sg_allowedips_cache *c,
				  const uint8_t addr[16])
{
	/* Before the lookup: a change that the lookup misses moves it later. */
	uint64_t gen = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
	struct sg_allowedips_cache_entry *e =
		(struct sg_allowedips_cache_entry *)sg_allowedips_cache_slot(c, addr);
	uint64_t a[2];

	memcpy(a, addr, sizeof(a));
	if (e->gen == gen && e->addr[0] == a[0] && e->addr[1] == a[1])
		return e->peer;
	e->peer = sg_allowedips_lookup(t, AF_INET6, addr);
	e->addr[0] = a[0];
	e->addr[1] = a[1];
	e->gen = gen;
	return e->peer;
}

void *sg_allowedips_lookup(const struct sg_allowedips *t, int family, const uint8_t *addr)
{
	uint64_t key[2];
	uint8_t bits;
	int fi = family_index(family, &bits);
	const struct node *n;
	void *found = NULL;

	if (fi < 0)
		return NULL;
	load_key(key, addr, bits);
	for (n = load_ptr(&t->root[fi]); n && node_matches(n, key);) {
		void *p = __atomic_load_n(&n->peer, __ATOMIC_ACQUIRE);

		if (p)
			found = p;
		if (n->cidr == bits)
			break;
		n = load_ptr(&n->child[key_bit(key, n->cidr)]);
	}
	return found;
}

int sg_allowedips_walk_peer(const struct sg_allowedips *t, const void *peer,
			    sg_allowedips_walk_fn fn, void *arg)
{
	const struct peer_entry *e = peer_find(&t->peers, peer);
	uint8_t addr[16];
	int rc;

	if (!e)
		return 0;
	for (const struct node *n = e->head; n; n = n->peer_next) {
		store_key(addr, n->key, n->bits);
		rc = fn(arg, n->bits == 32 ? AF_INET : AF_INET6, addr, n->cidr);
		if (rc)
			return rc;
	}
	return 0;
}

size_t sg_allowedips_count(const struct sg_allowedips *t)
{
	return t->count;
}

size_t sg_allowedips_count_peer(const struct sg_allowedips *t, const void *peer)
{
	const struct peer_entry *e = peer_find(&t->peers, peer);

	return e ? e->n : 0;
}

struct sg_allowedips *sg_allowedips_create(sg_allowedips_retire_fn retire_fn, void *ctx)
{
	struct sg_allowedips *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->retire = retire_fn;
	t->retire_ctx = ctx;
	t->gen = 1;
	return t;
}

static void free_subtree(struct node *n)
{
	if (!n)
		return;
	free_subtree(n->child[0]);
	free_subtree(n->child[1]);
	free(n);
}

void sg_allowedips_destroy(struct sg_allowedips *t)
{
	if (!t)
		return;
	free_subtree(t->root[0]);
	free_subtree(t->root[1]);
	free(t->peers.slots);
	free(t);
}
