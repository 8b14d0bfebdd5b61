/* SPDX-License-Identifier: MIT */
/*
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it (WireGuard paper,
 * section 5.4), in the structure of the Linux driver's noise.c:
 *
 *   <- s
 *   ...
 *   -> e, es, s, ss, {t}
 *   <- e, ee, se, psk, {}
 *
 * Every function works on local copies of the chaining key and hash and
 * writes them back to the peer's state only once the whole message has been
 * processed, so a forged message cannot disturb a handshake in progress.
 */
#include <errno.h>
#include <string.h>

#include "lib/common/sg_common.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/noise/sg_noise.h"

#define NSEC_PER_SEC 1000000000ull

/* The AEAD of a handshake message is keyed once, so its nonce is always 0. */
#define HS_NONCE 0

static const uint8_t zero_reserved[3];

static void clamp(uint8_t k[32])
{
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

/* h = HASH(h || in) */
static void mix_hash(uint8_t h[SG_HASH_LEN], const void *in, size_t len)
{
	struct sg_blake2s_state s;

	sg_blake2s_init(&s, SG_HASH_LEN);
	sg_blake2s_update(&s, h, SG_HASH_LEN);
	sg_blake2s_update(&s, in, len);
	sg_blake2s_final(&s, h);
}

/*
 * ck = HASH(CONSTRUCTION); h = HASH(HASH(ck || IDENTIFIER) || responder's
 * static public key): the pre-message "<- s" of the pattern.
 */
static void initial_chain(uint8_t ck[SG_HASH_LEN], uint8_t h[SG_HASH_LEN],
			  const uint8_t responder_static[32])
{
	sg_blake2s(ck, SG_HASH_LEN, SG_NOISE_CONSTRUCTION, sizeof(SG_NOISE_CONSTRUCTION) - 1, NULL,
		   0);
	memcpy(h, ck, SG_HASH_LEN);
	mix_hash(h, SG_NOISE_IDENTIFIER, sizeof(SG_NOISE_IDENTIFIER) - 1);
	mix_hash(h, responder_static, SG_PUBLIC_KEY_LEN);
}

/* The "e" token: in psk handshakes the ephemeral goes into both h and ck. */
static void message_ephemeral(uint8_t ck[SG_HASH_LEN], uint8_t h[SG_HASH_LEN], const uint8_t e[32])
{
	mix_hash(h, e, SG_PUBLIC_KEY_LEN);
	sg_kdf(ck, NULL, NULL, ck, e, SG_PUBLIC_KEY_LEN);
}

/* (ck, key) = KDF2(ck, DH(priv, pub)); key may be NULL.  -EBADMSG on a zero DH. */
static int mix_dh(uint8_t ck[SG_HASH_LEN], uint8_t *key, const uint8_t priv[32],
		  const uint8_t pub[32])
{
	uint8_t dh[SG_PUBLIC_KEY_LEN];

	if (sg_x25519(dh, priv, pub) != 0)
		return -EBADMSG;
	sg_kdf(ck, key, NULL, ck, dh, sizeof(dh));
	sg_wipe(dh, sizeof(dh));
	return 0;
}

/* As mix_dh with the precomputed static-static DH; -ENOKEY when it is unusable. */
static int mix_precomputed_dh(uint8_t ck[SG_HASH_LEN], uint8_t key[32], const uint8_t ss[32])
{
	if (sg_is_zero(ss, SG_PUBLIC_KEY_LEN))
		return -ENOKEY;
	sg_kdf(ck, key, NULL, ck, ss, SG_PUBLIC_KEY_LEN);
	return 0;
}

/* (ck, t, key) = KDF3(ck, psk); h = HASH(h || t) */
static void mix_psk(uint8_t ck[SG_HASH_LEN], uint8_t h[SG_HASH_LEN], uint8_t key[32],
		    const uint8_t psk[32])
{
	uint8_t t[SG_HASH_LEN];

	sg_kdf(ck, t, key, ck, psk, SG_SYMMETRIC_KEY_LEN);
	mix_hash(h, t, sizeof(t));
	sg_wipe(t, sizeof(t));
}

/* dst = AEAD(key, 0, src, h); h = HASH(h || dst) */
static void message_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[32],
			    uint8_t h[SG_HASH_LEN])
{
	sg_aead_encrypt(dst, src, len, h, SG_HASH_LEN, HS_NONCE, key);
	mix_hash(h, dst, len + SG_TAG_LEN);
}

