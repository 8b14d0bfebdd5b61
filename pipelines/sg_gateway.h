/* SPDX-License-Identifier: MIT */
/*
 * The gateway assembled: the data plane of pipelines/ (ports, peers, VMs,
 * routes, rings, workers) built in one place from a parsed configuration,
 * the control lcore that drives its handshakes and timers (lib/control over
 * the data plane's tables), and the telemetry commands that read both.
 *
 * app/sixgate, bench/bench_datapath and the in-process stage tests all build
 * their gateway with sg_gateway_create; the peer store and run-time VM
 * changes call the same sg_gateway_peer_add / sg_gateway_vm_add.
 *
 * EAL must be up.  Everything here runs on the control (main) lcore, except
 * the telemetry handlers (DPDK's telemetry thread, under tel_lock).
 */
#ifndef SG_GATEWAY_H
#define SG_GATEWAY_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/config/sg_config.h"
#include "lib/control/sg_control.h"
#include "pipelines/sg_pipeline.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the command line adds to the file. */
struct sg_gateway_opts {
	unsigned mbufs;		    /* mbufs in the packet pool; 0: SG_DEFAULT_MBUFS */
	unsigned idle_sleep_us;	    /* workers sleep this long when idle; 0: pure polling */
	unsigned status_interval_s; /* a status line every S seconds; 0: off */
	bool under_load;	    /* demand a cookie on every handshake */
	unsigned drain_ms;	    /* on stop, drain for at most this long; 0: SG_DRAIN_MS */
};

#define SG_DRAIN_MS 1000

/* Control-plane state of one peer (sg_peer.ctl points here). */
struct sg_ctl_peer {
	struct sg_control_peer cp;
	struct sg_peer *peer;
	/* Data-path stamps already reported to the timers. */
	uint64_t seen_rx, seen_data_rx, seen_tx, seen_data_tx;
	uint64_t last_handshake_ns; /* wall-clock ns of the last completed handshake */
	uint64_t staged_dropped;
	/* Something changed it outside a tick: its next visit is followed by one more. */
	bool touched;
	bool from_store;	/* loaded from the peer store (else the file's) */
	uint64_t loaded_ns;	/* when it was loaded */
	uint64_t fleet_gone_ns; /* an anycast partner took its sessions then (0: never) */
	uint64_t active_ns;	/* its last handshake or packet, for eviction */
};

/* What the peer store's loader counted (control lcore writes, telemetry reads). */
struct sg_loader_stats {
	uint64_t lookups;	/* store lookups of unknown keys asked for */
	uint64_t loaded;	/* peers found, usable and installed */
	uint64_t answered;	/* first initiations answered after the load */
	uint64_t unknown;	/* keys the store does not have */
	uint64_t refused;	/* revoked or expired peers */
	uint64_t negative_hits; /* initiations of negative-cached keys */
	uint64_t limited;	/* lookups refused by the rate or in-flight limit */
	uint64_t faults;	/* lookups the store could not answer */
	uint64_t checks;	/* loaded peers checked again (notify, backstop) */
	uint64_t unloaded;	/* peers unloaded: revoked, expired or deleted */
	uint64_t changed;	/* loaded peers whose allowed IPs changed */
	uint64_t evicted_idle, evicted_lru;
	uint64_t notifications; /* changes the store notified (PostgreSQL's NOTIFY) */
	uint64_t outages;	/* times the store became unreachable */
	uint64_t reconnects;	/* times it came back */
	uint64_t unreachable;	/* 1 while it is unreachable */
};

struct sg_loader;
struct sg_fleet;

