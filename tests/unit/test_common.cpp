// Unit tests for lib/common: drop reasons and rate-limited logging.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

extern "C" {
#include "lib/common/sg_common.h"
}

TEST(Drop, NamesAreUniqueLowerCaseAndRoundTrip)
{
	std::set<std::string> seen;
	for (int r = 0; r < SG_DROP_MAX; r++) {
		std::string n = sg_drop_name((sg_drop_reason)r);
		EXPECT_TRUE(seen.insert(n).second) << n;
		for (char c : n)
			EXPECT_FALSE(c >= 'A' && c <= 'Z') << n;
		EXPECT_EQ(sg_drop_lookup(n.c_str()), (sg_drop_reason)r);
		EXPECT_STRNE(sg_drop_desc((sg_drop_reason)r), "invalid");
	}
	EXPECT_STREQ(sg_drop_name(SG_DROP_WG_REPLAY), "wg_replay");
	EXPECT_EQ(sg_drop_lookup("no_such_reason"), SG_DROP_MAX);
	EXPECT_STREQ(sg_drop_name(SG_DROP_MAX), "invalid");
}

TEST(Drop, CountersSumAndOwnCacheLines)
{
	EXPECT_EQ(alignof(sg_drop_counters), 64u);
	EXPECT_EQ(sizeof(sg_drop_counters) % 64, 0u);
	sg_drop_counters a = {}, b = {}, total = {};
	sg_drop_count(&a, SG_DROP_WG_BAD_TAG, 3);
	sg_drop_count(&b, SG_DROP_WG_BAD_TAG, 4);
	sg_drop_count(&b, SG_DROP_NO_ROUTE, 1);
	sg_drop_sum(&total, &a);
	sg_drop_sum(&total, &b);
	EXPECT_EQ(total.n[SG_DROP_WG_BAD_TAG], 7u);
	EXPECT_EQ(total.n[SG_DROP_NO_ROUTE], 1u);
	EXPECT_EQ(total.n[SG_DROP_WG_REPLAY], 0u);
}

TEST(RateLimit, BurstThenSteadyRate)
{
	sg_log_rl_state rl = SG_LOG_RL_INIT(10, 1);
	uint64_t t = 1000000000ull;
	int allowed = 0;
	for (int i = 0; i < 1000; i++)
		allowed += sg_log_rl_allow(&rl, t);
	EXPECT_EQ(allowed, 10);
	EXPECT_EQ(rl.suppressed, 990u);
	EXPECT_EQ(sg_log_rl_allow(&rl, t + 999999999ull), 0);
	EXPECT_EQ(sg_log_rl_allow(&rl, t + 1000000000ull), 1);
	EXPECT_EQ(sg_log_rl_allow(&rl, t + 1000000001ull), 0);
	// After a long quiet spell the bucket refills only up to its burst.
	allowed = 0;
	for (int i = 0; i < 100; i++)
		allowed += sg_log_rl_allow(&rl, t + 3600ull * 1000000000ull);
	EXPECT_EQ(allowed, 10);
}

static std::vector<std::string> lines;
static void sink(sg_log_level, const char *line)
{
	lines.push_back(line);
}

TEST(Log, RateLimitedMacroSuppressesFloods)
{
	lines.clear();
	sg_log_set_sink(sink);
	for (int i = 0; i < 10000; i++)
		SG_LOG_RL(SG_LOG_WARN, "bad packet %d", i);
	sg_log_set_sink(nullptr);
	EXPECT_EQ(lines.size(), 10u);
	EXPECT_EQ(lines[0], "bad packet 0");
}

TEST(Log, LevelFilters)
{
	lines.clear();
	sg_log_set_sink(sink);
	sg_log_set_level(SG_LOG_WARN);
	sg_log(SG_LOG_INFO, "hidden");
	sg_log(SG_LOG_ERR, "shown %s", "x");
	sg_log_set_level(SG_LOG_INFO);
	sg_log_set_sink(nullptr);
	ASSERT_EQ(lines.size(), 1u);
	EXPECT_EQ(lines[0], "shown x");
}

TEST(Bytes, LittleEndianHelpers)
{
	uint8_t b[8];
	sg_put_le64(b, 0x0102030405060708ull);
	EXPECT_EQ(b[0], 0x08);
	EXPECT_EQ(b[7], 0x01);
	EXPECT_EQ(sg_get_le64(b), 0x0102030405060708ull);
	EXPECT_EQ(sg_get_le32(b), 0x05060708u);
	EXPECT_EQ(sg_get_le16(b), 0x0708u);
}
