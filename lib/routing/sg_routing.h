/* SPDX-License-Identifier: MIT */
/*
 * The 6PN route table and the 6PN address layout.
 *
 * Routes map an IPv6 destination prefix to a next hop id (a VM port) with
 * DPDK's rte_fib6 (TRIE).  rte_fib6 in DPDK 22.11 updates its tables in place
 * and recycles their blocks at once, so a lookup that runs during an update
 * could read a block that is being reused for another prefix.  The table
 * therefore keeps two FIBs with the same routes: an update changes the one
 * that no lookup uses, publishes it, waits for a grace period (the caller's
 * synchronize callback, e.g. rte_rcu_qsbr_synchronize) and then applies the
 * same change to the other one.  Lookups are lock-free and never see a FIB
 * while it changes.  Updates must come from one thread at a time.
 *
 * DPDK 22.11's TRIE also never returns the tbl8 reservation of a deleted long
 * prefix, so a table whose routes come and go would run out of space; when an
 * update of the standby FIB fails for space, the table rebuilds that FIB from
 * the active one's routes (a third FIB exists briefly) and tries again.
 * Memory: each FIB takes 32 MiB (2^24 two-byte entries) plus 512 bytes per
 * tbl8 block; next hop ids are therefore 15-bit.
 *
 * 6PN layout of an address (MISSION.md):
 *   fdaa (16) | network id (32) | host id (32) | machine id (32) | free (16)
 * An organisation's network is the /48 fdaa:NNNN:NNNN::/48; a machine owns a
 * /112; the org's DNS resolver is <org /48>::3.
 */
#ifndef SG_ROUTING_H
#define SG_ROUTING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The next hop of an address that no route holds. */
#define SG_ROUTING_NO_ROUTE 0x7fffu
/* The largest next hop id a route may carry. */
#define SG_ROUTING_NH_MAX 0x7ffeu

struct sg_routing;

/* Waits until no lookup that started before the call is still running. */
typedef void (*sg_routing_sync_fn)(void *ctx);

struct sg_routing_conf {
	const char *name;		/* unique in the process; 1..20 chars */
	int socket_id;			/* NUMA socket, or SOCKET_ID_ANY (-1) */
	uint32_t max_routes;		/* at least 1 */
	uint32_t num_tbl8;		/* 256-entry blocks for routes longer than /24; 0: 4096 */
	sg_routing_sync_fn synchronize; /* NULL: updates never race lookups */
	void *sync_ctx;
};

/*
 * Creates an empty table (both FIBs) in DPDK memory; EAL must be up.
 * Returns 0, -EINVAL (bad conf), -EEXIST (name in use) or -ENOMEM.
 */
int sg_routing_create(struct sg_routing **out, const struct sg_routing_conf *conf);

/* Frees the table; no lookup may run any more.  NULL is a no-op. */
void sg_routing_free(struct sg_routing *r);

/*
 * Routes prefix/depth (host bits ignored) to next hop nh, replacing the next
 * hop of an equal prefix.  Returns 0, -EINVAL (depth > 128 or nh above
 * SG_ROUTING_NH_MAX) or -ENOSPC (table full); on error nothing changed.
 */
int sg_routing_add(struct sg_routing *r, const uint8_t prefix[16], uint8_t depth, uint32_t nh);

/* Removes the route prefix/depth. Returns 0, -EINVAL or -ENOENT. */
int sg_routing_delete(struct sg_routing *r, const uint8_t prefix[16], uint8_t depth);

/* The next hop of exactly prefix/depth into *nh. Returns 0 or -ENOENT. */
int sg_routing_get(const struct sg_routing *r, const uint8_t prefix[16], uint8_t depth,
		   uint32_t *nh);

/* Longest prefix match of one address; SG_ROUTING_NO_ROUTE when none. */
uint32_t sg_routing_lookup(const struct sg_routing *r, const uint8_t addr[16]);

/*
 * Longest prefix match of n addresses: nh[i] is the next hop of addrs[i], or
 * SG_ROUTING_NO_ROUTE.  Lock-free; the data path's call.
 */
void sg_routing_lookup_bulk(const struct sg_routing *r, uint8_t (*addrs)[16], uint64_t *nh,
			    unsigned int n);

/* Number of routes. */
uint32_t sg_routing_count(const struct sg_routing *r);

/* Called once per route; a non-zero return stops the walk. */
typedef int (*sg_routing_walk_fn)(void *arg, const uint8_t prefix[16], uint8_t depth, uint32_t nh);

/*
 * Calls fn for every route in ascending address order (a writer operation:
 * not concurrently with updates).  Returns fn's non-zero value, or 0.
 */
int sg_routing_walk(const struct sg_routing *r, sg_routing_walk_fn fn, void *arg);

/* --- 6PN addresses ------------------------------------------------------- */

#define SG_6PN_ORG_DEPTH     48
#define SG_6PN_MACHINE_DEPTH 112
#define SG_6PN_DNS_SUFFIX    3
/* Room for any IPv6 address in text, as INET6_ADDRSTRLEN. */
#define SG_6PN_STRLEN 46

/* The fields of a 6PN address, in host byte order. */
struct sg_6pn {
	uint32_t network; /* the organisation's network id */
	uint32_t host;
	uint32_t machine;
	uint16_t low; /* the 16 free bits inside the machine's /112 */
};

/* 1 when addr is in fdaa::/16, else 0. */
static inline int sg_6pn_is_6pn(const uint8_t addr[16])
{
	return addr[0] == 0xfd && addr[1] == 0xaa;
}

/* Splits a 6PN address into its fields. Returns 0, or -EINVAL if not 6PN. */
int sg_6pn_unpack(struct sg_6pn *f, const uint8_t addr[16]);

/* Builds the 6PN address of the fields. */
void sg_6pn_pack(uint8_t addr[16], const struct sg_6pn *f);

/* Parses a 6PN address in IPv6 text form. Returns 0, or -EINVAL. */
int sg_6pn_parse(struct sg_6pn *f, const char *text);

/*
 * Writes the fields as IPv6 text (RFC 5952 form). Returns 0, or -ENOSPC when
 * len is below SG_6PN_STRLEN.
 */
int sg_6pn_format(char *buf, size_t len, const struct sg_6pn *f);

/* The organisation's /48 of a 6PN address. Returns 0, or -EINVAL if not 6PN. */
int sg_6pn_org(uint8_t org[16], const uint8_t addr[16]);

/* The org's DNS resolver address (<org /48>::3). Returns 0, or -EINVAL. */
int sg_6pn_dns(uint8_t dns[16], const uint8_t addr[16]);

#ifdef __cplusplus
}
#endif
#endif