/* A failover pair's member (fleet.c): its state and what its channel counted. */
struct sg_fleet_stats {
	uint32_t node_id, partner_id;
	unsigned state;		/* enum sg_fleet_state: joining, standby, active */
	unsigned partner_state; /* as its last message said */
	unsigned partner_up;	/* active: the partner is heard and holds our sessions */
	uint64_t sessions;	/* sessions synced (active) or heard (standby) */
	uint64_t tx_msgs, rx_msgs, tx_errors;
	uint64_t rx_bad, rx_replayed, rx_stale, rx_refused;
	uint64_t sessions_sent, sessions_heard;
	uint64_t leases_asked, leases_acked, marks_sent;
	uint64_t resyncs_sent, resyncs_heard;
	uint64_t takeovers, taken_sessions, skipped_sessions, yields, partner_lost;
	uint64_t announcements;
	unsigned anycast;	 /* both members active ([fleet] mode = anycast) */
	uint64_t claims;	 /* anycast: peers whose sessions we took over on demand */
	uint64_t given_away;	 /* anycast: peers the partner took from us */
	uint64_t partner_routes; /* anycast: the partner's VM prefixes routed to it */
	uint64_t forwarded;	 /* inner packets sent to the partner */
	uint64_t forwards_in, forwards_out; /* received: for our VMs, for our sessions */
	uint64_t forward_refused;	    /* received and not taken */
	uint64_t
		counter_jumps; /* split brains healed: our send counters moved above the partner's */
	uint64_t last_takeover_us; /* the last takeover's own time */
	uint64_t last_silence_ms;  /* how long the partner had been silent then */
};

/* Counters of the control lcore besides lib/control's (written by control only). */
struct sg_ctl_stats {
	uint64_t keepalive_tx, rekeys, confirmed, expired, give_up;
	/* Timer ticks, the peers they visited, and the most one tick visited. */
	uint64_t ticks, tick_visits, tick_visits_max;
};

/*
 * The most peers one tick (every 20 ms) visits; peers due beyond it wait for
 * the next tick, so that a burst of deadlines cannot stall the handshakes.
 */
#define SG_CTL_TICK_VISITS_MAX 4096

/* The control lcore. */
struct sg_ctl {
	struct sg_control core;
	struct sg_dp *dp;
	struct sg_ctl_peer *cps; /* one per peer slot of dp->peers */
	struct sg_ctl_stats st;
	/*
	 * Also rekey responder sessions this old (0: off).  Set when [timers]
	 * shortens rekey_after_time, so that a test sees gateway-initiated
	 * rekeys even while the client initiated the session.
	 */
	unsigned rekey_after_time_s;
	unsigned status_interval_s;
	/* Called every heartbeat_ns from the timer tick (systemd's watchdog); NULL: none. */
	void (*heartbeat)(void);
	uint64_t heartbeat_ns, next_heartbeat_ns;
	uint64_t drain_ns;     /* how long a stop may drain */
	uint64_t drain_end_ns; /* when the drain that began ends (0: not stopping) */
	/* The peer store's loader (loader.c); NULL without a [store]. */
	struct sg_loader *loader;
	/* The failover pair (fleet.c); NULL without a [fleet]. */
	struct sg_fleet *fleet;
	/* The source of the handshake message being handled (a new session's endpoint). */
	const struct sg_endpoint *hs_src;
	/* A VM to attach or remove, handed from telemetry to the control lcore (sg_ctl_vm_attach). */
	pthread_mutex_t req_lock;
	pthread_cond_t req_cond;
	SG_ATOMIC(bool) req_pending;
	bool req_done;
	const struct sg_config_vm *req_vm; /* attach this one, or */
	const char *req_rm;		   /* remove the VM of this name */
	int req_rc;
	/* The key of the last initiation whose static key is no loaded peer's. */
	uint8_t miss_key[32];
	bool miss;
	uint64_t next_tick_ns, next_status_ns, next_gc_ns;
	/*
	 * The peers a tick is to visit, by peer id, at their earliest deadline:
	 * a timer, staged packets' expiry, or the next tick when workers or a
	 * handshake changed them.  Idle peers are not in it and cost a tick nothing.
	 */
	struct sg_timers_queue due;
	uint64_t ev_lost_seen; /* dp->ev_lost when the flags were last swept */
	/*
	 * Drop capture: telemetry hands a new file over in dropcap_new (and asks
	 * to stop with dropcap_stop); the control lcore owns dropcap then.
	 */
	SG_ATOMIC(struct sg_dropcap *) dropcap_new;
	SG_ATOMIC(bool) dropcap_stop;
	struct sg_dropcap *dropcap;
	/* Telemetry runs in DPDK's own thread: it takes this lock and the qsbr slot below. */
	pthread_mutex_t tel_lock;
	unsigned tel_thread_id;
};

