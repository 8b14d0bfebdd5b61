// SPDX-License-Identifier: MIT
// The stages in process, on the gateway of tests/fixture: one case per drop
// reason that nic_input (and the control lcore behind it), ingress and egress
// can give, each sending N crafted packets as one burst through the stage on
// worker 0 and asserting that exactly that counter moved by N and that no
// other drop counter or statistic of worker 0 or of the control lcore moved;
// and the packets that pass or are answered: where they arrive, what they hold.
#include "tests/fixture/sg_fixture_gtest.h"

#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <utility>

#include <rte_arp.h>
#include <rte_udp.h>

#include "lib/cookie/sg_cookie.h"
#include "lib/noise/sg_noise.h"
#include "lib/wire/sg_wire.h"
#include "pipelines/sg_net.h"

namespace
{

using sgfx::frame6;
using Frame = std::vector<uint8_t>;

constexpr unsigned N = 3;
constexpr size_t L3 = RTE_ETHER_HDR_LEN, L4 = L3 + 40, L4_V4 = L3 + 20; // offsets in a frame
const uint8_t other_host[16] = { 0xfd, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99 };
const uint8_t all_nodes[16] = { 0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
const uint8_t client_v4[4] = { 198, 18, 0, 11 };
const uint8_t echo_body[12] = { 0, 7, 0, 1, 'p', 'i', 'n', 'g', 's', 'i', 'x', 'g' };

::testing::Environment *const env =
	::testing::AddGlobalTestEnvironment(new sgfx::Eal("stages", false));

// The statistics of a worker, by name.
const std::pair<const char *, uint64_t sg_worker_stats::*> kStats[] = {
	{ "nic_rx", &sg_worker_stats::nic_rx },
	{ "nic_tx", &sg_worker_stats::nic_tx },
	{ "vm_rx", &sg_worker_stats::vm_rx },
	{ "vm_tx", &sg_worker_stats::vm_tx },
	{ "decrypted", &sg_worker_stats::decrypted },
	{ "encrypted", &sg_worker_stats::encrypted },
	{ "keepalive_rx", &sg_worker_stats::keepalive_rx },
	{ "keepalive_tx", &sg_worker_stats::keepalive_tx },
	{ "handshake_rx", &sg_worker_stats::handshake_rx },
	{ "staged", &sg_worker_stats::staged },
	{ "local_replies", &sg_worker_stats::local_replies },
	{ "roams", &sg_worker_stats::roams },
	{ "made", &sg_worker_stats::made },
	{ "consumed", &sg_worker_stats::consumed },
	{ "loops", &sg_worker_stats::loops },
	{ "busy_loops", &sg_worker_stats::busy_loops },
};
static_assert(sizeof(sg_worker_stats) == sizeof(kStats) / sizeof(kStats[0]) * 8,
	      "every statistic is compared");

// The per-VM counters of a worker, by name.
const std::pair<const char *, uint64_t sg_vm_stats::*> kVmStats[] = {
	{ "rx", &sg_vm_stats::rx },
	{ "rx_refused", &sg_vm_stats::rx_refused },
	{ "tx", &sg_vm_stats::tx },
	{ "tx_full", &sg_vm_stats::tx_full },
};
static_assert(sizeof(sg_vm_stats) == sizeof(kVmStats) / sizeof(kVmStats[0]) * 8,
	      "every per-VM counter is compared");

// Every counter of worker 0 and of the control lcore.
struct Counters {
	sg_drop_counters drops[2];
	sg_worker_stats st[2];
	sg_vm_stats vm[2][SG_FX_MAX_VMS];
	explicit Counters(const sg_fx &f)
	    : drops{ f.w->drops, f.gw->dp.ctl->drops }, st{ f.w->st, f.gw->dp.ctl->st }
	{
		for (unsigned v = 0; v < SG_FX_MAX_VMS; v++) {
			vm[0][v] = f.w->vm_st[v];
			vm[1][v] = f.gw->dp.ctl->vm_st[v];
		}
	}
};

// What moved since b: the drops ("reason=n ...") and the statistics ("stat=n
// ...", then the per-VM counters as "vm1.tx=n"), those of the control lcore
// as "ctl.name=n".
std::pair<std::string, std::string> moved(const sg_fx &f, const Counters &b)
{
	Counters a(f);
	std::string drops, stats;
	auto add = [](std::string &s, int c, const char *name, uint64_t d) {
		if (d != 0)
			s += (s.empty() ? "" : " ") + std::string(c ? "ctl." : "") + name + "=" +
			     std::to_string(d);
	};
	for (int c = 0; c < 2; c++) {
		for (unsigned r = 0; r < SG_DROP_MAX; r++)
			add(drops, c, sg_drop_name((sg_drop_reason)r),
			    a.drops[c].n[r] - b.drops[c].n[r]);
		for (const auto &s : kStats)
			add(stats, c, s.first, a.st[c].*s.second - b.st[c].*s.second);
		for (unsigned v = 0; v < SG_FX_MAX_VMS; v++)
			for (const auto &s : kVmStats)
				add(stats, c, ("vm" + std::to_string(v) + "." + s.first).c_str(),
				    a.vm[c][v].*s.second - b.vm[c][v].*s.second);
	}
	return { drops, stats };
}

// What the gateway accounts for: made + sent + dropped + consumed + in flight
// - received over worker 0 and the control lcore (the fixture's lcores).  A
// burst of n frames the test hands a stage moves it by exactly n: every frame
// is sent, dropped, consumed or still held, and each frame the gateway makes
// is counted as made.
int64_t balance(const sg_fx &f)
{
	int64_t b = (int64_t)sg_gateway_in_flight(f.gw);
	for (const sg_worker *w : { f.w, f.gw->dp.ctl }) {
		for (unsigned r = 1; r < SG_DROP_MAX; r++)
			b += (int64_t)w->drops.n[r];
		b += (int64_t)(w->st.nic_tx + w->st.vm_tx + w->st.consumed);
		b -= (int64_t)(w->st.nic_rx + w->st.vm_rx + w->st.made);
	}
	return b;
}

// Frame i of a case, built into out; returns its length.
using Builder = std::function<uint16_t(unsigned i, uint8_t *out)>;

struct Case {
	const char *name;
	Builder build;
	std::string drops, stats;	  // what must move, as moved() spells it
	std::function<void()> check = {}; // then: what arrived, read from the rings
	unsigned n = N;			  // frames in the burst
};

// Everything waiting in r, as bytes; the mbufs are freed.
std::vector<Frame> take(rte_ring *r)
{
	std::vector<Frame> out;
	rte_mbuf *m;
	while (rte_ring_dequeue(r, (void **)&m) == 0) {
		const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
		EXPECT_EQ(m->nb_segs, 1);
		out.emplace_back(p, p + rte_pktmbuf_data_len(m));
		rte_pktmbuf_free(m);
	}
	return out;
}

// Expects N frames on r and runs fn on each.
void each(rte_ring *r, const std::function<void(const Frame &)> &fn)
{
	std::vector<Frame> frames = take(r);
	EXPECT_EQ(frames.size(), N);
	for (const Frame &fr : frames)
		fn(fr);
}

void expect_mac(const uint8_t *got, const void *want)
{
	EXPECT_EQ(memcmp(got, want, 6), 0) << "MAC";
}

// The IPv6 packet at offset at of fr is an ICMPv6 type from src to dst, its checksum right.
void expect_icmp6(const Frame &fr, size_t at, uint8_t type, const uint8_t src[16],
		  const uint8_t dst[16])
{
	const uint8_t *ip = fr.data() + at;
	auto *h = (const rte_ipv6_hdr *)ip;
	ASSERT_GE(fr.size(), at + 48);
	ASSERT_LE(at + 40 + rte_be_to_cpu_16(h->payload_len), fr.size());
	EXPECT_EQ(h->proto, IPPROTO_ICMPV6);
	EXPECT_EQ(memcmp(h->src_addr, src, 16), 0) << "source";
	EXPECT_EQ(memcmp(h->dst_addr, dst, 16), 0) << "destination";
	EXPECT_EQ(ip[40], type);
	EXPECT_EQ(rte_ipv6_udptcp_cksum_verify(h, ip + 40), 0) << "checksum";
}

// An inner IPv6/UDP packet of len bytes from src to dst with hop limit hops.
Frame inner6(const uint8_t src[16], const uint8_t dst[16], uint32_t len = 100, uint8_t hops = 64)
{
	Frame p(len);
	sg_fx_inner(p.data(), len, src, dst, 7);
	p[7] = hops;
	return p;
}

// The solicited-node multicast address of a.
std::vector<uint8_t> solicited_node(const uint8_t a[16])
{
	std::vector<uint8_t> m(all_nodes, all_nodes + 16);
	m[11] = 1, m[12] = 0xff, m[13] = a[13], m[14] = a[14], m[15] = a[15];
	return m;
}

// The body of a neighbor solicitation of target from mac (reserved, target, source LL option).
std::vector<uint8_t> ns_body(const uint8_t target[16], const uint8_t mac[6])
{
	std::vector<uint8_t> b(28);
	memcpy(b.data() + 4, target, 16);
	b[20] = 1, b[21] = 1;
	memcpy(b.data() + 22, mac, 6);
	return b;
}

class Stages : public ::testing::Test
{
      protected:
	sg_fx f = {};
	uint8_t vm[16] = {}, vm_org2[16] = {}; // an address of VM 0 (org 1) and of VM 1 (org 2)
	uint64_t ctr = 100;		       // the next counter of client 0's data messages

	// Client 0 has a session, 1 has none and no endpoint, 2 is in org 2; VM 1 in org 2.
	virtual void configure(sg_fx_conf &c)
	{
		c.n_clients = 3;
		c.org2_clients = 1;
		c.n_vms = 2;
		c.org2_vms = 1;
	}
	void SetUp() override
	{
		static unsigned n; // ring and port names must be unique in the process
		sg_fx_conf c = {};
		configure(c);
		ASSERT_EQ(sg_fx_start(&f, &c, ("st" + std::to_string(n++)).c_str()), 0);
		f.w->now_ns = sg_now_ns();
		sg_fx_vm_addr(&f, 0, vm);
		sg_fx_vm_addr(&f, 1, vm_org2);
		if (f.gw->dp.gw.has_v6) {
			ASSERT_EQ(sg_fx_handshake(&f, 0, true, f.w->now_ns), 0);
		}
	}
	void TearDown() override
	{
		sg_fx_stop(&f);
	}
	void drain()
	{
		sg_fx_drain(f.nic_tx);
		sg_fx_drain(f.ctl_tx);
		for (unsigned v = 0; v < f.n_vms; v++)
			sg_fx_drain(f.vm_tx[v]);
	}

	// Sends the frames of c as one burst to the NIC stage or from VM 0, then
	// steps the control lcore; compares what moved, checks what arrived and
	// empties the rings.
	void run(const Case &c, bool from_vm = false)
	{
		SCOPED_TRACE(c.name);
		std::vector<rte_mbuf *> ms;
		for (unsigned i = 0; i < c.n; i++) {
			uint8_t frame[SG_FX_FRAME_MAX];
			rte_mbuf *m = sg_fx_mbuf(&f, frame, c.build(i, frame));
			ASSERT_NE(m, nullptr);
			ms.push_back(m);
		}
		Counters before(f);
		int64_t balance_before = balance(f);
		if (from_vm)
			sg_egress_vm(f.w, 0, ms.data(), c.n);
		else
			sg_nic_input(f.w, ms.data(), c.n);
		sg_ctl_poll(&f.gw->ctl, f.w->now_ns);
		std::pair<std::string, std::string> m = moved(f, before);
		EXPECT_EQ(m.first, c.drops) << "drops";
		EXPECT_EQ(m.second, c.stats) << "statistics";
		EXPECT_EQ(balance(f) - balance_before, c.n)
			<< "every frame sent in is accounted for";
		if (c.check)
			c.check();
		drain();
	}

	// A UDP datagram from client 0 to the gateway's port (or port) carrying msg.
	uint16_t udp_to_gw(uint8_t *out, const void *msg, uint16_t len,
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
	// An ICMPv6 message (type, code 0, body) from src to dst with hop limit 255,
	// from client 0 (or src_mac) on the NIC, or from VM 0.
	uint16_t icmp6(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint8_t type,
		       const std::vector<uint8_t> &body, bool from_vm = false,
		       const uint8_t *src_mac = nullptr)
	{
		std::vector<uint8_t> l4(4 + body.size());
		l4[0] = type;
		std::copy(body.begin(), body.end(), l4.begin() + 4);
		uint16_t n = frame6(f, out, src, dst, IPPROTO_ICMPV6, 255, l4.data(),
				    (uint16_t)l4.size(), 2, src_mac);
		return from_vm ? sg_fx_vm_frame(&f, out + RTE_ETHER_HDR_LEN, n - RTE_ETHER_HDR_LEN,
						out)
			       : n;
	}
	// An echo request from client 0 to the gateway.
	uint16_t echo6(uint8_t *out, const uint8_t *src_mac = nullptr)
	{
		return icmp6(out, f.cl[0].ep.addr, sg_fx_gw6, 128,
			     Frame(echo_body, echo_body + sizeof(echo_body)), false, src_mac);
	}
	// An ARP packet (op) from client 0 (198.18.0.11) for tip.
	uint16_t arp(uint8_t *out, uint16_t op, const uint8_t tip[4])
	{
		auto *eth = (rte_ether_hdr *)out;
		auto *a = (rte_arp_hdr *)(eth + 1);
		memset(out, 0, sizeof(*eth) + sizeof(*a));
		memset(eth->dst_addr.addr_bytes, 0xff, 6);
		memcpy(eth->src_addr.addr_bytes, f.cl[0].ep.mac, 6);
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
		a->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
		a->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		a->arp_hlen = 6;
		a->arp_plen = 4;
		a->arp_opcode = rte_cpu_to_be_16(op);
		memcpy(a->arp_data.arp_sha.addr_bytes, f.cl[0].ep.mac, 6);
		memcpy(&a->arp_data.arp_sip, client_v4, 4);
		memcpy(&a->arp_data.arp_tip, tip, 4);
		return (uint16_t)(sizeof(*eth) + sizeof(*a));
	}
	// Data messages of client 0 carrying inner, each under the next counter.
	Builder data(const Frame &inner)
	{
		return [this, inner](unsigned, uint8_t *o) {
			return sg_fx_data(&f, 0, ctr++, inner.data(), (uint32_t)inner.size(), o);
		};
	}
	// Frames of VM 0 carrying inner.
	Builder from_vm(const Frame &inner)
	{
		return [this, inner](unsigned, uint8_t *o) {
			return sg_fx_vm_frame(&f, inner.data(), (uint32_t)inner.size(), o);
		};
	}
	// The plaintext of a data message to client i in frame fr, its outer headers checked.
	Frame open(const Frame &fr, unsigned i)
	{
		const sg_fx_client &c = f.cl[i];
		if (fr.size() < SG_FX_OUTER_LEN + SG_MSG_DATA_MIN_LEN) {
			ADD_FAILURE() << "short data message: " << fr.size();
			return {};
		}
		auto *ip = (const rte_ipv6_hdr *)(fr.data() + RTE_ETHER_HDR_LEN);
		auto *udp = (const rte_udp_hdr *)(ip + 1);
		const uint8_t *msg = fr.data() + SG_FX_OUTER_LEN;
		size_t clen = fr.size() - SG_FX_OUTER_LEN - SG_MSG_DATA_HEADER_LEN;
		Frame plain(clen - SG_TAG_LEN);
		expect_mac(fr.data(), c.ep.mac);
		EXPECT_EQ(memcmp(ip->src_addr, sg_fx_gw6, 16), 0);
		EXPECT_EQ(memcmp(ip->dst_addr, c.ep.addr, 16), 0);
		EXPECT_EQ(udp->dst_port, c.ep.port);
		EXPECT_EQ(udp->src_port, rte_cpu_to_be_16(SG_FX_GW_PORT));
		EXPECT_EQ(sg_udp_sum(6, ip, udp, (uint32_t)(fr.size() - L4)), 0xffff);
		EXPECT_EQ(msg[0], SG_MSG_DATA);
		EXPECT_EQ(sg_get_le32(msg + 4), c.nk.local_index);
		if (sg_aead_decrypt(plain.data(), msg + SG_MSG_DATA_HEADER_LEN, clen, nullptr, 0,
				    sg_get_le64(msg + 8), c.nk.receiving_key) != 0) {
			ADD_FAILURE() << "the client cannot decrypt it";
			return {};
		}
		EXPECT_EQ(plain.size() % 16, 0u) << "padded to 16";
		return plain;
	}
};

TEST_F(Stages, NicInputRefusesEachMalformedFrameUnderItsReason)
{
	const uint8_t other_mac[6] = { 0x02, 0x99, 0x99, 0x99, 0x99, 0x99 };
	const uint8_t group_mac[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };
	const uint8_t l4[20] = {};
	const Case cases[] = {
		{ "eth_truncated",
		  [](unsigned, uint8_t *o) {
			  memset(o, 0, 10);
			  return (uint16_t)10;
		  },
		  "eth_truncated=3", "" },
		{ "eth_type",
		  [&](unsigned, uint8_t *o) {
			  uint16_t n = udp_to_gw(o, l4, 8);
			  o[12] = 0x88, o[13] = 0xb5;
			  return n;
		  },
		  "eth_type=3", "" },
		{ "eth_not_for_us",
		  [&](unsigned, uint8_t *o) {
			  uint16_t n = udp_to_gw(o, l4, 8);
			  memcpy(o, other_mac, 6);
			  return n;
		  },
		  "eth_not_for_us=3", "" },
		{ "ip_truncated",
		  [&](unsigned, uint8_t *o) {
			  udp_to_gw(o, l4, 8);
			  return (uint16_t)(RTE_ETHER_HDR_LEN + 20);
		  },
		  "ip_truncated=3", "" },
		{ "ip_truncated (payload length past the frame)",
		  [&](unsigned, uint8_t *o) { return (uint16_t)(udp_to_gw(o, l4, 8) - 1); },
		  "ip_truncated=3", "" },
		{ "ip_not_for_us",
		  [&](unsigned, uint8_t *o) {
			  return frame6(f, o, f.cl[0].ep.addr, other_host, 17, 64, l4, 8, 6);
		  },
		  "ip_not_for_us=3", "" },
		{ "ip_not_for_us (ARP to a gateway without IPv4)",
		  [&](unsigned, uint8_t *o) { return arp(o, RTE_ARP_OP_REQUEST, sg_fx_gw4); },
		  "ip_not_for_us=3", "" },
		{ "ip_proto",
		  [&](unsigned, uint8_t *o) {
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_TCP, 64, l4, 20,
					16);
		  },
		  "ip_proto=3", "" },
		{ "ip_fragment",
		  [&](unsigned, uint8_t *o) {
			  const uint8_t frag[16] = { IPPROTO_UDP };
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_FRAGMENT, 64,
					frag, 16, -1);
		  },
		  "ip_fragment=3", "" },
		{ "ip_csum (ICMPv6 echo request)",
		  [&](unsigned, uint8_t *o) {
			  uint16_t n = echo6(o);
			  o[L4 + 2] ^= 0xff;
			  return n;
		  },
		  "ip_csum=3", "" },
		{ "udp_truncated",
		  [&](unsigned, uint8_t *o) {
			  return frame6(f, o, f.cl[0].ep.addr, sg_fx_gw6, IPPROTO_UDP, 64, l4, 4,
					-1);
		  },
		  "udp_truncated=3", "" },
		{ "udp_truncated (UDP length past the payload)",
		  [&](unsigned, uint8_t *o) {
			  uint16_t n = udp_to_gw(o, l4, 8);
			  o[L4 + 5] += 1;
			  return n;
		  },
		  "udp_truncated=3", "" },
		{ "udp_csum",
		  [&](unsigned, uint8_t *o) { return udp_to_gw(o, l4, 20, SG_FX_GW_PORT, false); },
		  "udp_csum=3", "" },
		{ "udp_port", [&](unsigned, uint8_t *o) { return udp_to_gw(o, l4, 20, 9); },
		  "udp_port=3", "" },
		{ "wg_type",
		  [&](unsigned, uint8_t *o) {
			  uint8_t msg[SG_MSG_INITIATION_LEN] = { 9 };
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "wg_type=3", "" },
		{ "wg_size",
		  [&](unsigned, uint8_t *o) {
			  uint8_t msg[100] = { SG_MSG_INITIATION };
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "wg_size=3", "" },
		{ "wg_size (data shorter than its header and tag)",
		  [&](unsigned, uint8_t *o) {
			  uint8_t msg[SG_MSG_DATA_MIN_LEN - 1] = { SG_MSG_DATA };
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "wg_size=3", "" },
		{ "wg_reserved",
		  [&](unsigned, uint8_t *o) {
			  uint8_t msg[SG_MSG_DATA_MIN_LEN] = { SG_MSG_DATA, 1 };
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "wg_reserved=3", "" },
		{ "local_other (ICMPv6 echo reply)",
		  [&](unsigned, uint8_t *o) {
			  return icmp6(o, f.cl[0].ep.addr, sg_fx_gw6, 129,
				       Frame(echo_body, echo_body + sizeof(echo_body)));
		  },
		  "local_other=3", "" },
		{ "martian (echo request from a group MAC)",
		  [&](unsigned, uint8_t *o) { return echo6(o, group_mac); }, "martian=3", "" },
	};
	for (const Case &c : cases)
		run(c);
}

TEST_F(Stages, NicInputRefusesEachBadDataMessageUnderItsReason)
{
	const Case cases[] = {
		{ "wg_unknown_index",
		  [&](unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_DATA_MIN_LEN] = { SG_MSG_DATA };
			  sg_put_le32(msg + 4, f.cl[0].nk.remote_index ^ (0x10000u << i));
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "wg_unknown_index=3", "" },
		// Counter 0 was the keepalive that confirmed the session.
		{ "wg_replay (counter seen before the burst)",
		  [&](unsigned, uint8_t *o) { return sg_fx_data(&f, 0, 0, nullptr, 0, o); },
		  "wg_replay=3", "" },
		// Each counter twice in the burst: the first is accepted, the second counted.
		{ "wg_replay (counter twice in the burst)",
		  [&](unsigned i, uint8_t *o) {
			  return sg_fx_data(&f, 0, 50 + i / 2, nullptr, 0, o);
		  },
		  "wg_replay=3",
		  "decrypted=3 keepalive_rx=3 consumed=3",
		  {},
		  2 * N },
		{ "wg_bad_tag",
		  [&](unsigned, uint8_t *o) {
			  sg_fx_data(&f, 0, ctr++, nullptr, 0, o);
			  uint8_t msg[SG_MSG_DATA_MIN_LEN];
			  memcpy(msg, o + SG_FX_OUTER_LEN, sizeof(msg));
			  msg[sizeof(msg) - 1] ^= 0x55; // the tag, under a good UDP checksum
			  return sg_fx_outer(&f, 0, msg, sizeof(msg), o);
		  },
		  "wg_bad_tag=3", "" },
	};
	for (const Case &c : cases)
		run(c);
}

// A keypair past REJECT_AFTER_TIME (an hour in the fixture) takes nothing.
TEST_F(Stages, NicInputRefusesDataUnderAnExpiredKeypair)
{
	f.w->now_ns += 3601 * sgfx::kS;
	run({ "wg_keypair_expired", data({}), "wg_keypair_expired=3", "" });
}

TEST_F(Stages, NicInputAnswersEchoRequestsAndNeighborSolicitations)
{
	const uint8_t *gw_mac = f.gw->dp.gw.mac.addr_bytes;
	run({ "echo request", [&](unsigned, uint8_t *o) { return echo6(o); }, "",
	      "nic_tx=3 local_replies=3",
	      [&] {
		      each(f.nic_tx, [&](const Frame &fr) {
			      expect_mac(fr.data(), f.cl[0].ep.mac);
			      expect_mac(fr.data() + 6, gw_mac);
			      expect_icmp6(fr, L3, 129, sg_fx_gw6, f.cl[0].ep.addr);
			      EXPECT_EQ(memcmp(fr.data() + L4 + 4, echo_body, sizeof(echo_body)),
					0);
		      });
	      } });
	run({ "neighbor solicitation",
	      [&](unsigned, uint8_t *o) {
		      return icmp6(o, f.cl[0].ep.addr, solicited_node(sg_fx_gw6).data(),
				   SG_ND_NEIGHBOR_SOLICIT, ns_body(sg_fx_gw6, f.cl[0].ep.mac));
	      },
	      "", "nic_tx=3 local_replies=3",
	      [&] {
		      each(f.nic_tx, [&](const Frame &fr) {
			      const uint8_t *icmp = fr.data() + L4;
			      expect_mac(fr.data(), f.cl[0].ep.mac);
			      expect_icmp6(fr, L3, SG_ND_NEIGHBOR_ADVERT, sg_fx_gw6,
					   f.cl[0].ep.addr);
			      EXPECT_EQ(icmp[4], SG_ND_NA_SOLICITED | SG_ND_NA_OVERRIDE);
			      EXPECT_EQ(memcmp(icmp + 8, sg_fx_gw6, 16), 0) << "target";
			      EXPECT_EQ(icmp[24], SG_ND_OPT_TARGET_LL);
			      expect_mac(icmp + 26, gw_mac);
		      });
	      } });
}

// Local replies come out of a token bucket: once its burst is spent (the
// clock stands still), the rest are counted and dropped.
TEST_F(Stages, NicInputRateLimitsLocalReplies)
{
	unsigned burst = f.w->local_rl.burst;
	std::string sent = std::to_string(burst);
	run({ "local_ratelimit", [&](unsigned, uint8_t *o) { return echo6(o); },
	      "local_ratelimit=3", "nic_tx=" + sent + " local_replies=" + sent,
	      [&] { EXPECT_EQ(sg_fx_drain(f.nic_tx), burst); }, burst + N });
}

// A reply the NIC queue cannot take is counted, once, as nic_tx_full.
TEST_F(Stages, NicInputCountsRepliesTheNicQueueCannotTake)
{
	std::vector<rte_mbuf *> fill(rte_ring_free_count(f.nic_tx));
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(f.gw->dp.pool, fill.data(), (unsigned)fill.size()), 0);
	ASSERT_EQ(rte_ring_enqueue_bulk(f.nic_tx, (void **)fill.data(), (unsigned)fill.size(),
					nullptr),
		  fill.size());
	run({ "nic_tx_full", [&](unsigned, uint8_t *o) { return echo6(o); }, "nic_tx_full=3",
	      "local_replies=3" });
}

// Fills ring r with mbufs of the gateway's pool, as a VM that reads nothing.
void fill(sg_fx &f, rte_ring *r)
{
	std::vector<rte_mbuf *> ms(rte_ring_free_count(r));
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(f.gw->dp.pool, ms.data(), (unsigned)ms.size()), 0);
	ASSERT_EQ(rte_ring_enqueue_bulk(r, (void **)ms.data(), (unsigned)ms.size(), nullptr),
		  ms.size());
}

// A VM that does not read: its owner keeps SG_VM_PENDING frames for it, then
// counts the rest as vm_tx_full, in the VM's own row; what waited leaves
// first, in order, once the VM reads again.
TEST_F(Stages, IngressCountsFramesAVmPortCannotTakeAsVmTxFull)
{
	Frame p = inner6(f.cl[0].addr, vm);
	Builder b = data(p);
	auto send = [&](unsigned n) {
		std::vector<rte_mbuf *> ms;
		for (unsigned i = 0; i < n; i++) {
			uint8_t frame[SG_FX_FRAME_MAX];
			ms.push_back(sg_fx_mbuf(&f, frame, b(i, frame)));
			ASSERT_NE(ms.back(), nullptr);
		}
		sg_nic_input(f.w, ms.data(), n);
	};
	fill(f, f.vm_tx[0]);
	Counters before(f);
	for (unsigned i = 0; i < SG_VM_PENDING / N; i++)
		send(N);
	unsigned over = N - (SG_VM_PENDING - SG_VM_PENDING / N * N);
	send(N);
	std::pair<std::string, std::string> m = moved(f, before);
	std::string dec = std::to_string((SG_VM_PENDING / N + 1) * N);
	EXPECT_EQ(m.first, "vm_tx_full=" + std::to_string(over));
	EXPECT_EQ(m.second, "decrypted=" + dec + " vm0.tx_full=" + std::to_string(over));
	EXPECT_EQ(f.gw->dp.vms[0].n_pend, (unsigned)SG_VM_PENDING);
	sg_fx_drain(f.vm_tx[0]); // the VM reads again
	std::string sent = std::to_string(SG_VM_PENDING + N);
	run({ "pending sent", data(p), "", "vm_tx=" + sent + " decrypted=3 vm0.tx=" + sent,
	      [&] { EXPECT_EQ(sg_fx_drain(f.vm_tx[0]), SG_VM_PENDING + N); } });
	EXPECT_EQ(f.gw->dp.vms[0].n_pend, 0u);
}

// Frames a worker hands to a VM another worker owns, when the owner does not
// drain the VM's ring, are vm_tx_full of the sender, in that VM's row.
TEST_F(Stages, HandOffToAFullVmRingCountsVmTxFull)
{
	Frame p = inner6(f.cl[0].addr, vm);
	sg_vm &v0 = f.gw->dp.vms[0];
	v0.owner = 1; // as if a second worker polled VM 0
	fill(f, v0.txr);
	run({ "vm_tx_full (hand-off ring)", data(p), "vm_tx_full=3", "decrypted=3 vm0.tx_full=3" });
	v0.owner = 0;
	sg_fx_drain(v0.txr);
}

// The packets of a pcapng file: each Enhanced Packet Block's captured length
// and comment (option 1).
std::vector<std::pair<uint32_t, std::string>> pcapng_packets(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)),
			       std::istreambuf_iterator<char>());
	std::vector<std::pair<uint32_t, std::string>> out;
	auto u32 = [&](size_t at) {
		uint32_t v;
		memcpy(&v, b.data() + at, 4);
		return v;
	};
	for (size_t at = 0; at + 12 <= b.size() && u32(at + 4) >= 12; at += u32(at + 4)) {
		if (u32(at) != 6)
			continue;
		uint32_t cap = u32(at + 20);
		size_t opt = at + 28 + ((cap + 3) & ~3u);
		std::string comment;
		uint16_t code, len;
		memcpy(&code, b.data() + opt, 2);
		memcpy(&len, b.data() + opt + 2, 2);
		if (code == 1)
			comment.assign((const char *)b.data() + opt + 4, len);
		out.emplace_back(cap, comment);
	}
	return out;
}

