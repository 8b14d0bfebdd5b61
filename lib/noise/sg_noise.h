/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's handshake, Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (WireGuard
 * paper, section 5.4), as byte-in byte-out functions in the structure of the
 * Linux driver's noise.c:
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {t}
 *   <- e, ee, se, psk, {}
 *
 * These functions fill and read message structs but never touch the MACs
 * (lib/cookie does), index tables or peer tables: the caller picks local
 * indices and finds peers.  The responder is split in two so that the peer can
 * be looked up by the static key the initiation carries.
 *
 * Errors are negative errno values: -EBADMSG for a message that does not
 * authenticate or decrypt (including one whose keys give an all-zero DH),
 * -EALREADY for an initiation whose timestamp is not newer than the latest
 * accepted from that peer, -EAGAIN for an initiation that comes sooner than
 * 1/INITIATIONS_PER_SECOND after the last accepted one, -ENOKEY when our
 * static key or the peer's is unusable, and -EINVAL for a call in the wrong
 * state.  A refused message leaves the peer's state as it was.
 *
 * Nothing here locks: the caller serialises calls on one sg_noise_peer_hs.
 * Secrets are wiped once used and every comparison of secrets is constant time.
 */
#ifndef SG_NOISE_H
#define SG_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where the create functions get what they would otherwise draw fresh (see
 * sg_noise_static_set_env).  Each writes its whole out; ctx is the caller's.
 */
/* 32 bytes used as a new ephemeral private key (clamped on use). */
typedef void (*sg_noise_ephemeral_fn)(void *ctx, uint8_t out[32]);
/* The TAI64N time for a new initiation's timestamp. */
typedef void (*sg_noise_timestamp_fn)(void *ctx, uint8_t out[12]);

/* Our identity, shared by all peers. */
struct sg_noise_static {
	uint8_t private_key[SG_PRIVATE_KEY_LEN]; /* clamped */
	uint8_t public_key[SG_PUBLIC_KEY_LEN];
	/*
	 * The chaining key and hash every initiation addressed to us starts
	 * from: ck = HASH(CONSTRUCTION), h = HASH(HASH(ck || IDENTIFIER) || our
	 * public key).  Precomputed because a responder under attack computes
	 * them for every message.
	 */
	uint8_t initial_ck[SG_HASH_LEN];
	uint8_t initial_hash[SG_HASH_LEN];
	bool has_identity;
	/*
	 * The randomness and clock of the handshakes we create: NULL (the
	 * default) means the CSPRNG and the real TAI64N clock.  Set only by
	 * sg_noise_static_set_env.
	 */
	sg_noise_ephemeral_fn ephemeral;
	sg_noise_timestamp_fn timestamp;
	void *env_ctx;
};

enum sg_noise_hs_state {
	SG_NOISE_HS_ZEROED,
	SG_NOISE_HS_CREATED_INITIATION,
	SG_NOISE_HS_CONSUMED_INITIATION,
	SG_NOISE_HS_CREATED_RESPONSE,
	SG_NOISE_HS_CONSUMED_RESPONSE,
};

/* One peer's handshake state. */
struct sg_noise_peer_hs {
	uint8_t remote_static[SG_PUBLIC_KEY_LEN];
	uint8_t preshared_key[SG_SYMMETRIC_KEY_LEN]; /* all zero: none */
	/* DH(our static, remote static); all zero when either key is unusable. */
	uint8_t precomputed_ss[SG_PUBLIC_KEY_LEN];
	/*
	 * No precomputed start of the initiations we send (initial_* above, for
	 * the peer's key): three BLAKE2s when one is made, once per REKEY_TIMEOUT
	 * at most, cost less than 64 bytes on every loaded peer.
	 */
	/* Replay and flood protection of initiations received. */
	uint8_t latest_timestamp[SG_TIMESTAMP_LEN];
	uint64_t last_initiation_consumed_ns;
	bool has_consumed_initiation;
	/* When we last created an initiation, for the caller's REKEY_TIMEOUT pacing. */
	uint64_t last_sent_initiation_ns;
	/* The handshake in progress. */
	enum sg_noise_hs_state state;
	uint8_t hash[SG_HASH_LEN];
	uint8_t chaining_key[SG_HASH_LEN];
	uint8_t ephemeral_private[SG_PRIVATE_KEY_LEN];
	uint8_t remote_ephemeral[SG_PUBLIC_KEY_LEN];
	uint32_t local_index;
	uint32_t remote_index;
};

