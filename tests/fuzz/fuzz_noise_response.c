/* SPDX-License-Identifier: MIT */
/*
 * Feeds arbitrary bytes as a handshake response to an initiator with fixed
 * keys that has sent the golden transcript's initiation.  Besides memory
 * safety it checks that a refused response leaves the initiator's state
 * exactly as it was, and that an accepted one yields a keypair.
 */
#include <string.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/noise/sg_noise.h"
#include "fuzz_golden.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sg_noise_static initiator;
static struct sg_noise_peer_hs waiting;

/* The golden initiation's ephemeral key and timestamp, injected into the initiator. */
struct golden_env {
	uint8_t ephemeral[32];
	uint8_t timestamp[12];
};

static void golden_ephemeral(void *ctx, uint8_t out[32])
{
	memcpy(out, ((const struct golden_env *)ctx)->ephemeral, 32);
}

static void golden_timestamp(void *ctx, uint8_t out[12])
{
	memcpy(out, ((const struct golden_env *)ctx)->timestamp, 12);
}

static void setup(void)
{
	uint8_t priv[32], pub[32];
	struct golden_env env;
	struct sg_msg_initiation init;

	if (sg_crypto_init() != 0)
		__builtin_trap();
	fuzz_unhex(priv, FUZZ_INITIATOR_PRIVATE, 32);
	fuzz_unhex(pub, FUZZ_RESPONDER_PUBLIC, 32);
	fuzz_unhex(env.ephemeral, FUZZ_INITIATOR_EPHEMERAL, 32);
	fuzz_unhex(env.timestamp, FUZZ_TIMESTAMP, 12);
	if (sg_noise_static_init(&initiator, priv) != 0)
		__builtin_trap();
	sg_noise_static_set_env(&initiator, golden_ephemeral, golden_timestamp, &env);
	if (sg_noise_peer_hs_init(&waiting, &initiator, pub, NULL) != 0 ||
	    sg_noise_create_initiation(&initiator, &waiting, &init, FUZZ_INITIATOR_INDEX, 0) != 0)
		__builtin_trap();
	/* Back to the defaults before env goes out of scope: nothing below creates a message. */
	sg_noise_static_set_env(&initiator, NULL, NULL, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct sg_msg_response msg;
	struct sg_noise_peer_hs hs;
	struct sg_noise_keypair kp;

	if (!ready) {
		setup();
		ready = 1;
	}
	memset(&msg, 0, sizeof(msg));
	memcpy(&msg, data, size < sizeof(msg) ? size : sizeof(msg));
	hs = waiting;
	if (sg_noise_consume_response(&initiator, &hs, &msg) != 0) {
		if (memcmp(&hs, &waiting, sizeof(hs)) != 0)
			__builtin_trap();
		return 0;
	}
	if (sg_noise_derive_keypair(&hs, &kp, 1) != 0 || !kp.is_initiator ||
	    kp.local_index != FUZZ_INITIATOR_INDEX)
		__builtin_trap();
	return 0;
}
