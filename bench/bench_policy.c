/* SPDX-License-Identifier: MIT */
/*
 * The policy's classify cost: cycles per packet of sg_policy_acl_classify
 * (one rte_acl_classify per burst of 32, as the workers call it) with
 * generated policies of 10, 1,000 and 100,000 rules, on one core, and the
 * key building the stages add (sg_policy_key_set).
 *
 *   bench_policy [--seconds S] [--rules N] [--hosts]   the table (or one size;
 *                                       --hosts: per-peer /128 -> /112 rules)
 *   bench_policy --write N FILE         writes an N-rule policy that leaves the
 *                                       tests/fixture traffic to the base rule
 *                                       (for bench_datapath --policy FILE)
 *
 * The rules are over orgs fdaa:0:0..f::/48, prefixes /48 to /128, every
 * protocol, port ranges and directions; the packets are drawn near them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <unistd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <x86intrin.h>

#include <rte_cpuflags.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_memory.h>

#include "lib/policy/sg_policy.h"

#define BURST	32
#define N_PKTS	4096
#define SEED(i) (0x9e3779b97f4a7c15ull * ((i) + 1))

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void prefix(char *out, size_t len, unsigned org)
{
	static const unsigned lens[] = { 48, 56, 64, 96, 112, 120, 128 };
	uint8_t a[16] = { 0xfd, 0xaa, 0, 0, 0, (uint8_t)org };
	unsigned l = lens[rnd() % 7];
	char s[INET6_ADDRSTRLEN];

	for (unsigned i = 6; i < 16; i++)
		a[i] = (uint8_t)rnd();
	for (unsigned i = 0; i < 16; i++) {
		int bits = (int)l - 8 * (int)i;

		if (bits <= 0)
			a[i] = 0;
		else if (bits < 8)
			a[i] &= (uint8_t)(0xff00 >> bits);
	}
	inet_ntop(AF_INET6, a, s, sizeof(s));
	snprintf(out, len, "%s/%u", s, l);
}

/*
 * Per-peer rules as a large gateway has them: a peer's /128 to a VM's /112,
 * TCP or UDP, one port.  (Random rules of mixed prefix lengths and ranges,
 * as below, make rte_acl's build need more than 6 GB at 100,000 rules.)
 */
static char *generate_hosts(unsigned n)
{
	size_t cap = (size_t)n * 128 + 64, off = 0;
	char *t = malloc(cap);

	if (t == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		off += (size_t)snprintf(
			t + off, cap - off,
			"%s %s from fdaa:0:%x:ff00::%x:%x/128 to fdaa:0:%x:0:%x:0:1:0/112 "
			"port %u\n",
			rnd() % 3 ? "allow" : "deny", rnd() % 2 ? "tcp" : "udp",
			(unsigned)(rnd() % 16), (i + 2) >> 16, (i + 2) & 0xffff,
			(unsigned)(rnd() % 16), (unsigned)(rnd() % 4096),
			(unsigned)(rnd() % 65536));
	t[off] = '\0';
	return t;
}

/* n rules as policy text; none of them names fdaa:0:18::/48 (the fixture's org). */
static char *generate(unsigned n)
{
	static const char *const protos[] = { "tcp", "udp", "icmpv6", "any" };
	size_t cap = (size_t)n * 160 + 64, off = 0;
	char *t = malloc(cap), src[64], dst[64];

	if (t == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		unsigned p = (unsigned)(rnd() % 4), d = (unsigned)(rnd() % 3);

		prefix(src, sizeof(src), (unsigned)(rnd() % 16));
		prefix(dst, sizeof(dst), (unsigned)(rnd() % 16));
		off += (size_t)snprintf(t + off, cap - off, "%s%s %s from %s to %s",
					rnd() % 3 ? "allow" : "deny",
					d == 0	 ? ""
					: d == 1 ? " in"
						 : " out",
					protos[p], src, dst);
		if (p < 2 && rnd() % 2) {
			unsigned lo = (unsigned)(rnd() % 60000);

			off += (size_t)snprintf(t + off, cap - off, " port %u-%u", lo,
						lo + (unsigned)(rnd() % 2000));
		}
		off += (size_t)snprintf(t + off, cap - off, "\n");
	}
	t[off] = '\0';
	return t;
}

/* Packets near the rules' orgs: TCP/UDP/ICMPv6, both directions. */
static void make_keys(struct sg_policy_key *keys, unsigned n)
{
	static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 };

	for (unsigned i = 0; i < n; i++) {
		uint8_t ip[48] = { 0x60 };

		ip[5] = 8;
		ip[6] = protos[rnd() % 3];
		ip[8] = ip[24] = 0xfd;
		ip[9] = ip[25] = 0xaa;
		ip[13] = (uint8_t)(rnd() % 17);
		ip[29] = (uint8_t)(rnd() % 17);
		for (unsigned k = 14; k < 24; k++)
			ip[k] = (uint8_t)rnd();
		for (unsigned k = 30; k < 44; k++)
			ip[k] = (uint8_t)rnd();
		sg_policy_key_set(&keys[i], ip, sizeof(ip),
				  rnd() % 2 ? SG_POLICY_DIR_IN : SG_POLICY_DIR_OUT, rnd() % 2);
	}
}

