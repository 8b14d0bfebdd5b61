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

static void setup(void)
{
	uint8_t priv[32], pub[32], eph[32], ts[12];
	struct sg_msg_initiation init;

	if (sg_crypto_init() != 0)
		__builtin_trap();
	fuzz_unhex(priv, FUZZ_INITIATOR_PRIVATE, 32);
	fuzz_unhex(pub, FUZZ_RESPONDER_PUBLIC, 32);
	fuzz_unhex(eph, FUZZ_INITIATOR_EPHEMERAL, 32);
	fuzz_unhex(ts, FUZZ_TIMESTAMP, 12);
	sg_noise_test_set_ephemeral(eph);
	sg_noise_test_set_timestamp(ts);
	if (sg_noise_static_init(&initiator, priv) != 0 ||
	    sg_noise_peer_hs_init(&waiting, &initiator, pub, NULL) != 0 ||
	    sg_noise_create_initiation(&initiator, &waiting, &init, FUZZ_INITIATOR_INDEX, 0) != 0)
		__builtin_trap();
	sg_noise_test_set_ephemeral(NULL);
	sg_noise_test_set_timestamp(NULL);
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
