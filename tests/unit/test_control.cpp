// SPDX-License-Identifier: MIT
// lib/control between endpoints in one process.  Each endpoint's peer table
// is a few lines of upcalls (a couple of peers, a map of receiver indices)
// that count every index reserved and given back, so that a test sees what
// a refusal leaked; every case asserts the drop reason and the stats.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <sys/socket.h>
#include <vector>

#include "lib/common/sg_common.h"
#include "lib/control/sg_control.h"
#include "lib/crypto/sg_crypto.h"

namespace
{

constexpr uint64_t MS = 1000000ull;
constexpr uint64_t FLOOD_NS = 1000000000ull / SG_INITIATIONS_PER_SECOND; // sg_noise's 1/50 s

// What session_new was given.
struct Session {
	sg_control_peer *peer;
	sg_noise_keypair kp;
};

// One endpoint: its control state, up to two peers and its index table.
struct Node {
	sg_control c = {};
	uint8_t priv[32], pub[32];
	sg_control_peer peers[2] = {};
	unsigned npeers = 0;
	struct Entry {
		sg_control_peer *peer;
		bool session;
	};
	std::map<uint32_t, Entry> index;
	uint32_t next_index = 0x1000;
	unsigned allocs = 0, frees = 0, bad_frees = 0;
	bool fail_alloc = false, fail_session = false;
	std::vector<Session> sessions;
	uint64_t tai = 0x4000000060000000ull; // the TAI64N seconds of its initiations

	// Indices reserved for a handshake: none may be left but the peers' own.
	unsigned handshake_indices() const
	{
		unsigned n = 0;
		for (const auto &e : index)
			n += !e.second.session;
		return n;
	}
	unsigned reserved_by_peers() const
	{
		unsigned n = 0;
		for (unsigned i = 0; i < npeers; i++)
			n += peers[i].hs_index_reserved;
		return n;
	}
};

sg_control_peer *by_key(void *ctx, const uint8_t key[32])
{
	Node *n = static_cast<Node *>(ctx);
	for (unsigned i = 0; i < n->npeers; i++)
		if (memcmp(key, n->peers[i].hs.remote_static, 32) == 0)
			return &n->peers[i];
	return nullptr;
}

sg_control_peer *by_index(void *ctx, uint32_t index)
{
	Node *n = static_cast<Node *>(ctx);
	auto it = n->index.find(index);
	return it == n->index.end() || it->second.session ? nullptr : it->second.peer;
}

int index_alloc(void *ctx, sg_control_peer *p, uint32_t *index)
{
	Node *n = static_cast<Node *>(ctx);
	if (n->fail_alloc)
		return -ENOSPC;
	*index = n->next_index++;
	n->index[*index] = { p, false };
	n->allocs++;
	return 0;
}

void index_free(void *ctx, uint32_t index)
{
	Node *n = static_cast<Node *>(ctx);
	auto it = n->index.find(index);
	if (it == n->index.end() || it->second.session) {
		n->bad_frees++;
		return;
	}
	n->index.erase(it);
	n->frees++;
}

int session_new(void *ctx, sg_control_peer *p, const sg_noise_keypair *kp, uint64_t)
{
	Node *n = static_cast<Node *>(ctx);
	auto it = n->index.find(kp->local_index);
	// The session's index is the one its handshake reserved, for this peer.
	EXPECT_NE(it, n->index.end());
	if (it == n->index.end())
		return -EINVAL;
	EXPECT_EQ(it->second.peer, p);
	EXPECT_FALSE(it->second.session);
	if (n->fail_session)
		return -ENOMEM;
	it->second.session = true;
	n->sessions.push_back({ p, *kp });
	return 0;
}

const sg_control_ops ops = { by_key, by_index, index_alloc, index_free, session_new };

// Every initiation one second newer than the last, so only a replay is old.
void tick_timestamp(void *ctx, uint8_t out[12])
{
	uint64_t t = ++*static_cast<uint64_t *>(ctx);
	memset(out, 0, 12);
	for (int i = 0; i < 8; i++)
		out[7 - i] = (uint8_t)(t >> (8 * i));
}

bool stats_eq(const sg_control_stats &s, uint64_t init_rx, uint64_t resp_tx, uint64_t init_tx,
	      uint64_t resp_rx, uint64_t cookie_tx, uint64_t cookie_rx)
{
	return s.init_rx == init_rx && s.resp_tx == resp_tx && s.init_tx == init_tx &&
	       s.resp_rx == resp_rx && s.cookie_tx == cookie_tx && s.cookie_rx == cookie_rx;
}

#define EXPECT_STATS(n, ...)                                                                    \
	EXPECT_TRUE(stats_eq((n).c.stats, __VA_ARGS__))                                         \
		<< #n ": init_rx " << (n).c.stats.init_rx << " resp_tx " << (n).c.stats.resp_tx \
		<< " init_tx " << (n).c.stats.init_tx << " resp_rx " << (n).c.stats.resp_rx     \
		<< " cookie_tx " << (n).c.stats.cookie_tx << " cookie_rx "                      \
		<< (n).c.stats.cookie_rx

// Sets mac1 (and zero mac2) on a message changed after it was made.
template <typename M> void remac(M &msg, const uint8_t to_pub[32])
{
	sg_cookie_maker m;
	sg_cookie_maker_init(&m, to_pub);
	sg_cookie_add_macs(&m, &msg, sizeof(msg), 0);
	sg_cookie_maker_clear(&m);
}

class Control : public ::testing::Test
{
      protected:
	// a and b know each other; b also knows a peer d that never speaks;
	// c knows b, but b does not know c.
	Node a, b, c;
	uint8_t d_pub[32], d_priv[32];
	sg_control_src src = {};
	uint64_t now = 1000000000ull;

