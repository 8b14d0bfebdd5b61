/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's wire formats and every protocol constant, in one place
 * (the WireGuard paper, sections 5.4 and 6).  All multi-byte fields are
 * little-endian on the wire; the structs are packed and have the exact sizes
 * of the messages.
 */
#ifndef SG_WIRE_H
#define SG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/common/sg_drop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_NOISE_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define SG_NOISE_IDENTIFIER   "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define SG_LABEL_MAC1	      "mac1----"
#define SG_LABEL_COOKIE	      "cookie--"

enum sg_msg_type {
	SG_MSG_INITIATION = 1,
	SG_MSG_RESPONSE = 2,
	SG_MSG_COOKIE_REPLY = 3,
	SG_MSG_DATA = 4,
};

#define SG_PUBLIC_KEY_LEN    32
#define SG_PRIVATE_KEY_LEN   32
#define SG_SYMMETRIC_KEY_LEN 32
#define SG_HASH_LEN	     32
#define SG_TAG_LEN	     16
#define SG_TIMESTAMP_LEN     12
#define SG_COOKIE_LEN	     16
#define SG_COOKIE_NONCE_LEN  24
#define SG_MAC_LEN	     16

/* Section 6.1: the timer and limit constants. */
#define SG_REKEY_AFTER_MESSAGES	       (1ull << 60)
#define SG_REJECT_AFTER_MESSAGES       (UINT64_MAX - (1ull << 13) - 1)
#define SG_REKEY_AFTER_TIME_S	       120
#define SG_REJECT_AFTER_TIME_S	       180
#define SG_REKEY_ATTEMPT_TIME_S	       90
#define SG_REKEY_TIMEOUT_S	       5
#define SG_REKEY_TIMEOUT_JITTER_MAX_MS 333
#define SG_KEEPALIVE_TIMEOUT_S	       10
#define SG_COOKIE_SECRET_MAX_AGE_S     120
#define SG_COOKIE_SECRET_LATENCY_S     5
/* A responder consumes at most one initiation per peer every 1/50 s (the kernel's noise.c). */
#define SG_INITIATIONS_PER_SECOND 50
/* Initiations sent before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
#define SG_MAX_TIMER_HANDSHAKES (90 / 5)
/*
 * The receive replay window is a bitmap of this many bits; one machine word
 * of it is redundant, so the usable window is 2048 - 64 = 1984 counters.
 * 2048 is what the kernel used until it went to 8192 for its parallel
 * decryption, which reorders one peer's packets across all CPUs.  Here a
 * peer's packets reach one worker (RSS hashes the outer flow) and are
 * decrypted in order, a burst at a time, so 1984 counters of reordering is
 * ample, and a session costs 256 bytes of window instead of 1 KiB: the
 * window is most of a loaded peer's memory (issue 10: at most 2 KiB a peer).
 */
#define SG_COUNTER_BITS_TOTAL 2048
/*
 * Handshake messages accepted per source address (an IPv4 address or an IPv6
 * /64): a token bucket of 20 a second with bursts of 5, forgotten after 1 s
 * idle (the kernel's ratelimiter.c; a full bucket is not worth keeping).
 */
#define SG_RATELIMIT_PACKETS_PER_SECOND 20
#define SG_RATELIMIT_PACKETS_BURSTABLE	5
#define SG_RATELIMIT_IDLE_TIMEOUT_S	1
/* Packets staged per peer while a session is (re)negotiated, as the kernel. */
#define SG_MAX_STAGED_PACKETS 128

/* The first four bytes of every message: type then three reserved zeros. */
struct sg_msg_header {
	uint8_t type;
	uint8_t reserved[3];
} __attribute__((packed));

struct sg_msg_macs {
	uint8_t mac1[SG_MAC_LEN];
	uint8_t mac2[SG_MAC_LEN];
} __attribute__((packed));

struct sg_msg_initiation {
	struct sg_msg_header header;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[SG_PUBLIC_KEY_LEN];
	uint8_t encrypted_static[SG_PUBLIC_KEY_LEN + SG_TAG_LEN];
	uint8_t encrypted_timestamp[SG_TIMESTAMP_LEN + SG_TAG_LEN];
	struct sg_msg_macs macs;
} __attribute__((packed));

struct sg_msg_response {
	struct sg_msg_header header;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[SG_PUBLIC_KEY_LEN];
	uint8_t encrypted_nothing[SG_TAG_LEN];
	struct sg_msg_macs macs;
} __attribute__((packed));

struct sg_msg_cookie_reply {
	struct sg_msg_header header;
	uint32_t receiver_index;
	uint8_t nonce[SG_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[SG_COOKIE_LEN + SG_TAG_LEN];
} __attribute__((packed));

struct sg_msg_data {
	struct sg_msg_header header;
	uint32_t receiver_index;
	uint64_t counter;
	uint8_t encrypted_data[];
} __attribute__((packed));

#define SG_MSG_INITIATION_LEN	148
#define SG_MSG_RESPONSE_LEN	92
#define SG_MSG_COOKIE_REPLY_LEN 64
#define SG_MSG_DATA_HEADER_LEN	16
/* The smallest data message: header and tag, an empty keepalive. */
#define SG_MSG_DATA_MIN_LEN (SG_MSG_DATA_HEADER_LEN + SG_TAG_LEN)
/* Inner packets are padded to a multiple of 16 bytes before encryption. */
#define SG_MSG_PADDING_MULTIPLE 16

/* C only: C++ tests include this header too, and C++ spells it static_assert. */
#ifndef __cplusplus
_Static_assert(sizeof(struct sg_msg_initiation) == SG_MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct sg_msg_response) == SG_MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct sg_msg_cookie_reply) == SG_MSG_COOKIE_REPLY_LEN, "cookie reply size");
_Static_assert(sizeof(struct sg_msg_data) == SG_MSG_DATA_HEADER_LEN, "data header size");
#endif

/*
 * Classifies a UDP payload.  Returns the message type (1..4) when the type is
 * known, the reserved bytes are zero and the length fits the type (exact for
 * handshake messages, at least SG_MSG_DATA_MIN_LEN for data); otherwise returns
 * 0 and stores the drop reason (WG_TYPE, WG_SIZE or WG_RESERVED) in *why.
 */
int sg_wire_classify(const uint8_t *msg, size_t len, enum sg_drop_reason *why);

/* Length of an inner packet of len bytes once padded (capped at mtu). */
size_t sg_wire_padded_len(size_t len, size_t mtu);

#ifdef __cplusplus
}
#endif
#endif
