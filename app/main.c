/* SPDX-License-Identifier: MIT */
/*
 * sixgate: the WireGuard gateway data plane.
 *
 *   sixgate [EAL options] -- --config FILE [--check]
 *   sixgate --version
 *
 * The binary only parses its options, starts EAL, builds the gateway from the
 * file (pipelines/sg_gateway.h: the file is the single source of truth for
 * the ports, so EAL options only carry cores and memory), launches the worker
 * lcores and runs the control loop on the main lcore until SIGINT/SIGTERM.
 *
 * Stopping: the first SIGTERM/SIGINT raises dp.stopping; the control lcore
 * refuses new handshakes and lets the workers drain for up to --drain-ms,
 * then stops them; sixgate logs the final counter summary, frees its ports
 * and EAL memory, removes its runtime directory and exits 0.  A second signal
 * exits at once (status 128 + signal), and an alarm bounds the whole stop.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_pdump.h>
#include <rte_version.h>
#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "lib/config/sg_config.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/policy/sg_policy.h"
#include "pipelines/sg_gateway.h"

/* Beyond the drain, how long freeing ports and memory may take before the alarm ends it. */
#define STOP_SLACK_S 10

static struct sg_gateway *gw;
static volatile sig_atomic_t stop_signals;
static unsigned stop_bound_s = SG_DRAIN_MS / 1000 + 1 + STOP_SLACK_S;

static void on_signal(int sig)
{
	static const char now[] = "sixgate: second signal: exiting now\n";

	if (sig == SIGHUP) {
		/* The policy thread compiles it (off the workers' and the handshakes' path). */
		sg_gateway_policy_request(gw);
		return;
	}
	if (stop_signals++ > 0) {
		ssize_t rc = write(STDERR_FILENO, now, sizeof(now) - 1);

		(void)rc;
		_exit(128 + sig);
	}
	atomic_store(&gw->dp.stopping, true);
	alarm(stop_bound_s);
}

/* systemd's watchdog (WatchdogSec=): the control loop is alive. */
static void watchdog_ping(void)
{
	sd_notify(0, "WATCHDOG=1");
}

/* --version: this build and the libraries it runs on. */
static int print_version(void)
{
	struct sg_dpcrypto *dc = sg_dpcrypto_create();
	char buf[256];

	printf("sixgate %s\n", SG_VERSION);
	printf("DPDK: %s\n", rte_version());
	printf("libsodium: %s\n", sodium_version_string());
	if (dc == NULL) {
		printf("Intel ipsec-mb: unusable on this CPU\n");
		return 1;
	}
	printf("Intel ipsec-mb: %s\n", sg_dpcrypto_describe(dc, buf, sizeof(buf)));
	sg_dpcrypto_destroy(dc);
	return 0;
}

/*
 * EAL leaves its runtime directory (/var/run/dpdk/PREFIX: the telemetry
 * socket, and the multi-process files with --allow-secondary) behind: remove
 * what is in our own directory, then the directory.
 */
static void remove_runtime_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) < sizeof(path))
			unlink(path);
	}
	closedir(d);
	if (rmdir(dir) != 0)
		sg_log(SG_LOG_WARN, "cannot remove %s: %s", dir, strerror(errno));
}

/*
 * With --allow-secondary/--capture EAL keeps its hugepage files (PREFIXmap_N)
 * so that secondaries can map them, and leaves them at exit: remove ours from
 * every hugetlbfs mount once EAL has let go of them.
 */
