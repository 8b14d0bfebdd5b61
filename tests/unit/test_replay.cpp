// Unit tests for lib/replay: a table of (counter, expected) cases over the
// window's edges, then a random walk checked against a naive reference.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

extern "C" {
#include "lib/replay/sg_replay.h"
}

namespace
{

const uint64_t W = SG_REPLAY_WINDOW_SIZE;
const uint64_t B = SG_COUNTER_BITS_TOTAL;
const uint64_t R = SG_REJECT_AFTER_MESSAGES;

struct Case {
	uint64_t counter;
	bool expected;
	const char *why;
};

// Runs one case the way the data path does: pre-check, then commit after
// "authentication".  Both must agree with the expectation, the pre-check
// must not change anything, and a committed counter is then a replay.
void run(sg_replay *r, const Case &c, size_t i)
{
	SCOPED_TRACE(testing::Message()
		     << "case " << i << " counter " << c.counter << ": " << c.why);
	EXPECT_EQ(sg_replay_check(r, c.counter), c.expected);
	EXPECT_EQ(sg_replay_check(r, c.counter), c.expected);
	EXPECT_EQ(sg_replay_commit(r, c.counter), c.expected);
	EXPECT_FALSE(sg_replay_check(r, c.counter));
	EXPECT_FALSE(sg_replay_commit(r, c.counter));
}

void run_table(const std::vector<Case> &cases)
{
	sg_replay r;
	sg_replay_init(&r);
	for (size_t i = 0; i < cases.size(); i++)
		run(&r, cases[i], i);
}

} // namespace

TEST(Replay, WindowIsTheBitmapLessOneWord)
{
	EXPECT_EQ(B, 2048u);
	EXPECT_EQ(W, B - 8 * sizeof(unsigned long));
	// REJECT_AFTER_MESSAGES leaves room for the whole bitmap below 2^64.
	EXPECT_LT(R + B, UINT64_MAX);
}

TEST(Replay, InOrderGapsAndDuplicates)
{
	run_table({
		{ 0, true, "zero is a valid first counter" },
		{ 1, true, "next" },
		{ 10, true, "gap forward" },
		{ 9, true, "late, inside the window" },
		{ 2, true, "late, inside the window" },
		{ 63, true, "last bit of the first word" },
		{ 64, true, "first bit of the second word" },
		{ 62, true, "late, across a word boundary" },
	});
}

TEST(Replay, WindowEdges)
{
	run_table({
		{ 10, true, "first" },
		{ W + 10, true, "jump: 10 is now the oldest counter in the window" },
		{ 11, true, "inside the window, never seen" },
		{ W + 9, true, "just below the top" },
		{ 9, false, "one below the window" },
		{ 3, false, "far below the window" },
		{ W + 11, true, "top moves by one: 11 becomes the oldest" },
		{ 12, true, "just above the oldest" },
		{ 10, false, "now one below the window" },
	});
}

TEST(Replay, DuplicateAtTheEdgeIsRemembered)
{
	sg_replay r;
	sg_replay_init(&r);
	ASSERT_TRUE(sg_replay_commit(&r, 5000));
	ASSERT_TRUE(sg_replay_commit(&r, 5000 + W));
	// 5000 is exactly at the bottom of the window, in the one word the jump
	// did not clear: it must still be known as seen.
	EXPECT_FALSE(sg_replay_check(&r, 5000));
	EXPECT_FALSE(sg_replay_commit(&r, 5000));
	EXPECT_TRUE(sg_replay_commit(&r, 5001));
}

TEST(Replay, BitmapWrapsAround)
{
	run_table({
		{ 70, true, "a bit in word 1" },
		{ 70 + B - 64, true, "jump 127 words: word 1 is kept" },
		{ 71, true, "word 1 still inside the window" },
		{ 69, false, "below the window" },
		{ 70 + B, true, "same bit of the same word one lap later: stale bit cleared" },
		{ 70 + B - 1, true, "just below the top" },
		{ 70 + 2 * B, true, "a whole lap in one jump" },
		{ 70 + 2 * B - W, true, "the oldest counter after the lap" },
		{ 70 + 2 * B - W - 1, false, "just below the window" },
		{ 70 + B, false, "a lap ago" },
	});
}

TEST(Replay, FarJumps)
{
	run_table({
		{ 1, true, "first" },
		{ 4 * B, true, "far jump" },
		{ 4 * B - W, true, "oldest in the window" },
		{ 4 * B - W - 1, false, "just below the window" },
		{ 4 * B - 1, true, "just below the top" },
		{ 4 * B + 1, true, "next" },
		{ 4 * B - W, false, "below the window after the top moved" },
		{ UINT64_C(1) << 40, true, "jump by 2^40" },
		{ (UINT64_C(1) << 40) - W, true, "oldest in the window" },
		{ 4 * B + 2, false, "left far behind" },
		{ 0, false, "zero, never seen but far too old" },
	});
}

TEST(Replay, RejectAfterMessagesBoundary)
{
	run_table({
		{ 0, true, "first" },
		{ R, false, "REJECT_AFTER_MESSAGES itself" },
		{ R + 1, false, "above REJECT_AFTER_MESSAGES" },
		{ UINT64_MAX, false, "the largest counter" },
		{ R - 1, true, "the last usable counter" },
		{ R - 2, true, "just below it" },
		{ R - 1 - W, true, "oldest in the window" },
		{ R - 2 - W, false, "just below the window" },
		{ R, false, "still refused at the top" },
		{ 0, false, "zero, far too old" },
	});
}

