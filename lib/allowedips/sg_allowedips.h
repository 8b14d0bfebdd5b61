/* SPDX-License-Identifier: MIT */
/*
 * Cryptokey routing: the table that maps IPv4 and IPv6 prefixes to peers, as
 * the allowed IPs of the Linux WireGuard driver.  One path-compressed binary
 * trie per family; a lookup returns the peer of the longest prefix that holds
 * the address.  It is used both ways:
 *
 *   egress:  peer = sg_allowedips_lookup(t, AF_INET6, dst)   (where to send)
 *   ingress: sg_allowedips_lookup(t, AF_INET6, src) == peer  (source check)
 *
 * Concurrency contract
 * --------------------
 * - Lookups never lock, never write shared memory and may run on any number
 *   of worker lcores at the same time as one writer.
 * - Every other function (insert, remove, walk, count, destroy) is a writer
 *   operation: the caller runs them on one thread at a time (the control
 *   lcore), or serialises them with its own lock.
 * - A writer builds every new node completely before it publishes it with a
 *   release store; readers follow pointers with acquire loads, so a reader
 *   sees either the old or the new trie shape, both valid.
 * - A node that a writer unlinks may still be in use by a reader.  The writer
 *   therefore never frees it: it hands it to the retire callback given at
 *   creation.  The caller must call sg_allowedips_node_free() on it only after
 *   a grace period, i.e. once every reader that may have started a lookup
 *   before the retire call has passed a quiescent state.  With DPDK:
 *   rte_rcu_qsbr_dq_enqueue() from the retire callback and
 *   sg_allowedips_node_free() from the defer queue's free function, or
 *   collect the nodes, rte_rcu_qsbr_synchronize() and free them.
 * - Without a retire callback nodes are freed at once: allowed only when no
 *   lookup can run concurrently (tests, single-threaded tools).
 * - The same grace period applies to the peers themselves: a lookup may return
 *   a peer that a concurrent remove_by_peer() just removed, so the caller frees
 *   a peer only after a grace period that follows its removal.
 */
#ifndef SG_ALLOWEDIPS_H
#define SG_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sg_allowedips;

/* Receives each unlinked node; see the concurrency contract above. */
typedef void (*sg_allowedips_retire_fn)(void *ctx, void *node);

/*
 * Creates an empty table.  retire may be NULL (nodes are then freed at once).
 * Returns NULL when out of memory.
 */
struct sg_allowedips *sg_allowedips_create(sg_allowedips_retire_fn retire, void *ctx);

/*
 * Frees the table and all its nodes at once, without the retire callback:
 * the caller guarantees that no lookup is running or will run.  NULL is a no-op.
 */
void sg_allowedips_destroy(struct sg_allowedips *t);

/* Frees a node that was passed to the retire callback, after the grace period. */
void sg_allowedips_node_free(void *node);

/*
 * Maps family/addr/cidr to peer, replacing the peer of an equal prefix.  addr
 * is in network byte order (4 bytes for AF_INET, 16 for AF_INET6); host bits
 * beyond cidr are ignored.  Returns 0, -EINVAL (bad family, cidr too long or
 * peer NULL) or -ENOMEM (the table is then unchanged).
 */
int sg_allowedips_insert(struct sg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 void *peer);

/*
 * Removes the prefix family/addr/cidr when it belongs to peer.  Returns 0, or
 * -ENOENT when no such prefix maps to that peer (nothing changes then).
 */
int sg_allowedips_remove(struct sg_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 void *peer);

/* Removes every prefix of peer. Returns how many were removed. */
size_t sg_allowedips_remove_by_peer(struct sg_allowedips *t, void *peer);

/*
 * Longest prefix match: the peer of the longest prefix that holds addr, or
 * NULL when none does (or the family is neither AF_INET nor AF_INET6).
 * Lock-free; safe concurrently with one writer.
 */
void *sg_allowedips_lookup(const struct sg_allowedips *t, int family, const uint8_t *addr);

/*
 * A lookup cache of one reader (a worker): IPv6 address -> peer, direct
 * mapped.  Every change to the table (insert, remove, remove_by_peer) makes
 * every entry of every cache stale at once: the table's generation moves
 * after the change is published, and an entry counts only while its
 * generation is the table's.  A cache serves one table only.  32 bytes an
 * entry, 2^bits entries: sg_allowedips_cache_bits sizes it for a number of
 * addresses (a direct-mapped table of about as many entries as addresses
 * misses on a third of them, and each miss walks the trie: with 10,000
 * peers that is several loads from DRAM, one after the other).
 */
#define SG_ALLOWEDIPS_CACHE_BITS_MIN 14
#define SG_ALLOWEDIPS_CACHE_BITS_MAX 18 /* 8 MiB */

struct sg_allowedips_cache_entry {
	uint64_t gen;
	uint64_t addr[2];
	void *peer;
};

struct sg_allowedips_cache {
	uint32_t shift;	 /* 64 - bits */
	uint32_t pad[7]; /* the entries start 32 bytes in: none straddles a cache line */
	struct sg_allowedips_cache_entry e[];
};

/* Entry bits for about n addresses: at least 2n entries, within the bounds above. */
unsigned sg_allowedips_cache_bits(unsigned n);

/* The bytes of a cache of 2^bits entries (bits within the bounds above). */
static inline size_t sg_allowedips_cache_size(unsigned bits)
{
	return sizeof(struct sg_allowedips_cache) +
	       ((size_t)1 << bits) * sizeof(struct sg_allowedips_cache_entry);
}

/* Makes zeroed memory of sg_allowedips_cache_size(bits) bytes an empty cache. */
static inline void sg_allowedips_cache_init(struct sg_allowedips_cache *c, unsigned bits)
{
	c->shift = 64 - bits;
}

/*
 * sg_allowedips_lookup(t, AF_INET6, addr) through cache c, which only its
 * owner uses.  Same answer, and the same concurrency contract: a lookup that
 * overlaps a writer's call sees the table before or after it.
 */
void *sg_allowedips_lookup_cached(const struct sg_allowedips *t, struct sg_allowedips_cache *c,
				  const uint8_t addr[16]);

/* The entry of c that a lookup of addr reads (for a prefetch a step ahead of it). */
static inline const void *sg_allowedips_cache_slot(const struct sg_allowedips_cache *c,
						   const uint8_t addr[16])
{
	uint64_t a[2];

	memcpy(a, addr, sizeof(a));
	return &c->e[((a[0] ^ a[1]) * 0x9e3779b97f4a7c15ull) >> c->shift];
}

/*
 * Called once per prefix of a peer.  addr is in network byte order (4 or 16
 * bytes by family).  Returning non-zero stops the walk.
 */
typedef int (*sg_allowedips_walk_fn)(void *arg, int family, const uint8_t *addr, uint8_t cidr);

/*
 * Calls fn for every prefix of peer, in the order they were first given to
 * that peer.  fn must not modify the table.  Returns fn's non-zero value when
 * it stopped the walk, else 0.
 */
int sg_allowedips_walk_peer(const struct sg_allowedips *t, const void *peer,
			    sg_allowedips_walk_fn fn, void *arg);

/* Number of prefixes in the table (both families). */
size_t sg_allowedips_count(const struct sg_allowedips *t);

/* Number of prefixes that map to peer. */
size_t sg_allowedips_count_peer(const struct sg_allowedips *t, const void *peer);

#ifdef __cplusplus
}
#endif
#endif
