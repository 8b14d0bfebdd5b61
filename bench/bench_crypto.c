/* SPDX-License-Identifier: MIT */
/*
 * bench_crypto: ChaCha20-Poly1305 bursts on one core, lib/dpcrypto (ipsec-mb,
 * through both its job and its burst API) against libsodium, in one run.
 *
 * Each burst holds 32 packets with 32 different keys and no AAD, as a worker
 * sees data messages from many peers.  Encryption is in place, as on mbufs;
 * decryption reads a ciphertext pool and writes elsewhere, so every decrypt
 * verifies a genuine tag and the success path is what gets measured.
 *
 *   bench_crypto [--seconds S] [--burst N] [--cpu N]
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

#include <intel-ipsec-mb.h>
#include <sodium.h>

#include "lib/common/sg_common.h"
#include "lib/dpcrypto/sg_dpcrypto.h"

#define MAX_BURST  256
#define MAX_LEN	   1420
#define MAX_SLICES 100000

enum engine { ENG_IMB_BURST, ENG_IMB_JOB, ENG_SODIUM, ENG_MAX };

static const char *const engine_name[ENG_MAX] = { "ipsec-mb burst", "ipsec-mb job", "libsodium" };

struct bench {
	struct sg_dpcrypto *ctx;
	unsigned burst;
	uint8_t key[MAX_BURST][32];
	uint8_t buf[MAX_BURST][MAX_LEN];
	uint8_t ct[MAX_BURST][MAX_LEN];
	uint8_t tag[MAX_BURST][16];
	uint8_t ct_tag[MAX_BURST][16];
	uint64_t nonce;
	unsigned long failures;
};

struct result {
	double mpps, gbps, cpb;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void wg_nonce(uint8_t npub[12], uint64_t counter)
{
	memset(npub, 0, 4);
	for (int i = 0; i < 8; i++)
		npub[4 + i] = (uint8_t)(counter >> (8 * i));
}

/* Fills the ciphertext pool with genuine messages of len bytes. */
static void make_ciphertexts(struct bench *b, uint32_t len)
{
	for (unsigned i = 0; i < b->burst; i++) {
		uint8_t npub[12];
		unsigned long long tl;

		wg_nonce(npub, i);
		randombytes_buf(b->ct[i], len);
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(
			b->ct[i], b->ct_tag[i], &tl, b->ct[i], len, NULL, 0, NULL, npub, b->key[i]);
	}
}

static void imb_burst(struct bench *b, uint32_t len, int enc)
{
	struct sg_dpcrypto_op ops[MAX_BURST];
	unsigned ok;

	for (unsigned i = 0; i < b->burst; i++) {
		struct sg_dpcrypto_op *op = &ops[i];

		memset(op, 0, sizeof(*op));
		op->key = b->key[i];
		op->len = len;
		if (enc) {
			op->nonce = b->nonce++;
			op->src = b->buf[i];
			op->tag = b->tag[i];
		} else {
			op->nonce = i;
			op->src = b->ct[i];
			op->tag = b->ct_tag[i];
		}
		op->dst = b->buf[i];
	}
	ok = enc ? sg_dpcrypto_encrypt_burst(b->ctx, ops, b->burst)
		 : sg_dpcrypto_decrypt_burst(b->ctx, ops, b->burst);
	b->failures += b->burst - ok;
}

static void sodium_burst(struct bench *b, uint32_t len, int enc)
{
	for (unsigned i = 0; i < b->burst; i++) {
		uint8_t npub[12];
		unsigned long long tl;

		if (enc) {
			wg_nonce(npub, b->nonce++);
			crypto_aead_chacha20poly1305_ietf_encrypt_detached(
				b->buf[i], b->tag[i], &tl, b->buf[i], len, NULL, 0, NULL, npub,
				b->key[i]);
			continue;
		}
		wg_nonce(npub, i);
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
			    b->buf[i], NULL, b->ct[i], len, b->ct_tag[i], NULL, 0, npub, b->key[i]))
			b->failures++;
	}
}

static void one_burst(struct bench *b, enum engine e, uint32_t len, int enc)
{
	if (e == ENG_SODIUM) {
		sodium_burst(b, len, enc);
		return;
	}
	imb_burst(b, len, enc);
}

static void select_engine(struct bench *b, enum engine e)
{
	if (e != ENG_SODIUM)
		sg_dpcrypto_set_api(b->ctx,
				    e == ENG_IMB_JOB ? SG_DPCRYPTO_API_JOB : SG_DPCRYPTO_API_BURST);
}

