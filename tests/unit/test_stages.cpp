// SPDX-License-Identifier: MIT
// The stages in process, on the gateway of tests/fixture: one case per drop
// reason that nic_input (and the control lcore behind it), ingress and egress
// can give, each sending N crafted packets and asserting that exactly that
// counter moved by N and no other counter moved; and the packets that must
// pass, where they arrive.
#include "tests/fixture/sg_fixture_gtest.h"

#include <functional>

#include <rte_udp.h>

#include "lib/cookie/sg_cookie.h"
#include "lib/noise/sg_noise.h"
#include "lib/wire/sg_wire.h"

namespace
{

using sgfx::frame6;

constexpr unsigned N = 3;
const uint8_t other_host[16] = { 0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99 };

::testing::Environment *const env =
	::testing::AddGlobalTestEnvironment(new sgfx::Eal("stages", false));

// Builds frame number i of a case into out; returns its length.
using Builder = std::function<uint16_t(sg_fx &, unsigned i, uint8_t *out)>;

struct Case {
	const char *name;
	Builder build;
	const char *moved; // the counters that must move, "name=n "
};

class Stages : public ::testing::Test
{
      protected:
	sg_fx f = {};
	uint8_t vm[16] = {};

	void SetUp() override
	{
		static unsigned n;
		sg_fx_conf c = {};
		c.n_clients = 3; // 0: a session; 1: none, no endpoint; 2: in org 2
		c.org2_clients = 1;
		c.n_vms = 1;
		ASSERT_EQ(sg_fx_start(&f, &c, ("st" + std::to_string(n++)).c_str()), 0);
		ASSERT_EQ(sg_fx_handshake(&f, 0, true, sg_now_ns()), 0);
		sg_fx_vm_addr(&f, 0, vm);
		f.w->now_ns = sg_now_ns();
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
	}

	// Runs each frame of c through stage; returns what moved.
	std::string run(const Case &c, const std::function<void(rte_mbuf *)> &stage)
	{
		sgfx::Drops before(f);
		for (unsigned i = 0; i < N; i++) {
			uint8_t frame[SG_FX_FRAME_MAX];
			rte_mbuf *m = sg_fx_mbuf(&f, frame, c.build(f, i, frame));
			EXPECT_NE(m, nullptr);
			stage(m);
		}
		sg_ctl_poll(&f.gw->ctl, f.w->now_ns);
		sg_fx_drain(f.nic_tx);
		sg_fx_drain(f.ctl_tx);
		sg_fx_drain(f.vm_tx[0]);
		return sgfx::moved(f, before);
	}
	void nic(const Case &c)
	{
		EXPECT_EQ(run(c, [&](rte_mbuf *m) { sg_nic_input(f.w, &m, 1); }), c.moved)
			<< c.name;
	}
	void vm_side(const Case &c)
	{
		EXPECT_EQ(run(c, [&](rte_mbuf *m) { sg_egress_vm(f.w, 0, &m, 1); }), c.moved)
			<< c.name;
	}
};

// A UDP datagram from client 0 to the gateway's port (or port) carrying msg.
uint16_t udp_to_gw(sg_fx &f, uint8_t *out, const uint8_t *msg, uint16_t len,
		   uint16_t port = SG_FX_GW_PORT, bool good_csum = true)
{
	uint8_t l4[SG_FX_FRAME_MAX];
	auto *udp = (rte_udp_hdr *)l4;
	udp->src_port = f.cl[0].ep.port;
	udp->dst_port = rte_cpu_to_be_16(port);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + len));
	memcpy(l4 + 8, msg, len);
	uint16_t n = frame6(f, out, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_UDP, 64, l4,
			    (uint16_t)(8 + len), 6);
	if (!good_csum)
		out[SG_FX_OUTER_LEN - 1] ^= 0x5a;
	return n;
}

// A data message of client 0 whose plaintext is inner (len bytes).
uint16_t data_from_client(sg_fx &f, unsigned i, uint8_t *out, const uint8_t *inner, uint32_t len)
{
	return sg_fx_data(&f, 0, 100 + i, inner, len, out);
}

// An inner IPv6/UDP packet of 100 bytes from src to dst.
std::vector<uint8_t> inner6(const uint8_t src[16], const uint8_t dst[16])
{
	std::vector<uint8_t> p(100);
	sg_fx_inner(p.data(), (uint32_t)p.size(), src, dst, 7);
	return p;
}

