/* SPDX-License-Identifier: MIT */
/*
 * The packet helpers of pipelines/net.c: header writers and checksums with no
 * state of their own and no EAL, so they are unit tested alone
 * (tests/unit/test_pipelines.cpp).
 */
#ifndef SG_NET_H
#define SG_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mbuf.h>

#include "pipelines/sg_pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ones' complement sum (folded, not inverted) of the UDP pseudo header of
 * ip (family 4 or 6) and the l4_len bytes at l4: 0xffff when a received
 * datagram's checksum is right; a datagram with a zero checksum field gets
 * the inverse as its checksum.  Same results as DPDK's rte_*_udptcp_cksum*,
 * faster.
 */
uint16_t sg_udp_sum(int family, const void *ip, const void *l4, uint32_t l4_len);

/* Link-local address fe80::/64 with the EUI-64 of mac. */
void sg_ipv6_link_local(uint8_t out[16], const struct rte_ether_addr *mac);

/*
 * Writes Ethernet + outer IPv4/IPv6 + UDP headers in front of a WireGuard
 * message of wg_len bytes that starts at the mbuf's data offset.  The
 * checksums are computed in software, or left to the NIC (mbuf TX offload
 * flags and the pseudo-header sum) when gw->tx_csum_offload is set.  Returns
 * 0, or -1 without headroom.
 */
int sg_outer_push(const struct sg_gw *gw, const struct sg_endpoint *ep, struct rte_mbuf *m);

/*
 * Whether the IPv6 packet pkt (len bytes) is, or may be, an ICMPv6 error
 * message, its extension headers walked (hop-by-hop, routing, destination
 * options, AH, a first fragment): true also when the headers are cut short
 * or a later fragment hides what it carries.
 */
bool sg_ipv6_is_icmp6_error(const uint8_t *pkt, uint32_t len);

#define SG_ICMP6_PACKET_TOO_BIG 2 /* word: the MTU */
#define SG_ICMP6_TIME_EXCEEDED	3 /* code 0: hop limit exceeded in transit; word 0 */

/*
 * Turns m (an inner IPv6 packet with an Ethernet header in front) into the
 * ICMPv6 error type (code 0, word after the checksum) from from to its
 * source, in place, quoting as much as fits in 1280 bytes.  Returns 0, or -1
 * when the packet should just be dropped (it is an ICMPv6 error itself, its
 * source is not unicast, or there is no room).
 */
int sg_icmp6_error(struct rte_mbuf *m, const uint8_t from[16], uint8_t type, uint32_t word);

#define SG_ND_NEIGHBOR_SOLICIT 135
#define SG_ND_NEIGHBOR_ADVERT  136
#define SG_ND_OPT_TARGET_LL    2
#define SG_ND_NA_ROUTER	       0x80
#define SG_ND_NA_SOLICITED     0x40
#define SG_ND_NA_OVERRIDE      0x20

/*
 * Rewrites m, a neighbor solicitation (Ethernet + IPv6 + ICMPv6), into the
 * advertisement of target at mac with flags, addressed back to the sender.
 * Returns 0, or -1 when the mbuf has no room.
 */
int sg_nd_make_advert(struct rte_mbuf *m, const uint8_t target[16],
		      const struct rte_ether_addr *mac, uint8_t flags);

#ifdef __cplusplus
}
#endif
#endif
