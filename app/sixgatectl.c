/* SPDX-License-Identifier: MIT */
/*
 * sixgatectl: the peer store and the running gateway, in the manner of wg(8).
 *
 *   sixgatectl [-c CONFIG] [-p PREFIX] [--json] peer add NAME --org PREFIX/48
 *              [--public-key KEY] [--psk] [--keepalive S] [--expires UNIX]
 *   sixgatectl ... peer set NAME [--allowed-ips LIST] [--keepalive S] [--expires UNIX]
 *   sixgatectl ... peer list | peer show NAME | peer revoke NAME | peer rm NAME
 *   sixgatectl ... vm add NAME --socket /PATH --prefix P/112 --org O/48 [--mac MAC]
 *   sixgatectl ... vm rm NAME
 *   sixgatectl ... show | stats
 *   sixgatectl ... policy | policy reload
 *   sixgatectl ... health [--wait-ms MS]
 *
 * The configuration (default /etc/sixgate/sixgate.conf) names the store
 * ([store] path) and gives the gateway's public key and endpoint for the
 * wg-quick config that `peer add` prints.  The running gateway is reached
 * through its DPDK telemetry socket (/var/run/dpdk/PREFIX/dpdk_telemetry.v2,
 * root only): every change to the store is followed by /sixgate/store/check
 * so that the gateway applies it at once (with a PostgreSQL store, every
 * gateway using the database also hears of it by NOTIFY, so that a gateway
 * that cannot be reached here is no cause for a warning).
 *
 * Exit codes: 0 done; 1 bad usage; 2 no such peer or VM; 3 a name, key or address
 * that is another peer's; 4 the store or the configuration cannot be used, or
 * the gateway refused the policy file;
 * 5 the gateway cannot be reached (for show, stats and health; a change the gateway
 * was not told about is still made, with a warning, and the gateway's
 * periodic check applies it); 6 (health) the gateway answers but is not
 * forwarding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/config/sg_config.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/store/sg_store.h"

enum exit_code { EX_OK, EX_USAGE_, EX_NOPEER, EX_EXISTS, EX_STORE, EX_GATEWAY, EX_NOT_FORWARDING };

struct ctl {
	const char *config_path, *prefix, *socket_path;
	bool json;
	/* A bound on each read from the gateway (0: none); health sets it, so
	 * that a stopped or hung gateway is an answer, not a wait. */
	unsigned timeout_ms;
	char tel_err[512];
	struct sg_config cfg;
	struct sg_store *store;
};

__attribute__((format(printf, 2, 3))) static int die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("sixgatectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static int store_code(int rc)
{
	if (rc == -ENOENT)
		return EX_NOPEER;
	if (rc == -EEXIST)
		return EX_EXISTS;
	return EX_STORE;
}

static int load(struct ctl *c, bool need_store)
{
	char err[SG_CONFIG_ERR_LEN];
	int rc;

	if (sg_config_load(&c->cfg, c->config_path, err, sizeof(err)) != 0)
		return die(EX_STORE, "%s", err);
	if (!need_store)
		return 0;
	if (c->cfg.store.path == NULL)
		return die(EX_STORE, "%s: no [store] section: the gateway has no peer store",
			   c->config_path);
	rc = sg_store_open(&c->store, c->cfg.store.path, SG_STORE_CREATE, 2000, err, sizeof(err));
	return rc == 0 ? 0 : die(store_code(rc), "%s", err);
}

/* --- the gateway's telemetry socket --- */

__attribute__((format(printf, 3, 4))) static int tel_fail(struct ctl *c, int rc, const char *fmt,
							  ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->tel_err, sizeof(c->tel_err), fmt, ap);
	va_end(ap);
	return rc;
}