static double measure(const struct sg_policy_acl *acl, const uint8_t **kp, double secs,
		      uint64_t *allowed_out, const struct sg_policy *p)
{
	uint32_t res[BURST];
	uint64_t t0, t1, pkts = 0, allowed = 0, end;
	uint64_t hz = rte_get_tsc_hz();

	t0 = rte_rdtsc_precise();
	end = t0 + (uint64_t)(secs * (double)hz);
	do {
		for (unsigned i = 0; i < N_PKTS; i += BURST) {
			sg_policy_acl_classify(acl, kp + i, res, BURST);
			allowed += sg_policy_allows(p, res[0]);
		}
		pkts += N_PKTS;
		t1 = rte_rdtsc_precise();
	} while (t1 < end);
	*allowed_out = allowed;
	return (double)(t1 - t0) / (double)pkts;
}

static int write_policy(unsigned n, const char *path)
{
	char *text = generate(n);
	FILE *f = fopen(path, "w");

	if (text == NULL || f == NULL) {
		fprintf(stderr, "bench_policy: cannot write %s\n", path);
		free(text);
		return 1;
	}
	fprintf(f, "# %u generated rules (bench/bench_policy --write): none for org 0x18\n%s", n,
		text);
	fclose(f);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	static const unsigned sizes[] = { 10, 1000, 100000 };
	char *eal_argv[9];
	char *eal_init[] = { argv[0],
			     "--no-huge",
			     "-m",
			     "2048",
			     "--no-pci",
			     "--file-prefix",
			     "--log-level=error",
			     "--no-telemetry",
			     NULL };
	static struct sg_policy_key keys[N_PKTS];
	static const uint8_t *kp[N_PKTS];
	double secs = 2;
	unsigned only = 0;  /* --rules N: that size alone */
	bool hosts = false; /* --hosts: per-peer /128 -> /112 rules */
	char prefix_arg[64];
	int rc;

	if (argc == 4 && strcmp(argv[1], "--write") == 0)
		return write_policy((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
			secs = strtod(argv[i + 1], NULL);
		} else if (strcmp(argv[i], "--hosts") == 0) {
			hosts = true;
			i--;
		} else if (i + 1 < argc && strcmp(argv[i], "--rules") == 0) {
			only = (unsigned)strtoul(argv[i + 1], NULL, 10);
		} else {
			fprintf(stderr,
				"usage: %s [--seconds S] [--rules N] [--hosts] | --write N FILE\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=bench-policy-%d", (int)getpid());
	memcpy(eal_argv, eal_init, sizeof(eal_argv));
	eal_argv[5] = prefix_arg;
	if (rte_eal_init(8, eal_argv) < 0) {
		fprintf(stderr, "bench_policy: EAL init failed\n");
		return 1;
	}
	printf("CPU: avx2 %d, avx512f %d; TSC %.2f GHz; burst %u\n",
	       rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX2),
	       rte_cpu_get_flag_enabled(RTE_CPUFLAG_AVX512F), (double)rte_get_tsc_hz() / 1e9,
	       BURST);
	make_keys(keys, N_PKTS);
	for (unsigned i = 0; i < N_PKTS; i++)
		kp[i] = (const uint8_t *)&keys[i];
	{
		uint8_t ip[48] = { 0x60, 0, 0, 0, 0, 8, IPPROTO_UDP };
		uint64_t t0 = rte_rdtsc_precise();

		for (unsigned i = 0; i < 1000000; i++) {
			ip[20] = (uint8_t)i;
			sg_policy_key_set(&keys[i % N_PKTS], ip, sizeof(ip), SG_POLICY_DIR_IN,
					  true);
		}
		printf("sg_policy_key_set: %.1f cycles/packet\n",
		       (double)(rte_rdtsc_precise() - t0) / 1e6);
		make_keys(keys, N_PKTS);
	}
	printf("%8s %10s %12s %14s %10s\n", "rules", "build_ms", "classify", "cycles/packet",
	       "Mpps");
	for (unsigned s = 0; s < (only ? 1 : sizeof(sizes) / sizeof(sizes[0])); s++) {
		unsigned n = only ? only : sizes[s];
		char *text = hosts ? generate_hosts(n) : generate(n), err[SG_POLICY_ERR_LEN];
		struct sg_policy p = { 0 };
		struct sg_policy_acl *acl = NULL;
		uint64_t t0, allowed;
		double cyc;

		if (text == NULL ||
		    sg_policy_parse(&p, "gen", text, strlen(text), NULL, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_policy: %s\n", err);
			return 1;
		}
		free(text);
		t0 = rte_rdtsc_precise();
		if (sg_policy_acl_build(&acl, &p, SOCKET_ID_ANY, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_policy: %s\n", err);
			return 1;
		}
		double build_ms =
			(double)(rte_rdtsc_precise() - t0) * 1e3 / (double)rte_get_tsc_hz();
		cyc = measure(acl, kp, secs, &allowed, &p);
		printf("%8zu %10.1f %12s %14.1f %10.2f\n", p.n_rules, build_ms,
		       sg_policy_acl_alg(acl), cyc, (double)rte_get_tsc_hz() / cyc / 1e6);
		sg_policy_acl_free(acl);
		sg_policy_free(&p);
	}
	rte_eal_cleanup();
	/* EAL leaves its runtime directory behind. */
	snprintf(prefix_arg, sizeof(prefix_arg), "/var/run/dpdk/bench-policy-%d", (int)getpid());
	rc = nftw(prefix_arg, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	(void)rc;
	return 0;
}
