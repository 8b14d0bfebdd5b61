/* SPDX-License-Identifier: MIT */
/*
 * The policy file parser and the reference decision (a linear scan).  One
 * line is one rule; the parser expands it (peer and VM names to their
 * prefixes, a grant to its two halves) into rules of single prefixes.  Every
 * error goes through fail() with FILE:LINE; the rules are built in a private
 * array that replaces the caller's policy only when the whole file was good.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/common/sg_prefix.h"
#include "lib/config/sg_config.h"
#include "lib/policy/sg_policy.h"

#define MAX_LINE     4096
#define MAX_FILE     (64u << 20)
#define MAX_TOKENS   16
#define MAX_PREFIXES 64 /* one side of a rule: a peer's allowed IPs */

struct parser {
	const char *file;
	unsigned line;
	const struct sg_config *cfg;
	struct sg_policy_names *names; /* NULL: cfg's names alone */
	char *err;
	size_t errlen;
	struct sg_policy_rule *rules;
	size_t n, cap;
};

/* One side of a rule: the prefixes it stands for. */
struct side {
	size_t n;
	uint8_t len[MAX_PREFIXES];
	uint8_t addr[MAX_PREFIXES][16];
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int off;

	if (p->err == NULL || p->errlen == 0)
		return -EINVAL;
	off = snprintf(p->err, p->errlen, "%s:%u: ", p->file, p->line);
	if (off < 0 || (size_t)off >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + off, p->errlen - (size_t)off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int push(struct parser *p, const struct sg_policy_rule *r)
{
	if (p->n == SG_POLICY_MAX_RULES - 1)
		return fail(p, "more than %u rules after expansion", SG_POLICY_MAX_RULES - 1);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct sg_policy_rule *n = realloc(p->rules, cap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		p->rules = n;
		p->cap = cap;
	}
	p->rules[p->n++] = *r;
	return 0;
}

static void base_rule(struct sg_policy_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->action = SG_POLICY_ALLOW;
	r->dirs = SG_POLICY_DIR_ANY;
	r->same_org = true;
	r->sport_hi = r->dport_hi = 0xffff;
}

/* "N" or "N-M", 0..65535, N <= M. */
static int parse_range(struct parser *p, const char *kw, const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;
	char *end;

	if (!isdigit((unsigned char)*s))
		goto bad;
	a = strtoul(s, &end, 10);
	b = a;
	if (*end == '-') {
		if (!isdigit((unsigned char)end[1]))
			goto bad;
		b = strtoul(end + 1, &end, 10);
	}
	if (*end != '\0' || a > 65535 || b > 65535)
		goto bad;
	if (a > b)
		return fail(p, "%s range '%s' ends before it starts", kw, s);
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
bad:
	return fail(p, "%s must be a port or a range PORT-PORT (0 to 65535), not '%s'", kw, s);
}

static int parse_prefix(struct parser *p, const char *s, struct side *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	uint8_t canon[16];
	unsigned long len;
	char *slash, *end;

	if (strlen(s) >= sizeof(buf) || (slash = strchr(strcpy(buf, s), '/')) == NULL)
		return fail(p,
			    "'%s' is not an IPv6 prefix (ADDRESS/LENGTH), 'any', "
			    "'peer NAME' or 'vm NAME'",
			    s);
	*slash = '\0';
	if (inet_pton(AF_INET6, buf, out->addr[0]) != 1)
		return fail(p, "'%s' is not an IPv6 address", buf);
	if (!isdigit((unsigned char)slash[1]))
		return fail(p, "bad prefix length '/%s' (0 to 128)", slash + 1);
	len = strtoul(slash + 1, &end, 10);
	if (*end != '\0' || len > 128)
		return fail(p, "bad prefix length '/%s' (0 to 128)", slash + 1);
	sg_prefix_mask(canon, out->addr[0], (unsigned)len, 16);
	if (memcmp(canon, out->addr[0], 16) != 0) {
		inet_ntop(AF_INET6, canon, buf, sizeof(buf));
		return fail(p, "'%s' has host bits set (the prefix is %s/%lu)", s, buf, len);
	}
	out->len[0] = (uint8_t)len;
	out->n = 1;
	return 0;
}

/* FNV-1a over what a store name resolved to (the gateway compares it after a store change). */
static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
	const uint8_t *b = data;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static int side_store_peer(struct parser *p, const char *name, struct side *out)
{
	struct sg_policy_names *nm = p->names;
	char why[SG_POLICY_ERR_LEN] = "";
	int rc = nm->peer(nm->arg, name, out->addr, out->len, MAX_PREFIXES, why, sizeof(why));

	if (rc == -ENOENT) {
		if (!nm->missing_ok)
			return fail(p, "no peer '%s' (neither in the config nor in the store)",
				    name);
		if (nm->missing[0] == '\0')
			snprintf(nm->missing, sizeof(nm->missing),
				 "%s:%u: peer '%s' is no longer in the store", p->file, p->line,
				 name);
		rc = 0;
	} else if (rc < 0) {
		return fail(p, "peer '%s': %s", name, why[0] ? why : strerror(-rc));
	}
	out->n = (size_t)rc;
	nm->store_refs++;
	nm->store_hash = fnv(nm->store_hash ? nm->store_hash : 0xcbf29ce484222325ull, name,
			     strlen(name) + 1);
	nm->store_hash = fnv(nm->store_hash, &rc, sizeof(rc));
	for (size_t i = 0; i < out->n; i++) {
		nm->store_hash = fnv(nm->store_hash, out->addr[i], 16);
		nm->store_hash = fnv(nm->store_hash, &out->len[i], 1);
	}
	return 0;
}

static int side_peer(struct parser *p, const char *name, struct side *out)
{
	for (size_t i = 0; p->cfg != NULL && i < p->cfg->n_peers; i++) {
		const struct sg_config_peer *peer = &p->cfg->peers[i];

		if (strcmp(peer->name, name) != 0)
			continue;
		out->n = 0;
		for (size_t j = 0; j < peer->n_allowed_ips && out->n < MAX_PREFIXES; j++) {
			if (peer->allowed_ips[j].family != AF_INET6)
				continue;
			memcpy(out->addr[out->n], peer->allowed_ips[j].addr, 16);
			out->len[out->n++] = peer->allowed_ips[j].len;
		}
		if (out->n == 0)
			return fail(p, "peer %s has no IPv6 allowed IPs", name);
		return 0;
	}
	if (p->names != NULL && p->names->peer != NULL)
		return side_store_peer(p, name, out);
	return fail(p, "no peer '%s' in the configuration", name);
}

static int side_vm(struct parser *p, const char *name, struct side *out)
{
	for (size_t i = 0; p->cfg != NULL && i < p->cfg->n_vms; i++) {
		const struct sg_config_vm *vm = &p->cfg->vms[i];

		if (strcmp(vm->name, name) != 0)
			continue;
		memcpy(out->addr[0], vm->prefix.addr, 16);
		out->len[0] = vm->prefix.len;
		out->n = 1;
		return 0;
	}
	return fail(p, "no vm '%s' in the configuration", name);
}

/* SRC or DST at tok[*i]: any | PREFIX | peer NAME | vm NAME. */
static int parse_side(struct parser *p, char **tok, size_t nt, size_t *i, const char *what,
		      struct side *out)
{
	const char *t;

	if (*i >= nt)
		return fail(p, "missing %s (a prefix, 'any', 'peer NAME' or 'vm NAME')", what);
	t = tok[(*i)++];
	if (strcmp(t, "any") == 0) {
		memset(out->addr[0], 0, 16);
		out->len[0] = 0;
		out->n = 1;
		return 0;
	}
	if (strcmp(t, "peer") == 0 || strcmp(t, "vm") == 0) {
		if (*i >= nt)
			return fail(p, "'%s' needs a name", t);
		if (t[0] == 'p')
			return side_peer(p, tok[(*i)++], out);
		return side_vm(p, tok[(*i)++], out);
	}
	return parse_prefix(p, t, out);
}

static int parse_proto(const char *t, uint8_t *proto)
{
	if (strcmp(t, "tcp") == 0)
		*proto = IPPROTO_TCP;
	else if (strcmp(t, "udp") == 0)
		*proto = IPPROTO_UDP;
	else if (strcmp(t, "icmpv6") == 0)
		*proto = IPPROTO_ICMPV6;
	else if (strcmp(t, "any") == 0)
		*proto = 0;
	else
		return -1;
	return 0;
}

/* Adds one rule per pair of prefixes of the two sides. */
static int expand(struct parser *p, const struct sg_policy_rule *tmpl, const struct side *src,
		  const struct side *dst)
{
	for (size_t a = 0; a < src->n; a++) {
		for (size_t b = 0; b < dst->n; b++) {
			struct sg_policy_rule r = *tmpl;
			int rc;

			memcpy(r.src, src->addr[a], 16);
			r.src_len = src->len[a];
			memcpy(r.dst, dst->addr[b], 16);
			r.dst_len = dst->len[b];
			rc = push(p, &r);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/*
 * ACTION [in|out] [PROTO] from SRC to DST [sport RANGE] [port RANGE]
 * where ACTION is allow, deny or grant (allow, and allow the replies).
 */
static int parse_rule(struct parser *p, char **tok, size_t nt)
{
	struct sg_policy_rule r = { 0 };
	struct side src, dst;
	bool grant = false, ports = false;
	size_t i = 1;
	int rc;

	if (strcmp(tok[0], "allow") == 0 || strcmp(tok[0], "grant") == 0)
		r.action = SG_POLICY_ALLOW;
	else if (strcmp(tok[0], "deny") == 0)
		r.action = SG_POLICY_DENY;
	else
		return fail(p, "a rule starts with allow, deny or grant, not '%s'", tok[0]);
	grant = tok[0][0] == 'g';
	r.line = p->line;
	r.dirs = SG_POLICY_DIR_ANY;
	r.sport_hi = r.dport_hi = 0xffff;
	if (i < nt && (strcmp(tok[i], "in") == 0 || strcmp(tok[i], "out") == 0))
		r.dirs = strcmp(tok[i++], "in") == 0 ? SG_POLICY_DIR_IN : SG_POLICY_DIR_OUT;
	if (i < nt && parse_proto(tok[i], &r.proto) == 0)
		i++;
	if (i >= nt || strcmp(tok[i], "from") != 0)
		return fail(p, "expected 'from' after '%s'", tok[i - 1]);
	i++;
	rc = parse_side(p, tok, nt, &i, "source", &src);
	if (rc)
		return rc;
	if (i >= nt || strcmp(tok[i], "to") != 0)
		return fail(p, "expected 'to' after the source");
	i++;
	rc = parse_side(p, tok, nt, &i, "destination", &dst);
	if (rc)
		return rc;
	while (i < nt) {
		const char *kw = tok[i];

		if (strcmp(kw, "sport") != 0 && strcmp(kw, "port") != 0)
			return fail(p, "unexpected '%s' (sport RANGE or port RANGE may follow)",
				    kw);
		if (i + 1 >= nt)
			return fail(p, "'%s' needs a port or a range", kw);
		rc = kw[0] == 's' ? parse_range(p, kw, tok[i + 1], &r.sport_lo, &r.sport_hi)
				  : parse_range(p, kw, tok[i + 1], &r.dport_lo, &r.dport_hi);
		if (rc)
			return rc;
		ports = true;
		i += 2;
	}
	if (ports && r.proto != IPPROTO_TCP && r.proto != IPPROTO_UDP)
		return fail(p, "ports need 'tcp' or 'udp'");
	rc = expand(p, &r, &src, &dst);
	if (rc || !grant)
		return rc;
	/* The replies: the other way, the other direction, the ports swapped. */
	r.dirs = (uint8_t)(((r.dirs & SG_POLICY_DIR_IN) ? SG_POLICY_DIR_OUT : 0) |
			   ((r.dirs & SG_POLICY_DIR_OUT) ? SG_POLICY_DIR_IN : 0));
	{
		uint16_t lo = r.sport_lo, hi = r.sport_hi;

		r.sport_lo = r.dport_lo;
		r.sport_hi = r.dport_hi;
		r.dport_lo = lo;
		r.dport_hi = hi;
	}
	return expand(p, &r, &dst, &src);
}

static size_t tokenize(char *line, char **tok)
{
	size_t n = 0;
	char *save = NULL, *t;
	char *hash = strchr(line, '#');

	if (hash != NULL)
		*hash = '\0';
	for (t = strtok_r(line, " \t\r", &save); t != NULL; t = strtok_r(NULL, " \t\r", &save)) {
		if (n == MAX_TOKENS)
			return MAX_TOKENS + 1;
		tok[n++] = t;
	}
	return n;
}

int sg_policy_parse(struct sg_policy *out, const char *name, const char *text, size_t len,
		    const struct sg_config *cfg, char *err, size_t errlen)
{
	struct sg_policy_names names = { .cfg = cfg };

	return sg_policy_parse_names(out, name, text, len, &names, err, errlen);
}

int sg_policy_parse_names(struct sg_policy *out, const char *name, const char *text, size_t len,
			  struct sg_policy_names *names, char *err, size_t errlen)
{
	struct parser p = { .file = name,
			    .cfg = names != NULL ? names->cfg : NULL,
			    .names = names,
			    .err = err,
			    .errlen = errlen };
	struct sg_policy_rule base;
	char line[MAX_LINE];
	size_t pos = 0;
	int rc = 0;

	if (err && errlen)
		err[0] = '\0';
	while (pos < len && rc == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *tok[MAX_TOKENS];
		size_t nt;

		p.line++;
		if (l >= sizeof(line)) {
			rc = fail(&p, "line longer than %d bytes", MAX_LINE - 1);
			break;
		}
		if (memchr(text + pos, '\0', l) != NULL) {
			rc = fail(&p, "NUL byte in the file");
			break;
		}
		memcpy(line, text + pos, l);
		line[l] = '\0';
		pos += l + (nl ? 1 : 0);
		nt = tokenize(line, tok);
		if (nt > MAX_TOKENS)
			rc = fail(&p, "too many words on one line");
		else if (nt > 0)
			rc = parse_rule(&p, tok, nt);
	}
	if (rc == 0) {
		base_rule(&base);
		rc = push(&p, &base);
	}
	if (rc == 0 && (out->file = strdup(name)) == NULL)
		rc = -ENOMEM;
	if (rc) {
		if (rc == -ENOMEM && err && errlen)
			snprintf(err, errlen, "%s: out of memory", name);
		free(p.rules);
		return rc;
	}
	out->rules = p.rules;
	out->n_rules = p.n;
	return 0;
}

int sg_policy_read(const char *path, char **text_out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	text = malloc(MAX_FILE);
	if (text == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(text, 1, MAX_FILE, f);
	if (ferror(f) || n == MAX_FILE) {
		snprintf(err, errlen, "%s: %s", path,
			 n == MAX_FILE ? "larger than 64 MiB" : "read error");
		fclose(f);
		free(text);
		return -EINVAL;
	}
	fclose(f);
	*text_out = text;
	*len = n;
	return 0;
}

int sg_policy_load(struct sg_policy *out, const char *path, const struct sg_config *cfg, char *err,
		   size_t errlen)
{
	char *text;
	size_t n;
	int rc = sg_policy_read(path, &text, &n, err, errlen);

	if (rc != 0)
		return rc;
	rc = sg_policy_parse(out, path, text, n, cfg, err, errlen);
	free(text);
	return rc;
}

int sg_policy_default(struct sg_policy *out)
{
	struct sg_policy_rule *r = malloc(sizeof(*r));

	if (r == NULL)
		return -ENOMEM;
	base_rule(r);
	out->file = strdup("(org isolation)");
	if (out->file == NULL) {
		free(r);
		return -ENOMEM;
	}
	out->rules = r;
	out->n_rules = 1;
	return 0;
}

void sg_policy_free(struct sg_policy *p)
{
	if (p == NULL)
		return;
	free(p->file);
	free(p->rules);
	memset(p, 0, sizeof(*p));
}

void sg_policy_key_set(struct sg_policy_key *k, const uint8_t *ip6, uint32_t len, unsigned dir,
		       bool same_org)
{
	uint32_t plen = ((uint32_t)ip6[4] << 8) | ip6[5];
	uint32_t meta = (dir == SG_POLICY_DIR_OUT ? SG_POLICY_META_OUT : 0) |
			(same_org ? SG_POLICY_META_SAME_ORG : 0);

	k->proto = ip6[6];
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
	k->meta = htonl(meta);
	memcpy(k->src, ip6 + 8, 16);
	memcpy(k->dst, ip6 + 24, 16);
	k->sport = k->dport = 0;
	if ((k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP) && plen >= 4 && len >= 44) {
		memcpy(&k->sport, ip6 + 40, 2);
		memcpy(&k->dport, ip6 + 42, 2);
	}
}

bool sg_policy_rule_matches(const struct sg_policy_rule *r, const struct sg_policy_key *k)
{
	uint32_t meta = ntohl(k->meta);
	uint16_t sp = ntohs(k->sport), dp = ntohs(k->dport);
	unsigned dir = (meta & SG_POLICY_META_OUT) ? SG_POLICY_DIR_OUT : SG_POLICY_DIR_IN;

	return (r->dirs & dir) && (!r->same_org || (meta & SG_POLICY_META_SAME_ORG)) &&
	       (r->proto == 0 || r->proto == k->proto) &&
	       sg_prefix_contains(r->src, r->src_len, k->src) &&
	       sg_prefix_contains(r->dst, r->dst_len, k->dst) && sp >= r->sport_lo &&
	       sp <= r->sport_hi && dp >= r->dport_lo && dp <= r->dport_hi;
}

size_t sg_policy_match(const struct sg_policy *p, const struct sg_policy_key *k)
{
	for (size_t i = 0; i < p->n_rules; i++)
		if (sg_policy_rule_matches(&p->rules[i], k))
			return i;
	return p->n_rules;
}