// A drop capture: each frame a stage refuses goes to the file with its
// reason, up to the count asked for; then capture stops by itself and drops
// are freed again.  The counters move as without a capture.
TEST_F(Stages, DropCaptureWritesEachDroppedFrameWithItsReason)
{
	std::string path = "/tmp/sg_dropcap_" + std::to_string(getpid()) + ".pcapng";
	unlink(path.c_str());
	int err = 0;
	sg_dropcap *dc = sg_dropcap_open(path.c_str(), 5, &err);
	ASSERT_NE(dc, nullptr) << err;
	EXPECT_EQ(sg_dropcap_open(path.c_str(), 5, &err), nullptr) << "never over an existing file";
	EXPECT_EQ(err, -EEXIST);
	sg_ctl_capture_drops(&f.gw->ctl, dc);
	sg_ctl_poll(&f.gw->ctl, f.w->now_ns);
	EXPECT_TRUE(f.gw->dp.drop_capture);
	uint8_t l4[20] = {};
	run({ "udp_port", [&](unsigned, uint8_t *o) { return udp_to_gw(o, l4, 20, 9); },
	      "udp_port=3", "" });
	run({ "vm_spoof", from_vm(inner6(other_host, f.cl[0].addr)), "vm_spoof=3",
	      "vm0.rx_refused=3" },
	    true);
	EXPECT_FALSE(f.gw->dp.drop_capture) << "5 written: the capture ended";
	run({ "udp_port, after", [&](unsigned, uint8_t *o) { return udp_to_gw(o, l4, 20, 9); },
	      "udp_port=3", "" });
	auto pkts = pcapng_packets(path);
	ASSERT_EQ(pkts.size(), 5u);
	for (unsigned i = 0; i < 5; i++) {
		const char *want =
			i < 3 ? "udp_port: UDP destination is not the listen port; worker 0"
			      : "vm_spoof: VM sent from outside its /112; worker 0";
		EXPECT_EQ(pkts[i].second, want) << i;
	}
	EXPECT_EQ(pkts[0].first, SG_FX_OUTER_LEN + 20) << "the whole frame";
	unlink(path.c_str());
}

