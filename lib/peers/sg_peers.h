/* SPDX-License-Identifier: MIT */
/*
 * The peer and session table of the data plane: peers, their keypairs
 * (sessions), the receiver-index table that finds a keypair in O(1), and the
 * deferred free that makes all of it safe for lock-free readers.
 *
 * Concurrency contract
 * --------------------
 * - One writer: the control lcore creates peers, allocates indices, installs,
 *   rotates and retires keypairs.  Nothing here locks against another writer.
 * - Any number of readers (the workers) look keypairs up by index and read a
 *   peer's keypair slots without a lock, between two quiescent states of the
 *   shared rte_rcu_qsbr variable.  A keypair that the writer replaces stays
 *   valid until every reader has reported a quiescent state afterwards; only
 *   then does sg_peers_reclaim free (and wipe) it.
 * - Workers write a few per-peer fields themselves: the endpoint (under a
 *   seqlock, roaming), the statistics and time stamps (atomics), the staged
 *   queue (under its own spinlock) and the attention flags that bring a peer
 *   to the control lcore through the event ring.
 *
 * Memory: a peer costs its struct (320 bytes from a pool in the DPDK heap),
 * 512 bytes for each keypair (from another pool; most of it is the replay
 * window), its share of the key hash and of the index table (4 to 8 slots of
 * 20 bytes); nothing per peer is a memzone, a ring or any other EAL object of
 * bounded number, so the table holds as many peers as memory.  The pools keep
 * what they hand out once (their peak) for the next peers; sg_peers_destroy
 * returns it.
 */
#ifndef SG_PEERS_H
#define SG_PEERS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * C11 atomics, spelled so that the unit tests (C++17) can include this header:
 * std::atomic<T> has the layout of _Atomic(T) with GCC and clang.
 */
#ifdef __cplusplus
#include <atomic>
#define SG_ATOMIC(T)  std::atomic<T>
#define SG_ALIGNAS(n) alignas(n)
using std::atomic_exchange_explicit;
using std::atomic_fetch_and_explicit;
using std::atomic_fetch_or_explicit;
using std::atomic_load_explicit;
using std::memory_order_acq_rel;
using std::memory_order_acquire;
using std::memory_order_relaxed;
#else
#include <stdalign.h>
#include <stdatomic.h>
#define SG_ATOMIC(T)  _Atomic(T)
#define SG_ALIGNAS(n) alignas(n)
#endif

#include <rte_rcu_qsbr.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_seqlock.h>
#include <rte_spinlock.h>

#include "lib/replay/sg_replay.h"
#include "lib/timers/sg_timers.h"
#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_PEER_NAME_MAX 32

/* Where a peer was last heard from: outer address, UDP port and next-hop MAC. */
struct sg_endpoint {
	uint8_t family;	  /* 0 (none yet), 4 or 6 */
	uint8_t mac[6];	  /* next hop toward the peer, learned from its frames */
	uint8_t pad;	  /* zero, so that endpoints compare with memcmp */
	uint16_t port;	  /* network byte order */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, network byte order */
};

/*
 * A session: the two transport keys of one handshake.  Read by workers under
 * RCU; everything but the atomics and the replay window is immutable after
 * sg_peers_keypair_new.  Laid out in cache lines by direction, so that a
 * packet touches as few lines as it can (with thousands of peers each is a
 * miss) and neither direction writes a line the other reads: the first line
 * is what ingress reads (receive key, index, expiry, peer), the second all
 * that egress reads and writes (send key, receiver index, expiry, the nonce
 * counter and lease; the workers that encrypt on it write the counter), then
 * the replay window (written by the workers that decrypt).  448 bytes.
 */
