/* SPDX-License-Identifier: MIT */
/*
 * The rte_acl backend: one context over struct sg_policy_key, one category,
 * rule i carrying userdata i + 1 and a priority that falls with i, so that
 * the highest priority match rte_acl returns is the first rule of the file
 * that matches: the same decision as sg_policy_match().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_acl.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "lib/policy/sg_policy.h"

enum {
	F_PROTO,
	F_META,
	F_SRC0,
	F_SRC1,
	F_SRC2,
	F_SRC3,
	F_DST0,
	F_DST1,
	F_DST2,
	F_DST3,
	F_SPORT,
	F_DPORT,
	N_FIELDS
};

RTE_ACL_RULE_DEF(acl_rule, N_FIELDS);

#define WORD(f, off)                                                            \
	{                                                                       \
		.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4, .field_index = (f), \
		.input_index = (f), .offset = (off)                             \
	}

/* rte_acl wants a one-byte first field, then fields grouped in 4-byte inputs. */
static const struct rte_acl_field_def field_defs[N_FIELDS] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK,
	  .size = 1,
	  .field_index = F_PROTO,
	  .input_index = F_PROTO,
	  .offset = offsetof(struct sg_policy_key, proto) },
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK,
	  .size = 4,
	  .field_index = F_META,
	  .input_index = F_META,
	  .offset = offsetof(struct sg_policy_key, meta) },
	WORD(F_SRC0, offsetof(struct sg_policy_key, src) + 0),
	WORD(F_SRC1, offsetof(struct sg_policy_key, src) + 4),
	WORD(F_SRC2, offsetof(struct sg_policy_key, src) + 8),
	WORD(F_SRC3, offsetof(struct sg_policy_key, src) + 12),
	WORD(F_DST0, offsetof(struct sg_policy_key, dst) + 0),
	WORD(F_DST1, offsetof(struct sg_policy_key, dst) + 4),
	WORD(F_DST2, offsetof(struct sg_policy_key, dst) + 8),
	WORD(F_DST3, offsetof(struct sg_policy_key, dst) + 12),
	{ .type = RTE_ACL_FIELD_TYPE_RANGE,
	  .size = 2,
	  .field_index = F_SPORT,
	  .input_index = F_SPORT,
	  .offset = offsetof(struct sg_policy_key, sport) },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE,
	  .size = 2,
	  .field_index = F_DPORT,
	  .input_index = F_SPORT,
	  .offset = offsetof(struct sg_policy_key, dport) },
};

struct sg_policy_acl {
	struct rte_acl_ctx *ctx;
	uint32_t n_rules;
	uint32_t gen;	/* this context's own, never 0: the cache's tag */
	bool base_only; /* the base rule alone: the workers decide by the org bit */
	const char *alg;
};

/* The four 32-bit words of an IPv6 prefix as rte_acl MASK fields. */
static void prefix_fields(struct rte_acl_field *f, const uint8_t *addr, unsigned len)
{
	for (unsigned w = 0; w < 4; w++) {
		uint32_t v;
		int bits = (int)len - 32 * (int)w;

		memcpy(&v, addr + 4 * w, 4);
		f[w].value.u32 = ntohl(v);
		f[w].mask_range.u32 = bits >= 32 ? 32 : bits <= 0 ? 0 : (uint32_t)bits;
	}
}

static void to_acl(struct acl_rule *a, const struct sg_policy_rule *r, uint32_t i, uint32_t n)
{
	uint32_t meta_mask = 0, meta_val = 0;

	memset(a, 0, sizeof(*a));
	a->data.category_mask = 1;
	/* Earlier rules win: priority n - i, all within rte_acl's range. */
	a->data.priority = (int32_t)(n - i);
	a->data.userdata = i + 1;
	a->field[F_PROTO].value.u8 = r->proto;
	a->field[F_PROTO].mask_range.u8 = r->proto ? 0xff : 0;
	if (r->dirs != SG_POLICY_DIR_ANY) {
		meta_mask |= SG_POLICY_META_OUT;
		meta_val |= r->dirs == SG_POLICY_DIR_OUT ? SG_POLICY_META_OUT : 0;
	}
	if (r->same_org) {
		meta_mask |= SG_POLICY_META_SAME_ORG;
		meta_val |= SG_POLICY_META_SAME_ORG;
	}
	a->field[F_META].value.u32 = meta_val;
	a->field[F_META].mask_range.u32 = meta_mask;
	prefix_fields(&a->field[F_SRC0], r->src, r->src_len);
	prefix_fields(&a->field[F_DST0], r->dst, r->dst_len);
	a->field[F_SPORT].value.u16 = r->sport_lo;
	a->field[F_SPORT].mask_range.u16 = r->sport_hi;
	a->field[F_DPORT].value.u16 = r->dport_lo;
	a->field[F_DPORT].mask_range.u16 = r->dport_hi;
}

