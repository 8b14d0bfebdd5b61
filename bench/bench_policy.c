/* SPDX-License-Identifier: MIT */
/*
 * The policy's classify cost: cycles per packet of sg_policy_acl_classify
 * (one rte_acl_classify per burst of 32, as the workers call it) with
 * generated policies of 10, 1,000 and 100,000 rules, on one core, and the
 * key building the stages add (sg_policy_key_set).
 *
 *   bench_policy [--seconds S] [--rules N] [--shape cloud|hosts|mixed]
 *                                       the table (or one size) for one shape of
 *                                       rules (default cloud; --hosts = --shape hosts)
 *   bench_policy --write N FILE         writes an N-rule policy that leaves the
 *                                       tests/fixture traffic to the base rule
 *                                       (for bench_datapath --policy FILE)
 *
 * Shapes: "cloud" (the default) is what a cloud's policy looks like: per-peer
 * rules, a peer's /128 to VMs' /112 in other orgs on a few service ports
 * (four rules a peer, many sharing their VM, port and protocol), and per-VM
 * egress rules to an org /48; half the packets hit a rule, half miss them all.
 * "hosts": a /128 to a /112, TCP or UDP, any one port.  "mixed": rules over
 * orgs fdaa:0:0..f::/48, prefixes /48 to /128, every protocol, port ranges and
 * directions (rte_acl's build of 100,000 of them needs more than 6 GB).
 * Besides the cycles, each size reports the build time, the DPDK heap the
 * context holds (its rules and run-time tables) and how much the process's
 * peak RSS grew during the build (rte_acl builds in malloc'd memory).
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
#include <time.h>
#include <x86intrin.h>

#include <rte_cpuflags.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_malloc.h>
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

/*
 * The cloud shape: peer j (fdaa:0:ORG:ff00::J/128, org 1 + j % 16) has four
 * rules, to VMs of other orgs (fdaa:0:ORG:0:V:0:1:0/112, 4,096 VMs) on TCP 22,
 * 443, 8080 and UDP 53, one in 16 of them a deny; every eighth line is a
 * VM's egress rule (TCP 443 to an org /48).  A VM may be many peers'.
 */
struct cloud_rule {
	uint8_t src[16], dst[16];
	uint8_t proto;
	uint16_t port;
	bool out;
};

static struct cloud_rule *cloud_rules;

static void cloud_vm(uint8_t *a, unsigned v)
{
	memset(a, 0, 16);
	a[0] = 0xfd;
	a[1] = 0xaa;
	a[5] = (uint8_t)(1 + v % 16);
	a[8] = (uint8_t)(v >> 8);
	a[9] = (uint8_t)v;
	a[13] = 1;
}

static char *generate_cloud(unsigned n)
{
	static const uint16_t ports[] = { 22, 443, 8080, 53 };
	size_t cap = (size_t)n * 128 + 64, off = 0;
	char *t = malloc(cap), s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];

	free(cloud_rules);
	cloud_rules = calloc(n, sizeof(*cloud_rules));
	if (t == NULL || cloud_rules == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		struct cloud_rule *r = &cloud_rules[i];
		unsigned j = i / 4, k = i % 4, org = 1 + j % 16;

		if (i % 8 == 7) {
			unsigned v = (unsigned)(rnd() % 4096);

			cloud_vm(r->src, v);
			memset(r->dst, 0, 16);
			r->dst[0] = 0xfd;
			r->dst[1] = 0xaa;
			r->dst[5] = (uint8_t)(1 + (v + 1 + rnd() % 15) % 16);
			r->proto = IPPROTO_TCP;
			r->port = 443;
			r->out = true;
			inet_ntop(AF_INET6, r->src, s, sizeof(s));
			inet_ntop(AF_INET6, r->dst, d, sizeof(d));
			off += (size_t)snprintf(t + off, cap - off,
						"allow out tcp from %s/112 to %s/48 port 443\n", s,
						d);
			continue;
		}
		memset(r->src, 0, 16);
		r->src[0] = 0xfd;
		r->src[1] = 0xaa;
		r->src[5] = (uint8_t)org;
		r->src[6] = 0xff;
		r->src[12] = (uint8_t)((j + 2) >> 24);
		r->src[13] = (uint8_t)((j + 2) >> 16);
		r->src[14] = (uint8_t)((j + 2) >> 8);
		r->src[15] = (uint8_t)(j + 2);
		/* A VM of another org: org + 1..15. */
		{
			unsigned v = (unsigned)(rnd() % 256) * 16 + (org - 1 + 1 + rnd() % 15) % 16;

			cloud_vm(r->dst, v);
		}
		r->proto = k == 3 ? IPPROTO_UDP : IPPROTO_TCP;
		r->port = ports[k];
		inet_ntop(AF_INET6, r->src, s, sizeof(s));
		inet_ntop(AF_INET6, r->dst, d, sizeof(d));
		off += (size_t)snprintf(
			t + off, cap - off, "%s in %s from %s/128 to %s/112 port %u\n",
			rnd() % 16 ? "allow" : "deny", k == 3 ? "udp" : "tcp", s, d, r->port);
	}
	t[off] = '\0';
	return t;
}

