// Unit tests for lib/wire: the message layouts of the WireGuard paper
// (section 5.4), the classification of UDP payloads and the padding rule.
#include <gtest/gtest.h>

#include <stddef.h>
#include <string.h>

#include <algorithm>
#include <vector>

extern "C" {
#include "lib/wire/sg_wire.h"
}

TEST(WireLayout, MessageSizes)
{
	EXPECT_EQ(sizeof(sg_msg_header), 4u);
	EXPECT_EQ(sizeof(sg_msg_initiation), 148u);
	EXPECT_EQ(sizeof(sg_msg_response), 92u);
	EXPECT_EQ(sizeof(sg_msg_cookie_reply), 64u);
	EXPECT_EQ(sizeof(sg_msg_data), 16u);
	EXPECT_EQ(SG_MSG_INITIATION_LEN, 148);
	EXPECT_EQ(SG_MSG_RESPONSE_LEN, 92);
	EXPECT_EQ(SG_MSG_COOKIE_REPLY_LEN, 64);
	EXPECT_EQ(SG_MSG_DATA_HEADER_LEN, 16);
	EXPECT_EQ(SG_MSG_DATA_MIN_LEN, 32);
}

TEST(WireLayout, FieldOffsets)
{
	// Offsets of the paper's figures; mac1 and mac2 are the last 32 bytes.
	EXPECT_EQ(offsetof(sg_msg_initiation, sender_index), 4u);
	EXPECT_EQ(offsetof(sg_msg_initiation, unencrypted_ephemeral), 8u);
	EXPECT_EQ(offsetof(sg_msg_initiation, encrypted_static), 40u);
	EXPECT_EQ(offsetof(sg_msg_initiation, encrypted_timestamp), 88u);
	EXPECT_EQ(offsetof(sg_msg_initiation, macs), 116u);
	EXPECT_EQ(offsetof(sg_msg_initiation, macs) + offsetof(sg_msg_macs, mac2), 132u);

	EXPECT_EQ(offsetof(sg_msg_response, sender_index), 4u);
	EXPECT_EQ(offsetof(sg_msg_response, receiver_index), 8u);
	EXPECT_EQ(offsetof(sg_msg_response, unencrypted_ephemeral), 12u);
	EXPECT_EQ(offsetof(sg_msg_response, encrypted_nothing), 44u);
	EXPECT_EQ(offsetof(sg_msg_response, macs), 60u);

	EXPECT_EQ(offsetof(sg_msg_cookie_reply, receiver_index), 4u);
	EXPECT_EQ(offsetof(sg_msg_cookie_reply, nonce), 8u);
	EXPECT_EQ(offsetof(sg_msg_cookie_reply, encrypted_cookie), 32u);

	EXPECT_EQ(offsetof(sg_msg_data, receiver_index), 4u);
	EXPECT_EQ(offsetof(sg_msg_data, counter), 8u);
	EXPECT_EQ(offsetof(sg_msg_data, encrypted_data), 16u);
}

namespace
{

std::vector<uint8_t> message(uint8_t type, size_t len)
{
	std::vector<uint8_t> m(len, 0xab);
	if (len > 0)
		m[0] = type;
	for (size_t i = 1; i < 4 && i < len; i++)
		m[i] = 0;
	return m;
}

struct Verdict {
	int type;
	sg_drop_reason why;
};

Verdict classify(const std::vector<uint8_t> &m)
{
	// A sentinel shows whether classify stored a reason.
	sg_drop_reason why = SG_DROP_MAX;
	int t = sg_wire_classify(m.data(), m.size(), &why);
	return { t, why };
}

const struct {
	uint8_t type;
	size_t len;
} exact_types[] = {
	{ SG_MSG_INITIATION, SG_MSG_INITIATION_LEN },
	{ SG_MSG_RESPONSE, SG_MSG_RESPONSE_LEN },
	{ SG_MSG_COOKIE_REPLY, SG_MSG_COOKIE_REPLY_LEN },
};

} // namespace

TEST(WireClassify, AcceptsEachValidMessage)
{
	for (const auto &e : exact_types)
		EXPECT_EQ(classify(message(e.type, e.len)).type, e.type) << (int)e.type;
	for (size_t len :
	     { (size_t)SG_MSG_DATA_MIN_LEN, (size_t)33, (size_t)48, (size_t)1452, (size_t)65535 })
		EXPECT_EQ(classify(message(SG_MSG_DATA, len)).type, SG_MSG_DATA) << len;
}

TEST(WireClassify, HandshakeMessagesMustHaveTheirExactLength)
{
	for (const auto &e : exact_types) {
		for (size_t len : { e.len - 1, e.len + 1, (size_t)4, (size_t)1500 }) {
			Verdict v = classify(message(e.type, len));
			EXPECT_EQ(v.type, 0) << (int)e.type << " len " << len;
			EXPECT_EQ(v.why, SG_DROP_WG_SIZE) << (int)e.type << " len " << len;
		}
	}
}

