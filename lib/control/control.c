/* SPDX-License-Identifier: MIT */
/*
 * The handshake core of the control plane.  Every handler works on the
 * caller's peer through the upcalls, changes the peer only when the message
 * authenticates, and returns the one reason it refused a message.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/common/sg_common.h"
#include "lib/control/sg_control.h"
#include "lib/crypto/sg_crypto.h"

static uint32_t control_rand(void *ctx)
{
	return sg_timers_splitmix32(ctx);
}

int sg_control_init(struct sg_control *c, const uint8_t private_key[32],
		    const struct sg_timers_params *params, uint32_t rl_sources,
		    const struct sg_control_ops *ops, void *ctx, uint64_t now_ns)
{
	int rc;

	c->ops = ops;
	c->ctx = ctx;
	if (params != NULL)
		c->params = *params;
	else
		sg_timers_params_default(&c->params);
	if (sg_timers_params_check(&c->params) != 0)
		return -EINVAL;
	rc = sg_noise_static_init(&c->st, private_key);
	if (rc != 0)
		return rc;
	sg_cookie_checker_init(&c->checker, c->st.public_key, now_ns);
	sg_random(&c->rng, sizeof(c->rng));
	c->rl = sg_ratelimit_create(rl_sources);
	return c->rl != NULL ? 0 : -ENOMEM;
}

void sg_control_fini(struct sg_control *c)
{
	sg_ratelimit_destroy(c->rl);
	c->rl = NULL;
	sg_cookie_checker_clear(&c->checker);
	sg_noise_static_clear(&c->st);
}

int sg_control_peer_init(struct sg_control *c, struct sg_control_peer *p,
			 const uint8_t public_key[32], const uint8_t *psk, uint16_t keepalive_s,
			 uint64_t now_ns)
{
	memset(p, 0, sizeof(*p));
	if (psk != NULL && sg_is_zero(psk, SG_SYMMETRIC_KEY_LEN))
		psk = NULL;
	if (sg_noise_peer_hs_init(&p->hs, &c->st, public_key, psk) != 0)
		return -EINVAL;
	sg_cookie_maker_init(&p->maker, public_key);
	/* The parameters were checked by sg_control_init. */
	(void)sg_timers_init(&p->timers, &c->params, control_rand, &c->rng);
	if (keepalive_s > 0)
		sg_timers_set_persistent_keepalive(&p->timers, keepalive_s, now_ns);
	return 0;
}

void sg_control_release_index(struct sg_control *c, struct sg_control_peer *p)
{
	if (!p->hs_index_reserved)
		return;
	c->ops->index_free(c->ctx, p->hs.local_index);
	p->hs_index_reserved = false;
}

void sg_control_peer_clear(struct sg_control *c, struct sg_control_peer *p)
{
	sg_control_release_index(c, p);
	sg_noise_peer_hs_clear(&p->hs);
	sg_cookie_maker_clear(&p->maker);
}

void sg_control_peer_sent(struct sg_control_peer *p, uint64_t now_ns)
{
	sg_timers_any_authenticated_packet_sent(&p->timers, now_ns);
	sg_timers_any_authenticated_packet_traversal(&p->timers, now_ns);
}

void sg_control_peer_received(struct sg_control_peer *p, uint64_t now_ns)
{
	sg_timers_any_authenticated_packet_received(&p->timers, now_ns);
	sg_timers_any_authenticated_packet_traversal(&p->timers, now_ns);
}

size_t sg_control_src_bytes(const struct sg_control_src *src, uint8_t out[18])
{
	size_t alen = src->family == AF_INET ? 4 : 16;

	memcpy(out, src->addr, alen);
	memcpy(out + alen, &src->port_be, 2);
	return alen + 2;
}

bool sg_control_under_load(struct sg_control *c, size_t depth, size_t capacity, uint64_t now_ns)
{
	bool under = sg_cookie_under_load(&c->load, depth, capacity, now_ns);

	return under || c->always_under_load;
}

/*
 * mac1 always; under load mac2 too, else a cookie reply; then the per-source
 * rate limit.  Returns the reason to refuse the message, or SG_DROP_NONE.
 */
