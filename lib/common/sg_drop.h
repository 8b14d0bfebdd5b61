/* SPDX-License-Identifier: MIT */
/*
 * Every packet sixgate drops is counted under one of these reasons.  The list
 * is one X-macro so that the enum, the names shown by telemetry and the
 * counters can never disagree.
 */
#ifndef SG_DROP_H
#define SG_DROP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SG_DROP_REASONS(X)                                                            \
	X(NONE, "not dropped")                                                        \
	X(ETH_TRUNCATED, "frame shorter than an Ethernet header")                     \
	X(ETH_TYPE, "ethertype neither IPv4, IPv6 nor ARP")                           \
	X(ETH_NOT_FOR_US, "destination MAC is not ours")                              \
	X(IP_TRUNCATED, "outer IP header truncated or bad length")                    \
	X(IP_CSUM, "bad outer IPv4 header checksum")                                  \
	X(IP_FRAGMENT, "outer IP fragment")                                           \
	X(IP_NOT_FOR_US, "outer destination is not a gateway address")                \
	X(IP_PROTO, "outer protocol not handled")                                     \
	X(UDP_TRUNCATED, "UDP header truncated or bad length")                        \
	X(UDP_CSUM, "bad UDP checksum")                                               \
	X(UDP_PORT, "UDP destination is not the listen port")                         \
	X(WG_TYPE, "unknown WireGuard message type")                                  \
	X(WG_SIZE, "WireGuard message of the wrong size for its type")                \
	X(WG_RESERVED, "WireGuard reserved bytes not zero")                           \
	X(WG_UNKNOWN_INDEX, "no keypair for the receiver index")                      \
	X(WG_KEYPAIR_EXPIRED, "keypair past REJECT_AFTER_TIME or messages")           \
	X(WG_REPLAY, "counter replayed or outside the window")                        \
	X(WG_BAD_TAG, "authentication tag mismatch")                                  \
	X(WG_MAC1, "handshake mac1 invalid")                                          \
	X(WG_MAC2, "handshake mac2 missing or invalid under load")                    \
	X(WG_HANDSHAKE, "handshake message refused")                                  \
	X(WG_STATIC, "initiation whose static key does not decrypt")                  \
	X(WG_HS_FLOOD, "initiation sooner than 1/50 s after the peer's last")         \
	X(WG_HS_RING_FULL, "handshake ring to the control lcore full")                \
	X(WG_HS_RATELIMIT, "handshake rate limit for the source")                     \
	X(WG_UNKNOWN_PEER, "static key of no configured or stored peer")              \
	X(WG_PEER_REFUSED, "static key of a revoked or expired stored peer")          \
	X(STORE_LIMIT, "store lookup over its rate or lookups in flight")             \
	X(STORE_FAULT, "the peer store could not be read, or the peer not loaded")    \
	X(WG_TIMESTAMP, "initiation timestamp replayed or older")                     \
	X(WG_COOKIE, "cookie reply invalid")                                          \
	X(INNER_TRUNCATED, "inner packet truncated or bad length")                    \
	X(INNER_NOT_IPV6, "inner packet is not IPv6")                                 \
	X(INNER_SRC, "inner source outside the peer's allowed IPs")                   \
	X(NO_ROUTE, "no route for the inner destination")                             \
	X(ORG_ISOLATION, "destination outside the source's org network")              \
	X(POLICY_DENY, "denied by the policy")                                        \
	X(VM_SPOOF, "VM sent from outside its /112")                                  \
	X(VM_TRUNCATED, "VM frame truncated or not IPv6")                             \
	X(NO_PEER, "no peer's allowed IPs hold the destination")                      \
	X(NO_SESSION, "peer has no usable session")                                   \
	X(STAGED_FULL, "staged queue of the peer full")                               \
	X(STAGED_TIMEOUT, "staged longer than 10 s without a session")                \
	X(STAGED_VM_LIMIT, "the VM's staged packets reached half its buffers")        \
	X(HOP_LIMIT, "hop limit exhausted (Time Exceeded sent, rate limited)")        \
	X(TOO_BIG, "packet larger than the tunnel MTU")                               \
	X(NIC_TX_FULL, "the worker's NIC transmit queue full")                        \
	X(VM_TX_FULL, "a VM port's queue, hand-off ring and pending list full")       \
	X(VM_REMOVED, "queued for a VM when it was removed (vm rm)")                  \
	X(NO_MBUF, "mbuf pool exhausted")                                             \
	X(CRYPTO, "crypto engine error")                                              \
	X(LOCAL_OTHER, "addressed to the gateway, not handled")                       \
	X(MARTIAN, "local request from a broadcast, multicast or unspecified source") \
	X(LOCAL_RATELIMIT, "local replies (ARP, ND, echo) over their rate")           \
	X(STOPPING, "handshake refused: the gateway is stopping")                     \
	X(FLEET_STANDBY, "a failover pair's standby: silent until it takes over")     \
	X(FLEET_LEASE, "send counter past the lease the standby acknowledged")        \
	X(FLEET_FORWARD, "for the fleet partner: its ring full, or it cannot take it")

enum sg_drop_reason {
#define SG_DROP_ENUM(name, desc) SG_DROP_##name,
	SG_DROP_REASONS(SG_DROP_ENUM)
#undef SG_DROP_ENUM
		SG_DROP_MAX
};

/* Short lower-case name of a reason ("wg_replay"), for telemetry. */
const char *sg_drop_name(enum sg_drop_reason r);
/* One-line description of a reason. */
const char *sg_drop_desc(enum sg_drop_reason r);
/* Looks a reason up by its short name; returns SG_DROP_MAX when unknown. */
enum sg_drop_reason sg_drop_lookup(const char *name);

/*
 * A block of drop counters.  Each worker owns one, aligned to its own cache
 * lines, so counting never shares a line between cores; readers add them up.
 */
struct sg_drop_counters {
	uint64_t n[SG_DROP_MAX];
} __attribute__((aligned(64)));

static inline void sg_drop_count(struct sg_drop_counters *c, enum sg_drop_reason r, uint64_t n)
{
	c->n[r] += n;
}

/* Adds every counter of src to dst. */
void sg_drop_sum(struct sg_drop_counters *dst, const struct sg_drop_counters *src);

#ifdef __cplusplus
}
#endif
#endif
