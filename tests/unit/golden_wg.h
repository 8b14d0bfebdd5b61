// A published WireGuard handshake transcript from fixed keys, shared by
// test_noise.cpp and test_cookie.cpp.
//
// Source: the "golden vectors" of the wagyu project (github.com/ausimian/wagyu,
// test/support/golden_vectors.ex, printed by test/interop/vectors.go).  That
// program computes the handshake step by step from section 5.4 of the
// WireGuard paper with golang.org/x/crypto, the primitives wireguard-go uses,
// and shares no code with sixgate.  The private keys are already clamped; the
// initiator's index is 0x11223344, the responder's 0x55667788, the preshared
// key is absent (zero) and mac2 is zero (no cookie).  Each keepalive is the
// first transport message (counter 0, empty payload) its sender sends.
#ifndef SG_TEST_GOLDEN_WG_H
#define SG_TEST_GOLDEN_WG_H

#include <cstdint>
#include <string>
#include <vector>

namespace golden
{
static const char initiator_private[] =
	"30f840b57759f1b03f2881d249d8440535438013bb60c4e3ca186eec5baa6543";
static const char initiator_public[] =
	"6de814225a4cea710ede659be1cae9968700fe06ded3cb48017012fda4a6d72a";
static const char initiator_ephemeral_private[] =
	"182b58c93fad2340de69fb6d0552da2e49076dd4234cebb83bec468a55ec7158";
static const char responder_private[] =
	"d029badf266e850d35eba96e36f9e4715915c2fdc87b4acdddeae3a18f02cb42";
static const char responder_public[] =
	"d3a425474ec8108b84396bcd7e6359173967a977a5f1683cd63d8a48508ad03b";
static const char responder_ephemeral_private[] =
	"e8edd8b94e9e711507abccf605273ce332f67e122a9572e79d2e07b0ba7bd45d";
static const char timestamp[] = "400000006553f10a05000000";
static const char initiation[] =
	"01000000443322116753afd63220b4bc669fc51be6a98c4ca498dc9f07cfa599ccb1ab60585ebf26ff4daeda12"
	"10129a7ae289f2"
	"e08f2d67ed6b3a29d9036cb70c1fefb746ef68122d380bc41954fe0663c66a116b36156f32eac6f967e7188dc0"
	"5c671220d9bcb2"
	"4061d5e7461c776abe65f75912946c06a2130e38f001eeef43fca8f100000000000000000000000000000000";
static const char response[] =
	"0200000088776655443322119fecf3a3b59f4db692fc60bd80be4db76e002477fea089cf63780509e3b0fd01bb"
	"bc7e06808d05e4"
	"a8c65bd79edc09e52d38a7e43a219f4ff72f6cc2b7f930c600000000000000000000000000000000";
static const char initiator_keepalive[] =
	"04000000887766550000000000000000c4bfa7e570337f89d91edf4828f132e4";
static const char responder_keepalive[] =
	"04000000443322110000000000000000885cbca697398d78d5f38da2cb2c92dc";
static const uint32_t initiator_index = 0x11223344;
static const uint32_t responder_index = 0x55667788;

static inline std::vector<uint8_t> bytes(const char *hex)
{
	std::vector<uint8_t> out;
	std::string s(hex);
	for (size_t i = 0; i + 1 < s.size(); i += 2)
		out.push_back((uint8_t)std::stoul(s.substr(i, 2), nullptr, 16));
	return out;
}

static inline std::string hex(const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	std::string s;
	for (size_t i = 0; i < n; i++) {
		s += d[p[i] >> 4];
		s += d[p[i] & 15];
	}
	return s;
}
} // namespace golden

#endif
