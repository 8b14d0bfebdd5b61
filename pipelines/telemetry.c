/* SPDX-License-Identifier: MIT */
/*
 * sixgate's telemetry commands, served by DPDK's telemetry socket and read
 * with the stock dpdk-telemetry.py:
 *
 *   /sixgate/counters           rx/tx/crypto counts and every drop reason
 *   /sixgate/peers[,NAME]       peers: key, endpoint, traffic, last handshake
 *   /sixgate/sessions           keypairs: indices, age, nonces used
 *   /sixgate/routes             the VMs' /112 routes and ports
 *   /sixgate/ports              per port (the NIC, each VM): packets, drops, queues
 *   /sixgate/capture_drops[,FILE[,N] | ,off]   dropped frames with their reasons to pcapng
 *   /sixgate/policy             the policy: file, rules, compile time, hits
 *   /sixgate/policy_reload      reads the policy file again (as SIGHUP does)
 *   /sixgate/cycles[,on|off]    TSC cycles per packet of each stage, per worker
 *
 * Handlers run in DPDK's telemetry thread.  They read keypairs as an RCU
 * reader (a qsbr slot of their own, online only while a handler runs), so the
 * control lcore never frees a keypair a handler still looks at.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include "pipelines/sg_gateway.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/policy/sg_policy.h"
#include "lib/routing/sg_routing.h"
#include "lib/store/sg_store.h"

static struct sg_gateway *tel_gw;

/* Telemetry names allow only [A-Za-z0-9_/]; anything else becomes '_'. */
static void tel_name(char *out, size_t len, const char *in)
{
	size_t i;

	for (i = 0; i + 1 < len && in[i] != '\0'; i++) {
		char ch = in[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '_' || ch == '/';
		out[i] = ok ? ch : '_';
	}
	out[i] = '\0';
}

/* Adds container c to d under name; frees c when d refuses it (full). */
static int add_container(struct rte_tel_data *d, const char *name, struct rte_tel_data *c)
{
	if (rte_tel_data_add_dict_container(d, name, c, 0) == 0)
		return 0;
	rte_tel_data_free(c);
	return -ENOSPC;
}

/*
 * Listings come in pages small enough for one telemetry reply (16 KB): a
 * page that is not the last says where the next one starts under "/next",
 * a key no peer name can take ('/' is not allowed in names).  params is
 * "from=N" (N a peer number) or empty.
 */
#define PEERS_PER_PAGE	  32
#define SESSIONS_PER_PAGE 64

static int page_start(const char *params, unsigned *from)
{
	char *end;
	unsigned long v;

	*from = 0;
	if (params == NULL || params[0] == '\0')
		return 0;
	if (strncmp(params, "from=", 5) != 0)
		return 1;
	v = strtoul(params + 5, &end, 10);
	if (end == params + 5 || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*from = (unsigned)v;
	return 0;
}

/* A slot that vm rm emptied (or that vm add is filling again). */
static bool vm_gone(const struct sg_vm *vm)
{
	return __atomic_load_n(&vm->detached, __ATOMIC_ACQUIRE);
}

static void reader_enter(void)
{
	pthread_mutex_lock(&tel_gw->ctl.tel_lock);
	rte_rcu_qsbr_thread_online(tel_gw->dp.qsbr, tel_gw->ctl.tel_thread_id);
}

static void reader_leave(void)
{
	rte_rcu_qsbr_thread_offline(tel_gw->dp.qsbr, tel_gw->ctl.tel_thread_id);
	pthread_mutex_unlock(&tel_gw->ctl.tel_lock);
}

/* One counter of every worker, as an array (the control lcore last). */
static void per_worker(struct rte_tel_data *d, const char *name, size_t off)
{
	const struct sg_dp *dp = &tel_gw->dp;
	struct rte_tel_data *a = rte_tel_data_alloc();
	unsigned i;

	if (a == NULL)
		return;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (i = 0; i <= dp->n_workers; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;

		rte_tel_data_add_array_u64(a, *(const uint64_t *)((const char *)&w->st + off));
	}
	add_container(d, name, a);
}

/* The worker counters of /sixgate/counters, summed over every lcore. */
#define WORKER_COUNTER(f)                               \
	{                                               \
#f, offsetof(struct sg_worker_stats, f) \
	}
static const struct {
	const char *name;
	size_t off;
} worker_counters[] = {
	WORKER_COUNTER(nic_rx),	      WORKER_COUNTER(nic_tx),	     WORKER_COUNTER(vm_rx),
	WORKER_COUNTER(vm_tx),	      WORKER_COUNTER(decrypted),     WORKER_COUNTER(encrypted),
	WORKER_COUNTER(keepalive_rx), WORKER_COUNTER(keepalive_tx),  WORKER_COUNTER(handshake_rx),
	WORKER_COUNTER(staged),	      WORKER_COUNTER(local_replies), WORKER_COUNTER(roams),
};

static int cmd_counters(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_control_stats *cs = &tel_gw->ctl.core.stats;
	const struct sg_ctl_stats *ls = &tel_gw->ctl.st;
	const struct sg_peers *peers = tel_gw->dp.peers;
	const struct {
		const char *name;
		uint64_t v;
	} control[] = {
		{ "initiations_rx", cs->init_rx },
		{ "responses_tx", cs->resp_tx },
		{ "initiations_tx", cs->init_tx },
		{ "responses_rx", cs->resp_rx },
		{ "cookie_replies_tx", cs->cookie_tx },
		{ "cookie_replies_rx", cs->cookie_rx },
		{ "rekeys", ls->rekeys },
		{ "confirmed", ls->confirmed },
		{ "expired", ls->expired },
		{ "give_up", ls->give_up },
		{ "ticks", ls->ticks },
		{ "tick_visits", ls->tick_visits },
		{ "tick_visits_max", ls->tick_visits_max },
		{ "timers_queued", sg_timers_queue_len(&tel_gw->ctl.due) },
		{ "workers", tel_gw->dp.n_workers },
		{ "peers", sg_peers_count(peers) },
		{ "keypairs_alive", sg_peers_keypairs_alive(peers) },
		{ "deferred_frees", sg_peers_deferred(peers) },
		/* Draining after SIGTERM: a health check withdraws the gateway's routes. */
		{ "stopping", atomic_load(&tel_gw->dp.stopping) },
	};
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	struct rte_tel_data *dd;
	uint64_t total = 0;
	unsigned i;

	(void)cmd;
	(void)params;
	sg_gateway_sum(tel_gw, &drops, &st);
	rte_tel_data_start_dict(d);
	for (i = 0; i < RTE_DIM(worker_counters); i++)
		rte_tel_data_add_dict_u64(
			d, worker_counters[i].name,
			*(const uint64_t *)((const char *)&st + worker_counters[i].off));
	for (i = 0; i < RTE_DIM(control); i++)
		rte_tel_data_add_dict_u64(d, control[i].name, control[i].v);
	dd = rte_tel_data_alloc();
	if (dd == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(dd);
	for (i = 1; i < SG_DROP_MAX; i++) {
		rte_tel_data_add_dict_u64(dd, sg_drop_name(i), drops.n[i]);
		total += drops.n[i];
	}
	rte_tel_data_add_dict_u64(d, "drops_total", total);
	add_container(d, "drops", dd);
	per_worker(d, "worker_nic_rx", offsetof(struct sg_worker_stats, nic_rx));
	per_worker(d, "worker_vm_rx", offsetof(struct sg_worker_stats, vm_rx));
	per_worker(d, "worker_decrypted", offsetof(struct sg_worker_stats, decrypted));
	per_worker(d, "worker_encrypted", offsetof(struct sg_worker_stats, encrypted));
	/* Poll rounds: a worker whose count stops moving is stuck (sixgatectl health). */
	per_worker(d, "worker_loops", offsetof(struct sg_worker_stats, loops));
	return 0;
}

static void endpoint_str(char *buf, size_t len, const struct sg_endpoint *ep)
{
	char a[INET6_ADDRSTRLEN];

	if (ep->family == 0) {
		snprintf(buf, len, "(none)");
		return;
	}
	inet_ntop(ep->family == 4 ? AF_INET : AF_INET6, ep->addr, a, sizeof(a));
	snprintf(buf, len, ep->family == 4 ? "%s:%u" : "[%s]:%u", a, ntohs(ep->port));
}

static void peer_dict(struct rte_tel_data *d, struct sg_peer *p)
{
	const struct sg_ctl_peer *cp = p->ctl;
	char buf[128], a[INET6_ADDRSTRLEN];
	struct sg_endpoint ep;
	uint64_t now_wall = (uint64_t)time(NULL);

	rte_tel_data_start_dict(d);
	sg_key_to_base64(buf, p->public_key);
	rte_tel_data_add_dict_string(d, "public_key", buf);
	sg_peer_endpoint_get(p, &ep);
	endpoint_str(buf, sizeof(buf), &ep);
	rte_tel_data_add_dict_string(d, "endpoint", buf);
	inet_ntop(AF_INET6, p->org, a, sizeof(a));
	snprintf(buf, sizeof(buf), "%s/%u", a, p->org_len);
	rte_tel_data_add_dict_string(d, "org", buf);
	rte_tel_data_add_dict_u64(d, "rx_bytes", atomic_load(&p->st.rx_bytes));
	rte_tel_data_add_dict_u64(d, "tx_bytes", atomic_load(&p->st.tx_bytes));
	rte_tel_data_add_dict_u64(d, "rx_packets", atomic_load(&p->st.rx_packets));
	rte_tel_data_add_dict_u64(d, "tx_packets", atomic_load(&p->st.tx_packets));
	rte_tel_data_add_dict_u64(d, "handshakes", cp->cp.handshakes);
	rte_tel_data_add_dict_u64(d, "latest_handshake_unix",
				  cp->last_handshake_ns / 1000000000ull);
	rte_tel_data_add_dict_u64(
		d, "latest_handshake_age_s",
		cp->last_handshake_ns ? now_wall - cp->last_handshake_ns / 1000000000ull : 0);
	rte_tel_data_add_dict_u64(d, "staged", sg_peer_staged_count(p));
	rte_tel_data_add_dict_u64(d, "staged_dropped", cp->staged_dropped);
	rte_tel_data_add_dict_int(
		d, "session", atomic_load(&p->kp_cur) != NULL || atomic_load(&p->kp_next) != NULL);
}

static int peer_by_name(struct sg_peers *t, const char *name, struct rte_tel_data *d)
{
	unsigned i, n = sg_peers_slots(t);

	for (i = 0; i < n; i++) {
		struct sg_peer *p = sg_peers_at(t, i);

		if (p != NULL && strcmp(p->name, name) == 0) {
			peer_dict(d, p);
			return 0;
		}
	}
	return -ENOENT;
}

static int cmd_peers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sg_peers *t = tel_gw->dp.peers;
	unsigned i, from, n = sg_peers_slots(t), listed = 0;
	char name[64];
	int rc = page_start(params, &from);

	(void)cmd;
	if (rc < 0)
		return rc;
	reader_enter();
	if (rc > 0) {
		rc = peer_by_name(t, params, d);
		reader_leave();
		return rc;
	}
	rte_tel_data_start_dict(d);
	for (i = from; i < n && listed < PEERS_PER_PAGE; i++) {
		struct sg_peer *p = sg_peers_at(t, i);
		struct rte_tel_data *pd;

		if (p == NULL)
			continue;
		pd = rte_tel_data_alloc();
		if (pd == NULL)
			break;
		peer_dict(pd, p);
		tel_name(name, sizeof(name), p->name);
		if (add_container(d, name, pd) != 0)
			break;
		listed++;
	}
	if (i < n)
		rte_tel_data_add_dict_u64(d, "/next", i);
	reader_leave();
	return 0;
}

/* Adds the keypair kp (if any) of peer's slot; -ENOSPC when d is full. */
static int session_add(struct rte_tel_data *d, const char *peer, const char *slot,
		       struct sg_keypair *kp, uint64_t now)
{
	struct rte_tel_data *sd;
	char name[64], tn[64];

	if (kp == NULL)
		return 0;
	sd = rte_tel_data_alloc();
	if (sd == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(sd);
	rte_tel_data_add_dict_u64(sd, "local_index", kp->local_index);
	rte_tel_data_add_dict_u64(sd, "remote_index", kp->remote_index);
	rte_tel_data_add_dict_u64(sd, "age_ms", (now - kp->birth_ns) / 1000000);
	rte_tel_data_add_dict_u64(sd, "sent", atomic_load(&kp->send_counter));
	rte_tel_data_add_dict_u64(sd, "received_top", kp->replay.top);
	rte_tel_data_add_dict_int(sd, "initiator", kp->initiator);
	rte_tel_data_add_dict_int(sd, "confirmed", atomic_load(&kp->confirmed));
	snprintf(name, sizeof(name), "%s/%s", peer, slot);
	tel_name(tn, sizeof(tn), name);
	return add_container(d, tn, sd);
}

/* The keypairs of peer p: 0, or -ENOSPC when they do not all fit in d (*listed so far). */
static int peer_sessions(struct rte_tel_data *d, struct sg_peer *p, uint64_t now, unsigned *listed)
{
	struct sg_keypair *kps[3] = { atomic_load(&p->kp_cur), atomic_load(&p->kp_next),
				      atomic_load(&p->kp_prev) };
	static const char *const slots[3] = { "current", "next", "previous" };
	unsigned k, want = 0;

	for (k = 0; k < 3; k++)
		want += kps[k] != NULL;
	/* A peer's keypairs are listed together, on one page. */
	if (*listed + want > SESSIONS_PER_PAGE)
		return -ENOSPC;
	for (k = 0; k < 3; k++)
		if (session_add(d, p->name, slots[k], kps[k], now) != 0)
			return -ENOSPC;
	*listed += want;
	return 0;
}

static int cmd_sessions(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sg_peers *t = tel_gw->dp.peers;
	unsigned i, from, listed = 0, n = sg_peers_slots(t);
	uint64_t now = sg_now_ns();

	(void)cmd;
	if (page_start(params, &from) != 0)
		return -EINVAL;
	reader_enter();
	rte_tel_data_start_dict(d);
	for (i = from; i < n; i++)
		if (sg_peers_at(t, i) != NULL &&
		    peer_sessions(d, sg_peers_at(t, i), now, &listed) != 0)
			break;
	if (i < n)
		rte_tel_data_add_dict_u64(d, "/next", i);
	reader_leave();
	return 0;
}

static int cmd_routes(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_dp *dp = &tel_gw->dp;
	char a[INET6_ADDRSTRLEN], buf[128], name[64];
	unsigned i;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "routes", sg_routing_count(dp->routes));
	for (i = 0; i < dp->n_vms; i++) {
		const struct sg_vm *vm = &dp->vms[i];
		struct rte_tel_data *vd;
		struct rte_eth_link link;

		if (vm_gone(vm))
			continue;
		vd = rte_tel_data_alloc();
		if (vd == NULL)
			break;
		rte_tel_data_start_dict(vd);
		inet_ntop(AF_INET6, vm->prefix, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s/%u", a, vm->prefix_len);
		rte_tel_data_add_dict_string(vd, "prefix", buf);
		inet_ntop(AF_INET6, vm->org, a, sizeof(a));
		snprintf(buf, sizeof(buf), "%s/%u", a, vm->org_len);
		rte_tel_data_add_dict_string(vd, "org", buf);
		rte_tel_data_add_dict_u64(vd, "port", vm->port_id);
		rte_tel_data_add_dict_u64(vd, "worker", vm->owner);
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(vm->port_id, &link);
		rte_tel_data_add_dict_int(vd, "link_up", link.link_status);
		tel_name(name, sizeof(name), vm->name);
		add_container(d, name, vd);
	}
	return 0;
}

/* The ethdev counters of port into d (what the PMD itself counts). */
static void ethdev_stats(struct rte_tel_data *d, uint16_t port)
{
	struct rte_eth_stats es;

	memset(&es, 0, sizeof(es));
	rte_eth_stats_get(port, &es);
	rte_tel_data_add_dict_u64(d, "port", port);
	rte_tel_data_add_dict_u64(d, "ethdev_ipackets", es.ipackets);
	rte_tel_data_add_dict_u64(d, "ethdev_opackets", es.opackets);
	rte_tel_data_add_dict_u64(d, "ethdev_imissed", es.imissed);
	rte_tel_data_add_dict_u64(d, "ethdev_ierrors", es.ierrors);
	rte_tel_data_add_dict_u64(d, "ethdev_oerrors", es.oerrors);
	rte_tel_data_add_dict_u64(d, "ethdev_rx_nombuf", es.rx_nombuf);
}

static int cmd_ports(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_dp *dp = &tel_gw->dp;
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	struct rte_tel_data *nd;
	char name[64];
	unsigned i;

	(void)cmd;
	(void)params;
	sg_gateway_sum(tel_gw, &drops, &st);
	rte_tel_data_start_dict(d);
	nd = rte_tel_data_alloc();
	if (nd == NULL)
		return -ENOMEM;
	rte_tel_data_start_dict(nd);
	rte_tel_data_add_dict_string(nd, "kind", "nic");
	rte_tel_data_add_dict_u64(nd, "rx", st.nic_rx);
	rte_tel_data_add_dict_u64(nd, "tx", st.nic_tx);
	rte_tel_data_add_dict_u64(nd, "tx_full", drops.n[SG_DROP_NIC_TX_FULL]);
	rte_tel_data_add_dict_u64(nd, "rx_queues", dp->n_nic_rxq);
	ethdev_stats(nd, dp->nic_port);
	add_container(d, "/nic", nd);
	for (i = 0; i < dp->n_vms; i++) {
		const struct sg_vm *vm = &dp->vms[i];
		struct rte_tel_data *vd;
		struct sg_vm_stats vs;

		if (vm_gone(vm))
			continue;
		vd = rte_tel_data_alloc();
		if (vd == NULL)
			break;
		sg_gateway_vm_sum(tel_gw, i, &vs);
		rte_tel_data_start_dict(vd);
		rte_tel_data_add_dict_string(vd, "kind", "vm");
		rte_tel_data_add_dict_u64(vd, "worker", vm->owner);
		rte_tel_data_add_dict_u64(vd, "rx", vs.rx);
		rte_tel_data_add_dict_u64(vd, "rx_refused", vs.rx_refused);
		rte_tel_data_add_dict_u64(vd, "tx", vs.tx);
		rte_tel_data_add_dict_u64(vd, "tx_full", vs.tx_full);
		/* Gauges: what waits for the VM now (the owner's pending list, the hand-off ring). */
		rte_tel_data_add_dict_u64(vd, "pending",
					  __atomic_load_n(&vm->n_pend, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(vd, "ring", rte_ring_count(vm->txr));
		ethdev_stats(vd, vm->port_id);
		tel_name(name, sizeof(name), vm->name);
		add_container(d, name, vd);
	}
	return 0;
}

#define POLICY_HITS_MAX 100

/* Per verdict and per rule (the first POLICY_HITS_MAX rules that were hit). */
static void policy_hits(struct rte_tel_data *d, const struct sg_dp_policy *p, unsigned nw)
{
	struct rte_tel_data *h = rte_tel_data_alloc();
	uint64_t allowed = 0, denied = 0, listed = 0;
	char name[64];

	if (h != NULL)
		rte_tel_data_start_dict(h);
	for (uint32_t r = 0; r < p->n_rules; r++) {
		uint64_t n = sg_dp_policy_hits(p, nw, r);

		if (p->allow[r])
			allowed += n;
		else
			denied += n;
		if (n == 0 || h == NULL || listed == POLICY_HITS_MAX)
			continue;
		if (p->lines[r] != 0)
			snprintf(name, sizeof(name), "rule_%u_line_%u", r, p->lines[r]);
		else
			snprintf(name, sizeof(name), "rule_%u_org", r);
		rte_tel_data_add_dict_u64(h, name, n);
		listed++;
	}
	rte_tel_data_add_dict_u64(d, "allowed", allowed);
	rte_tel_data_add_dict_u64(d, "policy_deny", denied);
	rte_tel_data_add_dict_u64(d, "org_isolation", sg_dp_policy_hits(p, nw, p->n_rules));
	if (h != NULL)
		add_container(d, "hits", h);
}

/* The workers' verdict caches: lookups answered from them and classified. */
static void policy_cache(struct rte_tel_data *d, const struct sg_dp *dp)
{
	uint64_t hits = 0, misses = 0;

	for (unsigned i = 0; i < dp->n_workers; i++) {
		const struct sg_policy_cache *c = dp->workers[i]->pol_cache;

		hits += __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
		misses += __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
	}
	rte_tel_data_add_dict_u64(d, "cache_hits", hits);
	rte_tel_data_add_dict_u64(d, "cache_misses", misses);
}

static int cmd_policy(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_dp_policy *p;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&tel_gw->policy_lock);
	p = atomic_load(&tel_gw->dp.policy);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "file", p->file);
	rte_tel_data_add_dict_u64(d, "rules", p->n_rules);
	rte_tel_data_add_dict_u64(d, "compile_us", p->compile_ns / 1000);
	rte_tel_data_add_dict_string(d, "classify", sg_policy_acl_alg(p->acl));
	rte_tel_data_add_dict_u64(d, "loaded_unix", p->loaded_unix);
	rte_tel_data_add_dict_u64(d, "reloads", tel_gw->policy_reloads);
	rte_tel_data_add_dict_u64(d, "reload_failures", tel_gw->policy_reload_failures);
	rte_tel_data_add_dict_u64(d, "store_names", tel_gw->policy_store_refs);
	rte_tel_data_add_dict_u64(d, "store_recompiles", tel_gw->policy_store_recompiles);
	policy_cache(d, &tel_gw->dp);
	policy_hits(d, p, tel_gw->dp.n_workers);
	pthread_mutex_unlock(&tel_gw->policy_lock);
	return 0;
}

static int cmd_policy_reload(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char msg[SG_POLICY_ERR_LEN];
	int rc;

	(void)cmd;
	(void)params;
	rc = sg_gateway_policy_reload(tel_gw, msg, sizeof(msg));
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "ok", rc == 0);
	rte_tel_data_add_dict_string(d, rc == 0 ? "loaded" : "error", msg);
	if (rc == 0)
		rte_tel_data_add_dict_u64(d, "compile_us",
					  atomic_load(&tel_gw->dp.policy)->compile_ns / 1000);
	return 0;
}

#define DROPCAP_DEFAULT 1000
#define DROPCAP_MAX	10000000

/*
 * No parameter: the state.  "off": stop.  "FILE[,N]": write the next N
 * (default 1000) dropped frames to FILE, a new absolute path, as pcapng.
 */
static int cmd_capture_drops(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_ctl *c = &tel_gw->ctl;
	char path[256], *comma, *end;
	unsigned long long max = DROPCAP_DEFAULT;
	struct sg_dropcap *dc;
	uint64_t lost = 0;
	unsigned i;
	int err;

	(void)cmd;
	if (params != NULL && strcmp(params, "off") == 0) {
		sg_ctl_capture_drops(&tel_gw->ctl, NULL);
	} else if (params != NULL && params[0] != '\0') {
		if (params[0] != '/' || strlen(params) >= sizeof(path))
			return -EINVAL;
		snprintf(path, sizeof(path), "%s", params);
		comma = strrchr(path, ',');
		if (comma != NULL) {
			max = strtoull(comma + 1, &end, 10);
			if (end == comma + 1 || *end != '\0' || max == 0 || max > DROPCAP_MAX)
				return -EINVAL;
			*comma = '\0';
		}
		dc = sg_dropcap_open(path, max, &err);
		if (dc == NULL)
			return err;
		sg_ctl_capture_drops(&tel_gw->ctl, dc);
	}
	for (i = 0; i <= tel_gw->dp.n_workers; i++)
		lost += (i < tel_gw->dp.n_workers ? tel_gw->dp.workers[i] : tel_gw->dp.ctl)
				->dropcap_lost;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "capturing",
				  atomic_load(&tel_gw->dp.drop_capture) ||
					  atomic_load(&c->dropcap_new) != NULL);
	rte_tel_data_add_dict_u64(d, "lost", lost);
	return 0;
}

static int cmd_store(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sg_loader *l = tel_gw->ctl.loader;
	struct sg_loader_stats st;
	char fault[SG_STORE_ERR_LEN];
	unsigned i, loaded = 0;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "enabled", l != NULL);
	if (l == NULL)
		return 0;
	sg_loader_stats_get(l, &st, fault, sizeof(fault));
	reader_enter();
	for (i = 0; i < sg_peers_slots(tel_gw->dp.peers); i++) {
		struct sg_peer *p = sg_peers_at(tel_gw->dp.peers, i);

		loaded += p != NULL && p->ctl != NULL && ((struct sg_ctl_peer *)p->ctl)->from_store;
	}
	reader_leave();
	rte_tel_data_add_dict_u64(d, "loaded", loaded);
	rte_tel_data_add_dict_u64(d, "lookups", st.lookups);
	rte_tel_data_add_dict_u64(d, "loaded_total", st.loaded);
	rte_tel_data_add_dict_u64(d, "answered", st.answered);
	rte_tel_data_add_dict_u64(d, "unknown", st.unknown);
	rte_tel_data_add_dict_u64(d, "refused", st.refused);
	rte_tel_data_add_dict_u64(d, "negative_hits", st.negative_hits);
	rte_tel_data_add_dict_u64(d, "limited", st.limited);
	rte_tel_data_add_dict_u64(d, "faults", st.faults);
	rte_tel_data_add_dict_u64(d, "checks", st.checks);
	rte_tel_data_add_dict_u64(d, "unloaded", st.unloaded);
	rte_tel_data_add_dict_u64(d, "changed", st.changed);
	rte_tel_data_add_dict_u64(d, "evicted_idle", st.evicted_idle);
	rte_tel_data_add_dict_u64(d, "evicted_lru", st.evicted_lru);
	rte_tel_data_add_dict_int(d, "reachable", !st.unreachable);
	rte_tel_data_add_dict_u64(d, "notifications", st.notifications);
	rte_tel_data_add_dict_u64(d, "outages", st.outages);
	rte_tel_data_add_dict_u64(d, "reconnects", st.reconnects);
	rte_tel_data_add_dict_string(d, "fault", fault);
	return 0;
}

