// Unit tests for lib/cookie: mac1, mac2, cookie replies and the load detector.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

extern "C" {
#include "lib/cookie/sg_cookie.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/wire/sg_wire.h"
}

#include "golden_wg.h"

using bytes_t = std::vector<uint8_t>;

namespace
{
const uint64_t kSec = 1000000000ull;
const uint8_t kSrc[] = { 198, 18, 0, 7, 0xca, 0x6c };	   // 198.18.0.7:51820
const uint8_t kOtherSrc[] = { 198, 18, 0, 8, 0xca, 0x6c }; // another host

class Cookie : public ::testing::Test
{
      protected:
	uint8_t r_priv[32], r_pub[32];
	sg_cookie_checker checker; // the responder's
	sg_cookie_maker maker;	   // the initiator's, for the responder
	sg_msg_initiation msg;

	void SetUp() override
	{
		ASSERT_EQ(sg_crypto_init(), 0);
		sg_x25519_keypair(r_pub, r_priv);
		sg_cookie_checker_init(&checker, r_pub, 0);
		sg_cookie_maker_init(&maker, r_pub);
		fresh_msg();
	}

	// An initiation-shaped message with random contents and the MACs zero.
	void fresh_msg()
	{
		sg_random(&msg, sizeof(msg));
		memset(&msg.header, 0, sizeof(msg.header));
		msg.header.type = SG_MSG_INITIATION;
		memset(&msg.macs, 0, sizeof(msg.macs));
	}

	sg_cookie_result validate(bool mac2, uint64_t now, const uint8_t *src = kSrc)
	{
		return sg_cookie_validate(&checker, &msg, sizeof(msg), src, sizeof(kSrc), mac2,
					  now);
	}

	// The responder, under load, answers msg with a cookie reply that the maker takes.
	void get_cookie(uint64_t now, const uint8_t *src = kSrc)
	{
		ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), now), 0);
		sg_msg_cookie_reply reply;
		ASSERT_EQ(sg_cookie_make_reply(&checker, &reply, &msg, sizeof(msg), 42, src,
					       sizeof(kSrc), now),
			  0);
		ASSERT_EQ(sg_cookie_consume_reply(&maker, &reply, now), 0);
	}
};

bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}
} // namespace

TEST_F(Cookie, Mac1IsValidForTheRightKeyOnly)
{
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 0), 0);
	EXPECT_FALSE(all_zero(msg.macs.mac1, SG_MAC_LEN));
	EXPECT_TRUE(all_zero(msg.macs.mac2, SG_MAC_LEN)) << "no cookie yet, so no mac2";
	EXPECT_EQ(validate(false, 0), SG_COOKIE_MAC1_OK_NO_MAC2);
	EXPECT_EQ(validate(true, 0), SG_COOKIE_MAC1_OK_NO_MAC2);

	uint8_t other_priv[32], other_pub[32];
	sg_x25519_keypair(other_pub, other_priv);
	sg_cookie_checker other;
	sg_cookie_checker_init(&other, other_pub, 0);
	EXPECT_EQ(sg_cookie_validate(&other, &msg, sizeof(msg), kSrc, sizeof(kSrc), false, 0),
		  SG_COOKIE_MAC1_BAD);
	EXPECT_EQ(sg_cookie_validate(&checker, &msg, 31, kSrc, sizeof(kSrc), false, 0),
		  SG_COOKIE_MAC1_BAD)
		<< "shorter than the MACs";
}

TEST_F(Cookie, Mac1CoversEveryByteBeforeIt)
{
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 0), 0);
	const sg_msg_initiation good = msg;
	const size_t mac2_at = offsetof(sg_msg_initiation, macs.mac2);
	for (size_t off = 0; off < sizeof(msg); off++) {
		msg = good;
		((uint8_t *)&msg)[off] ^= 0x01;
		sg_cookie_result want =
			off < mac2_at ? SG_COOKIE_MAC1_BAD : SG_COOKIE_MAC1_OK_NO_MAC2;
		EXPECT_EQ(validate(false, 0), want) << "offset " << off;
	}
}

