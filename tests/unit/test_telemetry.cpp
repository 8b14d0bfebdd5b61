// SPDX-License-Identifier: MIT
// The /sixgate/ telemetry commands of an in-process gateway (tests/fixture),
// read through DPDK's own telemetry socket as dpdk-telemetry.py reads it:
// listings larger than one reply come in pages that add up to everything.
#include "tests/fixture/sg_fixture_gtest.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdlib>

namespace
{

constexpr unsigned kClients = 300;
sgfx::Eal *const eal = (sgfx::Eal *)::testing::AddGlobalTestEnvironment(new sgfx::Eal("tel", true));

class Telemetry : public ::testing::Test
{
      protected:
	static sg_fx f;
	static int fd;

	static void SetUpTestSuite()
	{
		sg_fx_conf c = {};
		c.n_clients = kClients;
		c.n_vms = 1;
		ASSERT_EQ(sg_fx_start(&f, &c, "tel"), 0);
		ASSERT_EQ(sg_telemetry_register(f.gw), 0);
		for (unsigned i = 0; i < kClients; i++)
			ASSERT_EQ(sg_fx_handshake(&f, i, false, sg_now_ns()), 0) << i;
		fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
		ASSERT_GE(fd, 0);
		sockaddr_un sun = {};
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/dpdk_telemetry.v2",
			 eal->runtime_dir().c_str());
		ASSERT_EQ(connect(fd, (sockaddr *)&sun, sizeof(sun)), 0);
		std::string hello = read_reply();
		ASSERT_NE(hello.find("\"version\""), std::string::npos) << hello;
	}
	static void TearDownTestSuite()
	{
		if (fd >= 0)
			close(fd);
		sg_fx_stop(&f);
	}
	static std::string read_reply()
	{
		static char buf[1 << 16];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		return n > 0 ? std::string(buf, (size_t)n) : std::string();
	}
	static std::string command(const std::string &cmd)
	{
		if (send(fd, cmd.data(), cmd.size(), 0) != (ssize_t)cmd.size())
			return std::string();
		return read_reply();
	}
	// How many times needle occurs in s.
	static unsigned count(const std::string &s, const std::string &needle)
	{
		unsigned n = 0;
		for (size_t at = s.find(needle); at != std::string::npos;
		     at = s.find(needle, at + 1))
			n++;
		return n;
	}
	// The page's "/next", or -1 on the last page.
	static long next_of(const std::string &reply)
	{
		size_t at = reply.find("\"/next\":");
		return at == std::string::npos ? -1 : strtol(reply.c_str() + at + 8, nullptr, 10);
	}
	// Walks every page of cmd; returns the entries (lines with key) found.
	static unsigned walk(const std::string &cmd, const std::string &key, unsigned per_page,
			     unsigned *pages)
	{
		unsigned total = 0;
		long from = 0;
		*pages = 0;
		while (from >= 0 && *pages < 100) {
			std::string reply = command(cmd + ",from=" + std::to_string(from));
			unsigned n = count(reply, key);
			EXPECT_LE(n, per_page) << reply.substr(0, 200);
			EXPECT_EQ(reply.compare(reply.size() - 2, 2, "}}"), 0)
				<< "a whole JSON reply, not a cut one";
			total += n;
			(*pages)++;
			long next = next_of(reply);
			EXPECT_TRUE(next < 0 || next > from) << "pages move forward";
			from = next;
		}
		return total;
	}
};

sg_fx Telemetry::f;
int Telemetry::fd = -1;

TEST_F(Telemetry, SessionsListEveryKeypairAcrossPages)
{
	unsigned pages = 0;
	// One unconfirmed keypair (slot "next") per client.
	EXPECT_EQ(walk("/sixgate/sessions", "\"local_index\"", 64, &pages), kClients);
	EXPECT_EQ(pages, (kClients + 63) / 64);
	std::string first = command("/sixgate/sessions");
	EXPECT_EQ(count(first, "\"local_index\""), 64u) << "no parameter: the first page";
	EXPECT_EQ(next_of(first), 64);
}

TEST_F(Telemetry, PeersListEveryPeerAcrossPages)
{
	unsigned pages = 0;
	EXPECT_EQ(walk("/sixgate/peers", "\"public_key\"", 32, &pages), kClients);
	EXPECT_EQ(pages, (kClients + 31) / 32);
	std::string one = command("/sixgate/peers,client299");
	EXPECT_EQ(count(one, "\"public_key\""), 1u) << one;
	EXPECT_EQ(next_of(one), -1);
}