/* Runs bursts of engine e for one slice of slice_cyc TSC cycles. */
static double run_slice(struct bench *b, enum engine e, uint32_t len, int enc, uint64_t slice_cyc)
{
	uint64_t c0, c1;
	unsigned long bursts = 0;

	select_engine(b, e);
	c0 = __rdtsc();
	do {
		one_burst(b, e, len, enc);
		bursts++;
		c1 = __rdtsc();
	} while (c1 - c0 < slice_cyc);
	return (double)(c1 - c0) / ((double)bursts * b->burst);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Measures every engine for about secs seconds in total.  The engines take
 * turns in 1 ms slices, so a neighbour's load hits them alike, and each
 * engine's rate is the median over its slices of cycles per packet.
 */
static void measure(struct bench *b, uint32_t len, int enc, double secs, double tsc_hz,
		    struct result r[ENG_MAX])
{
	static double cpp[ENG_MAX][MAX_SLICES];
	uint64_t slice_cyc = (uint64_t)(tsc_hz / 1000);
	unsigned n = (unsigned)(secs * 1000 / ENG_MAX);

	if (n < 1)
		n = 1;
	if (n > MAX_SLICES)
		n = MAX_SLICES;
	for (int e = 0; e < ENG_MAX; e++)
		run_slice(b, (enum engine)e, len, enc, slice_cyc * 10);
	for (unsigned i = 0; i < n; i++)
		for (int e = 0; e < ENG_MAX; e++)
			cpp[e][i] = run_slice(b, (enum engine)e, len, enc, slice_cyc);
	for (int e = 0; e < ENG_MAX; e++) {
		double med;

		qsort(cpp[e], n, sizeof(double), cmp_double);
		med = cpp[e][n / 2];
		r[e].mpps = tsc_hz / med / 1e6;
		r[e].gbps = r[e].mpps * 1e6 * len * 8 / 1e9;
		r[e].cpb = med / len;
	}
}

static double tsc_hz_measure(void)
{
	double t0 = now_s();
	uint64_t c0 = __rdtsc();

	while (now_s() - t0 < 0.05)
		;
	return (double)(__rdtsc() - c0) / (now_s() - t0);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--seconds S] [--burst N] [--cpu N]\n"
		"  --seconds S  total measuring time, split over all cells (default 3)\n"
		"  --burst N    packets per burst, 1..%d (default 32)\n"
		"  --cpu N      core to pin to (default: the one it starts on)\n",
		prog, MAX_BURST);
}

static int parse_args(int argc, char **argv, double *secs, unsigned *burst, int *cpu)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "burst", required_argument, NULL, 'b' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:b:c:h", opts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 's':
			*secs = strtod(optarg, &end);
			if (*end || *secs <= 0 || *secs > 600)
				return -EINVAL;
			break;
		case 'b':
			*burst = (unsigned)strtoul(optarg, &end, 10);
			if (*end || *burst < 1 || *burst > MAX_BURST)
				return -EINVAL;
			break;
		case 'c':
			*cpu = (int)strtol(optarg, &end, 10);
			if (*end || *cpu < 0)
				return -EINVAL;
			break;
		default:
			return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		cpu = sched_getcpu();
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return -1;
	}
	return cpu;
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 64, 512, 1420 };
	static struct bench b;
	double secs = 3, cell, tsc_hz;
	int cpu = -1;

	b.burst = 32;
	if (parse_args(argc, argv, &secs, &b.burst, &cpu)) {
		usage(argv[0]);
		return 2;
	}
	if (sodium_init() < 0 || !(b.ctx = sg_dpcrypto_create())) {
		fprintf(stderr, "bench_crypto: cannot initialise libsodium or ipsec-mb\n");
		return 1;
	}
	cpu = pin(cpu);
	if (cpu < 0)
		return 1;
	for (unsigned i = 0; i < b.burst; i++) {
		randombytes_buf(b.key[i], 32);
		randombytes_buf(b.buf[i], MAX_LEN);
	}
	tsc_hz = tsc_hz_measure();
	cell = secs / (double)(SG_ARRAY_SIZE(sizes) * 2);

	printf("bench_crypto: ChaCha20-Poly1305, bursts of %u packets with %u keys, no AAD, core "
	       "%d\n",
	       b.burst, b.burst, cpu);
	printf("ipsec-mb %s (arch %s), libsodium %s, TSC %.2f GHz, %.2f s per size and op\n\n",
	       imb_get_version_str(), sg_dpcrypto_arch_name(b.ctx), sodium_version_string(),
	       tsc_hz / 1e9, cell);
	printf("%6s  %-8s  %-15s %8s %8s %8s  %9s\n", "bytes", "op", "engine", "Mpps", "Gbit/s",
	       "cyc/B", "x sodium");
	for (size_t s = 0; s < SG_ARRAY_SIZE(sizes); s++) {
		make_ciphertexts(&b, sizes[s]);
		for (int enc = 1; enc >= 0; enc--) {
			struct result r[ENG_MAX];

			measure(&b, sizes[s], enc, cell, tsc_hz, r);
			for (int e = 0; e < ENG_MAX; e++)
				printf("%6u  %-8s  %-15s %8.2f %8.2f %8.2f  %9.2f\n", sizes[s],
				       enc ? "encrypt" : "decrypt", engine_name[e], r[e].mpps,
				       r[e].gbps, r[e].cpb, r[e].mpps / r[ENG_SODIUM].mpps);
		}
		printf("\n");
	}
	printf("Medians of 1 ms slices, engines interleaved.  Gbit/s counts payload bytes;\n"
	       "cyc/B is TSC cycles per payload byte; x sodium is the packet rate over "
	       "libsodium's.\n");
	sg_dpcrypto_destroy(b.ctx);
	if (b.failures) {
		fprintf(stderr, "bench_crypto: %lu operations failed\n", b.failures);
		return 1;
	}
	return 0;
}
