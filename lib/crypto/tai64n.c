/* SPDX-License-Identifier: MIT */
/*
 * TAI64N timestamps (https://cr.yp.to/libtai/tai64.html) as the handshake
 * initiation carries them: 8 bytes big-endian seconds, 4 bytes big-endian
 * nanoseconds.  Receivers only ever compare them, so all that matters is
 * that they grow with the real-time clock and are encoded as peers expect.
 */
#include <string.h>
#include <time.h>

#include "lib/crypto/sg_crypto.h"

/*
 * The label 2^62 plus 10 s, the TAI-UTC offset of 1972, exactly as
 * wireguard-go (tai64n.go: base = 0x400000000000000a) and the Linux driver
 * encode it; using the same base keeps our stamps ordered against theirs
 * when a peer moves between implementations.
 */
#define TAI64_BASE 0x400000000000000aull

/*
 * Both reference implementations round the nanoseconds down to a multiple
 * of 2^24 ns (about 16.8 ms, the largest power of two below 1 s / 50
 * initiations per second), so the stamp does not leak a precise clock.
 */
#define TAI64N_WHITEN_MASK ((1u << 24) - 1)

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void sg_tai64n_make(uint8_t out[12], uint64_t unix_sec, uint32_t nsec)
{
	uint64_t sec = TAI64_BASE + unix_sec;

	put_be32(out, (uint32_t)(sec >> 32));
	put_be32(out + 4, (uint32_t)sec);
	put_be32(out + 8, nsec);
}

void sg_tai64n_now(uint8_t out[12])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	sg_tai64n_make(out, (uint64_t)ts.tv_sec, (uint32_t)ts.tv_nsec & ~TAI64N_WHITEN_MASK);
}

int sg_tai64n_cmp(const uint8_t a[12], const uint8_t b[12])
{
	int r = memcmp(a, b, SG_TAI64N_LEN);

	return (r > 0) - (r < 0);
}