/* dst = AEAD-open(key, 0, src, h); h = HASH(h || src).  len includes the tag. */
static int message_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[32],
			   uint8_t h[SG_HASH_LEN])
{
	if (sg_aead_decrypt(dst, src, len, h, SG_HASH_LEN, HS_NONCE, key) != 0)
		return -EBADMSG;
	mix_hash(h, src, len);
	return 0;
}

/* A new ephemeral key pair from st's environment. */
static int new_ephemeral(const struct sg_noise_static *st, uint8_t priv[32], uint8_t pub[32])
{
	if (!st->ephemeral) {
		sg_x25519_keypair(pub, priv);
		return 0;
	}
	st->ephemeral(st->env_ctx, priv);
	clamp(priv);
	return sg_x25519_pubkey(pub, priv) == 0 ? 0 : -ENOKEY;
}

/* The time for a new initiation, from st's environment. */
static void new_timestamp(const struct sg_noise_static *st, uint8_t ts[SG_TIMESTAMP_LEN])
{
	if (st->timestamp)
		st->timestamp(st->env_ctx, ts);
	else
		sg_tai64n_now(ts);
}

static bool header_ok(const struct sg_msg_header *hdr, uint8_t type)
{
	return hdr->type == type &&
	       memcmp(hdr->reserved, zero_reserved, sizeof(zero_reserved)) == 0;
}

static void set_header(struct sg_msg_header *hdr, uint8_t type)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->type = type;
}

int sg_noise_static_init(struct sg_noise_static *st, const uint8_t private_key[32])
{
	memset(st, 0, sizeof(*st));
	if (sg_is_zero(private_key, SG_PRIVATE_KEY_LEN))
		return -ENOKEY;
	memcpy(st->private_key, private_key, SG_PRIVATE_KEY_LEN);
	clamp(st->private_key);
	if (sg_x25519_pubkey(st->public_key, st->private_key) != 0) {
		sg_noise_static_clear(st);
		return -ENOKEY;
	}
	initial_chain(st->initial_ck, st->initial_hash, st->public_key);
	st->has_identity = true;
	return 0;
}

void sg_noise_static_clear(struct sg_noise_static *st)
{
	sg_wipe(st, sizeof(*st));
}

void sg_noise_static_set_env(struct sg_noise_static *st, sg_noise_ephemeral_fn ephemeral,
			     sg_noise_timestamp_fn timestamp, void *ctx)
{
	st->ephemeral = ephemeral;
	st->timestamp = timestamp;
	st->env_ctx = ctx;
}

static int peer_hs_precompute(struct sg_noise_peer_hs *hs, const struct sg_noise_static *st)
{
	if (st->has_identity &&
	    sg_x25519(hs->precomputed_ss, st->private_key, hs->remote_static) == 0)
		return 0;
	sg_wipe(hs->precomputed_ss, sizeof(hs->precomputed_ss));
	return -ENOKEY;
}

int sg_noise_peer_hs_init(struct sg_noise_peer_hs *hs, const struct sg_noise_static *st,
			  const uint8_t remote_static[32], const uint8_t *preshared_key)
{
	memset(hs, 0, sizeof(*hs));
	memcpy(hs->remote_static, remote_static, SG_PUBLIC_KEY_LEN);
	if (preshared_key)
		memcpy(hs->preshared_key, preshared_key, SG_SYMMETRIC_KEY_LEN);
	hs->state = SG_NOISE_HS_ZEROED;
	return peer_hs_precompute(hs, st);
}

void sg_noise_peer_hs_zero(struct sg_noise_peer_hs *hs)
{
	sg_wipe(hs->hash, sizeof(hs->hash));
	sg_wipe(hs->chaining_key, sizeof(hs->chaining_key));
	sg_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	sg_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = SG_NOISE_HS_ZEROED;
}

void sg_noise_peer_hs_clear(struct sg_noise_peer_hs *hs)
{
	sg_wipe(hs, sizeof(*hs));
}