struct sg_keypair {
	/* Ingress's line. */
	uint8_t recv_key[SG_SYMMETRIC_KEY_LEN];
	uint32_t local_index; /* receiver index of data sent to us */
	/* Set by the first worker that authenticates data on a responder keypair. */
	SG_ATOMIC(bool) confirmed;
	bool initiator;
	uint64_t expire_ns; /* birth + REJECT_AFTER_TIME: no use after this */
	struct sg_peer *peer;
	uint64_t birth_ns;
	/* Egress's line. */
	SG_ALIGNAS(64) uint8_t send_key[SG_SYMMETRIC_KEY_LEN];
	/* Shared by all workers that send on this keypair: one nonce each. */
	SG_ATOMIC(uint64_t) send_counter;
	/*
	 * Counters below it may be sent (a failover pair's lease, written by the
	 * control lcore: docs/fleet.md); UINT64_MAX on a gateway alone.
	 */
	SG_ATOMIC(uint64_t) send_limit;
	uint32_t remote_index; /* receiver index we put on data we send */
	uint64_t tx_expire_ns; /* expire_ns again, in egress's line */
	SG_ALIGNAS(64) rte_spinlock_t replay_lock;
	struct sg_replay replay;
};

/* Attention flags: why a worker queued the peer on the event ring. */
enum sg_peer_event {
	SG_PEER_EV_WANT_HANDSHAKE = 1u << 0, /* a packet waits and no session can send it */
	SG_PEER_EV_CONFIRMED = 1u << 1,	     /* a responder keypair got its first data */
	/*
	 * Its time stamps moved since the control lcore last fed them to its
	 * timers.  Unlike the others it stays raised until that visit
	 * (sg_peer_take_active), so a peer that keeps sending is queued at
	 * most once per visit, not once per burst.
	 */
	SG_PEER_EV_ACTIVE = 1u << 2,
	SG_PEER_EV_QUEUED = 1u << 31, /* the peer is on the event ring already */
};

/* Per-peer statistics and time stamps; written by any worker (relaxed atomics). */
struct sg_peer_stats {
	SG_ATOMIC(uint64_t) rx_bytes;
	SG_ATOMIC(uint64_t) tx_bytes;
	SG_ATOMIC(uint64_t) rx_packets;
	SG_ATOMIC(uint64_t) tx_packets;
	SG_ATOMIC(uint64_t) last_rx_ns;	     /* any authenticated packet */
	SG_ATOMIC(uint64_t) last_data_rx_ns; /* authenticated non-keepalive */
	SG_ATOMIC(uint64_t) last_tx_ns;	     /* any packet sent */
	SG_ATOMIC(uint64_t) last_data_tx_ns; /* non-keepalive sent */
};

struct sg_peer {
	uint32_t id; /* its slot: reused after the peer is removed */
	char name[SG_PEER_NAME_MAX];
	uint8_t public_key[SG_PUBLIC_KEY_LEN];
	uint8_t psk[SG_SYMMETRIC_KEY_LEN]; /* all zero when none is configured */
	uint8_t org[16];		   /* the peer's org network */
	uint8_t org_len;		   /* its prefix length (48) */
	uint16_t keepalive_s;		   /* persistent keepalive, 0 = off */
	/* Set by sg_peers_remove: the event ring's consumer skips it. */
	bool removed;

	/*
	 * Keypair slots, as the kernel: next (unconfirmed), current, previous.
	 * The control lcore rotates them in ks (lib/timers) and publishes the
	 * result here for the workers.
	 */
	struct sg_keyslots ks;
	SG_ATOMIC(struct sg_keypair *) kp_next;
	SG_ATOMIC(struct sg_keypair *) kp_cur;
	SG_ATOMIC(struct sg_keypair *) kp_prev;

	rte_seqlock_t ep_lock;
	struct sg_endpoint ep;
	SG_ATOMIC(unsigned) events; /* here: in the padding after ep */

