/* SPDX-License-Identifier: MIT */
/*
 * BLAKE2s as specified by RFC 7693: 32-bit words, ten rounds, 64-byte blocks.
 * Written for clarity rather than speed; the handshake hashes a few hundred
 * bytes per message, so a portable implementation is fast enough.
 */
#include <errno.h>
#include <string.h>

#include "lib/common/sg_common.h"
#include "lib/crypto/sg_crypto.h"

static const uint32_t blake2s_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* RFC 7693 section 2.7: the message word permutation of each round. */
static const uint8_t blake2s_sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 },
};

static inline uint32_t ror32(uint32_t w, unsigned int c)
{
	return (w >> c) | (w << (32 - c));
}

/* RFC 7693 section 3.1: the mixing function G with rotations 16, 12, 8, 7. */
static inline void mix(uint32_t v[16], int a, int b, int c, int d, uint32_t x, uint32_t y)
{
	v[a] = v[a] + v[b] + x;
	v[d] = ror32(v[d] ^ v[a], 16);
	v[c] = v[c] + v[d];
	v[b] = ror32(v[b] ^ v[c], 12);
	v[a] = v[a] + v[b] + y;
	v[d] = ror32(v[d] ^ v[a], 8);
	v[c] = v[c] + v[d];
	v[b] = ror32(v[b] ^ v[c], 7);
}

/* RFC 7693 section 3.2: the compression function F over one block. */
static void compress(struct sg_blake2s_state *s, const uint8_t block[SG_BLAKE2S_BLOCKBYTES])
{
	uint32_t m[16], v[16];
	int i;

	for (i = 0; i < 16; i++)
		m[i] = sg_get_le32(block + 4 * i);
	for (i = 0; i < 8; i++) {
		v[i] = s->h[i];
		v[i + 8] = blake2s_iv[i];
	}
	v[12] ^= s->t[0];
	v[13] ^= s->t[1];
	v[14] ^= s->f[0];
	v[15] ^= s->f[1];

	for (i = 0; i < 10; i++) {
		const uint8_t *sg = blake2s_sigma[i];

		mix(v, 0, 4, 8, 12, m[sg[0]], m[sg[1]]);
		mix(v, 1, 5, 9, 13, m[sg[2]], m[sg[3]]);
		mix(v, 2, 6, 10, 14, m[sg[4]], m[sg[5]]);
		mix(v, 3, 7, 11, 15, m[sg[6]], m[sg[7]]);
		mix(v, 0, 5, 10, 15, m[sg[8]], m[sg[9]]);
		mix(v, 1, 6, 11, 12, m[sg[10]], m[sg[11]]);
		mix(v, 2, 7, 8, 13, m[sg[12]], m[sg[13]]);
		mix(v, 3, 4, 9, 14, m[sg[14]], m[sg[15]]);
	}

	for (i = 0; i < 8; i++)
		s->h[i] ^= v[i] ^ v[i + 8];
	/* The message words may be key material (the first block of a keyed hash). */
	sg_wipe(m, sizeof(m));
	sg_wipe(v, sizeof(v));
}

/* The byte counter t is 64 bits wide, kept as two words as the RFC does. */
static void add_counter(struct sg_blake2s_state *s, uint32_t inc)
{
	s->t[0] += inc;
	if (s->t[0] < inc)
		s->t[1]++;
}

/* Sets up the parameter block of RFC 7693 section 2.5 (fanout 1, depth 1). */
static void init_param(struct sg_blake2s_state *s, size_t outlen, size_t keylen)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->h, blake2s_iv, sizeof(s->h));
	s->h[0] ^= 0x01010000u ^ ((uint32_t)keylen << 8) ^ (uint32_t)outlen;
	s->outlen = outlen;
}

int sg_blake2s_init(struct sg_blake2s_state *s, size_t outlen)
{
	if (outlen == 0 || outlen > SG_BLAKE2S_OUTBYTES)
		return -EINVAL;
	init_param(s, outlen, 0);
	return 0;
}

int sg_blake2s_init_key(struct sg_blake2s_state *s, size_t outlen, const void *key, size_t keylen)
{
	if (outlen == 0 || outlen > SG_BLAKE2S_OUTBYTES || keylen == 0 ||
	    keylen > SG_BLAKE2S_KEYBYTES || !key)
		return -EINVAL;
	init_param(s, outlen, keylen);
	/* The key, zero-padded to a full block, is hashed as the first block. */
	memcpy(s->buf, key, keylen);
	s->buflen = SG_BLAKE2S_BLOCKBYTES;
	return 0;
}

void sg_blake2s_update(struct sg_blake2s_state *s, const void *in, size_t inlen)
{
	const uint8_t *p = in;
	size_t fill = SG_BLAKE2S_BLOCKBYTES - s->buflen;

	if (inlen == 0)
		return;
	/*
	 * A full buffer is compressed only once more input arrives, because
	 * the last block must be compressed by final() with the final flag.
	 */
	if (inlen > fill) {
		memcpy(s->buf + s->buflen, p, fill);
		add_counter(s, SG_BLAKE2S_BLOCKBYTES);
		compress(s, s->buf);
		s->buflen = 0;
		p += fill;
		inlen -= fill;
		while (inlen > SG_BLAKE2S_BLOCKBYTES) {
			add_counter(s, SG_BLAKE2S_BLOCKBYTES);
			compress(s, p);
			p += SG_BLAKE2S_BLOCKBYTES;
			inlen -= SG_BLAKE2S_BLOCKBYTES;
		}
	}
	memcpy(s->buf + s->buflen, p, inlen);
	s->buflen += inlen;
}

void sg_blake2s_final(struct sg_blake2s_state *s, uint8_t *out)
{
	uint8_t full[SG_BLAKE2S_OUTBYTES];
	int i;

	add_counter(s, (uint32_t)s->buflen);
	s->f[0] = 0xffffffffu;
	memset(s->buf + s->buflen, 0, SG_BLAKE2S_BLOCKBYTES - s->buflen);
	compress(s, s->buf);
	for (i = 0; i < 8; i++)
		sg_put_le32(full + 4 * i, s->h[i]);
	memcpy(out, full, s->outlen);
	sg_wipe(full, sizeof(full));
	sg_wipe(s, sizeof(*s));
}

void sg_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key,
		size_t keylen)
{
	struct sg_blake2s_state s;
	int err;

	err = keylen ? sg_blake2s_init_key(&s, outlen, key, keylen) : sg_blake2s_init(&s, outlen);
	/* Bad lengths are a programming error; write nothing rather than overrun out. */
	if (err)
		return;
	sg_blake2s_update(&s, in, inlen);
	sg_blake2s_final(&s, out);
}