struct sg_gateway {
	struct sg_dp dp;
	struct sg_ctl ctl;
	unsigned max_peers; /* the size of the peer table */
	bool nic_open;
	/* The policy (policy.c): its file, what its names mean, reloads. */
	char *policy_path;	       /* NULL: the base rule alone (org isolation) */
	struct sg_config policy_names; /* peers' names and IPs, VMs' names and prefixes */
	pthread_mutex_t policy_lock;   /* one reload at a time; telemetry reads under it */
	bool policy_lock_init;
	sem_t policy_sem;	 /* posted by sg_gateway_policy_request (SIGHUP) */
	pthread_t policy_thread; /* "sg-policy": compiles what is requested */
	bool policy_thread_up;
	SG_ATOMIC(bool) policy_quit;
	uint64_t policy_reloads, policy_reload_failures;
	/* Names of store peers in the policy (resolved by each compile). */
	char *policy_store; /* [store] path; NULL: names are the file's alone */
	char *policy_text;  /* the file as last compiled (store recompiles reparse it) */
	size_t policy_text_len;
	unsigned policy_store_refs; /* store names in the running policy */
	uint64_t policy_store_hash; /* what they resolved to */
	uint64_t policy_store_recompiles;
	SG_ATOMIC(unsigned) policy_want_file; /* reloads requested (SIGHUP) */
	SG_ATOMIC(bool) policy_want_store;    /* the store changed */
};

/*
 * Builds the whole gateway from cfg: the mbuf pool, one context per worker
 * lcore of [workers] (launched by the caller) and one for the control lcore,
 * the NIC port ([nic] device: probed, or an ethdev that already has that
 * name) with every RX queue polled by a worker, one port per [vm] (a
 * vhost-user server on its socket, or its device), the peers with their
 * allowed IPs, the 6PN routes, and the rings.  Returns the gateway, or NULL
 * with a negative errno in *err after logging "FILE:LINE: reason" or the
 * device's fault; nothing is left behind.
 */
struct sg_gateway *sg_gateway_create(const struct sg_config *cfg,
				     const struct sg_gateway_opts *opts, int *err);

/* Stops and closes the ports and frees everything; workers must have stopped. */
void sg_gateway_destroy(struct sg_gateway *gw);

/*
 * Adds a peer from its configuration: the data path's peer, its allowed
 * IPs and its control state.  Returns 0, -EEXIST (same key), -ENOSPC or
 * -ENOMEM.
 */
int sg_gateway_peer_add(struct sg_gateway *gw, const struct sg_config_peer *cp);

/*
 * Removes a peer at once: its sessions and handshake end, its keys are
 * wiped, its allowed IPs and staged packets go; the memory returns after a
 * grace period.  Control lcore only.
 */
void sg_gateway_peer_remove(struct sg_gateway *gw, struct sg_peer *p);

/* Adds VM number dp.n_vms from its configuration: its port, route and ring. */
int sg_gateway_vm_add(struct sg_gateway *gw, const struct sg_config_vm *cv);

/*
 * Attaches a VM while the workers run (sixgatectl vm add): checks what the
 * parser would (a /112 inside its org network, a name and a /112 no other
 * VM has), then sg_gateway_vm_add.  Returns 0, -EINVAL, -EEXIST (name),
 * -EADDRINUSE (prefix), -ENOSPC (SG_MAX_VMS) or the port's error.  Control
 * lcore only: telemetry hands it over with sg_ctl_vm_attach.
 */
