/* SPDX-License-Identifier: MIT */
/*
 * Logging.  Anything a packet can trigger goes through SG_LOG_RL, which keeps
 * a token bucket per call site, so a flood of bad packets cannot flood the log.
 * Keys are never passed to these functions.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdarg.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sg_log_level { SG_LOG_ERR = 3, SG_LOG_WARN = 4, SG_LOG_INFO = 6, SG_LOG_DEBUG = 7 };

/* A token bucket: burst messages at once, then rate_per_sec. */
struct sg_log_rl_state {
	uint64_t last_ns;
	uint32_t tokens;
	uint32_t burst;
	uint32_t rate_per_sec;
	uint32_t suppressed;
};

#define SG_LOG_RL_INIT(burst_, rate_)             \
	{                                         \
		0, (burst_), (burst_), (rate_), 0 \
	}

/* Messages below this level are not printed (default SG_LOG_INFO). */
void sg_log_set_level(enum sg_log_level level);
/* Redirects output (default: stderr) — used by tests to read what was logged. */
void sg_log_set_sink(void (*sink)(enum sg_log_level, const char *line));

void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Returns 1 when a message may be printed now, 0 when it must be suppressed.
 * now_ns is any monotonic clock in nanoseconds.
 */
int sg_log_rl_allow(struct sg_log_rl_state *rl, uint64_t now_ns);

/* Monotonic clock in nanoseconds. */
uint64_t sg_now_ns(void);

/*
 * Rate-limited log: at most 10 messages at once, then 1 per second per call
 * site; when messages were suppressed the next one says how many.
 */
#define SG_LOG_RL(level, ...)                                                     \
	do {                                                                      \
		static struct sg_log_rl_state sg_rl_ = SG_LOG_RL_INIT(10, 1);     \
		if (sg_log_rl_allow(&sg_rl_, sg_now_ns())) {                      \
			if (sg_rl_.suppressed) {                                  \
				sg_log(level, "(%u similar messages suppressed)", \
				       sg_rl_.suppressed);                        \
				sg_rl_.suppressed = 0;                            \
			}                                                         \
			sg_log(level, __VA_ARGS__);                               \
		}                                                                 \
	} while (0)

#ifdef __cplusplus
}
#endif
#endif