	/*
	 * Packets that wait for a session (at most SG_MAX_STAGED_PACKETS): a
	 * FIFO threaded through the mbufs themselves (a dynamic mbuf field), so
	 * that an idle peer's queue costs 24 bytes, not a ring of its own.
	 */
	struct {
		rte_spinlock_t lock;
		SG_ATOMIC(uint32_t) n;
		struct rte_mbuf *head, *tail;
	} staged;
	/* When the oldest of them was staged (0: none); later ones do not move it. */
	SG_ATOMIC(uint64_t) staged_at;
	/* Control-plane state (handshake, timers), owned by the control lcore. */
	void *ctl;

	/*
	 * Written by every worker that moves the peer's packets: a line of its
	 * own, away from what they only read.  The struct is 320 bytes.
	 */
	SG_ALIGNAS(64) struct sg_peer_stats st;
};

struct sg_peers;

/* What a peer is created from. */
struct sg_peer_conf {
	const char *name;
	uint8_t public_key[SG_PUBLIC_KEY_LEN];
	uint8_t psk[SG_SYMMETRIC_KEY_LEN];
	uint8_t org[16];
	uint8_t org_len;
	uint16_t keepalive_s;
	const struct sg_endpoint *endpoint; /* NULL: learned from the first handshake */
};

/*
 * Creates a table for up to max_peers peers and 2^index_bits concurrent
 * indices (handshakes plus keypairs), whose keypairs are protected by qsbr.
 * Returns NULL (rte_errno set) on failure.
 */
struct sg_peers *sg_peers_create(const char *name, unsigned max_peers, unsigned index_bits,
				 struct rte_rcu_qsbr *qsbr, int socket);

/*
 * Sets REJECT_AFTER_TIME for keypairs made from now on (default: the
 * protocol's 180 s; tests shorten it).
 */
void sg_peers_set_reject_after(struct sg_peers *t, uint64_t ns);

/* Frees every peer and keypair at once: no reader may run any more. */
void sg_peers_destroy(struct sg_peers *t);

/* Adds a peer; returns it, or NULL: -EEXIST (same key), -ENOSPC, -ENOMEM in *err. */
struct sg_peer *sg_peers_add(struct sg_peers *t, const struct sg_peer_conf *c, int *err);

/* The peer with this static public key, or NULL.  Control lcore only. */
struct sg_peer *sg_peers_lookup_key(const struct sg_peers *t, const uint8_t key[32]);

/*
 * Number of peers; the number of slots a walk visits; and the peer in slot i
 * (0..slots-1), NULL for a slot whose peer was removed.  Readers under RCU
 * (telemetry) may walk too: a removed peer stays readable until their grace
 * period is over.
 */
unsigned sg_peers_count(const struct sg_peers *t);
unsigned sg_peers_slots(const struct sg_peers *t);
struct sg_peer *sg_peers_at(const struct sg_peers *t, unsigned i);

/*
 * Removes a peer: no key lookup finds it from now on, its keypairs are
 * retired, and the struct is wiped and freed after a grace period (or, if a
 * worker queued it on the event ring meanwhile, when sg_peers_event_done
 * sees it).  The caller has released its indices, allowed IPs and staged
 * packets first.  Control lcore only.
 */
void sg_peers_remove(struct sg_peers *t, struct sg_peer *p);

/*
 * For the consumer of the event ring: whether p (just dequeued) is a removed
 * peer, to be skipped; frees it when its grace period is already over.
 */
bool sg_peers_event_done(struct sg_peers *t, struct sg_peer *p);

/*
 * Reserves a fresh random receiver index for a handshake of peer.  Returns 0
 * and the index, or -ENOSPC when the index table is full.
 */
int sg_peers_index_alloc(struct sg_peers *t, struct sg_peer *peer, uint32_t *index);

/*
 * Reserves the given receiver index for peer (a failover pair's standby
 * taking over a session with the index the client knows).  Returns 0, or
 * -EEXIST when its slot is taken.
 */
int sg_peers_index_claim(struct sg_peers *t, struct sg_peer *peer, uint32_t index);

