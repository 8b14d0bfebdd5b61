// Unit tests for lib/noise: the Noise_IKpsk2 handshake of WireGuard.
//
// Known answers come from two places: the published golden transcript in
// golden_wg.h (computed independently with golang.org/x/crypto), and, for the
// preshared-key case the transcript lacks, a straight-line re-derivation of
// section 5.4 of the WireGuard paper written below with libsodium and our own
// BLAKE2s only (its HMAC and KDF are re-written here, not sg_kdf).  That
// re-derivation is itself first checked against the golden transcript.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <sodium.h>

extern "C" {
#include "lib/crypto/sg_crypto.h"
#include "lib/noise/sg_noise.h"
#include "lib/wire/sg_wire.h"
}

#include "golden_wg.h"

using bytes_t = std::vector<uint8_t>;

namespace
{
const uint64_t kSec = 1000000000ull;
const size_t kInitNoMacs = SG_MSG_INITIATION_LEN - sizeof(struct sg_msg_macs);
const size_t kRespNoMacs = SG_MSG_RESPONSE_LEN - sizeof(struct sg_msg_macs);

bytes_t key_of(const char *hex)
{
	bytes_t k = golden::bytes(hex);
	EXPECT_EQ(k.size(), 32u);
	return k;
}

bytes_t ts_at(uint64_t sec, uint32_t nsec = 0)
{
	bytes_t t(12);
	sg_tai64n_make(t.data(), sec, nsec);
	return t;
}

bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

// One party: its identity, plus one handshake state per peer it knows.  Its
// ephemeral keys and timestamps are fresh unless fixed with use_ephemeral or
// use_timestamp, which inject them through sg_noise_static_set_env.
struct party {
	sg_noise_static st;
	uint8_t pub[32];

	party()
	{
		uint8_t priv[32];
		sg_x25519_keypair(pub, priv);
		EXPECT_EQ(sg_noise_static_init(&st, priv), 0);
		sg_wipe(priv, 32);
	}
	explicit party(const bytes_t &priv)
	{
		EXPECT_EQ(sg_noise_static_init(&st, priv.data()), 0);
		memcpy(pub, st.public_key, 32);
	}
	// st's environment points at this object.
	party(const party &) = delete;
	party &operator=(const party &) = delete;

	// Every ephemeral private key st makes from now on is e.
	void use_ephemeral(const bytes_t &e)
	{
		EXPECT_EQ(e.size(), 32u);
		eph = e;
		set_env();
	}
	// Every initiation st makes from now on carries timestamp t.
	void use_timestamp(const bytes_t &t)
	{
		EXPECT_EQ(t.size(), 12u);
		ts = t;
		set_env();
	}

      private:
	bytes_t eph, ts; // empty: the default (CSPRNG, clock)

	static void fixed_ephemeral(void *ctx, uint8_t out[32])
	{
		memcpy(out, static_cast<party *>(ctx)->eph.data(), 32);
	}
	static void fixed_timestamp(void *ctx, uint8_t out[12])
	{
		memcpy(out, static_cast<party *>(ctx)->ts.data(), 12);
	}
	void set_env()
	{
		sg_noise_static_set_env(&st, eph.empty() ? nullptr : fixed_ephemeral,
					ts.empty() ? nullptr : fixed_timestamp, this);
	}
};

class Noise : public ::testing::Test
{
      protected:
	void SetUp() override
	{
		ASSERT_EQ(sg_crypto_init(), 0);
	}

	party I, R;
	sg_noise_peer_hs i_hs{}; // the initiator's state for R
	sg_noise_peer_hs r_hs{}; // the responder's state for I

	void init_peers(const uint8_t *i_psk = nullptr, const uint8_t *r_psk = nullptr)
	{
		ASSERT_EQ(sg_noise_peer_hs_init(&i_hs, &I.st, R.pub, i_psk), 0);
		ASSERT_EQ(sg_noise_peer_hs_init(&r_hs, &R.st, I.pub, r_psk), 0);
	}

	// The responder's two halves; returns the first error or 0.
	int respond_to(const sg_msg_initiation &m, uint64_t now_ns, sg_noise_peer_hs *hs = nullptr)
	{
		uint8_t who[32];
		sg_noise_init_ctx ctx;
		int ret = sg_noise_initiation_decrypt_static(&R.st, &m, who, &ctx);
		if (ret)
			return ret;
		EXPECT_EQ(memcmp(who, I.pub, 32), 0);
		return sg_noise_consume_initiation(&R.st, &ctx, hs ? hs : &r_hs, now_ns);
	}

	// A full handshake; fills both keypairs.
	void handshake(sg_noise_keypair *ik, sg_noise_keypair *rk, uint64_t now_ns = 5 * kSec)
	{
		sg_msg_initiation init;
		sg_msg_response resp;
		ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 0x1111, now_ns), 0);
		ASSERT_EQ(respond_to(init, now_ns), 0);
		ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 0x2222), 0);
		ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), 0);
		ASSERT_EQ(sg_noise_derive_keypair(&i_hs, ik, now_ns + 1), 0);
		ASSERT_EQ(sg_noise_derive_keypair(&r_hs, rk, now_ns + 2), 0);
	}
};

