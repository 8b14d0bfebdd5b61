/* SPDX-License-Identifier: MIT */
/*
 * Thin wrappers over libsodium: X25519, the two AEADs, constant-time helpers,
 * randomness and the base64 form of keys.  They turn libsodium's conventions
 * into the header's (negative errno, WireGuard's nonce layout).
 */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "lib/common/sg_common.h"
#include "lib/crypto/sg_crypto.h"

_Static_assert(crypto_aead_chacha20poly1305_IETF_ABYTES == SG_AEAD_TAG_LEN, "aead tag");
_Static_assert(crypto_aead_chacha20poly1305_IETF_NPUBBYTES == 12, "aead nonce");
_Static_assert(crypto_aead_xchacha20poly1305_IETF_ABYTES == SG_AEAD_TAG_LEN, "xaead tag");
_Static_assert(crypto_aead_xchacha20poly1305_IETF_NPUBBYTES == SG_XAEAD_NONCE_LEN, "xaead nonce");
_Static_assert(crypto_scalarmult_BYTES == SG_KEY_LEN, "x25519 key");

#define KEY_B64_LEN 44

int sg_crypto_init(void)
{
	/* sodium_init returns 1 when it already ran, which is success too. */
	return sodium_init() < 0 ? -1 : 0;
}

/* Clamping as RFC 7748 section 5 does it, so the stored key is canonical. */
static void clamp(uint8_t k[32])
{
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

void sg_x25519_keypair(uint8_t pub[32], uint8_t priv[32])
{
	do {
		sg_random(priv, 32);
		clamp(priv);
	} while (sg_x25519_pubkey(pub, priv) != 0);
}

int sg_x25519_pubkey(uint8_t pub[32], const uint8_t priv[32])
{
	if (crypto_scalarmult_base(pub, priv) != 0)
		return -EINVAL;
	return 0;
}

int sg_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	/*
	 * libsodium already fails on an all-zero result (a low-order public
	 * key); the explicit check keeps that promise independent of it.
	 */
	if (crypto_scalarmult(out, priv, pub) != 0 || sg_is_zero(out, 32)) {
		sg_wipe(out, 32);
		return -EINVAL;
	}
	return 0;
}

/* WireGuard's 96-bit nonce: four zero bytes, then the counter little-endian. */
static void wg_nonce(uint8_t n[12], uint64_t counter)
{
	memset(n, 0, 4);
	sg_put_le64(n + 4, counter);
}

void sg_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     uint64_t nonce, const uint8_t key[32])
{
	uint8_t n[12];

	wg_nonce(n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, n, key);
}

int sg_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		    uint64_t nonce, const uint8_t key[32])
{
	uint8_t n[12];

	if (len < SG_AEAD_TAG_LEN)
		return -EBADMSG;
	wg_nonce(n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, n,
						      key) != 0)
		return -EBADMSG;
	return 0;
}

void sg_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		      const uint8_t nonce[24], const uint8_t key[32])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce,
						   key);
}

int sg_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad, size_t adlen,
		     const uint8_t nonce[24], const uint8_t key[32])
{
	if (len < SG_AEAD_TAG_LEN)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, nonce,
						       key) != 0)
		return -EBADMSG;
	return 0;
}

int sg_memeq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

int sg_is_zero(const void *p, size_t n)
{
	return sodium_is_zero(p, n);
}

void sg_wipe(void *p, size_t n)
{
	/* An empty buffer may be NULL (std::vector::data()), which libsodium forbids. */
	if (n)
		sodium_memzero(p, n);
}

void sg_random(void *p, size_t n)
{
	if (n)
		randombytes_buf(p, n);
}

void sg_key_to_base64(char out[45], const uint8_t key[32])
{
	sodium_bin2base64(out, KEY_B64_LEN + 1, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

int sg_key_from_base64(uint8_t key[32], const char *b64)
{
	uint8_t tmp[32];
	size_t binlen = 0;
	const char *end = NULL;

	/*
	 * wg(8) keys are exactly 43 base64 digits and one '=': anything else,
	 * including whitespace or a missing pad, is refused.
	 */
	if (!b64 || strnlen(b64, KEY_B64_LEN + 1) != KEY_B64_LEN || b64[KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	if (sodium_base642bin(tmp, sizeof(tmp), b64, KEY_B64_LEN, NULL, &binlen, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != sizeof(tmp) || end != b64 + KEY_B64_LEN) {
		sg_wipe(tmp, sizeof(tmp));
		return -EINVAL;
	}
	memcpy(key, tmp, sizeof(tmp));
	sg_wipe(tmp, sizeof(tmp));
	return 0;
}
