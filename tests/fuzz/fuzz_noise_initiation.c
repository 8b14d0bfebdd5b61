/* SPDX-License-Identifier: MIT */
/*
 * Feeds arbitrary bytes as a handshake initiation to a responder with fixed
 * keys that knows one peer (the golden transcript's initiator).  Besides
 * memory safety it checks that a refused initiation leaves the peer's state
 * exactly as it was, and that an accepted one can be answered.
 */
#include <string.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/noise/sg_noise.h"
#include "fuzz_golden.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sg_noise_static responder;
static struct sg_noise_peer_hs peer_template;
static uint8_t peer_public[32];
static uint8_t responder_ephemeral[32];

/* The responder's environment: the same ephemeral key for every response. */
static void fixed_ephemeral(void *ctx, uint8_t out[32])
{
	memcpy(out, ctx, 32);
}

static void setup(void)
{
	uint8_t priv[32];

	if (sg_crypto_init() != 0)
		__builtin_trap();
	fuzz_unhex(priv, FUZZ_RESPONDER_PRIVATE, 32);
	fuzz_unhex(peer_public, FUZZ_INITIATOR_PUBLIC, 32);
	if (sg_noise_static_init(&responder, priv) != 0 ||
	    sg_noise_peer_hs_init(&peer_template, &responder, peer_public, NULL) != 0)
		__builtin_trap();
	/* A fixed responder ephemeral keeps runs reproducible. */
	fuzz_unhex(responder_ephemeral, FUZZ_RESPONDER_EPHEMERAL, 32);
	sg_noise_static_set_env(&responder, fixed_ephemeral, NULL, responder_ephemeral);
}

static void answer(struct sg_noise_peer_hs *hs)
{
	struct sg_msg_response resp;
	struct sg_noise_keypair kp;

	if (sg_noise_create_response(&responder, hs, &resp, 7) != 0 ||
	    sg_noise_derive_keypair(hs, &kp, 1) != 0 || kp.is_initiator || kp.confirmed)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct sg_msg_initiation msg;
	struct sg_noise_init_ctx ctx;
	struct sg_noise_peer_hs hs;
	uint8_t who[32];
	int ret;

	if (!ready) {
		setup();
		ready = 1;
	}
	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, data, size < sizeof(msg) ? size : sizeof(msg));
	if (sg_noise_initiation_decrypt_static(&responder, &msg, who, &ctx) != 0)
		return 0;
	if (memcmp(who, peer_public, 32) != 0) {
		sg_noise_init_ctx_clear(&ctx);
		return 0;
	}
	hs = peer_template;
	ret = sg_noise_consume_initiation(&responder, &ctx, &hs, 1000000000ull);
	if (ret != 0 && memcmp(&hs, &peer_template, sizeof(hs)) != 0)
		__builtin_trap();
	if (ret == 0)
		answer(&hs);
	return 0;
}
