/* SPDX-License-Identifier: MIT */
/*
 * The 6PN route table over two rte_fib6 TRIE tables (see sg_routing.h for
 * why two), and the 6PN address helpers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_fib6.h>
#include <rte_rib6.h>

#include "lib/common/sg_prefix.h"
#include "lib/routing/sg_routing.h"

#define DEFAULT_TBL8 4096
/* rte_rib6 names its mempool "MP_<name>": 22 characters is the most that fits. */
#define NAME_MAX_LEN 20
#define FIB_NAME_LEN 32

struct sg_routing {
	/* The FIB lookups use; the only field the data path reads. */
	struct rte_fib6 *active;
	struct rte_fib6 *fib[2];
	uint8_t name_idx[2]; /* suffix of each FIB's name: 0, 1 or 2 */
	uint32_t count;
	struct rte_fib6_conf fib_conf;
	int socket_id;
	char name[NAME_MAX_LEN + 1];
	sg_routing_sync_fn synchronize;
	void *sync_ctx;
};

enum op { OP_ADD, OP_DEL };

static struct rte_fib6 *fib_new(struct sg_routing *r, unsigned int idx)
{
	char full[FIB_NAME_LEN];

	snprintf(full, sizeof(full), "%s_%u", r->name, idx);
	return rte_fib6_create(full, r->socket_id, &r->fib_conf);
}