static int cmd_fleet(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_fleet *f = tel_gw->ctl.fleet;
	struct sg_fleet_stats st;

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "enabled", f != NULL);
	if (f == NULL)
		return 0;
	sg_fleet_stats_get(f, &st);
	rte_tel_data_add_dict_u64(d, "node_id", st.node_id);
	rte_tel_data_add_dict_u64(d, "partner_id", st.partner_id);
	rte_tel_data_add_dict_string(d, "state", sg_fleet_state_name(st.state));
	rte_tel_data_add_dict_string(d, "partner_state", sg_fleet_state_name(st.partner_state));
	rte_tel_data_add_dict_int(d, "partner_up", (int)st.partner_up);
	rte_tel_data_add_dict_string(d, "mode", st.anycast ? "anycast" : "pair");
#define FLEET_U64(x) rte_tel_data_add_dict_u64(d, #x, st.x)
	FLEET_U64(sessions);
	FLEET_U64(tx_msgs);
	FLEET_U64(rx_msgs);
	FLEET_U64(tx_errors);
	FLEET_U64(rx_bad);
	FLEET_U64(rx_replayed);
	FLEET_U64(rx_stale);
	FLEET_U64(rx_refused);
	FLEET_U64(sessions_sent);
	FLEET_U64(sessions_heard);
	FLEET_U64(leases_asked);
	FLEET_U64(leases_acked);
	FLEET_U64(marks_sent);
	FLEET_U64(resyncs_sent);
	FLEET_U64(resyncs_heard);
	FLEET_U64(takeovers);
	FLEET_U64(taken_sessions);
	FLEET_U64(skipped_sessions);
	FLEET_U64(yields);
	FLEET_U64(partner_lost);
	FLEET_U64(announcements);
	FLEET_U64(claims);
	FLEET_U64(given_away);
	FLEET_U64(partner_routes);
	FLEET_U64(forwarded);
	FLEET_U64(forwards_in);
	FLEET_U64(forwards_out);
	FLEET_U64(forward_refused);
	FLEET_U64(counter_jumps);
	FLEET_U64(last_takeover_us);
	FLEET_U64(last_silence_ms);
