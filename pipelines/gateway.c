/* SPDX-License-Identifier: MIT */
/*
 * The gateway assembled from its configuration, in one place: the mbuf pool,
 * the worker contexts, the NIC, the VM ports, the rings, the peer and route
 * tables and the control state; and torn down again.  The configuration file
 * is the single source of truth for the ports: sixgate probes the NIC ([nic]
 * device, any DPDK device string) and one port per [vm] itself, and uses an
 * ethdev that already has the device's name as it is.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "lib/allowedips/sg_allowedips.h"
#include "lib/common/sg_prefix.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/dpcrypto/sg_dpcrypto.h"
#include "lib/policy/sg_policy.h"
#include "lib/routing/sg_routing.h"
#include "pipelines/sg_gateway.h"
#include "pipelines/sg_stages.h"

#define RING_HS_LEN	 1024
#define RING_DROP_LEN	 1024 /* dropped frames waiting to be written to a drop capture */
#define NB_DESC		 1024
#define INDEX_BITS_MIN	 16
#define INDEX_BITS_MAX	 24
#define DEVARGS_MAX	 320
#define TX_CSUM_OFFLOADS (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)

/* A locally administered MAC the gateway uses toward the VMs. */
static const struct rte_ether_addr vm_side_mac = { { 0x02, 0x00, 0x00, 0x5e, 0x00, 0x01 } };

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
		      uint64_t tx_offloads, uint64_t rss_hf)
{
	struct rte_eth_conf conf;
	uint16_t nrxd = NB_DESC, ntxd = NB_DESC, q;
	int socket = rte_eth_dev_socket_id(port);

	memset(&conf, 0, sizeof(conf));
	conf.txmode.offloads = tx_offloads;
	/* Several RX queues on a NIC that hashes: spread peers by their outer UDP 4-tuple. */
	if (nb_rx > 1 && rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
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

/* Whether the PMD ties RX and TX queues into pairs (each RX queue then needs a poller). */
static bool queues_are_pairs(const char *driver)
{
	return strcmp(driver, "net_af_packet") == 0 || strcmp(driver, "net_af_xdp") == 0;
}

/* af_packet and af_xdp take their queue counts as devargs. */
static void nic_devargs(char *out, size_t len, const char *device, unsigned pairs)
{
	snprintf(out, len, "%s", device);
	if (strncmp(out, "net_af_packet", 13) == 0 && strstr(out, "qpairs=") == NULL)
		snprintf(out + strlen(out), len - strlen(out), ",qpairs=%u", pairs);
	if (strncmp(out, "net_af_xdp", 10) == 0 && strstr(out, "queue_count=") == NULL)
		snprintf(out + strlen(out), len - strlen(out), ",queue_count=%u", pairs);
}

static int setup_nic(struct sg_gateway *gw, const struct sg_config *cfg)
{
	struct sg_dp *dp = &gw->dp;
	struct rte_eth_dev_info info;
	char devargs[DEVARGS_MAX];
	unsigned n_rx = cfg->nic.rx_queues, n_tx = cfg->nic.tx_queues, i;
	uint64_t rss_hf;
	int rc;

	if (n_tx < dp->n_workers + 1) {
		sg_log(SG_LOG_ERR,
		       "%s:%u: [nic] tx_queues is %u, needs one per worker plus one (%u)",
		       cfg->file, cfg->nic.line, n_tx, dp->n_workers + 1);
		return -EINVAL;
	}
	nic_devargs(devargs, sizeof(devargs), cfg->nic.device, n_rx > n_tx ? n_rx : n_tx);
	rc = probe_port(devargs, &dp->nic_port);
	if (rc != 0)
		return rc;
	gw->nic_open = true;
	rte_eth_dev_info_get(dp->nic_port, &info);
	/*
	 * Every RX queue of these PMDs receives, whatever was asked: the workers
	 * poll them all, so that no data packet waits for another lcore.
	 */
	if (queues_are_pairs(info.driver_name) && n_tx > n_rx)
		n_rx = n_tx;
	if (n_tx > info.max_tx_queues || n_rx > info.max_rx_queues) {
		sg_log(SG_LOG_ERR, "NIC %s: needs %u RX and %u TX queues, has %u and %u",
		       cfg->nic.device, n_rx, n_tx, info.max_rx_queues, info.max_tx_queues);
		return -EINVAL;
	}
	/* Outer checksums on TX by the NIC when it has both; in software otherwise. */
	dp->gw.tx_csum_offload = (info.tx_offload_capa & TX_CSUM_OFFLOADS) == TX_CSUM_OFFLOADS;
	/*
	 * A real NIC delivers everything to queue 0 unless told to hash; the
	 * lab's af_packet spreads by its fanout instead (and reports no RSS).
	 */
	rss_hf = info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP);
	rc = setup_port(dp->nic_port, (uint16_t)n_rx, (uint16_t)n_tx, dp->pool,
			dp->gw.tx_csum_offload ? TX_CSUM_OFFLOADS : 0, rss_hf);
	if (rc != 0) {
		sg_log(SG_LOG_ERR, "NIC %s: cannot configure/start", cfg->nic.device);
		return rc;
	}
	dp->n_nic_rxq = n_rx;
	for (i = 0; i < n_rx; i++) {
		struct sg_worker *w = dp->workers[i % dp->n_workers];

		w->nic_rxq[w->n_nic_rxq++] = (uint16_t)i;
	}
	dp->ctl->nic_txq = (uint16_t)dp->n_workers;
	rte_eth_macaddr_get(dp->nic_port, &dp->gw.mac);
	sg_log(SG_LOG_INFO,
	       "NIC %s: port %u driver %s, %u RX / %u TX queues (RSS %s), TX checksums %s", devargs,
	       dp->nic_port, info.driver_name, n_rx, n_tx,
	       n_rx > 1 && rss_hf != 0 ? "on IP/UDP" : "off",
	       dp->gw.tx_csum_offload ? "by the NIC" : "in software");
	return 0;
}

static void close_port(uint16_t port)
{
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
}

/*
 * Stops, closes and unplugs a VM's port, so that its device name (net_vhostN)
 * can be probed again by a later vm add into the same slot.
 */
static void remove_port(uint16_t port)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;

	if (rte_eth_dev_info_get(port, &info) == 0)
		dev = info.device;
	close_port(port);
	if (dev != NULL && rte_dev_remove(dev) != 0)
		sg_log(SG_LOG_WARN, "port %u: cannot unplug its device", port);
}