/* The peer that reserved index (for a handshake response), or NULL. */
struct sg_peer *sg_peers_index_owner(const struct sg_peers *t, uint32_t index);

/* Releases an index that never got a keypair (a handshake that was abandoned). */
void sg_peers_index_free(struct sg_peers *t, uint32_t index);

/*
 * Makes a keypair on the reserved index local_index (the index is then owned
 * by the keypair and released with it).  The keys are copied; the caller
 * wipes its own copies.  Returns NULL when out of memory.
 */
struct sg_keypair *sg_peers_keypair_new(struct sg_peers *t, struct sg_peer *peer,
					uint32_t local_index, uint32_t remote_index,
					const uint8_t send_key[32], const uint8_t recv_key[32],
					bool initiator, uint64_t now_ns);

/*
 * Publishes a new keypair of its peer: an initiator's becomes current at once
 * (the old current becomes previous); a responder's waits in next until data
 * confirms it.  Replaced keypairs are retired (freed after a grace period).
 */
void sg_peers_install(struct sg_peers *t, struct sg_keypair *kp);

/*
 * Publishes a keypair as the peer's current one whatever its role (a session
 * taken over from the partner of a failover pair, which the client uses
 * already); the old current becomes previous.
 */
void sg_peers_install_current(struct sg_peers *t, struct sg_keypair *kp);

/*
 * Promotes a confirmed next keypair to current.  Returns true when it did,
 * false when next is absent or not kp.
 */
bool sg_peers_confirm(struct sg_peers *t, struct sg_peer *peer, struct sg_keypair *kp);

/* Retires every keypair of peer at once (expiry, revocation). */
void sg_peers_clear_keypairs(struct sg_peers *t, struct sg_peer *peer);

/*
 * Defers fn(ptr) until a grace period has passed; used for keypairs and for
 * anything else that readers may still see (allowed-IPs nodes).
 */
void sg_peers_defer(struct sg_peers *t, void *ptr, void (*fn)(void *));

/* Frees what is past its grace period; returns how many were freed. */
unsigned sg_peers_reclaim(struct sg_peers *t);

/* Objects waiting for their grace period. */
unsigned sg_peers_deferred(const struct sg_peers *t);

/* Keypairs alive now (installed or waiting for their grace period). */
unsigned sg_peers_keypairs_alive(const struct sg_peers *t);

/* --- data path, lock-free --- */

struct sg_peers_index {
	uint32_t mask;
	SG_ATOMIC(struct sg_keypair *) * slot;
};

/* The index table, for the inline lookup below. */
const struct sg_peers_index *sg_peers_index_table(const struct sg_peers *t);

/* The keypair whose local index is index, or NULL.  O(1), no lock. */
static inline struct sg_keypair *sg_peers_lookup_index(const struct sg_peers_index *ix,
						       uint32_t index)
{
	struct sg_keypair *kp =
		atomic_load_explicit(&ix->slot[index & ix->mask], memory_order_acquire);

	if (kp == NULL || kp->local_index != index)
		return NULL;
	return kp;
}

/* Whether a keypair may still receive at now_ns (REJECT_AFTER_TIME). */
static inline bool sg_keypair_rx_valid(const struct sg_keypair *kp, uint64_t now_ns)
{
	return now_ns < kp->expire_ns;
}

/* The same for sending, from egress's line of the keypair. */
static inline bool sg_keypair_tx_valid(const struct sg_keypair *kp, uint64_t now_ns)
{
	return now_ns < kp->tx_expire_ns;
}

/*
 * The keypair a packet to peer is sent with: current when still valid,
 * otherwise a confirmed next one.  NULL when the peer has no usable session.
 */
