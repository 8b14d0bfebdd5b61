/* SPDX-License-Identifier: MIT */
/* The sixgate binary's own state: the control lcore and what it drives. */
#ifndef SIXGATE_APP_H
#define SIXGATE_APP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/cookie/sg_cookie.h"
#include "lib/noise/sg_noise.h"
#include "lib/ratelimit/sg_ratelimit.h"
#include "lib/timers/sg_timers.h"
#include "pipelines/sg_pipeline.h"

/* Control-plane state of one peer (sg_peer.ctl points here). */
struct ctl_peer {
	struct sg_noise_peer_hs hs;
	struct sg_cookie_maker maker;
	struct sg_timers timers;
	bool hs_index_reserved; /* hs.local_index is reserved in the index table */
	/* Data-path stamps already reported to the timers. */
	uint64_t seen_rx, seen_data_rx, seen_tx, seen_data_tx;
	uint64_t last_handshake_ns; /* wall-clock ns of the last completed handshake */
	uint64_t handshakes;
	uint64_t staged_dropped;
};

/* Counters of the control lcore (read by telemetry; written by control only). */
struct ctl_stats {
	uint64_t init_rx, resp_tx, init_tx, resp_rx, cookie_tx, cookie_rx;
	uint64_t keepalive_tx, rekeys, confirmed, expired, give_up;
	uint64_t redirected;
};

/* Timer knobs: [timers] and the command line. */
struct ctl_timers_conf {
	struct sg_timers_params params; /* every peer's protocol times */
	/*
	 * Also rekey responder sessions this old (0: off).  Set when [timers]
	 * shortens rekey_after_time, so that a test sees gateway-initiated
	 * rekeys even while the client initiated the session.
	 */
	unsigned rekey_after_time_s;
	unsigned status_interval_s; /* periodic status line; 0: off */
};

struct sg_ctl {
	struct sg_dp *dp;
	struct sg_noise_static st;
	struct sg_cookie_checker checker;
	struct sg_cookie_load load;
	struct sg_ratelimit *rl;
	struct ctl_peer *cps;
	uint64_t rng;
	struct ctl_stats st_ctl;
	struct ctl_timers_conf tc;
	/* Demand a cookie (mac2) on every handshake, as under load (--under-load). */
	bool always_under_load;
	/* An RX queue that only exists because the PMD ties RX to TX queues. */
	bool has_extra_rxq;
	uint16_t extra_rxq, extra_rxq_end; /* [first, end) */
	uint64_t next_tick_ns, next_status_ns, next_gc_ns;
	uint64_t start_ns;
	/* Telemetry runs in DPDK's own thread: it takes this lock and the qsbr slot below. */
	pthread_mutex_t tel_lock;
	unsigned tel_thread_id;
};

/* Prepares the control state for every peer of dp; returns 0 or -errno. */
int sg_ctl_init(struct sg_ctl *c, struct sg_dp *dp, const uint8_t private_key[32]);

/* Runs the control loop on the calling (main) lcore until dp->quit. */
void sg_ctl_run(struct sg_ctl *c);

/* Frees the control state. */
void sg_ctl_fini(struct sg_ctl *c);

/* Registers the /sixgate/ telemetry commands. */
int sg_telemetry_register(struct sg_ctl *c);

/* Sums the drop counters and stats of every worker and the control lcore. */
void sg_ctl_sum(const struct sg_ctl *c, struct sg_drop_counters *drops, struct sg_worker_stats *st);

#endif
