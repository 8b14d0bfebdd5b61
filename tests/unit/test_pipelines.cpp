// Unit tests for the pipelines' pure helpers that need no EAL: the UDP
// checksum (checked against DPDK's own functions on random datagrams), the
// link-local address derivation, and the ICMPv6-error test behind extension
// headers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

extern "C" {
#include <rte_ip.h>
#include <rte_udp.h>

#include "pipelines/sg_net.h"
}

namespace
{

// A buffer with an IP header followed by a UDP datagram of udp_len bytes,
// starting at an odd or even offset so that unaligned loads are exercised.
struct Datagram {
	std::vector<uint8_t> buf;
	size_t off;
	uint8_t *ip()
	{
		return buf.data() + off;
	}
};

Datagram make(int family, uint32_t udp_len, size_t align, std::mt19937 &rng)
{
	size_t ip_len = family == 4 ? sizeof(rte_ipv4_hdr) : sizeof(rte_ipv6_hdr);
	Datagram d{ std::vector<uint8_t>(align + ip_len + udp_len + 8), align };
	for (auto &b : d.buf)
		b = (uint8_t)rng();
	if (family == 4) {
		auto *ip = (rte_ipv4_hdr *)d.ip();
		ip->version_ihl = 0x45;
		ip->next_proto_id = IPPROTO_UDP;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(ip_len + udp_len));
	} else {
		auto *ip = (rte_ipv6_hdr *)d.ip();
		ip->proto = IPPROTO_UDP;
		ip->payload_len = rte_cpu_to_be_16((uint16_t)udp_len);
	}
	auto *udp = (rte_udp_hdr *)(d.ip() + ip_len);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)udp_len);
	udp->dgram_cksum = 0;
	return d;
}

} // namespace

TEST(UdpSum, MatchesDpdkOnRandomDatagrams)
{
	std::mt19937 rng(7);
	for (int family : { 4, 6 }) {
		size_t ip_len = family == 4 ? sizeof(rte_ipv4_hdr) : sizeof(rte_ipv6_hdr);
		for (uint32_t len = 8; len < 1600; len += (len < 80 ? 1 : 37)) {
			for (size_t align = 0; align < 4; align++) {
				Datagram d = make(family, len, align, rng);
				auto *udp = (rte_udp_hdr *)(d.ip() + ip_len);
				uint16_t want =
					family == 4
						? rte_ipv4_udptcp_cksum((rte_ipv4_hdr *)d.ip(), udp)
						: rte_ipv6_udptcp_cksum((rte_ipv6_hdr *)d.ip(),
									udp);
				uint16_t got = (uint16_t)~sg_udp_sum(family, d.ip(), udp, len);
				// DPDK maps a zero checksum to 0xffff; the sums are equal otherwise.
				if (got == 0)
					got = 0xffff;
				ASSERT_EQ(got, want) << "family " << family << " len " << len
						     << " align " << align;
				// With the checksum in place the datagram verifies, and any
				// flipped bit is noticed.
				udp->dgram_cksum = want;
				EXPECT_EQ(sg_udp_sum(family, d.ip(), udp, len), 0xffff);
				uint8_t *p = (uint8_t *)udp + rng() % len;
				*p ^= (uint8_t)(1u << (rng() % 8));
				EXPECT_NE(sg_udp_sum(family, d.ip(), udp, len), 0xffff);
			}
		}
	}
}

TEST(UdpSum, PseudoHeaderAddressesCount)
{
	std::mt19937 rng(11);
	Datagram d = make(6, 64, 0, rng);
	auto *ip = (rte_ipv6_hdr *)d.ip();
	auto *udp = (rte_udp_hdr *)(d.ip() + sizeof(*ip));
	udp->dgram_cksum = rte_ipv6_udptcp_cksum(ip, udp);
	ASSERT_EQ(sg_udp_sum(6, ip, udp, 64), 0xffff);
	ip->src_addr[15] ^= 1; // a datagram moved to another source fails
	EXPECT_NE(sg_udp_sum(6, ip, udp, 64), 0xffff);
}

TEST(LinkLocal, Eui64FromMac)
{
	rte_ether_addr mac = { { 0x02, 0x00, 0x00, 0x5e, 0x00, 0x01 } };
	uint8_t ll[16];
	sg_ipv6_link_local(ll, &mac);
	const uint8_t want[16] = { 0xfe, 0x80, 0,    0,	   0,	 0,    0,    0,
				   0x00, 0x00, 0x00, 0xff, 0xfe, 0x5e, 0x00, 0x01 };
	EXPECT_EQ(memcmp(ll, want, 16), 0);
}

// An IPv6 packet: header with next header first, then the bytes of chain.
static std::vector<uint8_t> ip6_chain(uint8_t first, const std::vector<uint8_t> &chain)
{
	std::vector<uint8_t> p(40 + chain.size(), 0);
	p[0] = 0x60;
	p[6] = first;
	for (size_t i = 0; i < chain.size(); i++)
		p[40 + i] = chain[i];
	return p;
}

TEST(Icmp6Error, ExtensionHeadersAreWalked)
{
	// Hop-by-hop (8 bytes) and destination options (16 bytes) headers.
	const std::vector<uint8_t> hbh_to_dst = { 60, 0, 0, 0, 0, 0, 0, 0 };
	const std::vector<uint8_t> dst_to_icmp = {
		58, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	};
	struct Case {
		const char *why;
		std::vector<uint8_t> pkt;
		bool error;
	};
	auto cat = [](const std::vector<uint8_t> &a, const std::vector<uint8_t> &b) {
		std::vector<uint8_t> r(a);
		for (uint8_t x : b)
			r.push_back(x);
		return r;
	};
	const std::vector<uint8_t> unreach = { 1, 0, 0, 0 }, echo = { 128, 0, 0, 0 };
	const std::vector<uint8_t> udp = { 0, 53, 0, 53, 0, 8, 0, 0 };
	const Case cases[] = {
		{ "an error right after the header", ip6_chain(58, unreach), true },
		{ "an echo request is no error", ip6_chain(58, echo), false },
		{ "UDP is no error", ip6_chain(17, udp), false },
		{ "an error behind hop-by-hop and destination options",
		  ip6_chain(0, cat(cat(hbh_to_dst, dst_to_icmp), unreach)), true },
		{ "an echo request behind the same headers",
		  ip6_chain(0, cat(cat(hbh_to_dst, dst_to_icmp), echo)), false },
		{ "an error behind a first fragment (offset 0)",
		  ip6_chain(44, cat({ 58, 0, 0, 1, 0, 0, 0, 1 }, unreach)), true },
		{ "a later fragment hides what it carries",
		  ip6_chain(44, cat({ 58, 0, 0x05, 0x01, 0, 0, 0, 1 }, echo)), true },
		{ "headers cut short", ip6_chain(0, { 58 }), true },
		{ "an extension header longer than the packet", ip6_chain(0, { 58, 4, 0, 0 }),
		  true },
		{ "an error behind AH (12 bytes)",
		  ip6_chain(51, cat({ 58, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, unreach)), true },
	};
	for (const Case &c : cases)
		EXPECT_EQ(sg_ipv6_is_icmp6_error(c.pkt.data(), (uint32_t)c.pkt.size()), c.error)
			<< c.why;
}
