/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's receive replay window (the paper, section 5.4.6; RFC 6479): a
 * bitmap of SG_COUNTER_BITS_TOTAL bits kept as machine words, advanced a whole
 * word at a time so that a jump forward clears at most the full bitmap.
 *
 * A window belongs to one receiving keypair and is owned by the one worker
 * that decrypts for it; nothing here locks.  A worker that hands keypairs to
 * others must serialize sg_replay_commit itself.
 */
#ifndef SG_REPLAY_H
#define SG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/wire/sg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_REPLAY_BITS_PER_WORD (8 * sizeof(unsigned long))
#define SG_REPLAY_WORDS		(SG_COUNTER_BITS_TOTAL / SG_REPLAY_BITS_PER_WORD)
/*
 * Counters accepted below the highest one seen: the top word is partly in the
 * future, so one word of the bitmap does not count (1984 with 64-bit words).
 */
#define SG_REPLAY_WINDOW_SIZE (SG_COUNTER_BITS_TOTAL - SG_REPLAY_BITS_PER_WORD)

struct sg_replay {
	/* One more than the highest counter committed; 0 before the first. */
	uint64_t top;
	unsigned long bitmap[SG_REPLAY_WORDS];
};

/* Empties the window: every counter below SG_REJECT_AFTER_MESSAGES is new. */
void sg_replay_init(struct sg_replay *r);

/*
 * A window that has seen every counter below `first`: the first counter it
 * accepts is `first`, then any later one once.  A standby gateway that takes
 * a session over starts its window so, above the receive high-water mark the
 * active last synced (docs/fleet.md).
 */
void sg_replay_init_above(struct sg_replay *r, uint64_t first);

/*
 * Read-only pre-check, cheap enough to run before decryption: returns true
 * when counter is below SG_REJECT_AFTER_MESSAGES, not older than the window
 * and not yet committed.  A true answer is only a hint; commit decides.
 */
bool sg_replay_check(const struct sg_replay *r, uint64_t counter);

/*
 * Marks counter as seen, after the packet authenticated.  Returns false (and
 * changes nothing) when sg_replay_check would now say false, for instance
 * because a copy of the packet was committed after the pre-check.
 */
bool sg_replay_commit(struct sg_replay *r, uint64_t counter);

#ifdef __cplusplus
}
#endif
#endif