/* The fastest classify method this CPU and EAL's SIMD width allow. */
static const char *pick_alg(struct rte_acl_ctx *ctx)
{
	static const struct {
		enum rte_acl_classify_alg alg;
		const char *name;
	} algs[] = {
		{ RTE_ACL_CLASSIFY_AVX512X32, "avx512x32" },
		{ RTE_ACL_CLASSIFY_AVX512X16, "avx512x16" },
		{ RTE_ACL_CLASSIFY_AVX2, "avx2" },
		{ RTE_ACL_CLASSIFY_SSE, "sse" },
		{ RTE_ACL_CLASSIFY_SCALAR, "scalar" },
	};

	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (rte_acl_set_ctx_classify(ctx, algs[i].alg) == 0)
			return algs[i].name;
	return "default";
}

/* The largest burst the cache takes at once (the stages pass up to 256). */
#define SG_POLICY_CACHE_BURST 256u

_Static_assert(sizeof(struct sg_policy_key) == 44, "key_hash reads 44 bytes");

static atomic_uint gens;

/* Whether r is the base rule (allow within the source's org, nothing else). */
static bool is_base_rule(const struct sg_policy_rule *r)
{
	return r->action == SG_POLICY_ALLOW && r->dirs == SG_POLICY_DIR_ANY && r->same_org &&
	       r->proto == 0 && r->src_len == 0 && r->dst_len == 0 && r->sport_lo == 0 &&
	       r->sport_hi == 0xffff && r->dport_lo == 0 && r->dport_hi == 0xffff;
}

int sg_policy_acl_build(struct sg_policy_acl **out, const struct sg_policy *p, int socket_id,
			char *err, size_t errlen)
{
	static atomic_uint seq;
	char name[RTE_ACL_NAMESIZE];
	struct rte_acl_param prm = {
		.name = name,
		.socket_id = socket_id,
		.rule_size = RTE_ACL_RULE_SZ(N_FIELDS),
		.max_rule_num = (uint32_t)p->n_rules,
	};
	/*
	 * A bound on the run-time tables: past it rte_acl splits the rules over
	 * more tries (slower classify) instead of growing without end.
	 */
	struct rte_acl_config cfg = { .num_categories = 1,
				      .num_fields = N_FIELDS,
				      .max_size = (size_t)512 << 20 };
	struct sg_policy_acl *a;
	struct acl_rule *rules;
	uint32_t n = (uint32_t)p->n_rules;
	int rc;

	if (n == 0 || p->n_rules > SG_POLICY_MAX_RULES) {
		snprintf(err, errlen, "%s: %zu rules (1 to %u)", p->file, p->n_rules,
			 SG_POLICY_MAX_RULES);
		return -EINVAL;
	}
	memcpy(cfg.defs, field_defs, sizeof(field_defs));
	snprintf(name, sizeof(name), "sg_policy_%u", atomic_fetch_add(&seq, 1));
	a = calloc(1, sizeof(*a));
	rules = malloc(sizeof(*rules) * n);
	if (a == NULL || rules == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < n; i++)
		to_acl(&rules[i], &p->rules[i], i, n);
	a->n_rules = n;
	a->ctx = rte_acl_create(&prm);
	if (a->ctx == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = rte_acl_add_rules(a->ctx, (const struct rte_acl_rule *)rules, n);
	if (rc == 0)
		rc = rte_acl_build(a->ctx, &cfg);
	if (rc != 0)
		goto fail;
	a->alg = pick_alg(a->ctx);
	a->base_only = n == 1 && is_base_rule(&p->rules[0]);
	do
		a->gen = atomic_fetch_add(&gens, 1) + 1;
	while (a->gen == 0);
	free(rules);
	*out = a;
	return 0;
fail:
	snprintf(err, errlen, "%s: rte_acl could not build %u rules: %s", p->file, n,
		 strerror(-rc));
	if (a != NULL)
		rte_acl_free(a->ctx);
	free(a);
	free(rules);
	return rc == -ENOMEM ? -ENOMEM : -EINVAL;
}

void sg_policy_acl_classify(const struct sg_policy_acl *a, const uint8_t **keys, uint32_t *results,
			    unsigned n)
{
	rte_acl_classify(a->ctx, keys, results, n, 1);
	for (unsigned i = 0; i < n; i++)
		results[i] = results[i] == 0 ? a->n_rules : results[i] - 1;
}

static inline bool key_eq(const struct sg_policy_key *a, const struct sg_policy_key *b)
{
	uint64_t x[5], y[5];
	uint32_t u, v;

	/* 44 bytes: five 8-byte words and the ports; one branch. */
	memcpy(x, a, 40);
	memcpy(y, b, 40);
	memcpy(&u, (const uint8_t *)a + 40, 4);
	memcpy(&v, (const uint8_t *)b + 40, 4);
	return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
		(u ^ v)) == 0;
}