// Per port: the NIC and each VM, with their own counters; what the workers
// counted for VM 0 shows in its entry, and the NIC's full queue as its own.
TEST_F(Telemetry, PortsShowEachPortsCountersAndQueues)
{
	f.w->vm_st[0].tx += 7;
	f.w->vm_st[0].tx_full += 5;
	f.gw->dp.ctl->vm_st[0].tx_full += 2;
	f.w->drops.n[SG_DROP_NIC_TX_FULL] += 4;
	std::string r = command("/sixgate/ports");
	EXPECT_NE(r.find("\"/nic\":{\"kind\":\"nic\""), std::string::npos) << r;
	EXPECT_NE(r.find("\"tx_full\":4,\"rx_queues\":1"), std::string::npos) << r;
	size_t vm = r.find("\"vm0\":{\"kind\":\"vm\"");
	ASSERT_NE(vm, std::string::npos) << r;
	EXPECT_NE(r.find("\"tx\":7,\"tx_full\":7,\"pending\":0,\"ring\":0", vm), std::string::npos)
		<< r;
	std::string c = command("/sixgate/counters");
	EXPECT_NE(c.find("\"nic_tx_full\":4"), std::string::npos) << c;
	EXPECT_NE(c.find("\"vm_tx_full\":0"), std::string::npos) << c;
	EXPECT_EQ(c.find("\"tx_full\""), std::string::npos) << "no reason without its port kind";
	f.w->vm_st[0].tx -= 7;
	f.w->vm_st[0].tx_full -= 5;
	f.gw->dp.ctl->vm_st[0].tx_full -= 2;
	f.w->drops.n[SG_DROP_NIC_TX_FULL] -= 4;
}

// The value of one series in a metrics text, or -1.
long long series(const std::string &text, const std::string &name)
{
	size_t at = text.find("\n" + name + " ");
	return at == std::string::npos ? -1
				       : strtoll(text.c_str() + at + name.size() + 2, nullptr, 10);
}

// /metrics: the sums telemetry reads, every drop reason by name, per-VM rows,
// and per-peer series only for the peers_top peers with the most traffic.
TEST_F(Telemetry, MetricsHoldTheCountersAndAtMostPeersTopPeers)
{
	f.w->drops.n[SG_DROP_WG_REPLAY] += 11;
	f.w->vm_st[0].tx_full += 3;
	for (unsigned i = 0; i < 5; i++)
		atomic_fetch_add(&f.cl[10 + i].peer->st.rx_bytes, 1000 * (i + 1));
	size_t len = 0;
	char *text = sg_metrics_render(f.gw, 3, &len);
	ASSERT_NE(text, nullptr);
	std::string m(text, len);
	free(text);
	EXPECT_EQ(series(m, "sixgate_drops_total{reason=\"wg_replay\"}"), 11) << m;
	EXPECT_EQ(series(m, "sixgate_drops_total{reason=\"vm_tx_full\"}"), 0);
	EXPECT_EQ(series(m, "sixgate_vm_tx_full_total{vm=\"vm0\"}"), 3);
	EXPECT_EQ(series(m, "sixgate_peers"), (long long)kClients);
	EXPECT_EQ(series(m, "sixgate_ethdev_packets_total{port=\"nic\",counter=\"opackets\"}"),
		  (long long)f.w->st.nic_tx + (long long)f.gw->dp.ctl->st.nic_tx)
		<< "the ring port counts what the gateway sent";
	EXPECT_EQ(series(m, "sixgate_ethdev_packets_total{port=\"vm0\",counter=\"imissed\"}"), 0);
	EXPECT_EQ(
		series(m,
		       "sixgate_handshake_messages_total{message=\"initiation\",direction=\"rx\"}"),
		(long long)f.gw->ctl.core.stats.init_rx);
	EXPECT_EQ(count(m, "sixgate_drops_total{reason="), (unsigned)SG_DROP_MAX - 1);
	EXPECT_EQ(count(m, "sixgate_peer_last_handshake_seconds{"), 3u) << "the top 3 only";
	EXPECT_EQ(series(m, "sixgate_peer_transfer_total{peer=\"client14\",kind=\"rx_bytes\"}"),
		  5000);
	EXPECT_EQ(series(m, "sixgate_peer_transfer_total{peer=\"client12\",kind=\"rx_bytes\"}"),
		  3000);
	EXPECT_EQ(m.find("peer=\"client11\""), std::string::npos) << "fourth: not listed";
	EXPECT_LT(m.find("peer=\"client14\""), m.find("peer=\"client13\"")) << "most first";
	text = sg_metrics_render(f.gw, 0, &len);
	ASSERT_NE(text, nullptr);
	EXPECT_EQ(std::string(text, len).find("peer="), std::string::npos) << "peers_top = 0: none";
	free(text);
	f.w->drops.n[SG_DROP_WG_REPLAY] -= 11;
	f.w->vm_st[0].tx_full -= 3;
	for (unsigned i = 0; i < 5; i++)
		atomic_fetch_sub(&f.cl[10 + i].peer->st.rx_bytes, 1000 * (i + 1));
}