int sg_gateway_vm_attach(struct sg_gateway *gw, const struct sg_config_vm *cv);

/*
 * From any other thread (telemetry): has the control lcore attach cv, waits
 * for it (up to 10 s) and returns its result (-ETIMEDOUT when it did not).
 */
int sg_ctl_vm_attach(struct sg_ctl *c, const struct sg_config_vm *cv);

/*
 * Removes the VM called name while the workers run (sixgatectl vm rm): its
 * route is deleted and it leaves its owner's poll set, then, after every
 * worker's quiescent state (dp.qsbr), what waits for it in its ring and the
 * owner's pending list is freed (counted as vm_removed), its port is
 * stopped, closed and unplugged, and its per-worker counters are zeroed.  Its
 * mbuf pool and ring stay with the slot (mbufs of it may still be staged or
 * in the NIC's queue); a later vm add reuses the slot.  Other VMs' traffic
 * goes on.  Returns 0 or -ENOENT.  Control lcore only (sg_ctl_vm_detach).
 */
int sg_gateway_vm_detach(struct sg_gateway *gw, const char *name);

/* As sg_ctl_vm_attach, for sg_gateway_vm_detach. */
int sg_ctl_vm_detach(struct sg_ctl *c, const char *name);

/* Sums the drop counters and stats of every worker and the control lcore. */
void sg_gateway_sum(const struct sg_gateway *gw, struct sg_drop_counters *drops,
		    struct sg_worker_stats *st);

/*
 * Frames the gateway holds now that were neither sent nor dropped yet: in the
 * handshake ring, the VMs' hand-off rings and pending lists, and the peers'
 * staged queues.  Exact once the workers have stopped.
 */
uint64_t sg_gateway_in_flight(const struct sg_gateway *gw);

/*
 * Logs the final counter summary: received + made = sent + dropped + consumed
 * + in flight, and the drops by reason.  Returns 0 when it adds up, else the
 * difference (left side minus right side).  Call after the workers stopped.
 */
int64_t sg_gateway_summary(const struct sg_gateway *gw);

/*
 * Per-stage cycles (struct sg_stage_cycles): turns counting on or off on
 * every worker (from any thread; the counts are kept, not reset), and sums
 * the rows of every worker and the control lcore into out[SG_STAGE_MAX].
 * Counting starts as [workers] cycles says.
 */
void sg_gateway_cycles_set(struct sg_gateway *gw, bool on);
bool sg_gateway_cycles_on(const struct sg_gateway *gw);
void sg_gateway_cycles_sum(const struct sg_gateway *gw, struct sg_stage_cycles *out);

/* Sums VM vmi's row of every worker and of the control lcore. */
void sg_gateway_vm_sum(const struct sg_gateway *gw, unsigned vmi, struct sg_vm_stats *out);
/* --- the policy (policy.c) --- */

/*
 * Parses and compiles the policy of cfg (its policy_file, or the base rule
 * alone) and publishes it.  Returns 0, or -EINVAL / -ENOMEM after logging
 * "FILE:LINE: reason".  Called by sg_gateway_create.
 */
int sg_gateway_policy_init(struct sg_gateway *gw, const struct sg_config *cfg);

/*
 * Reads the policy file again, compiles it off the fast path and swaps it in
 * under RCU (returns after the old one is freed).  Returns 0 with "FILE: N
 * rules compiled in T ms" in msg, or a negative errno with the reason
 * ("FILE:LINE: reason") in msg and the running policy unchanged.  Any thread
 * that is not a worker and not an RCU reader at the time.
 */
int sg_gateway_policy_reload(struct sg_gateway *gw, char *msg, size_t len);

