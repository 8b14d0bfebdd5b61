// SPDX-License-Identifier: MIT
// Peers loaded from the store on their first handshake (pipelines/loader.c),
// in an in-process gateway (tests/fixture) whose clients are in a store
// instead of the configuration: the first initiation is answered, unknown
// keys are negative-cached, revoked ones refused, lookups rate limited, a
// revoked peer unloaded within one check, and peers evicted by idle time and
// by the maximum of loaded peers (least recently active first), coming back
// on their next handshake.  On a PostgreSQL store (a server of the test's
// own, tests/unit/sg_pg.h): a change made through another handle reaches
// the gateway by NOTIFY alone, and a server stopped and started again
// leaves loaded peers working, is reported, and is reconnected to.
#include "tests/fixture/sg_fixture_gtest.h"

#include <sys/stat.h>

#include <chrono>

#include <sqlite3.h>

#ifdef SG_STORE_HAVE_PG
#include "tests/unit/sg_pg.h"
#endif

extern "C" {
#include "lib/store/sg_store.h"
}

namespace
{

using sgfx::kS;

class Loader : public ::testing::Test
{
      protected:
	sg_fx f = {};
	sg_fx_conf c = {};
	std::string dir, path;
	uint64_t now = 0;

	void SetUp() override
	{
		char tmpl[] = "/tmp/sg-ut-loader-XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		path = dir + "/peers.db";
		c.n_vms = 1;
		c.store = path.c_str();
	}
	void start(unsigned clients, unsigned stored)
	{
		static unsigned n;
		c.n_clients = clients;
		c.n_stored = stored;
		ASSERT_EQ(sg_fx_start(&f, &c, ("ld" + std::to_string(n++)).c_str()), 0);
		now = sg_now_ns();
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
		unlink(path.c_str());
		unlink((path + "-wal").c_str());
		unlink((path + "-shm").c_str());
		rmdir(dir.c_str());
	}
	sg_loader_stats stats()
	{
		sg_loader_stats st;
		char fault[SG_STORE_ERR_LEN];
		sg_loader_stats_get(f.gw->ctl.loader, &st, fault, sizeof(fault));
		return st;
	}
	// Changes the store as sixgatectl would: another handle, another "process".
	void edit(const std::function<int(sg_store *)> &fn)
	{
		sg_store *s;
		char err[SG_STORE_ERR_LEN];
		ASSERT_EQ(sg_store_open(&s, path.c_str(), 0, 1000, err, sizeof(err)), 0) << err;
		EXPECT_EQ(fn(s), 0) << sg_store_error(s);
		sg_store_close(s);
	}
	bool loaded(unsigned i)
	{
		return sg_peers_lookup_key(f.gw->dp.peers, f.cl[i].pub) != nullptr;
	}
	void notify(unsigned i)
	{
		ASSERT_EQ(sg_loader_notify(f.gw->ctl.loader, f.cl[i].pub), 0);
		sg_ctl_poll(&f.gw->ctl, now);
		sg_fx_wait_loader(&f, now);
	}
};

// Client 1 is in the store only: its very first initiation is answered, and
// the session carries data; client 0 (the file's) never asks the store.
TEST_F(Loader, FirstInitiationOfAStoredPeerIsAnswered)
{
	start(2, 1);
	EXPECT_FALSE(loaded(1));
	EXPECT_EQ(sg_peers_count(f.gw->dp.peers), 1u);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	EXPECT_EQ(stats().lookups, 0u);
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now), 0) << "answered on the first initiation";
	sg_loader_stats st = stats();
	EXPECT_EQ(st.lookups, 1u);
	EXPECT_EQ(st.loaded, 1u);
	EXPECT_EQ(st.answered, 1u);
	EXPECT_EQ(st.unknown + st.refused + st.limited + st.faults, 0u);
	EXPECT_EQ(f.gw->ctl.core.stats.resp_tx, 2u);
	EXPECT_EQ(f.gw->ctl.core.stats.init_rx, 2u) << "one each, though handled twice";
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_PEER), 0u);
	EXPECT_TRUE(loaded(1));
	EXPECT_NE(sg_fx_gw_keypair(&f, 1), nullptr);
	// Data from the loaded peer reaches the VM.
	uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
	sg_fx_vm_addr(&f, 0, dst);
	sg_fx_inner(inner, sizeof(inner), f.cl[1].addr, dst, 1);
	rte_mbuf *m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 1, 1, inner, sizeof(inner), frame));
	ASSERT_NE(m, nullptr);
	sg_nic_input(f.w, &m, 1);
	EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 1u);
}