// Handshakes the control lcore's ring cannot take are counted as
// wg_hs_ring_full; the control lcore takes one burst of what waits.
TEST_F(Stages, NicInputCountsHandshakesTheControlRingCannotTake)
{
	uint8_t msg[SG_MSG_INITIATION_LEN] = { SG_MSG_INITIATION }; // mac1 not valid
	Builder init = [&](unsigned, uint8_t *o) { return udp_to_gw(o, msg, sizeof(msg)); };
	for (unsigned room; (room = rte_ring_free_count(f.gw->dp.hs_ring)) > 0;) {
		std::vector<rte_mbuf *> ms(std::min(room, (unsigned)SG_BURST_MAX));
		for (rte_mbuf *&m : ms) {
			uint8_t frame[SG_FX_FRAME_MAX];
			ASSERT_NE(m = sg_fx_mbuf(&f, frame, init(0, frame)), nullptr);
		}
		sg_nic_input(f.w, ms.data(), (unsigned)ms.size());
	}
	run({ "wg_hs_ring_full", init,
	      "wg_hs_ring_full=3 ctl.wg_mac1=" + std::to_string(f.gw->dp.burst),
	      "handshake_rx=3" });
	while (sg_ctl_poll(&f.gw->ctl, f.w->now_ns) > 0)
		;
}

