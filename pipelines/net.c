/* SPDX-License-Identifier: MIT */
/* Header helpers shared by the stages: outer headers, checksums, ICMPv6 errors, ND. */
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "pipelines/sg_net.h"

void sg_ipv6_link_local(uint8_t out[16], const struct rte_ether_addr *mac)
{
	memset(out, 0, 16);
	out[0] = 0xfe;
	out[1] = 0x80;
	out[8] = mac->addr_bytes[0] ^ 0x02;
	out[9] = mac->addr_bytes[1];
	out[10] = mac->addr_bytes[2];
	out[11] = 0xff;
	out[12] = 0xfe;
	out[13] = mac->addr_bytes[3];
	out[14] = mac->addr_bytes[4];
	out[15] = mac->addr_bytes[5];
}

static void push_eth(const struct sg_gw *gw, const struct sg_endpoint *ep,
		     struct rte_ether_hdr *eth, uint16_t type)
{
	memcpy(eth->dst_addr.addr_bytes, ep->mac, RTE_ETHER_ADDR_LEN);
	rte_ether_addr_copy(&gw->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(type);
}

/* The UDP header from our listen port to the endpoint; the checksum comes last. */
static void push_udp(const struct sg_gw *gw, const struct sg_endpoint *ep, struct rte_udp_hdr *udp,
		     uint16_t udp_len)
{
	udp->src_port = gw->port_be;
	udp->dst_port = ep->port;
	udp->dgram_len = rte_cpu_to_be_16(udp_len);
	udp->dgram_cksum = 0;
}

/*
 * The ones' complement sum of len bytes as 16-bit words in memory order, like
 * rte_raw_cksum, folded to 16 bits.  Eight bytes per step into four wide
 * accumulators: a 32-bit word is congruent to the sum of its two halves modulo
 * 0xffff, so summing 32-bit halves of 64-bit loads gives the same result as
 * the 16-bit loop at a quarter of the additions.
 */
static uint32_t sum_bytes(const uint8_t *p, uint32_t len, uint64_t sum)
{
	uint64_t a = 0, b = 0, c = 0, d = 0, x, y;
	uint16_t h;

#ifdef __AVX2__
	/*
	 * The same 32-bit halves, 64 bytes a step in four 4-lane accumulators
	 * (a lane takes 2^32 additions before it can overflow): 52 cycles for
	 * 1,440 bytes instead of 244 on this lab's CPU, which egress spends on
	 * every outer datagram and nic_input on every one it checks.
	 */
	if (len >= 64) {
		const __m256i lo = _mm256_set1_epi64x(0xffffffff);
		__m256i va = _mm256_setzero_si256(), vb = va, vc = va, vd = va;
		__m128i s;

		for (; len >= 64; p += 64, len -= 64) {
			__m256i u = _mm256_loadu_si256((const __m256i *)(const void *)p);
			__m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32));

			va = _mm256_add_epi64(va, _mm256_and_si256(u, lo));
			vb = _mm256_add_epi64(vb, _mm256_srli_epi64(u, 32));
			vc = _mm256_add_epi64(vc, _mm256_and_si256(v, lo));
			vd = _mm256_add_epi64(vd, _mm256_srli_epi64(v, 32));
		}
		va = _mm256_add_epi64(_mm256_add_epi64(va, vb), _mm256_add_epi64(vc, vd));
		s = _mm_add_epi64(_mm256_castsi256_si128(va), _mm256_extracti128_si256(va, 1));
		sum += (uint64_t)_mm_cvtsi128_si64(s) + (uint64_t)_mm_extract_epi64(s, 1);
	}
#endif
	for (; len >= 16; p += 16, len -= 16) {
		memcpy(&x, p, 8);
		memcpy(&y, p + 8, 8);
		a += (uint32_t)x;
		b += x >> 32;
		c += (uint32_t)y;
		d += y >> 32;
	}
	sum += a + b + c + d;
	for (; len >= 2; p += 2, len -= 2) {
		memcpy(&h, p, 2);
		sum += h;
	}
	if (len == 1) {
		/* The last byte is padded with a zero byte behind it. */
		h = 0;
		memcpy(&h, p, 1);
		sum += h;
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)sum;
}

uint16_t sg_udp_sum(int family, const void *ip, const void *l4, uint32_t l4_len)
{
	uint64_t sum = rte_cpu_to_be_16(IPPROTO_UDP);

	sum += rte_cpu_to_be_16((uint16_t)l4_len) + (uint64_t)rte_cpu_to_be_16(l4_len >> 16);
	if (family == 4) {
		const struct rte_ipv4_hdr *ip4 = ip;

		sum = sum_bytes((const uint8_t *)&ip4->src_addr, 8, sum);
	} else {
		const struct rte_ipv6_hdr *ip6 = ip;

		sum = sum_bytes(ip6->src_addr, 32, sum);
	}
	return (uint16_t)sum_bytes(l4, l4_len, sum);
}