	void SetUp() override
	{
		ASSERT_EQ(sg_crypto_init(), 0);
		for (Node *n : { &a, &b, &c }) {
			sg_x25519_keypair(n->pub, n->priv);
			ASSERT_EQ(sg_control_init(&n->c, n->priv, nullptr, 64, &ops, n, now), 0);
			sg_noise_static_set_env(&n->c.st, nullptr, tick_timestamp, &n->tai);
		}
		sg_x25519_keypair(d_pub, d_priv);
		add_peer(a, b.pub);
		add_peer(b, d_pub);
		add_peer(b, a.pub);
		add_peer(c, b.pub);
		src.family = AF_INET6;
		src.addr[0] = 0xfd;
		src.port_be = 0x1234;
	}
	void TearDown() override
	{
		for (Node *n : { &a, &b, &c }) {
			for (unsigned i = 0; i < n->npeers; i++)
				sg_control_peer_clear(&n->c, &n->peers[i]);
			EXPECT_EQ(n->handshake_indices(), 0u) << "an index leaked";
			EXPECT_EQ(n->bad_frees, 0u) << "an index freed that was not reserved";
			sg_control_fini(&n->c);
		}
	}
	void add_peer(Node &n, const uint8_t pub[32])
	{
		ASSERT_LT(n.npeers, 2u);
		ASSERT_EQ(sg_control_peer_init(&n.c, &n.peers[n.npeers++], pub, nullptr, 0, now),
			  0);
	}
	sg_control_peer *a_to_b()
	{
		return &a.peers[0];
	}
	sg_control_peer *b_to_a()
	{
		return &b.peers[1];
	}
	// A fresh initiation from n (a by default) to its first peer.
	sg_msg_initiation initiate(Node &n)
	{
		sg_msg_initiation m;
		EXPECT_EQ(sg_control_initiate(&n.c, &n.peers[0], now, &m), 0);
		return m;
	}
	sg_msg_initiation initiate()
	{
		return initiate(a);
	}
	enum sg_drop_reason to_b(const sg_msg_initiation &m, sg_control_reply &reply,
				 bool under_load = false, sg_control_peer **who = nullptr)
	{
		sg_control_peer *p = nullptr;
		enum sg_drop_reason r = sg_control_initiation(&b.c, (const uint8_t *)&m, &src,
							      under_load, now, &reply, &p);
		if (who != nullptr)
			*who = p;
		return r;
	}
	enum sg_drop_reason to_a(const sg_msg_response &m, sg_control_reply &reply,
				 bool under_load = false, sg_control_peer **who = nullptr)
	{
		sg_control_peer *p = nullptr;
		enum sg_drop_reason r = sg_control_response(&a.c, (const uint8_t *)&m, &src,
							    under_load, now, &reply, &p);
		if (who != nullptr)
			*who = p;
		return r;
	}
	// a's initiation answered by b: the response for a to consume.
	sg_msg_response exchange()
	{
		sg_control_reply reply = {};
		sg_msg_initiation m = initiate();
		EXPECT_EQ(to_b(m, reply), SG_DROP_NONE);
		EXPECT_EQ(reply.len, (size_t)SG_MSG_RESPONSE_LEN);
		return reply.msg.response;
	}
	// b's cookie reply to a's initiation under load, consumed by a.
	void get_cookie()
	{
		sg_control_reply reply = {};
		ASSERT_EQ(to_b(initiate(), reply, true), SG_DROP_WG_MAC2);
		ASSERT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);
		ASSERT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&reply.msg, now),
			  SG_DROP_NONE);
	}
};

