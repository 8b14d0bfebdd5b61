// SPDX-License-Identifier: MIT
// The policy in the data path of an in-process gateway (tests/fixture): two
// orgs, client0 and vm0 in fdaa:0:18::/48, client1 and vm1 in
// fdaa:0:29::/48.  Each case sends single packets through ingress (after
// decrypt) and egress (before encrypt) and checks where they went, the drop
// counters and the policy's per-rule hits exactly; then reloads.
#include "tests/fixture/sg_fixture_gtest.h"

#include <rte_udp.h>

#include <fstream>
#include <unistd.h>

extern "C" {
#include "lib/policy/sg_policy.h"
#include "lib/store/sg_store.h"
}

namespace
{

sgfx::Eal *const eal = static_cast<sgfx::Eal *>(
	::testing::AddGlobalTestEnvironment(new sgfx::Eal("policy_gateway", false)));

const char *const kPolicy = "# client0 may use vm1's UDP 7000-7001; nobody reaches vm0's port 9\n"
			    "deny in udp from any to vm vm0 port 9\n"
			    "grant udp from peer client0 to vm vm1 port 7000-7001\n";

class PolicyGateway : public ::testing::Test
{
      protected:
	sg_fx f = {};
	uint64_t t0 = 0, counter[2] = { 1, 1 };
	std::string path;

	std::string store;

	void start(const char *policy, unsigned n_stored = 0)
	{
		static unsigned n;
		sg_fx_conf c = {};
		c.n_clients = 2;
		c.org2_clients = 1;
		c.n_vms = 2;
		c.org2_vms = 1;
		if (n_stored > 0) {
			store = "/tmp/sg-ut-policy-" + std::to_string(getpid()) + ".db";
			c.store = store.c_str();
			c.n_stored = n_stored;
		}
		if (policy != nullptr) {
			path = "/tmp/sg-ut-policy-" + std::to_string(getpid()) + ".policy";
			write(policy);
			c.policy_file = path.c_str();
		}
		ASSERT_EQ(sg_fx_start(&f, &c, ("pg" + std::to_string(n++)).c_str()), 0);
		t0 = sg_now_ns();
		ASSERT_EQ(sg_fx_handshake(&f, 0, true, t0), 0);
		ASSERT_EQ(sg_fx_handshake(&f, 1, true, t0), 0);
	}
	void write(const char *text)
	{
		std::ofstream(path) << text;
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
		if (!path.empty())
			unlink(path.c_str());
		for (const char *sfx : { "", "-wal", "-shm" })
			if (!store.empty())
				unlink((store + sfx).c_str());
	}
	static void ports(uint8_t *inner, uint32_t len, uint16_t sport, uint16_t dport)
	{
		auto *ip = (rte_ipv6_hdr *)inner;
		auto *udp = (rte_udp_hdr *)(ip + 1);
		(void)len;
		udp->src_port = rte_cpu_to_be_16(sport);
		udp->dst_port = rte_cpu_to_be_16(dport);
		udp->dgram_cksum = 0;
		udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
	}
	// Client i sends one UDP datagram to VM v; returns how many reached v.
	unsigned client_to_vm(unsigned i, unsigned v, uint16_t sport, uint16_t dport)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
		sg_fx_vm_addr(&f, v, dst);
		sg_fx_inner(inner, sizeof(inner), f.cl[i].addr, dst, counter[i]);
		ports(inner, sizeof(inner), sport, dport);
		rte_mbuf *m = sg_fx_mbuf(
			&f, frame, sg_fx_data(&f, i, counter[i]++, inner, sizeof(inner), frame));
		EXPECT_NE(m, nullptr);
		sg_nic_input(f.w, &m, 1);
		return sg_fx_drain(f.vm_tx[v]);
	}
	// VM v sends one UDP datagram to client i; returns how many left on the NIC.
	unsigned vm_to_client(unsigned v, unsigned i, uint16_t sport, uint16_t dport)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], src[16];
		sg_fx_vm_addr(&f, v, src);
		sg_fx_inner(inner, sizeof(inner), src, f.cl[i].addr, 7);
		ports(inner, sizeof(inner), sport, dport);
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
		EXPECT_NE(m, nullptr);
		sg_egress_vm(f.w, v, &m, 1);
		return sg_fx_drain(f.nic_tx);
	}
	const sg_dp_policy *policy()
	{
		return atomic_load(&f.gw->dp.policy);
	}
	// As telemetry reads it: under the lock the reloads take.
	uint64_t policy_reloads()
	{
		pthread_mutex_lock(&f.gw->policy_lock);
		uint64_t n = f.gw->policy_reloads;
		pthread_mutex_unlock(&f.gw->policy_lock);
		return n;
	}
	uint64_t hits(uint32_t r)
	{
		return sg_dp_policy_hits(policy(), f.gw->dp.n_workers, r);
	}
	uint64_t drops(sg_drop_reason r)
	{
		return sg_fx_drops(&f, r);
	}
};