TEST_F(Stages, IngressRefusesEachBadInnerPacketUnderItsReason)
{
	uint8_t no_vm[16];
	memcpy(no_vm, vm, 16);
	no_vm[13] ^= 0x40; // in org 1, in no VM's /112
	Frame short_plen = inner6(f.cl[0].addr, vm);
	short_plen.resize(short_plen.size() - 1);
	const Case cases[] = {
		{ "inner_truncated", data(Frame(10, 0x60)), "inner_truncated=3", "decrypted=3" },
		{ "inner_truncated (payload length past the packet)", data(short_plen),
		  "inner_truncated=3", "decrypted=3" },
		{ "inner_not_ipv6", data(Frame(40, 0x45)), "inner_not_ipv6=3", "decrypted=3" },
		{ "inner_src", data(inner6(other_host, vm)), "inner_src=3", "decrypted=3" },
		{ "org_isolation (a VM of org 2)", data(inner6(f.cl[0].addr, vm_org2)),
		  "org_isolation=3", "decrypted=3" },
		{ "no_route", data(inner6(f.cl[0].addr, no_vm)), "no_route=3", "decrypted=3" },
		// Out of hops: a Time Exceeded goes back through the tunnel, from the VM.
		{ "hop_limit", data(inner6(f.cl[0].addr, vm, 100, 1)), "hop_limit=3",
		  "nic_tx=3 decrypted=3 encrypted=3 made=3",
		  [&] {
			  each(f.nic_tx, [&](const Frame &fr) {
				  Frame p = open(fr, 0);
				  expect_icmp6(p, 0, SG_ICMP6_TIME_EXCEEDED, vm, f.cl[0].addr);
			  });
		  } },
	};
	for (const Case &c : cases)
		run(c);
}