TEST_F(Control, FullHandshakeGivesBothSidesMatchingSessions)
{
	sg_control_reply reply = {}, none = {};
	sg_control_peer *who = nullptr;
	sg_msg_initiation m = initiate();
	EXPECT_TRUE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(a.handshake_indices(), 1u);

	ASSERT_EQ(to_b(m, reply, false, &who), SG_DROP_NONE);
	EXPECT_EQ(who, b_to_a()) << "the peer with a's key, not the other one";
	ASSERT_EQ(reply.len, (size_t)SG_MSG_RESPONSE_LEN);
	EXPECT_EQ(reply.msg.response.header.type, SG_MSG_RESPONSE);
	ASSERT_EQ(b.sessions.size(), 1u) << "the responder's session is made at once";
	EXPECT_EQ(a.sessions.size(), 0u);

	who = nullptr;
	ASSERT_EQ(to_a(reply.msg.response, none, false, &who), SG_DROP_NONE);
	EXPECT_EQ(who, a_to_b());
	EXPECT_EQ(none.len, 0u) << "nothing to send back to a response";
	ASSERT_EQ(a.sessions.size(), 1u);

	const sg_noise_keypair &ka = a.sessions[0].kp, &kb = b.sessions[0].kp;
	EXPECT_EQ(a.sessions[0].peer, a_to_b());
	EXPECT_EQ(b.sessions[0].peer, b_to_a());
	EXPECT_EQ(memcmp(ka.sending_key, kb.receiving_key, 32), 0);
	EXPECT_EQ(memcmp(kb.sending_key, ka.receiving_key, 32), 0);
	EXPECT_NE(memcmp(ka.sending_key, ka.receiving_key, 32), 0);
	EXPECT_EQ(ka.local_index, kb.remote_index);
	EXPECT_EQ(kb.local_index, ka.remote_index);
	EXPECT_TRUE(ka.is_initiator);
	EXPECT_FALSE(kb.is_initiator);

	// Each index now belongs to its session, none to a handshake.
	EXPECT_EQ(a.index.size(), 1u);
	EXPECT_EQ(b.index.size(), 1u);
	EXPECT_FALSE(a_to_b()->hs_index_reserved);
	EXPECT_FALSE(b_to_a()->hs_index_reserved);
	EXPECT_EQ(a_to_b()->handshakes, 1u);
	EXPECT_EQ(b_to_a()->handshakes, 1u);
	EXPECT_STATS(a, 0, 0, 1, 1, 0, 0);
	EXPECT_STATS(b, 1, 1, 0, 0, 0, 0);
}

// A new initiation gives back the index of the one before it.
TEST_F(Control, ReinitiatingReleasesThePreviousIndex)
{
	for (int i = 0; i < 3; i++) {
		initiate();
		now += 5000 * MS;
	}
	EXPECT_EQ(a.allocs, 3u);
	EXPECT_EQ(a.frees, 2u);
	EXPECT_EQ(a.handshake_indices(), 1u);
	EXPECT_STATS(a, 0, 0, 3, 0, 0, 0);
}

TEST_F(Control, BadMac1IsRefusedBeforeAnythingElse)
{
	sg_control_reply reply = {};
	sg_msg_initiation m = initiate();
	m.macs.mac1[0] ^= 1;
	EXPECT_EQ(to_b(m, reply), SG_DROP_WG_MAC1);
	EXPECT_EQ(reply.len, 0u);
	EXPECT_EQ(to_b(m, reply, true), SG_DROP_WG_MAC1) << "no cookie for a bad mac1";
	EXPECT_EQ(reply.len, 0u);
	EXPECT_EQ(b.allocs, 0u);
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 0u) << "nothing charged to the source";

	// The same for a response.
	sg_msg_response r = exchange();
	r.macs.mac1[15] ^= 0x80;
	EXPECT_EQ(to_a(r, reply), SG_DROP_WG_MAC1);
	EXPECT_TRUE(a_to_b()->hs_index_reserved) << "the handshake is still waiting";
	EXPECT_STATS(a, 0, 0, 2, 1, 0, 0);
	EXPECT_STATS(b, 3, 1, 0, 0, 0, 0);
}

