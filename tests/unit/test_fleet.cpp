// SPDX-License-Identifier: MIT
// lib/fleet: the send-counter leases of a failover pair and the state
// channel's sealed messages (docs/fleet.md).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <set>
#include <vector>

extern "C" {
#include "lib/fleet/sg_fleet.h"
}

namespace
{

const uint8_t kSecret[32] = { 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
			      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

TEST(Lease, NothingIsSentBeforeTheFirstAcknowledgement)
{
	sg_lease l;
	sg_lease_init(&l, 0);
	EXPECT_FALSE(sg_lease_allows(&l, 0));
	uint64_t end = sg_lease_want(&l, 0);
	EXPECT_EQ(end, SG_LEASE_BLOCK);
	sg_lease_asked(&l, end, 7);
	EXPECT_EQ(sg_lease_want(&l, 0), 0u) << "one ask at a time";
	EXPECT_EQ(sg_lease_acked(&l, 6), 0u) << "another message's ack moves nothing";
	EXPECT_FALSE(sg_lease_allows(&l, 0));
	EXPECT_EQ(sg_lease_acked(&l, 7), SG_LEASE_BLOCK);
	EXPECT_TRUE(sg_lease_allows(&l, 0));
	EXPECT_TRUE(sg_lease_allows(&l, SG_LEASE_BLOCK - 1));
	EXPECT_FALSE(sg_lease_allows(&l, SG_LEASE_BLOCK));
}

TEST(Lease, TheNextBlockIsAskedForWhileHalfIsLeft)
{
	sg_lease l;
	sg_lease_init(&l, 0);
	sg_lease_asked(&l, sg_lease_want(&l, 0), 1);
	sg_lease_acked(&l, 1);
	EXPECT_EQ(sg_lease_want(&l, SG_LEASE_BLOCK / 2 - 1), 0u);
	EXPECT_EQ(sg_lease_want(&l, SG_LEASE_BLOCK / 2), 2 * SG_LEASE_BLOCK);
	// A sender that ran past its limit (it stalled) asks a block above where it is.
	EXPECT_EQ(sg_lease_want(&l, 5 * SG_LEASE_BLOCK), 6 * SG_LEASE_BLOCK);
	// Alone (the standby left): what was asked is granted at once.
	sg_lease_asked(&l, 2 * SG_LEASE_BLOCK, 2);
	EXPECT_EQ(sg_lease_alone(&l), 2 * SG_LEASE_BLOCK);
	// Near REJECT_AFTER_MESSAGES the last lease ends there.
	sg_lease_init(&l, SG_REJECT_AFTER_MESSAGES - 10);
	EXPECT_EQ(sg_lease_want(&l, SG_REJECT_AFTER_MESSAGES - 10), SG_REJECT_AFTER_MESSAGES);
}

// The property the pair exists for: over failovers back and forth (and a
// split brain in which the old active goes on alone for a session's whole
// life at 100 million packets a second), no counter of a session is sent
// twice.  Each member sends only below its acknowledged limit; the one that
// takes over starts above the last lease end it heard of.
TEST(Lease, NoCounterIsUsedTwiceAcrossFailoversAndASplitBrain)
{
	std::mt19937_64 rng(42);
	struct Member {
		sg_lease lease;
		uint64_t next = 0;
		uint64_t heard_end = 0; // as standby: the last lease end acknowledged
	} m[2];
	std::vector<std::pair<uint64_t, uint64_t>> used; // [from, to) ranges sent
	int active = 0;
	uint64_t seq = 0;
	sg_lease_init(&m[0].lease, 0);
	for (int round = 0; round < 24; round++) {
		Member &a = m[active], &s = m[1 - active];
		// The active sends a random number of packets, asking for leases
		// that the standby acknowledges (and records) as it goes.
		uint64_t n = rng() % (8 * SG_LEASE_BLOCK);
		for (uint64_t sent = 0; sent < n;) {
			uint64_t end = sg_lease_want(&a.lease, a.next);
			if (end != 0) {
				sg_lease_asked(&a.lease, end, ++seq);
				s.heard_end = end; // the standby took the LEASE message
				sg_lease_acked(&a.lease, seq);
			}
			uint64_t room = a.lease.limit - a.next, k = std::min(room, n - sent);
			ASSERT_GT(room, 0u);
			used.push_back({ a.next, a.next + k });
			a.next += k;
			sent += k;
		}
		// An ask in flight, never acknowledged: the standby may or may not
		// have heard it; the active must not use it either way.
		uint64_t end = sg_lease_want(&a.lease, a.next);
		if (end != 0) {
			sg_lease_asked(&a.lease, end, ++seq);
			if (rng() % 2)
				s.heard_end = end;
		}
		if (round % 6 == 5) {
			// Split brain: the old active lost the standby and goes on
			// alone while the standby takes over.
			uint64_t alone = 100000000ull * 180;
			for (uint64_t sent = 0; sent < alone;) {
				uint64_t e = sg_lease_want(&a.lease, a.next);
				if (e != 0) {
					sg_lease_asked(&a.lease, e, ++seq);
					sg_lease_alone(&a.lease);
				}
				uint64_t k = std::min(a.lease.limit - a.next, alone - sent);
				used.push_back({ a.next, a.next + k });
				a.next += k;
				sent += k;
			}
		}
		// Failover: the standby starts above what it heard.
		s.next = sg_lease_takeover_start(s.heard_end);
		sg_lease_init(&s.lease, s.next);
		active = 1 - active;
	}
	std::sort(used.begin(), used.end());
	for (size_t i = 1; i < used.size(); i++)
		ASSERT_LE(used[i - 1].second, used[i].first) << "range " << i << " overlaps";
	EXPECT_GT(used.size(), 24u);
}

struct Pair {
	sg_fleet_chan a, b;
	Pair(uint64_t ea = 1000, uint64_t eb = 2000)
	{
		EXPECT_EQ(sg_fleet_chan_init(&a, kSecret, 1, 2, ea), 0);
		EXPECT_EQ(sg_fleet_chan_init(&b, kSecret, 2, 1, eb), 0);
	}
	~Pair()
	{
		sg_fleet_chan_clear(&a);
		sg_fleet_chan_clear(&b);
	}
};

std::vector<uint8_t> seal(sg_fleet_chan *c, sg_fleet_type t, const std::string &s)
{
	std::vector<uint8_t> out(sg_fleet_sealed_len(s.size()));
	int n = sg_fleet_seal(c, t, s.data(), s.size(), out.data(), out.size(), nullptr);
	EXPECT_EQ(n, (int)out.size());
	return out;
}

int open_msg(sg_fleet_chan *c, const std::vector<uint8_t> &m, std::string *payload = nullptr,
	     sg_fleet_type *type = nullptr)
{
	uint8_t buf[SG_FLEET_MAX_MSG];
	sg_fleet_type t;
	uint64_t seq;
	int n = sg_fleet_open(c, m.data(), m.size(), buf, &t, &seq);
	if (n >= 0 && payload != nullptr)
		payload->assign((const char *)buf, (size_t)n);
	if (n >= 0 && type != nullptr)
		*type = t;
	return n;
}

TEST(Channel, SealedMessagesOpenOnceInAnyOrder)
{
	Pair p;
	sg_fleet_session s = {};
	s.local_index = 0x1234;
	memset(s.send_key, 0xab, sizeof(s.send_key));
	std::string body((const char *)&s, sizeof(s)), got;
	sg_fleet_type t;
	auto m1 = seal(&p.a, SG_FLEET_SESSION, body);
	auto m2 = seal(&p.a, SG_FLEET_LEASE, "lease");
	auto m3 = seal(&p.a, SG_FLEET_ACK, "");
	// The key material is not in the clear.
	EXPECT_EQ(std::search(m1.begin(), m1.end(), s.send_key, s.send_key + 32), m1.end());
	EXPECT_EQ(open_msg(&p.b, m3), 0);
	EXPECT_EQ(open_msg(&p.b, m1, &got, &t), (int)sizeof(s));
	EXPECT_EQ(t, SG_FLEET_SESSION);
	EXPECT_EQ(got, body);
	EXPECT_EQ(open_msg(&p.b, m2, &got, &t), 5);
	EXPECT_EQ(got, "lease");
	EXPECT_EQ(open_msg(&p.b, m1), -EALREADY);
	EXPECT_EQ(open_msg(&p.b, m3), -EALREADY);
	EXPECT_EQ(p.b.rx_replayed, 2u);
	// The other direction has its own key: a message does not come back.
	EXPECT_EQ(open_msg(&p.a, m2), -EINVAL) << "addressed to node 2";
}

TEST(Channel, ForgedDamagedAndMisaddressedMessagesAreRefused)
{
	Pair p;
	auto m = seal(&p.a, SG_FLEET_SESSION, std::string(200, 'x'));
	for (size_t i = 0; i < m.size(); i++) {
		auto bad = m;
		bad[i] ^= 0x20;
		int rc = open_msg(&p.b, bad);
		EXPECT_TRUE(rc == -EBADMSG || rc == -EINVAL || rc == -ESTALE) << "byte " << i;
	}
	for (size_t n : { (size_t)0, (size_t)10, sg_fleet_sealed_len(0) - 1, m.size() - 1 }) {
		std::vector<uint8_t> cut(m.begin(), m.begin() + (long)n);
		EXPECT_LT(open_msg(&p.b, cut), 0) << n;
	}
	// A third node with another secret cannot speak for node 1.
	uint8_t other[32];
	memset(other, 7, sizeof(other));
	sg_fleet_chan evil;
	ASSERT_EQ(sg_fleet_chan_init(&evil, other, 1, 2, 5000), 0);
	EXPECT_EQ(open_msg(&p.b, seal(&evil, SG_FLEET_HELLO, "hi")), -EBADMSG);
	// The genuine message still opens: no refusal moved the window.
	EXPECT_EQ(open_msg(&p.b, m), 200);
	EXPECT_EQ(sg_fleet_chan_init(&evil, kSecret, 3, 3, 1), -EINVAL);
	EXPECT_EQ(sg_fleet_chan_init(&evil, kSecret, 3, 4, 0), -EINVAL);
}

TEST(Channel, ARestartedPartnerIsHeardAndItsOldBootIsNot)
{
	Pair p(1000, 2000);
	auto old1 = seal(&p.a, SG_FLEET_HELLO, "boot 1");
	auto old2 = seal(&p.a, SG_FLEET_LEASE, "boot 1 lease");
	EXPECT_EQ(open_msg(&p.b, old1), 6);
	// Node 1 restarts: a new epoch, sequence numbers from 1 again.
	sg_fleet_chan a2;
	ASSERT_EQ(sg_fleet_chan_init(&a2, kSecret, 1, 2, 1001), 0);
	auto new1 = seal(&a2, SG_FLEET_HELLO, "boot 2");
	EXPECT_EQ(open_msg(&p.b, new1), 6);
	EXPECT_EQ(open_msg(&p.b, old2), -ESTALE)
		<< "a message of the old boot, delayed or replayed";
	EXPECT_EQ(open_msg(&p.b, new1), -EALREADY);
	EXPECT_EQ(open_msg(&p.b, seal(&a2, SG_FLEET_ACK, "")), 0);
	EXPECT_EQ(p.b.rx_stale, 1u);
	sg_fleet_chan_clear(&a2);
}

TEST(Channel, OversizedOrUnknownMessagesAreNotSealed)
{
	Pair p;
	std::vector<uint8_t> out(sg_fleet_sealed_len(SG_FLEET_MAX_MSG + 1));
	std::string big(SG_FLEET_MAX_MSG + 1, 'x');
	EXPECT_EQ(sg_fleet_seal(&p.a, SG_FLEET_SESSION, big.data(), big.size(), out.data(),
				out.size(), nullptr),
		  -EINVAL);
	EXPECT_EQ(sg_fleet_seal(&p.a, (sg_fleet_type)99, "x", 1, out.data(), out.size(), nullptr),
		  -EINVAL);
	EXPECT_EQ(sg_fleet_seal(&p.a, SG_FLEET_HELLO, "x", 1, out.data(), 10, nullptr), -EINVAL);
	uint64_t seq = 0;
	EXPECT_GT(sg_fleet_seal(&p.a, SG_FLEET_HELLO, "x", 1, out.data(), out.size(), &seq), 0);
	EXPECT_EQ(seq, 1u) << "refused seals used no sequence number";
}

} // namespace