/* One telemetry command's reply; on failure the reason is in c->tel_err. */
static int tel_query(struct ctl *c, const char *cmd, json_t **out)
{
	char path[256], *buf;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	json_error_t je;
	ssize_t n;
	int fd;

	if (c->socket_path != NULL)
		snprintf(path, sizeof(path), "%s", c->socket_path);
	else
		snprintf(path, sizeof(path), "/var/run/dpdk/%s/dpdk_telemetry.v2", c->prefix);
	if (strlen(path) >= sizeof(sa.sun_path))
		return tel_fail(c, -ENAMETOOLONG, "gateway socket path too long: %s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return tel_fail(c, -e, "gateway at %s: %s", path, strerror(e));
	}
	if (c->timeout_ms > 0) {
		struct timeval tv = { .tv_sec = c->timeout_ms / 1000,
				      .tv_usec = (c->timeout_ms % 1000) * 1000 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	buf = malloc(1 << 17);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	/* The greeting first (version and limits), then one reply per command. */
	n = read(fd, buf, 1 << 17);
	if (n > 0 && write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd))
		n = read(fd, buf, (1 << 17) - 1);
	else
		n = -1;
	close(fd);
	if (n <= 0) {
		free(buf);
		return tel_fail(c, -EIO, "gateway at %s: no answer to %s", path, cmd);
	}
	buf[n] = '\0';
	*out = json_loads(buf, 0, &je);
	free(buf);
	if (*out == NULL)
		return tel_fail(c, -EPROTO, "gateway: bad reply to %s: %s", cmd, je.text);
	return 0;
}

/* Tells the gateway that key (NULL: every peer) changed in the store. */
static void notify(struct ctl *c, const uint8_t key[32])
{
	char cmd[128], b64[45];
	json_t *r;

	if (key != NULL) {
		sg_key_to_base64(b64, key);
		snprintf(cmd, sizeof(cmd), "/sixgate/store/check,%s", b64);
	} else {
		snprintf(cmd, sizeof(cmd), "/sixgate/store/check");
	}
	if (tel_query(c, cmd, &r) != 0) {
		/* A shared database notifies every gateway itself (LISTEN/NOTIFY). */
		if (strncmp(c->cfg.store.path, "postgres", 8) == 0)
			return;
		fprintf(stderr,
			"sixgatectl: warning: %s: the change is made, the gateway's periodic check "
			"of the store applies it\n",
			c->tel_err);
		return;
	}
	json_decref(r);
}

/* --- text forms --- */

static void prefix_str(char *out, size_t len, const struct sg_store_prefix *p)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	snprintf(out, len, "%s/%u", a, p->len);
}

static int parse_prefix(const char *s, struct sg_store_prefix *p)
{
	char buf[64], *slash, *end;
	long len;

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	memset(p, 0, sizeof(*p));
	p->family = AF_INET6;
	if (inet_pton(AF_INET6, buf, p->addr) != 1)
		return -1;
	len = strtol(slash + 1, &end, 10);
	if (*end != '\0' || len < 16 || len > 48)
		return -1;
	p->len = (uint8_t)len;
	return 0;
}

static const char *state(const struct sg_store_peer *p)
{
	if (p->revoked)
		return "revoked";
	if (p->expires && (int64_t)time(NULL) >= p->expires)
		return "expired";
	return "active";
}

static json_t *peer_json(const struct sg_store_peer *p)
{
	char key[45], org[64], addr[INET6_ADDRSTRLEN];
	json_t *o = json_object(), *ips = json_array();

	sg_key_to_base64(key, p->public_key);
	prefix_str(org, sizeof(org), &p->org);
	inet_ntop(AF_INET6, p->addr, addr, sizeof(addr));
	json_object_set_new(o, "name", json_string(p->name));
	json_object_set_new(o, "public_key", json_string(key));
	json_object_set_new(o, "preshared_key", json_boolean(p->has_psk));
	json_object_set_new(o, "org", json_string(org));
	json_object_set_new(o, "address", json_string(addr));
	for (unsigned i = 0; i < p->n_allowed_ips; i++) {
		char one[64];

		prefix_str(one, sizeof(one), &p->allowed_ips[i]);
		json_array_append_new(ips, json_string(one));
	}
	json_object_set_new(o, "allowed_ips", ips);
	json_object_set_new(o, "keepalive", json_integer(p->keepalive_s));
	json_object_set_new(o, "created", json_integer(p->created));
	json_object_set_new(o, "expires", json_integer(p->expires));
	json_object_set_new(o, "revoked", json_integer(p->revoked));
	json_object_set_new(o, "state", json_string(state(p)));
	return o;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (s != NULL)
		puts(s);
	free(s);
}

/* --- peer add --- */

/*
 * --keepalive S (0..65535) and --expires UNIX (0 = never) of peer add and
 * peer set: into p, or a usage error naming the option.
 */
static int peer_number(struct sg_store_peer *p, int o, const char *arg)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || v < 0 || (o == 'a' && v > UINT16_MAX))
		return die(EX_USAGE_, "--%s %s: not a number of %s",
			   o == 'a' ? "keepalive" : "expires", arg,
			   o == 'a' ? "seconds (0..65535)" : "seconds since 1970 (0 = never)");
	if (o == 'a')
		p->keepalive_s = (uint16_t)v;
	else
		p->expires = v;
	return EX_OK;
}

