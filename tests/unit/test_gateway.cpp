// SPDX-License-Identifier: MIT
// The control lcore of an in-process gateway (tests/fixture) stepped on an
// injected clock: what the session timers do with what the workers did.
#include "tests/fixture/sg_fixture_gtest.h"

#include <malloc.h>

#include <rte_arp.h>
#include <rte_eth_ring.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "lib/routing/sg_routing.h"
#include "lib/wire/sg_wire.h"

namespace
{

using sgfx::kMs;
using sgfx::kS;

class Gateway : public ::testing::Test
{
      protected:
	sg_fx f = {};
	uint64_t t0 = 0;

	// Confirmed sessions unless a test says otherwise.
	bool confirm = true;
	unsigned n_vms = 1;
	unsigned n_clients = 1;

	void SetUp() override
	{
		static unsigned n;
		sg_fx_conf c = {};
		c.n_clients = n_clients;
		c.n_vms = n_vms;
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

// A client that rekeys twice in a row: the keepalive under its first new
// session reaches a worker (which marks it confirmed) while its second
// initiation is queued for the control lcore, which handles the initiation
// before the worker's event.  The confirmed session is still promoted and
// counted before the second one replaces it: every session the client
// confirmed is one the gateway counts (sixgate-pktgen's rekey test on a
// loaded machine found one missing).
TEST_F(Gateway, SessionConfirmedWhileTheNextInitiationWaitsIsCounted)
{
	uint64_t t1 = t0 + 2 * kS, confirmed = f.gw->ctl.st.confirmed;
	uint8_t frame[SG_FX_FRAME_MAX];

	step(t1);
	sg_fx_drain(f.ctl_tx);
	usleep(40000); // TAI64N timestamps are whitened to 2^24 ns: a new one
	ASSERT_EQ(sg_fx_handshake(&f, 0, false, t1), 0);
	sg_keypair *first = sg_fx_gw_keypair(&f, 0);
	ASSERT_NE(first, nullptr);
	rte_mbuf *m = sg_fx_mbuf(&f, frame, sg_fx_data(&f, 0, 0, nullptr, 0, frame));
	ASSERT_NE(m, nullptr);
	f.w->now_ns = t1 + 1 * kMs;
	sg_nic_input(f.w, &m, 1);
	EXPECT_TRUE(atomic_load(&first->confirmed)) << "the worker saw the keepalive";
	EXPECT_EQ(f.gw->ctl.st.confirmed, confirmed) << "its event is not handled yet";
	usleep(40000);
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, t1 + 100 * kMs), 0);
	EXPECT_EQ(f.gw->ctl.st.confirmed, confirmed + 2) << "both sessions confirmed";
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

// A VM packet larger than the tunnel MTU gets an ICMPv6 Packet Too Big back,
// unless it is itself an ICMPv6 error, also behind extension headers
// (RFC 4443 2.4 e): here a hop-by-hop options header.
TEST_F(Gateway, NoPacketTooBigForAnIcmp6ErrorBehindExtensionHeaders)
{
	for (uint8_t type : { 1, 128 }) {
		uint8_t inner[1500] = {}, frame[SG_FX_FRAME_MAX];
		auto *ip = (rte_ipv6_hdr *)inner;
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16(sizeof(inner) - sizeof(*ip));
		ip->proto = IPPROTO_HOPOPTS;
		ip->hop_limits = 64;
		sg_fx_vm_addr(&f, 0, ip->src_addr);
		memcpy(ip->dst_addr, f.cl[0].addr, 16);
		inner[40] = IPPROTO_ICMPV6; // hop-by-hop: next header, 8 bytes
		inner[48] = type;
		uint64_t too_big = sg_fx_drops(&f, SG_DROP_TOO_BIG);
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
		ASSERT_NE(m, nullptr);
		sg_egress_vm(f.w, 0, &m, 1);
		EXPECT_EQ(sg_fx_drops(&f, SG_DROP_TOO_BIG), too_big + 1) << (int)type;
		EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), type == 1 ? 0u : 1u)
			<< "a Packet Too Big for type " << (int)type;
		EXPECT_EQ(sg_fx_drain(f.nic_tx), 0u);
	}
}