// Under load: no mac2, a cookie reply; with the cookie, a response.
TEST_F(Control, UnderLoadACookieThenTheRetryIsAnswered)
{
	sg_control_reply reply = {};
	sg_msg_initiation m = initiate();
	EXPECT_EQ(to_b(m, reply, true), SG_DROP_WG_MAC2);
	ASSERT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);
	EXPECT_EQ(reply.msg.cookie.header.type, SG_MSG_COOKIE_REPLY);
	EXPECT_EQ(sg_get_le32((const uint8_t *)&reply.msg.cookie.receiver_index),
		  sg_get_le32((const uint8_t *)&m.sender_index));
	EXPECT_EQ(b.allocs, 0u);
	EXPECT_STATS(b, 1, 0, 0, 0, 1, 0);

	EXPECT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&reply.msg, now), SG_DROP_NONE);
	EXPECT_STATS(a, 0, 0, 1, 0, 0, 1);
	EXPECT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&reply.msg, now),
		  SG_DROP_WG_COOKIE)
		<< "a cookie reply is taken once";

	// The retry carries mac2 for this source, so it passes under load...
	now += 100 * MS;
	m = initiate();
	sg_control_reply again = {};
	EXPECT_EQ(to_b(m, again, true), SG_DROP_NONE);
	EXPECT_EQ(again.len, (size_t)SG_MSG_RESPONSE_LEN);
	// ...and only there: from another port the cookie is not valid.
	now += 100 * MS;
	m = initiate();
	src.port_be ^= 1;
	EXPECT_EQ(to_b(m, again, true), SG_DROP_WG_MAC2);
	EXPECT_STATS(b, 3, 1, 0, 0, 2, 0);
	EXPECT_STATS(a, 0, 0, 3, 0, 0, 2);
}

TEST_F(Control, UnknownStaticKeyIsRefused)
{
	sg_control_reply reply = {};
	sg_msg_initiation m = initiate(c); // c knows b, b does not know c
	EXPECT_EQ(to_b(m, reply), SG_DROP_WG_UNKNOWN_PEER);
	EXPECT_EQ(reply.len, 0u);
	EXPECT_EQ(b.allocs, 0u);
	EXPECT_TRUE(b.sessions.empty());
	EXPECT_STATS(b, 1, 0, 0, 0, 0, 0);
}

TEST_F(Control, StaticThatDoesNotDecryptIsRefused)
{
	sg_control_reply reply = {};
	sg_msg_initiation m = initiate();
	m.encrypted_static[3] ^= 0x10;
	remac(m, b.pub); // mac1 valid again: only the static is wrong
	EXPECT_EQ(to_b(m, reply), SG_DROP_WG_STATIC);
	EXPECT_EQ(reply.len, 0u);
	// The same under a wrong ephemeral.
	m = initiate();
	m.unencrypted_ephemeral[0] ^= 0x01;
	remac(m, b.pub);
	EXPECT_EQ(to_b(m, reply), SG_DROP_WG_STATIC);
	EXPECT_EQ(b.allocs, 0u);
	EXPECT_STATS(b, 2, 0, 0, 0, 0, 0);
}

// sg_noise checks the timestamp first (a replay is a replay at any time),
// then the 1/50 s between two initiations it accepted.
TEST_F(Control, ReplayedInitiationAndFlood)
{
	sg_control_reply reply = {};
	sg_msg_initiation first = initiate();
	ASSERT_EQ(to_b(first, reply), SG_DROP_NONE);
	EXPECT_EQ(to_b(first, reply), SG_DROP_WG_TIMESTAMP) << "replayed at once";
	EXPECT_EQ(reply.len, 0u);
	now += 10000 * MS;
	EXPECT_EQ(to_b(first, reply), SG_DROP_WG_TIMESTAMP) << "replayed 10 s later";

	// A fresh initiation (newer timestamp) less than 1/50 s after the last accepted.
	uint64_t accepted = now;
	ASSERT_EQ(to_b(initiate(), reply), SG_DROP_NONE);
	now = accepted + FLOOD_NS - 1;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_WG_HS_FLOOD);
	EXPECT_EQ(reply.len, 0u);
	now = accepted + FLOOD_NS;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_NONE);
	EXPECT_EQ(b.sessions.size(), 3u);
	EXPECT_STATS(b, 6, 3, 0, 0, 0, 0);
	EXPECT_STATS(a, 0, 0, 4, 0, 0, 0);
}

