/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of fuzz_noise_initiation, fuzz_noise_response and
 * fuzz_cookie_reply: the golden transcript's messages (valid for the fixed
 * keys of those targets), a cookie reply valid for the maker of
 * fuzz_cookie_reply, and a few near misses.  Not built by meson; run by hand
 * from the repository top after `ninja -C build-noise`:
 *
 *   cc -I. tests/fuzz/seedgen_handshake.c build-noise/lib/cookie/libsg_cookie.a \
 *      build-noise/lib/crypto/libsg_crypto.a -lsodium -o /tmp/seedgen && /tmp/seedgen
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cookie/sg_cookie.h"
#include "lib/crypto/sg_crypto.h"
#include "fuzz_golden.h"

#define CORPUS "tests/fuzz/corpus/"

/* The golden response up to its MACs (tests/unit/golden_wg.h). */
#define RESPONSE_NO_MACS                                                                       \
	"0200000088776655443322119fecf3a3b59f4db692fc60bd80be4db76e002477fea089cf63780509e3b0" \
	"fd01bbbc7e06808d05e4a8c65bd79edc09e52d38a7e43a219f4ff72f6cc2b7f930c6"

static void put(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* A message of len bytes from hex (without MACs), with mac1 for receiver_pub. */
static void golden(uint8_t *msg, size_t len, const char *hex, const char *receiver_pub)
{
	uint8_t pub[32];
	struct sg_cookie_maker m;

	memset(msg, 0, len);
	fuzz_unhex(msg, hex, len - sizeof(struct sg_msg_macs));
	fuzz_unhex(pub, receiver_pub, 32);
	sg_cookie_maker_init(&m, pub);
	sg_cookie_add_macs(&m, msg, len, 0);
}

int main(void)
{
	struct sg_msg_initiation init, bad_init;
	struct sg_msg_response resp, bad_resp;
	struct sg_msg_cookie_reply reply;
	struct sg_cookie_checker checker;
	uint8_t pub[32];
	static const uint8_t src[] = { 198, 18, 0, 1, 0xca, 0x6c };

	if (sg_crypto_init() != 0)
		return 1;
	golden((uint8_t *)&init, sizeof(init), FUZZ_INITIATION_NO_MACS, FUZZ_RESPONDER_PUBLIC);
	golden((uint8_t *)&resp, sizeof(resp), RESPONSE_NO_MACS, FUZZ_INITIATOR_PUBLIC);

	put(CORPUS "fuzz_noise_initiation/golden", &init, sizeof(init));
	bad_init = init;
	bad_init.encrypted_timestamp[0] ^= 1;
	put(CORPUS "fuzz_noise_initiation/bad_timestamp", &bad_init, sizeof(bad_init));
	put(CORPUS "fuzz_noise_initiation/short", &init, 40);

	put(CORPUS "fuzz_noise_response/golden", &resp, sizeof(resp));
	bad_resp = resp;
	bad_resp.encrypted_nothing[3] ^= 1;
	put(CORPUS "fuzz_noise_response/bad_tag", &bad_resp, sizeof(bad_resp));
	put(CORPUS "fuzz_noise_response/short", &resp, 12);

	fuzz_unhex(pub, FUZZ_RESPONDER_PUBLIC, 32);
	sg_cookie_checker_init(&checker, pub, 0);
	sg_cookie_make_reply(&checker, &reply, &init, sizeof(init), FUZZ_INITIATOR_INDEX, src,
			     sizeof(src), 0);
	put(CORPUS "fuzz_cookie_reply/valid_reply", &reply, sizeof(reply));
	reply.encrypted_cookie[0] ^= 1;
	put(CORPUS "fuzz_cookie_reply/bad_reply", &reply, sizeof(reply));
	put(CORPUS "fuzz_cookie_reply/golden_initiation", &init, sizeof(init));
	return 0;
}