TEST_F(Stages, NicInputRefusesEachMalformedFrameUnderItsReason)
{
	const uint8_t gw_mac_other[6] = { 0x02, 0x99, 0x99, 0x99, 0x99, 0x99 };
	const Case cases[] = {
		{ "eth_truncated",
		  [](sg_fx &, unsigned, uint8_t *o) {
			  memset(o, 0, 10);
			  return (uint16_t)10;
		  },
		  "eth_truncated=3 " },
		{ "eth_type",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[8] = {};
			  uint16_t n = frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, 17, 64, l4, 8, -1);
			  o[12] = 0x88, o[13] = 0xb5;
			  return n;
		  },
		  "eth_type=3 " },
		{ "eth_not_for_us",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[8] = {};
			  uint16_t n = frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, 17, 64, l4, 8, 6);
			  memcpy(o, gw_mac_other, 6);
			  return n;
		  },
		  "eth_not_for_us=3 " },
		{ "ip_truncated",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[8] = {};
			  frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, 17, 64, l4, 8, 6);
			  return (uint16_t)(RTE_ETHER_HDR_LEN + 20);
		  },
		  "ip_truncated=3 " },
		{ "ip_not_for_us",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[8] = {};
			  return frame6(f, o, f.cl[0].ep.addr, other_host, 17, 64, l4, 8, 6);
		  },
		  "ip_not_for_us=3 " },
		{ "ip_proto",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[20] = {};
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_TCP, 64, l4, 20,
					16);
		  },
		  "ip_proto=3 " },
		{ "ip_fragment",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[16] = { IPPROTO_UDP };
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_FRAGMENT, 64, l4,
					16, -1);
		  },
		  "ip_fragment=3 " },
		{ "udp_truncated",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t l4[4] = {};
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_UDP, 64, l4, 4,
					-1);
		  },
		  "udp_truncated=3 " },
		{ "udp_csum",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t msg[32] = { 4 };
			  return udp_to_gw(f, o, msg, sizeof(msg), SG_FX_GW_PORT, false);
		  },
		  "udp_csum=3 " },
		{ "udp_port",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t msg[32] = { 4 };
			  return udp_to_gw(f, o, msg, sizeof(msg), 9);
		  },
		  "udp_port=3 " },
		{ "wg_type",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t msg[SG_MSG_INITIATION_LEN] = { 9 };
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_type=3 " },
		{ "wg_size",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t msg[100] = { SG_MSG_INITIATION };
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_size=3 " },
		{ "wg_reserved",
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  uint8_t msg[SG_MSG_DATA_MIN_LEN] = { SG_MSG_DATA, 1 };
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_reserved=3 " },
		{ "wg_unknown_index",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_DATA_MIN_LEN] = { SG_MSG_DATA };
			  sg_put_le32(msg + 4, f.cl[0].nk.remote_index ^ (0x10000u << i));
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_unknown_index=3 " },
		{ "wg_replay",
		  // Counter 0 was the keepalive that confirmed the session.
		  [](sg_fx &f, unsigned, uint8_t *o) {
			  return sg_fx_data(&f, 0, 0, nullptr, 0, o);
		  },
		  "wg_replay=3 " },
		{ "wg_bad_tag",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  sg_fx_data(&f, 0, 1000 + i, nullptr, 0, o);
			  uint8_t msg[SG_MSG_DATA_MIN_LEN];
			  memcpy(msg, o + SG_FX_OUTER_LEN, sizeof(msg));
			  msg[sizeof(msg) - 1] ^= 0x55; // the tag, under a good UDP checksum
			  return sg_fx_outer(&f, 0, msg, sizeof(msg), o);
		  },
		  "wg_bad_tag=3 " },
	};
	for (const Case &c : cases)
		nic(c);
}

