// SPDX-License-Identifier: MIT
// lib/dpcrypto against libsodium's ChaCha20-Poly1305 (IETF) as the reference,
// through both ipsec-mb interfaces (job and burst API).
#include <gtest/gtest.h>

#include <sodium.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "lib/common/sg_log.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
}

namespace
{

typedef std::vector<uint8_t> bytes;

// One packet's worth of inputs and outputs, owning its buffers.  The buffers
// get a byte of slack at the front so odd offsets test unaligned data.
struct pkt {
	uint8_t key[32];
	uint64_t nonce;
	bytes pt, aad, buf, tag, ref_ct, ref_tag;
	size_t off;
};

void wg_nonce(uint8_t npub[12], uint64_t counter)
{
	memset(npub, 0, 4);
	for (int i = 0; i < 8; i++)
		npub[4 + i] = (uint8_t)(counter >> (8 * i));
}

// The reference: libsodium with WireGuard's nonce layout.
void reference(pkt &p)
{
	uint8_t npub[12];
	unsigned long long taglen = 16;

	wg_nonce(npub, p.nonce);
	p.ref_ct.assign(p.pt.size() + 1, 0);
	p.ref_tag.assign(16, 0);
	ASSERT_EQ(0, crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			     p.ref_ct.data(), p.ref_tag.data(), &taglen, p.pt.data(), p.pt.size(),
			     p.aad.data(), p.aad.size(), NULL, npub, p.key));
	p.ref_ct.resize(p.pt.size());
}

pkt make_pkt(std::mt19937_64 &rng, size_t len, size_t aad_len)
{
	pkt p;

	for (auto &b : p.key)
		b = (uint8_t)rng();
	p.nonce = rng();
	p.pt.resize(len);
	for (auto &b : p.pt)
		b = (uint8_t)rng();
	p.aad.resize(aad_len);
	for (auto &b : p.aad)
		b = (uint8_t)rng();
	p.off = rng() & 1;
	p.buf.assign(len + 1, 0xee);
	p.tag.assign(16, 0xee);
	reference(p);
	return p;
}

// An op that reads src and writes this packet's own buffer (or in place).
sg_dpcrypto_op op_for(pkt &p, uint8_t *src)
{
	sg_dpcrypto_op op = {};

	op.key = p.key;
	op.nonce = p.nonce;
	op.src = src;
	op.dst = p.buf.data() + p.off;
	op.len = (uint32_t)p.pt.size();
	op.tag = p.tag.data();
	op.aad = p.aad.empty() ? NULL : p.aad.data();
	op.aad_len = (uint32_t)p.aad.size();
	op.status = 12345;
	return op;
}

std::vector<std::string> logged;

void capture(enum sg_log_level, const char *line)
{
	logged.push_back(line);
}

bytes out_of(const pkt &p)
{
	return bytes(p.buf.begin() + (long)p.off, p.buf.begin() + (long)(p.off + p.pt.size()));
}

class DpCrypto : public ::testing::TestWithParam<sg_dpcrypto_api>
{
      protected:
	void SetUp() override
	{
		ASSERT_GE(sodium_init(), 0);
		ctx = sg_dpcrypto_create();
		ASSERT_NE(ctx, nullptr);
		ASSERT_EQ(0, sg_dpcrypto_set_api(ctx, GetParam()));
	}
	void TearDown() override
	{
		sg_dpcrypto_destroy(ctx);
	}

	// Encrypts all packets in one burst (plaintext copied into place first
	// when in_place) and checks each against libsodium.
	void encrypt_and_check(std::vector<pkt> &ps, bool in_place)
	{
		std::vector<sg_dpcrypto_op> ops;

		for (auto &p : ps) {
			uint8_t *src = p.pt.data();
			if (in_place) {
				std::copy(p.pt.begin(), p.pt.end(), p.buf.begin() + (long)p.off);
				src = p.buf.data() + p.off;
			}
			ops.push_back(op_for(p, src));
		}
		ASSERT_EQ(ps.size(),
			  sg_dpcrypto_encrypt_burst(ctx, ops.data(), (unsigned)ops.size()));
		for (size_t i = 0; i < ps.size(); i++) {
			SCOPED_TRACE("op " + std::to_string(i) + " len " +
				     std::to_string(ps[i].pt.size()));
			EXPECT_EQ(0, ops[i].status);
			EXPECT_EQ(ps[i].ref_ct, out_of(ps[i]));
			EXPECT_EQ(ps[i].ref_tag, ps[i].tag);
		}
	}