static int peer_add(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "org", required_argument, NULL, 'o' },
		{ "public-key", required_argument, NULL, 'k' },
		{ "psk", no_argument, NULL, 's' },
		{ "keepalive", required_argument, NULL, 'a' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	struct sg_store_peer p;
	uint8_t priv[32], gw_pub[32];
	bool generated = false, have_org = false;
	char key[45], addr[INET6_ADDRSTRLEN], org[64], ep[80];
	int o, rc;

	memset(&p, 0, sizeof(p));
	optind = 0; /* GNU getopt: start afresh, with permutation */
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'o':
			if (parse_prefix(optarg, &p.org) != 0)
				return die(EX_USAGE_,
					   "--org %s: not an IPv6 org network (/16../48)", optarg);
			have_org = true;
			break;
		case 'k':
			if (sg_key_from_base64(p.public_key, optarg) != 0)
				return die(EX_USAGE_, "--public-key: not a base64 key of 32 bytes");
			break;
		case 's':
			p.has_psk = true;
			break;
		case 'a':
		case 'e':
			if (peer_number(&p, o, optarg) != EX_OK)
				return EX_USAGE_;
			break;
		default:
			return EX_USAGE_;
		}
	}
	if (optind != argc - 1 || !have_org)
		return die(EX_USAGE_, "usage: peer add NAME --org PREFIX/48 [--public-key KEY] "
				      "[--psk] [--keepalive S] [--expires UNIX]");
	if (strlen(argv[optind]) >= SG_CONFIG_NAME_MAX)
		return die(EX_USAGE_, "peer name '%s' is longer than %d", argv[optind],
			   SG_CONFIG_NAME_MAX - 1);
	snprintf(p.name, sizeof(p.name), "%s", argv[optind]);
	rc = load(c, true);
	if (rc != 0)
		return rc;
	if (sg_is_zero(p.public_key, 32)) {
		sg_x25519_keypair(p.public_key, priv);
		generated = true;
	}
	if (p.has_psk)
		sg_random(p.psk, 32);
	rc = sg_store_next_addr(c->store, &p.org, p.addr);
	if (rc == 0) {
		p.allowed_ips[0].family = AF_INET6;
		p.allowed_ips[0].len = 128;
		memcpy(p.allowed_ips[0].addr, p.addr, 16);
		p.n_allowed_ips = 1;
		p.created = (int64_t)time(NULL);
		rc = sg_store_put(c->store, &p);
	}
	if (rc != 0) {
		sg_wipe(priv, sizeof(priv));
		sg_store_peer_clear(&p);
		return die(store_code(rc), "%s", sg_store_error(c->store));
	}
	notify(c, p.public_key);
	/* The client's config, ready for wg-quick (its secrets printed this once). */
	sg_x25519_pubkey(gw_pub, c->cfg.interface.private_key);
	inet_ntop(AF_INET6, p.addr, addr, sizeof(addr));
	prefix_str(org, sizeof(org), &p.org);
	if (c->cfg.interface.has_address6) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, c->cfg.interface.address6, a, sizeof(a));
		snprintf(ep, sizeof(ep), "[%s]:%u", a, c->cfg.interface.listen_port);
	} else {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, c->cfg.interface.address4, a, sizeof(a));
		snprintf(ep, sizeof(ep), "%s:%u", a, c->cfg.interface.listen_port);
	}
	printf("# sixgate peer %s (org %s)\n[Interface]\n", p.name, org);
	if (generated) {
		sg_key_to_base64(key, priv);
		printf("PrivateKey = %s\n", key);
	} else {
		printf("# PrivateKey = (the key whose public key you gave)\n");
	}
	printf("Address = %s/128\n\n[Peer]\n", addr);
	sg_key_to_base64(key, gw_pub);
	printf("PublicKey = %s\n", key);
	if (p.has_psk) {
		sg_key_to_base64(key, p.psk);
		printf("PresharedKey = %s\n", key);
	}
	printf("AllowedIPs = %s\nEndpoint = %s\n", org, ep);
	if (p.keepalive_s)
		printf("PersistentKeepalive = %u\n", p.keepalive_s);
	sg_wipe(key, sizeof(key));
	sg_wipe(priv, sizeof(priv));
	sg_store_peer_clear(&p);
	return EX_OK;
}

