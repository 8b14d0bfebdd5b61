// Unit tests for lib/allowedips: the cryptokey routing trie.  Hand-made cases
// in the spirit of the Linux driver's selftest, then the trie checked against
// a deliberately naive reference (a linear scan for the longest match) on
// thousands of random prefixes, and lookups racing a writer.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

extern "C" {
#include "lib/allowedips/sg_allowedips.h"
}

namespace
{

int peer_storage[16];
// Peers 0..7 take part in the random tests, 8..11 are the readers' stable ones.
constexpr int kRandomPeers = 8;
void *const A = &peer_storage[0], *const B = &peer_storage[1], *const C = &peer_storage[2],
	    *const D = &peer_storage[3], *const E = &peer_storage[4], *const F = &peer_storage[5],
	    *const G = &peer_storage[6], *const H = &peer_storage[7];

// An empty cache of 2^bits entries (free() it).
sg_allowedips_cache *new_cache(unsigned bits)
{
	auto *c = static_cast<sg_allowedips_cache *>(calloc(1, sg_allowedips_cache_size(bits)));
	if (c != nullptr)
		sg_allowedips_cache_init(c, bits);
	return c;
}

struct Addr {
	int family;
	uint8_t b[16];
};

Addr v4(const char *s)
{
	Addr a = { AF_INET, {} };
	EXPECT_EQ(inet_pton(AF_INET, s, a.b), 1) << s;
	return a;
}

Addr v6(const char *s)
{
	Addr a = { AF_INET6, {} };
	EXPECT_EQ(inet_pton(AF_INET6, s, a.b), 1) << s;
	return a;
}

Addr any(const char *s)
{
	return strchr(s, ':') ? v6(s) : v4(s);
}

class AllowedIps : public ::testing::Test
{
      protected:
	sg_allowedips *t = nullptr;

