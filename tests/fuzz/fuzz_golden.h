/* SPDX-License-Identifier: MIT */
/*
 * Fixed keys for the handshake fuzz targets: those of the published golden
 * transcript in tests/unit/golden_wg.h, so that its messages are valid seeds.
 */
#ifndef SG_FUZZ_GOLDEN_H
#define SG_FUZZ_GOLDEN_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_INITIATOR_PRIVATE	 "30f840b57759f1b03f2881d249d8440535438013bb60c4e3ca186eec5baa6543"
#define FUZZ_INITIATOR_PUBLIC	 "6de814225a4cea710ede659be1cae9968700fe06ded3cb48017012fda4a6d72a"
#define FUZZ_INITIATOR_EPHEMERAL "182b58c93fad2340de69fb6d0552da2e49076dd4234cebb83bec468a55ec7158"
#define FUZZ_RESPONDER_PRIVATE	 "d029badf266e850d35eba96e36f9e4715915c2fdc87b4acdddeae3a18f02cb42"
#define FUZZ_RESPONDER_PUBLIC	 "d3a425474ec8108b84396bcd7e6359173967a977a5f1683cd63d8a48508ad03b"
#define FUZZ_RESPONDER_EPHEMERAL "e8edd8b94e9e711507abccf605273ce332f67e122a9572e79d2e07b0ba7bd45d"
#define FUZZ_TIMESTAMP		 "400000006553f10a05000000"
#define FUZZ_INITIATOR_INDEX	 0x11223344u
/* The golden initiation up to its MACs, so that mac1 can be recomputed. */
#define FUZZ_INITIATION_NO_MACS                                                                  \
	"01000000443322116753afd63220b4bc669fc51be6a98c4ca498dc9f07cfa599ccb1ab60585ebf26ff4dae" \
	"da1210129a7ae289f2e08f2d67ed6b3a29d9036cb70c1fefb746ef68122d380bc41954fe0663c66a116b36" \
	"156f32eac6f967e7188dc05c671220d9bcb24061d5e7461c776abe65f75912946c06a2130e38f001eeef43" \
	"fca8f1"

static inline int fuzz_nibble(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Decodes n bytes of lower-case hex. */
static inline void fuzz_unhex(uint8_t *out, const char *hex, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(fuzz_nibble(hex[2 * i]) << 4 | fuzz_nibble(hex[2 * i + 1]));
}

#endif