/* --- peer list, show, revoke, rm --- */

static int list_one(void *arg, const struct sg_store_peer *p)
{
	json_t *a = arg;
	char key[45], addr[INET6_ADDRSTRLEN];

	if (a != NULL) {
		json_array_append_new(a, peer_json(p));
		return 0;
	}
	sg_key_to_base64(key, p->public_key);
	inet_ntop(AF_INET6, p->addr, addr, sizeof(addr));
	printf("%-20s %s %-28s %s\n", p->name, key, addr, state(p));
	return 0;
}

static int peer_list(struct ctl *c)
{
	json_t *a = c->json ? json_array() : NULL;
	int rc = load(c, true);

	if (rc != 0)
		return rc;
	rc = sg_store_list(c->store, list_one, a);
	if (rc != 0)
		return die(store_code(rc), "%s", sg_store_error(c->store));
	if (a != NULL) {
		print_json(a);
		json_decref(a);
	}
	return EX_OK;
}

static int peer_show(struct ctl *c, const char *name)
{
	struct sg_store_peer p;
	char cmd[128];
	json_t *o, *live = NULL;
	int rc = load(c, true);

	if (rc != 0)
		return rc;
	rc = sg_store_get_by_name(c->store, name, &p);
	if (rc != 0)
		return die(store_code(rc), "%s", sg_store_error(c->store));
	o = peer_json(&p);
	sg_store_peer_clear(&p);
	snprintf(cmd, sizeof(cmd), "/sixgate/peers,%s", name);
	if (tel_query(c, cmd, &live) == 0) {
		json_t *d = json_object_get(live, "/sixgate/peers");

		json_object_set(o, "loaded", json_is_object(d) ? json_true() : json_false());
		if (json_is_object(d))
			json_object_set(o, "live", d);
		json_decref(live);
	}
	if (c->json) {
		print_json(o);
	} else {
		const char *k;
		json_t *v;

		printf("peer: %s\n", name);
		json_object_foreach(o, k, v)
		{
			char *s;

			if (!strcmp(k, "name"))
				continue;
			if (!strcmp(k, "preshared_key")) {
				printf("  preshared key: %s\n",
				       json_is_true(v) ? "(hidden)" : "none");
				continue;
			}
			s = json_is_string(v) ? strdup(json_string_value(v))
					      : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			printf("  %s: %s\n", k, s);
			free(s);
		}
	}
	json_decref(o);
	return EX_OK;
}

static int peer_change(struct ctl *c, const char *name, bool remove)
{
	struct sg_store_peer p;
	int rc = load(c, true);

	if (rc != 0)
		return rc;
	rc = sg_store_get_by_name(c->store, name, &p);
	if (rc == 0)
		rc = remove ? sg_store_delete(c->store, name)
			    : sg_store_revoke(c->store, name, (int64_t)time(NULL));
	if (rc != 0) {
		sg_store_peer_clear(&p);
		return die(store_code(rc), "%s", sg_store_error(c->store));
	}
	notify(c, p.public_key);
	sg_store_peer_clear(&p);
	return EX_OK;
}

/* A comma list of IPv6 or IPv4 CIDRs into p's allowed IPs. */
static int parse_allowed(const char *list, struct sg_store_peer *p)
{
	char buf[SG_STORE_MAX_ALLOWED_IPS * 64], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	p->n_allowed_ips = 0;
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		struct sg_store_prefix *a = &p->allowed_ips[p->n_allowed_ips];
		char *slash = strchr(tok, '/'), *end;
		long len;

		if (p->n_allowed_ips == SG_STORE_MAX_ALLOWED_IPS || slash == NULL)
			return -1;
		*slash = '\0';
		memset(a, 0, sizeof(*a));
		a->family = strchr(tok, ':') != NULL ? AF_INET6 : AF_INET;
		len = strtol(slash + 1, &end, 10);
		if (inet_pton(a->family, tok, a->addr) != 1 || *end != '\0' || len < 0 ||
		    len > (a->family == AF_INET6 ? 128 : 32))
			return -1;
		a->len = (uint8_t)len;
		p->n_allowed_ips++;
	}
	return p->n_allowed_ips > 0 ? 0 : -1;
}