// The gateway comes under load while a stored peer's first initiation waits
// for its lookup (256 clients at once, as sixgate-pktgen makes them): that
// initiation passed mac1 and the rate limit when it arrived, without load, so
// it is still answered, not refused for want of a mac2 it was never asked for
// (a cookie reply and a wg_mac2 drop), and the source's rate limit is not
// charged a second time.
TEST_F(Loader, HeldInitiationIsAnsweredThoughLoadCameMeanwhile)
{
	start(1, 1);
	const uint8_t *gw_pub = f.gw->ctl.core.st.public_key;
	sg_noise_static st;
	sg_noise_peer_hs hs;
	sg_msg_initiation init;
	sg_cookie_maker maker;
	uint8_t frame[SG_FX_FRAME_MAX];
	uint32_t idx = 7;
	ASSERT_EQ(sg_noise_static_init(&st, f.cl[0].priv), 0);
	ASSERT_EQ(sg_noise_peer_hs_init(&hs, &st, gw_pub, nullptr), 0);
	ASSERT_EQ(sg_noise_create_initiation(&st, &hs, &init, idx, now), 0);
	sg_cookie_maker_init(&maker, gw_pub);
	sg_cookie_add_macs(&maker, &init, sizeof(init), now);
	rte_mbuf *m = sg_fx_mbuf(&f, frame,
				 sg_fx_outer(&f, 0, (const uint8_t *)&init, sizeof(init), frame));
	ASSERT_NE(m, nullptr);
	sg_nic_input(f.w, &m, 1);
	sg_ctl_poll(&f.gw->ctl, now); // held: its lookup is on the sg-store thread
	EXPECT_EQ(stats().lookups, 1u);
	f.gw->ctl.core.always_under_load = true; // the load arrives meanwhile
	sg_fx_wait_loader(&f, now);
	f.gw->ctl.core.always_under_load = false;
	EXPECT_EQ(f.gw->ctl.core.stats.cookie_tx, 0u) << "no cookie asked of a held initiation";
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_MAC2), 0u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_HS_RATELIMIT), 0u);
	EXPECT_EQ(f.gw->ctl.core.stats.resp_tx, 1u) << "the first initiation is answered";
	EXPECT_EQ(stats().answered, 1u);
	EXPECT_EQ(sg_fx_drain(f.ctl_tx), 1u);
	sg_noise_static_clear(&st);
	sg_noise_peer_hs_clear(&hs);
	sg_cookie_maker_clear(&maker);
}

// A key the store does not have is asked for once, then negative-cached: a
// second initiation costs no lookup, until sixgatectl adds the peer (its
// notification forgets the entry) and the next initiation is answered.
TEST_F(Loader, UnknownKeyIsNegativeCachedUntilAdded)
{
	start(1, 1);
	sg_store_peer saved;
	edit([&](sg_store *s) {
		EXPECT_EQ(sg_store_get_by_name(s, "client0", &saved), 0);
		return sg_store_delete(s, "client0");
	});
	EXPECT_EQ(sg_fx_initiate(&f, 0, now), 0u);
	EXPECT_EQ(stats().lookups, 1u);
	EXPECT_EQ(stats().unknown, 1u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_PEER), 1u);
	EXPECT_EQ(sg_fx_initiate(&f, 0, now + kS), 0u);
	EXPECT_EQ(stats().lookups, 1u) << "no second lookup";
	EXPECT_EQ(stats().negative_hits, 1u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_PEER), 2u);

	saved.id = 0;
	edit([&](sg_store *s) { return sg_store_put(s, &saved); });
	sg_store_peer_clear(&saved);
	notify(0);
	EXPECT_EQ(sg_fx_initiate(&f, 0, now + 2 * kS), 1u);
	EXPECT_EQ(stats().lookups, 2u);
	EXPECT_EQ(stats().loaded, 1u);
}

