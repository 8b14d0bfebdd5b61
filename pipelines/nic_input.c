/* SPDX-License-Identifier: MIT */
/*
 * The first stage on frames from the NIC: Ethernet, ARP, outer IPv4/IPv6,
 * ICMP echo and IPv6 neighbor discovery for the gateway's own addresses, UDP
 * to the listen port, and the WireGuard message type.  Handshake messages go
 * to the control lcore's ring, data messages on to ingress, replies back out
 * of the NIC; everything else is dropped under its reason.
 */
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#include "lib/wire/sg_wire.h"
#include "pipelines/sg_stages.h"

enum verdict {
	V_DROP,	 /* reason in *why */
	V_DATA,	 /* to ingress */
	V_HS,	 /* to the control lcore */
	V_REPLY, /* rewritten in place, back out of the NIC */
};

#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY   129

/*
 * Sources a reply must never go to: a group MAC, and IPv4 addresses that
 * are not one host's (loopback, multicast, broadcast; 0.0.0.0 is an ARP
 * probe's, answered as RFC 5227 wants, but no echo's).
 */
static bool martian_mac(const struct rte_ether_hdr *eth)
{
	return rte_is_multicast_ether_addr(&eth->src_addr);
}

static bool martian4(const uint8_t a[4])
{
	return a[0] == 127 || a[0] >= 224;
}

static bool is_unspecified6(const uint8_t a[16])
{
	static const uint8_t zero[16];

	return memcmp(a, zero, 16) == 0;
}

static void eth_reply(struct rte_ether_hdr *eth, const struct rte_ether_addr *us)
{
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(us, &eth->src_addr);
}

static enum verdict arp_input(struct sg_worker *w, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			      enum sg_drop_reason *why)
{
	const struct sg_gw *gw = &w->dp->gw;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	uint32_t tip;

	if (rte_pktmbuf_pkt_len(m) < sizeof(*eth) + sizeof(*arp)) {
		*why = SG_DROP_ETH_TRUNCATED;
		return V_DROP;
	}
	memcpy(&tip, &arp->arp_data.arp_tip, 4);
	if (!gw->has_v4 || memcmp(&tip, gw->v4, 4) != 0) {
		*why = SG_DROP_IP_NOT_FOR_US;
		return V_DROP;
	}
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
		*why = SG_DROP_LOCAL_OTHER;
		return V_DROP;
	}
	if (martian_mac(eth) || martian4((const uint8_t *)&arp->arp_data.arp_sip)) {
		*why = SG_DROP_MARTIAN;
		return V_DROP;
	}
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = arp->arp_data.arp_sip;
	rte_ether_addr_copy(&gw->mac, &arp->arp_data.arp_sha);
	memcpy(&arp->arp_data.arp_sip, gw->v4, 4);
	eth_reply(eth, &gw->mac);
	rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - sizeof(*eth) - sizeof(*arp));
	return V_REPLY;
}

static enum verdict icmp4_input(struct sg_worker *w, struct rte_ether_hdr *eth,
				struct rte_ipv4_hdr *ip, uint16_t l4_len, enum sg_drop_reason *why)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + rte_ipv4_hdr_len(ip));
	rte_be32_t a;

	if (l4_len < sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    icmp->icmp_code != 0) {
		*why = SG_DROP_LOCAL_OTHER;
		return V_DROP;
	}
	if (rte_raw_cksum(icmp, l4_len) != 0xffff) {
		*why = SG_DROP_IP_CSUM;
		return V_DROP;
	}
	if (martian_mac(eth) || martian4((const uint8_t *)&ip->src_addr) || ip->src_addr == 0) {
		*why = SG_DROP_MARTIAN;
		return V_DROP;
	}
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, l4_len);
	a = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->time_to_live = w->dp->gw.v4_ttl;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	eth_reply(eth, &w->dp->gw.mac);
	return V_REPLY;
}

/*
 * Our global address or our link-local one; neither without address6 (the
 * gateway listens only where it is configured to).
 */
static bool is_our_v6(const struct sg_gw *gw, const uint8_t a[16])
{
	return gw->has_v6 && (memcmp(a, gw->v6, 16) == 0 || memcmp(a, gw->v6_ll, 16) == 0);
}