static int peer_set(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "allowed-ips", required_argument, NULL, 'i' },
		{ "keepalive", required_argument, NULL, 'a' },
		{ "expires", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *ips = NULL, *keepalive = NULL, *expires = NULL;
	struct sg_store_peer p;
	int o, rc;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'i')
			ips = optarg;
		else if (o == 'a')
			keepalive = optarg;
		else if (o == 'e')
			expires = optarg;
		else
			return EX_USAGE_;
	}
	if (optind != argc - 1)
		return die(EX_USAGE_, "usage: peer set NAME [--allowed-ips LIST] [--keepalive S] "
				      "[--expires UNIX]");
	rc = load(c, true);
	if (rc != 0)
		return rc;
	rc = sg_store_get_by_name(c->store, argv[optind], &p);
	if (rc != 0)
		return die(store_code(rc), "%s", sg_store_error(c->store));
	if (ips != NULL && parse_allowed(ips, &p) != 0) {
		sg_store_peer_clear(&p);
		return die(EX_USAGE_, "--allowed-ips %s: not a list of up to %d CIDRs", ips,
			   SG_STORE_MAX_ALLOWED_IPS);
	}
	if ((keepalive != NULL && peer_number(&p, 'a', keepalive) != EX_OK) ||
	    (expires != NULL && peer_number(&p, 'e', expires) != EX_OK)) {
		sg_store_peer_clear(&p);
		return EX_USAGE_;
	}
	rc = sg_store_put(c->store, &p);
	if (rc != 0) {
		sg_store_peer_clear(&p);
		return die(store_code(rc), "%s", sg_store_error(c->store));
	}
	notify(c, p.public_key);
	sg_store_peer_clear(&p);
	return EX_OK;
}

/* --- vm add: a VM attached to the running gateway --- */

static int vm_add(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "org", required_argument, NULL, 'o' },
		{ "mac", required_argument, NULL, 'm' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = NULL, *prefix = NULL, *org = NULL, *mac = NULL;
	char cmd[600];
	json_t *r, *d;
	int o;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 's')
			sock = optarg;
		else if (o == 'p')
			prefix = optarg;
		else if (o == 'o')
			org = optarg;
		else if (o == 'm')
			mac = optarg;
		else
			return EX_USAGE_;
	}
	if (optind != argc - 1 || sock == NULL || prefix == NULL || org == NULL || sock[0] != '/')
		return die(EX_USAGE_, "usage: vm add NAME --socket /ABS/PATH --prefix P/112 --org "
				      "O/48 [--mac MAC]");
	snprintf(cmd, sizeof(cmd), "/sixgate/vm/add,%s,%s,%s,%s%s%s", argv[optind], sock, prefix,
		 org, mac ? "," : "", mac ? mac : "");
	if (tel_query(c, cmd, &r) != 0)
		return die(EX_GATEWAY, "%s", c->tel_err);
	d = json_object_get(r, "/sixgate/vm/add");
	if (!json_is_object(d)) {
		json_decref(r);
		return die(EX_USAGE_, "the gateway refused: vm add %s (bad prefix, org or MAC?)",
			   argv[optind]);
	}
	if (!json_is_true(json_object_get(d, "ok")) &&
	    json_integer_value(json_object_get(d, "ok")) != 1) {
		int code = EX_STORE;
		const char *e = json_string_value(json_object_get(d, "error"));

		if (e != NULL && (strstr(e, "exists") || strstr(e, "in use")))
			code = EX_EXISTS;
		die(code, "vm add %s: %s", argv[optind], e ? e : "refused");
		json_decref(r);
		return code;
	}
	json_decref(r);
	return EX_OK;
}

/* --- vm rm: a VM detached from the running gateway --- */

static int vm_rm(struct ctl *c, const char *name)
{
	char cmd[128];
	const char *e;
	json_t *r, *d;
	int code = EX_OK;

	if (strlen(name) >= 32 || strchr(name, ',') != NULL)
		return die(EX_USAGE_, "vm rm: bad VM name '%s'", name);
	snprintf(cmd, sizeof(cmd), "/sixgate/vm/rm,%s", name);
	if (tel_query(c, cmd, &r) != 0)
		return die(EX_GATEWAY, "%s", c->tel_err);
	d = json_object_get(r, "/sixgate/vm/rm");
	if (!json_is_object(d)) {
		json_decref(r);
		return die(EX_USAGE_, "the gateway refused: vm rm %s", name);
	}
	if (json_integer_value(json_object_get(d, "ok")) != 1) {
		e = json_string_value(json_object_get(d, "error"));
		code = e != NULL && strstr(e, "No such") ? EX_NOPEER : EX_STORE;
		die(code, "vm rm %s: %s", name,
		    code == EX_NOPEER ? "no such VM" : (e != NULL ? e : "refused"));
	}
	json_decref(r);
	return code;
}