static void remove_hugepage_files(const char *prefix)
{
	char dir[PATH_MAX], type[64], path[PATH_MAX];
	size_t plen = strlen(prefix);
	FILE *mounts = fopen("/proc/mounts", "r");

	if (mounts == NULL)
		return;
	while (fscanf(mounts, "%*s %4095s %63s %*[^\n]", dir, type) == 2) {
		struct dirent *e;
		DIR *d;

		if (strcmp(type, "hugetlbfs") != 0 || (d = opendir(dir)) == NULL)
			continue;
		while ((e = readdir(d)) != NULL)
			if (strncmp(e->d_name, prefix, plen) == 0 &&
			    strncmp(e->d_name + plen, "map_", 4) == 0 &&
			    (size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
				    sizeof(path))
				unlink(path);
		closedir(d);
	}
	fclose(mounts);
}

/*
 * The policy file the configuration names, parsed (--check; the gateway
 * compiles it).  With bpf_obj, also its eBPF classifier: bpf_obj's C source
 * next to it (".c" in place of ".o", or appended) and the object clang builds.
 */
static int check_policy(const struct sg_config *cfg, const char *bpf_obj)
{
	char err[SG_POLICY_ERR_LEN];
	struct sg_policy p = { 0 };
	struct sg_policy_store ps = { .uri = cfg->store.path };
	struct sg_policy_names names = { .cfg = cfg,
					 .peer = cfg->store.path ? sg_policy_store_peer : NULL,
					 .arg = &ps };
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (cfg->interface.policy_file == NULL) {
		if (bpf_obj == NULL)
			return 0;
		/* No policy file: org isolation only, which the program also says. */
		rc = sg_policy_default(&p);
		goto build;
	}
	/* Its peer names: the file's [peer NAME], then the store's peers. */
	rc = sg_policy_read(cfg->interface.policy_file, &text, &len, err, sizeof(err));
	if (rc == 0)
		rc = sg_policy_parse_names(&p, cfg->interface.policy_file, text, len, &names, err,
					   sizeof(err));
build:
	if (rc == 0 && bpf_obj != NULL) {
		char c_path[PATH_MAX];
		size_t n = strlen(bpf_obj);

		if (n > 2 && strcmp(bpf_obj + n - 2, ".o") == 0)
			n -= 2;
		if (n + 3 > sizeof(c_path)) {
			snprintf(err, sizeof(err), "%s: path too long", bpf_obj);
			rc = -ENAMETOOLONG;
		} else {
			memcpy(c_path, bpf_obj, n);
			memcpy(c_path + n, ".c", 3);
			rc = sg_policy_bpf_build(&p, c_path, bpf_obj, err, sizeof(err));
			if (rc == 0)
				printf("%s: eBPF classifier (section %s, %zu rules) from %s\n",
				       bpf_obj, SG_POLICY_BPF_SECTION, p.n_rules, c_path);
		}
	}
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	sg_policy_store_close(&ps);
	sg_policy_free(&p);
	free(text);
	return rc;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL options] -- --config FILE [options]\n"
		"  --config FILE          the gateway's configuration (see config/README.md)\n"
		"  --check                only validate FILE: exit 0 when it is good, else 1\n"
		"  --emit-bpf OBJ         with --check: also build the policy's eBPF tc "
		"classifier\n"
		"                         (OBJ, and its C source beside it) for hosts without "
		"DPDK\n"
		"  --mbufs N              mbufs in the packet pool (default 8191)\n"
		"  --idle-sleep-us N      workers sleep N us after many empty polls (default 0:\n"
		"                         pure polling; use on machines shared with others)\n"
		"  --status-interval S    print a status line every S seconds (default 10, 0 off)\n"
		"  --drain-ms N           on SIGTERM, drain for at most N ms (default 1000)\n"
		"  --version              print the versions of sixgate and its libraries\n"
		"  --under-load           answer every handshake without a valid cookie with a\n"
		"                         cookie reply, as when flooded (tests, or under attack)\n"
		"  --capture              serve packet capture (rte_pdump) to dpdk-dumpcap;\n"
		"                         implies --allow-secondary\n"
		"  --allow-secondary      let other DPDK processes attach (packet capture); by\n"
		"                         default sixgate runs with --no-shconf and --huge-unlink "
		"so\n"
		"                         that no other process can map its memory (session "
		"keys)\n",
		prog);
}

struct app_args {
	const char *config;
	bool check;
	const char *emit_bpf;
	unsigned mbufs;
	unsigned idle_sleep_us;
	unsigned status_interval_s;
	unsigned drain_ms;
	bool under_load;
	bool allow_secondary;
	bool capture;
};

