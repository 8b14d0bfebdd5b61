/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: GET /metrics on a local address ([metrics] listen,
 * 127.0.0.1:9586 by default), in the Prometheus text format 0.0.4, served by
 * libmicrohttpd's own thread.
 *
 * That thread only reads what telemetry reads: the sums of the workers'
 * counter blocks (sg_gateway_sum, sg_gateway_vm_sum), the control lcore's
 * statistics, ring counts, and the peers' atomic statistics under the
 * telemetry lock and qsbr slot (so a peer's control state is not freed while
 * it is read).  It writes nothing a worker owns.  Per-peer series are bounded:
 * the [metrics] peers_top peers with the most traffic, or none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <rte_ethdev.h>
#include <rte_version.h>

#include "pipelines/sg_gateway.h"

struct sg_metrics {
	struct MHD_Daemon *d;
	struct sg_gateway *gw;
	unsigned peers_top;
};

/* A growing text buffer; oom is sticky. */
struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n + 1;
		char *q = realloc(b->p, cap);

		if (q == NULL) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP sixgate_%s %s\n# TYPE sixgate_%s %s\n", name, help, name, type);
}

/* A label value: backslash, quote and newline escaped as the format wants. */
static void label(char *out, size_t len, const char *in)
{
	size_t o = 0;

	for (; *in != '\0' && o + 3 < len; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *in;
		}
	}
	out[o] = '\0';
}

static const struct {
	const char *name;
	size_t off;
	const char *help;
} stats[] = {
	{ "nic_rx_packets_total", offsetof(struct sg_worker_stats, nic_rx),
	  "Frames read from the NIC." },
	{ "nic_tx_packets_total", offsetof(struct sg_worker_stats, nic_tx),
	  "Frames the NIC took to send." },
	{ "vm_rx_packets_total", offsetof(struct sg_worker_stats, vm_rx),
	  "Frames read from the VM ports." },
	{ "vm_tx_packets_total", offsetof(struct sg_worker_stats, vm_tx),
	  "Frames the VM ports took." },
	{ "decrypted_packets_total", offsetof(struct sg_worker_stats, decrypted),
	  "Transport data messages decrypted and authenticated." },
	{ "encrypted_packets_total", offsetof(struct sg_worker_stats, encrypted),
	  "Transport data messages encrypted." },
	{ "keepalive_rx_total", offsetof(struct sg_worker_stats, keepalive_rx),
	  "Keepalives received." },
	{ "keepalive_tx_total", offsetof(struct sg_worker_stats, keepalive_tx),
	  "Keepalives sent." },
	{ "handshake_rx_packets_total", offsetof(struct sg_worker_stats, handshake_rx),
	  "Handshake frames handed to the control lcore." },
	{ "staged_packets_total", offsetof(struct sg_worker_stats, staged),
	  "Packets staged while a session was set up." },
	{ "local_replies_total", offsetof(struct sg_worker_stats, local_replies),
	  "Replies the gateway made (ARP, ND, echo, ICMPv6 errors)." },
	{ "roams_total", offsetof(struct sg_worker_stats, roams), "Peer endpoint changes." },
	{ "made_packets_total", offsetof(struct sg_worker_stats, made),
	  "Frames the gateway made itself." },
	{ "consumed_packets_total", offsetof(struct sg_worker_stats, consumed),
	  "Frames that ended at the gateway without a drop." },
};

static uint64_t stat_of(const struct sg_worker_stats *st, size_t off)
{
	return *(const uint64_t *)((const char *)st + off);
}

static void totals(struct buf *b, const struct sg_gateway *gw)
{
	struct sg_drop_counters drops;
	struct sg_worker_stats st;
	unsigned i;

	sg_gateway_sum(gw, &drops, &st);
	for (i = 0; i < RTE_DIM(stats); i++) {
		head(b, stats[i].name, "counter", stats[i].help);
		put(b, "sixgate_%s %lu\n", stats[i].name,
		    (unsigned long)stat_of(&st, stats[i].off));
	}
	head(b, "drops_total", "counter", "Packets dropped, by reason (lib/common/sg_drop.h).");
	for (i = 1; i < SG_DROP_MAX; i++)
		put(b, "sixgate_drops_total{reason=\"%s\"} %lu\n", sg_drop_name(i),
		    (unsigned long)drops.n[i]);
}