// A revoked peer (or an expired one) is refused and negative-cached.
TEST_F(Loader, RevokedAndExpiredKeysAreRefused)
{
	start(2, 2);
	edit([&](sg_store *s) { return sg_store_revoke(s, "client0", (int64_t)time(nullptr)); });
	edit([&](sg_store *s) {
		sg_store_peer p;
		int rc = sg_store_get_by_name(s, "client1", &p);
		p.expires = (int64_t)time(nullptr) - 1;
		return rc != 0 ? rc : sg_store_put(s, &p);
	});
	EXPECT_EQ(sg_fx_initiate(&f, 0, now), 0u);
	EXPECT_EQ(sg_fx_initiate(&f, 1, now), 0u);
	EXPECT_EQ(stats().refused, 2u);
	EXPECT_EQ(stats().loaded, 0u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_PEER_REFUSED), 2u);
	EXPECT_EQ(f.gw->ctl.core.stats.resp_tx, 0u);
	EXPECT_FALSE(loaded(0));
	EXPECT_EQ(sg_fx_initiate(&f, 0, now + kS), 0u);
	EXPECT_EQ(stats().negative_hits, 1u);
}

// Lookups of unknown keys are rate limited: at 1 a second with a burst of
// the 64 lookups in flight, 100 unknown keys at one instant cost 64
// lookups, 36 are refused without one.
TEST_F(Loader, LookupsAreRateLimited)
{
	c.store_lookups_per_second = 1;
	start(100, 100);
	edit([&](sg_store *s) {
		for (unsigned i = 0; i < 100; i++)
			if (int rc = sg_store_delete(s, ("client" + std::to_string(i)).c_str()))
				return rc;
		return 0;
	});
	for (unsigned i = 0; i < 100; i++)
		EXPECT_EQ(sg_fx_initiate(&f, i, now), 0u);
	EXPECT_EQ(stats().lookups, 64u);
	EXPECT_EQ(stats().unknown, 64u);
	EXPECT_EQ(stats().limited, 36u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STORE_LIMIT), 36u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_PEER), 64u);
}

// Revoking a loaded peer and notifying the gateway unloads it at once: its
// keys are wiped, its index is gone, its data is dropped; the store's
// version check does the same without a notification.
TEST_F(Loader, RevokedPeerIsUnloadedOnNotifyAndByTheBackstop)
{
	start(2, 2);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now), 0);
	EXPECT_EQ(sg_peers_keypairs_alive(f.gw->dp.peers), 2u);
	edit([&](sg_store *s) { return sg_store_revoke(s, "client0", (int64_t)time(nullptr)); });
	notify(0);
	EXPECT_FALSE(loaded(0));
	EXPECT_EQ(stats().unloaded, 1u);
	EXPECT_EQ(sg_fx_gw_keypair(&f, 0), nullptr);
	uint8_t frame[SG_FX_FRAME_MAX];
	rte_mbuf *m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 0, 1, nullptr, 0, frame));
	ASSERT_NE(m, nullptr);
	uint64_t unknown = sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_INDEX);
	sg_nic_input(f.w, &m, 1);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_WG_UNKNOWN_INDEX), unknown + 1);

	// Deleted, no notification: the store's version moved, the sweep sees it.
	edit([&](sg_store *s) { return sg_store_delete(s, "client1"); });
	for (unsigned t = 0; t < 5000 && loaded(1); t++) {
		usleep(1000);
		sg_ctl_poll(&f.gw->ctl, now);
		sg_fx_wait_loader(&f, now);
	}
	EXPECT_FALSE(loaded(1)) << "within the check interval (1 s)";
	EXPECT_EQ(stats().unloaded, 2u);
	// The grace period over, both sessions' keys are freed (wiped).
	sg_ctl_poll(&f.gw->ctl, now + kS);
	rte_rcu_qsbr_quiescent(f.gw->dp.qsbr, 0);
	sg_ctl_poll(&f.gw->ctl, now + 2 * kS);
	EXPECT_EQ(sg_peers_keypairs_alive(f.gw->dp.peers), 0u);
	EXPECT_EQ(sg_peers_count(f.gw->dp.peers), 0u);
}

