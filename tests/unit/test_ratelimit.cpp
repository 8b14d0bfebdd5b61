// Unit tests for lib/ratelimit: the per-source handshake token bucket, its
// address aggregation, its memory bound and its garbage collection, on a
// virtual clock.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "lib/ratelimit/sg_ratelimit.h"
#include "lib/wire/sg_wire.h"
}

namespace
{

const uint64_t SEC = 1000000000ull;
const uint64_t MS = 1000000ull;
const uint64_t INTERVAL = SEC / SG_RATELIMIT_PACKETS_PER_SECOND;
const int BURST = SG_RATELIMIT_PACKETS_BURSTABLE;
const uint64_t T0 = 1000 * SEC;

struct Addr {
	int family;
	uint8_t b[16];
};

Addr parse(const char *s)
{
	Addr a = {};
	a.family = strchr(s, ':') ? AF_INET6 : AF_INET;
	EXPECT_EQ(inet_pton(a.family, s, a.b), 1) << s;
	return a;
}

Addr v4_n(uint32_t n)
{
	Addr a = {};
	a.family = AF_INET;
	uint32_t be = htonl(0xc6120000u + n); // 198.18.0.0/15
	memcpy(a.b, &be, 4);
	return a;
}

bool allow(sg_ratelimit *rl, const Addr &a, uint64_t now)
{
	return sg_ratelimit_allow_source(rl, a.b, a.family, now);
}

// Sends n messages at one instant; returns how many were allowed.
int burst(sg_ratelimit *rl, const Addr &a, uint64_t now, int n)
{
	int ok = 0;
	for (int i = 0; i < n; i++)
		ok += allow(rl, a, now);
	return ok;
}

struct Limiter {
	sg_ratelimit *rl;
	explicit Limiter(uint32_t capacity) : rl(sg_ratelimit_create(capacity))
	{
	}
	~Limiter()
	{
		sg_ratelimit_destroy(rl);
	}
};

} // namespace

TEST(Ratelimit, ConstantsAreTheKernels)
{
	EXPECT_EQ(SG_RATELIMIT_PACKETS_PER_SECOND, 20);
	EXPECT_EQ(SG_RATELIMIT_PACKETS_BURSTABLE, 5);
	EXPECT_EQ(SG_RATELIMIT_IDLE_TIMEOUT_S, 1);
}

TEST(Ratelimit, CreateRefusesBadCapacity)
{
	errno = 0;
	EXPECT_EQ(sg_ratelimit_create(0), nullptr);
	EXPECT_EQ(errno, EINVAL);
	errno = 0;
	EXPECT_EQ(sg_ratelimit_create(UINT32_MAX), nullptr);
	EXPECT_EQ(errno, EINVAL);
	sg_ratelimit_destroy(nullptr);
}

TEST(Ratelimit, BurstThenRefill)
{
	Limiter l(16);
	Addr a = parse("198.18.0.1");
	EXPECT_EQ(burst(l.rl, a, T0, 100), BURST);
	// One token comes back per interval, not before.
	EXPECT_FALSE(allow(l.rl, a, T0 + INTERVAL - 1));
	EXPECT_TRUE(allow(l.rl, a, T0 + INTERVAL));
	EXPECT_FALSE(allow(l.rl, a, T0 + INTERVAL));
	// Refused attempts do not cost tokens: three intervals give three.
	EXPECT_EQ(burst(l.rl, a, T0 + 4 * INTERVAL, 10), 3);
	// After a long quiet spell the bucket holds a burst, no more.
	EXPECT_EQ(burst(l.rl, a, T0 + 60 * SEC, 100), BURST);
}

TEST(Ratelimit, SteadyRateOverOneSecond)
{
	Limiter l(16);
	Addr a = parse("198.18.0.1");
	int ok = 0;
	// One attempt every millisecond for a second: the burst, then one per interval.
	for (uint64_t t = 0; t < 1000; t++)
		ok += allow(l.rl, a, T0 + t * MS);
	EXPECT_EQ(ok, BURST + (int)(999 * MS / INTERVAL));
}

TEST(Ratelimit, SourcesAreIndependent)
{
	Limiter l(16);
	Addr a = parse("198.18.0.1"), b = parse("198.18.0.2");
	EXPECT_EQ(burst(l.rl, a, T0, 50), BURST);
	EXPECT_EQ(burst(l.rl, b, T0, 50), BURST);
	EXPECT_FALSE(allow(l.rl, a, T0));
	EXPECT_EQ(sg_ratelimit_count(l.rl), 2u);
}

TEST(Ratelimit, Ipv6SharesABucketPerSlash64)
{
	Limiter l(16);
	Addr a = parse("fd00:1:2:3::1"), b = parse("fd00:1:2:3:ffff:ffff:ffff:ffff");
	Addr other64 = parse("fd00:1:2:4::1");
	EXPECT_EQ(burst(l.rl, a, T0, 3), 3);
	EXPECT_EQ(burst(l.rl, b, T0, 50), BURST - 3) << "same /64, same bucket";
	EXPECT_EQ(burst(l.rl, other64, T0, 50), BURST) << "next /64, own bucket";
	EXPECT_EQ(sg_ratelimit_count(l.rl), 2u);
}