// Data sealed by one keypair opens at the other, in both directions.
void expect_keys_talk(const sg_noise_keypair &a, const sg_noise_keypair &b)
{
	const char msg[] = "a packet through the tunnel";
	uint8_t ct[sizeof(msg) + 16], pt[sizeof(msg)];
	sg_aead_encrypt(ct, (const uint8_t *)msg, sizeof(msg), nullptr, 0, 7, a.sending_key);
	ASSERT_EQ(sg_aead_decrypt(pt, ct, sizeof(ct), nullptr, 0, 7, b.receiving_key), 0);
	EXPECT_EQ(memcmp(pt, msg, sizeof(msg)), 0);
	sg_aead_encrypt(ct, (const uint8_t *)msg, sizeof(msg), nullptr, 0, 9, b.sending_key);
	ASSERT_EQ(sg_aead_decrypt(pt, ct, sizeof(ct), nullptr, 0, 9, a.receiving_key), 0);
	// Keys are directional: a's own receiving key does not open what a sent.
	sg_aead_encrypt(ct, (const uint8_t *)msg, sizeof(msg), nullptr, 0, 7, a.sending_key);
	EXPECT_EQ(sg_aead_decrypt(pt, ct, sizeof(ct), nullptr, 0, 7, a.receiving_key), -EBADMSG);
}

void expect_crosswise(const sg_noise_keypair &ik, const sg_noise_keypair &rk)
{
	EXPECT_EQ(memcmp(ik.sending_key, rk.receiving_key, 32), 0);
	EXPECT_EQ(memcmp(ik.receiving_key, rk.sending_key, 32), 0);
	EXPECT_NE(memcmp(ik.sending_key, ik.receiving_key, 32), 0);
	expect_keys_talk(ik, rk);
}

} // namespace

TEST_F(Noise, HandshakeWithoutPskGivesMatchingKeypairs)
{
	sg_noise_keypair ik, rk;
	init_peers();
	handshake(&ik, &rk, 5 * kSec);
	expect_crosswise(ik, rk);

	EXPECT_TRUE(ik.is_initiator);
	EXPECT_TRUE(ik.confirmed);
	EXPECT_FALSE(rk.is_initiator);
	EXPECT_FALSE(rk.confirmed) << "a responder keypair awaits key confirmation";
	EXPECT_EQ(ik.local_index, 0x1111u);
	EXPECT_EQ(ik.remote_index, 0x2222u);
	EXPECT_EQ(rk.local_index, 0x2222u);
	EXPECT_EQ(rk.remote_index, 0x1111u);
	EXPECT_EQ(ik.created_ns, 5 * kSec + 1);
	EXPECT_EQ(rk.created_ns, 5 * kSec + 2);
	EXPECT_EQ(ik.sending_counter, 0u);
	EXPECT_EQ(rk.sending_counter, 0u);
}

TEST_F(Noise, HandshakeWithPskGivesMatchingKeypairsThatDifferFromNoPsk)
{
	uint8_t psk[32];
	sg_random(psk, sizeof(psk));
	sg_noise_keypair ik, rk;
	init_peers(psk, psk);
	handshake(&ik, &rk);
	expect_crosswise(ik, rk);
}

TEST_F(Noise, EachHandshakeGivesFreshKeys)
{
	sg_noise_keypair ik1, rk1, ik2, rk2;
	init_peers();
	handshake(&ik1, &rk1, 5 * kSec);
	// A later initiation needs a later timestamp; the clock's granularity is ~17 ms.
	I.use_timestamp(ts_at(4000000000ull));
	handshake(&ik2, &rk2, 6 * kSec);
	expect_crosswise(ik2, rk2);
	EXPECT_NE(memcmp(ik1.sending_key, ik2.sending_key, 32), 0);
	EXPECT_NE(memcmp(ik1.receiving_key, ik2.receiving_key, 32), 0);
}

