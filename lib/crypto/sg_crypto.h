/* SPDX-License-Identifier: MIT */
/*
 * The cryptographic primitives of WireGuard, as byte-in byte-out functions:
 * BLAKE2s (our own, RFC 7693), HMAC-BLAKE2s and the WireGuard KDF, and thin
 * wrappers over libsodium for X25519, ChaCha20-Poly1305, XChaCha20-Poly1305,
 * constant-time comparison, wiping and randomness.  TAI64N timestamps too.
 * No DPDK here: the data path's batched AEAD lives in lib/ (ipsec-mb).
 */
#ifndef SG_CRYPTO_H
#define SG_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_BLAKE2S_OUTBYTES   32
#define SG_BLAKE2S_BLOCKBYTES 64
#define SG_BLAKE2S_KEYBYTES   32
#define SG_KEY_LEN	      32
#define SG_AEAD_TAG_LEN	      16
#define SG_XAEAD_NONCE_LEN    24
#define SG_TAI64N_LEN	      12

struct sg_blake2s_state {
	uint32_t h[8];
	uint32_t t[2];
	uint32_t f[2];
	uint8_t buf[SG_BLAKE2S_BLOCKBYTES];
	size_t buflen;
	size_t outlen;
};

/* Starts an unkeyed hash of outlen bytes (1..32). Returns 0, or -EINVAL. */
int sg_blake2s_init(struct sg_blake2s_state *s, size_t outlen);
/* Starts a keyed hash (key 1..32 bytes). Returns 0, or -EINVAL. */
int sg_blake2s_init_key(struct sg_blake2s_state *s, size_t outlen, const void *key, size_t keylen);
void sg_blake2s_update(struct sg_blake2s_state *s, const void *in, size_t inlen);
/* Writes s->outlen bytes to out and wipes the state. */
void sg_blake2s_final(struct sg_blake2s_state *s, uint8_t *out);
/*
 * One-shot BLAKE2s; key may be NULL when keylen is 0.  Lengths outside
 * outlen 1..32 and keylen 0..32 are a caller's bug: out is then left untouched.
 */
void sg_blake2s(uint8_t *out, size_t outlen, const void *in, size_t inlen, const void *key,
		size_t keylen);

/* HMAC-BLAKE2s (RFC 2104 over BLAKE2s-256, block 64), 32-byte output. */
void sg_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *in,
		     size_t inlen);

/*
 * The WireGuard KDF (HKDF with HMAC-BLAKE2s): t0 = HMAC(ck, in);
 * t1 = HMAC(t0, 0x1); t2 = HMAC(t0, t1 || 0x2); t3 = HMAC(t0, t2 || 0x3).
 * t2 and t3 may be NULL.  Outputs may alias ck.
 */
void sg_kdf(uint8_t t1[32], uint8_t t2[32], uint8_t t3[32], const uint8_t ck[32], const uint8_t *in,
	    size_t inlen);

/* Makes a new clamped X25519 private key and its public key. */
void sg_x25519_keypair(uint8_t pub[32], uint8_t priv[32]);
/* Derives the public key of priv. Returns 0, or -EINVAL. */
int sg_x25519_pubkey(uint8_t pub[32], const uint8_t priv[32]);
/* out = DH(priv, pub). Returns 0, or -EINVAL when the result is all zero. */
int sg_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);

/*
 * ChaCha20-Poly1305 (RFC 8439) with WireGuard's nonce: 32 zero bits then the
 * 64-bit counter, little-endian.  encrypt writes len + 16 bytes to dst.
 * decrypt takes len including the tag, writes len - 16 bytes, and returns 0 or
 * -EBADMSG (dst then holds nothing useful).  dst may equal src.
 */
void sg_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     uint64_t nonce, const uint8_t key[32]);
int sg_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t nonce, const uint8_t key[32]);

/* XChaCha20-Poly1305 with a 24-byte nonce, same conventions as above. */
void sg_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[24], const uint8_t key[32]);
int sg_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[24], const uint8_t key[32]);

/* Constant-time: 1 when the n bytes are equal, else 0. */
int sg_memeq(const void *a, const void *b, size_t n);
/* Constant-time: 1 when all n bytes are zero. */
int sg_is_zero(const void *p, size_t n);
/* Wipes n bytes in a way the compiler cannot remove. */
void sg_wipe(void *p, size_t n);
/* Fills p with n bytes from the system CSPRNG. */
void sg_random(void *p, size_t n);

/*
 * TAI64N of the real-time clock: 8-byte big-endian 2^62 + 10 + unix seconds,
 * 4-byte big-endian nsec rounded down to a multiple of 2^24 ns as the Linux
 * driver and wireguard-go do, so two calls within ~17 ms may return equal stamps.
 */
void sg_tai64n_now(uint8_t out[12]);
/* The same encoding of a given time, nsec kept exactly. */
void sg_tai64n_make(uint8_t out[12], uint64_t unix_sec, uint32_t nsec);
/* memcmp-style order of two TAI64N stamps (they compare as big-endian). */
int sg_tai64n_cmp(const uint8_t a[12], const uint8_t b[12]);

/* Initialises libsodium once; returns 0, or -1 when it cannot. */
int sg_crypto_init(void);

/* Base64 of a 32-byte key (44 chars + NUL), and back (returns 0 or -EINVAL). */
void sg_key_to_base64(char out[45], const uint8_t key[32]);
int sg_key_from_base64(uint8_t key[32], const char *b64);

#ifdef __cplusplus
}
#endif
#endif