/* VM i's pool, port and ring; its name and addresses are set already. */
static int vm_open(struct sg_vm *vm, unsigned i, const struct sg_config_vm *cv, bool *port_open)
{
	char devargs[DEVARGS_MAX], name[RTE_RING_NAMESIZE];
	struct stat sb;
	int rc;

	if (cv->device != NULL) {
		snprintf(devargs, sizeof(devargs), "%s", cv->device);
	} else {
		snprintf(devargs, sizeof(devargs), "net_vhost%u,iface=%s,queues=1,client=0", i,
			 cv->socket);
		/* A socket left by an earlier run would make the vhost server fail to bind. */
		if (stat(cv->socket, &sb) == 0 && S_ISSOCK(sb.st_mode))
			unlink(cv->socket);
	}
	/* A slot left by vm rm keeps its pool and ring: the new VM takes them over. */
	snprintf(name, sizeof(name), "sg_vm%u", i);
	if (vm->pool == NULL)
		vm->pool = rte_pktmbuf_pool_create(name, SG_VM_MBUFS, 64, SG_MBUF_PRIV_SIZE,
						   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	snprintf(name, sizeof(name), "sg_vmtx%u", i);
	if (vm->txr == NULL)
		vm->txr = rte_ring_create(name, SG_VM_TXRING_LEN, (int)rte_socket_id(),
					  RING_F_SC_DEQ);
	if (vm->pool == NULL || vm->txr == NULL) {
		sg_log(SG_LOG_ERR, "VM %s: cannot create its mbuf pool and ring: %s", cv->name,
		       rte_strerror(rte_errno));
		return -ENOMEM;
	}
	rc = probe_port(devargs, &vm->port_id);
	if (rc != 0)
		return rc;
	*port_open = true;
	rc = setup_port(vm->port_id, 1, 1, vm->pool, 0, 0);
	if (rc != 0)
		sg_log(SG_LOG_ERR, "VM %s: cannot configure/start its port", cv->name);
	return rc;
}

/* The first slot a vm rm left, or the next new one. */
static unsigned free_slot(const struct sg_dp *dp)
{
	unsigned i;

	for (i = 0; i < dp->n_vms; i++)
		if (dp->vms[i].detached)
			return i;
	return dp->n_vms;
}

int sg_gateway_vm_add(struct sg_gateway *gw, const struct sg_config_vm *cv)
{
	struct sg_dp *dp = &gw->dp;
	unsigned i = free_slot(dp);
	struct sg_vm *vm = &dp->vms[i];
	struct rte_mempool *pool;
	struct rte_ring *txr;
	struct sg_worker *owner;
	bool port_open = false, reuse = i < dp->n_vms;
	int rc;

	if (i >= SG_MAX_VMS)
		return -ENOSPC;
	pool = vm->pool;
	txr = vm->txr;
	memset(vm, 0, sizeof(*vm));
	/* Telemetry skips the slot until it is whole. */
	vm->detached = reuse;
	vm->pool = pool;
	vm->txr = txr;
	snprintf(vm->name, sizeof(vm->name), "%s", cv->name);
	vm->owner = i % dp->n_workers;
	memcpy(vm->prefix, cv->prefix.addr, 16);
	vm->prefix_len = cv->prefix.len;
	memcpy(vm->org, cv->network.addr, 16);
	vm->org_len = cv->network.len;
	vm->gw_mac = vm_side_mac;
	if (cv->has_mac) {
		struct rte_ether_addr a;

		memcpy(a.addr_bytes, cv->mac, 6);
		atomic_init(&vm->vm_mac, sg_mac_to_u64(&a));
		vm->vm_mac_fixed = true;
	}
	rc = vm_open(vm, i, cv, &port_open);
	if (rc == 0)
		rc = sg_routing_add(dp->routes, vm->prefix, vm->prefix_len, i);
	if (rc != 0) {
		if (port_open)
			remove_port(vm->port_id);
		if (!reuse) {
			rte_ring_free(vm->txr);
			rte_mempool_free(vm->pool);
			vm->txr = NULL;
			vm->pool = NULL;
		}
		pool = vm->pool;
		txr = vm->txr;
		memset(vm, 0, sizeof(*vm));
		vm->detached = reuse;
		vm->pool = pool;
		vm->txr = txr;
		return rc;
	}
	/* Workers may be running (a VM attached at run time): the slot first, then the counts. */
	owner = dp->workers[vm->owner];
	__atomic_store_n(&owner->vms[owner->n_vms], i, __ATOMIC_RELAXED);
	__atomic_store_n(&owner->n_vms, owner->n_vms + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&vm->detached, false, __ATOMIC_RELEASE);
	if (!reuse)
		dp->n_vms++;
	sg_log(SG_LOG_INFO, "VM %s: port %u %s, worker %u", cv->name, vm->port_id,
	       cv->device != NULL ? cv->device : cv->socket, vm->owner);
	return 0;
}

int sg_gateway_vm_attach(struct sg_gateway *gw, const struct sg_config_vm *cv)
{
	struct sg_dp *dp = &gw->dp;
	uint8_t last[16];

	if (cv->prefix.family != AF_INET6 || cv->prefix.len != 112 ||
	    cv->network.family != AF_INET6 || cv->network.len > 64 ||
	    !sg_prefix_contains(cv->network.addr, cv->network.len, cv->prefix.addr))
		return -EINVAL;
	memcpy(last, cv->prefix.addr, 16);
	last[14] = last[15] = 0xff;
	for (unsigned i = 0; i < dp->n_vms; i++) {
		const struct sg_vm *vm = &dp->vms[i];

		if (vm->detached)
			continue;
		if (strcmp(vm->name, cv->name) == 0)
			return -EEXIST;
		/* Two /112s overlap only when equal. */
		if (sg_prefix_contains(vm->prefix, vm->prefix_len, cv->prefix.addr) ||
		    sg_prefix_contains(vm->prefix, vm->prefix_len, last))
			return -EADDRINUSE;
	}
	return sg_gateway_vm_add(gw, cv);
}

/* Takes VM vmi out of its owner's poll set; a worker mid-round polls it once more at most. */
static void unpoll(struct sg_dp *dp, unsigned vmi)
{
	struct sg_worker *owner = dp->workers[dp->vms[vmi].owner];
	unsigned k, last = owner->n_vms - 1;

	for (k = 0; k < owner->n_vms && owner->vms[k] != vmi; k++)
		;
	if (k == owner->n_vms)
		return;
	/* The last one moves into the hole first (polled twice at most), then the count drops. */
	__atomic_store_n(&owner->vms[k], owner->vms[last], __ATOMIC_RELAXED);
	__atomic_store_n(&owner->n_vms, last, __ATOMIC_RELEASE);
}

/* Frees what waits for VM vmi (its hand-off ring, the owner's pending list) as vm_removed. */
static void drain(struct sg_dp *dp, struct sg_vm *vm)
{
	struct rte_mbuf *m;
	unsigned i;

	while (rte_ring_dequeue(vm->txr, (void **)&m) == 0)
		sg_drop(dp->ctl, m, SG_DROP_VM_REMOVED);
	for (i = 0; i < vm->n_pend; i++)
		sg_drop(dp->ctl, vm->pend[i], SG_DROP_VM_REMOVED);
	__atomic_store_n(&vm->n_pend, 0, __ATOMIC_RELAXED);
}

int sg_gateway_vm_detach(struct sg_gateway *gw, const char *name)
{
	struct sg_dp *dp = &gw->dp;
	struct sg_vm *vm = NULL;
	unsigned i, w;

	for (i = 0; i < dp->n_vms && vm == NULL; i++)
		if (!dp->vms[i].detached && strcmp(dp->vms[i].name, name) == 0)
			vm = &dp->vms[i];
	if (vm == NULL)
		return -ENOENT;
	i = (unsigned)(vm - dp->vms);
	/* No new work for it: no route finds it (sg_routing_delete waits out lookups), no worker polls it. */
	sg_routing_delete(dp->routes, vm->prefix, vm->prefix_len);
	unpoll(dp, i);
	/*
	 * Every worker reports a quiescent state once per round: past it, none is
	 * inside a burst that found this VM, so its ring and pending list are ours.
	 */
	rte_rcu_qsbr_synchronize(dp->qsbr, RTE_QSBR_THRID_INVALID);
	__atomic_store_n(&vm->detached, true, __ATOMIC_RELEASE);
	drain(dp, vm);
	remove_port(vm->port_id);
	/*
	 * Its counters go with it (a later VM in the slot starts from 0).  Its
	 * pool stays: mbufs of it may still be staged for a peer or in the NIC's
	 * TX queue, and they return to it; the next VM in this slot uses it.
	 */
	for (w = 0; w <= dp->n_workers; w++)
		memset(&(w < dp->n_workers ? dp->workers[w] : dp->ctl)->vm_st[i], 0,
		       sizeof(struct sg_vm_stats));
	sg_log(SG_LOG_INFO, "VM %s removed (slot %u)", name, i);
	return 0;
}

static void copy_endpoint(struct sg_endpoint *ep, const struct sg_config_endpoint *ce)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ce->family == AF_INET ? 4 : 6;
	memcpy(ep->addr, ce->addr, ce->family == AF_INET ? 4 : 16);
	ep->port = rte_cpu_to_be_16(ce->port);
	/* The next-hop MAC is learned from the peer's first packet; broadcast until then. */
	memset(ep->mac, 0xff, 6);
}