#undef FLEET_U64
	return 0;
}

static int cmd_store_check(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct sg_loader *l = tel_gw->ctl.loader;
	uint8_t key[32];
	int rc;

	(void)cmd;
	if (l == NULL)
		return -ENOTSUP;
	if (params != NULL && params[0] != '\0' && sg_key_from_base64(key, params) != 0)
		return -EINVAL;
	rc = sg_loader_notify(l, params != NULL && params[0] != '\0' ? key : NULL);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "queued", rc == 0);
	return rc;
}

/* "ADDR/LEN" into an IPv6 prefix. */
static int tel_prefix(char *s, struct sg_config_prefix *p)
{
	char *slash = strchr(s, '/'), *end;
	long len;

	if (slash == NULL)
		return -EINVAL;
	*slash = '\0';
	memset(p, 0, sizeof(*p));
	p->family = AF_INET6;
	len = strtol(slash + 1, &end, 10);
	if (inet_pton(AF_INET6, s, p->addr) != 1 || *end != '\0' || len < 1 || len > 128)
		return -EINVAL;
	p->len = (uint8_t)len;
	return 0;
}

/* NAME,SOCKET,PREFIX/112,ORG/48[,MAC]: attaches a vhost-user VM now. */
static int cmd_vm_add(const char *cmd, const char *params, struct rte_tel_data *d)
{
	char buf[512], *f[5] = { NULL }, *save = NULL;
	struct sg_config_vm cv;
	unsigned n = 0;
	int rc;

	(void)cmd;
	if (params == NULL || strlen(params) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", params);
	for (char *t = strtok_r(buf, ",", &save); t != NULL && n < 5;
	     t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	if (n < 4 || strlen(f[0]) >= sizeof(cv.name) || f[1][0] != '/')
		return -EINVAL;
	memset(&cv, 0, sizeof(cv));
	snprintf(cv.name, sizeof(cv.name), "%s", f[0]);
	cv.socket = f[1];
	if (tel_prefix(f[2], &cv.prefix) != 0 || tel_prefix(f[3], &cv.network) != 0)
		return -EINVAL;
	if (n == 5) {
		if (sscanf(f[4], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &cv.mac[0], &cv.mac[1],
			   &cv.mac[2], &cv.mac[3], &cv.mac[4], &cv.mac[5]) != 6)
			return -EINVAL;
		cv.has_mac = 1;
	}
	rc = sg_ctl_vm_attach(&tel_gw->ctl, &cv);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "ok", rc == 0);
	rte_tel_data_add_dict_string(d, "error", rc == 0 ? "" : strerror(-rc));
	rte_tel_data_add_dict_u64(d, "vms", tel_gw->dp.n_vms);
	return 0;
}

/*
 * Per-stage cycles: "on" or "off" turns counting on every worker on or off
 * (the counts are kept); no parameter reads.  Each stage: packets, cycles and
 * cycles_per_packet summed over the lcores, then per worker arrays
 * STAGE_cycles and STAGE_packets (the control lcore last).
 */
static int cmd_cycles(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct sg_dp *dp = &tel_gw->dp;
	struct sg_stage_cycles sum[SG_STAGE_MAX];
	char name[64];
	unsigned s, i;

	(void)cmd;
	if (params != NULL && strcmp(params, "on") == 0)
		sg_gateway_cycles_set(tel_gw, true);
	else if (params != NULL && strcmp(params, "off") == 0)
		sg_gateway_cycles_set(tel_gw, false);
	else if (params != NULL && params[0] != '\0')
		return -EINVAL;
	sg_gateway_cycles_sum(tel_gw, sum);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "enabled", sg_gateway_cycles_on(tel_gw));
	rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());
	for (s = 0; s < SG_STAGE_MAX; s++) {
		struct rte_tel_data *c = rte_tel_data_alloc();

		if (c == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "packets", sum[s].pkts);
		rte_tel_data_add_dict_u64(c, "cycles", sum[s].cycles);
		rte_tel_data_add_dict_u64(
			c, "cycles_per_packet",
			sum[s].pkts ? (sum[s].cycles + sum[s].pkts / 2) / sum[s].pkts : 0);
		add_container(d, sg_stage_name(s), c);
	}
	for (s = 0; s < SG_STAGE_MAX; s++) {
		for (unsigned k = 0; k < 2; k++) {
			struct rte_tel_data *a = rte_tel_data_alloc();

			if (a == NULL)
				return -ENOMEM;
			rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
			for (i = 0; i <= dp->n_workers; i++) {
				const struct sg_worker *w =
					i < dp->n_workers ? dp->workers[i] : dp->ctl;

				rte_tel_data_add_array_u64(a, k == 0 ? w->cyc[s].cycles
								     : w->cyc[s].pkts);
			}
			snprintf(name, sizeof(name), "%s_%s", sg_stage_name(s),
				 k == 0 ? "cycles" : "packets");
			add_container(d, name, a);
		}
	}
	return 0;
}