// A changed allowed-IPs set applies to the next packet once the gateway is
// told: the new source is accepted, the old one refused (inner_src).
TEST_F(Loader, ChangedAllowedIpsApplyToTheNextPacket)
{
	start(1, 1);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16], moved[16];
	sg_fx_vm_addr(&f, 0, dst);
	memcpy(moved, f.cl[0].addr, 16);
	moved[13] = 0x77;
	edit([&](sg_store *s) {
		sg_store_peer p;
		int rc = sg_store_get_by_name(s, "client0", &p);
		p.allowed_ips[0].addr[13] = 0x77;
		return rc != 0 ? rc : sg_store_put(s, &p);
	});
	notify(0);
	EXPECT_EQ(stats().changed, 1u);
	EXPECT_TRUE(loaded(0)) << "still loaded, its session kept";
	auto send_from = [&](const uint8_t *src, uint64_t counter) {
		sg_fx_inner(inner, sizeof(inner), src, dst, counter);
		rte_mbuf *m = sg_fx_mbuf(&f, frame,
					 sg_fx_data(&f, 0, counter, inner, sizeof(inner), frame));
		EXPECT_NE(m, nullptr);
		sg_nic_input(f.w, &m, 1);
		return sg_fx_drain(f.vm_tx[0]);
	};
	uint64_t refused = sg_fx_drops(&f, SG_DROP_INNER_SRC);
	EXPECT_EQ(send_from(moved, 1), 1u) << "the new allowed IP";
	EXPECT_EQ(send_from(f.cl[0].addr, 2), 0u) << "the old one";
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_INNER_SRC), refused + 1);
}

// With room for two loaded peers, a third evicts the least recently active;
// the evicted one comes back on its next handshake (evicting the next).
TEST_F(Loader, MaxLoadedEvictsTheLeastRecentlyActive)
{
	c.store_max_loaded = 2;
	start(3, 3);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now + kS), 0);
	ASSERT_EQ(sg_fx_handshake(&f, 2, true, now + 2 * kS), 0);
	EXPECT_EQ(stats().evicted_lru, 1u);
	EXPECT_FALSE(loaded(0));
	EXPECT_TRUE(loaded(1));
	EXPECT_TRUE(loaded(2));
	EXPECT_EQ(sg_peers_count(f.gw->dp.peers), 2u);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now + 3 * kS), 0) << "back, transparently";
	EXPECT_EQ(stats().evicted_lru, 2u);
	EXPECT_FALSE(loaded(1));
	EXPECT_EQ(stats().loaded, 4u);
}

// A peer idle past idle_timeout_s is unloaded; its next handshake loads it again.
TEST_F(Loader, IdlePeerIsEvictedAndComesBack)
{
	c.store_idle_s = 10;
	start(2, 2);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now + 8 * kS), 0);
	sg_ctl_poll(&f.gw->ctl, now + 11 * kS);
	EXPECT_FALSE(loaded(0)) << "idle 11 s";
	EXPECT_TRUE(loaded(1)) << "idle 3 s";
	EXPECT_EQ(stats().evicted_idle, 1u);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now + 12 * kS), 0);
	EXPECT_TRUE(loaded(0));
}