/* --- show, stats: the running gateway --- */

static void show_peer(const char *name, json_t *d)
{
	json_int_t age = json_integer_value(json_object_get(d, "latest_handshake_age_s"));
	json_int_t when = json_integer_value(json_object_get(d, "latest_handshake_unix"));

	printf("peer: %s\n  name: %s\n", json_string_value(json_object_get(d, "public_key")), name);
	printf("  endpoint: %s\n", json_string_value(json_object_get(d, "endpoint")));
	printf("  org: %s\n", json_string_value(json_object_get(d, "org")));
	if (when)
		printf("  latest handshake: %lld seconds ago\n", (long long)age);
	printf("  transfer: %lld B received, %lld B sent\n\n",
	       (long long)json_integer_value(json_object_get(d, "rx_bytes")),
	       (long long)json_integer_value(json_object_get(d, "tx_bytes")));
}

static int show(struct ctl *c)
{
	json_t *all = json_object(), *r;
	long long from = 0;
	char cmd[64];

	for (;;) {
		json_t *d, *next, *v;
		const char *k;

		snprintf(cmd, sizeof(cmd), "/sixgate/peers,from=%lld", from);
		if (tel_query(c, cmd, &r) != 0) {
			json_decref(all);
			return die(EX_GATEWAY, "%s", c->tel_err);
		}
		d = json_object_get(r, "/sixgate/peers");
		json_object_foreach(d, k, v)
		{
			if (k[0] != '/')
				json_object_set(all, k, v);
		}
		next = json_object_get(d, "/next");
		from = json_is_integer(next) ? json_integer_value(next) : -1;
		json_decref(r);
		if (from < 0)
			break;
	}
	if (c->json) {
		print_json(all);
	} else {
		const char *k;
		json_t *v;

		json_object_foreach(all, k, v) show_peer(k, v);
	}
	json_decref(all);
	return EX_OK;
}

static int stats(struct ctl *c)
{
	json_t *out = json_object(), *r;
	static const char *const cmds[] = { "/sixgate/counters", "/sixgate/store" };

	for (unsigned i = 0; i < 2; i++) {
		if (tel_query(c, cmds[i], &r) != 0) {
			json_decref(out);
			return die(EX_GATEWAY, "%s", c->tel_err);
		}
		json_object_set(out, cmds[i] + 9, json_object_get(r, cmds[i]));
		json_decref(r);
	}
	if (c->json) {
		print_json(out);
	} else {
		const char *sect, *k;
		json_t *d, *v;

		json_object_foreach(out, sect, d)
		{
			printf("%s:\n", sect);
			json_object_foreach(d, k, v)
			{
				if (json_is_integer(v) &&
				    (json_integer_value(v) != 0 || strcmp(sect, "store") == 0))
					printf("  %s: %lld\n", k, (long long)json_integer_value(v));
				else if (json_is_string(v) && json_string_length(v) > 0)
					printf("  %s: %s\n", k, json_string_value(v));
				else if (json_is_object(v) && !strcmp(k, "drops")) {
					const char *dk;
					json_t *dv;

					json_object_foreach(v, dk, dv)
					{
						if (json_integer_value(dv) != 0)
							printf("  drop %s: %lld\n", dk,
							       (long long)json_integer_value(dv));
					}
				}
			}
		}
	}
	json_decref(out);
	return EX_OK;
}

/* --- policy, policy reload: the running gateway's policy --- */

static void print_dict(json_t *d, const char *indent)
{
	const char *k;
	json_t *v;

	json_object_foreach(d, k, v)
	{
		if (json_is_integer(v))
			printf("%s%s: %lld\n", indent, k, (long long)json_integer_value(v));
		else if (json_is_string(v))
			printf("%s%s: %s\n", indent, k, json_string_value(v));
	}
}

static int policy_show(struct ctl *c)
{
	json_t *r, *d, *hits;

	if (tel_query(c, "/sixgate/policy", &r) != 0)
		return die(EX_GATEWAY, "%s", c->tel_err);
	d = json_object_get(r, "/sixgate/policy");
	if (!json_is_object(d)) {
		json_decref(r);
		return die(EX_GATEWAY, "the gateway has no /sixgate/policy");
	}
	if (c->json) {
		print_json(d);
	} else {
		print_dict(d, "");
		hits = json_object_get(d, "hits");
		if (json_object_size(hits) > 0) {
			printf("hits:\n");
			print_dict(hits, "  ");
		}
	}
	json_decref(r);
	return EX_OK;
}

