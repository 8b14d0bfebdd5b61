/* SPDX-License-Identifier: MIT */
/*
 * Per-source rate limit for handshake messages, after the kernel's
 * ratelimiter.c: one token bucket per IPv4 address or IPv6 /64 (an attacker
 * usually owns a whole /64), SG_RATELIMIT_PACKETS_PER_SECOND (20) a second
 * with bursts of SG_RATELIMIT_PACKETS_BURSTABLE (5).
 *
 * Memory is bounded: a fixed table holds at most the capacity given at
 * create.  A source idle for more than SG_RATELIMIT_IDLE_TIMEOUT_S has a full
 * bucket again, so forgetting it changes nothing; such entries are collected
 * by sg_ratelimit_gc, which the owner calls about once a second, and reused
 * on the fly when a new source lands on them.  When the table is full of
 * active sources, new sources are refused and the caller drops their packets
 * (SG_DROP_WG_HS_RATELIMIT): under a flood, sources already known keep their
 * share.  Slots are placed by a hash keyed with a secret from getrandom(), so
 * senders cannot aim their addresses at one chain.
 *
 * A limiter is owned by one thread (the lcore that processes handshakes);
 * nothing here locks.  Every call takes the time, any monotonic clock in
 * nanoseconds, so tests can drive it.
 */
#ifndef SG_RATELIMIT_H
#define SG_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sg_ratelimit;

/*
 * Creates a limiter that tracks at most capacity sources (1 .. 2^28).
 * Returns NULL with errno set (EINVAL, ENOMEM, or getrandom's error).
 */
struct sg_ratelimit *sg_ratelimit_create(uint32_t capacity);

/* Frees a limiter; NULL is ignored. */
void sg_ratelimit_destroy(struct sg_ratelimit *rl);

/*
 * Takes one token from the bucket of the source addr (4 bytes for AF_INET,
 * 16 for AF_INET6, of which the first 8 count).  Returns true when the
 * message may be processed; false when the source is over its rate, the
 * table is full, or the family is neither AF_INET nor AF_INET6.
 */
bool sg_ratelimit_allow_source(struct sg_ratelimit *rl, const uint8_t *addr, int family,
			       uint64_t now_ns);

/* Forgets every source idle longer than SG_RATELIMIT_IDLE_TIMEOUT_S; returns how many. */
uint32_t sg_ratelimit_gc(struct sg_ratelimit *rl, uint64_t now_ns);

/* Number of sources the limiter holds now. */
uint32_t sg_ratelimit_count(const struct sg_ratelimit *rl);

#ifdef __cplusplus
}
#endif
#endif