/* ff02::1:ffXX:XXXX of one of our addresses, or all-nodes ff02::1. */
static bool is_our_mcast(const struct sg_gw *gw, const uint8_t a[16])
{
	static const uint8_t snm[13] = { 0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff };
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 0x01 };

	if (!gw->has_v6)
		return false;
	if (memcmp(a, all_nodes, 16) == 0)
		return true;
	if (memcmp(a, snm, 13) != 0)
		return false;
	return memcmp(a + 13, gw->v6 + 13, 3) == 0 || memcmp(a + 13, gw->v6_ll + 13, 3) == 0;
}

/* Answers a neighbor solicitation for one of our addresses with an advertisement. */
static enum verdict ns_input(struct sg_worker *w, struct rte_mbuf *m,
			     const struct rte_ether_hdr *eth, struct rte_ipv6_hdr *ip,
			     uint16_t l4_len, enum sg_drop_reason *why)
{
	const struct sg_gw *gw = &w->dp->gw;
	uint8_t *icmp = (uint8_t *)(ip + 1);
	uint8_t target[16];

	if (l4_len < 24 || ip->hop_limits != 255 || icmp[1] != 0) {
		*why = SG_DROP_LOCAL_OTHER;
		return V_DROP;
	}
	memcpy(target, icmp + 8, 16);
	if (!is_our_v6(gw, target)) {
		*why = SG_DROP_IP_NOT_FOR_US;
		return V_DROP;
	}
	if (rte_ipv6_udptcp_cksum_verify(ip, icmp) != 0) {
		*why = SG_DROP_IP_CSUM;
		return V_DROP;
	}
	/* From :: is duplicate address detection, answered to all nodes. */
	if (martian_mac(eth) || ip->src_addr[0] == 0xff) {
		*why = SG_DROP_MARTIAN;
		return V_DROP;
	}
	if (sg_nd_make_advert(m, target, &gw->mac, SG_ND_NA_SOLICITED | SG_ND_NA_OVERRIDE) != 0) {
		*why = SG_DROP_NO_MBUF;
		return V_DROP;
	}
	return V_REPLY;
}

static enum verdict icmp6_input(struct sg_worker *w, struct rte_mbuf *m, struct rte_ether_hdr *eth,
				struct rte_ipv6_hdr *ip, uint16_t l4_len, enum sg_drop_reason *why)
{
	uint8_t *icmp = (uint8_t *)(ip + 1);
	uint8_t a[16];

	if (l4_len < 8) {
		*why = SG_DROP_IP_TRUNCATED;
		return V_DROP;
	}
	if (icmp[0] == SG_ND_NEIGHBOR_SOLICIT)
		return ns_input(w, m, eth, ip, l4_len, why);
	if (icmp[0] != ICMP6_ECHO_REQUEST || !is_our_v6(&w->dp->gw, ip->dst_addr)) {
		*why = SG_DROP_LOCAL_OTHER;
		return V_DROP;
	}
	if (rte_ipv6_udptcp_cksum_verify(ip, icmp) != 0) {
		*why = SG_DROP_IP_CSUM;
		return V_DROP;
	}
	if (martian_mac(eth) || ip->src_addr[0] == 0xff || is_unspecified6(ip->src_addr)) {
		*why = SG_DROP_MARTIAN;
		return V_DROP;
	}
	memcpy(a, ip->src_addr, 16);
	memcpy(ip->src_addr, ip->dst_addr, 16);
	memcpy(ip->dst_addr, a, 16);
	ip->hop_limits = 64;
	icmp[0] = ICMP6_ECHO_REPLY;
	icmp[2] = icmp[3] = 0;
	*(uint16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip, icmp);
	eth_reply(eth, &w->dp->gw.mac);
	return V_REPLY;
}

/*
 * Software checksum check (sg_udp_sum, the same verdict as
 * rte_ipv4/ipv6_udptcp_cksum_verify, faster) unless the NIC already said good
 * or bad.  A zero checksum means none for IPv4 and is invalid for IPv6.
 */
static bool l4_csum_ok(struct rte_mbuf *m, int family, const void *ip,
		       const struct rte_udp_hdr *udp, uint16_t l4_len)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

	if (f == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		return true;
	if (f == RTE_MBUF_F_RX_L4_CKSUM_BAD)
		return false;
	if (udp->dgram_cksum == 0)
		return family == 4;
	return sg_udp_sum(family, ip, udp, l4_len) == 0xffff;
}

