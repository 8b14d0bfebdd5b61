// Unit tests for lib/timers: the session timers of the WireGuard paper,
// section 6, on a virtual clock; the keypair rules; the keypair slots.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <vector>

extern "C" {
#include "lib/timers/sg_timers.h"
}

namespace
{

const uint64_t SEC = 1000000000ull;
const uint64_t MS = 1000000ull;
const uint64_t T0 = 5000 * SEC;
const uint64_t KEEPALIVE = SG_KEEPALIVE_TIMEOUT_S * SEC;
const uint64_t REKEY_TIMEOUT = SG_REKEY_TIMEOUT_S * SEC;
const uint64_t JITTER = SG_REKEY_TIMEOUT_JITTER_MAX_MS * MS;
const uint64_t REKEY_AFTER = SG_REKEY_AFTER_TIME_S * SEC;
const uint64_t REJECT_AFTER = SG_REJECT_AFTER_TIME_S * SEC;
const uint64_t ATTEMPT_TIME = SG_REKEY_ATTEMPT_TIME_S * SEC;

// A peer's timers driven by a virtual clock.  run() jumps from deadline to
// deadline, as the control lcore would, records each decision and acts on
// it: an initiation or keepalive asked for is "sent" and reported back.
struct Peer {
	sg_timers t;
	uint64_t seed;
	uint64_t now = T0;
	std::vector<uint64_t> initiations, keepalives, give_ups, expiries;

	explicit Peer(uint64_t seed_ = 1, bool jitter = true,
		      const sg_timers_params *params = nullptr)
	    : seed(seed_)
	{
		EXPECT_EQ(
			sg_timers_init(&t, params, jitter ? sg_timers_splitmix32 : nullptr, &seed),
			0);
	}
	void send_initiation()
	{
		sg_timers_any_authenticated_packet_traversal(&t, now);
		sg_timers_any_authenticated_packet_sent(&t, now);
		sg_timers_handshake_initiated(&t, now);
		initiations.push_back(now);
	}
	void send_keepalive()
	{
		sg_timers_any_authenticated_packet_traversal(&t, now);
		sg_timers_any_authenticated_packet_sent(&t, now);
		keepalives.push_back(now);
	}
	void run(uint64_t until)
	{
		for (;;) {
			uint64_t d = sg_timers_next_deadline(&t, now);
			if (d > until)
				break;
			now = d;
			unsigned what = sg_timers_poll(&t, now);
			EXPECT_NE(what, 0u) << "a deadline with nothing to do at " << now;
			if (what & SG_TIMERS_GIVE_UP)
				give_ups.push_back(now);
			if (what & SG_TIMERS_EXPIRE_KEYPAIRS)
				expiries.push_back(now);
			if (what & SG_TIMERS_INITIATE_HANDSHAKE)
				send_initiation();
			if (what & SG_TIMERS_SEND_KEEPALIVE)
				send_keepalive();
		}
		now = until;
	}
};

} // namespace

TEST(Timers, ConstantsAreThePapers)
{
	EXPECT_EQ(SG_REKEY_AFTER_TIME_S, 120);
	EXPECT_EQ(SG_REJECT_AFTER_TIME_S, 180);
	EXPECT_EQ(SG_REKEY_ATTEMPT_TIME_S, 90);
	EXPECT_EQ(SG_REKEY_TIMEOUT_S, 5);
	EXPECT_EQ(SG_KEEPALIVE_TIMEOUT_S, 10);
	EXPECT_EQ(SG_MAX_TIMER_HANDSHAKES * SG_REKEY_TIMEOUT_S, SG_REKEY_ATTEMPT_TIME_S);
}

TEST(Timers, NothingArmedAfterInit)
{
	Peer p;
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), SG_TIMERS_NEVER);
	EXPECT_EQ(sg_timers_poll(&p.t, UINT64_MAX - 1), 0u);
}

TEST(Timers, KeepaliveAfterTenSecondsOfReceivingWithoutSending)
{
	Peer p;
	sg_timers_any_authenticated_packet_received(&p.t, T0);
	sg_timers_data_received(&p.t, T0);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), T0 + KEEPALIVE);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + KEEPALIVE - 1), 0u);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + KEEPALIVE), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 100 * KEEPALIVE), 0u) << "one keepalive, not a stream";
}

TEST(Timers, SendingAnythingCancelsTheKeepalive)
{
	Peer p;
	sg_timers_data_received(&p.t, T0);
	sg_timers_any_authenticated_packet_sent(&p.t, T0 + 3 * SEC);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), SG_TIMERS_NEVER);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 2 * KEEPALIVE), 0u);
}

TEST(Timers, DataReceivedDuringTheWaitAsksForAnotherKeepalive)
{
	Peer p;
	sg_timers_data_received(&p.t, T0);
	sg_timers_data_received(&p.t, T0 + 4 * SEC); // does not push the first one back
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), T0 + KEEPALIVE);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + KEEPALIVE), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0 + KEEPALIVE), T0 + 2 * KEEPALIVE);
	// Sending the keepalive is itself an authenticated packet sent.
	sg_timers_any_authenticated_packet_sent(&p.t, T0 + KEEPALIVE);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0 + KEEPALIVE), SG_TIMERS_NEVER);
}