/* What sg_noise_initiation_decrypt_static learnt, for sg_noise_consume_initiation. */
struct sg_noise_init_ctx {
	uint8_t hash[SG_HASH_LEN];
	uint8_t chaining_key[SG_HASH_LEN];
	uint8_t remote_ephemeral[SG_PUBLIC_KEY_LEN];
	uint8_t remote_static[SG_PUBLIC_KEY_LEN];
	uint8_t encrypted_timestamp[SG_TIMESTAMP_LEN + SG_TAG_LEN];
	uint32_t sender_index;
	bool valid;
};

/*
 * The transport keys a handshake ends with.
 *
 * sending_counter and confirmed are only the initial values of a new session
 * (0, and true for the initiator only); nothing in lib/ advances them, so they
 * are not the live state and must not be read after the session layer took
 * the keypair over.  The authoritative copies are:
 *  - the sending counter: struct sg_timers_keypair's sent, handed out only by
 *    sg_timers_keypair_next_nonce, which refuses once the next nonce would
 *    reach SG_REJECT_AFTER_MESSAGES (the DPDK app keeps it as lib/peers'
 *    atomic send_counter, with the same limit, and loads it into an
 *    sg_timers_keypair to apply the rekey rules);
 *  - key confirmation: the keypair's slot in struct sg_keyslots (a keypair is
 *    unconfirmed exactly while it is next; sg_keyslots_confirm confirms it),
 *    mirrored in the app by lib/peers' atomic confirmed.
 * sg_noise_keypair_clear wipes the keys once they have been copied out.
 */
struct sg_noise_keypair {
	uint8_t sending_key[SG_SYMMETRIC_KEY_LEN];
	uint8_t receiving_key[SG_SYMMETRIC_KEY_LEN];
	uint32_t local_index;  /* the receiver index peers put on data to us */
	uint32_t remote_index; /* the receiver index we put on data to them */
	uint64_t created_ns;
	uint64_t sending_counter; /* initial value only, always 0: see above */
	bool is_initiator;
	/*
	 * A responder may not send with its keypair before it has received
	 * data under it (key confirmation).  Initial value only (true for the
	 * initiator): the live flag is the keypair's slot, see above.
	 */
	bool confirmed;
};

/*
 * Sets our identity from a private key (clamped on the way in) and derives
 * its public key, with the default environment (the CSPRNG and the real
 * clock, see sg_noise_static_set_env).  Returns 0, or -ENOKEY for an all-zero
 * or unusable key, in which case st has no identity and every handshake fails.
 */
int sg_noise_static_init(struct sg_noise_static *st, const uint8_t private_key[32]);
/* Wipes our identity; the environment is back to the default. */
void sg_noise_static_clear(struct sg_noise_static *st);

/*
 * Injects the randomness and clock of the handshakes created with st, for
 * tests and fuzzers that need reproducible messages: every ephemeral key
 * sg_noise_create_initiation and sg_noise_create_response make is then
 * ephemeral(ctx, out) (clamped on use), and every initiation's timestamp
 * timestamp(ctx, out).  A NULL function restores its default: a fresh
 * X25519 key from the CSPRNG, or the real TAI64N clock.  Only st is affected,
 * and only until the next sg_noise_static_init or sg_noise_static_clear,
 * which restore both defaults (so set the environment after init).  The
 * functions are called from the create functions on st, in the caller's
 * thread; ctx must outlive their use.
 */
void sg_noise_static_set_env(struct sg_noise_static *st, sg_noise_ephemeral_fn ephemeral,
			     sg_noise_timestamp_fn timestamp, void *ctx);