TEST_F(Stages, IngressDeliversToTheVmAndCountsKeepalives)
{
	Frame p = inner6(f.cl[0].addr, vm);
	run({ "keepalive", data({}), "", "decrypted=3 keepalive_rx=3 consumed=3" });
	run({ "to VM 0", data(p), "", "vm_tx=3 decrypted=3 vm0.tx=3", [&] {
		     each(f.vm_tx[0], [&](const Frame &fr) {
			     ASSERT_EQ(fr.size(), RTE_ETHER_HDR_LEN + p.size());
			     expect_mac(fr.data(), f.vm_mac.addr_bytes);
			     expect_mac(fr.data() + 6, f.gw->dp.vms[0].gw_mac.addr_bytes);
			     EXPECT_EQ(fr[12] << 8 | fr[13], RTE_ETHER_TYPE_IPV6);
			     EXPECT_EQ(fr[L3 + 7], p[7] - 1) << "one hop";
			     EXPECT_EQ(memcmp(fr.data() + L3 + 8, p.data() + 8, p.size() - 8), 0);
		     });
	     } });
}

TEST_F(Stages, ControlLcoreRefusesEachBadHandshakeUnderItsReason)
{
	// An initiation or response of index i under a good mac1 (not otherwise valid).
	auto with_mac1 = [&](auto msg, unsigned i, uint8_t *o) {
		sg_cookie_maker maker;
		msg.sender_index = i;
		sg_cookie_maker_init(&maker, f.gw->ctl.core.st.public_key);
		sg_cookie_add_macs(&maker, &msg, sizeof(msg), f.w->now_ns);
		sg_cookie_maker_clear(&maker);
		return udp_to_gw(o, &msg, sizeof(msg));
	};
	const Case cases[] = {
		{ "wg_mac1",
		  [&](unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_INITIATION_LEN] = { SG_MSG_INITIATION };
			  msg[4] = (uint8_t)i;
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "ctl.wg_mac1=3", "handshake_rx=3" },
		{ "wg_static",
		  [&](unsigned i, uint8_t *o) {
			  sg_msg_initiation msg = {};
			  msg.header.type = SG_MSG_INITIATION;
			  return with_mac1(msg, i, o);
		  },
		  "ctl.wg_static=3", "handshake_rx=3" },
		{ "wg_unknown_peer",
		  [&](unsigned i, uint8_t *o) {
			  uint8_t priv[32], pub[32];
			  sg_noise_static st;
			  sg_noise_peer_hs hs;
			  sg_msg_initiation msg;
			  const uint8_t *gw = f.gw->ctl.core.st.public_key;
			  sg_x25519_keypair(pub, priv);
			  EXPECT_EQ(sg_noise_static_init(&st, priv), 0);
			  EXPECT_EQ(sg_noise_peer_hs_init(&hs, &st, gw, nullptr), 0);
			  EXPECT_EQ(sg_noise_create_initiation(&st, &hs, &msg, i, f.w->now_ns), 0);
			  sg_noise_peer_hs_clear(&hs);
			  sg_noise_static_clear(&st);
			  return with_mac1(msg, i, o);
		  },
		  "ctl.wg_unknown_peer=3", "handshake_rx=3" },
		// A response to an initiation the gateway never sent.
		{ "wg_unknown_index",
		  [&](unsigned i, uint8_t *o) {
			  sg_msg_response msg = {};
			  msg.header.type = SG_MSG_RESPONSE;
			  msg.receiver_index = 0x5000 + i;
			  return with_mac1(msg, i, o);
		  },
		  "ctl.wg_unknown_index=3", "handshake_rx=3" },
		{ "wg_cookie",
		  [&](unsigned i, uint8_t *o) {
			  uint8_t msg[SG_MSG_COOKIE_REPLY_LEN] = { SG_MSG_COOKIE_REPLY };
			  sg_put_le32(msg + 4, 0x6000 + i);
			  return udp_to_gw(o, msg, sizeof(msg));
		  },
		  "ctl.wg_cookie=3", "handshake_rx=3" },
	};
	for (const Case &c : cases)
		run(c);
	EXPECT_EQ(f.gw->ctl.core.stats.resp_tx, 1u) << "only client 0's own handshake";
}

