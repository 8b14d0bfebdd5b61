// SPDX-License-Identifier: MIT
// lib/control between two endpoints in one process: each side's peer table
// is a few lines of upcalls that count what is reserved, so that a test sees
// every index taken and given back.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sys/socket.h>

#include "lib/control/sg_control.h"
#include "lib/crypto/sg_crypto.h"

namespace
{

// One side: its control state, its one peer, its index table.
struct Side {
	sg_control c = {};
	sg_control_peer peer = {};
	std::map<uint32_t, sg_control_peer *> reserved;
	uint32_t next_index = 0x1000;
	unsigned sessions = 0, freed_unknown = 0;
	bool fail_session = false;
	uint8_t priv[32], pub[32];
};

sg_control_peer *by_key(void *ctx, const uint8_t key[32])
{
	Side *s = (Side *)ctx;
	return memcmp(key, s->peer.hs.remote_static, 32) == 0 ? &s->peer : nullptr;
}

sg_control_peer *by_index(void *ctx, uint32_t index)
{
	Side *s = (Side *)ctx;
	auto it = s->reserved.find(index);
	return it == s->reserved.end() ? nullptr : it->second;
}

int index_alloc(void *ctx, sg_control_peer *p, uint32_t *index)
{
	Side *s = (Side *)ctx;
	*index = s->next_index++;
	s->reserved[*index] = p;
	return 0;
}

void index_free(void *ctx, uint32_t index)
{
	Side *s = (Side *)ctx;
	if (s->reserved.erase(index) == 0)
		s->freed_unknown++;
}

int session_new(void *ctx, sg_control_peer *, const sg_noise_keypair *, uint64_t)
{
	Side *s = (Side *)ctx;
	if (s->fail_session)
		return -ENOMEM;
	s->sessions++;
	return 0;
}

const sg_control_ops ops = { by_key, by_index, index_alloc, index_free, session_new };

// The initiator's clock: a TAI64N that moves one second per initiation, so
// that every one of them is newer than the last.
void tick_timestamp(void *ctx, uint8_t out[12])
{
	uint64_t *t = (uint64_t *)ctx;
	memset(out, 0, 12);
	for (int i = 0; i < 8; i++)
		out[7 - i] = (uint8_t)(++*t >> (8 * i));
}

class Control : public ::testing::Test
{
      protected:
	Side a, b; // a initiates, b responds
	sg_control_src src = {};
	uint64_t now = 1000000000ull, tai = 0x4000000060000000ull;

	void SetUp() override
	{
		ASSERT_EQ(sg_crypto_init(), 0);
		sg_x25519_keypair(a.pub, a.priv);
		sg_x25519_keypair(b.pub, b.priv);
		ASSERT_EQ(sg_control_init(&a.c, a.priv, nullptr, 64, &ops, &a, now), 0);
		ASSERT_EQ(sg_control_init(&b.c, b.priv, nullptr, 64, &ops, &b, now), 0);
		sg_noise_static_set_env(&a.c.st, nullptr, tick_timestamp, &tai);
		ASSERT_EQ(sg_control_peer_init(&a.c, &a.peer, b.pub, nullptr, 0, now), 0);
		ASSERT_EQ(sg_control_peer_init(&b.c, &b.peer, a.pub, nullptr, 0, now), 0);
		src.family = AF_INET6;
		src.addr[0] = 0xfd;
		src.port_be = 0x1234;
	}
	void TearDown() override
	{
		sg_control_peer_clear(&a.c, &a.peer);
		sg_control_peer_clear(&b.c, &b.peer);
		sg_control_fini(&a.c);
		sg_control_fini(&b.c);
	}
	// a's initiation answered by b: the response for a to consume.
	sg_control_reply exchange()
	{
		sg_msg_initiation init;
		sg_control_reply reply = {};
		sg_control_peer *p = nullptr;
		EXPECT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
		EXPECT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &src, false, now,
						&reply, &p),
			  SG_DROP_NONE);
		EXPECT_EQ(reply.len, (size_t)SG_MSG_RESPONSE_LEN);
		return reply;
	}
};

