/* SPDX-License-Identifier: MIT */
/* The store's front: the backend chosen by the URI, and what every backend shares. */
#include <arpa/inet.h>
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
	sg_store_redact(path, s->path, sizeof(s->path));
	if (strncmp(uri, "postgres://", 11) == 0 || strncmp(uri, "postgresql://", 13) == 0)
#ifdef SG_STORE_HAVE_PG
		rc = sg_store_pg_open(s, uri, flags, busy_ms);
#else
		rc = sg_store_fail(s, -ENOTSUP, "no PostgreSQL backend in this build (no libpq)");
#endif
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

int sg_store_changes(struct sg_store *s, void (*fn)(void *arg, const uint8_t *key), void *arg)
{
	return s->ops->changes != NULL ? s->ops->changes(s, fn, arg) : 0;
}

void sg_store_redact(const char *uri, char *out, size_t len)
{
	const char *auth, *at, *colon, *pw;
	size_t n;

	snprintf(out, len, "%s", uri);
	if (strncmp(uri, "postgres://", 11) != 0 && strncmp(uri, "postgresql://", 13) != 0)
		return;
	/* postgresql://user:PASSWORD@host/db */
	auth = strstr(uri, "://") + 3;
	n = strcspn(auth, "/?");
	at = memchr(auth, '@', n);
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL)
		snprintf(out, len, "%.*s:***%s", (int)(colon - uri), uri, at);
	/* ...?password=PASSWORD&... */
	pw = strstr(out, "password=");
	if (pw != NULL && (pw[-1] == '?' || pw[-1] == '&')) {
		char rest[256];
		size_t at_pw = (size_t)(pw - out) + 9;

		snprintf(rest, sizeof(rest), "%s", out + at_pw + strcspn(out + at_pw, "&"));
		snprintf(out + at_pw, len - at_pw, "***%s", rest);
	}
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

/* --- the row's text forms, shared by the backends --- */

static void prefix_text(char *out, size_t len, const struct sg_store_prefix *p)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(out, len, "%s/%u", a, p->len);
}

static int prefix_parse(const char *s, size_t n, struct sg_store_prefix *p)
{
	char buf[64], *slash, *end;
	unsigned long len;

	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	slash = strchr(buf, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	memset(p, 0, sizeof(*p));
	p->family = strchr(buf, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(p->family, buf, p->addr) != 1)
		return -1;
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || len > (p->family == AF_INET6 ? 128u : 32u))
		return -1;
	p->len = (uint8_t)len;
	return 0;
}

static void endpoint_text(char *out, size_t len, const struct sg_store_peer *p)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->ep_family, p->ep_addr, a, sizeof(a));
	snprintf(out, len, p->ep_family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, p->ep_port);
}

static int endpoint_parse(const char *s, struct sg_store_peer *p)
{
	char buf[64], *colon, *host = buf, *end;
	unsigned long port;

	snprintf(buf, sizeof(buf), "%s", s);
	colon = strrchr(buf, ':');
	if (colon == NULL)
		return -1;
	*colon = '\0';
	if (buf[0] == '[') {
		host = buf + 1;
		if (colon[-1] != ']')
			return -1;
		colon[-1] = '\0';
	}
	p->ep_family = buf[0] == '[' ? AF_INET6 : AF_INET;
	if (inet_pton(p->ep_family, host, p->ep_addr) != 1)
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	p->ep_port = (uint16_t)port;
	p->has_endpoint = true;
	return 0;
}

int sg_store_row_to_peer(struct sg_store *s, const struct sg_store_row *r, struct sg_store_peer *p,
			 bool with_psk)
{
	const char *ips = r->allowed_ips;

	memset(p, 0, sizeof(*p));
	p->id = r->id;
	snprintf(p->name, sizeof(p->name), "%s", r->name);
	if (sg_key_from_base64(p->public_key, r->public_key) != 0)
		goto bad;
	if (r->preshared_key != NULL) {
		p->has_psk = true;
		if (with_psk && sg_key_from_base64(p->psk, r->preshared_key) != 0)
			goto bad;
	}
	if (prefix_parse(r->org, strlen(r->org), &p->org) != 0)
		goto bad;
	if (inet_pton(AF_INET6, r->address, p->addr) != 1)
		goto bad;
	while (*ips != '\0') {
		size_t n = strcspn(ips, ",");

		if (p->n_allowed_ips == SG_STORE_MAX_ALLOWED_IPS ||
		    prefix_parse(ips, n, &p->allowed_ips[p->n_allowed_ips++]) != 0)
			goto bad;
		ips += n;
		ips += *ips == ',';
	}
	if (r->endpoint != NULL && endpoint_parse(r->endpoint, p) != 0)
		goto bad;
	p->keepalive_s = (uint16_t)r->keepalive;
	p->created = r->created;
	p->expires = r->expires;
	p->revoked = r->revoked;
	return 0;
bad:
	sg_store_fail(s, -EINVAL, "peer '%s' (row %lld) does not parse", p->name, (long long)p->id);
	sg_store_peer_clear(p);
	return -EINVAL;
}

void sg_store_peer_to_text(const struct sg_store_peer *p, struct sg_store_text *t)
{
	memset(t, 0, sizeof(*t));
	sg_key_to_base64(t->key, p->public_key);
	if (p->has_psk)
		sg_key_to_base64(t->psk, p->psk);
	prefix_text(t->org, sizeof(t->org), &p->org);
	inet_ntop(AF_INET6, p->addr, t->addr, sizeof(t->addr));
	for (unsigned i = 0; i < p->n_allowed_ips; i++) {
		char one[64];
		size_t at = strlen(t->ips);

		prefix_text(one, sizeof(one), &p->allowed_ips[i]);
		snprintf(t->ips + at, sizeof(t->ips) - at, "%s%s", i ? "," : "", one);
	}
	if (p->has_endpoint)
		endpoint_text(t->ep, sizeof(t->ep), p);
}