TEST_F(Stages, IngressRefusesEachBadInnerPacketUnderItsReason)
{
	std::vector<uint8_t> spoofed = inner6(other_host, vm);
	uint8_t other_org[16], no_vm[16];
	memcpy(other_org, f.cl[2].addr, 16);
	memcpy(no_vm, vm, 16);
	no_vm[13] ^= 0x40;
	std::vector<uint8_t> to_other_org = inner6(f.cl[0].addr, other_org);
	std::vector<uint8_t> to_no_vm = inner6(f.cl[0].addr, no_vm);
	const uint8_t v4[40] = { 0x45 };
	const uint8_t short6[10] = { 0x60 };
	const Case cases[] = {
		{ "inner_truncated",
		  [&](sg_fx &f, unsigned i, uint8_t *o) {
			  return data_from_client(f, i, o, short6, sizeof(short6));
		  },
		  "inner_truncated=3 " },
		{ "inner_not_ipv6",
		  [&](sg_fx &f, unsigned i, uint8_t *o) {
			  return data_from_client(f, 10 + i, o, v4, sizeof(v4));
		  },
		  "inner_not_ipv6=3 " },
		{ "inner_src",
		  [&](sg_fx &f, unsigned i, uint8_t *o) {
			  return data_from_client(f, 20 + i, o, spoofed.data(),
						  (uint32_t)spoofed.size());
		  },
		  "inner_src=3 " },
		{ "org_isolation",
		  [&](sg_fx &f, unsigned i, uint8_t *o) {
			  return data_from_client(f, 30 + i, o, to_other_org.data(),
						  (uint32_t)to_other_org.size());
		  },
		  "org_isolation=3 " },
		{ "no_route",
		  [&](sg_fx &f, unsigned i, uint8_t *o) {
			  return data_from_client(f, 40 + i, o, to_no_vm.data(),
						  (uint32_t)to_no_vm.size());
		  },
		  "no_route=3 " },
	};
	for (const Case &c : cases)
		nic(c);
	EXPECT_EQ(f.w->st.decrypted, 1u + 5 * N) << "all of them authenticated first";
}

TEST_F(Stages, IngressDeliversToTheVmAndCountsKeepalives)
{
	std::vector<uint8_t> p = inner6(f.cl[0].addr, vm);
	uint8_t frame[SG_FX_FRAME_MAX];
	uint64_t keepalives = f.w->st.keepalive_rx;
	sgfx::Drops before(f);

	rte_mbuf *m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 0, 5, nullptr, 0, frame));
	sg_nic_input(f.w, &m, 1);
	EXPECT_EQ(f.w->st.keepalive_rx, keepalives + 1);
	EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 0u) << "a keepalive delivers nothing";
	m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 0, 6, p.data(), (uint32_t)p.size(), frame));
	sg_nic_input(f.w, &m, 1);
	ASSERT_EQ(rte_ring_dequeue(f.vm_tx[0], (void **)&m), 0);
	ASSERT_EQ(rte_pktmbuf_pkt_len(m), RTE_ETHER_HDR_LEN + p.size());
	const uint8_t *got = rte_pktmbuf_mtod_offset(m, const uint8_t *, RTE_ETHER_HDR_LEN);
	EXPECT_EQ(got[7], p[7] - 1) << "one hop";
	EXPECT_EQ(memcmp(got + 8, p.data() + 8, p.size() - 8), 0) << "the packet as sent";
	rte_pktmbuf_free(m);
	EXPECT_EQ(sgfx::moved(f, before), "");
}