/*
 * CRC32 of the 44-byte key, word by word from copies: the stages' keys are
 * 4-byte aligned, and rte_hash_crc would load 8-byte words in place.
 */
static inline uint32_t key_hash(const uint8_t *k)
{
	uint64_t w[5];
	uint32_t t, h = 0;

	memcpy(w, k, 40);
	memcpy(&t, k + 40, 4);
	for (unsigned i = 0; i < 5; i++)
		h = rte_hash_crc_8byte(w[i], h);
	return rte_hash_crc_4byte(t, h);
}

void sg_policy_acl_classify_cached(struct sg_policy_cache *c, const struct sg_policy_acl *a,
				   const uint8_t **keys, uint32_t *results, unsigned n)
{
	struct sg_policy_cache_entry *slot[SG_POLICY_CACHE_BURST];
	const uint8_t *miss_keys[SG_POLICY_CACHE_BURST];
	uint32_t miss_res[SG_POLICY_CACHE_BURST];
	uint16_t miss_at[SG_POLICY_CACHE_BURST];
	unsigned i, nm = 0;

	if (a->base_only) {
		/* Rule 0 when the destination lies in the source's org, else none. */
		for (i = 0; i < n; i++) {
			uint32_t meta;

			memcpy(&meta, keys[i] + offsetof(struct sg_policy_key, meta), 4);
			results[i] = (ntohl(meta) & SG_POLICY_META_SAME_ORG) ? 0 : 1;
		}
		return;
	}
	if (a->n_rules < SG_POLICY_CACHE_MIN_RULES || n > SG_POLICY_CACHE_BURST) {
		sg_policy_acl_classify(a, keys, results, n);
		return;
	}
	for (i = 0; i < n; i++) {
		uint32_t h = key_hash(keys[i]);

		slot[i] = &c->e[h & (SG_POLICY_CACHE_SIZE - 1)];
		rte_prefetch0(slot[i]);
	}
	for (i = 0; i < n; i++) {
		const struct sg_policy_cache_entry *e = slot[i];

		if (e->gen == a->gen && key_eq(&e->key, (const struct sg_policy_key *)keys[i])) {
			results[i] = e->result;
		} else {
			miss_keys[nm] = keys[i];
			miss_at[nm++] = (uint16_t)i;
		}
	}
	c->hits += n - nm;
	if (nm == 0)
		return;
	c->misses += nm;
	sg_policy_acl_classify(a, miss_keys, miss_res, nm);
	for (i = 0; i < nm; i++) {
		struct sg_policy_cache_entry *e = slot[miss_at[i]];

		memcpy(&e->key, miss_keys[i], sizeof(e->key));
		e->result = miss_res[i];
		e->gen = a->gen;
		results[miss_at[i]] = miss_res[i];
	}
}

const char *sg_policy_acl_alg(const struct sg_policy_acl *a)
{
	return a->alg;
}

void sg_policy_acl_free(struct sg_policy_acl *a)
{
	if (a == NULL)
		return;
	rte_acl_free(a->ctx);
	free(a);
}