/* Half the keys hit a cloud rule (a host of its /112), half are make_keys'. */
static void make_cloud_keys(struct sg_policy_key *keys, unsigned n, unsigned n_rules)
{
	for (unsigned i = 0; i < n; i += 2) {
		const struct cloud_rule *r = &cloud_rules[rnd() % n_rules];
		uint8_t ip[48] = { 0x60 };

		ip[5] = 8;
		ip[6] = r->proto;
		memcpy(ip + 8, r->src, 16);
		memcpy(ip + 24, r->dst, 16);
		if (r->out) {
			ip[22] = (uint8_t)rnd();
			ip[23] = (uint8_t)rnd();
			for (unsigned b = 30; b < 40; b++)
				ip[b] = (uint8_t)rnd();
		} else {
			ip[38] = (uint8_t)rnd();
			ip[39] = (uint8_t)rnd();
		}
		ip[40] = (uint8_t)((1024 + rnd() % 60000) >> 8);
		ip[41] = (uint8_t)rnd();
		ip[42] = (uint8_t)(r->port >> 8);
		ip[43] = (uint8_t)r->port;
		sg_policy_key_set(&keys[i], ip, sizeof(ip),
				  r->out ? SG_POLICY_DIR_OUT : SG_POLICY_DIR_IN, false);
	}
}

/* The DPDK heap in use, all sockets. */
static size_t heap_bytes(void)
{
	size_t sum = 0;

	for (unsigned i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats st;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &st) == 0)
			sum += st.heap_allocsz_bytes;
	}
	return sum;
}

/* A field of /proc/self/status in kB (VmRSS, VmHWM), 0 when unknown. */
static size_t status_kb(const char *field)
{
	char line[256];
	size_t v = 0, fl = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, fl) == 0 && line[fl] == ':')
			v = strtoull(line + fl + 1, NULL, 10);
	if (f != NULL)
		fclose(f);
	return v;
}

/* This process's CPU time in ms (the build's wall time on a loaded machine is mostly waiting). */
static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resets the peak RSS (VmHWM) to the current RSS. */
static void reset_peak(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	if (f != NULL) {
		fputs("5", f);
		fclose(f);
	}
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
	unsigned only = 0; /* --rules N: that size alone */
	const char *shape = "cloud";
	char prefix_arg[64];
	int rc;

	if (argc == 4 && strcmp(argv[1], "--write") == 0)
		return write_policy((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) {
			secs = strtod(argv[i + 1], NULL);
		} else if (strcmp(argv[i], "--hosts") == 0) {
			shape = "hosts";
			i--;
		} else if (i + 1 < argc && strcmp(argv[i], "--shape") == 0 &&
			   (strcmp(argv[i + 1], "cloud") == 0 ||
			    strcmp(argv[i + 1], "hosts") == 0 ||
			    strcmp(argv[i + 1], "mixed") == 0)) {
			shape = argv[i + 1];
		} else if (i + 1 < argc && strcmp(argv[i], "--rules") == 0) {
			only = (unsigned)strtoul(argv[i + 1], NULL, 10);
		} else {
			fprintf(stderr,
				"usage: %s [--seconds S] [--rules N] [--shape cloud|hosts|mixed] | "
				"--write "
				"N FILE\n",
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
	printf("shape %s\n%8s %10s %10s %10s %10s %12s %14s %10s\n", shape, "rules", "build_ms",
	       "build_cpu", "heap_MB", "build_MB", "classify", "cycles/packet", "Mpps");
	for (unsigned s = 0; s < (only ? 1 : sizeof(sizes) / sizeof(sizes[0])); s++) {
		unsigned n = only ? only : sizes[s];
		char *text = shape[0] == 'c'   ? generate_cloud(n)
			     : shape[0] == 'h' ? generate_hosts(n)
					       : generate(n),
		     err[SG_POLICY_ERR_LEN];
		size_t heap0, rss0;
		double cpu0;
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
		make_keys(keys, N_PKTS);
		if (shape[0] == 'c')
			make_cloud_keys(keys, N_PKTS, n);
		heap0 = heap_bytes();
		reset_peak();
		rss0 = status_kb("VmRSS");
		cpu0 = cpu_ms();
		t0 = rte_rdtsc_precise();
		if (sg_policy_acl_build(&acl, &p, SOCKET_ID_ANY, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_policy: %s\n", err);
			return 1;
		}
		double build_ms =
			(double)(rte_rdtsc_precise() - t0) * 1e3 / (double)rte_get_tsc_hz();
		double build_cpu = cpu_ms() - cpu0;
		double heap_mb = (double)(heap_bytes() - heap0) / 1048576.0;
		double build_mb = (double)(status_kb("VmHWM") - rss0) / 1024.0;

		cyc = measure(acl, kp, secs, &allowed, &p);
		printf("%8zu %10.1f %10.1f %10.1f %10.1f %12s %14.1f %10.2f\n", p.n_rules, build_ms,
		       build_cpu, heap_mb, build_mb, sg_policy_acl_alg(acl), cyc,
		       (double)rte_get_tsc_hz() / cyc / 1e6);
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
