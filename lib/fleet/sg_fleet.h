/* SPDX-License-Identifier: MIT */
/*
 * The parts of a failover pair that do not touch packets (docs/fleet.md):
 *
 *  - send-counter leases: the active gateway sends on a keypair only below a
 *    limit its standby has acknowledged, and asks for the next block while
 *    half of the current one is left, so that a standby that takes over can
 *    start above every nonce the active may have used;
 *  - the state channel's messages: sealed with XChaCha20-Poly1305 under a
 *    key both members derive from the pair's secret and their node ids, one
 *    key per direction; each carries its sender's boot epoch and a sequence
 *    number, and a receiver takes a message once, never one of an older
 *    boot.
 *
 * Nothing here locks: one thread (the control lcore) owns a channel and the
 * leases of its keypairs.
 */
#ifndef SG_FLEET_H
#define SG_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/replay/sg_replay.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- send-counter leases --- */

/* Counters one lease grants: 2^20 (about 1 s of one session at 1 Mpps). */
#define SG_LEASE_BLOCK (1ull << 20)
/*
 * Where a standby starts above the last lease end it heard of.  A session
 * lives at most REJECT_AFTER_TIME (180 s): 2^40 counters are more than any
 * sender can use in that time (6 billion packets a second), so even an
 * active that goes on alone after the standby took over (a split brain: each
 * thinks the other dead) stays below the standby's first nonce.
 */
#define SG_LEASE_TAKEOVER_GAP (1ull << 40)

struct sg_lease {
	uint64_t limit;	    /* counters below it may be sent: the acknowledged end */
	uint64_t asked;	    /* the end asked for and not yet acknowledged; 0: none */
	uint64_t asked_seq; /* the channel message that asked, for the acknowledgement */
};

/* A new keypair's lease: nothing granted; start is its first counter (0). */
void sg_lease_init(struct sg_lease *l, uint64_t start);

/*
 * Whether the sender, about to use counter next, should ask for a new lease:
 * returns the end to ask for (limit + SG_LEASE_BLOCK, or a whole block above
 * next when it ran past) when less than half a block is left and nothing is
 * asked yet, else 0.  The caller sends it (sg_fleet_seal of a LEASE message)
 * and records the message's sequence number with sg_lease_asked.
 */
uint64_t sg_lease_want(const struct sg_lease *l, uint64_t next);
void sg_lease_asked(struct sg_lease *l, uint64_t end, uint64_t seq);

/*
 * The standby acknowledged the message seq: when it is the outstanding ask,
 * the limit moves to its end.  Returns the limit.
 */
uint64_t sg_lease_acked(struct sg_lease *l, uint64_t seq);

/*
 * No standby (none configured, or it left the pair before the ask): the
 * active grants itself what it asked, as a gateway alone does.
 */
uint64_t sg_lease_alone(struct sg_lease *l);

/* Whether counter may be sent on now. */
static inline bool sg_lease_allows(const struct sg_lease *l, uint64_t counter)
{
	return counter < l->limit;
}

/* The standby's first send counter on a session whose last lease heard ended at end. */
static inline uint64_t sg_lease_takeover_start(uint64_t heard_end)
{
	return heard_end + SG_LEASE_TAKEOVER_GAP;
}

/* --- the state channel --- */

#define SG_FLEET_MAGIC	 0x31464753u /* "SGF1", little-endian */
#define SG_FLEET_NONCE	 24
#define SG_FLEET_TAG	 16
#define SG_FLEET_MAX_MSG 1600 /* payload bytes: one datagram (a forwarded packet and its peer) */

enum sg_fleet_type {
	SG_FLEET_HELLO = 1,	  /* a member (re)joins: asks for a bulk resync */
	SG_FLEET_SESSION = 2,	  /* a keypair made: struct sg_fleet_session */
	SG_FLEET_SESSION_DEL = 3, /* a keypair gone: its local index */
	SG_FLEET_LEASE = 4,	  /* local index, lease end */
	SG_FLEET_RX_MARK = 5,	  /* local index, receive high-water mark */
	SG_FLEET_ACK = 6,	  /* the sequence number of a message taken */
	SG_FLEET_RESYNC_DONE = 7, /* the end of a bulk resync */
	SG_FLEET_HEARTBEAT = 8,	  /* struct sg_fleet_heartbeat, every heartbeat_ms */
	SG_FLEET_TAKEN = 9,	  /* an anycast member took a peer's sessions: its public key */
	SG_FLEET_ROUTES = 10,	  /* the sender's VM prefixes: struct sg_fleet_route[] */
	SG_FLEET_FWD_IN = 11,	  /* an inner packet for a VM of the receiver */
	SG_FLEET_FWD_OUT = 12,	  /* a peer's public key, then an inner packet for it */
	SG_FLEET_TYPE_MAX = 12
};