	void SetUp() override
	{
		t = sg_allowedips_create(nullptr, nullptr);
		ASSERT_NE(t, nullptr);
	}
	void TearDown() override
	{
		sg_allowedips_destroy(t);
	}
	void insert(void *peer, const char *addr, uint8_t cidr)
	{
		Addr a = any(addr);
		ASSERT_EQ(sg_allowedips_insert(t, a.family, a.b, cidr, peer), 0)
			<< addr << "/" << (int)cidr;
	}
	void *lookup(const char *addr)
	{
		Addr a = any(addr);
		return sg_allowedips_lookup(t, a.family, a.b);
	}
};

TEST_F(AllowedIps, OverlappingIpv4PrefixesPickTheLongest)
{
	insert(A, "192.168.4.0", 24);
	insert(B, "192.168.4.4", 32);
	insert(C, "192.168.0.0", 16);
	insert(D, "192.95.5.64", 27);
	// The same /27 given with host bits set replaces D's entry.
	insert(C, "192.95.5.65", 27);
	insert(E, "0.0.0.0", 0);
	insert(G, "64.15.112.0", 20);
	insert(H, "64.15.123.211", 25);
	insert(A, "10.0.0.0", 25);
	insert(B, "10.0.0.128", 25);
	insert(A, "10.1.0.0", 30);
	insert(B, "10.1.0.4", 30);
	insert(C, "10.1.0.8", 29);
	insert(D, "10.1.0.16", 29);

	EXPECT_EQ(lookup("192.168.4.20"), A);
	EXPECT_EQ(lookup("192.168.4.0"), A);
	EXPECT_EQ(lookup("192.168.4.4"), B);
	EXPECT_EQ(lookup("192.168.200.182"), C);
	EXPECT_EQ(lookup("192.95.5.68"), C);
	EXPECT_EQ(lookup("192.95.5.96"), E);
	EXPECT_EQ(lookup("64.15.116.26"), G);
	EXPECT_EQ(lookup("64.15.127.3"), G);
	EXPECT_EQ(lookup("64.15.123.1"), G);
	EXPECT_EQ(lookup("64.15.123.128"), H);
	EXPECT_EQ(lookup("64.15.123.129"), H);
	EXPECT_EQ(lookup("10.0.0.52"), A);
	EXPECT_EQ(lookup("10.0.0.220"), B);
	EXPECT_EQ(lookup("10.1.0.2"), A);
	EXPECT_EQ(lookup("10.1.0.6"), B);
	EXPECT_EQ(lookup("10.1.0.10"), C);
	EXPECT_EQ(lookup("10.1.0.20"), D);
	EXPECT_EQ(lookup("10.1.0.24"), E);
	EXPECT_EQ(sg_allowedips_count(t), 13u);
	EXPECT_EQ(sg_allowedips_count_peer(t, D), 1u);
}

TEST_F(AllowedIps, OverlappingIpv6PrefixesPickTheLongest)
{
	insert(D, "2607:5300:6000:6b00::c05f:543", 128);
	insert(C, "2607:5300:6000:6b00::", 64);
	insert(E, "::", 0);
	// A second /0 replaces the first.
	insert(F, "::", 0);
	insert(G, "2404:6800::", 32);
	insert(H, "2404:6800:4004:800:dead:beef:dead:beef", 64);
	insert(A, "2404:6800:4004:800:dead:beef:dead:beef", 128);
	insert(C, "2444:6800:40e4:800:deae:beef:def:beef", 128);
	insert(B, "2444:6800:f0e4:800:eeae:beef::", 98);

	EXPECT_EQ(lookup("2607:5300:6000:6b00::c05f:543"), D);
	EXPECT_EQ(lookup("2607:5300:6000:6b00::c02e:1ee"), C);
	EXPECT_EQ(lookup("2607:5300:6000:6b01::"), F);
	EXPECT_EQ(lookup("2404:6800:4004:806::1006"), G);
	EXPECT_EQ(lookup("2404:6800:4004:806:0:1234:0:5678"), G);
	EXPECT_EQ(lookup("2404:67ff:4004:806:0:1234:0:5678"), F);
	EXPECT_EQ(lookup("2404:6801:4004:806:0:1234:0:5678"), F);
	EXPECT_EQ(lookup("2404:6800:4004:800:0:1234:0:5678"), H);
	EXPECT_EQ(lookup("2404:6800:4004:800::"), H);
	EXPECT_EQ(lookup("2404:6800:4004:800:1010:1010:1010:1010"), H);
	EXPECT_EQ(lookup("2404:6800:4004:800:dead:beef:dead:beef"), A);
	EXPECT_EQ(lookup("2444:6800:40e4:800:deae:beef:def:beef"), C);
	EXPECT_EQ(lookup("2444:6800:40e4:800:deae:beef:def:beee"), F);
	EXPECT_EQ(lookup("2444:6800:f0e4:800:eeae:beef:3fff:ffff"), B);
	EXPECT_EQ(lookup("2444:6800:f0e4:800:eeae:beef:4000:0"), F);
	EXPECT_EQ(sg_allowedips_count(t), 8u);
	EXPECT_EQ(sg_allowedips_count_peer(t, E), 0u);
}

TEST_F(AllowedIps, FamiliesAreSeparate)
{
	insert(A, "0.0.0.0", 0);
	EXPECT_EQ(lookup("::"), nullptr);
	EXPECT_EQ(lookup("::ffff:1.2.3.4"), nullptr);
	insert(B, "::", 0);
	EXPECT_EQ(lookup("1.2.3.4"), A);
	EXPECT_EQ(lookup("fdaa::1"), B);
}

TEST_F(AllowedIps, HostRoutesAndTheWholeSpace)
{
	insert(A, "fdaa:0:18:a7b:2::2", 128);
	insert(B, "198.18.0.7", 32);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::2"), A);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::3"), nullptr);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::"), nullptr);
	EXPECT_EQ(lookup("198.18.0.7"), B);
	EXPECT_EQ(lookup("198.18.0.6"), nullptr);
	EXPECT_EQ(lookup("198.18.0.8"), nullptr);

	insert(C, "::", 0);
	insert(D, "0.0.0.0", 0);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::3"), C);
	EXPECT_EQ(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), C);
	EXPECT_EQ(lookup("255.255.255.255"), D);
	EXPECT_EQ(lookup("198.18.0.7"), B);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::2"), A);

	// Both ends of the space as host routes.
	insert(E, "::", 128);
	insert(F, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128);
	insert(E, "0.0.0.0", 32);
	insert(F, "255.255.255.255", 32);
	EXPECT_EQ(lookup("::"), E);
	EXPECT_EQ(lookup("::1"), C);
	EXPECT_EQ(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), F);
	EXPECT_EQ(lookup("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), C);
	EXPECT_EQ(lookup("0.0.0.0"), E);
	EXPECT_EQ(lookup("255.255.255.255"), F);
	EXPECT_EQ(lookup("255.255.255.254"), D);
}

TEST_F(AllowedIps, SourceCheckMatchesOnlyTheOwningPeer)
{
	// The ingress use: an inner source is allowed only when the longest
	// match is the very peer the packet was decrypted for.
	insert(A, "fdaa:0:18:a7b:2::", 120);
	insert(B, "fdaa:0:18:a7b:2::2", 128);
	Addr s1 = v6("fdaa:0:18:a7b:2::9"), s2 = v6("fdaa:0:18:a7b:2::2"),
	     s3 = v6("fdaa:0:18:a7b:3::1");
	EXPECT_TRUE(sg_allowedips_lookup(t, AF_INET6, s1.b) == A);
	EXPECT_FALSE(sg_allowedips_lookup(t, AF_INET6, s2.b) == A);
	EXPECT_TRUE(sg_allowedips_lookup(t, AF_INET6, s2.b) == B);
	EXPECT_FALSE(sg_allowedips_lookup(t, AF_INET6, s3.b) == A);
}

TEST_F(AllowedIps, CachedLookupFollowsEveryChange)
{
	// A worker's cache must never answer from before a change: after each
	// kind of change (a longer prefix, a replaced prefix, a removed one, a
	// peer removed) the cached answer is the trie's, for every address.
	auto *c = new_cache(SG_ALLOWEDIPS_CACHE_BITS_MIN);
	ASSERT_NE(c, nullptr);
	const char *addrs[] = { "fdaa:0:18::1", "fdaa:0:18:a7b:2::9", "fdaa:0:18:a7b:2::2",
				"fdaa:0:19::1", "::" };
	auto agree = [&](const char *step) {
		for (int round = 0; round < 2; round++) // the miss, then the hit
			for (const char *s : addrs) {
				Addr a = v6(s);
				EXPECT_EQ(sg_allowedips_lookup_cached(t, c, a.b),
					  sg_allowedips_lookup(t, AF_INET6, a.b))
					<< step << ": " << s << " round " << round;
			}
	};
	agree("empty");
	insert(A, "fdaa:0:18::", 48);
	agree("a /48");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, v6("fdaa:0:18:a7b:2::2").b), A);
	insert(B, "fdaa:0:18:a7b:2::2", 128);
	agree("a longer /128");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, v6("fdaa:0:18:a7b:2::2").b), B);
	insert(C, "fdaa:0:18::", 48);
	agree("the /48 replaced");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, v6("fdaa:0:18::1").b), C);
	Addr p128 = v6("fdaa:0:18:a7b:2::2");
	ASSERT_EQ(sg_allowedips_remove(t, AF_INET6, p128.b, 128, B), 0);
	agree("the /128 removed");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, p128.b), C);
	// A failed remove changes nothing, and nothing goes stale.
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p128.b, 128, B), -ENOENT);
	agree("a failed remove");
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, C), 1u);
	agree("the peer removed");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, v6("fdaa:0:18::1").b), nullptr);
	insert(D, "::", 0);
	agree("the whole space");
	EXPECT_EQ(sg_allowedips_lookup_cached(t, c, v6("fdaa:0:18::1").b), D);
	free(c);
}