// The one frame the gateway sent to client 0, decrypted: the inner packet.
static std::string from_gateway(sg_fx &f)
{
	rte_mbuf *m = nullptr;
	std::string out;
	if (rte_ring_dequeue(f.nic_tx, (void **)&m) != 0)
		return out;
	const uint8_t *msg = rte_pktmbuf_mtod_offset(m, const uint8_t *, SG_FX_OUTER_LEN);
	uint32_t len = rte_pktmbuf_pkt_len(m) - SG_FX_OUTER_LEN;
	std::string plain(len - SG_MSG_DATA_HEADER_LEN - SG_TAG_LEN, '\0');
	if (sg_aead_decrypt((uint8_t *)&plain[0], msg + SG_MSG_DATA_HEADER_LEN,
			    len - SG_MSG_DATA_HEADER_LEN, nullptr, 0, sg_get_le64(msg + 8),
			    f.cl[0].nk.receiving_key) == 0)
		out = plain;
	rte_pktmbuf_free(m);
	return out;
}

// The one frame the gateway sent to VM 0: its IPv6 packet.
static std::string to_vm(sg_fx &f)
{
	rte_mbuf *m = nullptr;
	std::string out;
	if (rte_ring_dequeue(f.vm_tx[0], (void **)&m) != 0)
		return out;
	out.assign(rte_pktmbuf_mtod_offset(m, const char *, RTE_ETHER_HDR_LEN),
		   rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN);
	rte_pktmbuf_free(m);
	return out;
}

// Between tunnel and VM the gateway is a router: it decrements the hop
// limit, and where it runs out answers with an ICMPv6 Time Exceeded (type 3)
// from the destination's side, toward the VM or through the tunnel.
TEST_F(Gateway, HopLimitIsDecrementedAndTimeExceededSentWhereItRunsOut)
{
	uint8_t inner[128], frame[SG_FX_FRAME_MAX], vm[16];
	sg_fx_vm_addr(&f, 0, vm);
	f.w->now_ns = t0 + kS;
	for (uint8_t hops : { 64, 1 }) {
		uint64_t dropped = sg_fx_drops(&f, SG_DROP_HOP_LIMIT);
		// VM -> client.
		sg_fx_inner(inner, sizeof(inner), vm, f.cl[0].addr, hops);
		inner[7] = hops;
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
		sg_egress_vm(f.w, 0, &m, 1);
		if (hops > 1) {
			std::string p = from_gateway(f);
			ASSERT_EQ(p.size() >= 40, true);
			EXPECT_EQ((uint8_t)p[7], hops - 1) << "decremented on the way out";
		} else {
			std::string te = to_vm(f);
			ASSERT_GE(te.size(), 48u);
			EXPECT_EQ((uint8_t)te[6], IPPROTO_ICMPV6);
			EXPECT_EQ((uint8_t)te[40], 3) << "Time Exceeded back to the VM";
			EXPECT_EQ(memcmp(te.data() + 24, vm, 16), 0);
			EXPECT_EQ(memcmp(te.data() + 8, f.cl[0].addr, 16), 0)
				<< "from its destination";
			EXPECT_EQ(sg_fx_drain(f.nic_tx), 0u);
		}
		// Client -> VM.
		sg_fx_inner(inner, sizeof(inner), f.cl[0].addr, vm, hops);
		inner[7] = hops;
		m = sg_fx_mbuf(&f, frame,
			       sg_fx_data(&f, 0, 10 + hops, inner, sizeof(inner), frame));
		sg_nic_input(f.w, &m, 1);
		if (hops > 1) {
			std::string p = to_vm(f);
			ASSERT_EQ(p.size(), sizeof(inner));
			EXPECT_EQ((uint8_t)p[7], hops - 1) << "decremented on the way in";
		} else {
			std::string te = from_gateway(f);
			ASSERT_GE(te.size(), 48u);
			EXPECT_EQ((uint8_t)te[40], 3) << "Time Exceeded through the tunnel";
			EXPECT_EQ(memcmp(te.data() + 24, f.cl[0].addr, 16), 0);
			EXPECT_EQ(memcmp(te.data() + 8, vm, 16), 0);
			EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 0u);
		}
		EXPECT_EQ(sg_fx_drops(&f, SG_DROP_HOP_LIMIT), dropped + (hops > 1 ? 0 : 2));
	}
}