TEST_F(Noise, InjectedEnvironmentBelongsToOneIdentityUntilItsNextInit)
{
	init_peers();
	I.use_ephemeral(bytes_t(32, 0x42));
	I.use_timestamp(ts_at(1700000000));
	sg_msg_initiation a, b;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &a, 1, 0), 0);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &b, 1, 0), 0);
	EXPECT_EQ(memcmp(&a, &b, sizeof(a)), 0) << "fixed inputs give the same bytes";
	ASSERT_EQ(respond_to(a, kSec), 0);
	EXPECT_EQ(memcmp(r_hs.latest_timestamp, ts_at(1700000000).data(), 12), 0);

	// Another identity keeps the defaults.
	party other;
	sg_noise_peer_hs o_hs;
	ASSERT_EQ(sg_noise_peer_hs_init(&o_hs, &other.st, R.pub, nullptr), 0);
	sg_msg_initiation c, d;
	ASSERT_EQ(sg_noise_create_initiation(&other.st, &o_hs, &c, 1, 0), 0);
	ASSERT_EQ(sg_noise_create_initiation(&other.st, &o_hs, &d, 1, 0), 0);
	EXPECT_NE(memcmp(c.unencrypted_ephemeral, d.unencrypted_ephemeral, 32), 0);
	EXPECT_NE(memcmp(c.unencrypted_ephemeral, a.unencrypted_ephemeral, 32), 0);

	// NULL restores the CSPRNG and the clock.
	sg_noise_static_set_env(&I.st, nullptr, nullptr, nullptr);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &c, 1, 0), 0);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &d, 1, 0), 0);
	EXPECT_NE(memcmp(c.unencrypted_ephemeral, d.unencrypted_ephemeral, 32), 0);
	EXPECT_NE(memcmp(c.unencrypted_ephemeral, a.unencrypted_ephemeral, 32), 0);
	ASSERT_EQ(respond_to(c, 2 * kSec), 0) << "the clock is later than the fixed time";

	// So does a new sg_noise_static_init, even with the same key.
	I.use_ephemeral(bytes_t(32, 0x42));
	uint8_t priv[32];
	memcpy(priv, I.st.private_key, 32);
	ASSERT_EQ(sg_noise_static_init(&I.st, priv), 0);
	sg_wipe(priv, 32);
	EXPECT_EQ(I.st.ephemeral, nullptr);
	EXPECT_EQ(I.st.timestamp, nullptr);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &c, 1, 0), 0);
	EXPECT_NE(memcmp(c.unencrypted_ephemeral, a.unencrypted_ephemeral, 32), 0);
}

TEST_F(Noise, DeriveWipesTheHandshakeButKeepsReplayState)
{
	sg_noise_keypair ik, rk;
	init_peers();
	handshake(&ik, &rk);
	for (sg_noise_peer_hs *hs : { &i_hs, &r_hs }) {
		EXPECT_EQ(hs->state, SG_NOISE_HS_ZEROED);
		EXPECT_TRUE(all_zero(hs->hash, 32));
		EXPECT_TRUE(all_zero(hs->chaining_key, 32));
		EXPECT_TRUE(all_zero(hs->ephemeral_private, 32));
		EXPECT_TRUE(all_zero(hs->remote_ephemeral, 32));
		EXPECT_FALSE(all_zero(hs->precomputed_ss, 32));
	}
	EXPECT_FALSE(all_zero(r_hs.latest_timestamp, 12));
	// Derive again: there is no handshake to derive from any more.
	EXPECT_EQ(sg_noise_derive_keypair(&i_hs, &ik, 0), -EINVAL);
	EXPECT_EQ(sg_noise_derive_keypair(&r_hs, &rk, 0), -EINVAL);
}

TEST_F(Noise, WrongPskFailsAtTheInitiatorWhenConsumingTheResponse)
{
	uint8_t psk_i[32], psk_r[32];
	sg_random(psk_i, 32);
	sg_random(psk_r, 32);
	init_peers(psk_i, psk_r);

	sg_msg_initiation init;
	sg_msg_response resp;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, kSec), 0);
	// The psk token comes only in the second message, so the responder cannot tell.
	ASSERT_EQ(respond_to(init, kSec), 0);
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 2), 0);
	EXPECT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), -EBADMSG);
	EXPECT_EQ(i_hs.state, SG_NOISE_HS_CREATED_INITIATION);
}

TEST_F(Noise, PskOnOneSideOnlyFailsAtTheInitiator)
{
	uint8_t psk[32];
	sg_random(psk, 32);
	init_peers(nullptr, psk);
	sg_msg_initiation init;
	sg_msg_response resp;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, kSec), 0);
	ASSERT_EQ(respond_to(init, kSec), 0);
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 2), 0);
	EXPECT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), -EBADMSG);
}

TEST_F(Noise, WrongResponderStaticKeyFailsToDecryptTheStatic)
{
	party other;
	ASSERT_EQ(sg_noise_peer_hs_init(&i_hs, &I.st, other.pub, nullptr), 0);
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, kSec), 0);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	EXPECT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), -EBADMSG);
	EXPECT_TRUE(all_zero(&ctx, sizeof(ctx))) << "a failed first half leaves nothing behind";
	// The key it was meant for decrypts it.
	EXPECT_EQ(sg_noise_initiation_decrypt_static(&other.st, &init, who, &ctx), 0);
	EXPECT_EQ(memcmp(who, I.pub, 32), 0);
	sg_noise_init_ctx_clear(&ctx);
}