TEST(AllowedIpsRandom, CachedLookupMatchesTheTrieUnderChurn)
{
	// Random inserts and removes among few addresses (so that the cache
	// hits, and collides), every cached answer checked against the trie.
	sg_allowedips *t = sg_allowedips_create(nullptr, nullptr);
	auto *c = new_cache(SG_ALLOWEDIPS_CACHE_BITS_MIN);
	ASSERT_NE(t, nullptr);
	ASSERT_NE(c, nullptr);
	std::mt19937 rng(11);
	uint8_t base[16] = { 0xfd, 0xaa, 0, 0x18 };
	unsigned bad = 0;
	for (int step = 0; step < 20000; step++) {
		uint8_t a[16];
		memcpy(a, base, 16);
		a[15] = (uint8_t)(rng() % 64);
		a[14] = (uint8_t)(rng() % 2);
		uint8_t cidr = (uint8_t)(112 + rng() % 17);
		void *peer = &peer_storage[rng() % kRandomPeers];
		switch (rng() % 8) {
		case 0:
			sg_allowedips_insert(t, AF_INET6, a, cidr, peer);
			break;
		case 1:
			sg_allowedips_remove(t, AF_INET6, a, cidr, peer);
			break;
		case 2:
			if (rng() % 16 == 0)
				sg_allowedips_remove_by_peer(t, peer);
			break;
		default:
			break;
		}
		for (int k = 0; k < 4; k++) {
			a[15] = (uint8_t)(rng() % 64);
			bad += sg_allowedips_lookup_cached(t, c, a) !=
			       sg_allowedips_lookup(t, AF_INET6, a);
		}
	}
	EXPECT_EQ(bad, 0u);
	free(c);
	sg_allowedips_destroy(t);
}