// Without a policy file the base rule alone decides: today's org isolation.
TEST_F(PolicyGateway, WithoutAFileOrgIsolationAsBefore)
{
	start(nullptr);
	ASSERT_EQ(policy()->n_rules, 1u);
	EXPECT_STREQ(policy()->file, "(org isolation)");
	EXPECT_EQ(client_to_vm(0, 0, 5001, 7000), 1u);
	EXPECT_EQ(client_to_vm(1, 1, 5001, 9), 1u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 0u);
	EXPECT_EQ(vm_to_client(1, 0, 7000, 5001), 0u);
	EXPECT_EQ(vm_to_client(0, 0, 7000, 5001), 1u);
	EXPECT_EQ(drops(SG_DROP_ORG_ISOLATION), 2u);
	EXPECT_EQ(drops(SG_DROP_POLICY_DENY), 0u);
	EXPECT_EQ(hits(0), 3u) << "the base rule";
	EXPECT_EQ(hits(1), 2u) << "no rule: default deny";
}

TEST_F(PolicyGateway, FileRulesDecideBothDirections)
{
	start(kPolicy);
	// deny (line 2), grant (line 3) and its replies, the base rule.
	ASSERT_EQ(policy()->n_rules, 4u);
	EXPECT_EQ(policy()->lines[0], 2u);
	EXPECT_EQ(policy()->lines[1], 3u);
	EXPECT_EQ(policy()->lines[2], 3u);
	EXPECT_EQ(policy()->base_rule, 3u);

	// The grant across orgs, at both ends of its port range and past them.
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 1u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7001), 1u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 6999), 0u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7002), 0u);
	// The replies from those ports, and only those, go back out.
	EXPECT_EQ(vm_to_client(1, 0, 7000, 5001), 1u);
	EXPECT_EQ(vm_to_client(1, 0, 7002, 5001), 0u);
	// The grant is client0's only: client1's own org VM, yes; org 1's no.
	EXPECT_EQ(client_to_vm(1, 0, 5001, 7000), 0u);
	// Inside org 1: the deny of port 9 inbound, the base rule otherwise.
	EXPECT_EQ(client_to_vm(0, 0, 5001, 9), 0u);
	EXPECT_EQ(client_to_vm(0, 0, 5001, 10), 1u);
	EXPECT_EQ(vm_to_client(0, 0, 5001, 9), 1u) << "the deny is inbound only";

	EXPECT_EQ(drops(SG_DROP_POLICY_DENY), 1u);
	EXPECT_EQ(drops(SG_DROP_ORG_ISOLATION), 4u);
	EXPECT_EQ(hits(0), 1u);
	EXPECT_EQ(hits(1), 2u);
	EXPECT_EQ(hits(2), 1u);
	EXPECT_EQ(hits(3), 2u);
	EXPECT_EQ(hits(4), 4u);
}