TEST_F(Noise, UnknownPeerStillYieldsItsStaticKey)
{
	// R has no state for I at all: the first half needs none.
	ASSERT_EQ(sg_noise_peer_hs_init(&i_hs, &I.st, R.pub, nullptr), 0);
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 0xabcdef01, kSec), 0);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	ASSERT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), 0);
	EXPECT_EQ(memcmp(who, I.pub, 32), 0);
	EXPECT_EQ(ctx.sender_index, 0xabcdef01u);
	sg_noise_init_ctx_clear(&ctx);
	EXPECT_TRUE(all_zero(&ctx, sizeof(ctx)));
}

TEST_F(Noise, ContextOfOnePeerIsRefusedForAnother)
{
	init_peers();
	party X;
	sg_noise_peer_hs x_hs;
	ASSERT_EQ(sg_noise_peer_hs_init(&x_hs, &R.st, X.pub, nullptr), 0);
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, kSec), 0);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	ASSERT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), 0);
	EXPECT_EQ(sg_noise_consume_initiation(&R.st, &ctx, &x_hs, kSec), -EINVAL);
	EXPECT_EQ(x_hs.state, SG_NOISE_HS_ZEROED);
	EXPECT_TRUE(all_zero(&ctx, sizeof(ctx))) << "consume wipes ctx whatever the result";
	// A wiped ctx cannot be consumed, not even by the right peer.
	EXPECT_EQ(sg_noise_consume_initiation(&R.st, &ctx, &r_hs, kSec), -EINVAL);
}

TEST_F(Noise, ReplayedInitiationIsRefusedWithTheTimestampErrno)
{
	init_peers();
	sg_msg_initiation init;
	sg_msg_response resp;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, kSec), 0);
	ASSERT_EQ(respond_to(init, kSec), 0);
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 2), 0);
	// The same bytes again, long after the flood window.
	EXPECT_EQ(respond_to(init, 100 * kSec), -EALREADY);
	// ...and the refusal did not disturb the handshake that is in progress.
	EXPECT_EQ(r_hs.state, SG_NOISE_HS_CREATED_RESPONSE);
	sg_noise_keypair ik, rk;
	ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), 0);
	ASSERT_EQ(sg_noise_derive_keypair(&i_hs, &ik, kSec), 0);
	ASSERT_EQ(sg_noise_derive_keypair(&r_hs, &rk, kSec), 0);
	expect_crosswise(ik, rk);
}

TEST_F(Noise, OlderOrEqualTimestampIsRefused)
{
	init_peers();
	sg_msg_initiation m100, m150, m200, m200b;
	I.use_timestamp(ts_at(1700000100));
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m100, 1, 0), 0);
	I.use_timestamp(ts_at(1700000150));
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m150, 1, 0), 0);
	I.use_timestamp(ts_at(1700000200));
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m200, 1, 0), 0);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m200b, 1, 0), 0);

	ASSERT_EQ(respond_to(m100, 1 * kSec), 0);
	ASSERT_EQ(respond_to(m200, 2 * kSec), 0);
	EXPECT_EQ(respond_to(m150, 3 * kSec), -EALREADY) << "older than the latest seen";
	EXPECT_EQ(respond_to(m200b, 4 * kSec), -EALREADY) << "equal is not strictly newer";
	EXPECT_EQ(memcmp(r_hs.latest_timestamp, ts_at(1700000200).data(), 12), 0);
	// One nanosecond later is newer.
	I.use_timestamp(ts_at(1700000200, 1));
	sg_msg_initiation m201;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m201, 1, 0), 0);
	EXPECT_EQ(respond_to(m201, 5 * kSec), 0);
}

TEST_F(Noise, InitiationsFasterThanFiftyPerSecondAreRefused)
{
	init_peers();
	const uint64_t gap = kSec / SG_INITIATIONS_PER_SECOND;
	sg_msg_initiation m[4];
	for (int i = 0; i < 4; i++) {
		I.use_timestamp(ts_at(1700000000 + i));
		ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &m[i], 1, 0), 0);
	}
	const uint64_t t0 = 10 * kSec;
	ASSERT_EQ(respond_to(m[0], t0), 0);
	EXPECT_EQ(respond_to(m[1], t0 + gap - 1), -EAGAIN);
	// A refused flood does not count as seen: the same message is good later.
	EXPECT_EQ(respond_to(m[1], t0 + gap), 0);
	EXPECT_EQ(respond_to(m[2], t0 + gap + 1), -EAGAIN);
	EXPECT_EQ(respond_to(m[2], t0 + 2 * gap), 0);
	// A replay is reported as a replay even inside the flood window.
	EXPECT_EQ(respond_to(m[2], t0 + 2 * gap), -EALREADY);
}