TEST(Replay, FillWindowInOrderThenZero)
{
	sg_replay r;
	sg_replay_init(&r);
	for (uint64_t i = 1; i <= W; i++)
		ASSERT_TRUE(sg_replay_commit(&r, i)) << i;
	EXPECT_TRUE(sg_replay_commit(&r, 0)) << "0 is exactly W below the top";
	EXPECT_FALSE(sg_replay_commit(&r, 0));

	sg_replay_init(&r);
	for (uint64_t i = 2; i <= W + 1; i++)
		ASSERT_TRUE(sg_replay_commit(&r, i)) << i;
	EXPECT_TRUE(sg_replay_commit(&r, 1));
	EXPECT_FALSE(sg_replay_check(&r, 0)) << "0 is W + 1 below the top";
}

TEST(Replay, FillWindowBackwards)
{
	sg_replay r;
	sg_replay_init(&r);
	for (uint64_t i = W + 1; i-- > 0;)
		ASSERT_TRUE(sg_replay_commit(&r, i)) << i;
	for (uint64_t i = 0; i <= W; i++)
		ASSERT_FALSE(sg_replay_check(&r, i)) << i;
	EXPECT_TRUE(sg_replay_check(&r, W + 1));
}

TEST(Replay, CommitRefusesWhatWasCommittedAfterTheCheck)
{
	sg_replay r;
	sg_replay_init(&r);
	// Two copies of packet 7 pass the pre-check before either is decrypted.
	EXPECT_TRUE(sg_replay_check(&r, 7));
	EXPECT_TRUE(sg_replay_check(&r, 7));
	EXPECT_TRUE(sg_replay_commit(&r, 7));
	EXPECT_FALSE(sg_replay_commit(&r, 7));
	// A packet that passed the check but fell out of the window meanwhile.
	EXPECT_TRUE(sg_replay_check(&r, 8));
	ASSERT_TRUE(sg_replay_commit(&r, 8 + W + 1));
	EXPECT_FALSE(sg_replay_commit(&r, 8));
}

namespace
{

// The naive reference: every counter ever accepted, and the highest.
struct Reference {
	std::set<uint64_t> seen;
	bool any = false;
	uint64_t max = 0;

	bool accept(uint64_t c) const
	{
		if (c >= R || seen.count(c))
			return false;
		return !any || c > max || max - c <= W;
	}
	void add(uint64_t c)
	{
		seen.insert(c);
		if (!any || c > max)
			max = c;
		any = true;
		// Counters below the window are refused by value, so the set
		// need not remember them.
		if (max > W + 1)
			seen.erase(seen.begin(), seen.lower_bound(max - W - 1));
	}
};

uint64_t next_counter(std::mt19937_64 &rng, const Reference &ref)
{
	uint64_t top = ref.max;
	switch (rng() % 20) {
	case 0:
		return rng(); // anything at all
	case 1:
		return R - 1 - rng() % (2 * B); // near the end of the counter space
	case 2:
	case 3:
		return top + rng() % (3 * B); // jumps up to a few laps
	case 4:
	case 5:
	case 6:
		return top - std::min(top, (uint64_t)(W - 8 + rng() % 16)); // the bottom edge
	case 7:
	case 8:
		if (!ref.seen.empty()) {
			auto it = ref.seen.lower_bound(top - std::min(top, (uint64_t)(rng() % W)));
			return it == ref.seen.end() ? top : *it; // a duplicate
		}
		return top;
	case 9:
	case 10:
	case 11:
		return top - std::min(top, (uint64_t)(rng() % (W + 64))); // late
	default:
		return top + 1 + rng() % 4; // mostly in order
	}
}

} // namespace

TEST(Replay, RandomWalkMatchesNaiveReference)
{
	std::mt19937_64 rng(0x5178a7e);
	for (int episode = 0; episode < 40; episode++) {
		sg_replay r;
		sg_replay_init(&r);
		Reference ref;
		for (int op = 0; op < 20000; op++) {
			uint64_t c = next_counter(rng, ref);
			bool want = ref.accept(c);
			ASSERT_EQ(sg_replay_check(&r, c), want)
				<< "episode " << episode << " op " << op << " counter " << c
				<< " max " << ref.max;
			ASSERT_EQ(sg_replay_commit(&r, c), want)
				<< "episode " << episode << " op " << op << " counter " << c;
			if (want)
				ref.add(c);
		}
	}
}

// A window started above a synced high-water mark (a standby taking a
// session over): nothing below `first` passes, `first` and every later
// counter pass once, in any order, including the rest of first's word.
TEST(Replay, InitAboveAcceptsFromFirstOnly)
{
	for (uint64_t first : { 0ull, 1ull, 2ull, 63ull, 64ull, 65ull, 127ull, 1000ull, 8191ull,
				(1ull << 40) + 5 }) {
		sg_replay r;
		sg_replay_init_above(&r, first);
		if (first > 0) {
			EXPECT_FALSE(sg_replay_check(&r, first - 1)) << first;
			EXPECT_FALSE(sg_replay_commit(&r, first - 1)) << first;
		}
		if (first > 1) {
			EXPECT_FALSE(sg_replay_commit(&r, first - 2)) << first;
		}
		if (first > 100) {
			EXPECT_FALSE(sg_replay_commit(&r, first - 100)) << first;
		}
		// Later counters of first's own word, out of order, then first.
		for (uint64_t c = first + 63; c > first; c--)
			EXPECT_TRUE(sg_replay_commit(&r, c)) << first << " " << c;
		EXPECT_TRUE(sg_replay_check(&r, first)) << first;
		EXPECT_TRUE(sg_replay_commit(&r, first)) << first;
		EXPECT_FALSE(sg_replay_commit(&r, first)) << first;
		EXPECT_TRUE(sg_replay_commit(&r, first + 64)) << first;
		EXPECT_TRUE(sg_replay_commit(&r, first + 5000)) << first;
		EXPECT_FALSE(sg_replay_commit(&r, first + 5000)) << first;
	}
}