// A store that goes bad while the gateway runs: loaded peers keep working,
// a stored peer's initiation is dropped as store_fault, and the fault is in
// the loader's stats (telemetry, sixgatectl stats) as one line.
TEST_F(Loader, StoreThatGoesBadLeavesLoadedPeersWorking)
{
	start(2, 2);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	{
		// Another process breaks the schema (as a damaged or foreign file would).
		sqlite3 *h;
		ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
		ASSERT_EQ(sqlite3_exec(h, "ALTER TABLE peers RENAME TO gone", nullptr, nullptr,
				       nullptr),
			  SQLITE_OK);
		sqlite3_close(h);
	}
	EXPECT_EQ(sg_fx_initiate(&f, 1, now), 0u);
	sg_loader_stats st;
	char fault[SG_STORE_ERR_LEN];
	sg_loader_stats_get(f.gw->ctl.loader, &st, fault, sizeof(fault));
	EXPECT_GE(st.faults, 1u) << "the lookup (and maybe a backstop check of client 0)";
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STORE_FAULT), 1u);
	EXPECT_EQ(std::string(fault), path + ": lookup: no such table: peers");
	EXPECT_FALSE(loaded(1));
	// Client 0's session still carries data.
	uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
	sg_fx_vm_addr(&f, 0, dst);
	sg_fx_inner(inner, sizeof(inner), f.cl[0].addr, dst, 1);
	rte_mbuf *m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 0, 1, inner, sizeof(inner), frame));
	ASSERT_NE(m, nullptr);
	sg_nic_input(f.w, &m, 1);
	EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 1u);
	EXPECT_TRUE(loaded(0));
}

// A store that is missing or corrupt stops the gateway at start (one line on stderr).
TEST_F(Loader, MissingOrCorruptStoreFailsTheStart)
{
	c.n_clients = 1;
	c.n_stored = 0;
	EXPECT_EQ(sg_fx_start(&f, &c, "ldmissing"), -ENOENT);
	sg_fx_stop(&f);
	FILE *junk = fopen(path.c_str(), "w");
	ASSERT_NE(junk, nullptr);
	fputs(std::string(4096, 'x').c_str(), junk);
	fclose(junk);
	chmod(path.c_str(), 0600);
	EXPECT_EQ(sg_fx_start(&f, &c, "ldcorrupt"), -EINVAL);
}

#ifdef SG_STORE_HAVE_PG

class PgLoader : public Loader
{
      protected:
	void SetUp() override
	{
		Loader::SetUp();
		sgpg::Server &srv = sgpg::server();
		if (srv.why_not.rfind("no PostgreSQL server binaries", 0) == 0)
			GTEST_SKIP() << srv.why_not;
		ASSERT_EQ(srv.why_not, "");
		path = srv.create_db();
		ASSERT_NE(path, "");
		c.store = path.c_str();
		// No backstop within the test: what arrives, arrives by NOTIFY.
		c.store_check_s = 3600;
	}
	std::string fault()
	{
		sg_loader_stats st;
		char f[SG_STORE_ERR_LEN];
		sg_loader_stats_get(f_loader(), &st, f, sizeof(f));
		return f;
	}
	sg_loader *f_loader()
	{
		return f.gw->ctl.loader;
	}
	// Runs the control lcore until done() (or ms pass); how long it took.
	template <typename F> std::chrono::milliseconds until(F done, int ms)
	{
		auto t0 = std::chrono::steady_clock::now();
		while (!done() &&
		       std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms)) {
			usleep(1000);
			sg_ctl_poll(&f.gw->ctl, now);
			sg_fx_wait_loader(&f, now);
		}
		return std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now() - t0);
	}
	bool data_reaches_vm(unsigned i, uint64_t counter)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
		sg_fx_vm_addr(&f, 0, dst);
		sg_fx_inner(inner, sizeof(inner), f.cl[i].addr, dst, counter);
		rte_mbuf *m = sg_fx_mbuf(&f, frame,
					 sg_fx_data(&f, i, counter, inner, sizeof(inner), frame));
		if (m == nullptr)
			return false;
		sg_nic_input(f.w, &m, 1);
		return sg_fx_drain(f.vm_tx[0]) == 1;
	}
};