/* Per worker ("0".. and "control"): what each lcore received and crypted. */
static void per_worker(struct buf *b, const struct sg_gateway *gw)
{
	static const struct {
		const char *kind;
		size_t off;
	} kinds[] = {
		{ "nic_rx", offsetof(struct sg_worker_stats, nic_rx) },
		{ "vm_rx", offsetof(struct sg_worker_stats, vm_rx) },
		{ "decrypted", offsetof(struct sg_worker_stats, decrypted) },
		{ "encrypted", offsetof(struct sg_worker_stats, encrypted) },
	};
	const struct sg_dp *dp = &gw->dp;
	unsigned i, k;

	head(b, "worker_packets_total", "counter",
	     "Packets per lcore: nic_rx, vm_rx, decrypted, encrypted.");
	for (i = 0; i <= dp->n_workers; i++) {
		const struct sg_worker *w = i < dp->n_workers ? dp->workers[i] : dp->ctl;
		char id[16];

		snprintf(id, sizeof(id), i < dp->n_workers ? "%u" : "control", i);
		for (k = 0; k < RTE_DIM(kinds); k++)
			put(b, "sixgate_worker_packets_total{worker=\"%s\",kind=\"%s\"} %lu\n", id,
			    kinds[k].kind, (unsigned long)stat_of(&w->st, kinds[k].off));
	}
}

static void per_vm(struct buf *b, const struct sg_gateway *gw)
{
	const struct sg_dp *dp = &gw->dp;
	struct sg_vm_stats vs[SG_MAX_VMS];
	char name[80];
	unsigned i;

	for (i = 0; i < dp->n_vms; i++)
		sg_gateway_vm_sum(gw, i, &vs[i]);
	head(b, "vm_packets_total", "counter", "Frames per VM port, by direction.");
	for (i = 0; i < dp->n_vms; i++) {
		if (__atomic_load_n(&dp->vms[i].detached, __ATOMIC_ACQUIRE))
			continue; /* removed by vm rm: its counters went with it */
		label(name, sizeof(name), dp->vms[i].name);
		put(b, "sixgate_vm_packets_total{vm=\"%s\",direction=\"rx\"} %lu\n", name,
		    (unsigned long)vs[i].rx);
		put(b, "sixgate_vm_packets_total{vm=\"%s\",direction=\"tx\"} %lu\n", name,
		    (unsigned long)vs[i].tx);
	}
	head(b, "vm_refused_total", "counter", "Frames from the VM refused by egress's checks.");
	for (i = 0; i < dp->n_vms; i++) {
		if (__atomic_load_n(&dp->vms[i].detached, __ATOMIC_ACQUIRE))
			continue; /* removed by vm rm: its counters went with it */
		label(name, sizeof(name), dp->vms[i].name);
		put(b, "sixgate_vm_refused_total{vm=\"%s\"} %lu\n", name,
		    (unsigned long)vs[i].rx_refused);
	}
	head(b, "vm_tx_full_total", "counter",
	     "Frames for the VM dropped as vm_tx_full (its queue, ring and backlog full).");
	for (i = 0; i < dp->n_vms; i++) {
		if (__atomic_load_n(&dp->vms[i].detached, __ATOMIC_ACQUIRE))
			continue; /* removed by vm rm: its counters went with it */
		label(name, sizeof(name), dp->vms[i].name);
		put(b, "sixgate_vm_tx_full_total{vm=\"%s\"} %lu\n", name,
		    (unsigned long)vs[i].tx_full);
	}
	head(b, "vm_queued", "gauge", "Frames waiting for the VM now (backlog and hand-off ring).");
	for (i = 0; i < dp->n_vms; i++) {
		if (__atomic_load_n(&dp->vms[i].detached, __ATOMIC_ACQUIRE))
			continue; /* removed by vm rm: its counters went with it */
		const struct sg_vm *vm = &dp->vms[i];

		label(name, sizeof(name), vm->name);
		put(b, "sixgate_vm_queued{vm=\"%s\"} %lu\n", name,
		    (unsigned long)(__atomic_load_n(&vm->n_pend, __ATOMIC_RELAXED) +
				    rte_ring_count(vm->txr)));
	}
}

/* One port's ethdev counters (what its PMD counts: the NIC's own misses and errors). */
static void ethdev_port(struct buf *b, const char *name, uint16_t port)
{
	struct rte_eth_stats es;
	const struct {
		const char *counter;
		uint64_t v;
	} * c, cs[] = {
		{ "ipackets", 0 }, { "opackets", 0 }, { "imissed", 0 },
		{ "ierrors", 0 },  { "oerrors", 0 },  { "rx_nombuf", 0 },
	};
	uint64_t v[RTE_DIM(cs)];
	unsigned i;

	memset(&es, 0, sizeof(es));
	rte_eth_stats_get(port, &es);
	v[0] = es.ipackets, v[1] = es.opackets, v[2] = es.imissed;
	v[3] = es.ierrors, v[4] = es.oerrors, v[5] = es.rx_nombuf;
	for (i = 0, c = cs; i < RTE_DIM(cs); i++, c++)
		put(b, "sixgate_ethdev_packets_total{port=\"%s\",counter=\"%s\"} %lu\n", name,
		    c->counter, (unsigned long)v[i]);
}