// Per-stage cycles through the worker's own poll (sg_worker_poll): client 7
// sends n data frames to VM 0 and VM 0 answers with n.  Off (the default),
// every stage's row stays 0; on (/sixgate/cycles,on), each stage counts
// exactly the n packets it handled, with cycles; off again, the counts stay.
TEST_F(Telemetry, CyclesPerStageCountEveryPacketOnlyWhenOn)
{
	constexpr unsigned kCl = 7, kN = 40;
	static uint64_t counter = 1; // counter 0 was never used: no confirming keepalive
	auto round = [&]() {
		uint8_t inner[200], frame[SG_FX_FRAME_MAX], vm[16];
		sg_fx_vm_addr(&f, 0, vm);
		for (unsigned k = 0; k < kN; k++) {
			sg_fx_inner(inner, sizeof(inner), f.cl[kCl].addr, vm, counter);
			rte_mbuf *m = sg_fx_mbuf(
				&f, frame,
				sg_fx_data(&f, kCl, counter++, inner, sizeof(inner), frame));
			ASSERT_NE(m, nullptr);
			ASSERT_EQ(rte_ring_enqueue(f.nic_rx, m), 0);
		}
		f.w->now_ns = sg_now_ns();
		for (unsigned k = 0; k < 100 && sg_worker_poll(f.w) > 0; k++)
			;
		EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), kN) << "every frame reached the VM";
		for (unsigned k = 0; k < kN; k++) {
			sg_fx_inner(inner, sizeof(inner), vm, f.cl[kCl].addr, k);
			rte_mbuf *m = sg_fx_mbuf(&f, frame,
						 sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
			ASSERT_NE(m, nullptr);
			ASSERT_EQ(rte_ring_enqueue(f.vm_rx[0], m), 0);
		}
		for (unsigned k = 0; k < 100 && sg_worker_poll(f.w) > 0; k++)
			;
		EXPECT_EQ(sg_fx_drain(f.nic_tx), kN) << "every answer left for the client";
	};
	auto stage = [&](const std::string &r, const char *name) {
		size_t at = r.find(std::string("\"") + name + "\":{\"packets\":");
		return at == std::string::npos
			       ? -1ll
			       : strtoll(r.c_str() + at + strlen(name) + 14, nullptr, 10);
	};

	std::string r = command("/sixgate/cycles");
	EXPECT_NE(r.find("\"enabled\":0"), std::string::npos) << "off by default: " << r;
	round();
	for (unsigned s = 0; s < SG_STAGE_MAX; s++) {
		EXPECT_EQ(f.w->cyc[s].pkts, 0u) << sg_stage_name((sg_stage)s);
		EXPECT_EQ(f.w->cyc[s].cycles, 0u) << sg_stage_name((sg_stage)s);
	}
	r = command("/sixgate/cycles");
	EXPECT_EQ(stage(r, "nic_input"), 0) << r;
	EXPECT_EQ(stage(r, "vm_rx"), 0) << r;

	r = command("/sixgate/cycles,on");
	EXPECT_NE(r.find("\"enabled\":1"), std::string::npos) << r;
	round();
	for (unsigned s = 0; s < SG_STAGE_MAX; s++) {
		EXPECT_EQ(f.w->cyc[s].pkts, kN) << sg_stage_name((sg_stage)s);
		EXPECT_GT(f.w->cyc[s].cycles, 0u) << sg_stage_name((sg_stage)s);
	}
	r = command("/sixgate/cycles,off");
	EXPECT_NE(r.find("\"enabled\":0"), std::string::npos) << r;
	for (const char *name : { "nic_input", "ingress", "egress", "vm_rx" }) {
		EXPECT_EQ(stage(r, name), (long long)kN) << name << ": " << r;
		EXPECT_NE(r.find(std::string("\"") + name + "_cycles\":["), std::string::npos) << r;
		EXPECT_NE(r.find(std::string("\"") + name + "_packets\":[" + std::to_string(kN) +
				 ",0]"),
			  std::string::npos)
			<< "worker 0, then the control lcore: " << r;
	}
	EXPECT_NE(r.find("\"cycles_per_packet\":"), std::string::npos) << r;
	EXPECT_NE(r.find("\"tsc_hz\":"), std::string::npos) << r;
	round();
	EXPECT_EQ(f.w->cyc[SG_STAGE_INGRESS].pkts, kN) << "off: the counts stay as they were";
	r = command("/sixgate/cycles,maybe");
	EXPECT_NE(r.find("null"), std::string::npos) << r;
	EXPECT_NE(command("/sixgate/cycles").find("\"enabled\":0"), std::string::npos);
}

TEST_F(Telemetry, BadPageParameterIsRefused)
{
	std::string reply = command("/sixgate/sessions,from=x");
	EXPECT_EQ(count(reply, "\"local_index\""), 0u);
	EXPECT_NE(reply.find("null"), std::string::npos) << reply;
}

} // namespace