TEST_F(Noise, TamperedInitiationIsRefusedAtTheRightStep)
{
	init_peers();
	sg_msg_initiation good;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &good, 1, 0), 0);
	const size_t sender = offsetof(sg_msg_initiation, sender_index);
	const size_t ts = offsetof(sg_msg_initiation, encrypted_timestamp);

	for (size_t off = 0; off < kInitNoMacs; off++) {
		if (off >= sender && off < sender + 4)
			continue;
		for (uint8_t bit : { 0x01, 0x80 }) {
			sg_msg_initiation bad = good;
			((uint8_t *)&bad)[off] ^= bit;
			uint8_t who[32];
			sg_noise_init_ctx ctx;
			int first = sg_noise_initiation_decrypt_static(&R.st, &bad, who, &ctx);
			if (off < ts) {
				EXPECT_EQ(first, -EBADMSG) << "offset " << off;
				continue;
			}
			ASSERT_EQ(first, 0) << "offset " << off;
			EXPECT_EQ(sg_noise_consume_initiation(&R.st, &ctx, &r_hs, kSec), -EBADMSG)
				<< "offset " << off;
		}
	}
	EXPECT_EQ(r_hs.state, SG_NOISE_HS_ZEROED);
	EXPECT_TRUE(all_zero(r_hs.latest_timestamp, 12));
	EXPECT_EQ(respond_to(good, kSec), 0) << "refusals left the peer's state alone";
}

TEST_F(Noise, SenderIndexIsNotAuthenticatedByNoise)
{
	// Only mac1 covers the sender index (see test_cookie): Noise accepts a
	// changed one and answers to it.
	init_peers();
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 0x01020304, 0), 0);
	((uint8_t *)&init)[offsetof(sg_msg_initiation, sender_index)] ^= 0xff;
	ASSERT_EQ(respond_to(init, kSec), 0);
	EXPECT_EQ(r_hs.remote_index, 0x010203fbu);
}

TEST_F(Noise, TamperedResponseIsRefusedAndLeavesTheInitiatorWaiting)
{
	init_peers();
	sg_msg_initiation init;
	sg_msg_response good;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 0x77, 0), 0);
	ASSERT_EQ(respond_to(init, kSec), 0);
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &good, 0x88), 0);
	const size_t sender = offsetof(sg_msg_response, sender_index);
	const size_t receiver = offsetof(sg_msg_response, receiver_index);

	for (size_t off = 0; off < kRespNoMacs; off++) {
		if (off >= sender && off < sender + 4)
			continue;
		for (uint8_t bit : { 0x01, 0x80 }) {
			sg_msg_response bad = good;
			((uint8_t *)&bad)[off] ^= bit;
			int want = (off >= receiver && off < receiver + 4) ? -EINVAL : -EBADMSG;
			EXPECT_EQ(sg_noise_consume_response(&I.st, &i_hs, &bad), want)
				<< "offset " << off;
		}
	}
	EXPECT_EQ(i_hs.state, SG_NOISE_HS_CREATED_INITIATION);
	ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &good), 0);
	EXPECT_EQ(i_hs.remote_index, 0x88u);
	// A response is consumed once.
	EXPECT_EQ(sg_noise_consume_response(&I.st, &i_hs, &good), -EINVAL);
}

TEST_F(Noise, CallsInTheWrongStateAreRefused)
{
	init_peers();
	sg_msg_response resp;
	sg_noise_keypair kp;
	EXPECT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 1), -EINVAL);
	EXPECT_EQ(sg_noise_derive_keypair(&r_hs, &kp, 0), -EINVAL);

	// A response to nothing we sent.
	party R2;
	sg_noise_peer_hs r2_hs, i2_hs;
	ASSERT_EQ(sg_noise_peer_hs_init(&i2_hs, &I.st, R2.pub, nullptr), 0);
	ASSERT_EQ(sg_noise_peer_hs_init(&r2_hs, &R2.st, I.pub, nullptr), 0);
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i2_hs, &init, 5, 0), 0);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	ASSERT_EQ(sg_noise_initiation_decrypt_static(&R2.st, &init, who, &ctx), 0);
	ASSERT_EQ(sg_noise_consume_initiation(&R2.st, &ctx, &r2_hs, kSec), 0);
	ASSERT_EQ(sg_noise_create_response(&R2.st, &r2_hs, &resp, 6), 0);
	EXPECT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), -EINVAL);
	// An initiator that has not consumed a response derives nothing.
	EXPECT_EQ(sg_noise_derive_keypair(&i2_hs, &kp, 0), -EINVAL);
}

TEST_F(Noise, UnusableKeysAreRefused)
{
	uint8_t zero[32] = { 0 }, one[32] = { 1 };
	sg_noise_static st;
	EXPECT_EQ(sg_noise_static_init(&st, zero), -ENOKEY);
	EXPECT_FALSE(st.has_identity);

	// Low-order peer keys give an all-zero static-static DH.
	for (const uint8_t *bad : { zero, one }) {
		sg_noise_peer_hs hs;
		EXPECT_EQ(sg_noise_peer_hs_init(&hs, &I.st, bad, nullptr), -ENOKEY);
		sg_msg_initiation init;
		EXPECT_EQ(sg_noise_create_initiation(&I.st, &hs, &init, 1, 0), -ENOKEY);
	}
	// Without an identity nothing works.
	sg_noise_peer_hs hs;
	EXPECT_EQ(sg_noise_peer_hs_init(&hs, &st, R.pub, nullptr), -ENOKEY);
	sg_msg_initiation init;
	init_peers();
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, 0), 0);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	EXPECT_EQ(sg_noise_initiation_decrypt_static(&st, &init, who, &ctx), -ENOKEY);
}