/*
 * Prepares a peer's handshake state for its static public key and optional
 * preshared key (NULL or all zero: none), and precomputes the static-static
 * DH with st.  Returns 0, or -ENOKEY when the DH is unusable (no identity or a
 * low-order peer key), in which case every handshake with the peer fails.
 */
int sg_noise_peer_hs_init(struct sg_noise_peer_hs *hs, const struct sg_noise_static *st,
			  const uint8_t remote_static[32], const uint8_t *preshared_key);
/* Forgets the handshake in progress (not the keys or replay state). */
void sg_noise_peer_hs_zero(struct sg_noise_peer_hs *hs);
/* Wipes the whole handshake state, keys included. */
void sg_noise_peer_hs_clear(struct sg_noise_peer_hs *hs);

/*
 * Initiator: fills out (all but the MACs, left zero) with a new ephemeral key
 * and the current TAI64N time (both from st's environment), and moves hs to
 * CREATED_INITIATION with local_index as our sender index.  Returns 0, or
 * -ENOKEY (also when an injected ephemeral key is unusable).
 */
int sg_noise_create_initiation(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			       struct sg_msg_initiation *out, uint32_t local_index,
			       uint64_t now_ns);

/*
 * Initiator: consumes the response to our initiation (the caller found hs by
 * the response's receiver index) and moves hs to CONSUMED_RESPONSE.  Returns
 * 0, -EINVAL when hs awaits no response or the receiver index is not ours,
 * -EBADMSG, or -ENOKEY.
 */
int sg_noise_consume_response(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			      const struct sg_msg_response *in);

/*
 * Responder, first half: decrypts the initiator's static public key into
 * remote_static_out, before the peer is known, and keeps what the second half
 * needs in ctx.  Returns 0, or -EBADMSG (ctx is then wiped), or -ENOKEY.
 */
int sg_noise_initiation_decrypt_static(const struct sg_noise_static *st,
				       const struct sg_msg_initiation *in,
				       uint8_t remote_static_out[32],
				       struct sg_noise_init_ctx *ctx);

/*
 * Responder, second half, with the peer that owns ctx's static key: decrypts
 * the timestamp, refuses replays (-EALREADY) and floods (-EAGAIN), and on
 * success moves hs to CONSUMED_INITIATION.  Wipes ctx whatever the result.
 * Returns 0, -EINVAL (ctx not from a successful first half, or hs is not the
 * peer of ctx's key), -EBADMSG, -EALREADY, -EAGAIN or -ENOKEY.
 */
int sg_noise_consume_initiation(const struct sg_noise_static *st, struct sg_noise_init_ctx *ctx,
				struct sg_noise_peer_hs *hs, uint64_t now_ns);

/* Wipes a ctx that will not be consumed (e.g. the static key is no peer's). */
void sg_noise_init_ctx_clear(struct sg_noise_init_ctx *ctx);

/*
 * Responder: fills out (all but the MACs) answering the consumed initiation
 * with a new ephemeral key (from st's environment) and local_index as our
 * sender index, and moves hs to CREATED_RESPONSE.  Returns 0, -EINVAL when hs
 * has consumed no initiation, -EBADMSG when the initiator's ephemeral key
 * gives an all-zero DH, or -ENOKEY (also when an injected ephemeral key is
 * unusable).
 */
int sg_noise_create_response(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			     struct sg_msg_response *out, uint32_t local_index);

/*
 * Either side, once the handshake is done (CONSUMED_RESPONSE for the
 * initiator, CREATED_RESPONSE for the responder): derives the transport keys
 * into kp (counter 0, created at now_ns; confirmed for the initiator only) and
 * wipes the handshake in progress.  Returns 0, or -EINVAL in any other state.
 */
int sg_noise_derive_keypair(struct sg_noise_peer_hs *hs, struct sg_noise_keypair *kp,
			    uint64_t now_ns);

/* Wipes a keypair. */
void sg_noise_keypair_clear(struct sg_noise_keypair *kp);

#ifdef __cplusplus
}
#endif
#endif