// Time Exceeded messages are rate limited: a burst of 10, then 100 a second.
TEST_F(Gateway, TimeExceededIsRateLimited)
{
	uint8_t inner[128], frame[SG_FX_FRAME_MAX], vm[16];
	sg_fx_vm_addr(&f, 0, vm);
	sg_fx_inner(inner, sizeof(inner), vm, f.cl[0].addr, 1);
	inner[7] = 1;
	f.w->now_ns = t0 + 5 * kS;
	uint64_t dropped = sg_fx_drops(&f, SG_DROP_HOP_LIMIT);
	for (unsigned i = 0; i < 50; i++) {
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_vm_frame(&f, inner, sizeof(inner), frame));
		sg_egress_vm(f.w, 0, &m, 1);
	}
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_HOP_LIMIT), dropped + 50) << "each one counted";
	EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), 10u) << "the burst, not one each";
}

// Two VMs on worker 0, for vm rm.
class TwoVms : public Gateway
{
      protected:
	uint64_t counter = 1;

	void SetUp() override
	{
		n_vms = 2;
		Gateway::SetUp();
	}
	// Client 0 sends one datagram to VM v; returns how many frames each VM's port got.
	void client_to(unsigned v, unsigned *got0, unsigned *got1)
	{
		uint8_t inner[128], frame[SG_FX_FRAME_MAX], dst[16];
		sg_fx_vm_addr(&f, v, dst);
		sg_fx_inner(inner, sizeof(inner), f.cl[0].addr, dst, counter);
		rte_mbuf *m = sg_fx_mbuf(&f, frame,
					 sg_fx_data(&f, 0, counter++, inner, sizeof(inner), frame));
		ASSERT_NE(m, nullptr);
		sg_nic_input(f.w, &m, 1);
		*got0 = sg_fx_drain(f.vm_tx[0]);
		*got1 = sg_fx_drain(f.vm_tx[1]);
	}
};

// vm rm of vm1: what waits for it in its hand-off ring is freed and counted
// (vm_removed), its route and poll slot are gone (traffic to its /112 is
// no_route), vm0 is untouched, and vm add into the slot it left works again.
TEST_F(TwoVms, VmRemovedAtRunTimeAndAddedAgainIntoItsSlot)
{
	sg_dp *dp = &f.gw->dp;
	unsigned g0, g1;

	client_to(1, &g0, &g1);
	ASSERT_EQ(g1, 1u) << "vm1 reachable before";
	// A frame another lcore handed to vm1 and that its owner did not send yet.
	rte_mbuf *m = rte_pktmbuf_alloc(dp->pool);
	ASSERT_NE(m, nullptr);
	ASSERT_EQ(rte_ring_enqueue(dp->vms[1].txr, m), 0);
	ASSERT_EQ(rte_ring_count(dp->vms[1].txr), 1u);
	uint64_t routes = sg_routing_count(dp->routes);
	sgfx::Drops before(f);

	ASSERT_EQ(sg_gateway_vm_detach(f.gw, "vm1"), 0);
	EXPECT_EQ(sgfx::moved(f, before), "vm_removed=1 ") << "the queued frame freed, counted";
	EXPECT_EQ(rte_ring_count(dp->vms[1].txr), 0u);
	EXPECT_EQ(sg_routing_count(dp->routes), routes - 1);
	EXPECT_EQ(f.w->n_vms, 1u) << "out of its owner's poll set";
	EXPECT_EQ(f.w->vms[0], 0u);
	EXPECT_TRUE(dp->vms[1].detached);
	EXPECT_EQ(sg_gateway_vm_detach(f.gw, "vm1"), -ENOENT) << "gone already";
	EXPECT_EQ(sg_gateway_vm_detach(f.gw, "nosuch"), -ENOENT);

	sgfx::Drops mid(f);
	client_to(1, &g0, &g1);
	EXPECT_EQ(g0 + g1, 0u);
	EXPECT_EQ(sgfx::moved(f, mid), "no_route=1 ") << "its /112 has no route";
	client_to(0, &g0, &g1);
	EXPECT_EQ(g0, 1u) << "vm0 still reachable";

	// vm add vm1 again: a new port on the same rings, into the slot vm rm left.
	char dev[RTE_ETH_NAME_MAX_LEN];
	int port =
		rte_eth_from_rings("vmrm_again", &f.vm_rx[1], 1, &f.vm_tx[1], 1, rte_socket_id());
	ASSERT_GE(port, 0);
	ASSERT_EQ(rte_eth_dev_get_name_by_port((uint16_t)port, dev), 0);
	sg_config_vm cv = {};
	snprintf(cv.name, sizeof(cv.name), "vm1");
	cv.device = dev;
	cv.prefix.family = cv.network.family = AF_INET6;
	cv.prefix.len = 112;
	memcpy(cv.prefix.addr, f.vm_prefix[1], 16);
	cv.network.len = 48;
	memcpy(cv.network.addr, f.vm_prefix[1], 16);
	memset(cv.network.addr + 6, 0, 10);
	cv.has_mac = 1;
	memcpy(cv.mac, f.vm_mac.addr_bytes, 6);
	ASSERT_EQ(sg_gateway_vm_attach(f.gw, &cv), 0);
	EXPECT_EQ(dp->n_vms, 2u) << "the slot reused, none appended";
	EXPECT_FALSE(dp->vms[1].detached);
	EXPECT_EQ(f.w->n_vms, 2u);
	EXPECT_EQ(sg_routing_count(dp->routes), routes);
	client_to(1, &g0, &g1);
	EXPECT_EQ(g1, 1u) << "vm1 reachable again";
	EXPECT_EQ(sg_gateway_vm_attach(f.gw, &cv), -EEXIST);
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
	EXPECT_EQ(sg_peer_staged_count(p), 5u);
	step(t1 + 9 * kS);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 0u) << "not before 10 s";
	step(t1 + 10 * kS + 100 * kMs);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 5u)
		<< "all five, though two were only 5 s old";
	EXPECT_EQ(sg_peer_staged_count(p), 0u);
	// A new packet starts a new wait.
	vm_sends(t1 + 11 * kS, false);
	step(t1 + 20 * kS);
	EXPECT_EQ(sg_peer_staged_count(p), 1u);
	step(t1 + 21 * kS + 100 * kMs);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_STAGED_TIMEOUT), 6u);
	sg_fx_drain(f.ctl_tx);
}