TEST_F(Noise, LowOrderEphemeralIsRefused)
{
	init_peers();
	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, 1, 0), 0);
	memset(init.unencrypted_ephemeral, 0, 32);
	uint8_t who[32];
	sg_noise_init_ctx ctx;
	EXPECT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), -EBADMSG);
}

TEST_F(Noise, TheirInitiationSupersedesOursPending)
{
	// Both sides initiate at once: the one that consumes the other's
	// initiation answers it, and its own initiation is dead.
	init_peers();
	sg_msg_initiation from_i, from_r;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &from_i, 1, 0), 0);
	ASSERT_EQ(sg_noise_create_initiation(&R.st, &r_hs, &from_r, 2, 0), 0);
	ASSERT_EQ(respond_to(from_i, kSec), 0);
	EXPECT_EQ(r_hs.state, SG_NOISE_HS_CONSUMED_INITIATION);
	EXPECT_TRUE(all_zero(r_hs.ephemeral_private, 32));
	sg_msg_response resp;
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, 3), 0);
	ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), 0);
}

// ---------------------------------------------------------------------------
// Known answers.

namespace
{
// A second, straight-line rendering of section 5.4, sharing nothing with
// noise.c but sg_blake2s: HMAC and KDF are written out here, X25519 and the
// AEAD come from libsodium directly.
namespace ref
{
bytes_t cat(std::initializer_list<bytes_t> parts)
{
	bytes_t out;
	for (const bytes_t &p : parts)
		out.insert(out.end(), p.begin(), p.end());
	return out;
}

bytes_t str(const char *s)
{
	return bytes_t(s, s + strlen(s));
}

bytes_t hash(const bytes_t &in)
{
	bytes_t out(32);
	sg_blake2s(out.data(), 32, in.data(), in.size(), nullptr, 0);
	return out;
}

bytes_t hmac(const bytes_t &key, const bytes_t &msg)
{
	bytes_t k(64, 0), ipad(64), opad(64);
	memcpy(k.data(), key.data(), key.size()); // every key here is 32 bytes
	for (int i = 0; i < 64; i++) {
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	return hash(cat({ opad, hash(cat({ ipad, msg })) }));
}

std::vector<bytes_t> kdf(int n, const bytes_t &key, const bytes_t &in)
{
	bytes_t t0 = hmac(key, in), prev;
	std::vector<bytes_t> out;
	for (int i = 1; i <= n; i++) {
		prev = hmac(t0, cat({ prev, bytes_t{ (uint8_t)i } }));
		out.push_back(prev);
	}
	return out;
}

bytes_t pub(const bytes_t &priv)
{
	bytes_t out(32);
	EXPECT_EQ(crypto_scalarmult_base(out.data(), priv.data()), 0);
	return out;
}

bytes_t dh(const bytes_t &priv, const bytes_t &p)
{
	bytes_t out(32);
	EXPECT_EQ(crypto_scalarmult(out.data(), priv.data(), p.data()), 0);
	return out;
}

bytes_t aead(const bytes_t &key, uint64_t counter, const bytes_t &pt, const bytes_t &ad)
{
	uint8_t nonce[12] = { 0 };
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
	bytes_t out(pt.size() + 16);
	crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), nullptr, pt.data(), pt.size(),
						  ad.data(), ad.size(), nullptr, nonce, key.data());
	return out;
}

bytes_t le32(uint32_t v)
{
	return { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
}

struct inputs {
	bytes_t si, ei, sr, er, ts, psk;
	uint32_t idx_i, idx_r;
};

struct transcript {
	bytes_t initiation; // without the MACs
	bytes_t response;   // without the MACs
	bytes_t i_send, i_recv;
};

transcript run(const inputs &in)
{
	transcript t;
	bytes_t Si = pub(in.si), Sr = pub(in.sr), Ei = pub(in.ei), Er = pub(in.er);

	bytes_t C = hash(str(SG_NOISE_CONSTRUCTION));
	bytes_t H = hash(cat({ C, str(SG_NOISE_IDENTIFIER) }));
	H = hash(cat({ H, Sr }));
	C = kdf(1, C, Ei)[0];
	H = hash(cat({ H, Ei }));
	auto k = kdf(2, C, dh(in.ei, Sr));
	C = k[0];
	bytes_t enc_static = aead(k[1], 0, Si, H);
	H = hash(cat({ H, enc_static }));
	k = kdf(2, C, dh(in.si, Sr));
	C = k[0];
	bytes_t enc_ts = aead(k[1], 0, in.ts, H);
	H = hash(cat({ H, enc_ts }));
	t.initiation = cat({ { 1, 0, 0, 0 }, le32(in.idx_i), Ei, enc_static, enc_ts });

	C = kdf(1, C, Er)[0];
	H = hash(cat({ H, Er }));
	C = kdf(1, C, dh(in.er, Ei))[0];
	C = kdf(1, C, dh(in.er, Si))[0];
	k = kdf(3, C, in.psk);
	C = k[0];
	H = hash(cat({ H, k[1] }));
	bytes_t enc_nothing = aead(k[2], 0, {}, H);
	t.response = cat({ { 2, 0, 0, 0 }, le32(in.idx_r), le32(in.idx_i), Er, enc_nothing });

	k = kdf(2, C, {});
	t.i_send = k[0];
	t.i_recv = k[1];
	return t;
}
} // namespace ref

ref::inputs golden_inputs()
{
	return { key_of(golden::initiator_private), key_of(golden::initiator_ephemeral_private),
		 key_of(golden::responder_private), key_of(golden::responder_ephemeral_private),
		 golden::bytes(golden::timestamp),  bytes_t(32, 0),
		 golden::initiator_index,	    golden::responder_index };
}

// The first transport message of a keypair: an empty keepalive, counter 0.
bytes_t keepalive(uint32_t receiver, const uint8_t key[32])
{
	bytes_t m = { 4, 0, 0, 0 };
	bytes_t r = ref::le32(receiver);
	m.insert(m.end(), r.begin(), r.end());
	m.resize(16, 0);
	uint8_t tag[16];
	sg_aead_encrypt(tag, nullptr, 0, nullptr, 0, 0, key);
	m.insert(m.end(), tag, tag + 16);
	return m;
}

struct lib_run {
	bytes_t initiation, response;
	sg_noise_keypair ik, rk;
};

// Our library end to end with every random input fixed.
void run_library(const ref::inputs &in, lib_run *out)
{
	party I(in.si), R(in.sr);
	sg_noise_peer_hs i_hs, r_hs;
	const uint8_t *psk = in.psk.data();
	ASSERT_EQ(sg_noise_peer_hs_init(&i_hs, &I.st, R.pub, psk), 0);
	ASSERT_EQ(sg_noise_peer_hs_init(&r_hs, &R.st, I.pub, psk), 0);

	I.use_ephemeral(in.ei);
	I.use_timestamp(in.ts);
	R.use_ephemeral(in.er);

	sg_msg_initiation init;
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &init, in.idx_i, 0), 0);
	EXPECT_TRUE(all_zero(&init.macs, sizeof(init.macs))) << "MACs are lib/cookie's job";
	out->initiation.assign((uint8_t *)&init, (uint8_t *)&init + kInitNoMacs);

	uint8_t who[32];
	sg_noise_init_ctx ctx;
	ASSERT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), 0);
	EXPECT_EQ(memcmp(who, I.pub, 32), 0);
	ASSERT_EQ(sg_noise_consume_initiation(&R.st, &ctx, &r_hs, kSec), 0);

	sg_msg_response resp;
	ASSERT_EQ(sg_noise_create_response(&R.st, &r_hs, &resp, in.idx_r), 0);
	out->response.assign((uint8_t *)&resp, (uint8_t *)&resp + kRespNoMacs);
	ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), 0);
	ASSERT_EQ(sg_noise_derive_keypair(&i_hs, &out->ik, 0), 0);
	ASSERT_EQ(sg_noise_derive_keypair(&r_hs, &out->rk, 0), 0);
}

} // namespace