TEST_F(Stages, EgressRefusesEachBadVmFrameUnderItsReason)
{
	uint8_t no_peer[16];
	memcpy(no_peer, f.cl[0].addr, 16);
	no_peer[15] ^= 0x80; // in org 1, in no peer's allowed IPs
	Frame not_ipv6 = inner6(vm, f.cl[0].addr);
	not_ipv6[0] = 0x45;
	Frame short_plen = inner6(vm, f.cl[0].addr);
	short_plen.resize(short_plen.size() - 1);
	// ICMPv6 errors back to the VM from the destination it sent to.
	auto error_back = [&](uint8_t type) {
		return [&, type] {
			each(f.vm_tx[0], [&](const Frame &fr) {
				expect_mac(fr.data(), f.vm_mac.addr_bytes);
				expect_icmp6(fr, L3, type, f.cl[0].addr, vm);
				uint32_t word;
				memcpy(&word, fr.data() + L4 + 4, 4);
				EXPECT_EQ(rte_be_to_cpu_32(word),
					  type == SG_ICMP6_PACKET_TOO_BIG ? SG_DEFAULT_MTU : 0u);
			});
		};
	};
	const Case cases[] = {
		{ "vm_truncated",
		  [](unsigned, uint8_t *o) {
			  memset(o, 0, 20);
			  return (uint16_t)20;
		  },
		  "vm_truncated=3", "vm0.rx_refused=3" },
		{ "vm_truncated (not IPv6)", from_vm(not_ipv6), "vm_truncated=3",
		  "vm0.rx_refused=3" },
		{ "vm_truncated (payload length past the frame)", from_vm(short_plen),
		  "vm_truncated=3", "vm0.rx_refused=3" },
		{ "vm_spoof", from_vm(inner6(other_host, f.cl[0].addr)), "vm_spoof=3",
		  "vm0.rx_refused=3" },
		{ "org_isolation (a client of org 2)", from_vm(inner6(vm, f.cl[2].addr)),
		  "org_isolation=3", "vm0.rx_refused=3" },
		{ "no_peer", from_vm(inner6(vm, no_peer)), "no_peer=3", "vm0.rx_refused=3" },
		// Client 1 never made a handshake: no session, no endpoint to start one.
		{ "no_session", from_vm(inner6(vm, f.cl[1].addr)), "no_session=3", "" },
		{ "too_big", from_vm(inner6(vm, f.cl[0].addr, SG_DEFAULT_MTU + 1)), "too_big=3",
		  "vm_tx=3 local_replies=3 made=3 vm0.rx_refused=3 vm0.tx=3",
		  error_back(SG_ICMP6_PACKET_TOO_BIG) },
		{ "hop_limit", from_vm(inner6(vm, f.cl[0].addr, 100, 1)), "hop_limit=3",
		  "vm_tx=3 local_replies=3 made=3 vm0.rx_refused=3 vm0.tx=3",
		  error_back(SG_ICMP6_TIME_EXCEEDED) },
		{ "local_other (to all nodes)", from_vm(inner6(vm, all_nodes)), "local_other=3",
		  "vm0.rx_refused=3" },
	};
	for (const Case &c : cases)
		run(c, true);
}