TEST(AllowedIpsCache, SizedForItsAddresses)
{
	// At least two entries an address, within the bounds; a power of two.
	EXPECT_EQ(sg_allowedips_cache_bits(0), (unsigned)SG_ALLOWEDIPS_CACHE_BITS_MIN);
	EXPECT_EQ(sg_allowedips_cache_bits(8192), 14u);
	EXPECT_EQ(sg_allowedips_cache_bits(8193), 15u);
	EXPECT_EQ(sg_allowedips_cache_bits(10000), 15u);
	EXPECT_EQ(sg_allowedips_cache_bits(50000), 17u);
	EXPECT_EQ(sg_allowedips_cache_bits(100000), 18u);
	EXPECT_EQ(sg_allowedips_cache_bits(4000000000u), (unsigned)SG_ALLOWEDIPS_CACHE_BITS_MAX);
	EXPECT_EQ(sg_allowedips_cache_size(15),
		  sizeof(sg_allowedips_cache) + 32768 * sizeof(sg_allowedips_cache_entry));
	EXPECT_EQ(sizeof(sg_allowedips_cache) % 32, 0u);
}

TEST(AllowedIpsCache, EveryAddressOfABigCacheHitsAfterItsMiss)
{
	// 20,000 host routes through a cache sized for them: each address's
	// second lookup is answered by its own entry (the slot holds it), and
	// every answer is the trie's.
	sg_allowedips *t = sg_allowedips_create(nullptr, nullptr);
	const unsigned n = 20000, bits = sg_allowedips_cache_bits(n);
	auto *c = new_cache(bits);
	ASSERT_NE(t, nullptr);
	ASSERT_NE(c, nullptr);
	EXPECT_EQ(bits, 16u);
	auto addr = [](unsigned i, uint8_t a[16]) {
		uint8_t base[16] = { 0xfd, 0xaa, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
		memcpy(a, base, 16);
		a[12] = (uint8_t)(i >> 16);
		a[13] = (uint8_t)(i >> 8);
		a[14] = (uint8_t)i;
		a[15] = 1;
	};
	for (unsigned i = 0; i < n; i++) {
		uint8_t a[16];
		addr(i, a);
		ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, a, 128, &peer_storage[i % 16]), 0);
	}
	unsigned bad = 0, held = 0;
	for (unsigned i = 0; i < n; i++) {
		uint8_t a[16];
		addr(i, a);
		bad += sg_allowedips_lookup_cached(t, c, a) != &peer_storage[i % 16];
		const auto *e = static_cast<const sg_allowedips_cache_entry *>(
			sg_allowedips_cache_slot(c, a));
		held += e->peer == &peer_storage[i % 16] && memcmp(e->addr, a, 16) == 0;
		EXPECT_GE((const char *)e, (const char *)c->e);
		EXPECT_LT((const char *)e, (const char *)c + sg_allowedips_cache_size(bits));
	}
	EXPECT_EQ(bad, 0u);
	EXPECT_EQ(held, n);
	free(c);
	sg_allowedips_destroy(t);
}

TEST_F(AllowedIps, RemoveByPeerLeavesNothingOfThatPeer)
{
	insert(A, "1.0.0.0", 32);
	insert(A, "64.0.0.0", 32);
	insert(A, "128.0.0.0", 32);
	insert(A, "192.0.0.0", 32);
	insert(A, "255.0.0.0", 32);
	insert(B, "64.0.0.0", 8);
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, A), 5u);
	EXPECT_EQ(lookup("1.0.0.0"), nullptr);
	EXPECT_EQ(lookup("64.0.0.0"), B);
	EXPECT_EQ(lookup("128.0.0.0"), nullptr);
	EXPECT_EQ(lookup("192.0.0.0"), nullptr);
	EXPECT_EQ(lookup("255.0.0.0"), nullptr);
	EXPECT_EQ(sg_allowedips_count(t), 1u);
	EXPECT_EQ(sg_allowedips_count_peer(t, A), 0u);
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, A), 0u);

	insert(C, "192.168.0.0", 16);
	insert(C, "192.168.0.0", 24);
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, C), 2u);
	EXPECT_EQ(lookup("192.168.0.1"), nullptr);
	EXPECT_EQ(sg_allowedips_count(t), 1u);

	// The table is still fully usable after the removals.
	insert(A, "192.168.0.0", 24);
	EXPECT_EQ(lookup("192.168.0.1"), A);
	EXPECT_EQ(lookup("64.1.2.3"), B);
}