static enum verdict udp_input(struct sg_worker *w, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			      int family, const void *ip, uint8_t *l4, uint16_t l4_len,
			      enum sg_drop_reason *why)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;
	struct sg_pkt_meta *meta = sg_meta(m);
	uint16_t ulen;
	int type;

	if (l4_len < sizeof(*udp)) {
		*why = SG_DROP_UDP_TRUNCATED;
		return V_DROP;
	}
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen != l4_len) {
		*why = SG_DROP_UDP_TRUNCATED;
		return V_DROP;
	}
	if (udp->dst_port != w->dp->gw.port_be) {
		*why = SG_DROP_UDP_PORT;
		return V_DROP;
	}
	if (!l4_csum_ok(m, family, ip, udp, l4_len)) {
		*why = SG_DROP_UDP_CSUM;
		return V_DROP;
	}
	type = sg_wire_classify(l4 + sizeof(*udp), ulen - sizeof(*udp), why);
	if (type == 0)
		return V_DROP;
	memset(&meta->src, 0, sizeof(meta->src));
	meta->src.family = (uint8_t)family;
	memcpy(meta->src.mac, eth->src_addr.addr_bytes, 6);
	meta->src.port = udp->src_port;
	if (family == 4)
		memcpy(meta->src.addr, &((const struct rte_ipv4_hdr *)ip)->src_addr, 4);
	else
		memcpy(meta->src.addr, ((const struct rte_ipv6_hdr *)ip)->src_addr, 16);
	meta->wg_off = (uint16_t)(l4 + sizeof(*udp) - rte_pktmbuf_mtod(m, uint8_t *));
	meta->wg_len = (uint16_t)(ulen - sizeof(*udp));
	return type == SG_MSG_DATA ? V_DATA : V_HS;
}