// Another gateway's sixgatectl (another handle on the database, no telemetry
// notification, no periodic check within the test) revokes one loaded peer
// and deletes the other: both are unloaded within a second, by NOTIFY.
TEST_F(PgLoader, ChangeThroughAnotherHandleArrivesByNotify)
{
	start(2, 2);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now), 0);
	EXPECT_EQ(stats().loaded, 2u);
	edit([&](sg_store *s) { return sg_store_revoke(s, "client0", (int64_t)time(nullptr)); });
	auto took = until([&] { return !loaded(0); }, 3000);
	EXPECT_FALSE(loaded(0));
	EXPECT_LT(took.count(), 1000)
		<< "revocation reached the gateway in " << took.count() << " ms";
	edit([&](sg_store *s) { return sg_store_delete(s, "client1"); });
	took = until([&] { return !loaded(1); }, 3000);
	EXPECT_FALSE(loaded(1));
	EXPECT_LT(took.count(), 1000) << took.count() << " ms";
	printf("[   INFO   ] a deletion reached the gateway in %lld ms\n", (long long)took.count());
	sg_loader_stats st = stats();
	EXPECT_EQ(st.unloaded, 2u);
	EXPECT_GE(st.notifications, 2u);
	EXPECT_EQ(st.outages + st.faults, 0u);
}

// The database server stops while the gateway runs: the loaded peer's data
// still reaches the VM, the outage is reported (unreachable, outages, the
// fault), a stored peer's initiation is dropped as store_fault; the server
// starts again: the gateway reconnects by itself, the peer that was refused
// is loaded on its next initiation, and notifications flow again.
TEST_F(PgLoader, DatabaseLostKeepsLoadedPeersAndReconnects)
{
	start(2, 2);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, now), 0);
	EXPECT_TRUE(data_reaches_vm(0, 1));
	sgpg::server().stop();
	auto took = until([&] { return stats().unreachable == 1; }, 3000);
	EXPECT_EQ(stats().unreachable, 1u) << "noticed in " << took.count() << " ms";
	EXPECT_EQ(stats().outages, 1u);
	EXPECT_NE(fault().find(path + ": "), std::string::npos) << fault();
	EXPECT_NE(fault().find("database unreachable"), std::string::npos) << fault();
	EXPECT_TRUE(data_reaches_vm(0, 2)) << "a loaded peer keeps working";
	EXPECT_TRUE(data_reaches_vm(0, 3));
	EXPECT_EQ(sg_fx_initiate(&f, 1, now), 0u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STORE_FAULT), 1u);
	EXPECT_GE(stats().faults, 1u);
	EXPECT_FALSE(loaded(1));
	EXPECT_TRUE(loaded(0));

	ASSERT_TRUE(sgpg::server().start());
	took = until([&] { return stats().reconnects == 1; }, 5000);
	EXPECT_EQ(stats().reconnects, 1u) << "reconnected in " << took.count() << " ms";
	EXPECT_EQ(stats().unreachable, 0u);
	EXPECT_EQ(stats().outages, 1u);
	EXPECT_TRUE(data_reaches_vm(0, 4));
	ASSERT_EQ(sg_fx_handshake(&f, 1, true, now + kS), 0) << "the store answers again";
	EXPECT_TRUE(loaded(1));
	edit([&](sg_store *s) { return sg_store_revoke(s, "client1", (int64_t)time(nullptr)); });
	took = until([&] { return !loaded(1); }, 3000);
	EXPECT_FALSE(loaded(1)) << "LISTEN again on the new connection";
	EXPECT_LT(took.count(), 1000);
	EXPECT_TRUE(loaded(0));
}

#endif

::testing::Environment *const env =
	::testing::AddGlobalTestEnvironment(new sgfx::Eal("loader", false));

} // namespace
