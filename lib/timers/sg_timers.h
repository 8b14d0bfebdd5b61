/* SPDX-License-Identifier: MIT */
/*
 * The session timers of the WireGuard paper, section 6, after the kernel's
 * timers.c: the data path reports EVENTS (data sent, handshake complete, ...)
 * and the owner polls for DECISIONS (send a keepalive, initiate a handshake,
 * give up, expire the keys).  Nothing here sends or frees anything, and there
 * are no real timers: each timer is a deadline on the caller's clock, which
 * every function takes as now_ns (any monotonic clock in nanoseconds), so
 * tests drive the clock by hand.
 *
 * A struct sg_timers belongs to one peer and is owned by one thread (the
 * control lcore); workers forward their events to it.  Nothing here locks.
 *
 * Besides the timers, this library holds the keypair rules of section 6.2
 * (rekey and reject after a time or a number of messages) and the rotation of
 * a peer's three keypair slots.
 */
#ifndef SG_TIMERS_H
#define SG_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Decisions, a bitmask returned by sg_timers_poll. */
enum sg_timers_decision {
	/* Send an empty authenticated data packet (a keepalive). */
	SG_TIMERS_SEND_KEEPALIVE = 1u << 0,
	/* Send a handshake initiation, then report sg_timers_handshake_initiated. */
	SG_TIMERS_INITIATE_HANDSHAKE = 1u << 1,
	/* The handshake failed for rekey_attempt_time: drop the staged packets. */
	SG_TIMERS_GIVE_UP = 1u << 2,
	/* No new session for 3 * reject_after_time: wipe every keypair and the handshake state. */
	SG_TIMERS_EXPIRE_KEYPAIRS = 1u << 3,
};

/* A deadline that never comes; also what sg_timers_next_deadline returns when nothing is armed. */
#define SG_TIMERS_NEVER UINT64_MAX

/*
 * The protocol times of section 6.1, in seconds.  The defaults are the
 * paper's (lib/wire/sg_wire.h); deployments keep them, tests shorten them so
 * that rekeys, keepalives and retries happen within seconds.
 */
struct sg_timers_params {
	uint32_t rekey_after_time;   /* the initiator rekeys a session this old */
	uint32_t reject_after_time;  /* a keypair this old is no longer used */
	uint32_t rekey_attempt_time; /* give up a handshake after retrying this long */
	uint32_t rekey_timeout;	     /* retransmit an unanswered initiation after this */
	uint32_t keepalive_timeout;  /* answer received data with a keepalive after this */
};

/* Fills p with the paper's values. */
void sg_timers_params_default(struct sg_timers_params *p);

/*
 * Returns 0 when p is usable, else -EINVAL: every time is at least 1 s,
 * reject_after_time is longer than rekey_after_time and than
 * keepalive_timeout + rekey_timeout (else the receive-side rekey would be due
 * the moment a session starts), and rekey_attempt_time is at least
 * rekey_timeout (at least one retransmission).
 */
int sg_timers_params_check(const struct sg_timers_params *p);

/* Returns 32 random bits; ctx is the caller's. */
typedef uint32_t (*sg_timers_rand_fn)(void *ctx);

struct sg_timers {
	/* Absolute deadlines in nanoseconds, SG_TIMERS_NEVER when disarmed. */
	uint64_t retransmit_handshake;
	uint64_t send_keepalive;
	uint64_t new_handshake;
	uint64_t zero_key_material;
	uint64_t persistent_keepalive;

	uint64_t last_initiation_ns; /* valid when initiation_sent */
	uint64_t last_handshake_ns;  /* when a handshake last completed, 0 never */
	unsigned handshake_attempts; /* initiations sent since the series began */
	uint16_t persistent_keepalive_s;
	bool initiation_sent;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;

	struct sg_timers_params params;
	unsigned max_handshakes; /* rekey_attempt_time / rekey_timeout */

	sg_timers_rand_fn rand;
	void *rand_ctx;
};

/*
 * Disarms every timer and takes the protocol times from params (copied; NULL
 * means the paper's).  rand supplies the jitter added to handshake timers
 * (uniform in [0, SG_REKEY_TIMEOUT_JITTER_MAX_MS)) so that peers do not
 * retry in lock step; with rand NULL there is no jitter, which only tests want.
 * Returns 0, or -EINVAL with t untouched when sg_timers_params_check refuses
 * params.
 */
int sg_timers_init(struct sg_timers *t, const struct sg_timers_params *params,
		   sg_timers_rand_fn rand, void *rand_ctx);

/* Disarms every timer, as when the peer is removed; the counters stay. */
void sg_timers_stop(struct sg_timers *t);

/*
 * Sets the persistent keepalive interval in seconds (0 turns it off).  A new
 * interval takes effect from now: the next keepalive is due interval_s later.
 */