TEST_F(Stages, ControlLcoreRefusesEachBadHandshakeUnderItsReason)
{
	const Case cases[] = {
		{ "wg_mac1",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_INITIATION_LEN] = { SG_MSG_INITIATION };
			  msg[4] = (uint8_t)i;
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_mac1=3 " },
		{ "wg_static",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  sg_msg_initiation msg;
			  sg_cookie_maker maker;
			  memset(&msg, 0, sizeof(msg));
			  msg.header.type = SG_MSG_INITIATION;
			  msg.sender_index = i;
			  sg_cookie_maker_init(&maker, f.gw->ctl.core.st.public_key);
			  sg_cookie_add_macs(&maker, &msg, sizeof(msg), f.w->now_ns);
			  sg_cookie_maker_clear(&maker);
			  return udp_to_gw(f, o, (const uint8_t *)&msg, sizeof(msg));
		  },
		  "wg_static=3 " },
		{ "wg_unknown_peer",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  uint8_t priv[32], pub[32];
			  sg_noise_static st;
			  sg_noise_peer_hs hs;
			  sg_msg_initiation msg;
			  sg_cookie_maker maker;
			  const uint8_t *gw = f.gw->ctl.core.st.public_key;
			  sg_x25519_keypair(pub, priv);
			  EXPECT_EQ(sg_noise_static_init(&st, priv), 0);
			  EXPECT_EQ(sg_noise_peer_hs_init(&hs, &st, gw, nullptr), 0);
			  EXPECT_EQ(sg_noise_create_initiation(&st, &hs, &msg, i, f.w->now_ns), 0);
			  sg_cookie_maker_init(&maker, gw);
			  sg_cookie_add_macs(&maker, &msg, sizeof(msg), f.w->now_ns);
			  sg_cookie_maker_clear(&maker);
			  sg_noise_peer_hs_clear(&hs);
			  sg_noise_static_clear(&st);
			  return udp_to_gw(f, o, (const uint8_t *)&msg, sizeof(msg));
		  },
		  "wg_unknown_peer=3 " },
		{ "wg_unknown_index",
		  // A response to an initiation the gateway never sent.
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  sg_msg_response msg;
			  sg_cookie_maker maker;
			  memset(&msg, 0, sizeof(msg));
			  msg.header.type = SG_MSG_RESPONSE;
			  msg.receiver_index = 0x5000 + i;
			  sg_cookie_maker_init(&maker, f.gw->ctl.core.st.public_key);
			  sg_cookie_add_macs(&maker, &msg, sizeof(msg), f.w->now_ns);
			  sg_cookie_maker_clear(&maker);
			  return udp_to_gw(f, o, (const uint8_t *)&msg, sizeof(msg));
		  },
		  "wg_unknown_index=3 " },
		{ "wg_cookie",
		  [](sg_fx &f, unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_COOKIE_REPLY_LEN] = { SG_MSG_COOKIE_REPLY };
			  sg_put_le32(msg + 4, 0x6000 + i);
			  return udp_to_gw(f, o, msg, sizeof(msg));
		  },
		  "wg_cookie=3 " },
	};
	for (const Case &c : cases)
		nic(c);
	EXPECT_EQ(f.gw->ctl.core.stats.resp_tx, 1u) << "only client 0's own handshake";
}

TEST_F(Stages, EgressRefusesEachBadVmFrameUnderItsReason)
{
	uint8_t no_peer[16];
	memcpy(no_peer, f.cl[0].addr, 16);
	no_peer[15] ^= 0x80;
	const Case cases[] = {
		{ "vm_truncated",
		  [](sg_fx &, unsigned, uint8_t *o) {
			  memset(o, 0, 20);
			  return (uint16_t)20;
		  },
		  "vm_truncated=3 " },
		{ "vm_spoof",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  std::vector<uint8_t> p = inner6(other_host, f.cl[0].addr);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "vm_spoof=3 " },
		{ "org_isolation",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  std::vector<uint8_t> p = inner6(vm, f.cl[2].addr);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "org_isolation=3 " },
		{ "no_peer",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  std::vector<uint8_t> p = inner6(vm, no_peer);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "no_peer=3 " },
		{ "no_session",
		  // Client 1 never made a handshake: no session, no endpoint.
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  std::vector<uint8_t> p = inner6(vm, f.cl[1].addr);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "no_session=3 " },
		{ "too_big",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  std::vector<uint8_t> p(1500);
			  sg_fx_inner(p.data(), (uint32_t)p.size(), vm, f.cl[0].addr, 1);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "too_big=3 " },
		{ "local_other",
		  [&](sg_fx &f, unsigned, uint8_t *o) {
			  const uint8_t all_nodes[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0,
							  0,	0, 0, 0, 0, 0, 0, 1 };
			  std::vector<uint8_t> p = inner6(vm, all_nodes);
			  return sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), o);
		  },
		  "local_other=3 " },
	};
	for (const Case &c : cases)
		vm_side(c);
}