TEST_F(AllowedIps, ReplacingAPrefixMovesItBetweenPeers)
{
	insert(A, "fdaa:0:18::", 48);
	insert(B, "fdaa:0:18::", 48);
	EXPECT_EQ(lookup("fdaa:0:18::1"), B);
	EXPECT_EQ(sg_allowedips_count(t), 1u);
	EXPECT_EQ(sg_allowedips_count_peer(t, A), 0u);
	EXPECT_EQ(sg_allowedips_count_peer(t, B), 1u);
	// Removing A must not touch the prefix that now belongs to B.
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, A), 0u);
	EXPECT_EQ(lookup("fdaa:0:18::1"), B);
}

TEST_F(AllowedIps, RemoveOnePrefixOnlyForItsOwner)
{
	insert(A, "fdaa:0:18::", 48);
	insert(A, "fdaa:0:18:a7b:2::", 120);
	insert(B, "fdaa:0:18:a7b:2::2", 128);
	Addr p = v6("fdaa:0:18:a7b:2::");
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p.b, 120, B), -ENOENT);
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p.b, 119, A), -ENOENT);
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p.b, 121, A), -ENOENT);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::9"), A);
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p.b, 120, A), 0);
	EXPECT_EQ(sg_allowedips_remove(t, AF_INET6, p.b, 120, A), -ENOENT);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::9"), A); // now through the /48
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::2"), B);
	EXPECT_EQ(sg_allowedips_count(t), 2u);
	EXPECT_EQ(sg_allowedips_count_peer(t, A), 1u);
}

TEST_F(AllowedIps, RefusesBadArguments)
{
	Addr a4 = v4("10.0.0.0"), a6 = v6("fdaa::");
	EXPECT_EQ(sg_allowedips_insert(t, AF_INET, a4.b, 33, A), -EINVAL);
	EXPECT_EQ(sg_allowedips_insert(t, AF_INET6, a6.b, 129, A), -EINVAL);
	EXPECT_EQ(sg_allowedips_insert(t, AF_INET6, a6.b, 64, nullptr), -EINVAL);
	EXPECT_EQ(sg_allowedips_insert(t, AF_UNIX, a6.b, 64, A), -EINVAL);
	EXPECT_EQ(sg_allowedips_count(t), 0u);
	EXPECT_EQ(sg_allowedips_lookup(t, AF_UNIX, a6.b), nullptr);
}

struct Listed {
	std::vector<std::tuple<int, std::vector<uint8_t>, int>> items;
};

int collect(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	auto *l = static_cast<Listed *>(arg);
	size_t n = family == AF_INET ? 4 : 16;
	l->items.emplace_back(family, std::vector<uint8_t>(addr, addr + n), cidr);
	return 0;
}

int stop_after_one(void *arg, int, const uint8_t *, uint8_t)
{
	++*static_cast<int *>(arg);
	return 7;
}

TEST_F(AllowedIps, WalkListsAPeersPrefixesInOrderAndMasked)
{
	insert(A, "fdaa:0:18:a7b:2::2", 128);
	insert(B, "fdaa:0:18::", 48);
	insert(A, "10.9.8.7", 24);
	insert(A, "fdaa:0:18:a7b:2::ff", 120);
	Listed l;
	EXPECT_EQ(sg_allowedips_walk_peer(t, A, collect, &l), 0);
	ASSERT_EQ(l.items.size(), 3u);
	Addr e0 = v6("fdaa:0:18:a7b:2::2"), e1 = v4("10.9.8.0"), e2 = v6("fdaa:0:18:a7b:2::");
	EXPECT_EQ(l.items[0],
		  std::make_tuple(AF_INET6, std::vector<uint8_t>(e0.b, e0.b + 16), 128));
	EXPECT_EQ(l.items[1], std::make_tuple(AF_INET, std::vector<uint8_t>(e1.b, e1.b + 4), 24));
	EXPECT_EQ(l.items[2],
		  std::make_tuple(AF_INET6, std::vector<uint8_t>(e2.b, e2.b + 16), 120));

	int calls = 0;
	EXPECT_EQ(sg_allowedips_walk_peer(t, A, stop_after_one, &calls), 7);
	EXPECT_EQ(calls, 1);
	Listed none;
	EXPECT_EQ(sg_allowedips_walk_peer(t, C, collect, &none), 0);
	EXPECT_TRUE(none.items.empty());
}