/* The gateway compiles the file again; a file that fails leaves the running policy (exit 4). */
static int policy_reload(struct ctl *c)
{
	json_t *r, *d;
	const char *msg;
	int code = EX_OK;

	if (tel_query(c, "/sixgate/policy_reload", &r) != 0)
		return die(EX_GATEWAY, "%s", c->tel_err);
	d = json_object_get(r, "/sixgate/policy_reload");
	if (!json_is_object(d)) {
		json_decref(r);
		return die(EX_GATEWAY, "the gateway has no /sixgate/policy_reload");
	}
	if (json_integer_value(json_object_get(d, "ok")) == 1) {
		msg = json_string_value(json_object_get(d, "loaded"));
		if (c->json)
			print_json(d);
		else
			printf("policy reloaded: %s\n", msg != NULL ? msg : "");
	} else {
		msg = json_string_value(json_object_get(d, "error"));
		code = die(EX_STORE, "policy reload refused, the running policy stays: %s",
			   msg != NULL ? msg : "?");
	}
	json_decref(r);
	return code;
}

/* --- health: is the gateway forwarding? (scripts/sixgate-health, docs/anycast.md) --- */

struct health_sample {
	json_t *reply, *counters;
};

static int health_sample(struct ctl *c, struct health_sample *s)
{
	if (tel_query(c, "/sixgate/counters", &s->reply) != 0)
		return -1;
	s->counters = json_object_get(s->reply, "/sixgate/counters");
	return json_is_object(s->counters) ? 0 : -1;
}