/* The UDP checksum field of a datagram whose field is zero now. */
static uint16_t udp_cksum(int family, const void *ip, const struct rte_udp_hdr *udp,
			  uint16_t udp_len)
{
	uint16_t c = (uint16_t)~sg_udp_sum(family, ip, udp, udp_len);

	/* Zero means "no checksum" (IPv4) or is forbidden (IPv6): send its twin. */
	return c == 0 ? 0xffff : c;
}

int sg_outer_push(const struct sg_gw *gw, const struct sg_endpoint *ep, struct rte_mbuf *m)
{
	uint16_t wg_len = (uint16_t)rte_pktmbuf_pkt_len(m);
	uint16_t udp_len = (uint16_t)(wg_len + sizeof(struct rte_udp_hdr));
	struct rte_ether_hdr *eth;
	struct rte_udp_hdr *udp;

	if (ep->family == 4) {
		struct rte_ipv4_hdr *ip;

		eth = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eth) + sizeof(*ip) +
									     sizeof(*udp));
		if (eth == NULL)
			return -1;
		ip = (struct rte_ipv4_hdr *)(eth + 1);
		udp = (struct rte_udp_hdr *)(ip + 1);
		push_eth(gw, ep, eth, RTE_ETHER_TYPE_IPV4);
		ip->version_ihl = RTE_IPV4_VHL_DEF;
		ip->type_of_service = 0;
		ip->total_length = rte_cpu_to_be_16((uint16_t)(udp_len + sizeof(*ip)));
		ip->packet_id = 0;
		ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
		ip->time_to_live = gw->v4_ttl;
		ip->next_proto_id = IPPROTO_UDP;
		ip->hdr_checksum = 0;
		memcpy(&ip->src_addr, gw->v4, 4);
		memcpy(&ip->dst_addr, ep->addr, 4);
		push_udp(gw, ep, udp, udp_len);
		m->l3_len = sizeof(*ip);
		if (gw->tx_csum_offload) {
			/* The NIC fills both checksums; it wants the pseudo-header sum in place. */
			m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
				      RTE_MBUF_F_TX_UDP_CKSUM;
			udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
		} else {
			m->ol_flags = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
			udp->dgram_cksum = udp_cksum(4, ip, udp, udp_len);
		}
	} else {
		struct rte_ipv6_hdr *ip;

		eth = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, sizeof(*eth) + sizeof(*ip) +
									     sizeof(*udp));
		if (eth == NULL)
			return -1;
		ip = (struct rte_ipv6_hdr *)(eth + 1);
		udp = (struct rte_udp_hdr *)(ip + 1);
		push_eth(gw, ep, eth, RTE_ETHER_TYPE_IPV6);
		ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
		ip->payload_len = rte_cpu_to_be_16(udp_len);
		ip->proto = IPPROTO_UDP;
		ip->hop_limits = 64;
		memcpy(ip->src_addr, gw->v6, 16);
		memcpy(ip->dst_addr, ep->addr, 16);
		push_udp(gw, ep, udp, udp_len);
		m->l3_len = sizeof(*ip);
		if (gw->tx_csum_offload) {
			m->ol_flags = RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_UDP_CKSUM;
			udp->dgram_cksum = rte_ipv6_phdr_cksum(ip, m->ol_flags);
		} else {
			m->ol_flags = 0;
			udp->dgram_cksum = udp_cksum(6, ip, udp, udp_len);
		}
	}
	m->l2_len = sizeof(*eth);
	return 0;
}

bool sg_ipv6_is_icmp6_error(const uint8_t *pkt, uint32_t len)
{
	uint32_t off = 40;
	uint8_t next;

	if (len < off)
		return true;
	next = pkt[6];
	for (;;) {
		switch (next) {
		case IPPROTO_ICMPV6:
			/* Types below 128 are errors; a type we cannot see might be one. */
			return off >= len || pkt[off] < 128;
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (off + 2 > len)
				return true;
			next = pkt[off];
			off += 8u * (pkt[off + 1] + 1u);
			break;
		case IPPROTO_AH:
			if (off + 2 > len)
				return true;
			next = pkt[off];
			off += 4u * (pkt[off + 1] + 2u);
			break;
		case IPPROTO_FRAGMENT:
			/* A later fragment does not show what it carries: assume the worst. */
			if (off + 8 > len || (((pkt[off + 2] << 8) | pkt[off + 3]) & 0xfff8) != 0)
				return true;
			next = pkt[off];
			off += 8;
			break;
		default:
			return false;
		}
	}
}