/* A member's state, as its heartbeats and hellos carry it. */
enum sg_fleet_state {
	SG_FLEET_JOINING = 1, /* started, silent, asking for the partner's state */
	SG_FLEET_STANDBY = 2, /* silent, holding the partner's sessions */
	SG_FLEET_ACTIVE = 3,  /* holds the address, forwards */
};

struct sg_fleet_heartbeat {
	uint8_t state; /* enum sg_fleet_state */
	uint8_t reserved[7];
	uint64_t sessions; /* sessions the sender holds (active) or heard (standby) */
} __attribute__((packed));

/* The acknowledgement of a SESSION or LEASE message: its sequence number and index. */
struct sg_fleet_ack {
	uint64_t seq;
	uint32_t local_index;
} __attribute__((packed));

/* A LEASE message: the keypair's new lease end. */
struct sg_fleet_lease {
	uint32_t local_index;
	uint64_t end;
} __attribute__((packed));

/* One keypair's receive high-water mark; an RX_MARK message holds up to SG_FLEET_MARKS. */
struct sg_fleet_mark {
	uint32_t local_index;
	uint64_t mark;
} __attribute__((packed));

#define SG_FLEET_MARKS (SG_FLEET_MAX_MSG / sizeof(struct sg_fleet_mark))

/* A VM prefix a member serves (a ROUTES message holds up to SG_MAX_VMS). */
struct sg_fleet_route {
	uint8_t prefix[16];
	uint8_t len;
} __attribute__((packed));

/* The header, in the clear and authenticated (the AEAD's associated data). */
struct sg_fleet_hdr {
	uint32_t magic;
	uint8_t type;
	uint8_t reserved[3];
	uint32_t sender; /* node id */
	uint32_t receiver;
	uint64_t epoch; /* the sender's boot: wall-clock ns when it started */
	uint64_t seq;	/* from 1, per epoch */
} __attribute__((packed));

/* A session as the channel carries it (little-endian fields). */
struct sg_fleet_session {
	uint8_t peer_public_key[32];
	uint32_t local_index;
	uint32_t remote_index;
	uint8_t send_key[32];
	uint8_t recv_key[32];
	uint64_t birth_unix_ns; /* wall clock: the members' monotonic clocks differ */
	uint64_t lease_end;	/* the send counters granted so far */
	uint64_t rx_mark;	/* the receive high-water mark */
	uint8_t initiator;
	uint8_t ep_family; /* 0 (none), 4 or 6 */
	uint16_t ep_port;  /* network order */
	uint8_t ep_addr[16];
	uint8_t ep_mac[6]; /* the next hop toward the peer (one L2 segment for the pair) */
} __attribute__((packed));

struct sg_fleet_chan {
	uint32_t self, partner;
	uint8_t tx_key[32], rx_key[32];
	uint64_t epoch;	 /* ours */
	uint64_t tx_seq; /* the last sent */
	uint64_t rx_epoch;
	struct sg_replay rx; /* the partner's sequence numbers of rx_epoch */
	uint64_t rx_bad, rx_replayed, rx_stale;
};

/*
 * Sets up our end of the channel between node ids self and partner (which
 * must differ) under the pair's 32-byte secret; epoch is this boot's (for
 * example the wall clock in ns at start: it must grow from boot to boot).
 * Returns 0 or -EINVAL.
 */
int sg_fleet_chan_init(struct sg_fleet_chan *c, const uint8_t secret[32], uint32_t self,
		       uint32_t partner, uint64_t epoch);

/* Wipes the channel's keys. */
void sg_fleet_chan_clear(struct sg_fleet_chan *c);

/* The bytes a sealed message of len payload bytes takes. */
static inline size_t sg_fleet_sealed_len(size_t len)
{
	return sizeof(struct sg_fleet_hdr) + SG_FLEET_NONCE + len + SG_FLEET_TAG;
}

/*
 * Seals a message of type with len payload bytes (at most SG_FLEET_MAX_MSG)
 * into out (at least sg_fleet_sealed_len(len) bytes) under the next
 * sequence number, which *seq receives when not NULL.  Returns the bytes
 * written, or -EINVAL.
 */
int sg_fleet_seal(struct sg_fleet_chan *c, enum sg_fleet_type type, const void *payload, size_t len,
		  uint8_t *out, size_t out_len, uint64_t *seq);

/*
 * Opens a message of len bytes: on success writes its payload (at most
 * SG_FLEET_MAX_MSG bytes) to payload, its type and sequence number, and
 * returns the payload length.  Refuses (and counts) what is not for us or
 * malformed (-EINVAL), forged or damaged (-EBADMSG), of an older boot of
 * the partner (-ESTALE) or taken before (-EALREADY).  A message of a newer
 * boot starts a new window: the partner restarted.
 */
int sg_fleet_open(struct sg_fleet_chan *c, const uint8_t *in, size_t len, uint8_t *payload,
		  enum sg_fleet_type *type, uint64_t *seq);

#ifdef __cplusplus
}
#endif
#endif