TEST_F(Noise, ReferenceDerivationReproducesTheGoldenTranscript)
{
	// Validates the reference used by the PSK known-answer test below.
	ref::transcript t = ref::run(golden_inputs());
	bytes_t gi = golden::bytes(golden::initiation), gr = golden::bytes(golden::response);
	ASSERT_EQ(gi.size(), (size_t)SG_MSG_INITIATION_LEN);
	ASSERT_EQ(gr.size(), (size_t)SG_MSG_RESPONSE_LEN);
	EXPECT_EQ(golden::hex(t.initiation.data(), t.initiation.size()),
		  golden::hex(gi.data(), kInitNoMacs));
	EXPECT_EQ(golden::hex(t.response.data(), t.response.size()),
		  golden::hex(gr.data(), kRespNoMacs));
	bytes_t ka = keepalive(golden::responder_index, t.i_send.data());
	bytes_t kb = keepalive(golden::initiator_index, t.i_recv.data());
	EXPECT_EQ(golden::hex(ka.data(), ka.size()), golden::initiator_keepalive);
	EXPECT_EQ(golden::hex(kb.data(), kb.size()), golden::responder_keepalive);
}

TEST_F(Noise, GoldenTranscriptKnownAnswer)
{
	ref::inputs in = golden_inputs();
	party I(in.si), R(in.sr);
	EXPECT_EQ(golden::hex(I.pub, 32), golden::initiator_public);
	EXPECT_EQ(golden::hex(R.pub, 32), golden::responder_public);

	lib_run out;
	run_library(in, &out);
	bytes_t gi = golden::bytes(golden::initiation), gr = golden::bytes(golden::response);
	EXPECT_EQ(golden::hex(out.initiation.data(), out.initiation.size()),
		  golden::hex(gi.data(), kInitNoMacs));
	EXPECT_EQ(golden::hex(out.response.data(), out.response.size()),
		  golden::hex(gr.data(), kRespNoMacs));
	bytes_t ka = keepalive(out.ik.remote_index, out.ik.sending_key);
	bytes_t kb = keepalive(out.rk.remote_index, out.rk.sending_key);
	EXPECT_EQ(golden::hex(ka.data(), ka.size()), golden::initiator_keepalive);
	EXPECT_EQ(golden::hex(kb.data(), kb.size()), golden::responder_keepalive);
	expect_crosswise(out.ik, out.rk);
}