TEST_F(AllowedIps, DeepChainsInsertAndFreeCleanly)
{
	// Nested prefixes down to every depth, both halves of the address:
	// the trie gets as deep as it can, and destroy must free it all.
	for (int i = 0; i < 64; ++i) {
		uint8_t ip[16];
		uint64_t part = ~0ull << i;
		memset(ip, 0xff, 8);
		for (int b = 0; b < 8; b++)
			ip[8 + b] = (uint8_t)(part >> (56 - 8 * b));
		ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, ip, 128, A), 0);
		for (int b = 0; b < 8; b++)
			ip[b] = (uint8_t)(part >> (56 - 8 * b));
		memset(ip + 8, 0, 8);
		ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, ip, 128, A), 0);
	}
	uint8_t zero[16] = {};
	ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, zero, 128, A), 0);
	EXPECT_EQ(sg_allowedips_lookup(t, AF_INET6, zero), A);
	// 2 x 64 distinct addresses, and ::.
	EXPECT_EQ(sg_allowedips_count(t), 129u);
}

// ---------------------------------------------------------------------------
// Randomised comparison against a naive reference.

struct RefEntry {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	void *peer;
};

bool ref_contains(const RefEntry &e, const uint8_t *addr)
{
	int full = e.cidr / 8, rest = e.cidr % 8;
	if (memcmp(e.addr, addr, full))
		return false;
	uint8_t m = (uint8_t)(0xff00 >> rest);
	return !rest || (e.addr[full] & m) == (addr[full] & m);
}

void ref_mask(uint8_t *addr, int cidr, int bytes)
{
	for (int bit = cidr; bit < bytes * 8; bit++)
		addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
}

struct Reference {
	std::vector<RefEntry> v;

	void insert(int family, const uint8_t *addr, uint8_t cidr, void *peer)
	{
		RefEntry e = { family, {}, cidr, peer };
		int bytes = family == AF_INET ? 4 : 16;
		memcpy(e.addr, addr, bytes);
		ref_mask(e.addr, cidr, bytes);
		for (auto &x : v) {
			if (x.family == family && x.cidr == cidr && !memcmp(x.addr, e.addr, 16)) {
				x.peer = peer;
				return;
			}
		}
		v.push_back(e);
	}
	const RefEntry *best(int family, const uint8_t *addr) const
	{
		const RefEntry *best = nullptr;
		for (auto &x : v)
			if (x.family == family && ref_contains(x, addr) &&
			    (!best || x.cidr > best->cidr))
				best = &x;
		return best;
	}
	size_t remove_by_peer(void *peer)
	{
		size_t before = v.size();
		v.erase(std::remove_if(v.begin(), v.end(),
				       [&](const RefEntry &x) { return x.peer == peer; }),
			v.end());
		return before - v.size();
	}
	size_t count_peer(void *peer) const
	{
		return std::count_if(v.begin(), v.end(),
				     [&](const RefEntry &x) { return x.peer == peer; });
	}
};

class Random
{
      public:
	explicit Random(uint64_t seed) : rng(seed)
	{
		for (auto &b : bases)
			for (auto &x : b)
				x = (uint8_t)rng();
	}
	uint64_t next()
	{
		return rng();
	}
	// Addresses share one of a few roots up to a random depth, so that
	// prefixes overlap and nest often, as real allowed IPs do.
	void address(uint8_t *out, int bytes)
	{
		const auto &base = bases[next() % bases.size()];
		int keep = (int)(next() % (bytes * 8 + 1));
		memcpy(out, base.data(), bytes);
		for (int bit = keep; bit < bytes * 8; bit++) {
			uint8_t m = (uint8_t)(0x80 >> (bit % 8));
			out[bit / 8] = (uint8_t)((out[bit / 8] & ~m) | ((next() & 1) ? m : 0));
		}
	}
	uint8_t cidr(int bytes)
	{
		// Favour long prefixes, keep some short ones and /0.
		int bits = bytes * 8;
		if (next() % 8 == 0)
			return (uint8_t)(next() % (bits + 1));
		return (uint8_t)(bits - next() % (bits / 4 + 1));
	}

      private:
	std::mt19937_64 rng;
	std::array<std::array<uint8_t, 16>, 4> bases;
};