TEST(Timers, NewHandshakeAfterFifteenSecondsOfSendingWithoutReceiving)
{
	Peer p;
	sg_timers_data_sent(&p.t, T0);
	sg_timers_data_sent(&p.t, T0 + 10 * SEC); // the first send started the clock
	uint64_t d = sg_timers_next_deadline(&p.t, T0);
	EXPECT_GE(d, T0 + KEEPALIVE + REKEY_TIMEOUT);
	EXPECT_LT(d, T0 + KEEPALIVE + REKEY_TIMEOUT + JITTER);
	EXPECT_EQ(sg_timers_poll(&p.t, d - 1), 0u);
	EXPECT_EQ(sg_timers_poll(&p.t, d), (unsigned)SG_TIMERS_INITIATE_HANDSHAKE);
}

TEST(Timers, ReceivingAnythingCancelsTheNewHandshake)
{
	Peer p;
	sg_timers_data_sent(&p.t, T0);
	sg_timers_any_authenticated_packet_received(&p.t, T0 + 14 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 60 * SEC), 0u);
}

TEST(Timers, AtMostOneInitiationPerRekeyTimeout)
{
	Peer p;
	EXPECT_TRUE(sg_timers_handshake_wanted(&p.t, T0));
	p.send_initiation();
	EXPECT_FALSE(sg_timers_handshake_wanted(&p.t, T0 + REKEY_TIMEOUT - 1));
	EXPECT_TRUE(sg_timers_handshake_wanted(&p.t, T0 + REKEY_TIMEOUT));

	// The stale-session timer is held back the same way.
	Peer q;
	sg_timers_data_sent(&q.t, T0);
	q.now = T0 + 12 * SEC;
	q.send_initiation();
	uint64_t d = sg_timers_next_deadline(&q.t, q.now);
	EXPECT_EQ(sg_timers_poll(&q.t, d), 0u) << "initiation 3 s ago";
}

TEST(Timers, HandshakeCompleteStopsRetransmission)
{
	Peer p;
	p.send_initiation();
	sg_timers_handshake_complete(&p.t, T0 + 100 * MS);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), SG_TIMERS_NEVER);
	p.run(T0 + 10 * 60 * SEC);
	EXPECT_EQ(p.initiations.size(), 1u);
}

// With no response at all: an initiation every REKEY_TIMEOUT plus jitter,
// then after REKEY_ATTEMPT_TIME give up, stop the keepalive, and wipe what
// is left 3 * REJECT_AFTER_TIME later.
TEST(Timers, RetriesAreJitteredThenGiveUpAfterRekeyAttemptTime)
{
	Peer p(42);
	ASSERT_TRUE(sg_timers_handshake_wanted(&p.t, p.now));
	p.send_initiation();
	p.run(T0 + 88 * SEC);
	sg_timers_data_received(&p.t, p.now); // a keepalive due after the give-up
	p.run(T0 + 3600 * SEC);

	ASSERT_EQ(p.initiations.size(), (size_t)SG_MAX_TIMER_HANDSHAKES);
	std::set<uint64_t> gaps;
	for (size_t i = 1; i < p.initiations.size(); i++) {
		uint64_t gap = p.initiations[i] - p.initiations[i - 1];
		EXPECT_GE(gap, REKEY_TIMEOUT) << i;
		EXPECT_LT(gap, REKEY_TIMEOUT + JITTER) << i;
		gaps.insert(gap);
	}
	EXPECT_GT(gaps.size(), p.initiations.size() / 2) << "retries are jittered";
	ASSERT_EQ(p.give_ups.size(), 1u);
	uint64_t g = p.give_ups[0];
	EXPECT_GE(g, T0 + ATTEMPT_TIME);
	EXPECT_LT(g, T0 + ATTEMPT_TIME + SG_MAX_TIMER_HANDSHAKES * JITTER);
	EXPECT_TRUE(p.keepalives.empty()) << "giving up cancels the keepalive";
	ASSERT_EQ(p.expiries.size(), 1u);
	EXPECT_EQ(p.expiries[0], g + 3 * REJECT_AFTER);
}

TEST(Timers, WithoutJitterGiveUpIsExactlyRekeyAttemptTime)
{
	Peer p(0, false);
	p.send_initiation();
	p.run(T0 + 200 * SEC);
	ASSERT_EQ(p.give_ups.size(), 1u);
	EXPECT_EQ(p.give_ups[0], T0 + ATTEMPT_TIME);
	for (size_t i = 0; i < p.initiations.size(); i++)
		EXPECT_EQ(p.initiations[i], T0 + i * REKEY_TIMEOUT);
}

TEST(Timers, JitterIsDeterministicPerSeed)
{
	Peer a(7), b(7), c(8);
	for (Peer *p : { &a, &b, &c }) {
		p->send_initiation();
		p->run(T0 + 200 * SEC);
	}
	EXPECT_EQ(a.initiations, b.initiations);
	EXPECT_NE(a.initiations, c.initiations);
}

