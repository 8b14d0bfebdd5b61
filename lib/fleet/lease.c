/* SPDX-License-Identifier: MIT */
/* Send-counter leases (sg_fleet.h, docs/fleet.md). */
#include "lib/fleet/sg_fleet.h"

void sg_lease_init(struct sg_lease *l, uint64_t start)
{
	l->limit = start;
	l->asked = 0;
	l->asked_seq = 0;
}

uint64_t sg_lease_want(const struct sg_lease *l, uint64_t next)
{
	uint64_t base = next > l->limit ? next : l->limit;

	if (l->asked != 0 || (l->limit > next && l->limit - next > SG_LEASE_BLOCK / 2))
		return 0;
	if (base > SG_REJECT_AFTER_MESSAGES - SG_LEASE_BLOCK)
		return SG_REJECT_AFTER_MESSAGES;
	return base + SG_LEASE_BLOCK;
}

void sg_lease_asked(struct sg_lease *l, uint64_t end, uint64_t seq)
{
	l->asked = end;
	l->asked_seq = seq;
}

uint64_t sg_lease_acked(struct sg_lease *l, uint64_t seq)
{
	if (l->asked != 0 && seq == l->asked_seq) {
		if (l->asked > l->limit)
			l->limit = l->asked;
		l->asked = 0;
		l->asked_seq = 0;
	}
	return l->limit;
}

uint64_t sg_lease_alone(struct sg_lease *l)
{
	return sg_lease_acked(l, l->asked_seq);
}