/* Everything an initiation computes before it is committed to the peer. */
struct hs_work {
	uint8_t ck[SG_HASH_LEN];
	uint8_t h[SG_HASH_LEN];
	uint8_t key[SG_SYMMETRIC_KEY_LEN];
	uint8_t eph[SG_PRIVATE_KEY_LEN];
	uint8_t ts[SG_TIMESTAMP_LEN];
};

static int build_initiation(const struct sg_noise_static *st, const struct sg_noise_peer_hs *hs,
			    struct sg_msg_initiation *out, struct hs_work *w)
{
	int ret;

	initial_chain(w->ck, w->h, hs->remote_static);

	/* e */
	ret = new_ephemeral(st, w->eph, out->unencrypted_ephemeral);
	if (ret)
		return ret;
	message_ephemeral(w->ck, w->h, out->unencrypted_ephemeral);

	/* es */
	if (mix_dh(w->ck, w->key, w->eph, hs->remote_static) != 0)
		return -ENOKEY;

	/* s */
	message_encrypt(out->encrypted_static, st->public_key, SG_PUBLIC_KEY_LEN, w->key, w->h);

	/* ss */
	ret = mix_precomputed_dh(w->ck, w->key, hs->precomputed_ss);
	if (ret)
		return ret;

	/* {t} */
	new_timestamp(st, w->ts);
	message_encrypt(out->encrypted_timestamp, w->ts, SG_TIMESTAMP_LEN, w->key, w->h);
	return 0;
}