TEST(Timers, NewDataRestartsTheAttempts)
{
	Peer p(0, false);
	p.send_initiation();
	p.run(T0 + 47 * SEC); // 10 initiations so far
	ASSERT_EQ(p.initiations.size(), 10u);
	// A new packet to send with no session: a new series, not sent now.
	EXPECT_FALSE(sg_timers_handshake_wanted(&p.t, p.now));
	p.run(T0 + 400 * SEC);
	// The retransmissions go on and count from the reset: a full series more.
	EXPECT_EQ(p.initiations.size(), 10u + SG_MAX_TIMER_HANDSHAKES);
	ASSERT_EQ(p.give_ups.size(), 1u);
	EXPECT_EQ(p.give_ups[0], T0 + 50 * SEC + ATTEMPT_TIME);
}

TEST(Timers, KeysZeroedAfterThreeRejectAfterTimes)
{
	Peer p;
	sg_timers_session_derived(&p.t, T0);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), T0 + 3 * REJECT_AFTER);
	EXPECT_EQ(3 * REJECT_AFTER, 540 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 3 * REJECT_AFTER - 1), 0u);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 3 * REJECT_AFTER), (unsigned)SG_TIMERS_EXPIRE_KEYPAIRS);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), SG_TIMERS_NEVER);

	// Each new session pushes the wipe back.
	sg_timers_session_derived(&p.t, T0);
	sg_timers_session_derived(&p.t, T0 + 100 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 3 * REJECT_AFTER), 0u);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 100 * SEC + 3 * REJECT_AFTER),
		  (unsigned)SG_TIMERS_EXPIRE_KEYPAIRS);
}

TEST(Timers, PersistentKeepalive)
{
	Peer p;
	sg_timers_set_persistent_keepalive(&p.t, 25, T0);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0), T0 + 25 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 25 * SEC), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
	// Any authenticated traffic pushes it back.
	sg_timers_any_authenticated_packet_traversal(&p.t, T0 + 30 * SEC);
	sg_timers_any_authenticated_packet_traversal(&p.t, T0 + 40 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 64 * SEC), 0u);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 65 * SEC), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
	// Left alone it keeps the path open at the interval.
	p.now = T0 + 65 * SEC;
	p.send_keepalive();
	p.keepalives.clear();
	p.run(T0 + 165 * SEC);
	EXPECT_EQ(p.keepalives, (std::vector<uint64_t>{ T0 + 90 * SEC, T0 + 115 * SEC,
							T0 + 140 * SEC, T0 + 165 * SEC }));
	// Off: nothing, even after traffic.
	sg_timers_set_persistent_keepalive(&p.t, 0, p.now);
	sg_timers_any_authenticated_packet_traversal(&p.t, p.now);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, p.now), SG_TIMERS_NEVER);
}

// An exchange that stops: one passive keepalive, then silence until the keys
// are wiped.  Idle peers must cost nothing.
TEST(Timers, IdleSessionGoesQuiet)
{
	Peer p;
	p.send_initiation();
	sg_timers_any_authenticated_packet_received(&p.t, T0 + 20 * MS); // the response
	sg_timers_session_derived(&p.t, T0 + 20 * MS);
	sg_timers_handshake_complete(&p.t, T0 + 20 * MS);
	p.now = T0 + 30 * MS;
	sg_timers_data_sent(&p.t, p.now);
	sg_timers_any_authenticated_packet_sent(&p.t, p.now);
	sg_timers_data_received(&p.t, T0 + 50 * MS);
	sg_timers_any_authenticated_packet_received(&p.t, T0 + 50 * MS);
	p.run(T0 + 3600 * SEC);
	EXPECT_EQ(p.initiations.size(), 1u);
	EXPECT_EQ(p.keepalives, (std::vector<uint64_t>{ T0 + 50 * MS + KEEPALIVE }));
	EXPECT_EQ(p.expiries, (std::vector<uint64_t>{ T0 + 20 * MS + 3 * REJECT_AFTER }));
	EXPECT_TRUE(p.give_ups.empty());
}

TEST(Timers, NextDeadlineIsNeverInThePast)
{
	Peer p;
	sg_timers_data_received(&p.t, T0);
	EXPECT_EQ(sg_timers_next_deadline(&p.t, T0 + 1000 * SEC), T0 + 1000 * SEC);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 1000 * SEC), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
}

TEST(Keypair, RekeyOnSendAfterRekeyAfterTimeForTheInitiator)
{
	sg_timers_keypair i, r;
	sg_timers_keypair_init(&i, nullptr, true, T0);
	sg_timers_keypair_init(&r, nullptr, false, T0);
	EXPECT_FALSE(sg_timers_rekey_on_send(&i, T0 + REKEY_AFTER - 1));
	EXPECT_TRUE(sg_timers_rekey_on_send(&i, T0 + REKEY_AFTER));
	// The responder leaves time-based rekeying to the initiator, so that
	// both do not start handshakes at once.
	EXPECT_FALSE(sg_timers_rekey_on_send(&r, T0 + REJECT_AFTER - 1));
	EXPECT_FALSE(sg_timers_rekey_on_send(nullptr, T0));
}