TEST_F(Stages, EgressEncryptsForThePeerAndAnswersNeighborSolicitations)
{
	Frame p = inner6(vm, f.cl[0].addr), zero(12);
	run({ "to client 0", from_vm(p), "", "nic_tx=3 encrypted=3",
	      [&] {
		      each(f.nic_tx, [&](const Frame &fr) {
			      Frame plain = open(fr, 0);
			      ASSERT_EQ(plain.size(), p.size() + zero.size()) << "padded";
			      EXPECT_EQ(plain[7], p[7] - 1) << "one hop";
			      EXPECT_EQ(memcmp(plain.data() + 8, p.data() + 8, p.size() - 8), 0);
			      EXPECT_EQ(memcmp(plain.data() + p.size(), zero.data(), zero.size()),
					0);
		      });
	      } },
	    true);
	const uint8_t *target = f.cl[0].addr;
	run({ "neighbor solicitation",
	      [&](unsigned, uint8_t *o) {
		      return icmp6(o, vm, solicited_node(target).data(), SG_ND_NEIGHBOR_SOLICIT,
				   ns_body(target, f.vm_mac.addr_bytes), true);
	      },
	      "", "vm_tx=3 local_replies=3 vm0.tx=3",
	      [&] {
		      each(f.vm_tx[0], [&](const Frame &fr) {
			      const uint8_t *icmp = fr.data() + L4;
			      expect_mac(fr.data(), f.vm_mac.addr_bytes);
			      expect_icmp6(fr, L3, SG_ND_NEIGHBOR_ADVERT, target, vm);
			      EXPECT_EQ(icmp[4],
					SG_ND_NA_ROUTER | SG_ND_NA_SOLICITED | SG_ND_NA_OVERRIDE);
			      EXPECT_EQ(memcmp(icmp + 8, target, 16), 0) << "target";
			      expect_mac(icmp + 26, f.gw->dp.vms[0].gw_mac.addr_bytes);
		      });
	      } },
	    true);
}

// A failover pair's active sends on a keypair only below the lease its standby
// acknowledged (send_limit): what lies past it is fleet_lease, and the nonces
// below it are used once.  A standby sends nothing at all: what a stage would
// put on the NIC (data, local replies) is fleet_standby.
TEST_F(Stages, EgressSendsOnlyBelowTheLeaseAndAStandbySendsNothing)
{
	Frame p = inner6(vm, f.cl[0].addr);
	sg_keypair *kp = sg_fx_gw_keypair(&f, 0);
	ASSERT_NE(kp, nullptr);
	EXPECT_EQ(atomic_load(&kp->send_limit), UINT64_MAX) << "alone: no limit";
	uint64_t c0 = atomic_load(&kp->send_counter);
	atomic_store(&kp->send_limit, c0 + 2);
	run({ "two of three under the lease", from_vm(p), "fleet_lease=1", "nic_tx=2 encrypted=2",
	      [&] {
		      std::set<uint64_t> ctrs;
		      for (const Frame &fr : take(f.nic_tx)) {
			      uint64_t ctr;
			      memcpy(&ctr, fr.data() + SG_FX_OUTER_LEN + 8, 8);
			      EXPECT_LT(ctr, c0 + 2) << "below the lease";
			      ctrs.insert(ctr);
		      }
		      EXPECT_EQ(ctrs.size(), 2u) << "two frames, each nonce once";
	      } },
	    true);
	run({ "past the lease", from_vm(p), "fleet_lease=3", "" }, true);
	atomic_store(&kp->send_limit, UINT64_MAX);
	atomic_store(&f.gw->dp.standby, true);
	run({ "standby: data", from_vm(p), "fleet_standby=3", "encrypted=3" }, true);
	run({ "standby: echo request", [&](unsigned, uint8_t *o) { return echo6(o); },
	      "fleet_standby=3", "local_replies=3" });
	atomic_store(&f.gw->dp.standby, false);
	run({ "active again", from_vm(p), "", "nic_tx=3 encrypted=3" }, true);
}

// A peer that has an endpoint (from its handshake) but no keypair any more gets
// what the VM sends staged, up to SG_MAX_STAGED_PACKETS, and a handshake from
// the control lcore; the rest is staged_full.
TEST_F(Stages, EgressStagesForAPeerWithoutKeypairsUpToItsLimit)
{
	sg_peers_clear_keypairs(f.gw->dp.peers, f.cl[0].peer);
	uint64_t init_tx = f.gw->ctl.core.stats.init_tx;
	run({ "staged", from_vm(inner6(vm, f.cl[0].addr)), "staged_full=3",
	      "staged=" + std::to_string(SG_MAX_STAGED_PACKETS) + " ctl.nic_tx=1 ctl.made=1",
	      [&] {
		      EXPECT_EQ(sg_peer_staged_count(f.cl[0].peer),
				(unsigned)SG_MAX_STAGED_PACKETS);
		      EXPECT_EQ(f.gw->ctl.core.stats.init_tx, init_tx + 1) << "a handshake";
		      std::vector<Frame> out = take(f.ctl_tx);
		      ASSERT_EQ(out.size(), 1u);
		      EXPECT_EQ(out[0][SG_FX_OUTER_LEN], SG_MSG_INITIATION);
		      EXPECT_EQ(sg_fx_drain(f.nic_tx), 0u) << "nothing sent before it";
	      },
	      SG_MAX_STAGED_PACKETS + N },
	    true);
}

// Staging never takes the last SG_VM_MBUFS_RESERVE buffers of the pool the
// VM's frames come from.
TEST_F(Stages, EgressStagesNothingIntoTheVmsReserve)
{
	sg_peers_clear_keypairs(f.gw->dp.peers, f.cl[0].peer);
	rte_mempool *pool = f.gw->dp.pool;
	std::vector<rte_mbuf *> held(rte_mempool_avail_count(pool) - SG_VM_MBUFS_RESERVE);
	ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, held.data(), (unsigned)held.size()), 0);
	run({ "staged_vm_limit", from_vm(inner6(vm, f.cl[0].addr)), "staged_vm_limit=3", "",
	      [&] { EXPECT_EQ(sg_peer_staged_count(f.cl[0].peer), 0u); } },
	    true);
	rte_pktmbuf_free_bulk(held.data(), (unsigned)held.size());
}