TEST(WireClassify, DataShorterThanHeaderAndTagIsDropped)
{
	for (size_t len : { (size_t)4, (size_t)16, (size_t)SG_MSG_DATA_MIN_LEN - 1 }) {
		Verdict v = classify(message(SG_MSG_DATA, len));
		EXPECT_EQ(v.type, 0) << len;
		EXPECT_EQ(v.why, SG_DROP_WG_SIZE) << len;
	}
}

TEST(WireClassify, UnknownTypes)
{
	for (int type : { 0, 5, 6, 0x80, 255 }) {
		// Whatever the length, an unknown type is a type error.
		for (size_t len : { (size_t)4, (size_t)32, (size_t)148 }) {
			Verdict v = classify(message((uint8_t)type, len));
			EXPECT_EQ(v.type, 0) << type;
			EXPECT_EQ(v.why, SG_DROP_WG_TYPE) << type;
		}
	}
}

TEST(WireClassify, NonZeroReservedBytes)
{
	for (const auto &e : exact_types) {
		for (size_t i = 1; i < 4; i++) {
			std::vector<uint8_t> m = message(e.type, e.len);
			m[i] = 1;
			Verdict v = classify(m);
			EXPECT_EQ(v.type, 0) << (int)e.type << " byte " << i;
			EXPECT_EQ(v.why, SG_DROP_WG_RESERVED) << (int)e.type << " byte " << i;
		}
	}
	std::vector<uint8_t> m = message(SG_MSG_DATA, 64);
	m[3] = 0x80;
	Verdict v = classify(m);
	EXPECT_EQ(v.type, 0);
	EXPECT_EQ(v.why, SG_DROP_WG_RESERVED);
}

TEST(WireClassify, InputShorterThanAHeader)
{
	sg_drop_reason why = SG_DROP_MAX;
	EXPECT_EQ(sg_wire_classify(nullptr, 0, &why), 0);
	EXPECT_EQ(why, SG_DROP_WG_SIZE);
	for (size_t len : { 1, 2, 3 }) {
		// Even a valid type byte cannot make a message without its header.
		Verdict v = classify(message(SG_MSG_DATA, len));
		EXPECT_EQ(v.type, 0) << len;
		EXPECT_EQ(v.why, SG_DROP_WG_SIZE) << len;
	}
}

TEST(WirePadding, Cases)
{
	static const struct {
		size_t len, mtu, want;
	} cases[] = {
		{ 0, 1420, 0 }, // a keepalive stays empty
		{ 1, 1420, 16 },      { 15, 1420, 16 },	    { 16, 1420, 16 },
		{ 17, 1420, 32 },     { 40, 1420, 48 },	    { 1404, 1420, 1408 },
		{ 1409, 1420, 1420 }, // rounding would pass the MTU: capped at it
		{ 1420, 1420, 1420 }, { 1279, 1280, 1280 }, { 1280, 1280, 1280 },
		{ 100, 105, 105 },    // an MTU that is not a multiple of 16
		{ 1500, 1420, 1500 }, // longer than the MTU: never shortened
	};
	for (const auto &c : cases)
		EXPECT_EQ(sg_wire_padded_len(c.len, c.mtu), c.want)
			<< "len " << c.len << " mtu " << c.mtu;
}

TEST(WirePadding, LengthsNearSizeMaxDoNotWrap)
{
	// Rounding a len near SIZE_MAX up to 16 wraps past zero: the result must
	// still be the len itself over the MTU, and never shorter below it.
	for (size_t len : { SIZE_MAX, SIZE_MAX - 3, SIZE_MAX - 14 })
		EXPECT_EQ(sg_wire_padded_len(len, 1420), len) << len;
	EXPECT_EQ(sg_wire_padded_len(SIZE_MAX - 3, SIZE_MAX), SIZE_MAX) << "capped at the MTU";
	EXPECT_EQ(sg_wire_padded_len(SIZE_MAX - 14, SIZE_MAX - 1), SIZE_MAX - 1);
	EXPECT_EQ(sg_wire_padded_len(SIZE_MAX - 20, SIZE_MAX), SIZE_MAX - 15);
}

TEST(WirePadding, PropertiesOverAllLengths)
{
	for (size_t mtu : { 1280, 1420, 1421, 9000 }) {
		for (size_t len = 0; len <= mtu + 20; len++) {
			size_t p = sg_wire_padded_len(len, mtu);
			ASSERT_GE(p, len) << len << "/" << mtu;
			ASSERT_LT(p - len, (size_t)SG_MSG_PADDING_MULTIPLE) << len << "/" << mtu;
			ASSERT_LE(p, std::max(len, mtu)) << len << "/" << mtu;
			ASSERT_TRUE(p % SG_MSG_PADDING_MULTIPLE == 0 || p == mtu || p == len)
				<< len << "/" << mtu;
		}
	}
}