TEST(Keypair, RekeyOnSendAfterRekeyAfterMessagesForBoth)
{
	for (bool initiator : { true, false }) {
		sg_timers_keypair kp;
		sg_timers_keypair_init(&kp, nullptr, initiator, T0);
		kp.sent = SG_REKEY_AFTER_MESSAGES - 1;
		EXPECT_FALSE(sg_timers_rekey_on_send(&kp, T0)) << initiator;
		uint64_t n;
		ASSERT_TRUE(sg_timers_keypair_next_nonce(&kp, T0, &n));
		EXPECT_EQ(n, SG_REKEY_AFTER_MESSAGES - 1);
		EXPECT_TRUE(sg_timers_rekey_on_send(&kp, T0)) << initiator;
	}
}

TEST(Keypair, RekeyOnReceiveOncePerSessionForTheInitiator)
{
	const uint64_t when = REJECT_AFTER - KEEPALIVE - REKEY_TIMEOUT;
	EXPECT_EQ(when, 165 * SEC);
	Peer p;
	sg_timers_keypair i, r;
	sg_timers_keypair_init(&i, nullptr, true, T0);
	sg_timers_keypair_init(&r, nullptr, false, T0);
	EXPECT_FALSE(sg_timers_rekey_on_receive(&p.t, &i, T0 + when - 1));
	EXPECT_FALSE(sg_timers_rekey_on_receive(&p.t, &r, T0 + when));
	EXPECT_TRUE(sg_timers_rekey_on_receive(&p.t, &i, T0 + when));
	EXPECT_FALSE(sg_timers_rekey_on_receive(&p.t, &i, T0 + when + SEC)) << "only once";
	sg_timers_handshake_complete(&p.t, T0 + when + 2 * SEC);
	EXPECT_TRUE(sg_timers_rekey_on_receive(&p.t, &i, T0 + when + 3 * SEC));
	EXPECT_FALSE(sg_timers_rekey_on_receive(&p.t, nullptr, T0 + when + 3 * SEC));
}

TEST(Keypair, UnusableAfterRejectAfterTime)
{
	sg_timers_keypair kp;
	sg_timers_keypair_init(&kp, nullptr, false, T0);
	uint64_t n;
	EXPECT_TRUE(sg_timers_keypair_can_send(&kp, T0 + REJECT_AFTER - 1));
	EXPECT_TRUE(sg_timers_keypair_can_receive(&kp, T0 + REJECT_AFTER - 1));
	EXPECT_FALSE(sg_timers_keypair_can_send(&kp, T0 + REJECT_AFTER));
	EXPECT_FALSE(sg_timers_keypair_can_receive(&kp, T0 + REJECT_AFTER));
	EXPECT_FALSE(sg_timers_keypair_next_nonce(&kp, T0 + REJECT_AFTER, &n));
	EXPECT_EQ(kp.sent, 0u) << "no nonce handed out";
}

TEST(Keypair, UnusableForSendingAfterRejectAfterMessages)
{
	sg_timers_keypair kp;
	sg_timers_keypair_init(&kp, nullptr, true, T0);
	uint64_t n = 0;
	ASSERT_TRUE(sg_timers_keypair_next_nonce(&kp, T0, &n));
	EXPECT_EQ(n, 0u) << "nonces start at zero";
	kp.sent = SG_REJECT_AFTER_MESSAGES - 2;
	ASSERT_TRUE(sg_timers_keypair_next_nonce(&kp, T0, &n));
	EXPECT_EQ(n, SG_REJECT_AFTER_MESSAGES - 2);
	ASSERT_TRUE(sg_timers_keypair_next_nonce(&kp, T0, &n));
	EXPECT_EQ(n, SG_REJECT_AFTER_MESSAGES - 1);
	EXPECT_FALSE(sg_timers_keypair_next_nonce(&kp, T0, &n));
	EXPECT_FALSE(sg_timers_keypair_can_send(&kp, T0));
	EXPECT_TRUE(sg_timers_keypair_can_receive(&kp, T0));
}

// --- configurable protocol times (struct sg_timers_params) ---------------

namespace
{

// The paper's times with the given changes (seconds).
sg_timers_params params_with(uint32_t keepalive, uint32_t rekey_timeout, uint32_t attempt = 0,
			     uint32_t rekey_after = 0, uint32_t reject_after = 0)
{
	sg_timers_params p;
	sg_timers_params_default(&p);
	if (keepalive)
		p.keepalive_timeout = keepalive;
	if (rekey_timeout)
		p.rekey_timeout = rekey_timeout;
	if (attempt)
		p.rekey_attempt_time = attempt;
	if (rekey_after)
		p.rekey_after_time = rekey_after;
	if (reject_after)
		p.reject_after_time = reject_after;
	return p;
}

} // namespace

