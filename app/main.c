/* SPDX-License-Identifier: MIT */
/*
 * sixgate: the WireGuard gateway data plane.
 *
 *   sixgate [EAL options] -- --config FILE [--check]
 *
 * The config file is the single source of truth for the ports: sixgate probes
 * the NIC ([nic] device, any DPDK device string) and one vhost-user port per
 * [vm NAME] itself, so EAL options only carry cores and memory.  A device that
 * EAL already created (--vdev) under the same name is used as it is.
 *
 * The main lcore is the control lcore; every other lcore is a worker.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "app/conf.h"
#include "app/sixgate.h"
#include "lib/allowedips/sg_allowedips.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/routing/sg_routing.h"

#define RING_HS_LEN 1024
#define NB_DESC	    1024
#define INDEX_BITS  16
/* A locally administered MAC the gateway uses toward the VMs. */
static const struct rte_ether_addr vm_side_mac = { { 0x02, 0x00, 0x00, 0x5e, 0x00, 0x01 } };

static struct sg_dp dp;
static struct sg_ctl ctl;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&dp.quit, true);
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [EAL options] -- --config FILE [options]\n"
		"  --config FILE          the gateway's configuration (see config/README.md)\n"
		"  --check                only validate FILE: exit 0 when it is good, else 1\n"
		"  --mbufs N              mbufs in the packet pool (default 8191)\n"
		"  --idle-sleep-us N      workers sleep N us after many empty polls (default 0:\n"
		"                         pure polling; use on machines shared with others)\n"
		"  --status-interval S    print a status line every S seconds (default 10, 0 off)\n"
		"  --under-load           answer every handshake without a valid cookie with a\n"
		"                         cookie reply, as when flooded (tests, or under attack)\n",
		prog);
}

struct app_args {
	const char *config;
	bool check;
	unsigned mbufs;
	unsigned idle_sleep_us;
	unsigned status_interval_s;
	bool under_load;
};

static int parse_args(int argc, char **argv, struct app_args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "mbufs", required_argument, NULL, 'm' },
		{ "idle-sleep-us", required_argument, NULL, 'i' },
		{ "status-interval", required_argument, NULL, 's' },
		{ "under-load", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	optind = 1;
	a->mbufs = 8191;
	a->status_interval_s = 10;
	while ((o = getopt_long(argc, argv, "c:km:i:s:uh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->config = optarg;
			break;
		case 'k':
			a->check = true;
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
		default:
			return -EINVAL;
		}
	}
	return a->config != NULL ? 0 : -EINVAL;
}

/* The port of a device string ("net_af_packet0,iface=x"), probing it if needed. */
static int probe_port(const char *devargs, uint16_t *port)
{
	char name[RTE_DEV_NAME_MAX_LEN];
	size_t n = strcspn(devargs, ",");

	snprintf(name, sizeof(name), "%.*s", (int)n, devargs);
	if (rte_eth_dev_get_port_by_name(name, port) == 0)
		return 0;
	if (rte_dev_probe(devargs) != 0) {
		sg_log(SG_LOG_ERR, "cannot probe device %s", devargs);
		return -ENODEV;
	}
	if (rte_eth_dev_get_port_by_name(name, port) != 0) {
		/* PCI devices are named by their address, which is the string itself. */
		if (rte_eth_dev_get_port_by_name(devargs, port) != 0)
			return -ENODEV;
	}
	return 0;
}

static int setup_port(uint16_t port, uint16_t nb_rx, uint16_t nb_tx, struct rte_mempool *pool,
		      uint64_t tx_offloads)
{
	struct rte_eth_conf conf;
	uint16_t nrxd = NB_DESC, ntxd = NB_DESC, q;
	int socket = rte_eth_dev_socket_id(port);

	memset(&conf, 0, sizeof(conf));
	conf.txmode.offloads = tx_offloads;
	if (rte_eth_dev_configure(port, nb_rx, nb_tx, &conf) != 0)
		return -EINVAL;
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrxd, &ntxd);
	for (q = 0; q < nb_rx; q++)
		if (rte_eth_rx_queue_setup(port, q, nrxd, (unsigned)socket, NULL, pool) != 0)
			return -EINVAL;
	for (q = 0; q < nb_tx; q++)
		if (rte_eth_tx_queue_setup(port, q, ntxd, (unsigned)socket, NULL) != 0)
			return -EINVAL;
	return rte_eth_dev_start(port) == 0 ? 0 : -EIO;
}

