/* SPDX-License-Identifier: MIT */
/*
 * mac1, mac2 and cookie replies (WireGuard paper, section 5.4.4 and 5.4.7),
 * following the structure of the Linux driver's cookie.c.
 */
#include <errno.h>
#include <string.h>

#include "lib/common/sg_common.h"
#include "lib/cookie/sg_cookie.h"
#include "lib/crypto/sg_crypto.h"

#define NSEC_PER_SEC 1000000000ull
#define LABEL_LEN    8

_Static_assert(sizeof(SG_LABEL_MAC1) - 1 == LABEL_LEN, "mac1 label");
_Static_assert(sizeof(SG_LABEL_COOKIE) - 1 == LABEL_LEN, "cookie label");

/* As the kernel's wg_birthdate_has_expired: born + age <= now. */
static bool expired(uint64_t born_ns, uint64_t age_s, uint64_t now_ns)
{
	return born_ns + age_s * NSEC_PER_SEC <= now_ns;
}

/* key = BLAKE2s-256(label || public key). */
static void precompute_key(uint8_t key[32], const uint8_t pub[32], const char *label)
{
	struct sg_blake2s_state s;

	sg_blake2s_init(&s, SG_SYMMETRIC_KEY_LEN);
	sg_blake2s_update(&s, label, LABEL_LEN);
	sg_blake2s_update(&s, pub, SG_PUBLIC_KEY_LEN);
	sg_blake2s_final(&s, key);
}

/* mac1 covers the message up to mac1; mac2 covers it up to mac2. */
static size_t mac1_offset(size_t len)
{
	return len - sizeof(struct sg_msg_macs);
}

static size_t mac2_offset(size_t len)
{
	return len - sizeof(struct sg_msg_macs) + SG_MAC_LEN;
}

static void compute_mac1(uint8_t mac[SG_MAC_LEN], const uint8_t *msg, size_t len,
			 const uint8_t key[32])
{
	sg_blake2s(mac, SG_MAC_LEN, msg, mac1_offset(len), key, SG_SYMMETRIC_KEY_LEN);
}

static void compute_mac2(uint8_t mac[SG_MAC_LEN], const uint8_t *msg, size_t len,
			 const uint8_t cookie[SG_COOKIE_LEN])
{
	sg_blake2s(mac, SG_MAC_LEN, msg, mac2_offset(len), cookie, SG_COOKIE_LEN);
}

static void new_secret(struct sg_cookie_checker *c, uint64_t now_ns)
{
	sg_random(c->secret, sizeof(c->secret));
	c->secret_born_ns = now_ns;
}

/* cookie = BLAKE2s-128 keyed with the secret over the source address. */
static void make_cookie(uint8_t cookie[SG_COOKIE_LEN], struct sg_cookie_checker *c, const void *src,
			size_t src_len, uint64_t now_ns)
{
	/* Renewing the secret lazily makes every older cookie worthless. */
	if (expired(c->secret_born_ns, SG_COOKIE_SECRET_MAX_AGE_S, now_ns))
		new_secret(c, now_ns);
	sg_blake2s(cookie, SG_COOKIE_LEN, src, src_len, c->secret, sizeof(c->secret));
}

static void checker_set_key(struct sg_cookie_checker *c, const uint8_t local_public[32])
{
	precompute_key(c->mac1_key, local_public, SG_LABEL_MAC1);
	precompute_key(c->cookie_key, local_public, SG_LABEL_COOKIE);
}

void sg_cookie_checker_init(struct sg_cookie_checker *c, const uint8_t local_public[32],
			    uint64_t now_ns)
{
	checker_set_key(c, local_public);
	new_secret(c, now_ns);
}

void sg_cookie_checker_clear(struct sg_cookie_checker *c)
{
	sg_wipe(c, sizeof(*c));
}

enum sg_cookie_result sg_cookie_validate(struct sg_cookie_checker *c, const void *msg, size_t len,
					 const void *src, size_t src_len, bool check_mac2,
					 uint64_t now_ns)
{
	const uint8_t *p = msg;
	uint8_t computed[SG_MAC_LEN], cookie[SG_COOKIE_LEN];
	enum sg_cookie_result ret = SG_COOKIE_MAC1_BAD;

	if (len < sizeof(struct sg_msg_macs))
		return ret;
	compute_mac1(computed, p, len, c->mac1_key);
	if (!sg_memeq(computed, p + mac1_offset(len), SG_MAC_LEN))
		goto out;
	ret = SG_COOKIE_MAC1_OK_NO_MAC2;
	if (!check_mac2)
		goto out;
	make_cookie(cookie, c, src, src_len, now_ns);
	compute_mac2(computed, p, len, cookie);
	if (sg_memeq(computed, p + mac2_offset(len), SG_MAC_LEN))
		ret = SG_COOKIE_MAC2_OK;
out:
	sg_wipe(cookie, sizeof(cookie));
	sg_wipe(computed, sizeof(computed));
	return ret;
}

