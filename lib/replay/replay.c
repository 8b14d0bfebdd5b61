/* SPDX-License-Identifier: MIT */
/*
 * The replay window stores bit (counter + 1) so that top == 0 can mean "no
 * counter yet"; word w of the bitmap holds positions w * 64 .. w * 64 + 63
 * modulo the bitmap size.
 */
#include <string.h>

#include "sg_replay.h"

_Static_assert((SG_REPLAY_WORDS & (SG_REPLAY_WORDS - 1)) == 0, "bitmap words are a power of 2");
_Static_assert(sizeof(((struct sg_replay *)0)->bitmap) * 8 == SG_COUNTER_BITS_TOTAL,
	       "bitmap holds SG_COUNTER_BITS_TOTAL bits");

#define WORD_SHIFT (__builtin_ctzl(SG_REPLAY_BITS_PER_WORD))

void sg_replay_init(struct sg_replay *r)
{
	memset(r, 0, sizeof(*r));
}

static size_t word_of(uint64_t pos)
{
	return (pos >> WORD_SHIFT) & (SG_REPLAY_WORDS - 1);
}

static unsigned long bit_of(uint64_t pos)
{
	return 1ul << (pos & (SG_REPLAY_BITS_PER_WORD - 1));
}

void sg_replay_init_above(struct sg_replay *r, uint64_t first)
{
	unsigned long upto;

	memset(r, 0, sizeof(*r));
	if (first == 0)
		return;
	/* Positions up to first (counters up to first - 1) are seen: every
	 * word behind the top one wholly, the top one up to first's bit. */
	memset(r->bitmap, 0xff, sizeof(r->bitmap));
	upto = bit_of(first);
	r->bitmap[word_of(first)] = upto | (upto - 1);
	r->top = first;
}

/* True when counter is acceptable by value alone: not too large, not too old. */
static bool in_range(const struct sg_replay *r, uint64_t counter)
{
	if (counter >= SG_REJECT_AFTER_MESSAGES)
		return false;
	return counter + 1 + SG_REPLAY_WINDOW_SIZE >= r->top;
}

bool sg_replay_check(const struct sg_replay *r, uint64_t counter)
{
	uint64_t pos = counter + 1;

	if (!in_range(r, counter))
		return false;
	if (pos > r->top)
		return true;
	return !(r->bitmap[word_of(pos)] & bit_of(pos));
}

/*
 * Moves the top to pos, clearing the words between the old top word and the
 * new one; a jump of the whole bitmap or more clears every word once.
 */
static void advance(struct sg_replay *r, uint64_t pos)
{
	uint64_t cur = r->top >> WORD_SHIFT;
	uint64_t steps = (pos >> WORD_SHIFT) - cur;

	if (steps > SG_REPLAY_WORDS)
		steps = SG_REPLAY_WORDS;
	for (uint64_t i = 1; i <= steps; i++)
		r->bitmap[(cur + i) & (SG_REPLAY_WORDS - 1)] = 0;
	r->top = pos;
}

bool sg_replay_commit(struct sg_replay *r, uint64_t counter)
{
	uint64_t pos = counter + 1;
	unsigned long *w;

	if (!in_range(r, counter))
		return false;
	if (pos > r->top)
		advance(r, pos);
	w = &r->bitmap[word_of(pos)];
	if (*w & bit_of(pos))
		return false;
	*w |= bit_of(pos);
	return true;
}