#define TX_CSUM_OFFLOADS (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

/* Whether the PMD ties RX and TX queues into pairs (each RX queue then needs a poller). */
static bool queues_are_pairs(const char *driver)
{
	return strcmp(driver, "net_af_packet") == 0 || strcmp(driver, "net_af_xdp") == 0;
}

static int setup_nic(const struct app_conf *c)
{
	struct rte_eth_dev_info info;
	char devargs[APP_DEVARGS_MAX + 32];
	unsigned n_rx = c->nic_rx_queues, n_tx = c->nic_tx_queues, n_rx_setup, i;
	unsigned pairs = n_rx > n_tx ? n_rx : n_tx;
	int rc;

	if (n_tx < dp.n_workers + 1) {
		sg_log(SG_LOG_ERR, "%s: [nic] tx_queues is %u, needs one per worker plus one (%u)",
		       c->file, n_tx, dp.n_workers + 1);
		return -EINVAL;
	}
	snprintf(devargs, sizeof(devargs), "%s", c->nic_devargs);
	/* af_packet and af_xdp take their queue counts as devargs. */
	if (strncmp(devargs, "net_af_packet", 13) == 0 && strstr(devargs, "qpairs=") == NULL)
		snprintf(devargs + strlen(devargs), sizeof(devargs) - strlen(devargs), ",qpairs=%u",
			 pairs);
	if (strncmp(devargs, "net_af_xdp", 10) == 0 && strstr(devargs, "queue_count=") == NULL)
		snprintf(devargs + strlen(devargs), sizeof(devargs) - strlen(devargs),
			 ",queue_count=%u", pairs);
	rc = probe_port(devargs, &dp.nic_port);
	if (rc != 0)
		return rc;
	rte_eth_dev_info_get(dp.nic_port, &info);
	n_rx_setup = n_rx;
	if (queues_are_pairs(info.driver_name) && pairs > n_rx) {
		/* Every RX queue of these PMDs receives: the control lcore drains the extra ones. */
		n_rx_setup = pairs;
		n_tx = pairs;
		ctl.has_extra_rxq = true;
		ctl.extra_rxq = (uint16_t)n_rx;
		ctl.extra_rxq_end = (uint16_t)pairs;
	}
	if (n_tx > info.max_tx_queues || n_rx_setup > info.max_rx_queues) {
		sg_log(SG_LOG_ERR, "NIC %s: needs %u RX and %u TX queues, has %u and %u",
		       c->nic_devargs, n_rx_setup, n_tx, info.max_rx_queues, info.max_tx_queues);
		return -EINVAL;
	}
	/* Outer checksums on TX by the NIC when it has both; in software otherwise. */
	dp.gw.tx_csum_offload = (info.tx_offload_capa & TX_CSUM_OFFLOADS) == TX_CSUM_OFFLOADS;
	rc = setup_port(dp.nic_port, (uint16_t)n_rx_setup, (uint16_t)n_tx, dp.pool,
			dp.gw.tx_csum_offload ? TX_CSUM_OFFLOADS : 0);
	if (rc != 0) {
		sg_log(SG_LOG_ERR, "NIC %s: cannot configure/start", c->nic_devargs);
		return rc;
	}
	dp.n_nic_rxq = n_rx;
	for (i = 0; i < n_rx; i++) {
		struct sg_worker *w = dp.workers[i % dp.n_workers];

		if (w->n_nic_rxq < SG_MAX_NIC_RXQ)
			w->nic_rxq[w->n_nic_rxq++] = (uint16_t)i;
	}
	dp.ctl->nic_txq = (uint16_t)dp.n_workers;
	rte_eth_macaddr_get(dp.nic_port, &dp.gw.mac);
	sg_log(SG_LOG_INFO, "NIC %s: port %u driver %s, %u RX / %u TX queues, TX checksums %s",
	       devargs, dp.nic_port, info.driver_name, n_rx_setup, n_tx,
	       dp.gw.tx_csum_offload ? "by the NIC" : "in software");
	return 0;
}