int sg_cookie_make_reply(struct sg_cookie_checker *c, struct sg_msg_cookie_reply *out,
			 const void *msg, size_t len, uint32_t receiver_index, const void *src,
			 size_t src_len, uint64_t now_ns)
{
	const uint8_t *mac1;
	uint8_t cookie[SG_COOKIE_LEN];

	if (len < sizeof(struct sg_msg_macs))
		return -EINVAL;
	mac1 = (const uint8_t *)msg + mac1_offset(len);
	memset(&out->header, 0, sizeof(out->header));
	out->header.type = SG_MSG_COOKIE_REPLY;
	sg_put_le32((uint8_t *)&out->receiver_index, receiver_index);
	sg_random(out->nonce, sizeof(out->nonce));
	make_cookie(cookie, c, src, src_len, now_ns);
	sg_xaead_encrypt(out->encrypted_cookie, cookie, SG_COOKIE_LEN, mac1, SG_MAC_LEN, out->nonce,
			 c->cookie_key);
	sg_wipe(cookie, sizeof(cookie));
	return 0;
}

void sg_cookie_maker_init(struct sg_cookie_maker *m, const uint8_t remote_public[32])
{
	memset(m, 0, sizeof(*m));
	precompute_key(m->mac1_key, remote_public, SG_LABEL_MAC1);
	precompute_key(m->cookie_key, remote_public, SG_LABEL_COOKIE);
}

void sg_cookie_maker_clear(struct sg_cookie_maker *m)
{
	sg_wipe(m, sizeof(*m));
}

int sg_cookie_add_macs(struct sg_cookie_maker *m, void *msg, size_t len, uint64_t now_ns)
{
	uint8_t *p = msg, *mac1, *mac2;

	if (len < sizeof(struct sg_msg_macs))
		return -EINVAL;
	mac1 = p + mac1_offset(len);
	mac2 = p + mac2_offset(len);
	compute_mac1(mac1, p, len, m->mac1_key);
	memcpy(m->last_mac1, mac1, SG_MAC_LEN);
	m->has_last_mac1 = true;

	/*
	 * A cookie close to the responder's secret renewal is not used: by the
	 * time the message arrives the secret may be new, and a wrong mac2 is
	 * worse than none.
	 */
	if (m->has_cookie &&
	    !expired(m->cookie_born_ns, SG_COOKIE_SECRET_MAX_AGE_S - SG_COOKIE_SECRET_LATENCY_S,
		     now_ns))
		compute_mac2(mac2, p, len, m->cookie);
	else
		memset(mac2, 0, SG_MAC_LEN);
	return 0;
}

int sg_cookie_consume_reply(struct sg_cookie_maker *m, const struct sg_msg_cookie_reply *reply,
			    uint64_t now_ns)
{
	uint8_t cookie[SG_COOKIE_LEN];
	static const uint8_t zero[3];

	if (reply->header.type != SG_MSG_COOKIE_REPLY ||
	    memcmp(reply->header.reserved, zero, sizeof(zero)) != 0 || !m->has_last_mac1)
		return -EINVAL;
	if (sg_xaead_decrypt(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie),
			     m->last_mac1, SG_MAC_LEN, reply->nonce, m->cookie_key) != 0) {
		sg_wipe(cookie, sizeof(cookie));
		return -EBADMSG;
	}
	memcpy(m->cookie, cookie, SG_COOKIE_LEN);
	m->cookie_born_ns = now_ns;
	m->has_cookie = true;
	/* One reply per message sent: a second copy of it is a replay. */
	m->has_last_mac1 = false;
	sg_wipe(cookie, sizeof(cookie));
	return 0;
}

bool sg_cookie_under_load(struct sg_cookie_load *l, size_t depth, size_t capacity, uint64_t now_ns)
{
	size_t threshold = capacity / 8 ? capacity / 8 : 1;

	if (depth >= threshold) {
		l->last_under_load_ns = now_ns;
		l->was_under_load = true;
		return true;
	}
	if (!l->was_under_load)
		return false;
	if (expired(l->last_under_load_ns, 1, now_ns)) {
		l->was_under_load = false;
		return false;
	}
	return true;
}