TEST_F(Stages, EgressEncryptsForThePeer)
{
	std::vector<uint8_t> p = inner6(vm, f.cl[0].addr);
	uint8_t frame[SG_FX_FRAME_MAX];
	uint64_t encrypted = f.w->st.encrypted;
	sgfx::Drops before(f);
	rte_mbuf *m =
		sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), frame));

	sg_egress_vm(f.w, 0, &m, 1);
	ASSERT_EQ(rte_ring_dequeue(f.nic_tx, (void **)&m), 0);
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, SG_FX_OUTER_LEN);
	uint32_t clen = rte_pktmbuf_pkt_len(m) - SG_FX_OUTER_LEN - SG_MSG_DATA_HEADER_LEN;
	std::vector<uint8_t> plain(clen - SG_TAG_LEN);
	EXPECT_EQ(msg[0], SG_MSG_DATA);
	EXPECT_EQ(sg_get_le32(msg + 4), f.cl[0].nk.local_index);
	EXPECT_EQ(sg_aead_decrypt(plain.data(), msg + SG_MSG_DATA_HEADER_LEN, clen, nullptr, 0,
				  sg_get_le64(msg + 8), f.cl[0].nk.receiving_key),
		  0)
		<< "the client decrypts it";
	EXPECT_EQ(plain.size() % 16, 0u) << "padded to 16";
	EXPECT_EQ(memcmp(plain.data() + 8, p.data() + 8, p.size() - 8), 0);
	rte_pktmbuf_free(m);
	EXPECT_EQ(f.w->st.encrypted, encrypted + 1);
	EXPECT_EQ(sgfx::moved(f, before), "");
}

// A peer whose session is not confirmed yet gets what the VM sends staged,
// up to SG_MAX_STAGED_PACKETS; the rest is staged_full.
TEST_F(Stages, EgressStagesForAPeerWithoutSessionUpToItsLimit)
{
	ASSERT_EQ(sg_fx_handshake(&f, 1, false, f.w->now_ns), 0) << "an endpoint, no session";
	std::vector<uint8_t> p = inner6(vm, f.cl[1].addr);
	uint64_t staged = f.w->st.staged;
	sgfx::Drops before(f);
	for (unsigned i = 0; i < SG_MAX_STAGED_PACKETS + 2; i++) {
		uint8_t frame[SG_FX_FRAME_MAX];
		rte_mbuf *m = sg_fx_mbuf(&f, frame,
					 sg_fx_vm_frame(&f, p.data(), (uint32_t)p.size(), frame));
		ASSERT_NE(m, nullptr);
		sg_egress_vm(f.w, 0, &m, 1);
	}
	EXPECT_EQ(f.w->st.staged, staged + SG_MAX_STAGED_PACKETS);
	EXPECT_EQ(rte_ring_count(f.cl[1].peer->staged), (unsigned)SG_MAX_STAGED_PACKETS);
	EXPECT_EQ(sgfx::moved(f, before), "staged_full=2 ");
	EXPECT_EQ(sg_fx_drain(f.nic_tx), 0u);
}

// A keypair past REJECT_AFTER_TIME (an hour in the fixture) takes nothing.
TEST_F(Stages, NicInputRefusesDataUnderAnExpiredKeypair)
{
	f.w->now_ns += 3601 * sgfx::kS;
	nic({ "wg_keypair_expired",
	      [](sg_fx &f, unsigned i, uint8_t *o) {
		      return sg_fx_data(&f, 0, 50 + i, nullptr, 0, o);
	      },
	      "wg_keypair_expired=3 " });
}

// Outer IPv4, with a header checksum that does not add up.
class StagesV4 : public Stages
{
      protected:
	void SetUp() override
	{
		sg_fx_conf c = {};
		c.n_clients = 1;
		c.n_vms = 1;
		c.v4_only = true;
		ASSERT_EQ(sg_fx_start(&f, &c, "stv4"), 0);
		f.w->now_ns = sg_now_ns();
	}
};

TEST_F(StagesV4, NicInputRefusesABadIpv4HeaderChecksum)
{
	nic({ "ip_csum",
	      [](sg_fx &f, unsigned, uint8_t *o) {
		      auto *eth = (rte_ether_hdr *)o;
		      auto *ip = (rte_ipv4_hdr *)(eth + 1);
		      memset(o, 0, 64);
		      eth->dst_addr = f.gw->dp.gw.mac;
		      memcpy(eth->src_addr.addr_bytes, f.cl[0].ep.mac, 6);
		      eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		      ip->version_ihl = 0x45;
		      ip->total_length = rte_cpu_to_be_16(20 + 8 + 32);
		      ip->time_to_live = 64;
		      ip->next_proto_id = IPPROTO_UDP;
		      ip->src_addr = rte_cpu_to_be_32(0xc612000b); // 198.18.0.11
		      memcpy(&ip->dst_addr, sg_fx_gw4, 4);
		      ip->hdr_checksum = (uint16_t)(rte_ipv4_cksum(ip) ^ 0x1111);
		      return (uint16_t)(RTE_ETHER_HDR_LEN + 20 + 8 + 32);
	      },
	      "ip_csum=3 " });
}

} // namespace
