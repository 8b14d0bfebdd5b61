/* SPDX-License-Identifier: MIT */
/*
 * The policy: which inner IPv6 packets may cross the gateway, from one plain
 * text file (grammar in config/README.md), compiled to two backends that
 * decide alike:
 *   - rte_acl contexts that the workers run once per burst (sg_policy_acl_*);
 *   - C for an eBPF tc classifier, built with clang -target bpf, that a host
 *     kernel runs (sg_policy_bpf_*), the reference semantics.
 * sg_policy_match() is the same decision as a plain linear scan, for tests.
 *
 * Every backend decides on a struct sg_policy_key: the inner IPv6 5-tuple
 * plus the direction and whether the destination lies in the source's own
 * org.  Rules apply in file order (the first that matches decides), then the
 * base rule "allow within the source's org", then the default: deny.  With
 * no file the policy is the base rule alone, which gives exactly the org
 * isolation the pipelines applied before policies existed.
 *
 * Nothing here touches packets or mbufs; the ACL backend needs EAL (rte_acl
 * allocates in DPDK memory).
 */
#ifndef SG_POLICY_H
#define SG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sg_config;

/* Directions, as bits of a rule's dirs. */
#define SG_POLICY_DIR_IN  1u /* peer -> VM: ingress, after decrypt */
#define SG_POLICY_DIR_OUT 2u /* VM -> peer: egress, before encrypt */
#define SG_POLICY_DIR_ANY 3u

/* Bits of sg_policy_key.meta (host order before sg_policy_key_set). */
#define SG_POLICY_META_OUT	1u /* the packet goes VM -> peer */
#define SG_POLICY_META_SAME_ORG 2u /* its destination lies in its source's org */

#define SG_POLICY_MAX_RULES 200000u /* after expansion, the base rule included */
#define SG_POLICY_ERR_LEN   512

enum sg_policy_action { SG_POLICY_DENY = 0, SG_POLICY_ALLOW = 1 };

/* One rule, expanded: single prefixes, one protocol, ranges. */
struct sg_policy_rule {
	unsigned line;	/* its line in the file; 0 for the base rule */
	uint8_t action; /* enum sg_policy_action */
	uint8_t dirs;	/* SG_POLICY_DIR_* bits, never 0 */
	uint8_t proto;	/* IPPROTO_TCP, _UDP, _ICMPV6, or 0 for any */
	bool same_org;	/* matches only a destination in the source's org */
	uint8_t src_len, dst_len;
	uint8_t src[16], dst[16]; /* host bits zero */
	uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
};

/* A parsed policy: its rules in precedence order, the base rule last. */
struct sg_policy {
	char *file; /* the name messages give; "(org isolation)" without a file */
	struct sg_policy_rule *rules;
	size_t n_rules;
};

/*
 * What a packet is decided on, laid out for rte_acl (network byte order):
 * proto, the meta word, source, destination, ports.  The ports are the
 * TCP/UDP ports when the payload holds at least 4 bytes, else 0.
 */
struct sg_policy_key {
	uint8_t proto;
	uint8_t pad[3];
	uint32_t meta; /* network order */
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport, dport; /* network order */
} __attribute__((aligned(4)));

/*
 * Fills *k from an IPv6 packet of len bytes (len >= 40, its payload length
 * already checked against len), its direction (SG_POLICY_DIR_IN or _OUT) and
 * whether its destination lies in its source's org.
 */
void sg_policy_key_set(struct sg_policy_key *k, const uint8_t *ip6, uint32_t len, unsigned dir,
		       bool same_org);

/*
 * Parses a policy file's text.  Names (peer NAME, vm NAME) are looked up in
 * cfg (NULL: no names known).  Returns 0 and fills *out, or -EINVAL with
 * "FILE:LINE: reason" in err and *out untouched; -ENOMEM.
 */
int sg_policy_parse(struct sg_policy *out, const char *name, const char *text, size_t len,
		    const struct sg_config *cfg, char *err, size_t errlen);

/*
 * Where the parser finds a peer that the configuration has no [peer NAME]
 * for: the peer store (sg_policy_store_peer below), or a test's table.
 * peer() writes up to max IPv6 prefixes of the peer called name and returns
 * how many (0: a peer with none usable, revoked or expired: its rules match
 * nothing), -ENOENT when there is no such peer, or another negative errno
 * with the reason in err.
 */
typedef int (*sg_policy_peer_fn)(void *arg, const char *name, uint8_t (*addr)[16], uint8_t *len,
				 unsigned max, char *err, size_t errlen);

struct sg_policy_names {
	const struct sg_config *cfg; /* [peer NAME], [vm NAME]; NULL: none */
	sg_policy_peer_fn peer;	     /* the peers beyond cfg's; NULL: no store */
	void *arg;
	/*
	 * A peer in neither cfg nor the store: its rules match nothing, instead
	 * of an error (the gateway's recompile after a store change).
	 */
	bool missing_ok;
	/* Out: how many names the store resolved, and a hash of what to. */
	unsigned store_refs;
	uint64_t store_hash;
	char missing[128]; /* out: "FILE:LINE: ..." of the first peer missing_ok let pass */
};

/*
 * As sg_policy_parse with the names of *names (NULL: none known); a peer is
 * looked up in names->cfg first, then through names->peer.  The error for a
 * peer in neither reads "FILE:LINE: no peer 'NAME' (neither in the config
 * nor in the store)".
 */
int sg_policy_parse_names(struct sg_policy *out, const char *name, const char *text, size_t len,
			  struct sg_policy_names *names, char *err, size_t errlen);