static int parse_args(int argc, char **argv, struct app_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "emit-bpf", required_argument, NULL, 'b' },
		{ "mbufs", required_argument, NULL, 'm' },
		{ "idle-sleep-us", required_argument, NULL, 'i' },
		{ "status-interval", required_argument, NULL, 's' },
		{ "under-load", no_argument, NULL, 'u' },
		{ "allow-secondary", no_argument, NULL, 'a' },
		{ "capture", no_argument, NULL, 'p' },
		{ "drain-ms", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	a->mbufs = SG_DEFAULT_MBUFS;
	a->status_interval_s = 10;
	while ((o = getopt_long(argc, argv, "c:km:i:s:uh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->config = optarg;
			break;
		case 'k':
			a->check = true;
			break;
		case 'b':
			a->emit_bpf = optarg;
			break;
		case 'm':
			a->mbufs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'i':
			a->idle_sleep_us = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 's':
			a->status_interval_s = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'u':
			a->under_load = true;
			break;
		case 'a':
			a->allow_secondary = true;
			break;
		case 'p':
			a->capture = a->allow_secondary = true;
			break;
		case 'd':
			a->drain_ms = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			return -EINVAL;
		}
	}
	return a->config != NULL ? 0 : -EINVAL;
}

static bool has_arg(char **argv, int n, const char *opt)
{
	for (int i = 1; i < n; i++)
		if (strcmp(argv[i], opt) == 0)
			return true;
	return false;
}

/*
 * The EAL arguments sixgate runs with.  Session keys and handshake state live
 * in DPDK memory: unless --allow-secondary, no shared configuration (no
 * secondary process can attach) and no hugepage file left to map
 * (--huge-unlink when hugepages are used at all).  Returns a new argv.
 */
static char **eal_args(int argc, char **argv, int *out_argc)
{
	int eal = 1, i, k = 0;
	char **av = calloc((size_t)argc + 3, sizeof(*av));
	bool secondary;

	if (av == NULL)
		return NULL;
	while (eal < argc && strcmp(argv[eal], "--") != 0)
		eal++;
	secondary = has_arg(argv + eal, argc - eal, "--allow-secondary") ||
		    has_arg(argv + eal, argc - eal, "--capture");
	for (i = 0; i < eal; i++)
		av[k++] = argv[i];
	if (!secondary && !has_arg(argv, eal, "--no-shconf") && !has_arg(argv, eal, "--in-memory"))
		av[k++] = "--no-shconf";
	if (!secondary && !has_arg(argv, eal, "--no-huge") &&
	    !has_arg(argv, eal, "--huge-unlink") && !has_arg(argv, eal, "--in-memory"))
		av[k++] = "--huge-unlink";
	for (; i < argc; i++)
		av[k++] = argv[i];
	*out_argc = k;
	return av;
}

/* Loads the file; prints "FILE:LINE: reason" on error. */
static int load_config(struct sg_config *cfg, const char *path)
{
	char err[SG_CONFIG_ERR_LEN];
	int rc = sg_config_load(cfg, path, err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	return rc;
}

/* Every [workers] lcore must be an EAL worker lcore (the main lcore is the control lcore). */
static int check_lcores(const struct sg_config *cfg)
{
	unsigned i;

	for (i = 0; i < cfg->workers.n_lcores; i++) {
		unsigned lcore = cfg->workers.lcores[i];

		if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
			sg_log(SG_LOG_ERR,
			       "%s:%u: [workers] lcore %u is not a worker lcore of EAL (give it "
			       "with -l/--lcores; the main lcore is the control lcore)",
			       cfg->file, cfg->workers.line, lcore);
			return -EINVAL;
		}
	}
	return 0;
}

/* --check: validate the file without starting EAL. */
static int check_only(int argc, char **argv)
{
	struct app_args a = { 0 };
	struct sg_config c = { 0 };
	int i, rc;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0)
			break;
	if (i == argc)
		i = 0;
	argv[i] = argv[0];
	if (parse_args(argc - i, argv + i, &a) != 0) {
		usage(argv[0]);
		return 1;
	}
	rc = load_config(&c, a.config);
	if (rc == 0)
		rc = check_policy(&c, a.emit_bpf);
	sg_config_free(&c);
	if (rc == 0)
		printf("%s: ok\n", a.config);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct sg_gateway_opts o = { 0 };
	struct app_args a = { 0 };
	struct sg_config c = { 0 };
	struct sg_config_endpoint metrics_at;
	struct sg_metrics *metrics = NULL;
	char rundir[PATH_MAX];
	unsigned i, lcore, peers_top;
	bool metrics_on;
	uint64_t watchdog_us = 0;
	int64_t balance;
	int n, rc;

	if (sg_crypto_init() != 0)
		return 1;
	for (i = 1; i < (unsigned)argc; i++)
		if (strcmp(argv[i], "--version") == 0)
			return print_version();
	for (i = 1; i < (unsigned)argc; i++)
		if (strcmp(argv[i], "--check") == 0)
			return check_only(argc, argv);
	argv = eal_args(argc, argv, &argc);
	if (argv == NULL)
		return 1;
	n = rte_eal_init(argc, argv);
	if (n < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: %s\n", rte_strerror(rte_errno));
	argv[n] = argv[0];
	if (parse_args(argc - n, argv + n, &a) != 0) {
		usage(argv[0]);
		rte_exit(EXIT_FAILURE, "bad arguments\n");
	}
	if (load_config(&c, a.config) != 0 || check_lcores(&c) != 0)
		rte_exit(EXIT_FAILURE, "bad configuration\n");
	o.mbufs = a.mbufs;
	o.idle_sleep_us = a.idle_sleep_us;
	o.status_interval_s = a.status_interval_s;
	o.under_load = a.under_load;
	o.drain_ms = a.drain_ms;
	metrics_on = c.metrics.enabled != 0;
	metrics_at = c.metrics.listen;
	peers_top = c.metrics.peers_top;
	if (a.drain_ms > 0)
		stop_bound_s = a.drain_ms / 1000 + 1 + STOP_SLACK_S;
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	/*
	 * Capture: rte_pdump answers dpdk-dumpcap over the multi-process channel
	 * and only then adds RX/TX callbacks to the ports it captures, so the data
	 * path costs nothing while nobody captures.
	 */
	if (a.capture && rte_pdump_init() != 0)
		rte_exit(EXIT_FAILURE, "packet capture: rte_pdump_init failed: %s\n",
			 rte_strerror(rte_errno));
	gw = sg_gateway_create(&c, &o, &rc);
	sg_config_free(&c);
	if (gw == NULL || sg_telemetry_register(gw) != 0) {
		sg_gateway_destroy(gw);
		rte_eal_cleanup();
		rte_exit(EXIT_FAILURE, "setup failed: %s\n", strerror(-rc));
	}
	if (metrics_on && (metrics = sg_metrics_start(gw, &metrics_at, peers_top, &rc)) == NULL) {
		sg_gateway_destroy(gw);
		rte_eal_cleanup();
		rte_exit(EXIT_FAILURE, "setup failed: %s\n", strerror(-rc));
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	for (i = 0; i < gw->dp.n_workers; i++)
		rte_eal_remote_launch(sg_worker_main, gw->dp.workers[i], gw->dp.workers[i]->lcore);
	sg_log(SG_LOG_INFO,
	       "sixgate running: %u workers, %u VMs, %u peers, listen port %u, burst %u",
	       gw->dp.n_workers, gw->dp.n_vms, sg_peers_count(gw->dp.peers),
	       rte_be_to_cpu_16(gw->dp.gw.port_be), gw->dp.burst);
	/* Under WatchdogSec=, the control loop's tick pings twice per period. */
	if (sd_watchdog_enabled(0, &watchdog_us) > 0) {
		gw->ctl.heartbeat = watchdog_ping;
		gw->ctl.heartbeat_ns = watchdog_us * 1000 / 2;
	}
	/* systemd (Type=notify): the ports are started and the workers polling. */
	sd_notifyf(0, "READY=1\nSTATUS=running: %u workers, %u VMs, %u peers", gw->dp.n_workers,
		   gw->dp.n_vms, sg_peers_count(gw->dp.peers));
	sg_ctl_run(&gw->ctl);
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: drained, freeing the ports");
	RTE_LCORE_FOREACH_WORKER (lcore)
		rte_eal_wait_lcore(lcore);
	balance = sg_gateway_summary(gw);
	sg_metrics_stop(metrics);
	sg_telemetry_close();
	if (a.capture)
		rte_pdump_uninit();
	sg_gateway_destroy(gw);
	rte_eal_cleanup();
	remove_runtime_dir(rundir);
	if (a.allow_secondary)
		remove_hugepage_files(strrchr(rundir, '/') != NULL ? strrchr(rundir, '/') + 1
								   : rundir);
	free(argv);
	sg_log(SG_LOG_INFO, "sixgate stopped");
	return balance == 0 ? 0 : 2;
}