static enum sg_drop_reason check_macs(struct sg_control *c, const uint8_t *msg, size_t len,
				      const struct sg_control_src *src, bool under_load,
				      uint64_t now, struct sg_control_reply *reply)
{
	uint8_t sb[18];
	size_t sl = sg_control_src_bytes(src, sb);
	enum sg_cookie_result r =
		sg_cookie_validate(&c->checker, msg, len, sb, sl, under_load, now);

	if (r == SG_COOKIE_MAC1_BAD)
		return SG_DROP_WG_MAC1;
	if (under_load && r != SG_COOKIE_MAC2_OK) {
		if (sg_cookie_make_reply(&c->checker, &reply->msg.cookie, msg, len,
					 sg_get_le32(msg + 4), sb, sl, now) == 0) {
			reply->len = sizeof(reply->msg.cookie);
			c->stats.cookie_tx++;
		}
		return SG_DROP_WG_MAC2;
	}
	if (c->ratelimit_under_load_only && !under_load)
		return SG_DROP_NONE;
	if (!sg_ratelimit_allow_source(c->rl, src->addr, src->family, now))
		return SG_DROP_WG_HS_RATELIMIT;
	return SG_DROP_NONE;
}

static enum sg_drop_reason noise_reason(int rc)
{
	if (rc == -EALREADY)
		return SG_DROP_WG_TIMESTAMP;
	if (rc == -EAGAIN)
		return SG_DROP_WG_HS_FLOOD;
	return SG_DROP_WG_HANDSHAKE;
}

/*
 * Turns the finished handshake of p into a published session.  On failure
 * the handshake's index is released: deriving the keys zeroes the handshake,
 * so only nk still knows which index it was.
 */
static int begin_session(struct sg_control *c, struct sg_control_peer *p, uint64_t now)
{
	struct sg_noise_keypair nk;
	int rc;

	if (sg_noise_derive_keypair(&p->hs, &nk, now) != 0) {
		sg_control_release_index(c, p);
		return -EINVAL;
	}
	rc = c->ops->session_new(c->ctx, p, &nk, now);
	if (rc != 0 && p->hs_index_reserved) {
		c->ops->index_free(c->ctx, nk.local_index);
		p->hs_index_reserved = false;
	}
	sg_noise_keypair_clear(&nk);
	if (rc != 0)
		return rc;
	/* The index belongs to the session now. */
	p->hs_index_reserved = false;
	sg_timers_session_derived(&p->timers, now);
	p->handshakes++;
	return 0;
}

/* The responder's half once the initiation is consumed: index, response, session. */
static enum sg_drop_reason respond(struct sg_control *c, struct sg_control_peer *p, uint64_t now,
				   struct sg_control_reply *reply)
{
	uint32_t idx;

	/* The initiation replaced any handshake of ours in progress. */
	sg_control_release_index(c, p);
	if (c->ops->index_alloc(c->ctx, p, &idx) != 0) {
		sg_noise_peer_hs_zero(&p->hs);
		return SG_DROP_WG_HANDSHAKE;
	}
	p->hs_index_reserved = true;
	if (sg_noise_create_response(&c->st, &p->hs, &reply->msg.response, idx) != 0) {
		sg_noise_peer_hs_zero(&p->hs);
		c->ops->index_free(c->ctx, idx);
		p->hs_index_reserved = false;
		return SG_DROP_WG_HANDSHAKE;
	}
	if (begin_session(c, p, now) != 0) {
		sg_wipe(&reply->msg.response, sizeof(reply->msg.response));
		return SG_DROP_WG_HANDSHAKE;
	}
	sg_control_peer_received(p, now);
	sg_cookie_add_macs(&p->maker, &reply->msg.response, sizeof(reply->msg.response), now);
	reply->len = sizeof(reply->msg.response);
	c->stats.resp_tx++;
	sg_control_peer_sent(p, now);
	return SG_DROP_NONE;
}