TEST(TimersParams, DefaultsAreTheConstants)
{
	sg_timers_params p;
	sg_timers_params_default(&p);
	EXPECT_EQ(p.rekey_after_time, (uint32_t)SG_REKEY_AFTER_TIME_S);
	EXPECT_EQ(p.reject_after_time, (uint32_t)SG_REJECT_AFTER_TIME_S);
	EXPECT_EQ(p.rekey_attempt_time, (uint32_t)SG_REKEY_ATTEMPT_TIME_S);
	EXPECT_EQ(p.rekey_timeout, (uint32_t)SG_REKEY_TIMEOUT_S);
	EXPECT_EQ(p.keepalive_timeout, (uint32_t)SG_KEEPALIVE_TIMEOUT_S);
	EXPECT_EQ(sg_timers_params_check(&p), 0);
	// NULL means the same thing.
	Peer a, b(1, true, &p);
	EXPECT_EQ(memcmp(&a.t.params, &b.t.params, sizeof(p)), 0);
	EXPECT_EQ(a.t.max_handshakes, (unsigned)SG_MAX_TIMER_HANDSHAKES);
}

TEST(TimersParams, InconsistentTimesAreRefusedAndChangeNothing)
{
	const std::vector<sg_timers_params> bad = {
		params_with(0, 0, 0, 180, 180),	  // reject not longer than rekey_after
		params_with(100, 80, 0, 10, 180), // reject within keepalive + rekey_timeout
		params_with(0, 10, 5),		  // no retry fits the attempt time
		[] {
			sg_timers_params p = params_with(0, 0);
			p.keepalive_timeout = 0;
			return p;
		}(),
	};
	for (const auto &p : bad) {
		EXPECT_EQ(sg_timers_params_check(&p), -EINVAL);
		sg_timers t;
		memset(&t, 0xab, sizeof(t));
		sg_timers copy = t;
		EXPECT_EQ(sg_timers_init(&t, &p, nullptr, nullptr), -EINVAL);
		EXPECT_EQ(memcmp(&t, &copy, sizeof(t)), 0) << "t untouched";
	}
}

