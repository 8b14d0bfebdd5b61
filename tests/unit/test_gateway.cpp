// SPDX-License-Identifier: MIT
// The control lcore of an in-process gateway (tests/fixture) stepped on an
// injected clock: what the session timers do with what the workers did.
#include <gtest/gtest.h>

#include <ftw.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <rte_eal.h>

#include "lib/crypto/sg_crypto.h"
#include "tests/fixture/sg_fixture.h"

namespace
{

constexpr uint64_t kMs = 1000ull * 1000;
constexpr uint64_t kS = 1000 * kMs;
std::string runtime_dir;

int rm_entry(const char *path, const struct stat *, int, struct FTW *)
{
	return remove(path);
}

class GatewayEnv : public ::testing::Environment
{
      public:
	void SetUp() override
	{
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "--file-prefix=sg-ut-gw-%d", (int)getpid());
		const char *av[] = { "test_gateway",
				     "-l",
				     "0",
				     "--no-huge",
				     "-m",
				     "256",
				     "--no-pci",
				     "--no-telemetry",
				     prefix,
				     "--log-level=lib.eal:error" };
		ASSERT_EQ(sg_crypto_init(), 0);
		ASSERT_GE(rte_eal_init((int)(sizeof(av) / sizeof(av[0])), (char **)av), 0);
		runtime_dir = rte_eal_get_runtime_dir();
	}
	void TearDown() override
	{
		rte_eal_cleanup();
		if (!runtime_dir.empty())
			nftw(runtime_dir.c_str(), rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	}
};

class Gateway : public ::testing::Test
{
      protected:
	sg_fx f = {};
	uint64_t t0 = 0;

	// Confirmed sessions unless a test says otherwise.
	bool confirm = true;

	void SetUp() override
	{
		static unsigned n;
		sg_fx_conf c = {};
		c.n_clients = 1;
		c.n_vms = 1;
		ASSERT_EQ(sg_fx_start(&f, &c, ("gw" + std::to_string(n++)).c_str()), 0);
		t0 = sg_now_ns();
		ASSERT_EQ(sg_fx_handshake(&f, 0, confirm, t0), 0);
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
	}

	// The VM sends client 0 one datagram at time at; expect_out: it leaves at once.
	void vm_sends(uint64_t at, bool expect_out = true)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], src[16];
		sg_fx_vm_addr(&f, 0, src);
		sg_fx_inner(inner, sizeof(inner), src, f.cl[0].addr, at);
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
		ASSERT_NE(m, nullptr);
		f.w->now_ns = at;
		sg_egress_vm(f.w, 0, &m, 1);
		EXPECT_EQ(sg_fx_drain(f.nic_tx), expect_out ? 1u : 0u);
	}
	// Client 0 answers with one datagram (counter) at time at.
	void client_sends(uint64_t counter, uint64_t at)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
		sg_fx_vm_addr(&f, 0, dst);
		sg_fx_inner(inner, sizeof(inner), f.cl[0].addr, dst, at);
		rte_mbuf *m = sg_fx_mbuf(&f, frame,
					 sg_fx_data(&f, 0, counter, inner, sizeof(inner), frame));
		ASSERT_NE(m, nullptr);
		f.w->now_ns = at;
		sg_nic_input(f.w, &m, 1);
		EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 1u) << "the answer reached the VM";
	}
	void step(uint64_t at)
	{
		sg_ctl_poll(&f.gw->ctl, at);
	}
};

// A request from the VM and the client's answer within one control tick
// (20 ms): the answer was the last thing that happened, so after
// keepalive_timeout (10 s) of silence the gateway sends a keepalive, as
// Linux does, and no new handshake is started 15 s after the request.
TEST_F(Gateway, RequestAndAnswerInOneTickGetAKeepaliveNotAHandshake)
{
	uint64_t t1 = t0 + 1 * kS;

	step(t1 - 100 * kMs);
	sg_fx_drain(f.ctl_tx);
	vm_sends(t1);
	client_sends(1, t1 + 1 * kMs);
	step(t1 + 5 * kMs);
	uint64_t keepalives = f.gw->ctl.st.keepalive_tx, inits = f.gw->ctl.core.stats.init_tx;
	step(t1 + 9 * kS);
	EXPECT_EQ(f.gw->ctl.st.keepalive_tx, keepalives) << "not before keepalive_timeout";
	step(t1 + 10 * kS + 500 * kMs);
	EXPECT_EQ(f.gw->ctl.st.keepalive_tx, keepalives + 1) << "the passive keepalive";
	EXPECT_EQ(sg_fx_drain(f.ctl_tx), 1u);
	step(t1 + 16 * kS);
	EXPECT_EQ(f.gw->ctl.core.stats.init_tx, inits) << "no needless handshake";
}

// The other way round: a datagram from the client answered by the VM in the
// same tick is answered, so there is nothing to keep alive.
TEST_F(Gateway, AnswerSentInOneTickNeedsNoKeepalive)
{
	uint64_t t1 = t0 + 1 * kS;

	step(t1 - 100 * kMs);
	sg_fx_drain(f.ctl_tx);
	client_sends(1, t1);
	vm_sends(t1 + 1 * kMs);
	step(t1 + 5 * kMs);
	uint64_t keepalives = f.gw->ctl.st.keepalive_tx;
	step(t1 + 10 * kS + 500 * kMs);
	EXPECT_EQ(f.gw->ctl.st.keepalive_tx, keepalives);
}

// A session the client never confirmed: what the VM sends waits (staged).
class Unconfirmed : public Gateway
{
      protected:
	void SetUp() override
	{
		confirm = false;
		Gateway::SetUp();
	}
};

// Staged packets wait SG_STAGED_TIMEOUT_S (10 s) for a session, counted from
// the oldest: later packets do not extend the wait, so a VM that keeps
// sending to a peer that never answers cannot pin buffers for ever.
TEST_F(Unconfirmed, StagedPacketsExpireTenSecondsAfterTheOldest)
{
	uint64_t t1 = t0 + 1 * kS;
	sg_peer *p = f.cl[0].peer;

	step(t1 - 100 * kMs);
	for (unsigned i = 0; i < 3; i++)
		vm_sends(t1 + i, false);
	for (unsigned i = 0; i < 2; i++)
		vm_sends(t1 + 5 * kS + i, false);
	EXPECT_EQ(rte_ring_count(p->staged), 5u);
	step(t1 + 9 * kS);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 0u) << "not before 10 s";
	step(t1 + 10 * kS + 100 * kMs);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 5u)
		<< "all five, though two were only 5 s old";
	EXPECT_EQ(rte_ring_count(p->staged), 0u);
	// A new packet starts a new wait.
	vm_sends(t1 + 11 * kS, false);
	step(t1 + 20 * kS);
	EXPECT_EQ(rte_ring_count(p->staged), 1u);
	step(t1 + 21 * kS + 100 * kMs);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 6u);
	sg_fx_drain(f.ctl_tx);
}

::testing::Environment *const env = ::testing::AddGlobalTestEnvironment(new GatewayEnv);

} // namespace
