/* SPDX-License-Identifier: MIT */
/*
 * The data path's batched ChaCha20-Poly1305 (RFC 8439), on Intel ipsec-mb.
 *
 * Each worker owns one struct sg_dpcrypto and hands it arrays of operations,
 * one per packet.  Nonces follow WireGuard: 32 zero bits, then the 64-bit
 * counter little-endian.  Tags are always 16 bytes and are kept apart from the
 * ciphertext so the caller decides where they live (usually right after it).
 *
 * No DPDK types here, so the library is tested without EAL.  A context is not
 * thread-safe: one per worker, used by that worker only.
 */
#ifndef SG_DPCRYPTO_H
#define SG_DPCRYPTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_DPCRYPTO_KEY_LEN 32
#define SG_DPCRYPTO_TAG_LEN 16
#define SG_DPCRYPTO_IV_LEN  12

struct sg_dpcrypto;

/*
 * One AEAD operation.  The caller fills every field but status (iv may be
 * left NULL); the burst functions write status: 0 when done (decrypt: tag
 * verified), -EBADMSG when the tag did not match, -EIO when ipsec-mb refused
 * or failed the job (count it as SG_DROP_CRYPTO).  A failed decrypt zeroes
 * dst, so unauthenticated plaintext is never left behind.
 */
struct sg_dpcrypto_op {
	const uint8_t *key; /* 32 bytes */
	uint64_t nonce;	    /* WireGuard counter */
	uint8_t *src;
	uint8_t *dst;	    /* may equal src (in place); len bytes are written */
	uint32_t len;	    /* plaintext or ciphertext length, without the tag */
	uint8_t *tag;	    /* 16 bytes: written on encrypt, compared on decrypt */
	const uint8_t *aad; /* may be NULL when aad_len is 0 */
	uint32_t aad_len;
	int status; /* out: 0, -EBADMSG or -EIO */
	/*
	 * Optional full 12-byte IV, used instead of nonce when not NULL.  The data
	 * path leaves it NULL; it exists so RFC 8439 vectors (whose nonces do not
	 * start with four zero bytes) can be run through the real engine.
	 */
	const uint8_t *iv;
};

/* Which ipsec-mb interface the bursts are driven through. */
enum sg_dpcrypto_api {
	SG_DPCRYPTO_API_JOB,   /* IMB_GET_NEXT_JOB / IMB_SUBMIT_JOB / IMB_FLUSH_JOB */
	SG_DPCRYPTO_API_BURST, /* IMB_GET_NEXT_BURST / IMB_SUBMIT_BURST / IMB_FLUSH_BURST */
};

/* Per-context counters, only ever touched by the owning worker. */
struct sg_dpcrypto_stats {
	uint64_t encrypted;  /* ops encrypted successfully */
	uint64_t decrypted;  /* ops decrypted with a valid tag */
	uint64_t bad_tag;    /* decrypts whose tag did not match */
	uint64_t engine_err; /* jobs ipsec-mb refused or did not complete */
};

/*
 * Allocates a context and initialises ipsec-mb for the best instruction set
 * this CPU has.  Returns NULL (and logs why) when memory is short, the CPU
 * lacks what ipsec-mb needs, or the library's self-test failed.
 */
struct sg_dpcrypto *sg_dpcrypto_create(void);

/* Wipes and frees a context; NULL is accepted. */
void sg_dpcrypto_destroy(struct sg_dpcrypto *ctx);

/* Name of the ipsec-mb architecture create picked: "sse", "avx", "avx2", "avx512". */
const char *sg_dpcrypto_arch_name(const struct sg_dpcrypto *ctx);

/*
 * One line for --version: ipsec-mb's version, the code path it picked for
 * this CPU and the CPU features it detected ("1.3.0, avx512: aesni pclmulqdq
 * ... vaes").  Returns buf.
 */
char *sg_dpcrypto_describe(const struct sg_dpcrypto *ctx, char *buf, size_t len);

/*
 * Chooses the ipsec-mb interface (default: the job API, which bench_crypto
 * measured the faster).  Both give identical results; this exists for the benchmark
 * and the tests.  Returns 0, or -EINVAL for an unknown value.
 */
int sg_dpcrypto_set_api(struct sg_dpcrypto *ctx, enum sg_dpcrypto_api api);

/*
 * Encrypts n ops: dst gets len bytes of ciphertext and tag the 16-byte tag.
 * Sets every op's status and returns how many succeeded.  Any n is accepted;
 * ops are independent (each has its own key, nonce and AAD).
 */
unsigned sg_dpcrypto_encrypt_burst(struct sg_dpcrypto *ctx, struct sg_dpcrypto_op *ops, unsigned n);

/*
 * Decrypts n ops and verifies each tag in constant time.  An op whose tag does
 * not match gets -EBADMSG and a zeroed dst; the others are unaffected.
 * Returns how many ops decrypted with a valid tag.
 */
unsigned sg_dpcrypto_decrypt_burst(struct sg_dpcrypto *ctx, struct sg_dpcrypto_op *ops, unsigned n);

/* One op, for slow paths; returns the op's status. */
int sg_dpcrypto_encrypt_one(struct sg_dpcrypto *ctx, struct sg_dpcrypto_op *op);
int sg_dpcrypto_decrypt_one(struct sg_dpcrypto *ctx, struct sg_dpcrypto_op *op);

/* Copies the context's counters. */
void sg_dpcrypto_stats_get(const struct sg_dpcrypto *ctx, struct sg_dpcrypto_stats *out);

#ifdef __cplusplus
}
#endif
#endif
