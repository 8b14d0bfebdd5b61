/* SPDX-License-Identifier: MIT */
/*
 * The product's defaults and limits, each defined once: lib/config refuses
 * a file beyond them with "FILE:LINE: reason", and the data plane sizes its
 * arrays by them.
 */
#ifndef SG_LIMITS_H
#define SG_LIMITS_H

#define SG_DEFAULT_LISTEN_PORT 51820
#define SG_DEFAULT_MTU	       1420 /* inner (tunnel) MTU, as wg-quick's */
#define SG_MIN_MTU	       1280 /* IPv6's minimum link MTU */
#define SG_MAX_MTU	       9000
#define SG_BURST_DEFAULT       32  /* packets per RX burst */
#define SG_BURST_MAX	       256 /* the size of every stage's per-burst arrays */
#define SG_DEFAULT_MBUFS       8191
#define SG_MAX_WORKERS	       16
#define SG_MAX_NIC_QUEUES      64 /* RX or TX queues of the NIC */
#define SG_MAX_VMS	       64
#define SG_MAX_PEERS	       262144 /* [peer] sections of one file (the store holds more) */
#define SG_MAX_ALLOWED_IPS     16     /* per peer */
/* The peer store ([store]): what is loaded of it, and how fast it is read. */
#define SG_MAX_LOADED_PEERS	  (1u << 20)
#define SG_DEFAULT_LOADED_PEERS	  10000
#define SG_DEFAULT_STORE_LOOKUPS  200 /* per second */
#define SG_DEFAULT_STORE_INFLIGHT 64
#define SG_MAX_STORE_INFLIGHT	  1024
#define SG_DEFAULT_NEGATIVE_S	  30
#define SG_DEFAULT_STORE_CHECK_S  5
/*
 * Buffers are per tenant: each VM's port draws from a pool of its own, so
 * that what one VM sends (and the gateway stages for it) can never take the
 * buffers another VM needs.  Staged packets wait for a session at most this
 * long, however often new ones arrive.
 */
#define SG_VM_MBUFS	    2047
#define SG_VM_MBUFS_RESERVE 1024 /* never staged: what the VM's own traffic needs */
#define SG_STAGED_TIMEOUT_S 10

#endif