TEST_F(Cookie, GoldenTranscriptMac1sAreReproducedAndAccepted)
{
	// Both published messages carry a mac1 computed by an independent
	// implementation (golden_wg.h): we must compute the same and accept it.
	struct {
		const char *hex, *receiver_pub;
	} cases[] = { { golden::initiation, golden::responder_public },
		      { golden::response, golden::initiator_public } };
	for (auto &c : cases) {
		bytes_t m = golden::bytes(c.hex), pub = golden::bytes(c.receiver_pub);
		sg_cookie_checker ch;
		sg_cookie_checker_init(&ch, pub.data(), 0);
		EXPECT_EQ(sg_cookie_validate(&ch, m.data(), m.size(), kSrc, sizeof(kSrc), false, 0),
			  SG_COOKIE_MAC1_OK_NO_MAC2);

		bytes_t mine = m;
		memset(mine.data() + mine.size() - 32, 0xee, 32);
		sg_cookie_maker mk;
		sg_cookie_maker_init(&mk, pub.data());
		ASSERT_EQ(sg_cookie_add_macs(&mk, mine.data(), mine.size(), 0), 0);
		EXPECT_EQ(golden::hex(mine.data(), mine.size()), c.hex);
	}
}

TEST_F(Cookie, Mac2FlowEndToEnd)
{
	// Under load, a message with a good mac1 but no mac2 earns a cookie reply.
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), kSec), 0);
	ASSERT_EQ(validate(true, kSec), SG_COOKIE_MAC1_OK_NO_MAC2);
	sg_msg_cookie_reply reply;
	ASSERT_EQ(sg_cookie_make_reply(&checker, &reply, &msg, sizeof(msg), 0xa1b2c3d4, kSrc,
				       sizeof(kSrc), kSec),
		  0);
	EXPECT_EQ(reply.header.type, SG_MSG_COOKIE_REPLY);
	EXPECT_TRUE(all_zero(reply.header.reserved, 3));
	const uint8_t *idx = (const uint8_t *)&reply.receiver_index;
	EXPECT_EQ(idx[0], 0xd4);
	EXPECT_EQ(idx[3], 0xa1) << "little-endian on the wire";
	enum sg_drop_reason why;
	EXPECT_EQ(sg_wire_classify((const uint8_t *)&reply, sizeof(reply), &why),
		  SG_MSG_COOKIE_REPLY);

	ASSERT_EQ(sg_cookie_consume_reply(&maker, &reply, 2 * kSec), 0);
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &reply, 2 * kSec), -EINVAL)
		<< "one reply per mac1 sent";

	// The next message carries a mac2 the checker accepts, from that source only.
	fresh_msg();
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 3 * kSec), 0);
	EXPECT_FALSE(all_zero(msg.macs.mac2, SG_MAC_LEN));
	EXPECT_EQ(validate(true, 3 * kSec), SG_COOKIE_MAC2_OK);
	EXPECT_EQ(validate(false, 3 * kSec), SG_COOKIE_MAC1_OK_NO_MAC2) << "mac2 not asked for";
	EXPECT_EQ(validate(true, 3 * kSec, kOtherSrc), SG_COOKIE_MAC1_OK_NO_MAC2);
	msg.macs.mac2[5] ^= 1;
	EXPECT_EQ(validate(true, 3 * kSec), SG_COOKIE_MAC1_OK_NO_MAC2);
	msg.macs.mac2[5] ^= 1;
	msg.macs.mac1[0] ^= 1;
	EXPECT_EQ(validate(true, 3 * kSec), SG_COOKIE_MAC1_BAD) << "mac2 is worthless without mac1";
}

TEST_F(Cookie, RepliesUseFreshNonces)
{
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 0), 0);
	sg_msg_cookie_reply a, b;
	ASSERT_EQ(sg_cookie_make_reply(&checker, &a, &msg, sizeof(msg), 1, kSrc, sizeof(kSrc), 0),
		  0);
	ASSERT_EQ(sg_cookie_make_reply(&checker, &b, &msg, sizeof(msg), 1, kSrc, sizeof(kSrc), 0),
		  0);
	EXPECT_NE(memcmp(a.nonce, b.nonce, sizeof(a.nonce)), 0);
	EXPECT_NE(memcmp(a.encrypted_cookie, b.encrypted_cookie, sizeof(a.encrypted_cookie)), 0);
}