TEST_F(PolicyGateway, ReloadSwapsAndABadFileChangesNothing)
{
	start(kPolicy);
	char msg[SG_POLICY_ERR_LEN];
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 1u);

	// The grant removed: the same packet is refused now.
	write("deny in udp from any to vm vm0 port 9\n");
	ASSERT_EQ(sg_gateway_policy_reload(f.gw, msg, sizeof(msg)), 0) << msg;
	EXPECT_NE(std::string(msg).find("2 rules compiled in"), std::string::npos) << msg;
	EXPECT_EQ(policy()->n_rules, 2u);
	EXPECT_EQ(f.gw->policy_reloads, 1u);
	uint64_t iso = drops(SG_DROP_ORG_ISOLATION);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 0u);
	EXPECT_EQ(drops(SG_DROP_ORG_ISOLATION), iso + 1);
	EXPECT_EQ(hits(2), 1u) << "the new policy's counters start at 0";

	// A bad file: refused with its line, the running policy stays.
	write(kPolicy);
	ASSERT_EQ(sg_gateway_policy_reload(f.gw, msg, sizeof(msg)), 0) << msg;
	const sg_dp_policy *before = policy();
	write("grant udp from peer client0 to vm vm1 port 7000-7001\n"
	      "allow udp from peer client9 to any\n");
	EXPECT_EQ(sg_gateway_policy_reload(f.gw, msg, sizeof(msg)), -EINVAL);
	EXPECT_EQ(std::string(msg), path + ":2: no peer 'client9' in the configuration");
	EXPECT_EQ(policy(), before);
	EXPECT_EQ(f.gw->policy_reload_failures, 1u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 1u) << "the grant still holds";
}

// What SIGHUP does: a request served by the sg-policy thread, one reload each.
TEST_F(PolicyGateway, RequestsAreServedByThePolicyThread)
{
	start(kPolicy);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 1u);
	write("deny in udp from any to vm vm0 port 9\n");
	sg_gateway_policy_request(f.gw);
	sg_gateway_policy_request(f.gw);
	// Generous: the machine may be loaded; the reloads take milliseconds.
	for (int i = 0; i < 3000 && policy_reloads() < 2; i++)
		usleep(10000);
	EXPECT_EQ(policy_reloads(), 2u);
	EXPECT_EQ(policy()->n_rules, 2u);
	EXPECT_EQ(client_to_vm(0, 1, 5001, 7000), 0u) << "the new policy decides";
	EXPECT_EQ(f.gw->policy_reload_failures, 0u);
}

// client1 (org 2) is a peer of the store alone; the policy grants it vm0
// (org 1).  The gateway compiles the name from the store, and recompiles
// only when what it stands for changed: deleted, it matches nothing.
TEST_F(PolicyGateway, AStorePeersNameIsResolvedAndRecompiledOnChange)
{
	start("grant udp from peer client1 to vm vm0 port 7000\n", 1);
	ASSERT_EQ(policy()->n_rules, 3u);
	EXPECT_EQ(f.gw->policy_store_refs, 1u);
	EXPECT_EQ(client_to_vm(1, 0, 5001, 7000), 1u) << "granted through the store's name";
	EXPECT_EQ(hits(0), 1u);
	EXPECT_EQ(client_to_vm(1, 0, 5001, 7001), 0u) << "another port: org isolation";

	char msg[SG_POLICY_ERR_LEN];
	const sg_dp_policy *before = policy();
	EXPECT_EQ(sg_gateway_policy_store_recompile(f.gw, msg, sizeof(msg)), 1) << "unchanged";
	EXPECT_EQ(policy(), before);
	EXPECT_EQ(f.gw->policy_store_recompiles, 0u);

	sg_store *s = nullptr;
	char err[SG_STORE_ERR_LEN];
	ASSERT_EQ(sg_store_open(&s, store.c_str(), 0, 1000, err, sizeof(err)), 0) << err;
	ASSERT_EQ(sg_store_delete(s, "client1"), 0);
	sg_store_close(s);
	ASSERT_EQ(sg_gateway_policy_store_recompile(f.gw, msg, sizeof(msg)), 0) << msg;
	EXPECT_EQ(policy()->n_rules, 1u) << "its rules match nothing";
	EXPECT_EQ(f.gw->policy_store_recompiles, 1u);
	EXPECT_EQ(f.gw->policy_reloads, 0u);
	EXPECT_EQ(client_to_vm(1, 0, 5001, 7000), 0u);
	EXPECT_EQ(sg_gateway_policy_store_recompile(f.gw, msg, sizeof(msg)), 1);

	// A reload of the file now refuses the name, and the running policy stays.
	EXPECT_EQ(sg_gateway_policy_reload(f.gw, msg, sizeof(msg)), -EINVAL);
	EXPECT_EQ(std::string(msg),
		  path + ":1: no peer 'client1' (neither in the config nor in the store)");
	EXPECT_EQ(policy()->n_rules, 1u);
}

} // namespace
