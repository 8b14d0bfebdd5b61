/* SPDX-License-Identifier: MIT */
/*
 * HMAC-BLAKE2s and the HKDF-style KDF of the Noise framework as WireGuard
 * uses them (WireGuard paper, section 5.4).  Noise asks for HMAC rather than
 * BLAKE2s's own keyed mode, so this is plain RFC 2104 over BLAKE2s-256.
 */
#include <string.h>

#include "lib/crypto/sg_crypto.h"

void sg_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *in,
		     size_t inlen)
{
	struct sg_blake2s_state s;
	uint8_t k[SG_BLAKE2S_BLOCKBYTES] = { 0 };
	uint8_t inner[SG_BLAKE2S_OUTBYTES];
	int i;

	/* RFC 2104: a key longer than a block is first hashed down. */
	if (keylen > SG_BLAKE2S_BLOCKBYTES)
		sg_blake2s(k, SG_BLAKE2S_OUTBYTES, key, keylen, NULL, 0);
	else if (keylen)
		memcpy(k, key, keylen);

	for (i = 0; i < SG_BLAKE2S_BLOCKBYTES; i++)
		k[i] ^= 0x36;
	sg_blake2s_init(&s, SG_BLAKE2S_OUTBYTES);
	sg_blake2s_update(&s, k, sizeof(k));
	sg_blake2s_update(&s, in, inlen);
	sg_blake2s_final(&s, inner);

	/* Turn the inner pad into the outer one: 0x36 ^ 0x5c. */
	for (i = 0; i < SG_BLAKE2S_BLOCKBYTES; i++)
		k[i] ^= 0x36 ^ 0x5c;
	sg_blake2s_init(&s, SG_BLAKE2S_OUTBYTES);
	sg_blake2s_update(&s, k, sizeof(k));
	sg_blake2s_update(&s, inner, sizeof(inner));
	sg_blake2s_final(&s, out);

	sg_wipe(k, sizeof(k));
	sg_wipe(inner, sizeof(inner));
}

void sg_kdf(uint8_t t1[32], uint8_t t2[32], uint8_t t3[32], const uint8_t ck[32], const uint8_t *in,
	    size_t inlen)
{
	/* ck and in are read only for t0, before any output is written, so outputs may alias them. */
	uint8_t t0[32], out[3][32], buf[33];

	sg_hmac_blake2s(t0, ck, 32, in, inlen);

	buf[0] = 0x1;
	sg_hmac_blake2s(out[0], t0, 32, buf, 1);
	memcpy(t1, out[0], 32);

	/* Later outputs chain on earlier ones, so stop at the last one wanted. */
	if (t2 || t3) {
		memcpy(buf, out[0], 32);
		buf[32] = 0x2;
		sg_hmac_blake2s(out[1], t0, 32, buf, 33);
	}
	if (t3) {
		memcpy(buf, out[1], 32);
		buf[32] = 0x3;
		sg_hmac_blake2s(out[2], t0, 32, buf, 33);
	}
	if (t2)
		memcpy(t2, out[1], 32);
	if (t3)
		memcpy(t3, out[2], 32);

	sg_wipe(t0, sizeof(t0));
	sg_wipe(out, sizeof(out));
	sg_wipe(buf, sizeof(buf));
}