TEST_F(Cookie, ReplyForAnotherMac1IsRefused)
{
	// The maker sent msg; the reply answers a different message (wrong AD).
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 0), 0);
	sg_msg_initiation other = msg;
	other.sender_index ^= 1;
	sg_cookie_maker m2;
	sg_cookie_maker_init(&m2, r_pub);
	ASSERT_EQ(sg_cookie_add_macs(&m2, &other, sizeof(other), 0), 0);
	sg_msg_cookie_reply reply;
	ASSERT_EQ(sg_cookie_make_reply(&checker, &reply, &other, sizeof(other), 1, kSrc,
				       sizeof(kSrc), 0),
		  0);
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &reply, 0), -EBADMSG);
	EXPECT_FALSE(maker.has_cookie);
	// The right reply still works after a wrong one.
	ASSERT_EQ(
		sg_cookie_make_reply(&checker, &reply, &msg, sizeof(msg), 1, kSrc, sizeof(kSrc), 0),
		0);
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &reply, 0), 0);
}

TEST_F(Cookie, TamperedOrMisaddressedRepliesAreRefused)
{
	sg_msg_cookie_reply reply;
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 0), 0);
	ASSERT_EQ(
		sg_cookie_make_reply(&checker, &reply, &msg, sizeof(msg), 1, kSrc, sizeof(kSrc), 0),
		0);
	const size_t nonce_at = offsetof(sg_msg_cookie_reply, nonce);
	for (size_t off = nonce_at; off < sizeof(reply); off++) {
		sg_msg_cookie_reply bad = reply;
		((uint8_t *)&bad)[off] ^= 0x40;
		EXPECT_EQ(sg_cookie_consume_reply(&maker, &bad, 0), -EBADMSG) << "offset " << off;
	}
	sg_msg_cookie_reply bad = reply;
	bad.header.type = SG_MSG_RESPONSE;
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &bad, 0), -EINVAL);
	bad = reply;
	bad.header.reserved[1] = 1;
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &bad, 0), -EINVAL);

	// Encrypted under another responder's cookie key.
	uint8_t o_priv[32], o_pub[32];
	sg_x25519_keypair(o_pub, o_priv);
	sg_cookie_checker other;
	sg_cookie_checker_init(&other, o_pub, 0);
	ASSERT_EQ(sg_cookie_make_reply(&other, &bad, &msg, sizeof(msg), 1, kSrc, sizeof(kSrc), 0),
		  0);
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &bad, 0), -EBADMSG);

	EXPECT_EQ(sg_cookie_consume_reply(&maker, &reply, 0), 0);
	EXPECT_TRUE(maker.has_cookie);
}

TEST_F(Cookie, ReplyBeforeAnyMessageSentIsRefused)
{
	sg_msg_initiation m = msg;
	sg_cookie_maker someone;
	sg_cookie_maker_init(&someone, r_pub);
	ASSERT_EQ(sg_cookie_add_macs(&someone, &m, sizeof(m), 0), 0);
	sg_msg_cookie_reply reply;
	ASSERT_EQ(sg_cookie_make_reply(&checker, &reply, &m, sizeof(m), 1, kSrc, sizeof(kSrc), 0),
		  0);
	EXPECT_EQ(sg_cookie_consume_reply(&maker, &reply, 0), -EINVAL);
}