void compare_random(int family, uint64_t seed)
{
	SCOPED_TRACE(testing::Message() << "family " << family << " seed " << seed);
	const int bytes = family == AF_INET ? 4 : 16;
	const int n_prefixes = 4000, n_lookups = 20000;
	Random rnd(seed);
	Reference ref;
	sg_allowedips *t = sg_allowedips_create(nullptr, nullptr);
	ASSERT_NE(t, nullptr);

	for (int i = 0; i < n_prefixes; i++) {
		uint8_t a[16] = {};
		rnd.address(a, bytes);
		uint8_t cidr = rnd.cidr(bytes);
		void *peer = &peer_storage[rnd.next() % kRandomPeers];
		ASSERT_EQ(sg_allowedips_insert(t, family, a, cidr, peer), 0);
		ref.insert(family, a, cidr, peer);
	}
	EXPECT_EQ(sg_allowedips_count(t), ref.v.size());

	auto check_lookups = [&](int n) {
		int mismatches = 0, hits = 0;
		std::set<int> depths;
		for (int i = 0; i < n && mismatches < 10; i++) {
			uint8_t a[16] = {};
			if (i % 2 && !ref.v.empty()) {
				// A point inside a known prefix.
				const RefEntry &e = ref.v[rnd.next() % ref.v.size()];
				rnd.address(a, bytes);
				for (int bit = 0; bit < e.cidr; bit++) {
					uint8_t m = (uint8_t)(0x80 >> (bit % 8));
					a[bit / 8] = (uint8_t)((a[bit / 8] & ~m) |
							       (e.addr[bit / 8] & m));
				}
			} else {
				rnd.address(a, bytes);
			}
			const RefEntry *best = ref.best(family, a);
			void *want = best ? best->peer : nullptr;
			void *got = sg_allowedips_lookup(t, family, a);
			hits += want != nullptr;
			if (best)
				depths.insert(best->cidr);
			if (want != got) {
				char s[64];
				inet_ntop(family, a, s, sizeof(s));
				ADD_FAILURE()
					<< "lookup " << s << " got " << got << " want " << want;
				mismatches++;
			}
		}
		// The data must exercise many depths of the trie, not just a few.
		EXPECT_GT(hits, n / 4);
		EXPECT_GT(depths.size(), (size_t)bytes);
	};
	check_lookups(n_lookups);

	// Walks agree with the reference, peer by peer.
	for (int p = 0; p < kRandomPeers; p++) {
		Listed l;
		sg_allowedips_walk_peer(t, &peer_storage[p], collect, &l);
		std::multiset<std::pair<std::vector<uint8_t>, int>> got, want;
		for (auto &it : l.items)
			got.emplace(std::get<1>(it), std::get<2>(it));
		for (auto &x : ref.v)
			if (x.peer == &peer_storage[p])
				want.emplace(std::vector<uint8_t>(x.addr, x.addr + bytes), x.cidr);
		EXPECT_EQ(got, want) << "peer " << p;
		EXPECT_EQ(sg_allowedips_count_peer(t, &peer_storage[p]), want.size());
	}

	// Remove some peers entirely, and single prefixes of the others.
	for (int p = 0; p < kRandomPeers; p += 3)
		EXPECT_EQ(sg_allowedips_remove_by_peer(t, &peer_storage[p]),
			  ref.remove_by_peer(&peer_storage[p]));
	for (int i = 0; i < 300 && !ref.v.empty(); i++) {
		size_t k = rnd.next() % ref.v.size();
		RefEntry e = ref.v[k];
		ASSERT_EQ(sg_allowedips_remove(t, family, e.addr, e.cidr, e.peer), 0);
		ref.v.erase(ref.v.begin() + (long)k);
	}
	EXPECT_EQ(sg_allowedips_count(t), ref.v.size());
	check_lookups(n_lookups);

	// Re-insert over the holes, then compare once more.
	for (int i = 0; i < n_prefixes / 4; i++) {
		uint8_t a[16] = {};
		rnd.address(a, bytes);
		uint8_t cidr = rnd.cidr(bytes);
		void *peer = &peer_storage[rnd.next() % kRandomPeers];
		ASSERT_EQ(sg_allowedips_insert(t, family, a, cidr, peer), 0);
		ref.insert(family, a, cidr, peer);
	}
	EXPECT_EQ(sg_allowedips_count(t), ref.v.size());
	check_lookups(n_lookups);

	// Emptying the table leaves nothing to find.
	for (int p = 0; p < kRandomPeers; p++)
		sg_allowedips_remove_by_peer(t, &peer_storage[p]);
	EXPECT_EQ(sg_allowedips_count(t), 0u);
	ref.v.clear();
	uint8_t a[16] = {};
	for (int i = 0; i < 100; i++) {
		rnd.address(a, bytes);
		EXPECT_EQ(sg_allowedips_lookup(t, family, a), nullptr);
	}
	sg_allowedips_destroy(t);
}

