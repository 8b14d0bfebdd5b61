/* SPDX-License-Identifier: MIT */
/*
 * Feeds arbitrary bytes as a cookie reply to a maker that has just sent the
 * golden transcript's initiation, and as a handshake message of any length
 * to a checker under load.  Besides memory safety it checks that a refused
 * reply leaves the maker without a cookie, and that the checker never
 * accepts a mac2 for a message whose mac1 it refused.
 */
#include <errno.h>
#include <string.h>

#include "lib/cookie/sg_cookie.h"
#include "lib/crypto/sg_crypto.h"
#include "fuzz_golden.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sg_cookie_maker maker_template;
static struct sg_cookie_checker checker;
static const uint8_t src[] = { 198, 18, 0, 1, 0xca, 0x6c };

static void setup(void)
{
	uint8_t pub[32];
	struct sg_msg_initiation init;

	if (sg_crypto_init() != 0)
		__builtin_trap();
	fuzz_unhex(pub, FUZZ_RESPONDER_PUBLIC, 32);
	memset(&init, 0, sizeof(init));
	fuzz_unhex((uint8_t *)&init, FUZZ_INITIATION_NO_MACS,
		   sizeof(init) - sizeof(struct sg_msg_macs));
	sg_cookie_maker_init(&maker_template, pub);
	if (sg_cookie_add_macs(&maker_template, &init, sizeof(init), 0) != 0)
		__builtin_trap();
	sg_cookie_checker_init(&checker, pub, 0);
}

static void as_reply(const uint8_t *data, size_t size)
{
	struct sg_msg_cookie_reply reply;
	struct sg_cookie_maker m = maker_template;

	memset(&reply, 0, sizeof(reply));
	memcpy(&reply, data, size < sizeof(reply) ? size : sizeof(reply));
	if (sg_cookie_consume_reply(&m, &reply, 1) != 0 && m.has_cookie)
		__builtin_trap();
}

static void as_handshake(const uint8_t *data, size_t size)
{
	enum sg_cookie_result with =
		sg_cookie_validate(&checker, data, size, src, sizeof(src), true, 1);
	enum sg_cookie_result without =
		sg_cookie_validate(&checker, data, size, src, sizeof(src), false, 1);
	struct sg_msg_cookie_reply reply;

	if ((with == SG_COOKIE_MAC1_BAD) != (without == SG_COOKIE_MAC1_BAD) ||
	    without == SG_COOKIE_MAC2_OK)
		__builtin_trap();
	if (sg_cookie_make_reply(&checker, &reply, data, size, 1, src, sizeof(src), 1) !=
	    (size < sizeof(struct sg_msg_macs) ? -EINVAL : 0))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	as_reply(data, size);
	as_handshake(data, size);
	return 0;
}
