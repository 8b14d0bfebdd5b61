/* SPDX-License-Identifier: MIT */
/*
 * The control plane's handshake core: what a WireGuard endpoint does with
 * the three handshake messages and with its own initiations, over byte
 * arrays, with no packet, no EAL and no table of its own.  mac1 always;
 * under load mac2 or a cookie reply; the per-source rate limit; Noise_IKpsk2
 * as responder and initiator; the timer events each step implies.
 *
 * The caller owns the peers and the receiver-index table and lends them
 * through a few upcalls (struct sg_control_ops), the way OpenBSD's and VPP's
 * noise code reach their tables; the gateway (pipelines/control.c) and the
 * one-peer test tool (tests/tools/sg_wgpeer.c) are both callers.
 *
 * Each handler returns SG_DROP_NONE when the message was accepted, else the
 * one drop reason that its caller counts; it never logs.  Not thread-safe:
 * one thread (the control lcore) calls everything here.
 */
#ifndef SG_CONTROL_H
#define SG_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/common/sg_drop.h"
#include "lib/cookie/sg_cookie.h"
#include "lib/noise/sg_noise.h"
#include "lib/ratelimit/sg_ratelimit.h"
#include "lib/timers/sg_timers.h"
#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The control state of one peer, embedded in the caller's own peer record. */
struct sg_control_peer {
	struct sg_noise_peer_hs hs;
	struct sg_cookie_maker maker;
	struct sg_timers timers;
	bool hs_index_reserved; /* hs.local_index is reserved in the caller's table */
	uint64_t handshakes;	/* sessions made (as responder or initiator) */
};

/* Where a handshake message came from (the cookie binds to address and port). */
struct sg_control_src {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes, network order */
	uint16_t port_be; /* network order */
};

/* The caller's tables, reached from the handlers. */
struct sg_control_ops {
	/* The peer with this static public key, or NULL. */
	struct sg_control_peer *(*peer_by_key)(void *ctx, const uint8_t key[32]);
	/* The peer that reserved receiver index index for a handshake, or NULL. */
	struct sg_control_peer *(*peer_by_index)(void *ctx, uint32_t index);
	/* Reserves a fresh receiver index for peer: 0, or a negative errno. */
	int (*index_alloc)(void *ctx, struct sg_control_peer *peer, uint32_t *index);
	/* Releases a reserved index that never became a session. */
	void (*index_free)(void *ctx, uint32_t index);
	/*
	 * Makes and publishes the session of a finished handshake; the index
	 * kp->local_index is then the session's.  The keys are the caller's to
	 * copy: kp is wiped on return.  Returns 0, or a negative errno.
	 */
	int (*session_new)(void *ctx, struct sg_control_peer *peer,
			   const struct sg_noise_keypair *kp, uint64_t now_ns);
};

/* What the handlers counted (read by telemetry). */
struct sg_control_stats {
	uint64_t init_rx, resp_tx, init_tx, resp_rx, cookie_tx, cookie_rx;
};

struct sg_control {
	struct sg_noise_static st;
	struct sg_cookie_checker checker;
	struct sg_cookie_load load;
	struct sg_ratelimit *rl;
	const struct sg_control_ops *ops;
	void *ctx;
	struct sg_timers_params params; /* every peer's protocol times */
	uint64_t rng;			/* the timers' jitter */
	/* Demand mac2 on every handshake, as under load (tests, or under attack). */
	bool always_under_load;
	/*
	 * Charge the per-source rate limit only under load, after a valid mac2
	 * (as Linux does); otherwise every message with a valid mac1 is charged.
	 */
	bool ratelimit_under_load_only;
	struct sg_control_stats stats;
};

/* A reply to send back to the source of a handshake message (len 0: none). */
struct sg_control_reply {
	union {
		struct sg_msg_response response;
		struct sg_msg_cookie_reply cookie;
	} msg;
	size_t len;
};