/* The smallest IPv6 MTU: an ICMPv6 error never makes a packet larger. */
#define IPV6_MIN_MTU 1280

int sg_icmp6_error(struct rte_mbuf *m, const uint8_t from[16], uint8_t type, uint32_t word)
{
	struct rte_ether_hdr *eth, old_eth;
	struct rte_ipv6_hdr *ip, *orig;
	struct rte_icmp_hdr *icmp;
	uint32_t quoted, total;
	uint8_t *p;

	if (m->nb_segs != 1 || rte_pktmbuf_pkt_len(m) < sizeof(*eth) + sizeof(*orig))
		return -1;
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	orig = (struct rte_ipv6_hdr *)(eth + 1);
	/* Never answer an ICMPv6 error with another one (RFC 4443 2.4 e). */
	if (sg_ipv6_is_icmp6_error((const uint8_t *)orig, rte_pktmbuf_pkt_len(m) - sizeof(*eth)))
		return -1;
	if (orig->src_addr[0] == 0xff)
		return -1;
	old_eth = *eth;
	quoted = rte_pktmbuf_pkt_len(m) - sizeof(*eth);
	if (quoted > IPV6_MIN_MTU - sizeof(*ip) - 8)
		quoted = IPV6_MIN_MTU - sizeof(*ip) - 8;
	p = (uint8_t *)rte_pktmbuf_prepend(m, sizeof(*ip) + 8);
	if (p == NULL)
		return -1;
	eth = (struct rte_ether_hdr *)p;
	ip = (struct rte_ipv6_hdr *)(eth + 1);
	icmp = (struct rte_icmp_hdr *)(ip + 1);
	orig = (struct rte_ipv6_hdr *)((uint8_t *)icmp + 8);
	total = sizeof(*eth) + sizeof(*ip) + 8 + quoted;
	rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - total);
	rte_ether_addr_copy(&old_eth.src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&old_eth.dst_addr, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16((uint16_t)(8 + quoted));
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 64;
	memcpy(ip->src_addr, from, 16);
	memcpy(ip->dst_addr, orig->src_addr, 16);
	icmp->icmp_type = type;
	icmp->icmp_code = 0;
	icmp->icmp_cksum = 0;
	/* The MTU (or zero) sits where echo messages keep identifier and sequence. */
	word = rte_cpu_to_be_32(word);
	memcpy(&icmp->icmp_ident, &word, sizeof(word));
	icmp->icmp_cksum = rte_ipv6_udptcp_cksum(ip, icmp);
	return 0;
}

int sg_nd_make_advert(struct rte_mbuf *m, const uint8_t target[16],
		      const struct rte_ether_addr *mac, uint8_t flags)
{
	static const uint8_t unspec[16];
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };
	const uint16_t na_len = 8 + 16 + 8;
	const uint32_t total = sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv6_hdr) + na_len;
	struct rte_ether_hdr *eth;
	struct rte_ipv6_hdr *ip;
	uint8_t *icmp;

	if (rte_pktmbuf_pkt_len(m) < total &&
	    rte_pktmbuf_append(m, (uint16_t)(total - rte_pktmbuf_pkt_len(m))) == NULL)
		return -1;
	rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - total));
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv6_hdr *)(eth + 1);
	icmp = (uint8_t *)(ip + 1);
	/* A solicitation from :: (duplicate address detection) is answered to all nodes. */
	if (memcmp(ip->src_addr, unspec, 16) == 0) {
		memcpy(ip->dst_addr, all_nodes, 16);
		flags &= (uint8_t)~SG_ND_NA_SOLICITED;
	} else {
		memcpy(ip->dst_addr, ip->src_addr, 16);
	}
	memcpy(ip->src_addr, target, 16);
	ip->vtc_flow = rte_cpu_to_be_32(6u << 28);
	ip->payload_len = rte_cpu_to_be_16(na_len);
	ip->proto = IPPROTO_ICMPV6;
	ip->hop_limits = 255;
	memset(icmp, 0, na_len);
	icmp[0] = SG_ND_NEIGHBOR_ADVERT;
	icmp[4] = flags;
	memcpy(icmp + 8, target, 16);
	icmp[24] = SG_ND_OPT_TARGET_LL;
	icmp[25] = 1;
	memcpy(icmp + 26, mac->addr_bytes, 6);
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(mac, &eth->src_addr);
	return 0;
}