void sg_timers_set_persistent_keepalive(struct sg_timers *t, uint16_t interval_s, uint64_t now_ns);

/* Events.  Report each one when it happens. */

/* A data packet with a payload was sent (not a keepalive). */
void sg_timers_data_sent(struct sg_timers *t, uint64_t now_ns);
/* A data packet with a payload was received and authenticated (not a keepalive). */
void sg_timers_data_received(struct sg_timers *t, uint64_t now_ns);
/* Any authenticated packet was sent: data, keepalive or handshake message. */
void sg_timers_any_authenticated_packet_sent(struct sg_timers *t, uint64_t now_ns);
/* Any authenticated packet was received: data, keepalive or handshake message. */
void sg_timers_any_authenticated_packet_received(struct sg_timers *t, uint64_t now_ns);
/* Any authenticated packet is about to be sent or was just received. */
void sg_timers_any_authenticated_packet_traversal(struct sg_timers *t, uint64_t now_ns);
/*
 * A handshake initiation was sent (report the two events above as well).
 * Arms the retransmission after rekey_timeout plus jitter.
 */
void sg_timers_handshake_initiated(struct sg_timers *t, uint64_t now_ns);
/*
 * A handshake completed: the response was received and processed, or the
 * first data packet under a new responder keypair confirmed it.
 */
void sg_timers_handshake_complete(struct sg_timers *t, uint64_t now_ns);
/*
 * New session keys were derived (before sending a response, or after
 * receiving one).  Keys are wiped 3 * reject_after_time after the last one.
 */
void sg_timers_session_derived(struct sg_timers *t, uint64_t now_ns);

/*
 * The deadlines of many peers, so that their owner visits only the peers
 * whose earliest deadline has come instead of walking them all: a binary
 * min-heap of ids in [0, capacity), each queued at most once at one
 * deadline.  set, earlier and remove cost O(log n), pop O(log n) per id
 * popped, at and the length O(1); the cost of a tick is the ids that are
 * due, whatever the number queued for later or not queued.  One owner, no
 * locks, as struct sg_timers.
 */
struct sg_timers_queue_entry {
	uint64_t at_ns;
	uint32_t id;
};

struct sg_timers_queue {
	struct sg_timers_queue_entry *heap; /* ordered by at_ns, the earliest first */
	uint32_t *pos;			    /* pos[id]: its index in heap + 1; 0: not queued */
	unsigned n, capacity;
};

/* An empty queue for ids below capacity.  Returns 0, or -ENOMEM with q zeroed. */
int sg_timers_queue_init(struct sg_timers_queue *q, unsigned capacity);

/* Frees the queue; safe on a zeroed one. */
void sg_timers_queue_fini(struct sg_timers_queue *q);

/* Queues id at at_ns, or moves it there; SG_TIMERS_NEVER takes it out. */
void sg_timers_queue_set(struct sg_timers_queue *q, uint32_t id, uint64_t at_ns);

/* Queues id at at_ns unless it is queued earlier already (a visit wanted by then). */
void sg_timers_queue_earlier(struct sg_timers_queue *q, uint32_t id, uint64_t at_ns);

/* Takes id out (nothing when it is not queued). */
void sg_timers_queue_remove(struct sg_timers_queue *q, uint32_t id);

/* The deadline of id, SG_TIMERS_NEVER when it is not queued. */
uint64_t sg_timers_queue_at(const struct sg_timers_queue *q, uint32_t id);

/* The earliest deadline queued, SG_TIMERS_NEVER when the queue is empty. */
uint64_t sg_timers_queue_next(const struct sg_timers_queue *q);

/*
 * Takes out the id with the earliest deadline when that deadline is at or
 * before now_ns, into *id; returns false (and takes nothing) otherwise.
 */
bool sg_timers_queue_pop(struct sg_timers_queue *q, uint64_t now_ns, uint32_t *id);

/* How many ids are queued. */
unsigned sg_timers_queue_len(const struct sg_timers_queue *q);

/* Decisions. */

/*
 * Fires every timer due at now_ns and returns the decisions, a mask of enum
 * sg_timers_decision (0 when there is nothing to do).
 */
unsigned sg_timers_poll(struct sg_timers *t, uint64_t now_ns);

/* The earliest armed deadline, never before now_ns; SG_TIMERS_NEVER when none is armed. */
uint64_t sg_timers_next_deadline(const struct sg_timers *t, uint64_t now_ns);

/*
 * The data path wants a new handshake: it has packets and no usable keypair,
 * or a rekey rule below fired.  This starts a new series of attempts (the
 * give-up count restarts) and returns true when an initiation should be sent
 * now, false when one went out less than rekey_timeout ago.
 */