using sgfx::frame6;

// Feeds one frame to nic_input; returns the drop reasons that moved
// ("name=n ...") and in *replies what went back out.
static std::string feed(sg_fx &f, const uint8_t *frame, uint16_t len, unsigned *replies)
{
	sgfx::Drops before(f);
	uint64_t local = f.w->st.local_replies;
	rte_mbuf *m = sg_fx_mbuf(&f, frame, len);
	sg_nic_input(f.w, &m, 1);
	*replies = sg_fx_drain(f.nic_tx);
	EXPECT_EQ(f.w->st.local_replies - local, *replies);
	return sgfx::moved(f, before);
}

static const uint8_t fe80_2[16] = { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2 };

// A gateway with an IPv4 address only: its IPv6 link-local address (derived
// from the MAC) answers nothing, neither echo, nor ND, nor WireGuard.
class V4Only : public ::testing::Test
{
      protected:
	sg_fx f = {};

	void SetUp() override
	{
		static unsigned n;
		sg_fx_conf c = {};
		c.n_clients = 1;
		c.n_vms = 1;
		c.v4_only = true;
		ASSERT_EQ(sg_fx_start(&f, &c, ("v4only" + std::to_string(n++)).c_str()), 0);
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
	}
	std::string feed6(const uint8_t dst[16], uint8_t proto, uint8_t hops, const uint8_t *l4,
			  uint16_t len, unsigned csum_at)
	{
		uint8_t frame[256];
		unsigned replies;
		std::string moved =
			feed(f, frame, frame6(f, frame, fe80_2, dst, proto, hops, l4, len, csum_at),
			     &replies);
		EXPECT_EQ(replies, 0u) << "no reply from ::";
		return moved;
	}
};