/* NAME: removes that VM now. */
static int cmd_vm_rm(const char *cmd, const char *params, struct rte_tel_data *d)
{
	unsigned live = 0;
	int rc;

	(void)cmd;
	if (params == NULL || params[0] == '\0' || strlen(params) >= sizeof(tel_gw->dp.vms[0].name))
		return -EINVAL;
	rc = sg_ctl_vm_detach(&tel_gw->ctl, params);
	for (unsigned i = 0; i < tel_gw->dp.n_vms; i++)
		live += !vm_gone(&tel_gw->dp.vms[i]);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "ok", rc == 0);
	rte_tel_data_add_dict_string(d, "error", rc == 0 ? "" : strerror(-rc));
	rte_tel_data_add_dict_u64(d, "vms", live);
	return 0;
}

/*
 * Every command goes through guarded(), which counts the queries in flight
 * and refuses new ones once sg_telemetry_close() has begun: the telemetry
 * threads are EAL's and outlive the gateway, so a query that came in while
 * the gateway was freed read freed memory (a SIGSEGV at exit in 3 of 5 stops
 * under a loop of `sixgatectl health`).  Sequentially consistent on both
 * sides: either a query sees tel_closed, or the closer sees it in flight.
 */
#define TEL_CMDS_MAX 32
static struct {
	const char *name;
	telemetry_cb fn;
} tel_cmds[TEL_CMDS_MAX];
static unsigned tel_n_cmds;
static SG_ATOMIC(unsigned) tel_busy;
static SG_ATOMIC(bool) tel_closed;