bool sg_timers_handshake_wanted(struct sg_timers *t, uint64_t now_ns);

/* Keypair age and message rules (section 6.2). */

/*
 * The authoritative sending counter of a session: sent is the next nonce, and
 * only sg_timers_keypair_next_nonce hands nonces out, refusing once sent
 * reaches SG_REJECT_AFTER_MESSAGES.  struct sg_noise_keypair's
 * sending_counter is just the initial 0 and is never advanced; do not keep
 * a second counter beside this one (the DPDK app's lib/peers send_counter
 * replaces it there and is loaded into this struct for the rekey rules).
 */
struct sg_timers_keypair {
	uint64_t birth_ns;	  /* when the keys were derived */
	uint64_t sent;		  /* nonces used so far: the next nonce */
	uint64_t rekey_after_ns;  /* the peer's rekey_after_time when it was made */
	uint64_t reject_after_ns; /* the peer's reject_after_time when it was made */
	bool initiator;		  /* we sent the initiation of this session */
};

/*
 * A fresh keypair derived at now_ns, under the protocol times of t (the
 * peer's timers; NULL means the paper's).
 */
void sg_timers_keypair_init(struct sg_timers_keypair *kp, const struct sg_timers *t, bool initiator,
			    uint64_t now_ns);

/* True while the keypair may encrypt: younger than reject_after_time, nonces left. */
bool sg_timers_keypair_can_send(const struct sg_timers_keypair *kp, uint64_t now_ns);

/* True while the keypair may decrypt: younger than reject_after_time. */
bool sg_timers_keypair_can_receive(const struct sg_timers_keypair *kp, uint64_t now_ns);

/*
 * Hands out the next sending nonce.  Returns false, and hands out nothing,
 * once the keypair cannot send (the nonce would reach REJECT_AFTER_MESSAGES).
 */
bool sg_timers_keypair_next_nonce(struct sg_timers_keypair *kp, uint64_t now_ns, uint64_t *nonce);

/*
 * After sending with the current keypair: true when it is time for a new
 * handshake, because REKEY_AFTER_MESSAGES nonces were used, or because we
 * initiated the session and it is rekey_after_time old.  NULL gives false.
 */
bool sg_timers_rekey_on_send(const struct sg_timers_keypair *kp, uint64_t now_ns);

/*
 * After receiving with the current keypair: true, once per session, when we
 * initiated it and it is reject_after_time - keepalive_timeout - rekey_timeout
 * old (t's times), so that a peer that only receives still rekeys before the keys die.
 * The "once" is reset by sg_timers_handshake_complete.  NULL gives false.
 */
bool sg_timers_rekey_on_receive(struct sg_timers *t, const struct sg_timers_keypair *kp,
				uint64_t now_ns);

/* A deterministic generator for the jitter: splitmix64 over the uint64_t at ctx, any seed. */
uint32_t sg_timers_splitmix32(void *ctx);

/*
 * The three keypair slots of a peer, holding the caller's keypairs as opaque
 * pointers.  current encrypts; previous still decrypts packets in flight;
 * next is a responder keypair that waits for the initiator's first data
 * packet.  The slot is the authoritative key-confirmation state: a keypair is
 * unconfirmed exactly while it is next (struct sg_noise_keypair's confirmed
 * is only its initial value and is not kept up to date).  Functions that push keypairs out hand them back in dropped[] for
 * the caller to wipe and free; unused entries are NULL.
 */
struct sg_keyslots {
	void *previous;
	void *current;
	void *next;
};

/* Empty slots. */
void sg_keyslots_init(struct sg_keyslots *ks);

/*
 * Installs a keypair a handshake just derived.  An initiator keypair is
 * confirmed by the response and becomes current at once (current moves to
 * previous; a pending next moves to previous instead).  A responder keypair
 * goes to next until the first data packet confirms it.  Returns how many
 * keypairs were pushed out (0 .. 2) into dropped.
 */
unsigned sg_keyslots_install(struct sg_keyslots *ks, void *kp, bool initiator, void *dropped[2]);

/*
 * A data packet authenticated under kp.  When kp is the next keypair, it is
 * confirmed: next becomes current, current becomes previous, and the old
 * previous is stored in *dropped (NULL when there was none).  Returns true
 * then (the caller reports sg_timers_handshake_complete and sends its staged
 * packets), false when kp was not next (and *dropped is NULL).
 */
bool sg_keyslots_confirm(struct sg_keyslots *ks, const void *kp, void **dropped);

/* Empties every slot; returns how many keypairs were stored into dropped (0 .. 3). */
unsigned sg_keyslots_clear(struct sg_keyslots *ks, void *dropped[3]);

#ifdef __cplusplus
}
#endif
#endif