int sg_gateway_peer_add(struct sg_gateway *gw, const struct sg_config_peer *cp)
{
	struct sg_dp *dp = &gw->dp;
	struct sg_peer_conf pc;
	struct sg_endpoint ep;
	struct sg_peer *p;
	size_t j;
	int err;

	if (sg_peers_count(dp->peers) >= gw->max_peers)
		return -ENOSPC;
	memset(&pc, 0, sizeof(pc));
	pc.name = cp->name;
	memcpy(pc.public_key, cp->public_key, 32);
	if (cp->has_preshared_key)
		memcpy(pc.psk, cp->preshared_key, 32);
	memcpy(pc.org, cp->network.addr, 16);
	pc.org_len = cp->network.len;
	pc.keepalive_s = cp->persistent_keepalive;
	if (cp->has_endpoint) {
		copy_endpoint(&ep, &cp->endpoint);
		pc.endpoint = &ep;
	}
	p = sg_peers_add(dp->peers, &pc, &err);
	sg_wipe(pc.psk, sizeof(pc.psk));
	if (p == NULL)
		return err;
	err = sg_ctl_peer_init(&gw->ctl, p);
	if (err != 0) {
		sg_peers_remove(dp->peers, p);
		return err;
	}
	for (j = 0; err == 0 && j < cp->n_allowed_ips; j++) {
		const struct sg_config_prefix *a = &cp->allowed_ips[j];

		if (sg_allowedips_insert(dp->aips, a->family, a->addr, a->len, p) != 0)
			err = -ENOMEM;
	}
	if (err != 0)
		sg_gateway_peer_remove(gw, p);
	return err;
}