TEST_F(V4Only, LinkLocalAddressAnswersNothing)
{
	const uint8_t *ll = f.gw->dp.gw.v6_ll;
	uint8_t l4[160] = {};

	// ICMPv6 echo request to the link-local address.
	l4[0] = 128;
	EXPECT_EQ(feed6(ll, IPPROTO_ICMPV6, 64, l4, 16, 2), "ip_not_for_us=1 ");
	// Neighbor solicitation for it, to its solicited-node group.
	uint8_t snm[16] = { 0xff, 0x02, 0, 0,	 0,    0,      0,      0,
			    0,	  0,	0, 0x01, 0xff, ll[13], ll[14], ll[15] };
	memset(l4, 0, sizeof(l4));
	l4[0] = 135;
	memcpy(l4 + 8, ll, 16);
	EXPECT_EQ(feed6(snm, IPPROTO_ICMPV6, 255, l4, 24, 2), "ip_not_for_us=1 ");
	// A WireGuard initiation to it.
	memset(l4, 0, sizeof(l4));
	auto *udp = (rte_udp_hdr *)l4;
	udp->src_port = rte_cpu_to_be_16(40000);
	udp->dst_port = rte_cpu_to_be_16(SG_FX_GW_PORT);
	udp->dgram_len = rte_cpu_to_be_16(8 + 148);
	l4[8] = 1;
	EXPECT_EQ(feed6(ll, IPPROTO_UDP, 64, l4, 8 + 148, 6), "ip_not_for_us=1 ");
}

// An ARP request for 198.18.0.1 from sender sip with source MAC smac.
static uint16_t arp_request(const sg_fx &f, uint8_t *out, const uint8_t sip[4],
			    const uint8_t smac[6])
{
	auto *eth = (rte_ether_hdr *)out;
	auto *arp = (rte_arp_hdr *)(eth + 1);
	memset(out, 0, sizeof(*eth) + sizeof(*arp));
	memset(eth->dst_addr.addr_bytes, 0xff, 6);
	memcpy(eth->src_addr.addr_bytes, smac, 6);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	memcpy(arp->arp_data.arp_sha.addr_bytes, smac, 6);
	memcpy(&arp->arp_data.arp_sip, sip, 4);
	memcpy(&arp->arp_data.arp_tip, sg_fx_gw4, 4);
	(void)f;
	return (uint16_t)(sizeof(*eth) + sizeof(*arp));
}

