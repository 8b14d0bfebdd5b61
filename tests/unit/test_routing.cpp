// Unit tests for lib/routing: the 6PN route table over rte_fib6 and the 6PN
// address helpers.  The table lives in DPDK memory, so a global test
// environment brings EAL up (no hugepages, no PCI, a file prefix of our own)
// and tears it down, removing its runtime directory, at the end.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <rte_eal.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

extern "C" {
#include "lib/common/sg_prefix.h"
#include "lib/routing/sg_routing.h"
}

#include "tests/unit/sg_eal_gtest.h"

namespace
{

::testing::Environment *const eal_env =
	::testing::AddGlobalTestEnvironment(new sgut::Eal("routing", false));

struct Ip6 {
	uint8_t b[16];
};

Ip6 ip(const char *s)
{
	Ip6 a = {};
	EXPECT_EQ(inet_pton(AF_INET6, s, a.b), 1) << s;
	return a;
}

int table_seq;

class Routing : public ::testing::Test
{
      protected:
	sg_routing *r = nullptr;

	void SetUp() override
	{
		std::string name = "ut" + std::to_string(table_seq++);
		sg_routing_conf conf = {};
		conf.name = name.c_str();
		conf.socket_id = SOCKET_ID_ANY;
		conf.max_routes = 1024;
		conf.num_tbl8 = 1024;
		ASSERT_EQ(sg_routing_create(&r, &conf), 0);
	}
	void TearDown() override
	{
		sg_routing_free(r);
	}
	int add(const char *prefix, uint8_t depth, uint32_t nh)
	{
		Ip6 p = ip(prefix);
		return sg_routing_add(r, p.b, depth, nh);
	}
	int del(const char *prefix, uint8_t depth)
	{
		Ip6 p = ip(prefix);
		return sg_routing_delete(r, p.b, depth);
	}
	uint32_t lookup(const char *addr)
	{
		Ip6 a = ip(addr);
		return sg_routing_lookup(r, a.b);
	}
};

TEST_F(Routing, MissingRouteGivesNoRoute)
{
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::2"), SG_ROUTING_NO_ROUTE);
	EXPECT_EQ(lookup("::"), SG_ROUTING_NO_ROUTE);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 4), 0);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::2"), SG_ROUTING_NO_ROUTE);
	EXPECT_EQ(lookup("fdaa:0:19:a7b:1::2"), SG_ROUTING_NO_ROUTE);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::2"), 4u);
}

TEST_F(Routing, AddDeleteAndCount)
{
	EXPECT_EQ(sg_routing_count(r), 0u);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 1), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:2::", 112, 2), 0);
	EXPECT_EQ(sg_routing_count(r), 2u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::ffff"), 1u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::1"), 2u);

	uint32_t nh = 0;
	Ip6 p = ip("fdaa:0:18:a7b:2::");
	EXPECT_EQ(sg_routing_get(r, p.b, 112, &nh), 0);
	EXPECT_EQ(nh, 2u);
	EXPECT_EQ(sg_routing_get(r, p.b, 111, &nh), -ENOENT);

	ASSERT_EQ(del("fdaa:0:18:a7b:1::", 112), 0);
	EXPECT_EQ(sg_routing_count(r), 1u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::ffff"), SG_ROUTING_NO_ROUTE);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::1"), 2u);
	EXPECT_EQ(del("fdaa:0:18:a7b:1::", 112), -ENOENT);
	EXPECT_EQ(del("fdaa:0:18:a7b:2::", 120), -ENOENT);
	EXPECT_EQ(sg_routing_count(r), 1u);
}

TEST_F(Routing, ReplacingANextHopKeepsOneRoute)
{
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 1), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 9), 0);
	EXPECT_EQ(sg_routing_count(r), 1u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::7"), 9u);
	// Host bits in the prefix are ignored: this is the same route.
	ASSERT_EQ(add("fdaa:0:18:a7b:1::7", 112, 3), 0);
	EXPECT_EQ(sg_routing_count(r), 1u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::1"), 3u);
}

TEST_F(Routing, LongestPrefixWins)
{
	ASSERT_EQ(add("fdaa:0:18::", 48, 1), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 2), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::3", 128, 3), 0);
	ASSERT_EQ(add("fdaa::", 16, 4), 0);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::3"), 3u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::4"), 2u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:2::4"), 1u);
	EXPECT_EQ(lookup("fdaa:0:19::1"), 4u);
	EXPECT_EQ(lookup("fd00::1"), SG_ROUTING_NO_ROUTE);

	// Taking out the middle prefix exposes the shorter one again.
	ASSERT_EQ(del("fdaa:0:18:a7b:1::", 112), 0);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::4"), 1u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::3"), 3u);
	ASSERT_EQ(del("fdaa:0:18::", 48), 0);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::4"), 4u);

	// A default route catches everything else.
	ASSERT_EQ(add("::", 0, 7), 0);
	EXPECT_EQ(lookup("fd00::1"), 7u);
	EXPECT_EQ(lookup("fdaa:0:18:a7b:1::3"), 3u);
	ASSERT_EQ(del("::", 0), 0);
	EXPECT_EQ(lookup("fd00::1"), SG_ROUTING_NO_ROUTE);
}

