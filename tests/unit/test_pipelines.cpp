// Unit tests for the pipelines' pure helpers that need no EAL: the UDP
// checksum (checked against DPDK's own functions on random datagrams) and
// the link-local address derivation.
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