	// Decrypts every packet's ciphertext (in its buffer, in place, or from
	// the reference copy) and checks the plaintext comes back.
	void decrypt_and_check(std::vector<pkt> &ps, bool in_place)
	{
		std::vector<sg_dpcrypto_op> ops;
		std::vector<bytes> ct(ps.size());

		for (size_t i = 0; i < ps.size(); i++) {
			pkt &p = ps[i];
			uint8_t *src;
			if (in_place) {
				std::copy(p.ref_ct.begin(), p.ref_ct.end(),
					  p.buf.begin() + (long)p.off);
				src = p.buf.data() + p.off;
			} else {
				ct[i] = p.ref_ct;
				ct[i].push_back(0);
				src = ct[i].data();
				std::fill(p.buf.begin(), p.buf.end(), 0xee);
			}
			p.tag = p.ref_tag;
			ops.push_back(op_for(p, src));
		}
		ASSERT_EQ(ps.size(),
			  sg_dpcrypto_decrypt_burst(ctx, ops.data(), (unsigned)ops.size()));
		for (size_t i = 0; i < ps.size(); i++) {
			SCOPED_TRACE("op " + std::to_string(i));
			EXPECT_EQ(0, ops[i].status);
			EXPECT_EQ(ps[i].pt, out_of(ps[i]));
		}
	}

	sg_dpcrypto *ctx = nullptr;
	std::mt19937_64 rng{ 0x5eed0001 };
};

TEST_P(DpCrypto, ArchIsNamed)
{
	std::string a = sg_dpcrypto_arch_name(ctx);
	EXPECT_TRUE(a == "sse" || a == "avx" || a == "avx2" || a == "avx512") << a;
}

TEST_P(DpCrypto, SetApiRejectsUnknown)
{
	EXPECT_EQ(-EINVAL, sg_dpcrypto_set_api(ctx, (sg_dpcrypto_api)42));
}

TEST_P(DpCrypto, MatchesLibsodiumAtEdgeLengths)
{
	const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 1420, 1500, 9000 };

	for (size_t len : lens) {
		for (size_t aad_len : { 0, 1, 16, 17 }) {
			SCOPED_TRACE("len " + std::to_string(len) + " aad " +
				     std::to_string(aad_len));
			std::vector<pkt> ps{ make_pkt(rng, len, aad_len) };
			encrypt_and_check(ps, false);
			decrypt_and_check(ps, false);
		}
	}
}

TEST_P(DpCrypto, MatchesLibsodiumAtRandomLengths)
{
	for (int i = 0; i < 300; i++) {
		std::vector<pkt> ps{ make_pkt(rng, rng() % 9001, rng() % 65) };
		encrypt_and_check(ps, false);
		decrypt_and_check(ps, false);
	}
}

// Batches of mixed keys, nonces and lengths; 150 crosses the internal chunk.
TEST_P(DpCrypto, MixedBatches)
{
	for (size_t n : { 32, 64, 150 }) {
		SCOPED_TRACE("batch " + std::to_string(n));
		std::vector<pkt> ps;
		for (size_t i = 0; i < n; i++)
			ps.push_back(make_pkt(rng, rng() % 1501, rng() % 33));
		encrypt_and_check(ps, false);
		decrypt_and_check(ps, false);
	}
}

TEST_P(DpCrypto, InPlace)
{
	std::vector<pkt> ps;

	for (size_t len : { 0, 1, 63, 64, 65, 1420 })
		ps.push_back(make_pkt(rng, len, 16));
	for (int i = 0; i < 58; i++)
		ps.push_back(make_pkt(rng, rng() % 1501, rng() % 17));
	encrypt_and_check(ps, true);
	decrypt_and_check(ps, true);
}

// Same key, consecutive counters (what one peer's burst looks like).
TEST_P(DpCrypto, OneKeyConsecutiveCounters)
{
	std::vector<pkt> ps;

	for (int i = 0; i < 32; i++) {
		pkt p = make_pkt(rng, 1420, 0);
		if (!ps.empty())
			memcpy(p.key, ps[0].key, 32);
		p.nonce = 1000 + (uint64_t)i;
		reference(p);
		ps.push_back(p);
	}
	encrypt_and_check(ps, false);
	EXPECT_NE(ps[0].ref_ct, ps[1].ref_ct);
	decrypt_and_check(ps, false);
}