TEST_F(Routing, RefusesBadArguments)
{
	EXPECT_EQ(add("fdaa::", 129, 1), -EINVAL);
	EXPECT_EQ(add("fdaa::", 16, SG_ROUTING_NH_MAX + 1), -EINVAL);
	EXPECT_EQ(add("fdaa::", 16, SG_ROUTING_NO_ROUTE), -EINVAL);
	EXPECT_EQ(add("fdaa::", 16, SG_ROUTING_NH_MAX), 0);
	EXPECT_EQ(lookup("fdaa::1"), SG_ROUTING_NH_MAX);
	EXPECT_EQ(sg_routing_count(r), 1u);

	sg_routing *other = nullptr;
	sg_routing_conf conf = {};
	conf.name = "ut-bad";
	conf.socket_id = SOCKET_ID_ANY;
	EXPECT_EQ(sg_routing_create(&other, &conf), -EINVAL); // max_routes 0
	conf.name = nullptr;
	conf.max_routes = 4;
	EXPECT_EQ(sg_routing_create(&other, &conf), -EINVAL);
}

TEST(RoutingLimits, FullTableRefusesNewRoutes)
{
	sg_routing *small = nullptr;
	sg_routing_conf conf = {};
	conf.name = "ut-small";
	conf.socket_id = SOCKET_ID_ANY;
	conf.max_routes = 2;
	conf.num_tbl8 = 64;
	ASSERT_EQ(sg_routing_create(&small, &conf), 0);
	Ip6 a = ip("fdaa:0:18:a7b:1::"), b = ip("fdaa:0:18:a7b:2::"), c = ip("fdaa:0:18:a7b:3::");
	EXPECT_EQ(sg_routing_add(small, a.b, 112, 1), 0);
	EXPECT_EQ(sg_routing_add(small, b.b, 112, 2), 0);
	EXPECT_EQ(sg_routing_add(small, c.b, 112, 3), -ENOSPC);
	EXPECT_EQ(sg_routing_lookup(small, c.b), SG_ROUTING_NO_ROUTE);
	EXPECT_EQ(sg_routing_add(small, b.b, 112, 5), 0); // replacing still works
	EXPECT_EQ(sg_routing_lookup(small, b.b), 5u);
	EXPECT_EQ(sg_routing_count(small), 2u);
	sg_routing_free(small);
}

TEST(RoutingLimits, RoutesThatComeAndGoNeverExhaustTheTable)
{
	// DPDK 22.11's TRIE keeps the tbl8 reservation of deleted long prefixes;
	// the table must recover from that by itself.  64 blocks hold five /112
	// routes at most, and the loop adds and deletes 500 of them.
	sg_routing *r = nullptr;
	sg_routing_conf conf = {};
	conf.name = "ut-churn";
	conf.socket_id = SOCKET_ID_ANY;
	conf.max_routes = 64;
	conf.num_tbl8 = 64;
	ASSERT_EQ(sg_routing_create(&r, &conf), 0);
	Ip6 keep = ip("fdaa:0:18:a7b:1::");
	ASSERT_EQ(sg_routing_add(r, keep.b, 112, 1), 0);
	for (uint32_t i = 0; i < 500; i++) {
		sg_6pn f = { 0x18, 0x0a7b1000 + i, i, 0 };
		Ip6 p;
		sg_6pn_pack(p.b, &f);
		ASSERT_EQ(sg_routing_add(r, p.b, 112, 2 + i % 100), 0) << "cycle " << i;
		ASSERT_EQ(sg_routing_lookup(r, p.b), 2 + i % 100);
		ASSERT_EQ(sg_routing_delete(r, p.b, 112), 0) << "cycle " << i;
		ASSERT_EQ(sg_routing_lookup(r, p.b), SG_ROUTING_NO_ROUTE);
	}
	EXPECT_EQ(sg_routing_lookup(r, keep.b), 1u);
	EXPECT_EQ(sg_routing_count(r), 1u);

	// Routes that really do not fit are refused, and change nothing.
	int added = 0, rc = 0;
	for (uint32_t i = 0; i < 64 && rc == 0; i++) {
		Ip6 p = keep;
		p.b[3] = (uint8_t)(i + 1); // a new /24 each, so new tbl8 blocks
		rc = sg_routing_add(r, p.b, 128, 7);
		if (rc == 0)
			added++;
		else
			EXPECT_EQ(sg_routing_lookup(r, p.b), SG_ROUTING_NO_ROUTE);
	}
	EXPECT_EQ(rc, -ENOSPC);
	EXPECT_GT(added, 0);
	EXPECT_EQ(sg_routing_count(r), 1u + (uint32_t)added);
	EXPECT_EQ(sg_routing_lookup(r, keep.b), 1u);
	sg_routing_free(r);
}

