/* SPDX-License-Identifier: MIT */
/*
 * A policy's peer names resolved in the peer store: the name's IPv6 allowed
 * IPs, read through a read-only handle that the first lookup opens (each
 * compile opens its own: a store handle is for one thread).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/common/sg_prefix.h"
#include "lib/policy/sg_policy.h"
#include "lib/store/sg_store.h"

int sg_policy_store_peer(void *arg, const char *name, uint8_t (*addr)[16], uint8_t *len,
			 unsigned max, char *err, size_t errlen)
{
	struct sg_policy_store *ps = arg;
	struct sg_store_peer sp;
	int rc, n = 0;

	if (ps->store == NULL) {
		rc = sg_store_open(&ps->store, ps->uri, SG_STORE_READONLY, 1000, err, errlen);
		if (rc != 0) {
			ps->store = NULL;
			return rc == -ENOENT ? -EIO : rc; /* a missing store is no "no such peer" */
		}
	}
	rc = sg_store_get_by_name(ps->store, name, &sp);
	if (rc == -ENOENT)
		return -ENOENT;
	if (rc != 0) {
		snprintf(err, errlen, "%s", sg_store_error(ps->store));
		return rc;
	}
	if (sg_store_peer_usable(&sp, (int64_t)time(NULL)))
		for (unsigned i = 0; i < sp.n_allowed_ips && (unsigned)n < max; i++) {
			if (sp.allowed_ips[i].family != AF_INET6)
				continue;
			sg_prefix_mask(addr[n], sp.allowed_ips[i].addr, sp.allowed_ips[i].len, 16);
			len[n++] = sp.allowed_ips[i].len;
		}
	sg_store_peer_clear(&sp);
	return n;
}

void sg_policy_store_close(struct sg_policy_store *s)
{
	if (s == NULL)
		return;
	sg_store_close(s->store);
	s->store = NULL;
}