void sg_gateway_peer_remove(struct sg_gateway *gw, struct sg_peer *p)
{
	struct sg_dp *dp = &gw->dp;

	/* No new packet finds it; then no session, handshake or staged packet is left. */
	sg_allowedips_remove_by_peer(dp->aips, p);
	sg_ctl_peer_fini(&gw->ctl, p);
	sg_peers_remove(dp->peers, p);
}

static struct sg_worker *worker_new(struct sg_dp *dp, unsigned id, unsigned lcore,
				    unsigned aips_bits)
{
	struct sg_worker *w = rte_zmalloc("sg_worker", sizeof(*w), 64);

	if (w == NULL)
		return NULL;
	w->id = id;
	w->lcore = lcore;
	w->dp = dp;
	w->nic_txq = (uint16_t)id;
	w->now_ns = sg_now_ns();
	w->icmp_rl = (struct sg_log_rl_state)SG_LOG_RL_INIT(10, 100);
	w->local_rl = (struct sg_log_rl_state)SG_LOG_RL_INIT(100, 1000);
	w->crypto = sg_dpcrypto_create();
	w->aips_cache = rte_zmalloc("sg_aips_cache", sg_allowedips_cache_size(aips_bits), 64);
	if (w->aips_cache != NULL)
		sg_allowedips_cache_init(w->aips_cache, aips_bits);
	w->pol_cache = rte_zmalloc("sg_policy_cache", sizeof(*w->pol_cache), 64);
	if (w->crypto == NULL || w->aips_cache == NULL || w->pol_cache == NULL) {
		sg_dpcrypto_destroy(w->crypto);
		rte_free(w->aips_cache);
		rte_free(w->pol_cache);
		rte_free(w);
		return NULL;
	}
	return w;
}