TEST(TimersParams, ShortKeepaliveTimeoutSendsTheKeepaliveSooner)
{
	const sg_timers_params sp = params_with(2, 0);
	Peer dflt(0, false), fast(0, false, &sp);
	for (Peer *p : { &dflt, &fast })
		sg_timers_data_received(&p->t, T0);
	EXPECT_EQ(sg_timers_poll(&fast.t, T0 + 2 * SEC - 1), 0u);
	EXPECT_EQ(sg_timers_poll(&fast.t, T0 + 2 * SEC), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
	EXPECT_EQ(sg_timers_poll(&dflt.t, T0 + 2 * SEC), 0u) << "the default waits 10 s";
	EXPECT_EQ(sg_timers_poll(&dflt.t, T0 + KEEPALIVE), (unsigned)SG_TIMERS_SEND_KEEPALIVE);
}

TEST(TimersParams, ShortTimeoutsRenewASilentSessionSooner)
{
	// Sent data and heard nothing: a new handshake after keepalive + rekey timeout.
	const sg_timers_params sp = params_with(2, 1);
	Peer dflt(0, false), fast(0, false, &sp);
	for (Peer *p : { &dflt, &fast })
		sg_timers_data_sent(&p->t, T0);
	EXPECT_EQ(sg_timers_next_deadline(&fast.t, T0), T0 + 3 * SEC);
	EXPECT_EQ(sg_timers_poll(&fast.t, T0 + 3 * SEC), (unsigned)SG_TIMERS_INITIATE_HANDSHAKE);
	EXPECT_EQ(sg_timers_poll(&dflt.t, T0 + 3 * SEC), 0u);
	EXPECT_EQ(sg_timers_next_deadline(&dflt.t, T0), T0 + KEEPALIVE + REKEY_TIMEOUT);
}

TEST(TimersParams, ShortRekeyTimeoutRetriesSoonerAndGivesUpAfterTheAttemptTime)
{
	const sg_timers_params sp = params_with(0, 1, 6);
	Peer dflt(0, false), fast(0, false, &sp);
	for (Peer *p : { &dflt, &fast }) {
		p->send_initiation();
		p->run(T0 + 30 * SEC);
	}
	// One initiation a second, six in all, then give up at 6 s.
	ASSERT_EQ(fast.initiations.size(), 6u);
	for (size_t i = 0; i < fast.initiations.size(); i++)
		EXPECT_EQ(fast.initiations[i], T0 + i * SEC);
	ASSERT_EQ(fast.give_ups.size(), 1u);
	EXPECT_EQ(fast.give_ups[0], T0 + 6 * SEC);
	// The default: one every 5 s, still trying at 30 s.
	EXPECT_EQ(dflt.initiations.size(), 7u);
	EXPECT_TRUE(dflt.give_ups.empty());
	// At most one initiation per rekey_timeout, whoever asks.
	Peer one(0, false, &sp);
	one.send_initiation();
	EXPECT_FALSE(sg_timers_handshake_wanted(&one.t, T0 + SEC - 1));
	EXPECT_TRUE(sg_timers_handshake_wanted(&one.t, T0 + SEC));
}

TEST(TimersParams, KeypairTimesFollowTheParams)
{
	const sg_timers_params sp = params_with(2, 1, 0, 4, 10);
	Peer p(0, false, &sp);
	sg_timers_keypair i;
	sg_timers_keypair_init(&i, &p.t, true, T0);
	EXPECT_FALSE(sg_timers_rekey_on_send(&i, T0 + 4 * SEC - 1));
	EXPECT_TRUE(sg_timers_rekey_on_send(&i, T0 + 4 * SEC));
	EXPECT_TRUE(sg_timers_keypair_can_send(&i, T0 + 10 * SEC - 1));
	EXPECT_FALSE(sg_timers_keypair_can_send(&i, T0 + 10 * SEC));
	EXPECT_FALSE(sg_timers_keypair_can_receive(&i, T0 + 10 * SEC));
	// The receive-side rekey: reject - keepalive - rekey_timeout = 7 s.
	EXPECT_FALSE(sg_timers_rekey_on_receive(&p.t, &i, T0 + 7 * SEC - 1));
	EXPECT_TRUE(sg_timers_rekey_on_receive(&p.t, &i, T0 + 7 * SEC));
	// Keys wiped 3 * reject_after_time after the last session.
	sg_timers_session_derived(&p.t, T0);
	EXPECT_EQ(sg_timers_poll(&p.t, T0 + 30 * SEC), (unsigned)SG_TIMERS_EXPIRE_KEYPAIRS);
	// Without timers, a keypair keeps the paper's times.
	sg_timers_keypair d;
	sg_timers_keypair_init(&d, nullptr, true, T0);
	EXPECT_FALSE(sg_timers_rekey_on_send(&d, T0 + 4 * SEC));
	EXPECT_TRUE(sg_timers_keypair_can_send(&d, T0 + 10 * SEC));
}

namespace
{

int K[8];
void *A = &K[0], *B = &K[1], *C = &K[2], *D = &K[3], *E = &K[4], *F = &K[5];

void expect_slots(const sg_keyslots &ks, void *prev, void *cur, void *next)
{
	EXPECT_EQ(ks.previous, prev);
	EXPECT_EQ(ks.current, cur);
	EXPECT_EQ(ks.next, next);
}

// The queue of many peers' deadlines (the control lcore's tick pops the due ones).
TEST(TimersQueue, PopsWhatIsDueEarliestFirstAndNothingElse)
{
	sg_timers_queue q;
	ASSERT_EQ(sg_timers_queue_init(&q, 8), 0);
	uint32_t id = 99;
	EXPECT_FALSE(sg_timers_queue_pop(&q, UINT64_MAX - 1, &id)) << "empty";
	EXPECT_EQ(sg_timers_queue_next(&q), SG_TIMERS_NEVER);
	sg_timers_queue_set(&q, 5, T0 + 3 * SEC);
	sg_timers_queue_set(&q, 2, T0 + 1 * SEC);
	sg_timers_queue_set(&q, 7, T0 + 2 * SEC);
	sg_timers_queue_set(&q, 8, T0); // beyond the capacity: ignored
	EXPECT_EQ(sg_timers_queue_len(&q), 3u);
	EXPECT_EQ(sg_timers_queue_next(&q), T0 + 1 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 7), T0 + 2 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 3), SG_TIMERS_NEVER) << "not queued";
	EXPECT_FALSE(sg_timers_queue_pop(&q, T0 + 1 * SEC - 1, &id)) << "nothing due yet";
	ASSERT_TRUE(sg_timers_queue_pop(&q, T0 + 2 * SEC, &id));
	EXPECT_EQ(id, 2u) << "a deadline at now is due";
	ASSERT_TRUE(sg_timers_queue_pop(&q, T0 + 2 * SEC, &id));
	EXPECT_EQ(id, 7u);
	EXPECT_FALSE(sg_timers_queue_pop(&q, T0 + 2 * SEC, &id)) << "5 is a second later";
	EXPECT_EQ(sg_timers_queue_at(&q, 2), SG_TIMERS_NEVER) << "popped ids leave the queue";
	EXPECT_EQ(sg_timers_queue_len(&q), 1u);
	sg_timers_queue_fini(&q);
	sg_timers_queue_fini(&q); // twice is safe
}