TEST_F(Noise, GoldenMessagesAreConsumedAsTheyAre)
{
	// Our responder reads the published initiation, our initiator the
	// published response: the wire bytes of another implementation.
	ref::inputs in = golden_inputs();
	party I(in.si), R(in.sr);
	sg_noise_peer_hs i_hs, r_hs;
	ASSERT_EQ(sg_noise_peer_hs_init(&i_hs, &I.st, R.pub, nullptr), 0);
	ASSERT_EQ(sg_noise_peer_hs_init(&r_hs, &R.st, I.pub, nullptr), 0);

	bytes_t gi = golden::bytes(golden::initiation), gr = golden::bytes(golden::response);
	sg_msg_initiation init;
	sg_msg_response resp;
	memcpy(&init, gi.data(), sizeof(init));
	memcpy(&resp, gr.data(), sizeof(resp));

	uint8_t who[32];
	sg_noise_init_ctx ctx;
	ASSERT_EQ(sg_noise_initiation_decrypt_static(&R.st, &init, who, &ctx), 0);
	EXPECT_EQ(golden::hex(who, 32), golden::initiator_public);
	EXPECT_EQ(ctx.sender_index, golden::initiator_index);
	ASSERT_EQ(sg_noise_consume_initiation(&R.st, &ctx, &r_hs, kSec), 0);
	EXPECT_EQ(golden::hex(r_hs.latest_timestamp, 12), golden::timestamp);

	// The initiator side needs its own initiation state: made with the
	// published ephemeral and timestamp, then fed the published response.
	sg_msg_initiation mine;
	I.use_ephemeral(in.ei);
	I.use_timestamp(in.ts);
	ASSERT_EQ(sg_noise_create_initiation(&I.st, &i_hs, &mine, golden::initiator_index, 0), 0);
	ASSERT_EQ(sg_noise_consume_response(&I.st, &i_hs, &resp), 0);
	EXPECT_EQ(i_hs.remote_index, golden::responder_index);
	sg_noise_keypair ik;
	ASSERT_EQ(sg_noise_derive_keypair(&i_hs, &ik, 0), 0);
	bytes_t ka = keepalive(ik.remote_index, ik.sending_key);
	EXPECT_EQ(golden::hex(ka.data(), ka.size()), golden::initiator_keepalive);
}

TEST_F(Noise, PskKnownAnswerAgainstTheReferenceDerivation)
{
	ref::inputs in = golden_inputs();
	in.psk.assign(32, 0);
	for (int i = 0; i < 32; i++)
		in.psk[i] = (uint8_t)(0xa0 + i);
	in.ts = ts_at(1800000000, 123 << 24);
	in.idx_i = 0xdeadbeef;
	in.idx_r = 0x01020304;

	ref::transcript t = ref::run(in);
	lib_run out;
	run_library(in, &out);
	EXPECT_EQ(golden::hex(out.initiation.data(), out.initiation.size()),
		  golden::hex(t.initiation.data(), t.initiation.size()));
	EXPECT_EQ(golden::hex(out.response.data(), out.response.size()),
		  golden::hex(t.response.data(), t.response.size()));
	EXPECT_EQ(golden::hex(out.ik.sending_key, 32), golden::hex(t.i_send.data(), 32));
	EXPECT_EQ(golden::hex(out.ik.receiving_key, 32), golden::hex(t.i_recv.data(), 32));
	EXPECT_EQ(golden::hex(out.rk.receiving_key, 32), golden::hex(t.i_send.data(), 32));
	EXPECT_EQ(golden::hex(out.rk.sending_key, 32), golden::hex(t.i_recv.data(), 32));

	// The PSK changes only the response and the keys, never the initiation.
	ref::inputs no_psk = in;
	no_psk.psk.assign(32, 0);
	ref::transcript t0 = ref::run(no_psk);
	EXPECT_EQ(t0.initiation, t.initiation);
	EXPECT_NE(t0.response, t.response);
	EXPECT_NE(t0.i_send, t.i_send);
}