/* One context per worker lcore, one for the control lcore, and their RCU slots. */
static int setup_workers(struct sg_gateway *gw, const struct sg_config *cfg)
{
	struct sg_dp *dp = &gw->dp;
	unsigned i, n = cfg->workers.n_lcores;
	/* Each worker's allowed-IPs cache: room for a source address per peer. */
	unsigned aips_bits = sg_allowedips_cache_bits(gw->max_peers);
	size_t sz;

	if (n == 0 || n > SG_MAX_WORKERS)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		dp->workers[i] = worker_new(dp, i, cfg->workers.lcores[i], aips_bits);
		if (dp->workers[i] == NULL)
			return -ENOMEM;
		dp->n_workers = i + 1;
	}
	/* The control lcore's data path (keepalives, staged packets, fleet forwards) is small. */
	dp->ctl = worker_new(dp, n, rte_get_main_lcore(), SG_ALLOWEDIPS_CACHE_BITS_MIN);
	if (dp->ctl == NULL)
		return -ENOMEM;
	/* One qsbr slot per worker, and one for the telemetry thread. */
	sz = rte_rcu_qsbr_get_memsize(n + 1);
	dp->qsbr = rte_zmalloc("sg_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (dp->qsbr == NULL || rte_rcu_qsbr_init(dp->qsbr, n + 1) != 0)
		return -ENOMEM;
	gw->ctl.tel_thread_id = n;
	rte_rcu_qsbr_thread_register(dp->qsbr, n);
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

/*
 * Room for three indices a peer at once (previous, current and a next
 * keypair or a handshake) with the index table at most three quarters full
 * (sg_peers_index_alloc's rule): 4 to 8 slots of 20 bytes a peer.  A fourth
 * (a handshake while three keypairs live) comes out of the room that the
 * other peers leave.
 */
static unsigned index_bits(unsigned max_peers)
{
	unsigned bits = INDEX_BITS_MIN;

	while (bits < INDEX_BITS_MAX && ((1ull << bits) / 4 * 3) < 3ull * max_peers)
		bits++;
	return bits;
}

/* The peer, allowed-IPs and route tables, and the rings to the control lcore. */
static int setup_tables(struct sg_gateway *gw, const struct sg_config *cfg)
{
	struct sg_dp *dp = &gw->dp;
	int socket = (int)rte_socket_id();
	struct sg_routing_conf rc = {
		.name = "sg_6pn",
		.socket_id = socket,
		.max_routes = SG_MAX_VMS + 16,
		.synchronize = routes_sync,
		.sync_ctx = dp->qsbr,
	};

	dp->peers =
		sg_peers_create("main", gw->max_peers, index_bits(gw->max_peers), dp->qsbr, socket);
	if (dp->peers == NULL)
		return -ENOMEM;
	sg_peers_set_reject_after(dp->peers,
				  (uint64_t)cfg->timers.reject_after_time * 1000000000ull);
	dp->aips = sg_allowedips_create(aips_retire, dp->peers);
	if (dp->aips == NULL)
		return -ENOMEM;
	dp->hs_ring = rte_ring_create("sg_hs", RING_HS_LEN, socket, RING_F_SC_DEQ);
	dp->ev_ring = rte_ring_create("sg_ev", rte_align32pow2(2 * gw->max_peers + 64), socket,
				      RING_F_SC_DEQ);
	dp->drop_ring = rte_ring_create("sg_drops", RING_DROP_LEN, socket, RING_F_SC_DEQ);
	if (dp->hs_ring == NULL || dp->ev_ring == NULL || dp->drop_ring == NULL)
		return -ENOMEM;
	return sg_routing_create(&dp->routes, &rc);
}

static void setup_gw(struct sg_dp *dp, const struct sg_config *cfg, const struct sg_gateway_opts *o)
{
	dp->gw.has_v4 = cfg->interface.has_address4 != 0;
	dp->gw.has_v6 = cfg->interface.has_address6 != 0;
	memcpy(dp->gw.v4, cfg->interface.address4, 4);
	memcpy(dp->gw.v6, cfg->interface.address6, 16);
	sg_ipv6_link_local(dp->gw.v6_ll, &dp->gw.mac);
	dp->gw.port_be = rte_cpu_to_be_16(cfg->interface.listen_port);
	dp->gw.mtu = cfg->interface.mtu;
	dp->gw.v4_ttl = 64;
	dp->idle_sleep_us = o->idle_sleep_us;
	dp->burst = cfg->workers.burst;
}

/*
 * The NIC's pool holds what the NIC receives and what waits for the VMs: at
 * least every RX descriptor, plus all that each VM may hold of it (its ring
 * and its pending frames), plus room to work, so that a VM that stops
 * draining cannot starve the others.
 */
static unsigned nic_pool_size(const struct sg_config *cfg, const struct sg_gateway_opts *o)
{
	unsigned queues =
		cfg->nic.rx_queues > cfg->nic.tx_queues ? cfg->nic.rx_queues : cfg->nic.tx_queues;
	unsigned need =
		queues * NB_DESC + (unsigned)cfg->n_vms * (SG_VM_TXRING_LEN + SG_VM_PENDING) + 2048;
	unsigned want = o->mbufs ? o->mbufs : SG_DEFAULT_MBUFS;

	return want > need ? want : need;
}

static int build(struct sg_gateway *gw, const struct sg_config *cfg,
		 const struct sg_gateway_opts *o)
{
	struct sg_dp *dp = &gw->dp;
	size_t i;
	int rc;

	dp->pool = rte_pktmbuf_pool_create("sg_pool", nic_pool_size(cfg, o), 256, SG_MBUF_PRIV_SIZE,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (dp->pool == NULL) {
		sg_log(SG_LOG_ERR, "cannot create the mbuf pool: %s", rte_strerror(rte_errno));
		return -ENOMEM;
	}
	/* The peers the tables are sized for: the configuration's and the store's loaded ones. */
	gw->max_peers = (unsigned)cfg->n_peers + 1 + (cfg->store.path ? cfg->store.max_loaded : 0);
	rc = setup_workers(gw, cfg);
	if (rc == 0)
		rc = setup_nic(gw, cfg);
	if (rc != 0)
		return rc;
	setup_gw(dp, cfg, o);
	rc = setup_tables(gw, cfg);
	if (rc == 0)
		rc = sg_gateway_policy_init(gw, cfg);
	if (rc == 0)
		rc = sg_ctl_init(&gw->ctl, dp, cfg, o, gw->max_peers);
	for (i = 0; rc == 0 && i < cfg->n_vms; i++)
		rc = sg_gateway_vm_add(gw, &cfg->vms[i]);
	for (i = 0; rc == 0 && i < cfg->n_peers; i++) {
		rc = sg_gateway_peer_add(gw, &cfg->peers[i]);
		if (rc != 0)
			sg_log(SG_LOG_ERR, "%s:%u: [peer %s] cannot be added: %s", cfg->file,
			       cfg->peers[i].line, cfg->peers[i].name, strerror(-rc));
	}
	if (rc == 0 && cfg->store.path != NULL)
		rc = sg_loader_start(gw, cfg);
	if (rc == 0)
		rc = sg_fleet_start(gw, cfg);
	return rc;
}

struct sg_gateway *sg_gateway_create(const struct sg_config *cfg,
				     const struct sg_gateway_opts *opts, int *err)
{
	static const struct sg_gateway_opts defaults;
	struct sg_gateway *gw = rte_zmalloc("sg_gateway", sizeof(*gw), RTE_CACHE_LINE_SIZE);
	int rc;

	if (gw == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&gw->ctl.tel_lock, NULL);
	pthread_mutex_init(&gw->ctl.req_lock, NULL);
	pthread_cond_init(&gw->ctl.req_cond, NULL);
	rc = build(gw, cfg, opts != NULL ? opts : &defaults);
	if (rc != 0) {
		sg_gateway_destroy(gw);
		*err = rc;
		return NULL;
	}
	sg_gateway_cycles_set(gw, cfg->workers.cycles != 0);
	*err = 0;
	return gw;
}

void sg_gateway_destroy(struct sg_gateway *gw)
{
	struct sg_dp *dp;
	unsigned i;

	if (gw == NULL)
		return;
	dp = &gw->dp;
	/* First: the initiations it holds came from the NIC's pool. */
	sg_loader_stop(gw);
	sg_fleet_stop(gw);
	if (gw->nic_open)
		close_port(dp->nic_port);
	for (i = 0; i < dp->n_vms; i++) {
		/* A removed VM's port is gone already (its id may be another VM's now). */
		if (!dp->vms[i].detached)
			close_port(dp->vms[i].port_id);
		rte_ring_free(dp->vms[i].txr);
	}
	sg_dropcap_close(gw->ctl.dropcap);
	sg_dropcap_close(atomic_exchange(&gw->ctl.dropcap_new, NULL));
	if (dp->drop_ring != NULL) {
		struct rte_mbuf *m;

		while (rte_ring_dequeue(dp->drop_ring, (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(dp->drop_ring);
	}
	sg_ctl_fini(&gw->ctl);
	sg_gateway_policy_fini(gw);
	sg_allowedips_destroy(dp->aips);
	sg_peers_destroy(dp->peers);
	sg_routing_free(dp->routes);
	rte_ring_free(dp->hs_ring);
	rte_ring_free(dp->ev_ring);
	for (i = 0; i < dp->n_workers; i++) {
		sg_dpcrypto_destroy(dp->workers[i]->crypto);
		rte_free(dp->workers[i]->aips_cache);
		rte_free(dp->workers[i]->pol_cache);
		rte_free(dp->workers[i]);
	}
	if (dp->ctl != NULL) {
		sg_dpcrypto_destroy(dp->ctl->crypto);
		rte_free(dp->ctl->aips_cache);
		rte_free(dp->ctl->pol_cache);
	}
	rte_free(dp->ctl);
	rte_free(dp->qsbr);
	/* After the peers: their staged packets came from the VMs' pools. */
	for (i = 0; i < dp->n_vms; i++)
		rte_mempool_free(dp->vms[i].pool);
	rte_mempool_free(dp->pool);
	pthread_mutex_destroy(&gw->ctl.tel_lock);
	pthread_mutex_destroy(&gw->ctl.req_lock);
	pthread_cond_destroy(&gw->ctl.req_cond);
	rte_free(gw);
}

void sg_gateway_sum(const struct sg_gateway *gw, struct sg_drop_counters *drops,
		    struct sg_worker_stats *st)
{
	const struct sg_dp *dp = &gw->dp;
	unsigned i;

	memset(drops, 0, sizeof(*drops));
	memset(st, 0, sizeof(*st));
	for (i = 0; i <= dp->n_workers; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;
		const uint64_t *a = (const uint64_t *)&w->st;
		uint64_t *b = (uint64_t *)st;
		size_t k;

		if (w == NULL)
			continue;
		sg_drop_sum(drops, &w->drops);
		for (k = 0; k < sizeof(*st) / sizeof(uint64_t); k++)
			b[k] += a[k];
	}
}

const char *sg_stage_name(enum sg_stage s)
{
	static const char *const names[SG_STAGE_MAX] = {
		[SG_STAGE_NIC_INPUT] = "nic_input",
		[SG_STAGE_INGRESS] = "ingress",
		[SG_STAGE_EGRESS] = "egress",
		[SG_STAGE_VM_RX] = "vm_rx",
	};

	return (unsigned)s < SG_STAGE_MAX ? names[s] : "?";
}

void sg_gateway_cycles_set(struct sg_gateway *gw, bool on)
{
	struct sg_dp *dp = &gw->dp;
	unsigned i;

	for (i = 0; i <= dp->n_workers; i++) {
		struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;

		if (w != NULL)
			atomic_store_explicit(&w->cycles_on, on, memory_order_relaxed);
	}
}

bool sg_gateway_cycles_on(const struct sg_gateway *gw)
{
	const struct sg_dp *dp = &gw->dp;

	return dp->n_workers > 0 && dp->workers[0] != NULL &&
	       atomic_load_explicit(&dp->workers[0]->cycles_on, memory_order_relaxed);
}

void sg_gateway_cycles_sum(const struct sg_gateway *gw, struct sg_stage_cycles *out)
{
	const struct sg_dp *dp = &gw->dp;
	unsigned i, s;

	memset(out, 0, SG_STAGE_MAX * sizeof(*out));
	for (i = 0; i <= dp->n_workers; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;

		if (w == NULL)
			continue;
		for (s = 0; s < SG_STAGE_MAX; s++) {
			out[s].cycles += w->cyc[s].cycles;
			out[s].pkts += w->cyc[s].pkts;
		}
	}
}

void sg_gateway_vm_sum(const struct sg_gateway *gw, unsigned vmi, struct sg_vm_stats *out)
{
	const struct sg_dp *dp = &gw->dp;
	unsigned i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i <= dp->n_workers && vmi < SG_MAX_VMS; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;

		if (w == NULL)
			continue;
		out->rx += w->vm_st[vmi].rx;
		out->rx_refused += w->vm_st[vmi].rx_refused;
		out->tx += w->vm_st[vmi].tx;
		out->tx_full += w->vm_st[vmi].tx_full;
	}
}

uint64_t sg_gateway_in_flight(const struct sg_gateway *gw)
{
	const struct sg_dp *dp = &gw->dp;
	uint64_t n = rte_ring_count(dp->hs_ring);
	unsigned i;

	for (i = 0; i < dp->n_vms; i++)
		n += rte_ring_count(dp->vms[i].txr) +
		     __atomic_load_n(&dp->vms[i].n_pend, __ATOMIC_RELAXED);
	n += sg_loader_held(gw->ctl.loader);
	if (dp->fwd_ring != NULL)
		n += rte_ring_count(dp->fwd_ring);
	for (i = 0; i < sg_peers_slots(dp->peers); i++)
		if (sg_peers_at(dp->peers, i) != NULL)
			n += sg_peer_staged_count(sg_peers_at(dp->peers, i));
	return n;
}

int64_t sg_gateway_summary(const struct sg_gateway *gw)
{
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	uint64_t dropped = 0, in_flight = sg_gateway_in_flight(gw), lhs, rhs;
	char line[1024];
	size_t at = 0;
	unsigned r;

	sg_gateway_sum(gw, &drops, &st);
	line[0] = '\0';
	for (r = 1; r < SG_DROP_MAX; r++) {
		dropped += drops.n[r];
		if (drops.n[r] != 0 && at < sizeof(line))
			at += (size_t)snprintf(line + at, sizeof(line) - at, " %s=%lu",
					       sg_drop_name(r), (unsigned long)drops.n[r]);
	}
	lhs = st.nic_rx + st.vm_rx + st.made;
	rhs = st.nic_tx + st.vm_tx + dropped + st.consumed + in_flight;
	sg_log(SG_LOG_INFO,
	       "final counters: received=%lu (nic %lu, vm %lu) made=%lu sent=%lu (nic %lu, vm %lu) "
	       "dropped=%lu consumed=%lu in_flight=%lu: %s",
	       (unsigned long)(st.nic_rx + st.vm_rx), (unsigned long)st.nic_rx,
	       (unsigned long)st.vm_rx, (unsigned long)st.made,
	       (unsigned long)(st.nic_tx + st.vm_tx), (unsigned long)st.nic_tx,
	       (unsigned long)st.vm_tx, (unsigned long)dropped, (unsigned long)st.consumed,
	       (unsigned long)in_flight, lhs == rhs ? "adds up" : "DOES NOT ADD UP");
	sg_log(SG_LOG_INFO, "final drops:%s", dropped ? line : " none");
	return (int64_t)(lhs - rhs);
}