int sg_routing_create(struct sg_routing **out, const struct sg_routing_conf *conf)
{
	struct sg_routing *r;
	int rc;

	if (!out || !conf || !conf->name || !conf->name[0] || strlen(conf->name) > NAME_MAX_LEN ||
	    conf->max_routes == 0 || conf->max_routes > INT32_MAX / 2 ||
	    conf->num_tbl8 > SG_ROUTING_NH_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	strcpy(r->name, conf->name);
	r->socket_id = conf->socket_id;
	r->fib_conf = (struct rte_fib6_conf){
		.type = RTE_FIB6_TRIE,
		.default_nh = SG_ROUTING_NO_ROUTE,
		.max_routes = (int)conf->max_routes,
		.trie = {
			.nh_sz = RTE_FIB6_TRIE_2B,
			.num_tbl8 = conf->num_tbl8 ? conf->num_tbl8 : DEFAULT_TBL8,
		},
	};
	r->synchronize = conf->synchronize;
	r->sync_ctx = conf->sync_ctx;
	r->name_idx[0] = 0;
	r->name_idx[1] = 1;
	r->fib[0] = fib_new(r, 0);
	if (!r->fib[0])
		goto fail;
	r->fib[1] = fib_new(r, 1);
	if (!r->fib[1])
		goto fail;
	r->active = r->fib[0];
	*out = r;
	return 0;
fail:
	rc = rte_errno ? -rte_errno : -ENOMEM;
	rte_fib6_free(r->fib[0]);
	free(r);
	return rc;
}

void sg_routing_free(struct sg_routing *r)
{
	if (!r)
		return;
	rte_fib6_free(r->fib[0]);
	rte_fib6_free(r->fib[1]);
	free(r);
}

static struct rte_fib6 *active_fib(const struct sg_routing *r)
{
	return __atomic_load_n(&r->active, __ATOMIC_ACQUIRE);
}

static void publish(struct sg_routing *r, struct rte_fib6 *fib)
{
	__atomic_store_n(&r->active, fib, __ATOMIC_RELEASE);
	if (r->synchronize)
		r->synchronize(r->sync_ctx);
}

static int fib_apply(struct rte_fib6 *fib, enum op op, const uint8_t p[16], uint8_t depth,
		     uint64_t nh)
{
	if (op == OP_ADD)
		return rte_fib6_add(fib, p, depth, nh);
	return rte_fib6_delete(fib, p, depth);
}

/* Looks prefix/depth up exactly in one FIB's RIB. */
static int fib_get(struct rte_fib6 *fib, const uint8_t p[16], uint8_t depth, uint64_t *nh)
{
	struct rte_rib6_node *node = rte_rib6_lookup_exact(rte_fib6_get_rib(fib), p, depth);

	if (!node || rte_rib6_get_nh(node, nh))
		return -ENOENT;
	return 0;
}

static void node_route(struct rte_rib6_node *node, uint8_t ip[16], uint8_t *depth, uint64_t *nh)
{
	rte_rib6_get_ip(node, ip);
	rte_rib6_get_depth(node, depth);
	rte_rib6_get_nh(node, nh);
}

/*
 * Visits every route of a FIB.  rte_rib6_get_nxt() yields only prefixes
 * longer than the one asked for, so ::/0 is looked up on its own first.
 */
static int fib_walk(struct rte_fib6 *fib, int (*fn)(void *, const uint8_t *, uint8_t, uint64_t),
		    void *arg)
{
	struct rte_rib6 *rib = rte_fib6_get_rib(fib);
	static const uint8_t zero[16];
	struct rte_rib6_node *node = rte_rib6_lookup_exact(rib, zero, 0);
	uint8_t ip[16], depth;
	uint64_t nh;
	int rc;

	if (node) {
		node_route(node, ip, &depth, &nh);
		rc = fn(arg, ip, depth, nh);
		if (rc)
			return rc;
	}
	for (node = NULL; (node = rte_rib6_get_nxt(rib, zero, 0, node, RTE_RIB6_GET_NXT_ALL));) {
		node_route(node, ip, &depth, &nh);
		rc = fn(arg, ip, depth, nh);
		if (rc)
			return rc;
	}
	return 0;
}

static int copy_route(void *dst, const uint8_t *ip, uint8_t depth, uint64_t nh)
{
	return rte_fib6_add(dst, ip, depth, nh);
}

/*
 * DPDK 22.11's TRIE never gives back the tbl8 blocks it reserves for a long
 * prefix when that prefix is deleted, so a table whose routes come and go
 * (VMs start and stop) ends in -ENOSPC although it holds few routes.  A fresh
 * FIB filled with the current routes of the active one has no such debt: it
 * replaces the standby FIB slot i (which no lookup uses) when an update of it
 * runs out of space.  It fails with -ENOSPC only when the routes really do
 * not fit, and then changes nothing.
 */
static int rebuild(struct sg_routing *r, int i)
{
	unsigned int idx = 3u - r->name_idx[0] - r->name_idx[1];
	struct rte_fib6 *fresh = fib_new(r, idx);
	int rc;

	if (!fresh)
		return rte_errno ? -rte_errno : -ENOMEM;
	rc = fib_walk(r->active, copy_route, fresh);
	if (rc) {
		rte_fib6_free(fresh);
		return rc;
	}
	rte_fib6_free(r->fib[i]);
	r->fib[i] = fresh;
	r->name_idx[i] = (uint8_t)idx;
	return 0;
}

/*
 * Applies one change to the standby FIB, makes it the active one, waits for
 * the readers of the old one and applies the change there too.  Should the
 * second step fail, the old FIB becomes active again and the first step is
 * undone, so both FIBs always hold the same routes.
 */
static int update(struct sg_routing *r, enum op op, const uint8_t p[16], uint8_t depth, uint64_t nh,
		  enum op undo, uint64_t undo_nh)
{
	int cur = r->active == r->fib[1];
	int next = !cur;
	int rc;

	rc = fib_apply(r->fib[next], op, p, depth, nh);
	if (rc == -ENOSPC) {
		rc = rebuild(r, next);
		if (rc == 0)
			rc = fib_apply(r->fib[next], op, p, depth, nh);
	}
	if (rc)
		return rc;
	publish(r, r->fib[next]);
	rc = fib_apply(r->fib[cur], op, p, depth, nh);
	if (rc == -ENOSPC)
		rc = rebuild(r, cur); /* copies the routes with the change made */
	if (rc) {
		publish(r, r->fib[cur]);
		fib_apply(r->fib[next], undo, p, depth, undo_nh);
	}
	return rc;
}

int sg_routing_add(struct sg_routing *r, const uint8_t prefix[16], uint8_t depth, uint32_t nh)
{
	uint8_t p[16];
	uint64_t old;
	int exists, rc;

	if (!r || !prefix || depth > 128 || nh > SG_ROUTING_NH_MAX)
		return -EINVAL;
	sg_prefix_mask(p, prefix, depth, 16);
	exists = fib_get(r->active, p, depth, &old) == 0;
	if (exists && old == nh)
		return 0;
	if (!exists && r->count >= (uint32_t)r->fib_conf.max_routes)
		return -ENOSPC;
	rc = update(r, OP_ADD, p, depth, nh, exists ? OP_ADD : OP_DEL, old);
	if (rc == 0 && !exists)
		r->count++;
	return rc;
}

int sg_routing_delete(struct sg_routing *r, const uint8_t prefix[16], uint8_t depth)
{
	uint8_t p[16];
	uint64_t old;
	int rc;

	if (!r || !prefix || depth > 128)
		return -EINVAL;
	sg_prefix_mask(p, prefix, depth, 16);
	if (fib_get(r->active, p, depth, &old))
		return -ENOENT;
	rc = update(r, OP_DEL, p, depth, 0, OP_ADD, old);
	if (rc == 0)
		r->count--;
	return rc;
}

int sg_routing_get(const struct sg_routing *r, const uint8_t prefix[16], uint8_t depth,
		   uint32_t *nh)
{
	uint8_t p[16];
	uint64_t v;

	if (!r || !prefix || depth > 128)
		return -ENOENT;
	sg_prefix_mask(p, prefix, depth, 16);
	if (fib_get(r->active, p, depth, &v))
		return -ENOENT;
	if (nh)
		*nh = (uint32_t)v;
	return 0;
}

void sg_routing_lookup_bulk(const struct sg_routing *r, uint8_t (*addrs)[16], uint64_t *nh,
			    unsigned int n)
{
	if (n)
		rte_fib6_lookup_bulk(active_fib(r), addrs, nh, (int)n);
}

uint32_t sg_routing_lookup(const struct sg_routing *r, const uint8_t addr[16])
{
	uint8_t a[1][16];
	uint64_t nh;

	memcpy(a[0], addr, 16);
	rte_fib6_lookup_bulk(active_fib(r), a, &nh, 1);
	return (uint32_t)nh;
}

uint32_t sg_routing_count(const struct sg_routing *r)
{
	return r->count;
}

struct walk_ctx {
	sg_routing_walk_fn fn;
	void *arg;
};

static int walk_one(void *arg, const uint8_t *ip, uint8_t depth, uint64_t nh)
{
	struct walk_ctx *w = arg;

	return w->fn(w->arg, ip, depth, (uint32_t)nh);
}

int sg_routing_walk(const struct sg_routing *r, sg_routing_walk_fn fn, void *arg)
{
	struct walk_ctx w = { fn, arg };

	return fib_walk(r->active, walk_one, &w);
}

/* --- 6PN addresses ------------------------------------------------------- */

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int sg_6pn_unpack(struct sg_6pn *f, const uint8_t addr[16])
{
	if (!sg_6pn_is_6pn(addr))
		return -EINVAL;
	f->network = get_be32(addr + 2);
	f->host = get_be32(addr + 6);
	f->machine = get_be32(addr + 10);
	f->low = (uint16_t)(addr[14] << 8 | addr[15]);
	return 0;
}

void sg_6pn_pack(uint8_t addr[16], const struct sg_6pn *f)
{
	addr[0] = 0xfd;
	addr[1] = 0xaa;
	put_be32(addr + 2, f->network);
	put_be32(addr + 6, f->host);
	put_be32(addr + 10, f->machine);
	addr[14] = (uint8_t)(f->low >> 8);
	addr[15] = (uint8_t)f->low;
}

int sg_6pn_parse(struct sg_6pn *f, const char *text)
{
	uint8_t a[16];

	if (!text || inet_pton(AF_INET6, text, a) != 1)
		return -EINVAL;
	return sg_6pn_unpack(f, a);
}

int sg_6pn_format(char *buf, size_t len, const struct sg_6pn *f)
{
	uint8_t a[16];

	if (len < SG_6PN_STRLEN)
		return -ENOSPC;
	sg_6pn_pack(a, f);
	inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	return 0;
}

int sg_6pn_org(uint8_t org[16], const uint8_t addr[16])
{
	if (!sg_6pn_is_6pn(addr))
		return -EINVAL;
	sg_prefix_mask(org, addr, SG_6PN_ORG_DEPTH, 16);
	return 0;
}

int sg_6pn_dns(uint8_t dns[16], const uint8_t addr[16])
{
	if (sg_6pn_org(dns, addr))
		return -EINVAL;
	dns[15] = SG_6PN_DNS_SUFFIX;
	return 0;
}
