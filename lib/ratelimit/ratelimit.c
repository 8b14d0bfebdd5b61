/* SPDX-License-Identifier: MIT */
/*
 * An open-addressing hash table with linear probing, at most half full, and
 * backward-shift deletion, so that lookups stop at the first empty slot and
 * no tombstones accumulate.  Tokens are counted in nanoseconds of credit as
 * in the kernel: a message costs one interval, the bucket holds a burst.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <sodium.h>

#include "lib/wire/sg_wire.h"
#include "sg_ratelimit.h"

#define NSEC_PER_SEC   1000000000ull
#define PACKET_COST    (NSEC_PER_SEC / SG_RATELIMIT_PACKETS_PER_SECOND)
#define TOKEN_MAX      (PACKET_COST * SG_RATELIMIT_PACKETS_BURSTABLE)
#define IDLE_NS	       (SG_RATELIMIT_IDLE_TIMEOUT_S * NSEC_PER_SEC)
#define GC_INTERVAL_NS NSEC_PER_SEC
#define MAX_CAPACITY   (1u << 28)

enum { FREE = 0, V4 = 4, V6 = 6 };

struct entry {
	uint64_t ip;
	uint64_t last_ns;
	uint64_t tokens;
	uint32_t home; /* hash of the key, masked later */
	uint8_t family;
};

struct sg_ratelimit {
	struct entry *slots;
	uint32_t mask;
	uint32_t count;
	uint32_t capacity;
	uint64_t last_gc_ns;
	uint8_t key[crypto_shorthash_siphash24_KEYBYTES];
};

struct sg_ratelimit *sg_ratelimit_create(uint32_t capacity)
{
	struct sg_ratelimit *rl;
	uint32_t size = 8;

	if (capacity == 0 || capacity > MAX_CAPACITY) {
		errno = EINVAL;
		return NULL;
	}
	while (size < 2 * capacity)
		size <<= 1;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->slots = calloc(size, sizeof(*rl->slots));
	if (!rl->slots || getrandom(rl->key, sizeof(rl->key), 0) != (ssize_t)sizeof(rl->key)) {
		int err = rl->slots ? errno : ENOMEM;

		sg_ratelimit_destroy(rl);
		errno = err;
		return NULL;
	}
	rl->mask = size - 1;
	rl->capacity = capacity;
	return rl;
}

void sg_ratelimit_destroy(struct sg_ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->slots);
	sodium_memzero(rl->key, sizeof(rl->key));
	free(rl);
}

uint32_t sg_ratelimit_count(const struct sg_ratelimit *rl)
{
	return rl->count;
}

/* Reduces an address to its key: the IPv4 address or the IPv6 /64. */
static uint8_t key_of(const uint8_t *addr, int family, uint64_t *ip)
{
	*ip = 0;
	if (!addr)
		return FREE;
	if (family == AF_INET) {
		memcpy(ip, addr, 4);
		return V4;
	}
	if (family == AF_INET6) {
		memcpy(ip, addr, 8);
		return V6;
	}
	return FREE;
}

static uint32_t hash_of(const struct sg_ratelimit *rl, uint64_t ip, uint8_t family)
{
	uint8_t in[9], out[crypto_shorthash_siphash24_BYTES];
	uint64_t h;

	memcpy(in, &ip, 8);
	in[8] = family;
	crypto_shorthash_siphash24(out, in, sizeof(in), rl->key);
	memcpy(&h, out, sizeof(h));
	return (uint32_t)h;
}

static bool is_idle(const struct entry *e, uint64_t now_ns)
{
	return now_ns > e->last_ns && now_ns - e->last_ns > IDLE_NS;
}

/* Refills the bucket for the time since its last message, then takes a token. */
static bool take(struct entry *e, uint64_t now_ns)
{
	uint64_t tokens = e->tokens;

	if (now_ns > e->last_ns) {
		tokens += now_ns - e->last_ns;
		e->last_ns = now_ns;
	}
	if (tokens > TOKEN_MAX)
		tokens = TOKEN_MAX;
	e->tokens = tokens >= PACKET_COST ? tokens - PACKET_COST : tokens;
	return tokens >= PACKET_COST;
}

/* A new source starts with a full bucket, less this message. */
static void fill(struct entry *e, uint64_t ip, uint8_t family, uint32_t home, uint64_t now_ns)
{
	e->ip = ip;
	e->family = family;
	e->home = home;
	e->last_ns = now_ns;
	e->tokens = TOKEN_MAX - PACKET_COST;
}

/* First empty slot on the probe path from home. */
static struct entry *empty_slot(struct sg_ratelimit *rl, uint32_t home)
{
	uint32_t i = home & rl->mask;

	while (rl->slots[i].family != FREE)
		i = (i + 1) & rl->mask;
	return &rl->slots[i];
}

/*
 * Empties slot i and pulls back the entries after it that may move, so that
 * every remaining entry stays reachable from its home without tombstones.
 */
static void remove_at(struct sg_ratelimit *rl, uint32_t i)
{
	uint32_t hole = i, j;

	for (j = (i + 1) & rl->mask; rl->slots[j].family != FREE; j = (j + 1) & rl->mask) {
		uint32_t home = rl->slots[j].home & rl->mask;

		/* An entry whose home lies after the hole must not move before it. */
		if (((j - home) & rl->mask) < ((j - hole) & rl->mask))
			continue;
		rl->slots[hole] = rl->slots[j];
		hole = j;
	}
	rl->slots[hole].family = FREE;
	rl->count--;
}

uint32_t sg_ratelimit_gc(struct sg_ratelimit *rl, uint64_t now_ns)
{
	uint32_t freed = 0;

	for (uint32_t i = 0; i <= rl->mask; i++) {
		/* A removal may pull an idle entry into slot i: look again. */
		while (rl->slots[i].family != FREE && is_idle(&rl->slots[i], now_ns)) {
			remove_at(rl, i);
			freed++;
		}
	}
	rl->last_gc_ns = now_ns;
	return freed;
}

/*
 * Inserts a source that is not in the table.  When the table is full and the
 * last collection is a while ago, collects first; the interval bounds what a
 * flood of new sources can cost.
 */
static bool insert(struct sg_ratelimit *rl, uint64_t ip, uint8_t family, uint32_t home,
		   uint64_t now_ns)
{
	if (rl->count >= rl->capacity) {
		bool recent = now_ns >= rl->last_gc_ns && now_ns - rl->last_gc_ns < GC_INTERVAL_NS;

		if (recent || sg_ratelimit_gc(rl, now_ns) == 0)
			return false;
	}
	fill(empty_slot(rl, home), ip, family, home, now_ns);
	rl->count++;
	return true;
}

bool sg_ratelimit_allow_source(struct sg_ratelimit *rl, const uint8_t *addr, int family,
			       uint64_t now_ns)
{
	struct entry *idle = NULL;
	uint64_t ip;
	uint8_t fam = key_of(addr, family, &ip);
	uint32_t home, i;

	if (fam == FREE)
		return false;
	home = hash_of(rl, ip, fam);
	for (i = home & rl->mask; rl->slots[i].family != FREE; i = (i + 1) & rl->mask) {
		struct entry *e = &rl->slots[i];

		if (e->ip == ip && e->family == fam)
			return take(e, now_ns);
		if (!idle && is_idle(e, now_ns))
			idle = e;
	}
	/*
	 * An idle entry on this source's probe path can simply be taken over:
	 * it lies before the first empty slot, so the new key stays reachable.
	 */
	if (idle) {
		fill(idle, ip, fam, home, now_ns);
		return true;
	}
	return insert(rl, ip, fam, home, now_ns);
}