TEST_F(Control, ResponseToNoHandshakeOfOurs)
{
	sg_control_reply reply = {};
	sg_msg_response r = exchange();

	// An index a never handed out.
	sg_msg_response stray = r;
	sg_put_le32((uint8_t *)&stray.receiver_index, 0xdeadbeef);
	remac(stray, a.pub);
	EXPECT_EQ(to_a(stray, reply), SG_DROP_WG_UNKNOWN_INDEX);

	// The index of an initiation a has since replaced (and given back).
	now += 5000 * MS;
	initiate();
	EXPECT_EQ(to_a(r, reply), SG_DROP_WG_UNKNOWN_INDEX);
	EXPECT_EQ(reply.len, 0u);
	EXPECT_TRUE(a.sessions.empty());
	EXPECT_STATS(a, 0, 0, 2, 2, 0, 0);
}

// A response for our index that does not authenticate leaves the handshake
// waiting for the real one.
TEST_F(Control, ResponseThatDoesNotAuthenticate)
{
	sg_control_reply reply = {};
	sg_msg_response r = exchange();
	sg_msg_response bad = r;
	bad.encrypted_nothing[0] ^= 1;
	remac(bad, a.pub);
	EXPECT_EQ(to_a(bad, reply), SG_DROP_WG_HANDSHAKE);
	EXPECT_TRUE(a.sessions.empty());
	EXPECT_TRUE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(to_a(r, reply), SG_DROP_NONE);
	EXPECT_EQ(a.sessions.size(), 1u);
	EXPECT_EQ(to_a(r, reply), SG_DROP_WG_UNKNOWN_INDEX) << "consumed once";
	EXPECT_EQ(a.sessions.size(), 1u);
	EXPECT_STATS(a, 0, 0, 1, 3, 0, 0);
}

// Under load, a response without mac2 gets a cookie reply as well.
TEST_F(Control, ResponseUnderLoadWithoutMac2)
{
	sg_control_reply reply = {};
	sg_msg_response r = exchange();
	EXPECT_EQ(to_a(r, reply, true), SG_DROP_WG_MAC2);
	EXPECT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);
	EXPECT_TRUE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(to_a(r, reply, false), SG_DROP_NONE);
	EXPECT_STATS(a, 0, 0, 1, 2, 1, 0);
}

TEST_F(Control, CookieReplyThatDoesNotFit)
{
	sg_control_reply reply = {};
	sg_msg_initiation m = initiate();
	ASSERT_EQ(to_b(m, reply, true), SG_DROP_WG_MAC2);
	ASSERT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);

	// For an index a does not have.
	sg_msg_cookie_reply cr = reply.msg.cookie;
	sg_put_le32((uint8_t *)&cr.receiver_index, 0xdeadbeef);
	EXPECT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&cr, now), SG_DROP_WG_COOKIE);
	// For a's index, but it does not decrypt.
	cr = reply.msg.cookie;
	cr.encrypted_cookie[0] ^= 1;
	EXPECT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&cr, now), SG_DROP_WG_COOKIE);
	EXPECT_FALSE(a_to_b()->maker.has_cookie);
	// The real one still works.
	EXPECT_EQ(sg_control_cookie_reply(&a.c, (const uint8_t *)&reply.msg, now), SG_DROP_NONE);
	EXPECT_TRUE(a_to_b()->maker.has_cookie);
	EXPECT_STATS(a, 0, 0, 1, 0, 0, 3);
}