TEST_F(Control, HandshakeMakesOneSessionEachSide)
{
	sg_control_reply reply = exchange();
	sg_control_reply none = {};
	sg_control_peer *p = nullptr;
	EXPECT_EQ(
		sg_control_response(&a.c, (const uint8_t *)&reply.msg, &src, false, now, &none, &p),
		SG_DROP_NONE);
	EXPECT_EQ(p, &a.peer);
	EXPECT_EQ(a.sessions, 1u);
	EXPECT_EQ(b.sessions, 1u);
	EXPECT_EQ(a.reserved.size(), 1u) << "the index now belongs to the session";
	EXPECT_FALSE(a.peer.hs_index_reserved);
}

// The initiator's session cannot be made (out of memory): the index its
// handshake reserved is given back, not index 0 of the zeroed handshake.
TEST_F(Control, FailedInitiatorSessionReleasesItsOwnIndex)
{
	sg_control_reply reply = exchange();
	sg_control_reply none = {};
	sg_control_peer *p = nullptr;
	a.fail_session = true;
	EXPECT_EQ(
		sg_control_response(&a.c, (const uint8_t *)&reply.msg, &src, false, now, &none, &p),
		SG_DROP_WG_HANDSHAKE);
	EXPECT_TRUE(a.reserved.empty()) << "no index leaked";
	EXPECT_EQ(a.freed_unknown, 0u) << "no index freed that was not reserved";
	EXPECT_FALSE(a.peer.hs_index_reserved);
}

// The same on the responder's side.
TEST_F(Control, FailedResponderSessionReleasesItsOwnIndex)
{
	sg_msg_initiation init;
	sg_control_reply reply = {};
	sg_control_peer *p = nullptr;
	b.fail_session = true;
	ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
	EXPECT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &src, false, now, &reply, &p),
		  SG_DROP_WG_HANDSHAKE);
	EXPECT_EQ(reply.len, 0u) << "no response for a session that does not exist";
	EXPECT_TRUE(b.reserved.empty());
	EXPECT_EQ(b.freed_unknown, 0u);
}

// Linux's rule: the per-source limit is charged only under load, after mac2.
TEST_F(Control, RateLimitOnlyUnderLoadWhenSoConfigured)
{
	b.c.ratelimit_under_load_only = true;
	for (unsigned i = 0; i < 30; i++) {
		sg_msg_initiation init;
		sg_control_reply reply = {};
		sg_control_peer *p = nullptr;
		now += 30000000ull; // past the 1/50 s flood check
		ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
		EXPECT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &src, false, now,
						&reply, &p),
			  SG_DROP_NONE)
			<< i;
	}
}

TEST_F(Control, RateLimitOnEveryMessageOtherwise)
{
	unsigned limited = 0;
	for (unsigned i = 0; i < 30; i++) {
		sg_msg_initiation init;
		sg_control_reply reply = {};
		sg_control_peer *p = nullptr;
		now += 30000000ull;
		ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
		limited += sg_control_initiation(&b.c, (const uint8_t *)&init, &src, false, now,
						 &reply, &p) == SG_DROP_WG_HS_RATELIMIT;
	}
	EXPECT_GT(limited, 0u);
}

// Under load, spoofed sources never reach the limiter: without a valid mac2
// they get a cookie reply and nothing else, so they cannot fill its table;
// a source that proves itself with the cookie is answered.
TEST_F(Control, SpoofedSourcesCannotFillTheLimiterUnderLoad)
{
	b.c.ratelimit_under_load_only = true;
	sg_control_reply reply = {}, last = {};
	sg_control_peer *p = nullptr;
	for (unsigned i = 0; i < 1000; i++) {
		sg_msg_initiation init;
		sg_control_src spoofed = src;
		sg_random(spoofed.addr, 8);
		now += 30000000ull;
		ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
		ASSERT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &spoofed, true, now,
						&reply, &p),
			  SG_DROP_WG_MAC2);
		ASSERT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);
	}
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 0u) << "no spoofed source in the table";
	// The honest source: its cookie, then an initiation with mac2.
	sg_msg_initiation init;
	now += 30000000ull;
	ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
	ASSERT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &src, true, now, &last, &p),
		  SG_DROP_WG_MAC2);
	ASSERT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&last.msg, now), SG_DROP_NONE);
	now += 30000000ull;
	ASSERT_EQ(sg_control_initiate(&a.c, &a.peer, now, &init), 0);
	EXPECT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&init, &src, true, now, &reply, &p),
		  SG_DROP_NONE);
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 1u);
}

} // namespace