struct Route {
	Ip6 prefix;
	uint8_t depth;
	uint32_t nh;
};

uint32_t naive_lookup(const std::vector<Route> &routes, const uint8_t *addr)
{
	int best = -1;
	uint32_t nh = SG_ROUTING_NO_ROUTE;
	for (auto &rt : routes) {
		bool match = true;
		for (int bit = 0; bit < rt.depth && match; bit++) {
			uint8_t m = (uint8_t)(0x80 >> (bit % 8));
			match = (rt.prefix.b[bit / 8] & m) == (addr[bit / 8] & m);
		}
		if (match && rt.depth > best) {
			best = rt.depth;
			nh = rt.nh;
		}
	}
	return nh;
}

TEST_F(Routing, BulkLookupOf64AddressesMatchesANaiveScan)
{
	// A realistic 6PN table: a few org /48s, VM /112s in them, some /128s.
	std::mt19937 rng(5);
	std::vector<Route> routes;
	auto add_route = [&](const Ip6 &p, uint8_t depth, uint32_t nh) {
		Route rt = { {}, depth, nh };
		sg_prefix_mask(rt.prefix.b, p.b, depth, 16);
		for (auto &x : routes)
			ASSERT_FALSE(x.depth == depth && !memcmp(x.prefix.b, rt.prefix.b, 16));
		routes.push_back(rt);
		ASSERT_EQ(sg_routing_add(r, p.b, depth, nh), 0);
	};
	for (uint32_t org = 0x18; org < 0x1c; org++) {
		sg_6pn f = { org, 0, 0, 0 };
		Ip6 p;
		sg_6pn_pack(p.b, &f);
		add_route(p, 48, 100 + org);
		for (uint32_t host = 1; host <= 6; host++) {
			f.host = 0x0a7b0000 + host;
			f.machine = rng() % 4;
			sg_6pn_pack(p.b, &f);
			add_route(p, 112, org * 16 + host);
			if (host % 3 == 0) {
				f.low = 2;
				sg_6pn_pack(p.b, &f);
				add_route(p, 128, 1000 + org * 16 + host);
				f.low = 0;
			}
		}
	}
	EXPECT_EQ(sg_routing_count(r), routes.size());

	uint8_t addrs[64][16];
	for (int i = 0; i < 64; i++) {
		// Mostly addresses inside or next to a route, some elsewhere.
		const Route &base = routes[rng() % routes.size()];
		memcpy(addrs[i], base.prefix.b, 16);
		if (i % 4 == 1)
			addrs[i][15] = (uint8_t)rng();
		else if (i % 4 == 2)
			addrs[i][14] = (uint8_t)rng();
		else if (i % 4 == 3)
			addrs[i][5] ^= 0x40; // another org
	}
	uint64_t nh[64];
	sg_routing_lookup_bulk(r, addrs, nh, 64);
	int misses = 0;
	for (int i = 0; i < 64; i++) {
		uint32_t want = naive_lookup(routes, addrs[i]);
		char s[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, addrs[i], s, sizeof(s));
		EXPECT_EQ(nh[i], want) << s;
		EXPECT_EQ(sg_routing_lookup(r, addrs[i]), want) << s;
		misses += want == SG_ROUTING_NO_ROUTE;
	}
	// The sample holds both hits and misses.
	EXPECT_GT(misses, 0);
	EXPECT_LT(misses, 64);
}

struct Walked {
	std::vector<Route> routes;
};

