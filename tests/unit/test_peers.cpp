// SPDX-License-Identifier: MIT
// lib/peers: the peer table, the receiver-index table, keypair slot rotation
// and the RCU-deferred free, driven the way the control lcore and a worker do.
#include <gtest/gtest.h>

#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

extern "C" {
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/peers/sg_peers.h"
}

namespace
{

int remove_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

// EAL with a file prefix of this process's own, whose runtime directory
// (/var/run/dpdk/PREFIX, made even with --no-shconf) goes away at the end.
class PeersEnv : public ::testing::Environment
{
	std::string prefix;

      public:
	void SetUp() override
	{
		prefix = "dp_unit_peers-" + std::to_string(getpid());
		const char *argv[] = { "test_peers",
				       "--no-huge",
				       "-m",
				       "64",
				       "--no-pci",
				       "--no-shconf",
				       "--log-level=error",
				       "--file-prefix",
				       prefix.c_str() };
		ASSERT_GE(rte_eal_init(sizeof(argv) / sizeof(argv[0]), const_cast<char **>(argv)),
			  0);
		ASSERT_EQ(sg_crypto_init(), 0);
	}
	void TearDown() override
	{
		rte_eal_cleanup();
		std::string dir = "/var/run/dpdk/" + prefix;
		nftw(dir.c_str(), remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
};

// Two reader threads: 0 plays a worker, 1 stays offline.
struct Table {
	struct rte_rcu_qsbr *qsbr;
	struct sg_peers *t;

	explicit Table(unsigned max_peers = 8, unsigned bits = 8)
	{
		size_t sz = rte_rcu_qsbr_get_memsize(2);

		qsbr = static_cast<struct rte_rcu_qsbr *>(rte_zmalloc("qsbr", sz, 64));
		EXPECT_EQ(rte_rcu_qsbr_init(qsbr, 2), 0);
		EXPECT_EQ(rte_rcu_qsbr_thread_register(qsbr, 0), 0);
		rte_rcu_qsbr_thread_online(qsbr, 0);
		t = sg_peers_create("unit", max_peers, bits, qsbr, SOCKET_ID_ANY);
		EXPECT_NE(t, nullptr);
	}
	~Table()
	{
		rte_rcu_qsbr_thread_offline(qsbr, 0);
		sg_peers_destroy(t);
		rte_free(qsbr);
	}
	// What a worker does once per loop.
	void quiescent()
	{
		rte_rcu_qsbr_quiescent(qsbr, 0);
	}
};

struct sg_peer *add_peer(struct sg_peers *t, uint8_t id, int *err)
{
	struct sg_peer_conf c;

	memset(&c, 0, sizeof(c));
	c.name = "p";
	memset(c.public_key, id, sizeof(c.public_key));
	c.org[0] = 0xfd;
	c.org[1] = 0xaa;
	c.org_len = 48;
	return sg_peers_add(t, &c, err);
}

struct sg_keypair *new_keypair(struct sg_peers *t, struct sg_peer *p, bool initiator,
			       uint64_t now = 1000)
{
	uint32_t idx;
	uint8_t ks[32], kr[32];

	if (sg_peers_index_alloc(t, p, &idx) != 0)
		return nullptr;
	memset(ks, 1, sizeof(ks));
	memset(kr, 2, sizeof(kr));
	return sg_peers_keypair_new(t, p, idx, idx ^ 0x5a5a5a5au, ks, kr, initiator, now);
}

TEST(Peers, AddAndLookupByKey)
{
	Table tb;
	int err;
	struct sg_peer *a = add_peer(tb.t, 1, &err);
	struct sg_peer *b = add_peer(tb.t, 2, &err);
	uint8_t k[32];

	ASSERT_NE(a, nullptr);
	ASSERT_NE(b, nullptr);
	EXPECT_EQ(sg_peers_count(tb.t), 2u);
	memset(k, 2, sizeof(k));
	EXPECT_EQ(sg_peers_lookup_key(tb.t, k), b);
	memset(k, 3, sizeof(k));
	EXPECT_EQ(sg_peers_lookup_key(tb.t, k), nullptr);
	EXPECT_EQ(add_peer(tb.t, 1, &err), nullptr);
	EXPECT_EQ(err, -EEXIST);
}

TEST(Peers, TableFullIsRefused)
{
	Table tb(2);
	int err;

	ASSERT_NE(add_peer(tb.t, 1, &err), nullptr);
	ASSERT_NE(add_peer(tb.t, 2, &err), nullptr);
	EXPECT_EQ(add_peer(tb.t, 3, &err), nullptr);
	EXPECT_EQ(err, -ENOSPC);
}

TEST(Peers, IndicesAreUniqueAndOwned)
{
	Table tb(8, 8); // 256 slots, at most three quarters in use
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);
	std::set<uint32_t> seen;
	uint32_t idx;

	for (int i = 0; i < 192; i++) {
		ASSERT_EQ(sg_peers_index_alloc(tb.t, p, &idx), 0) << i;
		EXPECT_TRUE(seen.insert(idx).second);
		EXPECT_EQ(sg_peers_index_owner(tb.t, idx), p);
	}
	EXPECT_EQ(sg_peers_index_alloc(tb.t, p, &idx), -ENOSPC);
	idx = *seen.begin();
	sg_peers_index_free(tb.t, idx);
	EXPECT_EQ(sg_peers_index_owner(tb.t, idx), nullptr);
	EXPECT_EQ(sg_peers_index_alloc(tb.t, p, &idx), 0);
}

TEST(Peers, InitiatorKeypairIsCurrentAndFoundByIndex)
{
	Table tb;
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);
	struct sg_keypair *kp = new_keypair(tb.t, p, true);
	const struct sg_peers_index *ix = sg_peers_index_table(tb.t);

