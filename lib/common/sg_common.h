/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every sixgate library. */
#ifndef SG_COMMON_H
#define SG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "sg_drop.h"
#include "sg_log.h"

#define SG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define sg_likely(x)	 __builtin_expect(!!(x), 1)
#define sg_unlikely(x)	 __builtin_expect(!!(x), 0)

static inline uint16_t sg_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t sg_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline void sg_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t sg_get_le64(const uint8_t *p)
{
	return (uint64_t)sg_get_le32(p) | ((uint64_t)sg_get_le32(p + 4) << 32);
}

static inline void sg_put_le64(uint8_t *p, uint64_t v)
{
	sg_put_le32(p, (uint32_t)v);
	sg_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