enum sg_drop_reason sg_control_initiation(struct sg_control *c, const uint8_t *msg,
					  const struct sg_control_src *src, bool under_load,
					  uint64_t now_ns, struct sg_control_reply *reply,
					  struct sg_control_peer **peer)
{
	const struct sg_msg_initiation *in = (const struct sg_msg_initiation *)msg;
	struct sg_noise_init_ctx ictx;
	uint8_t rs[SG_PUBLIC_KEY_LEN];
	enum sg_drop_reason why;
	struct sg_control_peer *p;
	int rc;

	reply->len = 0;
	c->stats.init_rx++;
	why = check_macs(c, msg, SG_MSG_INITIATION_LEN, src, under_load, now_ns, reply);
	if (why != SG_DROP_NONE)
		return why;
	/* e, es, s, ss: who is it? */
	if (sg_noise_initiation_decrypt_static(&c->st, in, rs, &ictx) != 0)
		return SG_DROP_WG_STATIC;
	p = c->ops->peer_by_key(c->ctx, rs);
	if (p == NULL) {
		sg_noise_init_ctx_clear(&ictx);
		return SG_DROP_WG_UNKNOWN_PEER;
	}
	/* {t}: a fresh timestamp, not too soon after the last. */
	rc = sg_noise_consume_initiation(&c->st, &ictx, &p->hs, now_ns);
	if (rc != 0)
		return noise_reason(rc);
	why = respond(c, p, now_ns, reply);
	if (why == SG_DROP_NONE)
		*peer = p;
	return why;
}

enum sg_drop_reason sg_control_response(struct sg_control *c, const uint8_t *msg,
					const struct sg_control_src *src, bool under_load,
					uint64_t now_ns, struct sg_control_reply *reply,
					struct sg_control_peer **peer)
{
	const struct sg_msg_response *in = (const struct sg_msg_response *)msg;
	uint32_t ri = sg_get_le32(msg + 8);
	enum sg_drop_reason why;
	struct sg_control_peer *p;

	reply->len = 0;
	c->stats.resp_rx++;
	why = check_macs(c, msg, SG_MSG_RESPONSE_LEN, src, under_load, now_ns, reply);
	if (why != SG_DROP_NONE)
		return why;
	p = c->ops->peer_by_index(c->ctx, ri);
	if (p == NULL || !p->hs_index_reserved || p->hs.local_index != ri)
		return SG_DROP_WG_UNKNOWN_INDEX;
	/* e, ee, se, psk, {}: it answers our initiation. */
	if (sg_noise_consume_response(&c->st, &p->hs, in) != 0)
		return SG_DROP_WG_HANDSHAKE;
	if (begin_session(c, p, now_ns) != 0)
		return SG_DROP_WG_HANDSHAKE;
	sg_control_peer_received(p, now_ns);
	sg_timers_handshake_complete(&p->timers, now_ns);
	*peer = p;
	return SG_DROP_NONE;
}

enum sg_drop_reason sg_control_cookie_reply(struct sg_control *c, const uint8_t *msg,
					    uint64_t now_ns)
{
	struct sg_control_peer *p = c->ops->peer_by_index(c->ctx, sg_get_le32(msg + 4));

	c->stats.cookie_rx++;
	if (p == NULL || sg_cookie_consume_reply(&p->maker, (const struct sg_msg_cookie_reply *)msg,
						 now_ns) != 0)
		return SG_DROP_WG_COOKIE;
	return SG_DROP_NONE;
}

int sg_control_initiate(struct sg_control *c, struct sg_control_peer *p, uint64_t now_ns,
			struct sg_msg_initiation *out)
{
	uint32_t idx;
	int rc;

	sg_control_release_index(c, p);
	rc = c->ops->index_alloc(c->ctx, p, &idx);
	if (rc != 0)
		return rc;
	if (sg_noise_create_initiation(&c->st, &p->hs, out, idx, now_ns) != 0) {
		c->ops->index_free(c->ctx, idx);
		return -EINVAL;
	}
	p->hs_index_reserved = true;
	sg_cookie_add_macs(&p->maker, out, sizeof(*out), now_ns);
	c->stats.init_tx++;
	sg_timers_handshake_initiated(&p->timers, now_ns);
	sg_control_peer_sent(p, now_ns);
	return 0;
}