static int setup_vm(const struct app_conf *c, unsigned i)
{
	const struct app_vm *cv = &c->vms[i];
	struct sg_vm *vm = &dp.vms[i];
	struct stat sb;
	char rname[RTE_RING_NAMESIZE];
	uint16_t port;
	int rc;

	/* A socket left by an earlier run would make the vhost server fail to bind. */
	if (stat(cv->socket, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(cv->socket);
	rc = probe_port(cv->devargs, &port);
	if (rc != 0)
		return rc;
	rc = setup_port(port, 1, 1, dp.pool, 0);
	if (rc != 0) {
		sg_log(SG_LOG_ERR, "VM %s: cannot configure/start its port", cv->name);
		return rc;
	}
	snprintf(vm->name, sizeof(vm->name), "%s", cv->name);
	vm->port_id = port;
	vm->owner = i % dp.n_workers;
	memcpy(vm->prefix, cv->prefix, 16);
	vm->prefix_len = cv->prefix_len;
	memcpy(vm->org, cv->org, 16);
	vm->org_len = cv->org_len;
	vm->gw_mac = vm_side_mac;
	if (cv->has_mac) {
		struct rte_ether_addr a;

		memcpy(a.addr_bytes, cv->mac, 6);
		atomic_init(&vm->vm_mac, sg_mac_to_u64(&a));
		vm->vm_mac_fixed = true;
	}
	snprintf(rname, sizeof(rname), "sg_vmtx%u", i);
	vm->txr = rte_ring_create(rname, SG_VM_TXRING_LEN, (int)rte_socket_id(), RING_F_SC_DEQ);
	if (vm->txr == NULL)
		return -ENOMEM;
	dp.workers[vm->owner]->vms[dp.workers[vm->owner]->n_vms++] = i;
	sg_log(SG_LOG_INFO, "VM %s: port %u socket %s, worker %u", cv->name, port, cv->socket,
	       vm->owner);
	return 0;
}

static void aips_retire(void *ctx, void *node)
{
	sg_peers_defer(ctx, node, sg_allowedips_node_free);
}

static void routes_sync(void *ctx)
{
	rte_rcu_qsbr_synchronize(ctx, RTE_QSBR_THRID_INVALID);
}

static int setup_peers(const struct app_conf *c)
{
	unsigned i, j;

	dp.peers =
		sg_peers_create("main", c->n_peers + 1, INDEX_BITS, dp.qsbr, (int)rte_socket_id());
	if (dp.peers == NULL)
		return -ENOMEM;
	sg_peers_set_reject_after(dp.peers, (uint64_t)c->timers.reject_after_time * 1000000000ull);
	dp.aips = sg_allowedips_create(aips_retire, dp.peers);
	if (dp.aips == NULL)
		return -ENOMEM;
	for (i = 0; i < c->n_peers; i++) {
		const struct app_peer *cp = &c->peers[i];
		struct sg_peer_conf pc;
		struct sg_peer *p;
		int err;

		memset(&pc, 0, sizeof(pc));
		pc.name = cp->name;
		memcpy(pc.public_key, cp->public_key, 32);
		memcpy(pc.psk, cp->psk, 32);
		memcpy(pc.org, cp->org, 16);
		pc.org_len = cp->org_len;
		pc.keepalive_s = cp->keepalive_s;
		pc.endpoint = cp->has_endpoint ? &cp->endpoint : NULL;
		p = sg_peers_add(dp.peers, &pc, &err);
		sg_wipe(pc.psk, sizeof(pc.psk));
		if (p == NULL) {
			sg_log(SG_LOG_ERR, "peer %s: cannot add (%s)", cp->name, strerror(-err));
			return err;
		}
		for (j = 0; j < cp->n_allowed; j++) {
			const struct app_prefix *a = &cp->allowed[j];

			if (sg_allowedips_insert(dp.aips, a->family, a->addr, a->len, p) != 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int setup_routes(const struct app_conf *c)
{
	struct sg_routing_conf rc = {
		.name = "sg_6pn",
		.socket_id = (int)rte_socket_id(),
		.max_routes = c->n_vms + 16,
		.synchronize = routes_sync,
		.sync_ctx = dp.qsbr,
	};
	unsigned i;
	int err = sg_routing_create(&dp.routes, &rc);

	if (err != 0)
		return err;
	for (i = 0; i < c->n_vms; i++) {
		err = sg_routing_add(dp.routes, c->vms[i].prefix, c->vms[i].prefix_len, i);
		if (err != 0)
			return err;
	}
	return 0;
}

static struct sg_worker *worker_new(unsigned id, unsigned lcore)
{
	struct sg_worker *w = rte_zmalloc("sg_worker", sizeof(*w), 64);

	if (w == NULL)
		return NULL;
	w->id = id;
	w->lcore = lcore;
	w->dp = &dp;
	w->nic_txq = (uint16_t)id;
	w->crypto = sg_dpcrypto_create();
	if (w->crypto == NULL) {
		rte_free(w);
		return NULL;
	}
	return w;
}

static int setup_workers(const struct app_conf *c)
{
	unsigned i, n = c->n_lcores;
	size_t sz;

	for (i = 0; i < n; i++) {
		unsigned lcore = c->lcores[i];

		if (!rte_lcore_is_enabled(lcore) || lcore == rte_get_main_lcore()) {
			sg_log(SG_LOG_ERR,
			       "%s: [workers] lcore %u is not a worker lcore of EAL (give it with "
			       "-l/--lcores; the main lcore is the control lcore)",
			       c->file, lcore);
			return -EINVAL;
		}
		dp.workers[i] = worker_new(i, lcore);
		if (dp.workers[i] == NULL)
			return -ENOMEM;
	}
	if (n == 0)
		return -EINVAL;
	dp.n_workers = n;
	dp.ctl = worker_new(n, rte_get_main_lcore());
	if (dp.ctl == NULL)
		return -ENOMEM;
	/* One qsbr slot per worker, and one for the telemetry thread. */
	sz = rte_rcu_qsbr_get_memsize(n + 1);
	dp.qsbr = rte_zmalloc("sg_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (dp.qsbr == NULL || rte_rcu_qsbr_init(dp.qsbr, n + 1) != 0)
		return -ENOMEM;
	ctl.tel_thread_id = n;
	rte_rcu_qsbr_thread_register(dp.qsbr, n);
	return 0;
}

static int setup_rings(const struct app_conf *c)
{
	int socket = (int)rte_socket_id();

	dp.hs_ring = rte_ring_create("sg_hs", RING_HS_LEN, socket, RING_F_SC_DEQ);
	dp.ev_ring = rte_ring_create("sg_ev", rte_align32pow2(2 * c->n_peers + 64), socket,
				     RING_F_SC_DEQ);
	if (dp.hs_ring == NULL || dp.ev_ring == NULL)
		return -ENOMEM;
	if (ctl.has_extra_rxq) {
		dp.workers[0]->redirect =
			rte_ring_create("sg_redirect", 1024, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (dp.workers[0]->redirect == NULL)
			return -ENOMEM;
	}
	return 0;
}

static void setup_gw(const struct app_conf *c)
{
	dp.gw.has_v4 = c->has_v4;
	dp.gw.has_v6 = c->has_v6;
	memcpy(dp.gw.v4, c->v4, 4);
	memcpy(dp.gw.v6, c->v6, 16);
	sg_ipv6_link_local(dp.gw.v6_ll, &dp.gw.mac);
	dp.gw.port_be = rte_cpu_to_be_16(c->listen_port);
	dp.gw.mtu = c->mtu ? c->mtu : SG_DEFAULT_MTU;
	dp.gw.v4_ttl = 64;
	dp.idle_sleep_us = c->idle_sleep_us;
	dp.burst = c->burst ? c->burst : SG_BURST_DEFAULT;
	ctl.tc.params = c->timers;
	/* The protocol's rekey rules apply anyway; a shorter time is the gateway's own. */
	if (c->timers.rekey_after_time < SG_REKEY_AFTER_TIME_S)
		ctl.tc.rekey_after_time_s = c->timers.rekey_after_time;
	ctl.tc.status_interval_s = c->status_interval_s;
}

static int setup(const struct app_conf *c)
{
	unsigned i;
	int rc;

	dp.pool = rte_pktmbuf_pool_create("sg_pool", c->mbufs ? c->mbufs : 8191, 256,
					  SG_MBUF_PRIV_SIZE, RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (dp.pool == NULL) {
		sg_log(SG_LOG_ERR, "cannot create the mbuf pool: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	rc = setup_workers(c);
	if (rc == 0)
		rc = setup_nic(c);
	if (rc == 0)
		setup_gw(c);
	for (i = 0; rc == 0 && i < c->n_vms; i++)
		rc = setup_vm(c, i);
	dp.n_vms = c->n_vms;
	if (rc == 0)
		rc = setup_rings(c);
	if (rc == 0)
		rc = setup_peers(c);
	if (rc == 0)
		rc = setup_routes(c);
	if (rc == 0)
		rc = sg_ctl_init(&ctl, &dp, c->private_key);
	if (rc == 0)
		rc = sg_telemetry_register(&ctl);
	return rc;
}

static void teardown(void)
{
	uint16_t port;
	unsigned i;

	RTE_ETH_FOREACH_DEV (port) {
		rte_eth_dev_stop(port);
		rte_eth_dev_close(port);
	}
	sg_ctl_fini(&ctl);
	sg_allowedips_destroy(dp.aips);
	sg_peers_destroy(dp.peers);
	sg_routing_free(dp.routes);
	for (i = 0; i < dp.n_workers; i++) {
		sg_dpcrypto_destroy(dp.workers[i]->crypto);
		rte_free(dp.workers[i]);
	}
	if (dp.ctl != NULL)
		sg_dpcrypto_destroy(dp.ctl->crypto);
	rte_free(dp.ctl);
}

/* --check: validate the file without starting EAL. */
static int check_only(int argc, char **argv)
{
	struct app_args a = { 0 };
	struct app_conf c = { 0 };
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
	rc = app_conf_load(&c, a.config);
	app_conf_free(&c);
	if (rc == 0)
		printf("%s: ok\n", a.config);
	return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct app_args a = { 0 };
	static struct app_conf c;
	unsigned i, lcore;
	int n, rc;

	if (sg_crypto_init() != 0)
		return 1;
	for (i = 1; i < (unsigned)argc; i++)
		if (strcmp(argv[i], "--check") == 0)
			return check_only(argc, argv);
	n = rte_eal_init(argc, argv);
	if (n < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed: %s\n", rte_strerror(rte_errno));
	argv[n] = argv[0];
	if (parse_args(argc - n, argv + n, &a) != 0) {
		usage(argv[0]);
		rte_exit(EXIT_FAILURE, "bad arguments\n");
	}
	c.mbufs = a.mbufs;
	c.idle_sleep_us = a.idle_sleep_us;
	c.status_interval_s = a.status_interval_s;
	if (app_conf_load(&c, a.config) != 0)
		rte_exit(EXIT_FAILURE, "bad configuration\n");
	ctl.always_under_load = a.under_load;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = setup(&c);
	app_conf_free(&c);
	if (rc != 0) {
		teardown();
		rte_eal_cleanup();
		rte_exit(EXIT_FAILURE, "setup failed: %s\n", strerror(-rc));
	}
	for (i = 0; i < dp.n_workers; i++)
		rte_eal_remote_launch(sg_worker_main, dp.workers[i], dp.workers[i]->lcore);
	sg_log(SG_LOG_INFO,
	       "sixgate running: %u workers, %u VMs, %u peers, listen port %u, burst %u",
	       dp.n_workers, dp.n_vms, sg_peers_count(dp.peers), rte_be_to_cpu_16(dp.gw.port_be),
	       dp.burst);
	sg_ctl_run(&ctl);
	RTE_LCORE_FOREACH_WORKER (lcore)
		rte_eal_wait_lcore(lcore);
	sg_log(SG_LOG_INFO, "sixgate stopping");
	teardown();
	rte_eal_cleanup();
	return 0;
}