// Charged on every message with a valid mac1: a burst of 5 from one source
// (the first message a new source sends included), then 20 a second.
TEST_F(Control, RateLimitOnEveryMessage)
{
	ASSERT_FALSE(b.c.ratelimit_under_load_only);
	sg_control_reply reply = {};
	std::vector<sg_drop_reason> got;
	for (unsigned i = 0; i < SG_RATELIMIT_PACKETS_BURSTABLE + 3; i++)
		got.push_back(to_b(initiate(), reply)); // all at the same instant
	std::vector<sg_drop_reason> want = { SG_DROP_NONE };
	want.resize(SG_RATELIMIT_PACKETS_BURSTABLE, SG_DROP_WG_HS_FLOOD);
	want.resize(SG_RATELIMIT_PACKETS_BURSTABLE + 3, SG_DROP_WG_HS_RATELIMIT);
	EXPECT_EQ(got, want);
	EXPECT_EQ(reply.len, 0u);
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 1u);

	// One token back after 1/20 s.
	now += 1000000000ull / SG_RATELIMIT_PACKETS_PER_SECOND;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_NONE);
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_WG_HS_RATELIMIT);

	// Another source has its own bucket.
	src.addr[7] ^= 1;
	now += FLOOD_NS;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_NONE);
	// The same /64 shares one.
	src.addr[7] ^= 1;
	src.addr[15] ^= 1;
	now += FLOOD_NS;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_WG_HS_RATELIMIT);
	EXPECT_EQ(b.sessions.size(), 3u);
	EXPECT_STATS(b, SG_RATELIMIT_PACKETS_BURSTABLE + 7, 3, 0, 0, 0, 0);
}

// Linux's rule: charged only under load, after mac2.
TEST_F(Control, RateLimitOnlyUnderLoadWhenSoConfigured)
{
	b.c.ratelimit_under_load_only = true;
	sg_control_reply reply = {};
	for (unsigned i = 0; i < 30; i++)
		EXPECT_EQ(to_b(initiate(), reply), i == 0 ? SG_DROP_NONE : SG_DROP_WG_HS_FLOOD)
			<< i;
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 0u) << "never charged while not under load";

	// Under load, with the cookie: the burst again.
	now += FLOOD_NS;
	get_cookie();
	unsigned limited = 0, answered = 0;
	for (unsigned i = 0; i < SG_RATELIMIT_PACKETS_BURSTABLE + 3; i++) {
		sg_drop_reason r = to_b(initiate(), reply, true);
		limited += r == SG_DROP_WG_HS_RATELIMIT;
		answered += r == SG_DROP_NONE;
	}
	EXPECT_EQ(answered, 1u);
	EXPECT_EQ(limited, 3u);
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 1u);
	EXPECT_STATS(b, 31 + SG_RATELIMIT_PACKETS_BURSTABLE + 3, 2, 0, 0, 1, 0);
}

// Under load, spoofed sources never reach the limiter: without a valid mac2
// they get a cookie reply and nothing else, so they cannot fill its table.
TEST_F(Control, SpoofedSourcesCannotFillTheLimiterUnderLoad)
{
	b.c.ratelimit_under_load_only = true;
	sg_control_reply reply = {};
	for (unsigned i = 0; i < 1000; i++) {
		sg_control_src spoofed = src;
		sg_random(spoofed.addr, 8);
		sg_msg_initiation m = initiate();
		sg_control_peer *who = nullptr;
		ASSERT_EQ(sg_control_initiation(&b.c, (const uint8_t *)&m, &spoofed, true, now,
						&reply, &who),
			  SG_DROP_WG_MAC2);
		ASSERT_EQ(reply.len, (size_t)SG_MSG_COOKIE_REPLY_LEN);
	}
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 0u) << "no spoofed source in the table";
	get_cookie();
	now += FLOOD_NS;
	EXPECT_EQ(to_b(initiate(), reply, true), SG_DROP_NONE);
	EXPECT_EQ(sg_ratelimit_count(b.c.rl), 1u);
	EXPECT_STATS(b, 1002, 1, 0, 0, 1001, 0);
}

// No index free on the responder: refused, and nothing kept, not even the
// index of the responder's own initiation that the peer's replaced.
TEST_F(Control, ResponderWithoutAFreeIndex)
{
	sg_control_reply reply = {};
	sg_msg_initiation b_own;
	ASSERT_EQ(sg_control_initiate(&b.c, b_to_a(), now, &b_own), 0);
	EXPECT_EQ(b.handshake_indices(), 1u);
	b.fail_alloc = true;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_WG_HANDSHAKE);
	EXPECT_EQ(reply.len, 0u);
	EXPECT_TRUE(b.sessions.empty());
	EXPECT_EQ(b.handshake_indices(), 0u) << "no index leaked";
	EXPECT_EQ(b.reserved_by_peers(), 0u);
	EXPECT_EQ(b.allocs, b.frees);

	// Once an index is free again, the next initiation is answered.
	b.fail_alloc = false;
	now += FLOOD_NS;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_NONE);
	EXPECT_EQ(b.sessions.size(), 1u);
	EXPECT_STATS(b, 2, 1, 1, 0, 0, 0);
}