/*
 * Sets up our identity from private_key, the cookie checker, a rate limiter
 * for rl_sources sources, and the timer parameters every peer gets (NULL:
 * the protocol's).  Returns 0, -ENOKEY (unusable key), -EINVAL (params) or
 * -ENOMEM; on error sg_control_fini is still to be called.
 */
int sg_control_init(struct sg_control *c, const uint8_t private_key[32],
		    const struct sg_timers_params *params, uint32_t rl_sources,
		    const struct sg_control_ops *ops, void *ctx, uint64_t now_ns);

/* Wipes the keys and frees the rate limiter.  Safe on a zeroed struct. */
void sg_control_fini(struct sg_control *c);

/*
 * Prepares the control state of a peer: its static public key, preshared key
 * (NULL: none) and persistent keepalive (0: off).  Returns 0, or -EINVAL for
 * an unusable public key.
 */
int sg_control_peer_init(struct sg_control *c, struct sg_control_peer *p,
			 const uint8_t public_key[32], const uint8_t *psk, uint16_t keepalive_s,
			 uint64_t now_ns);

/* Releases the peer's reserved index and wipes its handshake and cookie state. */
void sg_control_peer_clear(struct sg_control *c, struct sg_control_peer *p);

/*
 * Whether handshakes must carry mac2 now: always_under_load, or a queue of
 * handshakes (depth of capacity) that is filling up.
 */
bool sg_control_under_load(struct sg_control *c, size_t depth, size_t capacity, uint64_t now_ns);

/*
 * Handles an initiation (SG_MSG_INITIATION_LEN bytes) from src.  Returns
 * SG_DROP_NONE with the response in *reply and the peer in *peer (the caller
 * moves the peer's endpoint to src and sends the reply there), or a drop
 * reason; reply may then hold a cookie reply to send to src all the same.
 */
enum sg_drop_reason sg_control_initiation(struct sg_control *c, const uint8_t *msg,
					  const struct sg_control_src *src, bool under_load,
					  uint64_t now_ns, struct sg_control_reply *reply,
					  struct sg_control_peer **peer);

/*
 * Handles a response to an initiation of ours.  Returns SG_DROP_NONE with
 * the new session published and its peer in *peer (the caller moves the
 * endpoint and confirms the session with data or a keepalive), or a drop
 * reason (SG_DROP_WG_UNKNOWN_INDEX: no handshake of ours has that index;
 * SG_DROP_WG_HANDSHAKE: it does not authenticate) and maybe a cookie reply,
 * as above.
 */
enum sg_drop_reason sg_control_response(struct sg_control *c, const uint8_t *msg,
					const struct sg_control_src *src, bool under_load,
					uint64_t now_ns, struct sg_control_reply *reply,
					struct sg_control_peer **peer);

/* Handles a cookie reply to a message of ours: SG_DROP_NONE or SG_DROP_WG_COOKIE. */
enum sg_drop_reason sg_control_cookie_reply(struct sg_control *c, const uint8_t *msg,
					    uint64_t now_ns);

/*
 * Writes a fresh initiation to peer into *out (macs included) and reports it
 * to the peer's timers.  Returns 0, or a negative errno (no index free).
 */
int sg_control_initiate(struct sg_control *c, struct sg_control_peer *p, uint64_t now_ns,
			struct sg_msg_initiation *out);

/* Releases the index of the peer's handshake in progress, if any. */
void sg_control_release_index(struct sg_control *c, struct sg_control_peer *p);

/* Reports an authenticated packet sent to, or received from, the peer to its timers. */
void sg_control_peer_sent(struct sg_control_peer *p, uint64_t now_ns);
void sg_control_peer_received(struct sg_control_peer *p, uint64_t now_ns);

/* The source bytes a cookie is bound to (address, then port): their length. */
size_t sg_control_src_bytes(const struct sg_control_src *src, uint8_t out[18]);

#ifdef __cplusplus
}
#endif
#endif
