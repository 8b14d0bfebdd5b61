/* SPDX-License-Identifier: MIT */
/*
 * The state channel's messages (sg_fleet.h, docs/fleet.md): header in the
 * clear as associated data, a random 24-byte nonce, the payload under
 * XChaCha20-Poly1305 with the sender's direction key.
 */
#include <errno.h>
#include <string.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/fleet/sg_fleet.h"

/* The key of the direction from -> to: BLAKE2s keyed by the pair's secret. */
static void direction_key(uint8_t out[32], const uint8_t secret[32], uint32_t from, uint32_t to)
{
	static const char label[] = "sixgate fleet state channel v1";
	uint8_t in[sizeof(label) + 8];

	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), &from, 4);
	memcpy(in + sizeof(label) + 4, &to, 4);
	sg_blake2s(out, 32, in, sizeof(in), secret, 32);
}

int sg_fleet_chan_init(struct sg_fleet_chan *c, const uint8_t secret[32], uint32_t self,
		       uint32_t partner, uint64_t epoch)
{
	memset(c, 0, sizeof(*c));
	if (self == partner || epoch == 0 || sg_is_zero(secret, 32))
		return -EINVAL;
	c->self = self;
	c->partner = partner;
	c->epoch = epoch;
	direction_key(c->tx_key, secret, self, partner);
	direction_key(c->rx_key, secret, partner, self);
	sg_replay_init(&c->rx);
	return 0;
}

void sg_fleet_chan_clear(struct sg_fleet_chan *c)
{
	sg_wipe(c->tx_key, sizeof(c->tx_key));
	sg_wipe(c->rx_key, sizeof(c->rx_key));
}

int sg_fleet_seal(struct sg_fleet_chan *c, enum sg_fleet_type type, const void *payload, size_t len,
		  uint8_t *out, size_t out_len, uint64_t *seq)
{
	struct sg_fleet_hdr h = { .magic = SG_FLEET_MAGIC,
				  .type = (uint8_t)type,
				  .sender = c->self,
				  .receiver = c->partner,
				  .epoch = c->epoch };
	uint8_t *nonce = out + sizeof(h);

	if (type < SG_FLEET_HELLO || type > SG_FLEET_TYPE_MAX || len > SG_FLEET_MAX_MSG ||
	    out_len < sg_fleet_sealed_len(len) || c->tx_seq + 1 >= SG_REJECT_AFTER_MESSAGES)
		return -EINVAL;
	h.seq = ++c->tx_seq;
	memcpy(out, &h, sizeof(h));
	sg_random(nonce, SG_FLEET_NONCE);
	sg_xaead_encrypt(nonce + SG_FLEET_NONCE, payload, len, out, sizeof(h), nonce, c->tx_key);
	if (seq != NULL)
		*seq = h.seq;
	return (int)sg_fleet_sealed_len(len);
}

int sg_fleet_open(struct sg_fleet_chan *c, const uint8_t *in, size_t len, uint8_t *payload,
		  enum sg_fleet_type *type, uint64_t *seq)
{
	struct sg_fleet_hdr h;
	size_t plen;
	bool newer;

	if (len < sg_fleet_sealed_len(0) || len > sg_fleet_sealed_len(SG_FLEET_MAX_MSG)) {
		c->rx_bad++;
		return -EINVAL;
	}
	memcpy(&h, in, sizeof(h));
	if (h.magic != SG_FLEET_MAGIC || h.type < SG_FLEET_HELLO || h.type > SG_FLEET_TYPE_MAX ||
	    (h.reserved[0] | h.reserved[1] | h.reserved[2]) != 0 || h.sender != c->partner ||
	    h.receiver != c->self || h.seq == 0) {
		c->rx_bad++;
		return -EINVAL;
	}
	/* Cheap refusals first; the window moves only for what authenticates. */
	if (h.epoch < c->rx_epoch) {
		c->rx_stale++;
		return -ESTALE;
	}
	newer = h.epoch > c->rx_epoch;
	if (!newer && !sg_replay_check(&c->rx, h.seq)) {
		c->rx_replayed++;
		return -EALREADY;
	}
	plen = len - sg_fleet_sealed_len(0);
	if (sg_xaead_decrypt(payload, in + sizeof(h) + SG_FLEET_NONCE, plen + SG_FLEET_TAG, in,
			     sizeof(h), in + sizeof(h), c->rx_key) != 0) {
		sg_wipe(payload, plen);
		c->rx_bad++;
		return -EBADMSG;
	}
	if (newer) {
		/* The partner restarted: its sequence numbers start again. */
		c->rx_epoch = h.epoch;
		sg_replay_init(&c->rx);
	}
	if (!sg_replay_commit(&c->rx, h.seq)) {
		sg_wipe(payload, plen);
		c->rx_replayed++;
		return -EALREADY;
	}
	*type = (enum sg_fleet_type)h.type;
	if (seq != NULL)
		*seq = h.seq;
	return (int)plen;
}