// set moves an id either way, earlier only ever brings it forward, NEVER and
// remove take it out; each id is in the queue once.
TEST(TimersQueue, SetMovesEarlierOnlyAdvancesNeverTakesOut)
{
	sg_timers_queue q;
	ASSERT_EQ(sg_timers_queue_init(&q, 4), 0);
	sg_timers_queue_set(&q, 1, T0 + 5 * SEC);
	sg_timers_queue_set(&q, 1, T0 + 9 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 1), T0 + 9 * SEC) << "later";
	sg_timers_queue_earlier(&q, 1, T0 + 10 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 1), T0 + 9 * SEC) << "earlier does not postpone";
	sg_timers_queue_earlier(&q, 1, T0 + 1 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 1), T0 + 1 * SEC);
	sg_timers_queue_earlier(&q, 3, T0 + 4 * SEC);
	EXPECT_EQ(sg_timers_queue_at(&q, 3), T0 + 4 * SEC) << "earlier queues one not queued";
	EXPECT_EQ(sg_timers_queue_len(&q), 2u) << "each id once";
	sg_timers_queue_set(&q, 1, SG_TIMERS_NEVER);
	EXPECT_EQ(sg_timers_queue_at(&q, 1), SG_TIMERS_NEVER);
	sg_timers_queue_remove(&q, 3);
	sg_timers_queue_remove(&q, 3);
	EXPECT_EQ(sg_timers_queue_len(&q), 0u);
	sg_timers_queue_fini(&q);
}

// Against a deliberately naive reference (a map of id -> deadline) under
// random sets, advances, removals and pops: the same ids come out, in
// deadline order, and at() always agrees.
TEST(TimersQueue, AgreesWithANaiveReferenceUnderRandomChanges)
{
	const unsigned kIds = 500;
	sg_timers_queue q;
	ASSERT_EQ(sg_timers_queue_init(&q, kIds), 0);
	std::map<uint32_t, uint64_t> ref;
	std::mt19937_64 rng(7);
	uint64_t now = T0;
	for (int op = 0; op < 200000; op++) {
		uint32_t id = (uint32_t)(rng() % kIds);
		uint64_t at = now + rng() % (20 * SEC);
		switch (rng() % 6) {
		case 0:
		case 1:
			sg_timers_queue_set(&q, id, at);
			ref[id] = at;
			break;
		case 2:
			sg_timers_queue_earlier(&q, id, at);
			if (!ref.count(id) || at < ref[id])
				ref[id] = at;
			break;
		case 3:
			sg_timers_queue_remove(&q, id);
			ref.erase(id);
			break;
		default: {
			now += rng() % (200 * MS);
			uint64_t last = 0;
			uint32_t got;
			while (sg_timers_queue_pop(&q, now, &got)) {
				ASSERT_EQ(ref.count(got), 1u) << "op " << op;
				ASSERT_LE(ref[got], now) << "popped before its time";
				ASSERT_GE(ref[got], last) << "out of order";
				last = ref[got];
				ref.erase(got);
			}
			for (auto &kv : ref)
				ASSERT_GT(kv.second, now) << "a due id left behind, op " << op;
		}
		}
		ASSERT_EQ(sg_timers_queue_len(&q), ref.size());
		ASSERT_EQ(sg_timers_queue_at(&q, id), ref.count(id) ? ref[id] : SG_TIMERS_NEVER);
	}
	uint64_t next = SG_TIMERS_NEVER;
	for (auto &kv : ref)
		next = std::min(next, kv.second);
	EXPECT_EQ(sg_timers_queue_next(&q), next);
	sg_timers_queue_fini(&q);
}

} // namespace

TEST(Keyslots, InitiatorKeypairsBecomeCurrentAtOnce)
{
	sg_keyslots ks;
	void *dropped[2];
	sg_keyslots_init(&ks);
	EXPECT_EQ(sg_keyslots_install(&ks, A, true, dropped), 0u);
	expect_slots(ks, nullptr, A, nullptr);
	EXPECT_EQ(sg_keyslots_install(&ks, B, true, dropped), 0u);
	expect_slots(ks, A, B, nullptr);
	EXPECT_EQ(sg_keyslots_install(&ks, C, true, dropped), 1u);
	EXPECT_EQ(dropped[0], A);
	EXPECT_EQ(dropped[1], nullptr);
	expect_slots(ks, B, C, nullptr);
}

TEST(Keyslots, ResponderKeypairWaitsForTheFirstDataPacket)
{
	sg_keyslots ks;
	void *dropped[2], *old;
	sg_keyslots_init(&ks);
	sg_keyslots_install(&ks, A, true, dropped);
	sg_keyslots_install(&ks, B, true, dropped);
	// Responder: next, and the old previous goes; we keep sending with B.
	EXPECT_EQ(sg_keyslots_install(&ks, C, false, dropped), 1u);
	EXPECT_EQ(dropped[0], A);
	expect_slots(ks, nullptr, B, C);
	// Data under the current keypair confirms nothing.
	EXPECT_FALSE(sg_keyslots_confirm(&ks, B, &old));
	EXPECT_EQ(old, nullptr);
	expect_slots(ks, nullptr, B, C);
	// The first packet under C: next -> current -> previous.
	EXPECT_TRUE(sg_keyslots_confirm(&ks, C, &old));
	EXPECT_EQ(old, nullptr);
	expect_slots(ks, B, C, nullptr);
	EXPECT_FALSE(sg_keyslots_confirm(&ks, C, &old)) << "confirmed once";
	// Next round: the old previous is handed back on confirmation.
	EXPECT_EQ(sg_keyslots_install(&ks, D, false, dropped), 1u);
	EXPECT_EQ(dropped[0], B);
	expect_slots(ks, nullptr, C, D);
	EXPECT_TRUE(sg_keyslots_confirm(&ks, D, &old));
	expect_slots(ks, C, D, nullptr);
}