static inline struct sg_keypair *sg_peer_tx_keypair(struct sg_peer *p, uint64_t now_ns)
{
	struct sg_keypair *kp = atomic_load_explicit(&p->kp_cur, memory_order_acquire);

	if (kp != NULL && sg_keypair_tx_valid(kp, now_ns) &&
	    atomic_load_explicit(&kp->send_counter, memory_order_relaxed) <
		    SG_REJECT_AFTER_MESSAGES)
		return kp;
	kp = atomic_load_explicit(&p->kp_next, memory_order_acquire);
	if (kp != NULL && atomic_load_explicit(&kp->confirmed, memory_order_relaxed) &&
	    sg_keypair_tx_valid(kp, now_ns))
		return kp;
	return NULL;
}

/*
 * What egress reads and writes of a peer it sends to (org, keypair slots,
 * endpoint, staged count, stats) and then of its keypair (key, indices,
 * expiry, the nonce counter and lease): prefetched for a whole burst before
 * it is used, so that the misses of many peers out of cache overlap.
 */
static inline void sg_peer_prefetch_tx(const struct sg_peer *p)
{
	rte_prefetch0(p->org);
	rte_prefetch0(&p->kp_cur);
	rte_prefetch0(&p->ep_lock);
	rte_prefetch0(&p->staged);
	rte_prefetch0_write(&p->st);
}

static inline void sg_keypair_prefetch_tx(const struct sg_keypair *kp)
{
	rte_prefetch0_write(&kp->send_counter);
}

/* Copies the peer's endpoint (consistent even while a worker updates it). */
static inline void sg_peer_endpoint_get(const struct sg_peer *p, struct sg_endpoint *out)
{
	uint32_t sn;

	do {
		sn = rte_seqlock_read_begin(&p->ep_lock);
		*out = p->ep;
	} while (rte_seqlock_read_retry(&p->ep_lock, sn));
}

/* How many packets wait in the peer's staged queue (a hint while workers stage). */
static inline unsigned sg_peer_staged_count(const struct sg_peer *p)
{
	return atomic_load_explicit(&p->staged.n, memory_order_relaxed);
}

/*
 * Appends packets to the peer's staged queue, in order, as many as fit under
 * SG_MAX_STAGED_PACKETS; returns how many it took (the first ones).  Any
 * thread.
 */
unsigned sg_peer_stage(struct sg_peer *p, struct rte_mbuf **pkts, unsigned n);

/* Takes up to max of the oldest staged packets; returns how many.  Any thread. */
unsigned sg_peer_unstage(struct sg_peer *p, struct rte_mbuf **out, unsigned max);

/* Stores a new endpoint; a no-op when it is the same (the common case). */
void sg_peer_endpoint_set(struct sg_peer *p, const struct sg_endpoint *ep);

/*
 * Raises attention flags on peer; returns true when the caller must put the
 * peer on the event ring (it was not queued yet).
 */
static inline bool sg_peer_flag(struct sg_peer *p, unsigned ev)
{
	unsigned old =
		atomic_fetch_or_explicit(&p->events, ev | SG_PEER_EV_QUEUED, memory_order_acq_rel);
	return !(old & SG_PEER_EV_QUEUED);
}

/*
 * Takes the flags of a peer dequeued from the event ring, clearing them all
 * but SG_PEER_EV_ACTIVE (which is returned as well, and stays).
 */
static inline unsigned sg_peer_take_flags(struct sg_peer *p)
{
	return atomic_fetch_and_explicit(&p->events, (unsigned)SG_PEER_EV_ACTIVE,
					 memory_order_acq_rel) &
	       ~(unsigned)SG_PEER_EV_QUEUED;
}

/*
 * Clears SG_PEER_EV_ACTIVE before its stamps are read (a stamp written after
 * this raises it again); returns whether it was raised.
 */
static inline bool sg_peer_take_active(struct sg_peer *p)
{
	return atomic_fetch_and_explicit(&p->events, ~(unsigned)SG_PEER_EV_ACTIVE,
					 memory_order_acq_rel) &
	       SG_PEER_EV_ACTIVE;
}

#ifdef __cplusplus
}
#endif
#endif