static void ethdev(struct buf *b, const struct sg_gateway *gw)
{
	char name[80];
	unsigned i;

	head(b, "ethdev_packets_total", "counter",
	     "The ports' own counters (nic, and each VM by name): ipackets, opackets, imissed, "
	     "ierrors, oerrors, rx_nombuf.");
	ethdev_port(b, "nic", gw->dp.nic_port);
	for (i = 0; i < gw->dp.n_vms; i++) {
		if (__atomic_load_n(&gw->dp.vms[i].detached, __ATOMIC_ACQUIRE))
			continue;
		label(name, sizeof(name), gw->dp.vms[i].name);
		ethdev_port(b, name, gw->dp.vms[i].port_id);
	}
}

static void control(struct buf *b, const struct sg_gateway *gw)
{
	const struct sg_control_stats *cs = &gw->ctl.core.stats;
	const struct sg_ctl_stats *ls = &gw->ctl.st;
	const struct sg_peers *peers = gw->dp.peers;

	head(b, "handshake_messages_total", "counter",
	     "Handshake messages by type and direction (the control lcore).");
	put(b, "sixgate_handshake_messages_total{message=\"initiation\",direction=\"rx\"} %lu\n",
	    (unsigned long)cs->init_rx);
	put(b, "sixgate_handshake_messages_total{message=\"initiation\",direction=\"tx\"} %lu\n",
	    (unsigned long)cs->init_tx);
	put(b, "sixgate_handshake_messages_total{message=\"response\",direction=\"rx\"} %lu\n",
	    (unsigned long)cs->resp_rx);
	put(b, "sixgate_handshake_messages_total{message=\"response\",direction=\"tx\"} %lu\n",
	    (unsigned long)cs->resp_tx);
	put(b, "sixgate_handshake_messages_total{message=\"cookie_reply\",direction=\"rx\"} %lu\n",
	    (unsigned long)cs->cookie_rx);
	put(b, "sixgate_handshake_messages_total{message=\"cookie_reply\",direction=\"tx\"} %lu\n",
	    (unsigned long)cs->cookie_tx);
	head(b, "session_events_total", "counter",
	     "Sessions: rekeys, confirmed, expired keypairs, handshakes given up.");
	put(b, "sixgate_session_events_total{event=\"rekey\"} %lu\n", (unsigned long)ls->rekeys);
	put(b, "sixgate_session_events_total{event=\"confirmed\"} %lu\n",
	    (unsigned long)ls->confirmed);
	put(b, "sixgate_session_events_total{event=\"expired\"} %lu\n", (unsigned long)ls->expired);
	put(b, "sixgate_session_events_total{event=\"give_up\"} %lu\n", (unsigned long)ls->give_up);
	head(b, "peers", "gauge", "Peers loaded in the data plane.");
	put(b, "sixgate_peers %u\n", sg_peers_count(peers));
	head(b, "keypairs_alive", "gauge", "Keypairs allocated.");
	put(b, "sixgate_keypairs_alive %lu\n", (unsigned long)sg_peers_keypairs_alive(peers));
	head(b, "workers", "gauge", "Worker lcores.");
	put(b, "sixgate_workers %u\n", gw->dp.n_workers);
	head(b, "in_flight_packets", "gauge",
	     "Frames held now: handshake ring, VM rings and backlogs, staged.");
	put(b, "sixgate_in_flight_packets %lu\n", (unsigned long)sg_gateway_in_flight(gw));
}

static uint64_t traffic(const struct sg_peer *p)
{
	return atomic_load_explicit(&p->st.rx_bytes, memory_order_relaxed) +
	       atomic_load_explicit(&p->st.tx_bytes, memory_order_relaxed);
}

/* The n peers with the most traffic (none without any), most first. */
static unsigned top_peers(const struct sg_peers *t, struct sg_peer **top, unsigned n)
{
	unsigned i, k, have = 0, count = sg_peers_slots(t);

	for (i = 0; i < count && n > 0; i++) {
		struct sg_peer *p = sg_peers_at(t, i);
		uint64_t v = p != NULL ? traffic(p) : 0;

		if (v == 0 || (have == n && v <= traffic(top[n - 1])))
			continue;
		k = have < n ? have++ : n - 1;
		for (; k > 0 && traffic(top[k - 1]) < v; k--)
			top[k] = top[k - 1];
		top[k] = p;
	}
	return have;
}