static int guarded(const char *cmd, const char *params, struct rte_tel_data *d)
{
	int rc = -ENODEV;

	atomic_fetch_add(&tel_busy, 1);
	if (!atomic_load(&tel_closed)) {
		for (unsigned i = 0; i < tel_n_cmds; i++)
			if (strcmp(cmd, tel_cmds[i].name) == 0) {
				rc = tel_cmds[i].fn(cmd, params, d);
				break;
			}
	}
	atomic_fetch_sub(&tel_busy, 1);
	return rc;
}

static int reg(const char *name, telemetry_cb fn, const char *help)
{
	if (tel_n_cmds == TEL_CMDS_MAX)
		return -ENOSPC;
	tel_cmds[tel_n_cmds].name = name;
	tel_cmds[tel_n_cmds].fn = fn;
	tel_n_cmds++;
	return rte_telemetry_register_cmd(name, guarded, help);
}

void sg_telemetry_close(void)
{
	atomic_store(&tel_closed, true);
	/* A query in flight is short; 5 s bounds one that waits on a stopped control lcore. */
	for (unsigned i = 0; i < 5000 && atomic_load(&tel_busy) > 0; i++) {
		struct timespec ts = { 0, 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

int sg_telemetry_register(struct sg_gateway *gw)
{
	int rc = 0;

	tel_gw = gw;
	rc |= reg("/sixgate/counters", cmd_counters,
		  "Packet counts and drop counters by reason. No parameters");
	rc |= reg("/sixgate/peers", cmd_peers,
		  "Peers, 32 a page (\"/next\": where the next page starts). Parameters: a peer "
		  "name, or from=N");
	rc |= reg("/sixgate/sessions", cmd_sessions,
		  "Keypairs of every peer, 64 a page (\"/next\": where the next page starts). "
		  "Parameters: optional from=N");
	rc |= reg("/sixgate/routes", cmd_routes, "6PN routes to the VM ports. No parameters");
	rc |= reg(
		"/sixgate/capture_drops", cmd_capture_drops,
		"Dropped frames and reasons to pcapng. Parameters: FILE[,N] (a new absolute path, "
		"N drops, default 1000), off, or none");
	rc |= reg("/sixgate/ports", cmd_ports,
		  "Per port (\"/nic\", then each VM): packets, tx_full drops, queues, ethdev "
		  "counters. No parameters");
	rc |= reg("/sixgate/policy", cmd_policy,
		  "The policy: file, rules, compile time, hits per verdict and per rule (the first "
		  "100 rules hit). No parameters");
	rc |= reg("/sixgate/policy_reload", cmd_policy_reload,
		  "Reads the policy file again and swaps it in (a bad file is refused, the running "
		  "policy stays). No parameters");
	rc |= reg("/sixgate/store", cmd_store,
		  "Peer store: loaded peers, lookups, unknown, refused, limited, faults, "
		  "checks, evictions. No parameters");
	rc |= reg("/sixgate/store/check", cmd_store_check,
		  "Recheck a peer in the store now (unload if revoked or gone). Parameters: "
		  "a public key (base64), or none for all");
	rc |= reg("/sixgate/vm/add", cmd_vm_add,
		  "Attach a vhost-user VM now. Parameters: NAME,SOCKET,PREFIX/112,ORG/48[,MAC]");
	rc |= reg("/sixgate/cycles", cmd_cycles,
		  "TSC cycles per packet of each stage, per worker (off by default). Parameters: "
		  "on, off, or none to read");
	rc |= reg("/sixgate/fleet", cmd_fleet,
		  "Failover pair: this member's state, the partner's, sessions synced, leases, "
		  "takeovers. No parameters");
	rc |= reg("/sixgate/vm/rm", cmd_vm_rm,
		  "Remove a VM now (its route, port and queued frames). Parameters: NAME");
	return rc != 0 ? -EINVAL : 0;
}
