/* SPDX-License-Identifier: MIT */
/* The store's front: the backend chosen by the URI, and what every backend shares. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"

int sg_store_fail(struct sg_store *s, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(s->err, sizeof(s->err), "%s: ", s->path);

	if (n >= 0 && (size_t)n < sizeof(s->err)) {
		va_start(ap, fmt);
		vsnprintf(s->err + n, sizeof(s->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int sg_store_open(struct sg_store **out, const char *uri, unsigned flags, unsigned busy_ms,
		  char *err, size_t errlen)
{
	struct sg_store *s;
	const char *path = uri;
	int rc;

	*out = NULL;
	if (uri == NULL) {
		snprintf(err, errlen, "no store named");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "%s: out of memory", uri);
		return -ENOMEM;
	}
	if (strncmp(uri, "sqlite:", 7) == 0)
		path = uri + 7;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (strncmp(uri, "postgres:", 9) == 0 || strncmp(uri, "postgresql:", 11) == 0)
		rc = sg_store_fail(s, -ENOTSUP, "no PostgreSQL backend in this build");
	else if (strlen(path) >= sizeof(s->path) || path[0] == '\0')
		rc = sg_store_fail(s, -EINVAL, "not a usable path");
	else
		rc = sg_store_sqlite_open(s, path, flags, busy_ms);
	if (rc != 0) {
		snprintf(err, errlen, "%s", s->err);
		sg_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sg_store_close(struct sg_store *s)
{
	if (s == NULL)
		return;
	if (s->ops != NULL)
		s->ops->close(s);
	free(s);
}

const char *sg_store_error(const struct sg_store *s)
{
	return s->err;
}

int sg_store_get_by_key(struct sg_store *s, const uint8_t key[32], struct sg_store_peer *out)
{
	return s->ops->get_by_key(s, key, out);
}

int sg_store_get_by_name(struct sg_store *s, const char *name, struct sg_store_peer *out)
{
	return s->ops->get_by_name(s, name, out);
}

int sg_store_put(struct sg_store *s, struct sg_store_peer *p)
{
	return s->ops->put(s, p);
}

int sg_store_list(struct sg_store *s, int (*fn)(void *arg, const struct sg_store_peer *p),
		  void *arg)
{
	return s->ops->list(s, fn, arg);
}

int sg_store_revoke(struct sg_store *s, const char *name, int64_t at)
{
	return s->ops->revoke(s, name, at);
}

int sg_store_delete(struct sg_store *s, const char *name)
{
	return s->ops->del(s, name);
}

int64_t sg_store_version(struct sg_store *s)
{
	return s->ops->version(s);
}

bool sg_store_peer_usable(const struct sg_store_peer *p, int64_t now)
{
	return p->revoked == 0 && (p->expires == 0 || now < p->expires);
}

void sg_store_peer_clear(struct sg_store_peer *p)
{
	sg_wipe(p, sizeof(*p));
}

/* --- the next free 6PN address: <org /48>:ff00::<host>, hosts from 2 --- */

struct used {
	const struct sg_store_prefix *org;
	uint32_t *host;
	size_t n, cap;
	int rc;
};

static bool in_peer_range(const struct sg_store_prefix *org, const uint8_t a[16])
{
	static const uint8_t zero[4];

	return memcmp(a, org->addr, 6) == 0 && a[6] == 0xff && a[7] == 0 &&
	       memcmp(a + 8, zero, 4) == 0;
}

static int note_used(void *arg, const struct sg_store_peer *p)
{
	struct used *u = arg;

	if (!in_peer_range(u->org, p->addr))
		return 0;
	if (u->n == u->cap) {
		size_t cap = u->cap ? 2 * u->cap : 1024;
		uint32_t *h = realloc(u->host, cap * sizeof(*h));

		if (h == NULL) {
			u->rc = -ENOMEM;
			return 1;
		}
		u->host = h;
		u->cap = cap;
	}
	u->host[u->n++] = (uint32_t)p->addr[12] << 24 | (uint32_t)p->addr[13] << 16 |
			  (uint32_t)p->addr[14] << 8 | p->addr[15];
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int sg_store_next_addr(struct sg_store *s, const struct sg_store_prefix *org, uint8_t out[16])
{
	struct used u = { .org = org };
	uint32_t next = 2;
	int rc;

	if (org->family != AF_INET6 || org->len > 48 || org->len < 16)
		return sg_store_fail(s, -EINVAL, "an org network must be an IPv6 /48 or shorter");
	rc = sg_store_list(s, note_used, &u);
	if (rc == 0)
		rc = u.rc;
	if (rc == 0) {
		if (u.n > 0)
			qsort(u.host, u.n, sizeof(*u.host), cmp_u32);
		for (size_t i = 0; i < u.n && u.host[i] <= next; i++)
			if (u.host[i] == next)
				next++;
		if (next == 0)
			rc = sg_store_fail(s, -ENOSPC, "no free address left in the org");
	}
	free(u.host);
	if (rc != 0)
		return rc;
	memset(out, 0, 16);
	memcpy(out, org->addr, 6);
	out[6] = 0xff;
	out[12] = (uint8_t)(next >> 24);
	out[13] = (uint8_t)(next >> 16);
	out[14] = (uint8_t)(next >> 8);
	out[15] = (uint8_t)next;
	return 0;
}
