/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's MACs and cookies (WireGuard paper, section 5.4.4 and 5.4.7), as
 * byte-in byte-out functions, in the structure of the Linux driver's cookie.c.
 *
 * Every handshake message ends in mac1 and mac2.  mac1 proves the sender knows
 * the receiver's static public key; mac2, present only once the receiver has
 * handed out a cookie, proves the sender can receive at its source address.
 * The responder side (the checker) validates both and, when under load, answers
 * a message without a valid mac2 with an encrypted cookie.  The initiator side
 * (the maker) adds both MACs to outgoing messages and consumes cookie replies.
 *
 * Time is passed in as now_ns, a monotonic clock in nanoseconds, so that tests
 * can move it.  None of these functions locks: the caller serialises calls on
 * one checker or maker.
 */
#ifndef SG_COOKIE_H
#define SG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The responder side: one per interface, tied to our static public key. */
struct sg_cookie_checker {
	uint8_t mac1_key[SG_SYMMETRIC_KEY_LEN];	  /* BLAKE2s(LABEL_MAC1 || our public key) */
	uint8_t cookie_key[SG_SYMMETRIC_KEY_LEN]; /* BLAKE2s(LABEL_COOKIE || our public key) */
	uint8_t secret[SG_HASH_LEN];		  /* random, renewed every COOKIE_SECRET_MAX_AGE */
	uint64_t secret_born_ns;
};

/* The initiator side: one per peer, tied to the peer's static public key. */
struct sg_cookie_maker {
	uint8_t mac1_key[SG_SYMMETRIC_KEY_LEN];	  /* BLAKE2s(LABEL_MAC1 || peer public key) */
	uint8_t cookie_key[SG_SYMMETRIC_KEY_LEN]; /* BLAKE2s(LABEL_COOKIE || peer public key) */
	uint8_t cookie[SG_COOKIE_LEN];
	uint64_t cookie_born_ns;
	uint8_t last_mac1[SG_MAC_LEN]; /* the AD a cookie reply must carry */
	bool has_cookie;
	bool has_last_mac1;
};

enum sg_cookie_result {
	SG_COOKIE_MAC1_BAD,	   /* drop the message */
	SG_COOKIE_MAC1_OK_NO_MAC2, /* mac1 valid; mac2 missing, invalid or not checked */
	SG_COOKIE_MAC2_OK,	   /* both valid */
};

/* Whether the handshake queue is loaded enough to demand cookies. */
struct sg_cookie_load {
	uint64_t last_under_load_ns;
	bool was_under_load;
};

/*
 * Prepares a checker for our static public key, with a fresh random secret
 * born at now_ns.  Call again when the key changes.
 */
void sg_cookie_checker_init(struct sg_cookie_checker *c, const uint8_t local_public[32],
			    uint64_t now_ns);
/* Wipes the checker. */
void sg_cookie_checker_clear(struct sg_cookie_checker *c);

/*
 * Checks the MACs of a handshake message of len bytes (its last 32 bytes are
 * mac1 and mac2).  mac2 is checked only when check_mac2 is true (we are under
 * load), against the cookie of src (the source address bytes, ip || port).
 * Compares in constant time.  A message shorter than the MACs is MAC1_BAD.
 */
enum sg_cookie_result sg_cookie_validate(struct sg_cookie_checker *c, const void *msg, size_t len,
					 const void *src, size_t src_len, bool check_mac2,
					 uint64_t now_ns);

/*
 * Builds the cookie reply to the handshake message msg (len bytes) received
 * from src: the cookie of src, encrypted with XChaCha20-Poly1305 under the
 * cookie key, a random nonce, and the message's mac1 as AD.  receiver_index is
 * the message's sender index.  Returns 0, or -EINVAL when len is too short.
 */
int sg_cookie_make_reply(struct sg_cookie_checker *c, struct sg_msg_cookie_reply *out,
			 const void *msg, size_t len, uint32_t receiver_index, const void *src,
			 size_t src_len, uint64_t now_ns);

/* Prepares a maker for the peer's static public key; it holds no cookie. */
void sg_cookie_maker_init(struct sg_cookie_maker *m, const uint8_t remote_public[32]);
/* Wipes the maker. */
void sg_cookie_maker_clear(struct sg_cookie_maker *m);

/*
 * Fills the last 32 bytes of msg (len bytes): mac1 always, mac2 when the maker
 * holds a cookie younger than COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY,
 * else zeros.  Remembers mac1 for the cookie reply that may follow.  Returns
 * 0, or -EINVAL when len is too short.
 */
int sg_cookie_add_macs(struct sg_cookie_maker *m, void *msg, size_t len, uint64_t now_ns);

/*
 * Decrypts a cookie reply with the last mac1 sent as AD and stores the cookie,
 * born at now_ns.  A reply is accepted at most once per mac1 sent.  Returns 0,
 * -EINVAL when no mac1 was sent since the last accepted reply or the header is
 * wrong, or -EBADMSG when it does not decrypt.
 */
int sg_cookie_consume_reply(struct sg_cookie_maker *m, const struct sg_msg_cookie_reply *reply,
			    uint64_t now_ns);

/*
 * Under load when the handshake queue holds at least capacity / 8 messages
 * (at least 1), as the Linux driver decides it, and for one second after the
 * last time that was so.
 */
bool sg_cookie_under_load(struct sg_cookie_load *l, size_t depth, size_t capacity, uint64_t now_ns);

#ifdef __cplusplus
}
#endif
#endif