// A tampered ciphertext, tag or AAD fails only its own op.
TEST_P(DpCrypto, TamperFailsOnlyThatOp)
{
	const size_t n = 32, bad_ct = 3, bad_tag = 11, bad_aad = 20, bad_empty = 29;
	std::vector<pkt> ps;
	std::vector<bytes> ct(n);
	std::vector<sg_dpcrypto_op> ops;
	sg_dpcrypto_stats before, after;

	for (size_t i = 0; i < n; i++)
		ps.push_back(make_pkt(rng, i == bad_empty ? 0 : 64 + rng() % 1400, 16));
	for (size_t i = 0; i < n; i++) {
		ct[i] = ps[i].ref_ct;
		ct[i].push_back(0);
		ps[i].tag = ps[i].ref_tag;
	}
	ct[bad_ct][ps[bad_ct].pt.size() / 2] ^= 0x01;
	ps[bad_tag].tag[15] ^= 0x80;
	ps[bad_aad].aad[0] ^= 0x04;
	ps[bad_empty].tag[0] ^= 0x01;
	for (size_t i = 0; i < n; i++)
		ops.push_back(op_for(ps[i], ct[i].data()));

	sg_dpcrypto_stats_get(ctx, &before);
	EXPECT_EQ(n - 4, sg_dpcrypto_decrypt_burst(ctx, ops.data(), (unsigned)n));
	sg_dpcrypto_stats_get(ctx, &after);
	EXPECT_EQ(before.bad_tag + 4, after.bad_tag);
	EXPECT_EQ(before.decrypted + n - 4, after.decrypted);

	for (size_t i = 0; i < n; i++) {
		SCOPED_TRACE("op " + std::to_string(i));
		if (i == bad_ct || i == bad_tag || i == bad_aad || i == bad_empty) {
			EXPECT_EQ(-EBADMSG, ops[i].status);
			// No unauthenticated plaintext is left behind.
			EXPECT_EQ(bytes(ps[i].pt.size(), 0), out_of(ps[i]));
		} else {
			EXPECT_EQ(0, ops[i].status);
			EXPECT_EQ(ps[i].pt, out_of(ps[i]));
		}
	}
}

TEST_P(DpCrypto, WrongKeyOrNonceFails)
{
	pkt p = make_pkt(rng, 100, 8);
	bytes ct = p.ref_ct;
	sg_dpcrypto_op op;

	p.tag = p.ref_tag;
	op = op_for(p, ct.data());
	op.nonce++;
	EXPECT_EQ(-EBADMSG, sg_dpcrypto_decrypt_one(ctx, &op));

	uint8_t other[32];
	memcpy(other, p.key, 32);
	other[7] ^= 1;
	op = op_for(p, ct.data());
	op.key = other;
	EXPECT_EQ(-EBADMSG, sg_dpcrypto_decrypt_one(ctx, &op));

	op = op_for(p, ct.data());
	EXPECT_EQ(0, sg_dpcrypto_decrypt_one(ctx, &op));
	EXPECT_EQ(p.pt, out_of(p));
}

TEST_P(DpCrypto, OneOpHelpers)
{
	pkt p = make_pkt(rng, 1420, 16);
	sg_dpcrypto_op op = op_for(p, p.pt.data());

	EXPECT_EQ(0, sg_dpcrypto_encrypt_one(ctx, &op));
	EXPECT_EQ(p.ref_ct, out_of(p));
	EXPECT_EQ(p.ref_tag, p.tag);

	op = op_for(p, p.buf.data() + p.off);
	EXPECT_EQ(0, sg_dpcrypto_decrypt_one(ctx, &op));
	EXPECT_EQ(p.pt, out_of(p));
}

// An op ipsec-mb refuses (no key) fails with -EIO; its neighbours succeed.
TEST_P(DpCrypto, EngineRefusalFailsOnlyThatOp)
{
	std::vector<pkt> ps;
	std::vector<sg_dpcrypto_op> ops;
	sg_dpcrypto_stats before, after;

	for (int i = 0; i < 8; i++)
		ps.push_back(make_pkt(rng, 200, 0));
	for (auto &p : ps)
		ops.push_back(op_for(p, p.pt.data()));
	ops[3].key = NULL;
	logged.clear();
	sg_log_set_sink(capture);
	sg_dpcrypto_stats_get(ctx, &before);
	EXPECT_EQ(7u, sg_dpcrypto_encrypt_burst(ctx, ops.data(), 8));
	sg_dpcrypto_stats_get(ctx, &after);
	sg_log_set_sink(NULL);
	EXPECT_EQ(before.engine_err + 1, after.engine_err);
	ASSERT_EQ(1u, logged.size());
	EXPECT_NE(std::string::npos, logged[0].find("ipsec-mb job failed")) << logged[0];
	for (size_t i = 0; i < ps.size(); i++) {
		SCOPED_TRACE("op " + std::to_string(i));
		if (i == 3) {
			EXPECT_EQ(-EIO, ops[i].status);
			continue;
		}
		EXPECT_EQ(0, ops[i].status);
		EXPECT_EQ(ps[i].ref_ct, out_of(ps[i]));
	}
}