	ASSERT_NE(kp, nullptr);
	EXPECT_EQ(sg_peers_lookup_index(ix, kp->local_index), nullptr); // not published yet
	sg_peers_install(tb.t, kp);
	EXPECT_EQ(sg_peers_lookup_index(ix, kp->local_index), kp);
	// Same slot, other upper bits: not this keypair.
	EXPECT_EQ(sg_peers_lookup_index(ix, kp->local_index ^ 0x80000000u), nullptr);
	EXPECT_EQ(sg_peer_tx_keypair(p, 2000), kp);
}

TEST(Peers, ResponderKeypairWaitsForConfirmation)
{
	Table tb;
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);
	struct sg_keypair *kp = new_keypair(tb.t, p, false);

	sg_peers_install(tb.t, kp);
	EXPECT_EQ(atomic_load(&p->kp_next), kp);
	EXPECT_EQ(sg_peer_tx_keypair(p, 2000), nullptr);
	// The first worker to authenticate data on it sets confirmed.
	kp->confirmed.store(true);
	EXPECT_EQ(sg_peer_tx_keypair(p, 2000), kp);
	EXPECT_TRUE(sg_peers_confirm(tb.t, p, kp));
	EXPECT_EQ(atomic_load(&p->kp_cur), kp);
	EXPECT_EQ(atomic_load(&p->kp_next), nullptr);
	EXPECT_FALSE(sg_peers_confirm(tb.t, p, kp));
}

TEST(Peers, RotationKeepsThreeAndFreesAfterGracePeriod)
{
	Table tb;
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);
	const struct sg_peers_index *ix = sg_peers_index_table(tb.t);
	std::vector<struct sg_keypair *> kps;

	for (int i = 0; i < 4; i++) {
		kps.push_back(new_keypair(tb.t, p, true, 1000 + i));
		sg_peers_install(tb.t, kps.back());
	}
	uint32_t first = kps[0]->local_index, second = kps[1]->local_index;
	EXPECT_EQ(atomic_load(&p->kp_cur), kps[3]);
	EXPECT_EQ(atomic_load(&p->kp_prev), kps[2]);
	// Two were pushed out: unpublished at once, but not freed while a reader may hold them.
	EXPECT_EQ(sg_peers_lookup_index(ix, first), nullptr);
	EXPECT_EQ(sg_peers_lookup_index(ix, second), nullptr);
	EXPECT_EQ(sg_peers_keypairs_alive(tb.t), 4u);
	EXPECT_EQ(sg_peers_reclaim(tb.t), 0u);
	EXPECT_EQ(sg_peers_deferred(tb.t), 2u);
	EXPECT_EQ(sg_peers_index_owner(tb.t, first), p); // the index is not reused early
	tb.quiescent();
	EXPECT_EQ(sg_peers_reclaim(tb.t), 2u);
	EXPECT_EQ(sg_peers_keypairs_alive(tb.t), 2u);
	EXPECT_EQ(sg_peers_index_owner(tb.t, first), nullptr);

	sg_peers_clear_keypairs(tb.t, p);
	EXPECT_EQ(sg_peer_tx_keypair(p, 2000), nullptr);
	tb.quiescent();
	EXPECT_EQ(sg_peers_reclaim(tb.t), 2u);
	EXPECT_EQ(sg_peers_keypairs_alive(tb.t), 0u);
}

TEST(Peers, KeypairExpiresAfterRejectTime)
{
	Table tb;
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);

	sg_peers_set_reject_after(tb.t, 500);
	struct sg_keypair *kp = new_keypair(tb.t, p, true, 1000);
	sg_peers_install(tb.t, kp);
	EXPECT_TRUE(sg_keypair_rx_valid(kp, 1499));
	EXPECT_FALSE(sg_keypair_rx_valid(kp, 1500));
	EXPECT_EQ(sg_peer_tx_keypair(p, 1499), kp);
	EXPECT_EQ(sg_peer_tx_keypair(p, 1500), nullptr);
}

TEST(Peers, EndpointAndFlags)
{
	Table tb;
	int err;
	struct sg_peer *p = add_peer(tb.t, 1, &err);
	struct sg_endpoint ep, got;

	memset(&ep, 0, sizeof(ep));
	ep.family = 6;
	ep.port = 0x1234;
	ep.addr[0] = 0xfd;
	sg_peer_endpoint_set(p, &ep);
	sg_peer_endpoint_get(p, &got);
	EXPECT_EQ(memcmp(&ep, &got, sizeof(ep)), 0);

	EXPECT_TRUE(sg_peer_flag(p, SG_PEER_EV_WANT_HANDSHAKE));
	EXPECT_FALSE(sg_peer_flag(p, SG_PEER_EV_CONFIRMED)); // already queued
	EXPECT_EQ(sg_peer_take_flags(p),
		  (unsigned)(SG_PEER_EV_WANT_HANDSHAKE | SG_PEER_EV_CONFIRMED));
	EXPECT_TRUE(sg_peer_flag(p, SG_PEER_EV_CONFIRMED)); // queued again after the take
}

TEST(Peers, DeferredFunctionRunsAfterGracePeriod)
{
	Table tb;
	static int freed;

	freed = 0;
	sg_peers_defer(tb.t, &freed, [](void *x) { ++*static_cast<int *>(x); });
	EXPECT_EQ(sg_peers_reclaim(tb.t), 0u);
	EXPECT_EQ(freed, 0);
	tb.quiescent();
	EXPECT_EQ(sg_peers_reclaim(tb.t), 1u);
	EXPECT_EQ(freed, 1);
}

// EAL comes up once, before the first test.
::testing::Environment *const peers_env = ::testing::AddGlobalTestEnvironment(new PeersEnv);

} // namespace