static long long counter(const struct health_sample *s, const char *name)
{
	json_t *v = json_object_get(s->counters, name);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/*
 * The verdict on two samples taken wait_ms apart: NULL when the gateway
 * forwards (not stopping, the control lcore's tick and every worker's poll
 * loop moving), else why not, in why.
 */
static const char *health_verdict(const struct health_sample *a, const struct health_sample *b,
				  char *why, size_t len)
{
	json_t *la = json_object_get(a->counters, "worker_loops");
	json_t *lb = json_object_get(b->counters, "worker_loops");
	long long workers = counter(b, "workers");

	if (counter(b, "stopping") < 0 || !json_is_array(lb) || !json_is_array(la) || workers < 0)
		return "the gateway reports no stopping, workers or worker_loops (an older "
		       "sixgate?)";
	if (counter(b, "stopping") != 0)
		return "stopping (draining after SIGTERM)";
	if (workers == 0 || json_array_size(lb) < (size_t)workers ||
	    json_array_size(la) != json_array_size(lb))
		return "no workers";
	if (counter(b, "ticks") <= counter(a, "ticks")) {
		snprintf(why, len, "the control lcore is stuck (ticks %lld)", counter(b, "ticks"));
		return why;
	}
	for (long long i = 0; i < workers; i++) {
		json_int_t x = json_integer_value(json_array_get(la, (size_t)i));
		json_int_t y = json_integer_value(json_array_get(lb, (size_t)i));

		if (y <= x) {
			snprintf(why, len, "worker %lld is stuck (loops %lld)", i, (long long)y);
			return why;
		}
	}
	return NULL;
}

/*
 * Exit 0 when the gateway forwards, 5 when its telemetry does not answer
 * within the wait (gone, hung, stopped), 6 when it answers but does not
 * forward.  One line says which; --json prints it as an object.
 */
static int health(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait-ms", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct health_sample a = { 0 }, b = { 0 };
	unsigned wait_ms = 200;
	const char *bad = NULL;
	char why[128];
	int o, code;

	optind = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o != 'w')
			return die(EX_USAGE_, "usage: health [--wait-ms MS]");
		wait_ms = (unsigned)strtoul(optarg, NULL, 10);
	}
	if (optind != argc || wait_ms == 0 || wait_ms > 60000)
		return die(EX_USAGE_, "usage: health [--wait-ms MS] (1..60000, default 200)");
	c->timeout_ms = wait_ms < 1000 ? 1000 : wait_ms;
	if (health_sample(c, &a) == 0) {
		usleep(wait_ms * 1000);
		if (health_sample(c, &b) == 0)
			bad = health_verdict(&a, &b, why, sizeof(why));
	}
	if (b.counters == NULL) {
		code = EX_GATEWAY;
		bad = c->tel_err[0] != '\0' ? c->tel_err : "no /sixgate/counters from the gateway";
	} else {
		code = bad == NULL ? EX_OK : EX_NOT_FORWARDING;
	}
	if (c->json) {
		json_t *j = json_pack("{s:b, s:s}", "forwarding", bad == NULL, "reason",
				      bad == NULL ? "" : bad);

		print_json(j);
		json_decref(j);
	} else if (bad == NULL) {
		printf("forwarding: %lld workers polling, control lcore ticking\n",
		       counter(&b, "workers"));
	} else {
		printf("not forwarding: %s\n", bad);
	}
	json_decref(a.reply);
	json_decref(b.reply);
	return code;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: sixgatectl [-c CONFIG] [-p PREFIX | -S SOCKET] [--json] COMMAND\n"
		"  peer add NAME --org PREFIX/48 [--public-key KEY] [--psk] [--keepalive S] "
		"[--expires UNIX]\n"
		"  peer set NAME [--allowed-ips LIST] [--keepalive S] [--expires UNIX]\n"
		"  peer list | peer show NAME | peer revoke NAME | peer rm NAME\n"
		"  vm add NAME --socket /PATH --prefix P/112 --org O/48 [--mac MAC]\n"
		"  vm rm NAME\n"
		"  show | stats\n"
		"  policy | policy reload\n"
		"  health [--wait-ms MS]\n"
		"exit codes: 0 ok, 1 usage, 2 no such peer or VM, 3 exists, 4 store, config "
		"or policy file, 5 gateway unreachable, 6 (health) not forwarding\n");
	return EX_USAGE_;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .config_path = "/etc/sixgate/sixgate.conf", .prefix = "rte" };
	int o, rc, n;
	char **v;

	/* Options first; the command's own options are its (getopt stops at it). */
	while ((o = getopt_long(argc, argv, "+c:p:S:jh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			c.config_path = optarg;
			break;
		case 'p':
			c.prefix = optarg;
			break;
		case 'S':
			c.socket_path = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		default:
			return usage();
		}
	}
	if (sg_crypto_init() != 0)
		return die(EX_STORE, "cannot initialise libsodium");
	n = argc - optind;
	v = argv + optind;
	/* --json may also follow the command, as in "peer list --json". */
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i], "--json")) {
			c.json = true;
			memmove(&v[i], &v[i + 1], (size_t)(n - i - 1) * sizeof(*v));
			n--;
			i--;
		}
	if (n >= 2 && !strcmp(v[0], "peer") && !strcmp(v[1], "add"))
		rc = peer_add(&c, n - 1, v + 1);
	else if (n >= 3 && !strcmp(v[0], "peer") && !strcmp(v[1], "set"))
		rc = peer_set(&c, n - 1, v + 1);
	else if (n == 2 && !strcmp(v[0], "peer") && !strcmp(v[1], "list"))
		rc = peer_list(&c);
	else if (n == 3 && !strcmp(v[0], "peer") && !strcmp(v[1], "show"))
		rc = peer_show(&c, v[2]);
	else if (n == 3 && !strcmp(v[0], "peer") && !strcmp(v[1], "revoke"))
		rc = peer_change(&c, v[2], false);
	else if (n == 3 && !strcmp(v[0], "peer") && !strcmp(v[1], "rm"))
		rc = peer_change(&c, v[2], true);
	else if (n >= 3 && !strcmp(v[0], "vm") && !strcmp(v[1], "add"))
		rc = vm_add(&c, n - 1, v + 1);
	else if (n == 3 && !strcmp(v[0], "vm") && !strcmp(v[1], "rm"))
		rc = vm_rm(&c, v[2]);
	else if (n == 1 && !strcmp(v[0], "show"))
		rc = show(&c);
	else if (n == 1 && !strcmp(v[0], "stats"))
		rc = stats(&c);
	else if (n == 1 && !strcmp(v[0], "policy"))
		rc = policy_show(&c);
	else if (n == 2 && !strcmp(v[0], "policy") && !strcmp(v[1], "reload"))
		rc = policy_reload(&c);
	else if (n >= 1 && !strcmp(v[0], "health"))
		rc = health(&c, n, v);
	else
		rc = usage();
	sg_store_close(c.store);
	sg_config_free(&c.cfg);
	return rc;
}
