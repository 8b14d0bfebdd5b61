/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sg_log.h"

static enum sg_log_level min_level = SG_LOG_INFO;
static void (*log_sink)(enum sg_log_level, const char *);
static int journal = -1; /* stderr is the journal: not known yet */

void sg_log_set_level(enum sg_log_level level)
{
	min_level = level;
}

void sg_log_set_sink(void (*sink)(enum sg_log_level, const char *))
{
	log_sink = sink;
}

static void vlog(enum sg_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[8] = { "", "", "", "error", "warning", "", "info", "debug" };
	char line[512];

	if (level > min_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_sink) {
		log_sink(level, line);
		return;
	}
	/*
	 * Under systemd (stderr is a journal stream), a "<N>" syslog priority
	 * prefix gives journald the line's level (journalctl -p warning).
	 */
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		fprintf(stderr, "<%d>", (int)level);
	fprintf(stderr, "sixgate: %s: %s\n", tag[level & 7], line);
}

void sg_log(enum sg_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

uint64_t sg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int sg_log_rl_allow(struct sg_log_rl_state *rl, uint64_t now_ns)
{
	if (rl->last_ns == 0)
		rl->last_ns = now_ns;
	if (rl->rate_per_sec && now_ns > rl->last_ns) {
		uint64_t ns_per_token = 1000000000ull / rl->rate_per_sec;
		uint64_t add = (now_ns - rl->last_ns) / ns_per_token;
		if (add) {
			uint64_t t = rl->tokens + add;
			rl->tokens = (uint32_t)(t > rl->burst ? rl->burst : t);
			rl->last_ns += add * ns_per_token;
			if (rl->tokens == rl->burst)
				rl->last_ns = now_ns;
		}
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return 0;
	}
	rl->tokens--;
	return 1;
}