// Requests from a source no reply may go to are martians: no reply, counted.
TEST_F(V4Only, ArpFromBroadcastOrGroupSourcesIsNotAnswered)
{
	const uint8_t host[6] = { 0x02, 0, 0, 0, 0, 0x11 }, group[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	const uint8_t ip[4] = { 198, 18, 0, 11 }, bcast[4] = { 255, 255, 255, 255 },
		      mcast[4] = { 224, 0, 0, 1 }, probe[4] = { 0, 0, 0, 0 };
	uint8_t frame[128];
	unsigned replies;

	EXPECT_EQ(feed(f, frame, arp_request(f, frame, ip, host), &replies), "");
	EXPECT_EQ(replies, 1u) << "a host's request is answered";
	EXPECT_EQ(feed(f, frame, arp_request(f, frame, probe, host), &replies), "");
	EXPECT_EQ(replies, 1u) << "an ARP probe (RFC 5227) too";
	EXPECT_EQ(feed(f, frame, arp_request(f, frame, bcast, host), &replies), "martian=1 ");
	EXPECT_EQ(feed(f, frame, arp_request(f, frame, mcast, host), &replies), "martian=1 ");
	EXPECT_EQ(feed(f, frame, arp_request(f, frame, ip, group), &replies), "martian=1 ");
	EXPECT_EQ(replies, 0u);
}

// The same for ICMPv6 echo and neighbor solicitations.
TEST_F(Gateway, EchoAndNdFromGroupSourcesAreNotAnswered)
{
	const uint8_t group_mac[6] = { 0x33, 0x33, 0, 0, 0, 1 };
	const uint8_t host[16] = { 0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11 },
		      all_nodes[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
		      unspec[16] = {};
	uint8_t echo[16] = { 128 }, ns[24] = { 135 }, frame[256];
	unsigned replies;

	memcpy(ns + 8, sg_fx_gw6, 16);
	auto send_echo = [&](const uint8_t *src, const uint8_t *mac) {
		return feed(f, frame,
			    frame6(f, frame, src, sg_fx_gw6, IPPROTO_ICMPV6, 64, echo, 16, 2, mac),
			    &replies);
	};
	auto send_ns = [&](const uint8_t *src, const uint8_t *mac) {
		return feed(f, frame,
			    frame6(f, frame, src, sg_fx_gw6, IPPROTO_ICMPV6, 255, ns, 24, 2, mac),
			    &replies);
	};
	EXPECT_EQ(send_echo(host, nullptr), "");
	EXPECT_EQ(replies, 1u) << "a host's echo is answered";
	EXPECT_EQ(send_echo(all_nodes, nullptr), "martian=1 ");
	EXPECT_EQ(send_echo(unspec, nullptr), "martian=1 ");
	EXPECT_EQ(send_echo(host, group_mac), "martian=1 ");
	EXPECT_EQ(send_ns(host, nullptr), "");
	EXPECT_EQ(replies, 1u) << "a host's solicitation is answered";
	EXPECT_EQ(send_ns(all_nodes, nullptr), "martian=1 ");
	EXPECT_EQ(send_ns(host, group_mac), "martian=1 ");
	EXPECT_EQ(replies, 0u);
}

// Local replies are rate limited per worker: a burst of 100, then 1000 a second.
TEST_F(Gateway, LocalRepliesAreRateLimited)
{
	const uint8_t host[16] = { 0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11 };
	uint8_t echo[16] = { 128 }, frame[256];
	uint16_t len = frame6(f, frame, host, sg_fx_gw6, IPPROTO_ICMPV6, 64, echo, 16, 2);
	unsigned replies, answered = 0;
	uint64_t limited = sg_fx_drops(&f, SG_DROP_LOCAL_RATELIMIT);

	f.w->now_ns = t0 + 20 * kS;
	for (unsigned i = 0; i < 150; i++) {
		feed(f, frame, len, &replies);
		answered += replies;
	}
	EXPECT_EQ(answered, 100u);
	EXPECT_EQ(sg_fx_drops(&f, SG_DROP_LOCAL_RATELIMIT), limited + 50);
	f.w->now_ns += kS;
	feed(f, frame, len, &replies);
	EXPECT_EQ(replies, 1u) << "answered again a second later";
}

// [workers] cycles = on: the stages count from the start, and
// sg_gateway_cycles_set turns them off on every worker.
TEST(Cycles, ConfigKeyTurnsCountingOnFromTheStart)
{
	sg_fx f = {};
	sg_fx_conf c = {};
	c.n_vms = 1;
	c.n_clients = 1;
	c.cycles = true;
	ASSERT_EQ(sg_fx_start(&f, &c, "cyc"), 0);
	EXPECT_TRUE(sg_gateway_cycles_on(f.gw));
	ASSERT_EQ(sg_fx_handshake(&f, 0, true, sg_now_ns()), 0);
	EXPECT_EQ(f.w->cyc[SG_STAGE_NIC_INPUT].pkts, 2u) << "the initiation and the keepalive";
	EXPECT_EQ(f.w->cyc[SG_STAGE_INGRESS].pkts, 1u) << "the keepalive";
	sg_gateway_cycles_set(f.gw, false);
	EXPECT_FALSE(sg_gateway_cycles_on(f.gw));
	EXPECT_FALSE(atomic_load(&f.gw->dp.ctl->cycles_on));
	sg_fx_stop(&f);
}

// What one more peer costs: the DPDK heap (peer, control state, key hash,
// event ring) and the C heap (allowed-IPs nodes) of a gateway with 10,000
// configured peers against one with a single peer.  Ten thousand is beyond
// RTE_MAX_MEMZONE (2560), which a memzone per peer could not pass; an idle
// peer costs at most 2 KiB, one with a session a keypair (1.4 KiB, most of it the 8,192-bit replay window) more.
TEST(ManyPeers, TenThousandPeersLoadAtMost2KiBEachAndHandshake)
{
	constexpr unsigned kPeers = 10000, kSessions = 1000;
	auto heap = [] {
		rte_malloc_socket_stats s;
		rte_malloc_get_socket_stats((int)rte_socket_id(), &s);
		return (double)s.heap_allocsz_bytes + (double)mallinfo2().uordblks;
	};
	sg_fx f = {};
	sg_fx_conf c = {};
	c.n_vms = 1;
	c.n_clients = 1;
	double base = heap();
	ASSERT_EQ(sg_fx_start(&f, &c, "many1"), 0);
	double one = heap() - base;
	sg_fx_stop(&f);

	c.n_clients = kPeers;
	base = heap();
	ASSERT_EQ(sg_fx_start(&f, &c, "many"), 0);
	// The fixture's own client records are not the gateway's.
	double idle =
		(heap() - base - one - (double)(kPeers * sizeof(sg_fx_client))) / (kPeers - 1);
	EXPECT_EQ(sg_peers_count(f.gw->dp.peers), kPeers);
	EXPECT_LE(idle, 2048.0) << "bytes per idle peer";

	uint64_t now = sg_now_ns();
	double before = heap();
	for (unsigned i = 0; i < kSessions; i++)
		ASSERT_EQ(sg_fx_handshake(&f, kPeers - 1 - i, true, now), 0) << "peer " << i;
	double session = (heap() - before) / kSessions;
	EXPECT_EQ(sg_peers_keypairs_alive(f.gw->dp.peers), kSessions);
	EXPECT_LE(session, 768.0) << "bytes per session (512 of them the keypair)";
	printf("[ per-peer memory ] idle peer %.0f bytes, a session %.0f bytes more\n", idle,
	       session);
	sg_fx_stop(&f);
}

// 100,000 configured peers, one of them (client 0) with a session: the
// control lcore's tick costs what is due, not what is configured.  The old
// tick walked every peer every 20 ms (100,000 visits a tick, 314 handshakes
// a second left at that scale); now idle peers are not even queued, and the
// one peer's timers still fire within a tick of their deadline: the passive
// keepalive 10 s after its last data, a new handshake 15 s (+ jitter) after
// data it did not answer, the keys wiped 3 * REJECT_AFTER_TIME after the
// session.
class HundredThousandPeers : public Gateway
{
      protected:
	static constexpr unsigned kPeers = 100000;
	// At most this many peers visited in one tick, and in all.
	static constexpr uint64_t kMaxPerTick = 4, kMaxVisits = 200;
	uint64_t now = 0;

	void SetUp() override
	{
		n_clients = kPeers;
		Gateway::SetUp();
		now = t0;
	}
	// Steps the control lcore every 20 ms (a tick each) up to until; returns
	// when what() first became true, UINT64_MAX when it did not.
	template <typename F> uint64_t tick_until(uint64_t until, F what, uint64_t every = 20 * kMs)
	{
		while (now + every <= until) {
			now += every;
			step(now);
			sg_fx_drain(f.ctl_tx);
			if (what())
				return now;
		}
		return UINT64_MAX;
	}
	uint64_t visits() const
	{
		return f.gw->ctl.st.tick_visits;
	}
};

TEST_F(HundredThousandPeers, ATickVisitsOnlyDuePeersAndTheirTimersAreOnTime)
{
	auto &st = f.gw->ctl.st;
	ASSERT_EQ(sg_peers_count(f.gw->dp.peers), kPeers);
	EXPECT_LE(sg_timers_queue_len(&f.gw->ctl.due), 1u) << "idle peers are not queued";

	// A second of ticks with nothing to do.
	uint64_t ticks = st.ticks;
	tick_until(t0 + 1 * kS, [] { return false; });
	EXPECT_GE(st.ticks - ticks, 40u) << "the tick ran";

	// The passive keepalive: 10 s after the client's last data.
	uint64_t t1 = now + 7 * kMs, ka = st.keepalive_tx;
	client_sends(1, t1);
	uint64_t at = tick_until(t1 + 10 * kS + 20 * kMs, [&] { return st.keepalive_tx != ka; });
	EXPECT_GE(at, t1 + 10 * kS) << "not before keepalive_timeout";
	EXPECT_LE(at, t1 + 10 * kS + 20 * kMs) << "within a tick of it";
	EXPECT_EQ(st.keepalive_tx, ka + 1);

	// Data sent and never answered: a new handshake after 15 s + jitter.
	uint64_t t2 = now + 3 * kMs, inits = f.gw->ctl.core.stats.init_tx;
	vm_sends(t2);
	at = tick_until(t2 + 15 * kS + 354 * kMs,
			[&] { return f.gw->ctl.core.stats.init_tx != inits; });
	EXPECT_GE(at, t2 + 15 * kS) << "not before keepalive_timeout + rekey_timeout";
	EXPECT_LE(at, t2 + 15 * kS + 354 * kMs) << "within the jitter and a tick";
	EXPECT_EQ(f.gw->ctl.core.stats.init_tx, inits + 1);

	// The keys of the session go 3 * reject_after_time (the fixture's 3,600 s)
	// after it was made (the retries above gave up after REKEY_ATTEMPT_TIME
	// meanwhile); a tick a second until the last second.
	const sg_timers_params &tp = ((sg_ctl_peer *)f.cl[0].peer->ctl)->cp.timers.params;
	uint64_t wipe = t0 + 3ull * tp.reject_after_time * kS, expired = st.expired;
	tick_until(
		wipe - 1 * kS, [&] { return st.expired != expired; }, 1 * kS);
	tick_until(wipe - 20 * kMs, [&] { return st.expired != expired; });
	EXPECT_EQ(st.expired, expired) << "not before";
	at = tick_until(wipe + 20 * kMs, [&] { return st.expired != expired; });
	EXPECT_GE(at, wipe);
	EXPECT_LE(at, wipe + 20 * kMs);
	EXPECT_EQ(sg_peers_keypairs_alive(f.gw->dp.peers), 0u);
	EXPECT_GE(st.give_up, 1u);

	printf("[ tick ] %lu ticks over %.0f s of %u peers: %lu visits, at most %lu in one tick\n",
	       (unsigned long)st.ticks, (double)(now - t0) / kS, kPeers,
	       (unsigned long)st.tick_visits, (unsigned long)st.tick_visits_max);
	EXPECT_GE(st.ticks, 12000u);
	EXPECT_LE(st.tick_visits_max, kMaxPerTick) << "a tick visits what is due";
	EXPECT_LE(st.tick_visits, kMaxVisits);
}

// More peers due in one tick than SG_CTL_TICK_VISITS_MAX: 6,000 clients each
// send one datagram at the same instant, so 6,000 passive keepalives fall due
// 10 s later in the same tick.  No tick visits more than the budget; the rest
// wait a tick, and every keepalive goes out within two ticks of its deadline.
class ManyDueAtOnce : public Gateway
{
      protected:
	static constexpr unsigned kPeers = 6000;

	void SetUp() override
	{
		n_clients = kPeers;
		Gateway::SetUp();
		for (unsigned i = 1; i < kPeers; i++)
			ASSERT_EQ(sg_fx_handshake(&f, i, true, t0), 0) << "client " << i;
	}
};

TEST_F(ManyDueAtOnce, ATickVisitsAtMostItsBudgetAndTheRestComeNext)
{
	static_assert(ManyDueAtOnce::kPeers > SG_CTL_TICK_VISITS_MAX, "more than one tick's worth");
	auto &st = f.gw->ctl.st;
	uint64_t now = t0;
	for (; now < t0 + 1 * kS; now += 20 * kMs)
		step(now);
	sg_fx_drain(f.nic_tx);
	sg_fx_drain(f.ctl_tx);

	uint64_t t1 = now + 3 * kMs, ka = st.keepalive_tx;
	uint8_t dst[16];
	sg_fx_vm_addr(&f, 0, dst);
	f.w->now_ns = t1;
	for (unsigned i = 0; i < kPeers; i++) {
		uint8_t inner[128], frame[SG_FX_FRAME_MAX];
		sg_fx_inner(inner, sizeof(inner), f.cl[i].addr, dst, i);
		rte_mbuf *m =
			sg_fx_mbuf(&f, frame, sg_fx_data(&f, i, 1, inner, sizeof(inner), frame));
		ASSERT_NE(m, nullptr);
		sg_nic_input(f.w, &m, 1);
		if (i % 512 == 511)
			sg_fx_drain(f.vm_tx[0]);
	}
	sg_fx_drain(f.vm_tx[0]);
	EXPECT_GE(f.w->st.decrypted, (uint64_t)kPeers) << "every datagram authenticated";

	uint64_t last = 0, first = 0;
	for (now += 20 * kMs; now <= t1 + 10 * kS + 60 * kMs; now += 20 * kMs) {
		step(now);
		sg_fx_drain(f.ctl_tx);
		if (st.keepalive_tx != ka && first == 0)
			first = now;
		if (st.keepalive_tx - ka == kPeers && last == 0)
			last = now;
	}
	EXPECT_EQ(st.keepalive_tx - ka, kPeers) << "one passive keepalive each";
	EXPECT_GE(first, t1 + 10 * kS) << "none before keepalive_timeout";
	EXPECT_NE(last, 0u);
	EXPECT_LE(last, t1 + 10 * kS + 40 * kMs) << "the last within two ticks";
	EXPECT_EQ(st.tick_visits_max, (uint64_t)SG_CTL_TICK_VISITS_MAX) << "the budget, reached";
}

::testing::Environment *const env =
	::testing::AddGlobalTestEnvironment(new sgfx::Eal("gateway", false, 1024));

} // namespace