TEST_F(Control, InitiatorWithoutAFreeIndex)
{
	sg_msg_initiation m;
	a.fail_alloc = true;
	EXPECT_EQ(sg_control_initiate(&a.c, a_to_b(), now, &m), -ENOSPC);
	EXPECT_FALSE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(a.handshake_indices(), 0u);
	EXPECT_STATS(a, 0, 0, 0, 0, 0, 0);
}

// An initiation that cannot be made (a peer whose shared secret is unusable)
// gives back the index it took, and the one before it.
TEST_F(Control, InitiationThatCannotBeMadeGivesBackItsIndex)
{
	sg_msg_initiation m;
	initiate();
	sg_wipe(a_to_b()->hs.precomputed_ss, sizeof(a_to_b()->hs.precomputed_ss));
	EXPECT_LT(sg_control_initiate(&a.c, a_to_b(), now, &m), 0);
	EXPECT_FALSE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(a.handshake_indices(), 0u);
	EXPECT_EQ(a.allocs, 2u);
	EXPECT_EQ(a.frees, 2u);
	EXPECT_STATS(a, 0, 0, 1, 0, 0, 0);
}

// The initiator's session cannot be made (out of memory): the index its
// handshake reserved is given back, not index 0 of the zeroed handshake.
TEST_F(Control, FailedInitiatorSessionReleasesItsOwnIndex)
{
	sg_control_reply reply = {};
	sg_msg_response r = exchange();
	a.fail_session = true;
	EXPECT_EQ(to_a(r, reply), SG_DROP_WG_HANDSHAKE);
	EXPECT_TRUE(a.index.empty()) << "no index leaked";
	EXPECT_EQ(a.bad_frees, 0u) << "no index freed that was not reserved";
	EXPECT_FALSE(a_to_b()->hs_index_reserved);
	EXPECT_EQ(a_to_b()->handshakes, 0u);
	EXPECT_STATS(a, 0, 0, 1, 1, 0, 0);
}

// The same on the responder's side, and no response for it.
TEST_F(Control, FailedResponderSessionReleasesItsOwnIndex)
{
	sg_control_reply reply = {};
	b.fail_session = true;
	EXPECT_EQ(to_b(initiate(), reply), SG_DROP_WG_HANDSHAKE);
	EXPECT_EQ(reply.len, 0u) << "no response for a session that does not exist";
	EXPECT_TRUE(b.index.empty());
	EXPECT_EQ(b.allocs, 1u);
	EXPECT_EQ(b.frees, 1u);
	EXPECT_FALSE(b_to_a()->hs_index_reserved);
	EXPECT_STATS(b, 1, 0, 0, 0, 0, 0);
}

TEST_F(Control, PeerClearGivesBackItsIndex)
{
	initiate();
	sg_control_peer_clear(&a.c, a_to_b());
	EXPECT_EQ(a.handshake_indices(), 0u);
	EXPECT_EQ(a.frees, 1u);
}

TEST_F(Control, SourceBytesAndLoad)
{
	uint8_t out[18];
	sg_control_src s4 = {};
	s4.family = AF_INET;
	memcpy(s4.addr, "\x0a\x00\x00\x01", 4);
	s4.port_be = 0x3412;
	ASSERT_EQ(sg_control_src_bytes(&s4, out), 6u);
	EXPECT_EQ(memcmp(out, "\x0a\x00\x00\x01\x12\x34", 6), 0);
	EXPECT_EQ(sg_control_src_bytes(&src, out), 18u);
	EXPECT_FALSE(sg_control_under_load(&b.c, 0, 1024, now));
	EXPECT_TRUE(sg_control_under_load(&b.c, 1024 / 8, 1024, now));
	b.c.always_under_load = true;
	EXPECT_TRUE(sg_control_under_load(&b.c, 0, 1024, now + 5000 * MS));
}

} // namespace
