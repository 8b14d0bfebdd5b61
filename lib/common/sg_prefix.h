/* SPDX-License-Identifier: MIT */
/*
 * Address prefixes as byte arrays (network order, IPv4 in the first 4
 * bytes): the one helper that the pipelines, routing, the config parser and
 * the policy use to test and mask prefixes.
 */
#ifndef SG_PREFIX_H
#define SG_PREFIX_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether addr lies inside prefix/len (len at most 8 times the arrays' size). */
static inline bool sg_prefix_contains(const uint8_t *prefix, unsigned len, const uint8_t *addr)
{
	unsigned full = len / 8, rest = len % 8;

	if (memcmp(addr, prefix, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[full] ^ prefix[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/* Copies the bytes bytes of addr into out with every bit past len cleared. */
static inline void sg_prefix_mask(uint8_t *out, const uint8_t *addr, unsigned len, unsigned bytes)
{
	for (unsigned i = 0; i < bytes; i++) {
		int bits = (int)len - 8 * (int)i;

		if (bits >= 8)
			out[i] = addr[i];
		else if (bits <= 0)
			out[i] = 0;
		else
			out[i] = addr[i] & (uint8_t)(0xff00 >> bits);
	}
}

#ifdef __cplusplus
}
#endif
#endif