TEST(Keyslots, SecondResponderKeypairReplacesAnUnconfirmedOne)
{
	sg_keyslots ks;
	void *dropped[2], *old;
	sg_keyslots_init(&ks);
	sg_keyslots_install(&ks, A, true, dropped);
	sg_keyslots_install(&ks, B, false, dropped);
	EXPECT_EQ(sg_keyslots_install(&ks, C, false, dropped), 1u);
	EXPECT_EQ(dropped[0], B);
	expect_slots(ks, nullptr, A, C);
	EXPECT_FALSE(sg_keyslots_confirm(&ks, B, &old)) << "B is gone";
	EXPECT_FALSE(sg_keyslots_confirm(&ks, nullptr, &old));
}

TEST(Keyslots, InitiatorKeypairWhileAResponderOneIsPending)
{
	sg_keyslots ks;
	void *dropped[2];
	sg_keyslots_init(&ks);
	sg_keyslots_install(&ks, A, true, dropped);
	sg_keyslots_install(&ks, B, true, dropped);
	sg_keyslots_install(&ks, C, false, dropped); // previous A dropped
	expect_slots(ks, nullptr, B, C);
	// Our own handshake finishes first: the pending one becomes previous.
	EXPECT_EQ(sg_keyslots_install(&ks, D, true, dropped), 1u);
	EXPECT_EQ(dropped[0], B);
	expect_slots(ks, C, D, nullptr);
	// With all three slots full both previous and current may go at once.
	sg_keyslots_install(&ks, E, false, dropped);
	expect_slots(ks, nullptr, D, E);
	ks.previous = C; // as if it had been kept
	EXPECT_EQ(sg_keyslots_install(&ks, F, true, dropped), 2u);
	EXPECT_EQ(std::set<void *>({ dropped[0], dropped[1] }), std::set<void *>({ C, D }));
	expect_slots(ks, E, F, nullptr);
}

TEST(Keyslots, ClearHandsBackEverything)
{
	sg_keyslots ks;
	void *dropped[2], *all[3];
	sg_keyslots_init(&ks);
	EXPECT_EQ(sg_keyslots_clear(&ks, all), 0u);
	sg_keyslots_install(&ks, A, true, dropped);
	sg_keyslots_install(&ks, B, true, dropped);
	sg_keyslots_install(&ks, C, false, dropped);
	sg_keyslots_install(&ks, D, true, dropped);
	sg_keyslots_install(&ks, E, false, dropped);
	expect_slots(ks, nullptr, D, E);
	EXPECT_EQ(sg_keyslots_clear(&ks, all), 2u);
	EXPECT_EQ(std::set<void *>({ all[0], all[1] }), std::set<void *>({ D, E }));
	EXPECT_EQ(all[2], nullptr);
	expect_slots(ks, nullptr, nullptr, nullptr);
}

// Whatever happens, every keypair installed is either in a slot or handed
// back exactly once: none leaks (unwiped) and none is freed twice.
TEST(Keyslots, RandomRotationNeverLosesOrDuplicatesAKeypair)
{
	std::vector<int> pool(5000);
	std::mt19937 rng(99);
	sg_keyslots ks;
	sg_keyslots_init(&ks);
	std::map<void *, int> handed_back;
	size_t installed = 0;
	auto back = [&](void *p) {
		if (p)
			handed_back[p]++;
	};
	for (int op = 0; op < 20000 && installed < pool.size(); op++) {
		void *dropped[3] = {};
		switch (rng() % 8) {
		case 0:
			sg_keyslots_clear(&ks, dropped);
			back(dropped[0]), back(dropped[1]), back(dropped[2]);
			break;
		case 1:
		case 2:
		case 3: {
			void *old;
			void *cand = rng() % 2 ? ks.next : ks.current;
			sg_keyslots_confirm(&ks, cand, &old);
			back(old);
			break;
		}
		default: {
			unsigned n =
				sg_keyslots_install(&ks, &pool[installed++], rng() % 2, dropped);
			EXPECT_EQ(n, (unsigned)(dropped[0] != nullptr) + (dropped[1] != nullptr));
			back(dropped[0]), back(dropped[1]);
		}
		}
		std::set<void *> live;
		for (void *p : { ks.previous, ks.current, ks.next }) {
			if (p) {
				ASSERT_TRUE(live.insert(p).second) << "a keypair in two slots";
			}
		}
		for (void *p : live)
			ASSERT_EQ(handed_back.count(p), 0u) << "a live keypair handed back";
		ASSERT_EQ(handed_back.size() + live.size(), installed) << "op " << op;
	}
	for (auto &kv : handed_back)
		EXPECT_EQ(kv.second, 1) << "handed back twice";
}