int collect(void *arg, const uint8_t prefix[16], uint8_t depth, uint32_t nh)
{
	Route rt = { {}, depth, nh };
	memcpy(rt.prefix.b, prefix, 16);
	static_cast<Walked *>(arg)->routes.push_back(rt);
	return 0;
}

TEST_F(Routing, WalkListsEveryRoute)
{
	ASSERT_EQ(add("::", 0, 1), 0);
	ASSERT_EQ(add("fdaa:0:18::", 48, 2), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::", 112, 3), 0);
	ASSERT_EQ(add("fdaa:0:18:a7b:1::9", 128, 4), 0);
	Walked w;
	EXPECT_EQ(sg_routing_walk(r, collect, &w), 0);
	ASSERT_EQ(w.routes.size(), 4u);
	std::set<std::tuple<std::string, int, uint32_t>> got;
	for (auto &rt : w.routes) {
		char s[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, rt.prefix.b, s, sizeof(s));
		got.emplace(s, rt.depth, rt.nh);
	}
	std::set<std::tuple<std::string, int, uint32_t>> want = {
		{ "::", 0, 1 },
		{ "fdaa:0:18::", 48, 2 },
		{ "fdaa:0:18:a7b:1::", 112, 3 },
		{ "fdaa:0:18:a7b:1::9", 128, 4 },
	};
	EXPECT_EQ(got, want);
}

// The grace-period contract with rte_rcu_qsbr, as the app will use it: the
// readers report quiescent states, the writer's synchronize waits for them.
struct Qsbr {
	rte_rcu_qsbr *v;
	std::atomic<int> syncs{ 0 };
};

void qsbr_sync(void *ctx)
{
	auto *q = static_cast<Qsbr *>(ctx);
	rte_rcu_qsbr_synchronize(q->v, RTE_QSBR_THRID_INVALID);
	q->syncs++;
}

TEST(RoutingRcu, LookupsRaceUpdatesSafely)
{
	const unsigned readers = 2;
	int updates = 0, failed = 0;
	Qsbr q;
	size_t sz = rte_rcu_qsbr_get_memsize(readers);
	q.v = (rte_rcu_qsbr *)rte_zmalloc(nullptr, sz, RTE_CACHE_LINE_SIZE);
	ASSERT_NE(q.v, nullptr);
	ASSERT_EQ(rte_rcu_qsbr_init(q.v, readers), 0);

	sg_routing *r = nullptr;
	sg_routing_conf conf = {};
	conf.name = "ut-rcu";
	conf.socket_id = SOCKET_ID_ANY;
	conf.max_routes = 4096;
	conf.num_tbl8 = 2048;
	conf.synchronize = qsbr_sync;
	conf.sync_ctx = &q;
	ASSERT_EQ(sg_routing_create(&r, &conf), 0);

	// Stable routes the readers check; the writer churns routes in other orgs
	// whose tbl8 blocks come and go next to the stable ones.
	Ip6 stable_pfx = ip("fdaa:0:18:a7b:1::"), probe = ip("fdaa:0:18:a7b:1::2");
	ASSERT_EQ(sg_routing_add(r, stable_pfx.b, 112, 42), 0);
	updates++;
	std::atomic<bool> stop{ false };
	std::atomic<long> wrong{ 0 }, rounds{ 0 };
	auto reader = [&](unsigned id) {
		rte_rcu_qsbr_thread_register(q.v, id);
		rte_rcu_qsbr_thread_online(q.v, id);
		uint8_t a[32][16];
		uint64_t nh[32];
		for (auto &x : a)
			memcpy(x, probe.b, 16);
		while (!stop.load(std::memory_order_relaxed)) {
			sg_routing_lookup_bulk(r, a, nh, 32);
			for (auto v : nh)
				wrong += v != 42;
			rte_rcu_qsbr_quiescent(q.v, id);
			rounds++;
		}
		rte_rcu_qsbr_thread_offline(q.v, id);
		rte_rcu_qsbr_thread_unregister(q.v, id);
	};
	std::thread t0(reader, 0), t1(reader, 1);
	for (int round = 0; round < 12; round++) {
		for (uint32_t host = 0; host < 8; host++) {
			sg_6pn f = { 0x18, 0x0a7b0100 + host, (uint32_t)round, 0 };
			Ip6 p;
			sg_6pn_pack(p.b, &f);
			failed += sg_routing_add(r, p.b, 112, host + 1) != 0;
			failed += sg_routing_delete(r, p.b, 112) != 0;
			updates += 2;
		}
	}
	while (rounds.load() < 10)
		std::this_thread::yield();
	stop = true;
	t0.join();
	t1.join();
	EXPECT_EQ(failed, 0);
	EXPECT_EQ(wrong.load(), 0);
	EXPECT_EQ(sg_routing_count(r), 1u);
	// Each update waited for the readers once, between its two FIBs.
	EXPECT_EQ(q.syncs.load(), updates);
	sg_routing_free(r);
	rte_free(q.v);
}

// --- 6PN addresses ---------------------------------------------------------

TEST(SixPn, UnpackAndPackFollowTheLayout)
{
	Ip6 a = ip("fdaa:0:18:a7b:1:2:3:4");
	sg_6pn f = {};
	ASSERT_EQ(sg_6pn_unpack(&f, a.b), 0);
	EXPECT_EQ(f.network, 0x18u);
	EXPECT_EQ(f.host, 0x0a7b0001u);
	EXPECT_EQ(f.machine, 0x00020003u);
	EXPECT_EQ(f.low, 4u);
	Ip6 back = {};
	sg_6pn_pack(back.b, &f);
	EXPECT_EQ(memcmp(back.b, a.b, 16), 0);

	Ip6 other = ip("fd00::1");
	EXPECT_EQ(sg_6pn_unpack(&f, other.b), -EINVAL);
	EXPECT_FALSE(sg_6pn_is_6pn(other.b));
	EXPECT_TRUE(sg_6pn_is_6pn(a.b));
}

TEST(SixPn, ParseAndFormatRoundTrip)
{
	sg_6pn f = {};
	ASSERT_EQ(sg_6pn_parse(&f, "fdaa:0:18:a7b:2::2"), 0);
	EXPECT_EQ(f.network, 0x18u);
	EXPECT_EQ(f.host, 0x0a7b0002u);
	EXPECT_EQ(f.machine, 0u);
	EXPECT_EQ(f.low, 2u);
	char buf[SG_6PN_STRLEN];
	ASSERT_EQ(sg_6pn_format(buf, sizeof(buf), &f), 0);
	EXPECT_STREQ(buf, "fdaa:0:18:a7b:2::2");

	sg_6pn g = { 0xdeadbeef, 1, 0xffffffff, 0xffff };
	ASSERT_EQ(sg_6pn_format(buf, sizeof(buf), &g), 0);
	EXPECT_STREQ(buf, "fdaa:dead:beef:0:1:ffff:ffff:ffff");
	char small[16];
	EXPECT_EQ(sg_6pn_format(small, sizeof(small), &g), -ENOSPC);

	EXPECT_EQ(sg_6pn_parse(&f, "2001:db8::1"), -EINVAL);
	EXPECT_EQ(sg_6pn_parse(&f, "fdaa::g"), -EINVAL);
	EXPECT_EQ(sg_6pn_parse(&f, "198.18.0.1"), -EINVAL);
	EXPECT_EQ(sg_6pn_parse(&f, ""), -EINVAL);
}

TEST(SixPn, OrgAndDnsAddresses)
{
	Ip6 a = ip("fdaa:0:18:a7b:1::2"), org = {}, dns = {};
	ASSERT_EQ(sg_6pn_org(org.b, a.b), 0);
	ASSERT_EQ(sg_6pn_dns(dns.b, a.b), 0);
	Ip6 want_org = ip("fdaa:0:18::"), want_dns = ip("fdaa:0:18::3");
	EXPECT_EQ(memcmp(org.b, want_org.b, 16), 0);
	EXPECT_EQ(memcmp(dns.b, want_dns.b, 16), 0);
	Ip6 x = ip("fd00::1");
	EXPECT_EQ(sg_6pn_dns(dns.b, x.b), -EINVAL);
}

TEST(SixPn, PrefixContains)
{
	Ip6 net = ip("fdaa:0:18::"), in = ip("fdaa:0:18:ffff::1"), out = ip("fdaa:0:19::1");
	EXPECT_TRUE(sg_prefix_contains(net.b, 48, in.b));
	EXPECT_FALSE(sg_prefix_contains(net.b, 48, out.b));
	EXPECT_TRUE(sg_prefix_contains(net.b, 0, out.b));
	EXPECT_TRUE(sg_prefix_contains(net.b, 47, out.b)); // :18 and :19 share 47 bits
	EXPECT_FALSE(sg_prefix_contains(in.b, 128, net.b));
	EXPECT_TRUE(sg_prefix_contains(in.b, 128, in.b));
}

} // namespace