TEST_F(Cookie, SecretRotationAfter120sInvalidatesOldCookies)
{
	// The checker's secret was born at 0.  A cookie taken at 100 s works
	// until the secret is renewed at 120 s, though the cookie itself is young.
	get_cookie(100 * kSec);
	fresh_msg();
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 119 * kSec), 0);
	EXPECT_EQ(validate(true, 119 * kSec), SG_COOKIE_MAC2_OK);
	EXPECT_EQ(validate(true, 120 * kSec), SG_COOKIE_MAC1_OK_NO_MAC2);
	// A new reply under the new secret makes mac2 good again.
	get_cookie(121 * kSec);
	fresh_msg();
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), 122 * kSec), 0);
	EXPECT_EQ(validate(true, 122 * kSec), SG_COOKIE_MAC2_OK);
	// ...which the secret born at 120 s keeps until 240 s.
	EXPECT_EQ(validate(true, 239 * kSec), SG_COOKIE_MAC2_OK);
	EXPECT_EQ(validate(true, 240 * kSec), SG_COOKIE_MAC1_OK_NO_MAC2);
}

TEST_F(Cookie, StaleCookieIsNotUsed)
{
	const uint64_t t = 10 * kSec;
	const uint64_t life =
		(uint64_t)(SG_COOKIE_SECRET_MAX_AGE_S - SG_COOKIE_SECRET_LATENCY_S) * kSec;
	get_cookie(t);
	fresh_msg();
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), t + life - 1), 0);
	EXPECT_FALSE(all_zero(msg.macs.mac2, SG_MAC_LEN));
	ASSERT_EQ(sg_cookie_add_macs(&maker, &msg, sizeof(msg), t + life), 0);
	EXPECT_TRUE(all_zero(msg.macs.mac2, SG_MAC_LEN));
}

TEST_F(Cookie, ShortMessagesAreRefused)
{
	uint8_t tiny[31] = { 0 };
	sg_msg_cookie_reply reply;
	EXPECT_EQ(sg_cookie_add_macs(&maker, tiny, sizeof(tiny), 0), -EINVAL);
	EXPECT_EQ(sg_cookie_make_reply(&checker, &reply, tiny, sizeof(tiny), 1, kSrc, sizeof(kSrc),
				       0),
		  -EINVAL);
	EXPECT_FALSE(maker.has_last_mac1);
}

TEST_F(Cookie, ClearWipesSecrets)
{
	get_cookie(kSec);
	sg_cookie_maker_clear(&maker);
	sg_cookie_checker_clear(&checker);
	EXPECT_TRUE(all_zero(&maker, sizeof(maker)));
	EXPECT_TRUE(all_zero(&checker, sizeof(checker)));
}

TEST(CookieLoad, UnderLoadFromAnEighthOfTheQueueAndForOneSecondAfter)
{
	sg_cookie_load l = {};
	const size_t cap = 4096;
	const uint64_t t = 50 * kSec;
	EXPECT_FALSE(sg_cookie_under_load(&l, 0, cap, t));
	EXPECT_FALSE(sg_cookie_under_load(&l, cap / 8 - 1, cap, t));
	EXPECT_TRUE(sg_cookie_under_load(&l, cap / 8, cap, t));
	EXPECT_TRUE(sg_cookie_under_load(&l, 0, cap, t + kSec / 2));
	EXPECT_TRUE(sg_cookie_under_load(&l, 0, cap, t + kSec - 1));
	EXPECT_FALSE(sg_cookie_under_load(&l, 0, cap, t + kSec));
	EXPECT_FALSE(sg_cookie_under_load(&l, 0, cap, t + kSec / 2)) << "the hold is over";
	// Load again restarts the hold from its own time.
	EXPECT_TRUE(sg_cookie_under_load(&l, cap, cap, 2 * t));
	EXPECT_TRUE(sg_cookie_under_load(&l, 1, cap, 2 * t + kSec - 1));
	EXPECT_FALSE(sg_cookie_under_load(&l, 1, cap, 2 * t + kSec));
}

TEST(CookieLoad, TinyQueueNeedsAtLeastOneMessage)
{
	sg_cookie_load l = {};
	EXPECT_FALSE(sg_cookie_under_load(&l, 0, 4, 0));
	EXPECT_TRUE(sg_cookie_under_load(&l, 1, 4, 0));
	sg_cookie_load z = {};
	EXPECT_FALSE(sg_cookie_under_load(&z, 0, 0, 0));
}
