/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "sg_drop.h"

static const char *const names[] = {
#define SG_DROP_NAME(name, desc) #name,
	SG_DROP_REASONS(SG_DROP_NAME)
#undef SG_DROP_NAME
};

static const char *const descs[] = {
#define SG_DROP_DESC(name, desc) desc,
	SG_DROP_REASONS(SG_DROP_DESC)
#undef SG_DROP_DESC
};

/* Lower-case copies of the names, built once. */
static char lower[SG_DROP_MAX][32];

static void build_lower(void)
{
	if (lower[0][0])
		return;
	for (int r = 0; r < SG_DROP_MAX; r++) {
		size_t i;
		for (i = 0; names[r][i] && i < sizeof(lower[r]) - 1; i++) {
			char ch = names[r][i];
			lower[r][i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
		}
		lower[r][i] = '\0';
	}
}

const char *sg_drop_name(enum sg_drop_reason r)
{
	if ((unsigned)r >= SG_DROP_MAX)
		return "invalid";
	build_lower();
	return lower[r];
}

const char *sg_drop_desc(enum sg_drop_reason r)
{
	if ((unsigned)r >= SG_DROP_MAX)
		return "invalid";
	return descs[r];
}

enum sg_drop_reason sg_drop_lookup(const char *name)
{
	build_lower();
	for (int r = 0; r < SG_DROP_MAX; r++)
		if (strcmp(lower[r], name) == 0)
			return (enum sg_drop_reason)r;
	return SG_DROP_MAX;
}

void sg_drop_sum(struct sg_drop_counters *dst, const struct sg_drop_counters *src)
{
	for (int r = 0; r < SG_DROP_MAX; r++)
		dst->n[r] += src->n[r];
}