bytes unhex(const char *s)
{
	bytes out;

	for (; s[0] && s[1]; s += 2)
		out.push_back((uint8_t)std::stoi(std::string(s, 2), nullptr, 16));
	return out;
}

// RFC 8439 section 2.8.2.  Its nonce (07000000 4041..47) does not have
// WireGuard's four leading zero bytes, so it goes through the op's full-IV
// field; libsodium is checked against the same bytes.
TEST_P(DpCrypto, Rfc8439KnownAnswer)
{
	const char *text = "Ladies and Gentlemen of the class of '99: If I could offer you only "
			   "one tip for the future, sunscreen would be it.";
	const bytes key = unhex("808182838485868788898a8b8c8d8e8f"
				"909192939495969798999a9b9c9d9e9f");
	const bytes iv = unhex("070000004041424344454647");
	const bytes aad = unhex("50515253c0c1c2c3c4c5c6c7");
	const bytes want_ct =
		unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		      "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		      "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		      "3ff4def08e4b7a9de576d26586cec64b6116");
	const bytes want_tag = unhex("1ae10b594f09e26a7e902ecbd0600691");
	bytes pt(text, text + strlen(text)), ct(pt.size()), tag(16), back(pt.size());
	sg_dpcrypto_op op = {};

	op.key = key.data();
	op.iv = iv.data();
	op.src = pt.data();
	op.dst = ct.data();
	op.len = (uint32_t)pt.size();
	op.tag = tag.data();
	op.aad = aad.data();
	op.aad_len = (uint32_t)aad.size();
	ASSERT_EQ(0, sg_dpcrypto_encrypt_one(ctx, &op));
	EXPECT_EQ(want_ct, ct);
	EXPECT_EQ(want_tag, tag);

	op.src = ct.data();
	op.dst = back.data();
	ASSERT_EQ(0, sg_dpcrypto_decrypt_one(ctx, &op));
	EXPECT_EQ(pt, back);

	bytes sct(pt.size()), stag(16);
	unsigned long long taglen;
	ASSERT_EQ(0, crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			     sct.data(), stag.data(), &taglen, pt.data(), pt.size(), aad.data(),
			     aad.size(), NULL, iv.data(), key.data()));
	EXPECT_EQ(want_ct, sct);
	EXPECT_EQ(want_tag, stag);
}

TEST_P(DpCrypto, EmptyBurstDoesNothing)
{
	sg_dpcrypto_stats before, after;

	sg_dpcrypto_stats_get(ctx, &before);
	EXPECT_EQ(0u, sg_dpcrypto_encrypt_burst(ctx, NULL, 0));
	EXPECT_EQ(0u, sg_dpcrypto_decrypt_burst(ctx, NULL, 0));
	sg_dpcrypto_stats_get(ctx, &after);
	EXPECT_EQ(0, memcmp(&before, &after, sizeof(before)));
}

INSTANTIATE_TEST_SUITE_P(Api, DpCrypto,
			 ::testing::Values(SG_DPCRYPTO_API_JOB, SG_DPCRYPTO_API_BURST),
			 [](const ::testing::TestParamInfo<sg_dpcrypto_api> &i) {
				 return std::string(i.param == SG_DPCRYPTO_API_JOB ? "Job"
										   : "Burst");
			 });

// Contexts are independent: two of them give the same results.
TEST(DpCryptoCtx, TwoContextsAgree)
{
	sg_dpcrypto *a = sg_dpcrypto_create(), *b = sg_dpcrypto_create();
	uint8_t key[32], pt[300], c1[300], c2[300], t1[16], t2[16];
	sg_dpcrypto_op op = {};

	ASSERT_GE(sodium_init(), 0);
	ASSERT_NE(a, nullptr);
	ASSERT_NE(b, nullptr);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(pt, sizeof(pt));
	op.key = key;
	op.nonce = 7;
	op.src = pt;
	op.len = sizeof(pt);
	op.dst = c1;
	op.tag = t1;
	EXPECT_EQ(0, sg_dpcrypto_encrypt_one(a, &op));
	op.dst = c2;
	op.tag = t2;
	EXPECT_EQ(0, sg_dpcrypto_encrypt_one(b, &op));
	EXPECT_EQ(0, memcmp(c1, c2, sizeof(c1)));
	EXPECT_EQ(0, memcmp(t1, t2, sizeof(t1)));
	EXPECT_STREQ(sg_dpcrypto_arch_name(a), sg_dpcrypto_arch_name(b));
	sg_dpcrypto_destroy(a);
	sg_dpcrypto_destroy(b);
	sg_dpcrypto_destroy(NULL);
}

} // namespace