/*
 * Asks the gateway's policy thread ("sg-policy", neither a worker nor the
 * control lcore, so handshakes do not wait on a compile) for one reload; its
 * result goes to the log and /sixgate/policy.  Async-signal-safe: SIGHUP.
 */
void sg_gateway_policy_request(struct sg_gateway *gw);

/*
 * The peer store changed (the loader, on sixgatectl's notification or its
 * periodic check): when the running policy names store peers, the policy
 * thread resolves them again and, if what they stand for changed, compiles
 * the file's text of the last (re)load with the new prefixes; a peer that
 * left the store then matches nothing.  Any thread.
 */
void sg_gateway_policy_store_changed(struct sg_gateway *gw);

/*
 * That recompile, synchronously: 1 when the store names resolve as before
 * (or there are none), 0 when a new policy was swapped in, negative errno
 * with the reason in msg.
 */
int sg_gateway_policy_store_recompile(struct sg_gateway *gw, char *msg, size_t len);

/* Frees the policy; workers must have stopped. */
void sg_gateway_policy_fini(struct sg_gateway *gw);

/* Packets that result r (a rule index, or n_rules) decided, over every worker. */
uint64_t sg_dp_policy_hits(const struct sg_dp_policy *p, unsigned n_workers, uint32_t r);

/* --- the control lcore (control.c) --- */

/*
 * One round of the control lcore at now_ns: handshakes and peer events from
 * the workers, and the timers when their tick is due.  Returns the work done
 * (0: idle).  sg_ctl_run loops on it; tests call it to step the gateway.
 */
unsigned sg_ctl_poll(struct sg_ctl *c, uint64_t now_ns);

/*
 * Runs the control loop on the calling (main) lcore until dp->quit.  Once
 * dp->stopping is raised it refuses new handshakes and keeps the workers
 * running until nothing is in flight or the drain time has passed; then it
 * raises dp->quit itself.
 */
void sg_ctl_run(struct sg_ctl *c);

/* --- the peer store's loader (loader.c) --- */

/*
 * Opens the store of cfg ([store] path) for the loader thread and starts it.
 * Returns 0, or a negative errno after logging the store's one-line error.
 */
int sg_loader_start(struct sg_gateway *gw, const struct sg_config *cfg);

/* Stops the thread and frees the loader (waiting initiations are dropped). */
void sg_loader_stop(struct sg_gateway *gw);

/*
 * An initiation m from key, which is no loaded peer's: takes m and asks the
 * store (returns SG_DROP_NONE), or returns why not (negative-cached, over
 * the rate or the in-flight limit).  Control lcore.
 */
enum sg_drop_reason sg_loader_defer(struct sg_ctl *c, const uint8_t key[32], struct rte_mbuf *m);

/* Handles what the loader thread answered, and the periodic checks.  Control lcore. */
unsigned sg_loader_poll(struct sg_ctl *c, uint64_t now_ns);

/*
 * Asks the control lcore to check key against the store again (NULL: every
 * loaded peer): a revoked, expired or deleted peer is unloaded, a changed one
 * updated, and a negative-cache entry of key forgotten.  Any thread
 * (telemetry).  Returns 0 or -ENOSPC when too many checks wait.
 */
int sg_loader_notify(struct sg_loader *l, const uint8_t *key);

/* Initiations that wait for the store (in flight for the stop's accounting). */
unsigned sg_loader_held(const struct sg_loader *l);

/* Lookups in flight (tests wait for them). */
unsigned sg_loader_in_flight(const struct sg_loader *l);

/* The counters, and the store's last fault ("" when none).  Any thread. */
void sg_loader_stats_get(struct sg_loader *l, struct sg_loader_stats *st, char *fault, size_t len);

/* --- the failover pair (fleet.c, docs/fleet.md) --- */

/*
 * Opens the state channel of cfg's [fleet] (nothing without one) and makes
 * the gateway a joining member: silent (dp.standby) until the pair decides
 * who is active.  Returns 0 or a negative errno after logging why.
 */