static bool ipv4_hdr_csum_ok(struct rte_mbuf *m, const struct rte_ipv4_hdr *ip, unsigned hl)
{
	uint64_t f = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;

	if (f == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		return true;
	if (f == RTE_MBUF_F_RX_IP_CKSUM_BAD)
		return false;
	return rte_raw_cksum(ip, hl) == 0xffff;
}

static enum verdict ipv4_input(struct sg_worker *w, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			       enum sg_drop_reason *why)
{
	const struct sg_gw *gw = &w->dp->gw;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t avail = rte_pktmbuf_pkt_len(m) - sizeof(*eth);
	unsigned hl;
	uint16_t tot;

	*why = SG_DROP_IP_TRUNCATED;
	if (avail < sizeof(*ip) || (ip->version_ihl >> 4) != 4)
		return V_DROP;
	hl = rte_ipv4_hdr_len(ip);
	tot = rte_be_to_cpu_16(ip->total_length);
	if (hl < sizeof(*ip) || tot < hl || tot > avail)
		return V_DROP;
	if (!ipv4_hdr_csum_ok(m, ip, hl)) {
		*why = SG_DROP_IP_CSUM;
		return V_DROP;
	}
	if ((ip->fragment_offset &
	     rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
		*why = SG_DROP_IP_FRAGMENT;
		return V_DROP;
	}
	if (!gw->has_v4 || memcmp(&ip->dst_addr, gw->v4, 4) != 0) {
		*why = SG_DROP_IP_NOT_FOR_US;
		return V_DROP;
	}
	rte_pktmbuf_trim(m, avail - tot);
	if (ip->next_proto_id == IPPROTO_UDP)
		return udp_input(w, m, eth, 4, ip, (uint8_t *)ip + hl, (uint16_t)(tot - hl), why);
	if (ip->next_proto_id == IPPROTO_ICMP)
		return icmp4_input(w, eth, ip, (uint16_t)(tot - hl), why);
	*why = SG_DROP_IP_PROTO;
	return V_DROP;
}

static enum verdict ipv6_input(struct sg_worker *w, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			       enum sg_drop_reason *why)
{
	const struct sg_gw *gw = &w->dp->gw;
	struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)(eth + 1);
	uint32_t avail = rte_pktmbuf_pkt_len(m) - sizeof(*eth);
	uint16_t plen;
	bool mcast;

	*why = SG_DROP_IP_TRUNCATED;
	if (avail < sizeof(*ip) || (rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6)
		return V_DROP;
	plen = rte_be_to_cpu_16(ip->payload_len);
	if (plen > avail - sizeof(*ip))
		return V_DROP;
	mcast = ip->dst_addr[0] == 0xff;
	if (mcast ? !is_our_mcast(gw, ip->dst_addr) : !is_our_v6(gw, ip->dst_addr)) {
		*why = SG_DROP_IP_NOT_FOR_US;
		return V_DROP;
	}
	rte_pktmbuf_trim(m, avail - sizeof(*ip) - plen);
	if (ip->proto == IPPROTO_ICMPV6)
		return icmp6_input(w, m, eth, ip, plen, why);
	if (mcast) {
		*why = SG_DROP_LOCAL_OTHER;
		return V_DROP;
	}
	if (ip->proto == IPPROTO_UDP)
		return udp_input(w, m, eth, 6, ip, (uint8_t *)(ip + 1), plen, why);
	*why = ip->proto == IPPROTO_FRAGMENT ? SG_DROP_IP_FRAGMENT : SG_DROP_IP_PROTO;
	return V_DROP;
}

static enum verdict classify(struct sg_worker *w, struct rte_mbuf *m, enum sg_drop_reason *why)
{
	struct rte_ether_hdr *eth;
	uint16_t type;

	if (rte_pktmbuf_pkt_len(m) < sizeof(*eth)) {
		*why = SG_DROP_ETH_TRUNCATED;
		return V_DROP;
	}
	/* Frames fit one segment with our pool; a chained one is copied flat. */
	if (sg_unlikely(m->nb_segs > 1) && rte_pktmbuf_linearize(m) != 0) {
		*why = SG_DROP_IP_TRUNCATED;
		return V_DROP;
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (rte_is_unicast_ether_addr(&eth->dst_addr) &&
	    !rte_is_same_ether_addr(&eth->dst_addr, &w->dp->gw.mac)) {
		*why = SG_DROP_ETH_NOT_FOR_US;
		return V_DROP;
	}
	type = rte_be_to_cpu_16(eth->ether_type);
	if (type == RTE_ETHER_TYPE_IPV6)
		return ipv6_input(w, m, eth, why);
	if (type == RTE_ETHER_TYPE_IPV4)
		return ipv4_input(w, m, eth, why);
	if (type == RTE_ETHER_TYPE_ARP)
		return arp_input(w, m, eth, why);
	*why = SG_DROP_ETH_TYPE;
	return V_DROP;
}

void sg_nic_input(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	struct rte_mbuf *data[SG_BURST_MAX], *hs[SG_BURST_MAX], *tx[SG_BURST_MAX];
	unsigned nd = 0, nh = 0, nt = 0, i, q;
	uint64_t t0 = sg_cycles_start(w);

	for (i = 0; i < n && i < 4; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		enum sg_drop_reason why = SG_DROP_NONE;

		if (i + 4 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 4], void *));
		switch (classify(w, m, &why)) {
		case V_DATA:
			data[nd++] = m;
			break;
		case V_HS:
			hs[nh++] = m;
			break;
		case V_REPLY:
			/* Answers cost the gateway: a flood of requests gets few. */
			if (!sg_log_rl_allow(&w->local_rl, w->now_ns)) {
				sg_drop(w, m, SG_DROP_LOCAL_RATELIMIT);
				break;
			}
			tx[nt++] = m;
			break;
		default:
			sg_drop(w, m, why);
		}
	}
	if (nh > 0) {
		w->st.handshake_rx += nh;
		q = rte_ring_enqueue_burst(w->dp->hs_ring, (void **)hs, nh, NULL);
		for (i = q; i < nh; i++)
			sg_drop(w, hs[i], SG_DROP_WG_HS_RING_FULL);
	}
	if (nt > 0) {
		w->st.local_replies += nt;
		sg_nic_send(w, tx, nt);
	}
	sg_cycles_add(w, SG_STAGE_NIC_INPUT, t0, n);
	if (nd > 0)
		sg_ingress_data(w, data, nd);
}
