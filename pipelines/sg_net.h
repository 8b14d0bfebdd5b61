/* SPDX-License-Identifier: MIT */
/*
 * Pure packet helpers of the pipelines: no state, no EAL, so they are unit
 * tested alone (tests/unit/test_pipelines.cpp).
 */
#ifndef SG_NET_H
#define SG_NET_H

#include <stdint.h>

#include <rte_ether.h>

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

#ifdef __cplusplus
}
#endif
#endif