TEST(Ratelimit, FamiliesDoNotShareBuckets)
{
	Limiter l(16);
	// The IPv6 /64 c612:1::/64 starts with the same four bytes as 198.18.0.1.
	Addr v4 = parse("198.18.0.1"), v6 = parse("c612:1::1");
	EXPECT_EQ(burst(l.rl, v4, T0, 50), BURST);
	EXPECT_EQ(burst(l.rl, v6, T0, 50), BURST);
	EXPECT_EQ(sg_ratelimit_count(l.rl), 2u);
}

TEST(Ratelimit, UnknownFamilyIsRefused)
{
	Limiter l(16);
	Addr a = parse("198.18.0.1");
	EXPECT_FALSE(sg_ratelimit_allow_source(l.rl, a.b, AF_UNIX, T0));
	EXPECT_FALSE(sg_ratelimit_allow_source(l.rl, nullptr, AF_INET, T0));
	EXPECT_EQ(sg_ratelimit_count(l.rl), 0u);
}

TEST(Ratelimit, CapacityBoundsMemoryAndKnownSourcesKeepTheirShare)
{
	const uint32_t cap = 64;
	Limiter l(cap);
	for (uint32_t i = 0; i < cap; i++)
		ASSERT_TRUE(allow(l.rl, v4_n(i), T0)) << i;
	EXPECT_EQ(sg_ratelimit_count(l.rl), cap);
	// A flood of new sources is refused while every known one is active...
	for (uint32_t i = cap; i < 10 * cap; i++)
		EXPECT_FALSE(allow(l.rl, v4_n(i), T0 + 500 * MS)) << i;
	EXPECT_EQ(sg_ratelimit_count(l.rl), cap);
	// ...and the known sources are still served.
	for (uint32_t i = 0; i < cap; i++)
		EXPECT_TRUE(allow(l.rl, v4_n(i), T0 + 500 * MS)) << i;
	// Once they go idle, new sources get in without an explicit collection.
	EXPECT_TRUE(allow(l.rl, v4_n(1000), T0 + 1600 * MS));
	EXPECT_LE(sg_ratelimit_count(l.rl), cap);
}

TEST(Ratelimit, GcFreesOnlyIdleEntriesAndKeepsTheOthersState)
{
	Limiter l(256);
	for (uint32_t i = 0; i < 50; i++)
		ASSERT_TRUE(allow(l.rl, v4_n(i), T0));
	// Ten busy sources empty their buckets 900 ms later.
	for (uint32_t i = 100; i < 110; i++)
		ASSERT_EQ(burst(l.rl, v4_n(i), T0 + 900 * MS, 10), BURST);
	EXPECT_EQ(sg_ratelimit_count(l.rl), 60u);

	// Exactly one second idle is not yet "idle longer than a second".
	EXPECT_EQ(sg_ratelimit_gc(l.rl, T0 + SEC), 0u);
	EXPECT_EQ(sg_ratelimit_gc(l.rl, T0 + SEC + 1), 50u);
	EXPECT_EQ(sg_ratelimit_count(l.rl), 10u);

	// The busy sources kept their state: 100 ms refilled two tokens.
	for (uint32_t i = 100; i < 110; i++)
		EXPECT_EQ(burst(l.rl, v4_n(i), T0 + 1000 * MS, 10), 2) << i;
	// A forgotten source starts again with a full burst.
	EXPECT_EQ(burst(l.rl, v4_n(7), T0 + 1000 * MS, 10), BURST);
	EXPECT_EQ(sg_ratelimit_gc(l.rl, T0 + 10 * SEC), 11u);
	EXPECT_EQ(sg_ratelimit_count(l.rl), 0u);
}

// Many sources, random times and collections, against a plain map with the
// same bucket arithmetic: lookups must survive the deletions of others.
TEST(Ratelimit, RandomTrafficMatchesReference)
{
	const uint32_t pool = 1024; // the table's capacity: up to half full
	Limiter l(pool);
	struct Bucket {
		uint64_t tokens, last;
	};
	std::map<uint32_t, Bucket> ref;
	std::mt19937_64 rng(0x7a7e);
	const uint64_t cost = INTERVAL, max = INTERVAL * BURST;
	uint64_t now = T0;
	uint32_t peak = 0;

	for (int op = 0; op < 200000; op++) {
		now += rng() % 16 == 0 ? rng() % (5 * MS) : rng() % (20 * 1000);
		if (rng() % 5000 == 0) {
			peak = std::max(peak, sg_ratelimit_count(l.rl));
			uint32_t live = 0;
			sg_ratelimit_gc(l.rl, now);
			for (auto &kv : ref)
				live += now - kv.second.last <= SEC;
			ASSERT_EQ(sg_ratelimit_count(l.rl), live) << "op " << op;
			continue;
		}
		// A few hot sources and a long tail.
		uint32_t src = rng() % 3 ? rng() % 20 : rng() % pool;
		bool want;
		auto it = ref.find(src);
		if (it == ref.end() || now - it->second.last > SEC) {
			ref[src] = { max - cost, now };
			want = true;
		} else {
			Bucket &b = it->second;
			uint64_t t = std::min(max, b.tokens + (now - b.last));
			b.last = now;
			want = t >= cost;
			b.tokens = want ? t - cost : t;
		}
		ASSERT_EQ(allow(l.rl, v4_n(src), now), want) << "op " << op << " src " << src;
	}
	EXPECT_GT(peak, pool / 2) << "the table was never loaded";
}