/* Reads a policy file (at most 64 MiB) into *text (malloc'd), *len bytes. */
int sg_policy_read(const char *path, char **text, size_t *len, char *err, size_t errlen);

/*
 * The peer store as a sg_policy_peer_fn: arg is a struct sg_policy_store,
 * whose store is opened read-only on the first lookup.  A revoked or expired
 * peer resolves to no prefixes.
 */
struct sg_store;
struct sg_policy_store {
	const char *uri; /* [store] path */
	struct sg_store *store;
};
int sg_policy_store_peer(void *arg, const char *name, uint8_t (*addr)[16], uint8_t *len,
			 unsigned max, char *err, size_t errlen);
/* Closes what sg_policy_store_peer opened. */
void sg_policy_store_close(struct sg_policy_store *s);

/* As sg_policy_parse on the file at path ("FILE: reason" when it cannot be read). */
int sg_policy_load(struct sg_policy *out, const char *path, const struct sg_config *cfg, char *err,
		   size_t errlen);

/* The policy without a file: the base rule alone. Returns 0 or -ENOMEM. */
int sg_policy_default(struct sg_policy *out);

/* Frees what *p holds and zeroes it; NULL is a no-op. */
void sg_policy_free(struct sg_policy *p);

/* Whether rule r matches key k (k in network order, as sg_policy_key_set leaves it). */
bool sg_policy_rule_matches(const struct sg_policy_rule *r, const struct sg_policy_key *k);

/* The index of the first rule that matches k, or p->n_rules (default deny). */
size_t sg_policy_match(const struct sg_policy *p, const struct sg_policy_key *k);

/* Whether result (an index, or n_rules) allows the packet. */
static inline bool sg_policy_allows(const struct sg_policy *p, size_t result)
{
	return result < p->n_rules && p->rules[result].action == SG_POLICY_ALLOW;
}

/* --- the rte_acl backend (acl.c) --- */

struct sg_policy_acl;

/*
 * Builds rte_acl contexts for p (with the classify algorithm rte_acl picks
 * as best for this CPU).  p may be freed afterwards.  Returns 0, -EINVAL or
 * -ENOMEM with a reason in err.
 */
int sg_policy_acl_build(struct sg_policy_acl **out, const struct sg_policy *p, int socket_id,
			char *err, size_t errlen);

/*
 * Classifies n keys (at most 256 per call is what the workers pass) with one
 * rte_acl_classify: results[i] is the index of the rule that decided keys[i],
 * or the rule count when none matched (default deny).
 */
void sg_policy_acl_classify(const struct sg_policy_acl *a, const uint8_t **keys, uint32_t *results,
			    unsigned n);

/*
 * A worker's cache of recent verdicts: a direct-mapped table of keys and the
 * rule that decided them, for one context at a time (an entry holds the
 * generation of the context that made it: every context built has its own,
 * so a reload makes every entry stale at once, without touching the cache).
 * A verdict is a pure function of the key and the context, so a hit is
 * exactly what the classify would say; the packets of a flow after its first
 * skip the trie walk, which with a thousand rules is most of a stage's cost
 * outside the AEAD.  Contexts of fewer than SG_POLICY_CACHE_MIN_RULES rules
 * are classified directly (their walk costs about what a lookup does), and
 * the base rule alone (no policy file) by the key's org bit, which is what
 * its context decides (test_policy BaseRuleAloneIsDecidedByTheOrgBit).
 */
#define SG_POLICY_CACHE_SIZE	  4096u /* entries, a power of two: 256 KiB */
#define SG_POLICY_CACHE_MIN_RULES 16u

struct sg_policy_cache_entry {
	struct sg_policy_key key;
	uint32_t result;
	uint32_t gen; /* 0: empty */
} __attribute__((aligned(64)));

struct sg_policy_cache {
	uint64_t hits, misses;
	struct sg_policy_cache_entry e[SG_POLICY_CACHE_SIZE];
};

/*
 * As sg_policy_acl_classify, through c: one rte_acl_classify for the keys
 * the cache does not hold (none when it holds them all), whose results it
 * keeps.  The keys must come from sg_policy_key_set (its padding zeroed).
 */
void sg_policy_acl_classify_cached(struct sg_policy_cache *c, const struct sg_policy_acl *a,
				   const uint8_t **keys, uint32_t *results, unsigned n);

/* The name of the classify algorithm in use ("avx2", "scalar", ...). */
const char *sg_policy_acl_alg(const struct sg_policy_acl *a);

void sg_policy_acl_free(struct sg_policy_acl *a);

/* --- the eBPF backend (bpf.c) --- */

/*
 * The eBPF program's contract (sec "classifier", a tc direct-action
 * classifier, also run by DPDK's librte_bpf with an mbuf argument): it reads
 * an Ethernet + IPv6 frame with packet loads (BPF_ABS/BPF_IND) and the meta
 * word (SG_POLICY_META_*) from the 32 bits at offset 8 of its context: the
 * skb mark in the kernel.  It returns TC_ACT_OK (0) to allow and TC_ACT_SHOT
 * (2) to deny.  A frame that is not IPv6 is denied.
 */
#define SG_POLICY_BPF_SECTION "classifier"
#define SG_POLICY_BPF_ALLOW   0
#define SG_POLICY_BPF_DENY    2

/* Writes the C source of p's eBPF classifier to out. Returns 0 or -EIO. */
int sg_policy_bpf_emit(const struct sg_policy *p, FILE *out);

/*
 * Writes p's C to c_path and builds obj_path with clang -O2 -target bpf.
 * Returns 0, or -EIO with the compiler's complaint (or the reason) in err.
 */
int sg_policy_bpf_build(const struct sg_policy *p, const char *c_path, const char *obj_path,
			char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