static void per_peer(struct buf *b, struct sg_gateway *gw, unsigned n)
{
	struct sg_peer *top[SG_METRICS_PEERS_MAX];
	static const char *const names[4] = { "rx_bytes", "tx_bytes", "rx_packets", "tx_packets" };
	char name[2 * SG_PEER_NAME_MAX];
	unsigned i, k, have;

	if (n == 0)
		return;
	pthread_mutex_lock(&gw->ctl.tel_lock);
	rte_rcu_qsbr_thread_online(gw->dp.qsbr, gw->ctl.tel_thread_id);
	have = top_peers(gw->dp.peers, top, n < SG_METRICS_PEERS_MAX ? n : SG_METRICS_PEERS_MAX);
	head(b, "peer_transfer_total", "counter",
	     "Per peer, for the peers_top peers with the most traffic: bytes and packets.");
	for (i = 0; i < have; i++) {
		const struct sg_peer *p = top[i];
		uint64_t v[4] = { atomic_load(&p->st.rx_bytes), atomic_load(&p->st.tx_bytes),
				  atomic_load(&p->st.rx_packets), atomic_load(&p->st.tx_packets) };

		label(name, sizeof(name), p->name);
		for (k = 0; k < 4; k++)
			put(b, "sixgate_peer_transfer_total{peer=\"%s\",kind=\"%s\"} %lu\n", name,
			    names[k], (unsigned long)v[k]);
	}
	head(b, "peer_last_handshake_seconds", "gauge",
	     "Per peer (the same peers): Unix time of the last completed handshake, 0 if none.");
	for (i = 0; i < have; i++) {
		const struct sg_ctl_peer *cp = top[i]->ctl;

		label(name, sizeof(name), top[i]->name);
		put(b, "sixgate_peer_last_handshake_seconds{peer=\"%s\"} %lu\n", name,
		    (unsigned long)(cp->last_handshake_ns / 1000000000ull));
	}
	rte_rcu_qsbr_thread_offline(gw->dp.qsbr, gw->ctl.tel_thread_id);
	pthread_mutex_unlock(&gw->ctl.tel_lock);
}

char *sg_metrics_render(struct sg_gateway *gw, unsigned peers_top, size_t *len)
{
	struct buf b = { .p = malloc(16384), .cap = 16384 };

	if (b.p == NULL)
		return NULL;
	head(&b, "build_info", "gauge", "Versions of sixgate and DPDK.");
	put(&b, "sixgate_build_info{version=\"%s\",dpdk=\"%s\"} 1\n", SG_VERSION, rte_version());
	totals(&b, gw);
	per_worker(&b, gw);
	per_vm(&b, gw);
	ethdev(&b, gw);
	control(&b, gw);
	per_peer(&b, gw, peers_top);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_len, void **state)
{
	struct sg_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t len = 0;
	char *text;

	(void)version;
	(void)upload;
	(void)upload_len;
	(void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: GET /metrics\n");
	text = sg_metrics_render(m->gw, m->peers_top, &len);
	if (text == NULL)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return rc;
}

struct sg_metrics *sg_metrics_start(struct sg_gateway *gw, const struct sg_config_endpoint *at,
				    unsigned peers_top, int *err)
{
	struct sg_metrics *m = calloc(1, sizeof(*m));
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	char a[INET6_ADDRSTRLEN];

	if (m == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	m->gw = gw;
	m->peers_top = peers_top;
	memset(&ss, 0, sizeof(ss));
	if (at->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(at->port);
		memcpy(&s6->sin6_addr, at->addr, 16);
		flags |= MHD_USE_IPv6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(at->port);
		memcpy(&s4->sin_addr, at->addr, 4);
	}
	inet_ntop(at->family, at->addr, a, sizeof(a));
	/* One slow client cannot hold the thread: few connections, each timed out. */
	m->d = MHD_start_daemon(flags, at->port, NULL, NULL, serve, m, MHD_OPTION_SOCK_ADDR, &ss,
				MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_CONNECTION_LIMIT, 16u,
				MHD_OPTION_END);
	if (m->d == NULL) {
		sg_log(SG_LOG_ERR,
		       "metrics: cannot listen on %s port %u (in use? set [metrics] listen to "
		       "another port, or off)",
		       a, at->port);
		free(m);
		*err = -EADDRINUSE;
		return NULL;
	}
	sg_log(SG_LOG_INFO, "metrics: http://%s%s%s:%u/metrics, %u peers at most",
	       at->family == AF_INET6 ? "[" : "", a, at->family == AF_INET6 ? "]" : "", at->port,
	       peers_top);
	*err = 0;
	return m;
}

void sg_metrics_stop(struct sg_metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}