int sg_fleet_start(struct sg_gateway *gw, const struct sg_config *cfg);

/* Closes the channel and wipes what it held.  Without a [fleet]: a no-op. */
void sg_fleet_stop(struct sg_gateway *gw);

/* The channel, the heartbeats, the takeover and the leases' sweep.  Control lcore. */
unsigned sg_fleet_poll(struct sg_ctl *c, uint64_t now_ns);

/*
 * Anycast: data under an index of ours that no keypair has (a worker handed
 * it over): when the partner synced that session, takes the peer's sessions
 * over and sends m on through the NIC stage; else drops it (unknown index).
 */
void sg_fleet_claim(struct sg_ctl *c, struct rte_mbuf *m);

/*
 * Anycast: a peer with no session here.  1 when the partner's sessions were
 * taken over; -1 when the partner took them a moment ago and its sessions
 * are on their way (wait: no handshake); 0 otherwise.
 */
int sg_fleet_claim_peer(struct sg_ctl *c, struct sg_peer *peer);

/*
 * Anycast: whether the partner, reachable, holds the peer's sessions (it
 * took them: the client's packets reach it).  No handshake is started for
 * such a peer here: the timers of the data this member sent before it gave
 * the session away would otherwise start one (new-handshake, 15 s later).
 */
bool sg_fleet_peer_at_partner(struct sg_ctl *c, const struct sg_peer *peer);

/* A keypair made, before it is installed: synced to the partner with its first lease. */
void sg_fleet_session_new(struct sg_ctl *c, struct sg_keypair *kp);

/* The member's counters (any thread; they may be a round old). */
void sg_fleet_stats_get(const struct sg_fleet *f, struct sg_fleet_stats *st);
const char *sg_fleet_state_name(unsigned state);

/* --- telemetry (telemetry.c) --- */

/* Registers the /sixgate/ telemetry commands for gw (once per process). */
int sg_telemetry_register(struct sg_gateway *gw);
/*
 * Refuses every later query (-ENODEV) and waits (at most 5 s) for those in
 * flight: call it before the gateway is destroyed.
 */
void sg_telemetry_close(void);

/* --- capture of dropped packets (dropcap.c) --- */

struct sg_dropcap;

/*
 * A new pcapng file at path (it must not exist) for at most max dropped
 * frames, each with its drop reason as a comment.  NULL with -errno in *err.
 */
struct sg_dropcap *sg_dropcap_open(const char *path, uint64_t max, int *err);

/* Writes and frees n frames from the drop ring; false once max are written. */
bool sg_dropcap_write(struct sg_dropcap *dc, struct rte_mbuf **ms, unsigned n);

uint64_t sg_dropcap_written(const struct sg_dropcap *dc);
const char *sg_dropcap_path(const struct sg_dropcap *dc);
void sg_dropcap_close(struct sg_dropcap *dc);

/*
 * Starts capturing dropped frames into dc (any thread: the control lcore
 * takes it over on its next round), or asks to stop (dc NULL).
 */
void sg_ctl_capture_drops(struct sg_ctl *c, struct sg_dropcap *dc);

/* --- Prometheus metrics (metrics.c) --- */

struct sg_metrics;

/*
 * Serves GET /metrics at the address ([metrics] listen) from a thread of its
 * own that only reads what telemetry reads; per-peer series for the
 * peers_top peers with the most traffic (0: none).  Returns NULL with a
 * negative errno in *err when it cannot listen (logged).
 */
struct sg_metrics *sg_metrics_start(struct sg_gateway *gw, const struct sg_config_endpoint *at,
				    unsigned peers_top, int *err);

/* Stops serving (before sg_gateway_destroy).  NULL is a no-op. */
void sg_metrics_stop(struct sg_metrics *m);

/* The metrics text /metrics serves, malloc'ed (length in *len); NULL when out of memory. */
char *sg_metrics_render(struct sg_gateway *gw, unsigned peers_top, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