// Outer IPv4: the fixture's gateway with address4 198.18.0.1 and no address6.
class StagesV4 : public Stages
{
      protected:
	void configure(sg_fx_conf &c) override
	{
		c.n_clients = 1;
		c.n_vms = 1;
		c.v4_only = true;
	}
	// Ethernet + IPv4 from src to dst + l4 (len bytes); frag: the fragment
	// field; bad_csum: the header checksum spoilt.
	uint16_t frame4(uint8_t *o, const uint8_t src[4], const uint8_t dst[4], uint8_t proto,
			const uint8_t *l4, uint16_t len, uint16_t frag = 0, bool bad_csum = false)
	{
		auto *eth = (rte_ether_hdr *)o;
		auto *ip = (rte_ipv4_hdr *)(eth + 1);
		memset(o, 0, sizeof(*eth) + sizeof(*ip));
		eth->dst_addr = f.gw->dp.gw.mac;
		memcpy(eth->src_addr.addr_bytes, f.cl[0].ep.mac, 6);
		eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = 0x45;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + len));
		ip->fragment_offset = rte_cpu_to_be_16(frag);
		ip->time_to_live = 64;
		ip->next_proto_id = proto;
		memcpy(&ip->src_addr, src, 4);
		memcpy(&ip->dst_addr, dst, 4);
		ip->hdr_checksum = (uint16_t)(rte_ipv4_cksum(ip) ^ (bad_csum ? 0x1111 : 0));
		memcpy(ip + 1, l4, len);
		return (uint16_t)(sizeof(*eth) + sizeof(*ip) + len);
	}
	// An ICMP echo request from src to the gateway.
	uint16_t echo4(uint8_t *o, const uint8_t src[4])
	{
		uint8_t l4[8 + sizeof(echo_body)] = { RTE_IP_ICMP_ECHO_REQUEST };
		memcpy(l4 + 8, echo_body, sizeof(echo_body));
		uint16_t c = (uint16_t)~rte_raw_cksum(l4, sizeof(l4));
		memcpy(l4 + 2, &c, 2);
		return frame4(o, src, sg_fx_gw4, IPPROTO_ICMP, l4, sizeof(l4));
	}
};

TEST_F(StagesV4, NicInputRefusesEachBadIpv4FrameUnderItsReason)
{
	const uint8_t udp[28] = { 0x9c, 0x40, 0xca, 0x6c, 0, 28 }; // 40000 -> 51820, no checksum
	const uint8_t other4[4] = { 198, 18, 0, 2 }, loopback[4] = { 127, 0, 0, 1 };
	const Case cases[] = {
		{ "ip_csum",
		  [&](unsigned, uint8_t *o) {
			  return frame4(o, client_v4, sg_fx_gw4, IPPROTO_UDP, udp, 28, 0, true);
		  },
		  "ip_csum=3", "" },
		{ "ip_fragment",
		  [&](unsigned, uint8_t *o) {
			  return frame4(o, client_v4, sg_fx_gw4, IPPROTO_UDP, udp, 28,
					RTE_IPV4_HDR_MF_FLAG);
		  },
		  "ip_fragment=3", "" },
		{ "ip_not_for_us",
		  [&](unsigned, uint8_t *o) {
			  return frame4(o, client_v4, other4, IPPROTO_UDP, udp, 28);
		  },
		  "ip_not_for_us=3", "" },
		{ "ip_truncated",
		  [&](unsigned, uint8_t *o) {
			  return (uint16_t)(frame4(o, client_v4, sg_fx_gw4, IPPROTO_UDP, udp, 28) -
					    1);
		  },
		  "ip_truncated=3", "" },
		{ "ip_proto",
		  [&](unsigned, uint8_t *o) {
			  return frame4(o, client_v4, sg_fx_gw4, IPPROTO_TCP, udp, 28);
		  },
		  "ip_proto=3", "" },
		{ "wg_size (an empty datagram without checksum)",
		  [&](unsigned, uint8_t *o) {
			  uint8_t empty[8] = { 0x9c, 0x40, 0xca, 0x6c, 0, 8 };
			  return frame4(o, client_v4, sg_fx_gw4, IPPROTO_UDP, empty, 8);
		  },
		  "wg_size=3", "" },
		{ "local_other (ARP reply)",
		  [&](unsigned, uint8_t *o) { return arp(o, RTE_ARP_OP_REPLY, sg_fx_gw4); },
		  "local_other=3", "" },
		{ "martian (echo request from loopback)",
		  [&](unsigned, uint8_t *o) { return echo4(o, loopback); }, "martian=3", "" },
	};
	for (const Case &c : cases)
		run(c);
}

TEST_F(StagesV4, NicInputAnswersArpAndEchoRequests)
{
	const rte_ether_addr &gw_mac = f.gw->dp.gw.mac;
	run({ "ARP request",
	      [&](unsigned, uint8_t *o) { return arp(o, RTE_ARP_OP_REQUEST, sg_fx_gw4); }, "",
	      "nic_tx=3 local_replies=3",
	      [&] {
		      each(f.nic_tx, [&](const Frame &fr) {
			      auto *a = (const rte_arp_hdr *)(fr.data() + L3);
			      ASSERT_EQ(fr.size(), L3 + sizeof(*a));
			      expect_mac(fr.data(), f.cl[0].ep.mac);
			      EXPECT_EQ(a->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
			      expect_mac(a->arp_data.arp_sha.addr_bytes, gw_mac.addr_bytes);
			      EXPECT_EQ(memcmp(&a->arp_data.arp_sip, sg_fx_gw4, 4), 0);
			      expect_mac(a->arp_data.arp_tha.addr_bytes, f.cl[0].ep.mac);
			      EXPECT_EQ(memcmp(&a->arp_data.arp_tip, client_v4, 4), 0);
		      });
	      } });
	run({ "echo request", [&](unsigned, uint8_t *o) { return echo4(o, client_v4); }, "",
	      "nic_tx=3 local_replies=3",
	      [&] {
		      each(f.nic_tx, [&](const Frame &fr) {
			      auto *ip = (const rte_ipv4_hdr *)(fr.data() + L3);
			      const uint8_t *icmp = fr.data() + L4_V4;
			      ASSERT_EQ(fr.size(), L4_V4 + 8 + sizeof(echo_body));
			      expect_mac(fr.data(), f.cl[0].ep.mac);
			      EXPECT_EQ(memcmp(&ip->src_addr, sg_fx_gw4, 4), 0);
			      EXPECT_EQ(memcmp(&ip->dst_addr, client_v4, 4), 0);
			      EXPECT_EQ(rte_raw_cksum(ip, 20), 0xffff) << "header checksum";
			      EXPECT_EQ(icmp[0], RTE_IP_ICMP_ECHO_REPLY);
			      EXPECT_EQ(rte_raw_cksum(icmp, 8 + sizeof(echo_body)), 0xffff);
			      EXPECT_EQ(memcmp(icmp + 8, echo_body, sizeof(echo_body)), 0);
		      });
	      } });
}

} // namespace