TEST(AllowedIpsRandom, Ipv4MatchesNaiveReference)
{
	for (uint64_t seed : { 1, 2 })
		compare_random(AF_INET, seed);
}

TEST(AllowedIpsRandom, Ipv6MatchesNaiveReference)
{
	for (uint64_t seed : { 11, 12 })
		compare_random(AF_INET6, seed);
}

// ---------------------------------------------------------------------------
// The grace-period contract.

struct Retired {
	std::vector<void *> nodes;
};

void retire_to_list(void *ctx, void *node)
{
	static_cast<Retired *>(ctx)->nodes.push_back(node);
}

TEST(AllowedIpsRcu, UnlinkedNodesGoToTheRetireCallbackOnce)
{
	Retired r;
	sg_allowedips *t = sg_allowedips_create(retire_to_list, &r);
	ASSERT_NE(t, nullptr);
	Random rnd(99);
	for (int i = 0; i < 1000; i++) {
		uint8_t a[16];
		rnd.address(a, 16);
		ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, a, 128, i % 2 ? A : B), 0);
	}
	size_t n = sg_allowedips_count(t);
	EXPECT_TRUE(r.nodes.empty()); // inserting never retires anything
	EXPECT_EQ(sg_allowedips_remove_by_peer(t, A) + sg_allowedips_remove_by_peer(t, B), n);
	// Every prefix node, and the branch nodes between them, was handed over
	// exactly once, and not freed by the table (ASan would notice).
	std::set<void *> uniq(r.nodes.begin(), r.nodes.end());
	EXPECT_EQ(uniq.size(), r.nodes.size());
	EXPECT_GE(r.nodes.size(), n);
	sg_allowedips_destroy(t);
	for (void *node : r.nodes)
		sg_allowedips_node_free(node);
}

TEST(AllowedIpsRcu, LookupsStayCorrectWhileAWriterChurns)
{
	// Readers check probes covered only by stable prefixes while the writer
	// inserts and removes other prefixes around them, splitting and merging
	// the nodes on the readers' paths.  Retired nodes are freed only once the
	// readers have stopped: that is the grace period.
	Retired r;
	sg_allowedips *t = sg_allowedips_create(retire_to_list, &r);
	ASSERT_NE(t, nullptr);
	Random rnd(7);
	std::vector<Addr> probes;
	std::vector<void *> owners;
	for (int i = 0; i < 64; i++) {
		Addr p = { AF_INET6, {} };
		rnd.address(p.b, 16);
		void *peer = &peer_storage[8 + i % 4];
		if (sg_allowedips_lookup(t, AF_INET6, p.b))
			continue;
		ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, p.b, 128, peer), 0);
		probes.push_back(p);
		owners.push_back(peer);
	}
	std::atomic<bool> stop{ false };
	std::atomic<long> wrong{ 0 }, done{ 0 };
	auto reader = [&] {
		while (!stop.load(std::memory_order_relaxed)) {
			for (size_t i = 0; i < probes.size(); i++)
				if (sg_allowedips_lookup(t, AF_INET6, probes[i].b) != owners[i])
					wrong++;
			done++;
		}
	};
	std::thread r1(reader), r2(reader);
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			uint8_t a[16];
			rnd.address(a, 16);
			// Longer than /64 and not covering any probe.
			uint8_t cidr = (uint8_t)(65 + rnd.next() % 63);
			RefEntry e = { AF_INET6, {}, cidr, nullptr };
			memcpy(e.addr, a, 16);
			bool covers = false;
			for (auto &p : probes)
				covers |= ref_contains(e, p.b);
			if (covers)
				continue;
			ASSERT_EQ(sg_allowedips_insert(t, AF_INET6, a, cidr, round % 2 ? C : D), 0);
		}
		sg_allowedips_remove_by_peer(t, round % 2 ? D : C);
	}
	while (done.load() < 20)
		std::this_thread::yield();
	stop = true;
	r1.join();
	r2.join();
	EXPECT_EQ(wrong.load(), 0);
	EXPECT_FALSE(r.nodes.empty());
	sg_allowedips_destroy(t);
	for (void *node : r.nodes)
		sg_allowedips_node_free(node);
}

} // namespace