int sg_noise_create_initiation(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			       struct sg_msg_initiation *out, uint32_t local_index, uint64_t now_ns)
{
	struct hs_work w;
	int ret;

	if (!st->has_identity || sg_is_zero(hs->precomputed_ss, SG_PUBLIC_KEY_LEN))
		return -ENOKEY;
	memset(out, 0, sizeof(*out));
	set_header(&out->header, SG_MSG_INITIATION);
	sg_put_le32((uint8_t *)&out->sender_index, local_index);

	ret = build_initiation(st, hs, out, &w);
	if (ret == 0) {
		memcpy(hs->chaining_key, w.ck, SG_HASH_LEN);
		memcpy(hs->hash, w.h, SG_HASH_LEN);
		memcpy(hs->ephemeral_private, w.eph, SG_PRIVATE_KEY_LEN);
		sg_wipe(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
		hs->local_index = local_index;
		hs->remote_index = 0;
		hs->last_sent_initiation_ns = now_ns;
		hs->state = SG_NOISE_HS_CREATED_INITIATION;
	} else {
		memset(out, 0, sizeof(*out));
	}
	sg_wipe(&w, sizeof(w));
	return ret;
}

static int read_response(const struct sg_noise_static *st, const struct sg_noise_peer_hs *hs,
			 const uint8_t e[32], const struct sg_msg_response *in, struct hs_work *w)
{
	int ret;

	memcpy(w->ck, hs->chaining_key, SG_HASH_LEN);
	memcpy(w->h, hs->hash, SG_HASH_LEN);

	/* e */
	message_ephemeral(w->ck, w->h, e);

	/* ee */
	ret = mix_dh(w->ck, NULL, hs->ephemeral_private, e);
	if (ret)
		return ret;

	/* se */
	ret = mix_dh(w->ck, NULL, st->private_key, e);
	if (ret)
		return ret;

	/* psk */
	mix_psk(w->ck, w->h, w->key, hs->preshared_key);

	/* {} */
	return message_decrypt(w->ts, in->encrypted_nothing, sizeof(in->encrypted_nothing), w->key,
			       w->h);
}

int sg_noise_consume_response(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			      const struct sg_msg_response *in)
{
	uint8_t e[SG_PUBLIC_KEY_LEN];
	struct hs_work w;
	int ret;

	if (!st->has_identity)
		return -ENOKEY;
	if (hs->state != SG_NOISE_HS_CREATED_INITIATION ||
	    sg_get_le32((const uint8_t *)&in->receiver_index) != hs->local_index)
		return -EINVAL;
	if (!header_ok(&in->header, SG_MSG_RESPONSE))
		return -EBADMSG;
	memcpy(e, in->unencrypted_ephemeral, sizeof(e));

	ret = read_response(st, hs, e, in, &w);
	if (ret == 0) {
		memcpy(hs->remote_ephemeral, e, sizeof(e));
		memcpy(hs->chaining_key, w.ck, SG_HASH_LEN);
		memcpy(hs->hash, w.h, SG_HASH_LEN);
		/* The ephemeral has done its work: ee and se are behind us. */
		sg_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
		hs->remote_index = sg_get_le32((const uint8_t *)&in->sender_index);
		hs->state = SG_NOISE_HS_CONSUMED_RESPONSE;
	}
	sg_wipe(&w, sizeof(w));
	return ret;
}

void sg_noise_init_ctx_clear(struct sg_noise_init_ctx *ctx)
{
	sg_wipe(ctx, sizeof(*ctx));
}

int sg_noise_initiation_decrypt_static(const struct sg_noise_static *st,
				       const struct sg_msg_initiation *in,
				       uint8_t remote_static_out[32], struct sg_noise_init_ctx *ctx)
{
	uint8_t key[SG_SYMMETRIC_KEY_LEN];
	int ret;

	memset(ctx, 0, sizeof(*ctx));
	if (!st->has_identity)
		return -ENOKEY;
	if (!header_ok(&in->header, SG_MSG_INITIATION))
		return -EBADMSG;
	memcpy(ctx->chaining_key, st->initial_ck, SG_HASH_LEN);
	memcpy(ctx->hash, st->initial_hash, SG_HASH_LEN);
	memcpy(ctx->remote_ephemeral, in->unencrypted_ephemeral, SG_PUBLIC_KEY_LEN);

	/* e */
	message_ephemeral(ctx->chaining_key, ctx->hash, ctx->remote_ephemeral);

	/* es */
	ret = mix_dh(ctx->chaining_key, key, st->private_key, ctx->remote_ephemeral);

	/* s */
	if (ret == 0)
		ret = message_decrypt(ctx->remote_static, in->encrypted_static,
				      sizeof(in->encrypted_static), key, ctx->hash);
	sg_wipe(key, sizeof(key));
	if (ret) {
		sg_noise_init_ctx_clear(ctx);
		return ret;
	}
	memcpy(ctx->encrypted_timestamp, in->encrypted_timestamp, sizeof(ctx->encrypted_timestamp));
	ctx->sender_index = sg_get_le32((const uint8_t *)&in->sender_index);
	ctx->valid = true;
	memcpy(remote_static_out, ctx->remote_static, SG_PUBLIC_KEY_LEN);
	return 0;
}

/* The replay and flood checks of an authenticated timestamp t. */
static int check_initiation_rate(const struct sg_noise_peer_hs *hs, const uint8_t t[12],
				 uint64_t now_ns)
{
	/* Strictly newer than any accepted before, or it is a replay. */
	if (sg_tai64n_cmp(t, hs->latest_timestamp) <= 0)
		return -EALREADY;
	if (hs->has_consumed_initiation &&
	    now_ns < hs->last_initiation_consumed_ns + NSEC_PER_SEC / SG_INITIATIONS_PER_SECOND)
		return -EAGAIN;
	return 0;
}

static int read_timestamp(struct sg_noise_init_ctx *ctx, const struct sg_noise_peer_hs *hs,
			  struct hs_work *w, uint64_t now_ns)
{
	int ret;

	memcpy(w->ck, ctx->chaining_key, SG_HASH_LEN);
	memcpy(w->h, ctx->hash, SG_HASH_LEN);

	/* ss */
	ret = mix_precomputed_dh(w->ck, w->key, hs->precomputed_ss);
	if (ret)
		return ret;

	/* {t} */
	ret = message_decrypt(w->ts, ctx->encrypted_timestamp, sizeof(ctx->encrypted_timestamp),
			      w->key, w->h);
	if (ret)
		return ret;
	return check_initiation_rate(hs, w->ts, now_ns);
}

int sg_noise_consume_initiation(const struct sg_noise_static *st, struct sg_noise_init_ctx *ctx,
				struct sg_noise_peer_hs *hs, uint64_t now_ns)
{
	struct hs_work w;
	int ret;

	if (!ctx->valid || !sg_memeq(ctx->remote_static, hs->remote_static, SG_PUBLIC_KEY_LEN))
		ret = -EINVAL;
	else if (!st->has_identity)
		ret = -ENOKEY;
	else
		ret = read_timestamp(ctx, hs, &w, now_ns);
	if (ret == 0) {
		memcpy(hs->remote_ephemeral, ctx->remote_ephemeral, SG_PUBLIC_KEY_LEN);
		memcpy(hs->latest_timestamp, w.ts, SG_TIMESTAMP_LEN);
		memcpy(hs->chaining_key, w.ck, SG_HASH_LEN);
		memcpy(hs->hash, w.h, SG_HASH_LEN);
		/* An initiation of ours still pending is superseded by theirs. */
		sg_wipe(hs->ephemeral_private, sizeof(hs->ephemeral_private));
		hs->remote_index = ctx->sender_index;
		if (!hs->has_consumed_initiation || now_ns > hs->last_initiation_consumed_ns)
			hs->last_initiation_consumed_ns = now_ns;
		hs->has_consumed_initiation = true;
		hs->state = SG_NOISE_HS_CONSUMED_INITIATION;
	}
	sg_wipe(&w, sizeof(w));
	sg_noise_init_ctx_clear(ctx);
	return ret;
}

static int build_response(const struct sg_noise_static *st, const struct sg_noise_peer_hs *hs,
			  struct sg_msg_response *out, struct hs_work *w)
{
	int ret;

	memcpy(w->ck, hs->chaining_key, SG_HASH_LEN);
	memcpy(w->h, hs->hash, SG_HASH_LEN);

	/* e */
	ret = new_ephemeral(st, w->eph, out->unencrypted_ephemeral);
	if (ret)
		return ret;
	message_ephemeral(w->ck, w->h, out->unencrypted_ephemeral);

	/* ee */
	ret = mix_dh(w->ck, NULL, w->eph, hs->remote_ephemeral);
	if (ret)
		return ret;

	/* se */
	ret = mix_dh(w->ck, NULL, w->eph, hs->remote_static);
	if (ret)
		return ret;

	/* psk */
	mix_psk(w->ck, w->h, w->key, hs->preshared_key);

	/* {} */
	message_encrypt(out->encrypted_nothing, w->ts, 0, w->key, w->h);
	return 0;
}

int sg_noise_create_response(const struct sg_noise_static *st, struct sg_noise_peer_hs *hs,
			     struct sg_msg_response *out, uint32_t local_index)
{
	struct hs_work w;
	int ret;

	if (!st->has_identity)
		return -ENOKEY;
	if (hs->state != SG_NOISE_HS_CONSUMED_INITIATION)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	set_header(&out->header, SG_MSG_RESPONSE);
	sg_put_le32((uint8_t *)&out->sender_index, local_index);
	sg_put_le32((uint8_t *)&out->receiver_index, hs->remote_index);

	ret = build_response(st, hs, out, &w);
	if (ret == 0) {
		memcpy(hs->chaining_key, w.ck, SG_HASH_LEN);
		memcpy(hs->hash, w.h, SG_HASH_LEN);
		hs->local_index = local_index;
		hs->state = SG_NOISE_HS_CREATED_RESPONSE;
	} else {
		memset(out, 0, sizeof(*out));
	}
	/* The responder's ephemeral is done with once ee and se are mixed. */
	sg_wipe(&w, sizeof(w));
	return ret;
}

int sg_noise_derive_keypair(struct sg_noise_peer_hs *hs, struct sg_noise_keypair *kp,
			    uint64_t now_ns)
{
	static const uint8_t empty[1];
	bool initiator;

	if (hs->state == SG_NOISE_HS_CONSUMED_RESPONSE)
		initiator = true;
	else if (hs->state == SG_NOISE_HS_CREATED_RESPONSE)
		initiator = false;
	else
		return -EINVAL;

	memset(kp, 0, sizeof(*kp));
	/* (T_send, T_recv) of the initiator = KDF2(ck, empty); the responder's are swapped. */
	if (initiator)
		sg_kdf(kp->sending_key, kp->receiving_key, NULL, hs->chaining_key, empty, 0);
	else
		sg_kdf(kp->receiving_key, kp->sending_key, NULL, hs->chaining_key, empty, 0);
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->created_ns = now_ns;
	kp->sending_counter = 0;
	kp->is_initiator = initiator;
	kp->confirmed = initiator;
	sg_noise_peer_hs_zero(hs);
	return 0;
}

void sg_noise_keypair_clear(struct sg_noise_keypair *kp)
{
	sg_wipe(kp, sizeof(*kp));
}
