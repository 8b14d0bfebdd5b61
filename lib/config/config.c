/* SPDX-License-Identifier: MIT */
/*
 * The sixgate configuration parser.  One pass over the lines: a section
 * header opens a section (and checks the one it closes), a "key = value" line
 * is handed to that key's parser.  Every error goes through fail(), which
 * prefixes it with FILE:LINE.  Everything is built in a private struct that
 * replaces the caller's only when the whole file was good.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/common/sg_common.h"
#include "lib/common/sg_limits.h"
#include "lib/common/sg_prefix.h"
#include "lib/config/sg_config.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/wire/sg_wire.h"

#define MAX_LINE     4096
#define MAX_FILE     (64 << 20)
#define MAX_KEY_FILE 256
#define MAX_KEYS     8
#define DEVICE_MAX   256

enum section {
	S_NONE,
	S_INTERFACE,
	S_NIC,
	S_WORKERS,
	S_VM,
	S_PEER,
	S_TIMERS,
	S_METRICS,
	S_STORE,
	S_FLEET,
	S_COUNT,
};

struct parser;

/*
 * What the file defined already, by name, public key and allowed IP, so that
 * a duplicate is found in O(1) however many peers the file has: an
 * open-addressing table of references (peer number + 1, and the allowed IP's
 * number in bits 32..47) whose bytes are read back from the peers.
 */
enum seen_kind { SEEN_NAME, SEEN_KEY, SEEN_IP, SEEN_KINDS };

struct seen {
	uint64_t *slot;
	size_t cap, n;
};

struct key_def {
	const char *name;
	int (*set)(struct parser *p, char *value);
};

struct section_def {
	const char *name;
	bool named; /* [vm NAME] rather than [nic] */
	const struct key_def *keys;
	size_t n_keys;
	int (*close)(struct parser *p);
};

struct parser {
	const char *file;
	const char *basedir;
	unsigned int line;
	char *err;
	size_t errlen;
	struct sg_config cfg;
	enum section sect;
	unsigned int sect_line;
	unsigned int key_line[MAX_KEYS];      /* where each key of the section was set */
	unsigned int sect_seen_line[S_COUNT]; /* header line of the one-off sections */
	struct seen seen[SEEN_KINDS];
};

static const struct section_def sections[S_COUNT];
static int seen_add(struct parser *p, enum seen_kind k, size_t peer, size_t ip, const void *b,
		    size_t len, size_t *first);

__attribute__((format(printf, 3, 4))) static int fail_at(struct parser *p, unsigned int line,
							 const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "%s:%u: ", p->file, line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

#define fail(p, ...) fail_at((p), (p)->line, __VA_ARGS__)

/* ---- small value parsers ------------------------------------------------ */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* A decimal number in [min, max]; no sign, no spaces, no leading junk. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (ULONG_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int set_uint(struct parser *p, const char *key, const char *v, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	if (parse_uint(v, min, max, out))
		return fail(p, "%s must be a whole number from %lu to %lu, not '%s'", key, min, max,
			    v);
	return 0;
}

/* "ADDR/LEN" of either family, with no host bits set. */
static int parse_prefix(struct parser *p, const char *key, const char *s,
			struct sg_config_prefix *out)
{
	char buf[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN];
	char *slash;
	unsigned long len;
	unsigned int bits;
	struct sg_config_prefix pf = { 0 };

	if (strlen(s) >= sizeof(buf) || !(slash = strchr(strcpy(buf, s), '/')))
		return fail(p, "%s: '%s' is not a CIDR prefix (ADDRESS/LENGTH)", key, s);
	*slash = '\0';
	pf.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	bits = pf.family == AF_INET6 ? 128 : 32;
	if (inet_pton(pf.family, buf, pf.addr) != 1)
		return fail(p, "%s: '%s' is not an IPv%c address", key, buf,
			    pf.family == AF_INET6 ? '6' : '4');
	if (parse_uint(slash + 1, 0, bits, &len))
		return fail(p, "%s: bad prefix length '/%s' (0 to %u)", key, slash + 1, bits);
	pf.len = (uint8_t)len;
	memcpy(canon, pf.addr, 16);
	sg_prefix_mask(pf.addr, pf.addr, pf.len, bits / 8);
	if (memcmp(canon, pf.addr, bits / 8)) {
		inet_ntop(pf.family, pf.addr, canon, sizeof(canon));
		return fail(p, "%s: '%s' has host bits set (the prefix is %s/%u)", key, s, canon,
			    pf.len);
	}
	*out = pf;
	return 0;
}

static int parse_addr(struct parser *p, const char *key, const char *s, int family, uint8_t *out)
{
	if (inet_pton(family, s, out) != 1)
		return fail(p, "%s: '%s' is not an IPv%c address", key, s,
			    family == AF_INET6 ? '6' : '4');
	return 0;
}

static bool prefix_contains(const struct sg_config_prefix *outer,
			    const struct sg_config_prefix *inner)
{
	return outer->family == inner->family && outer->len <= inner->len &&
	       sg_prefix_contains(outer->addr, outer->len, inner->addr);
}

static bool prefix_overlaps(const struct sg_config_prefix *a, const struct sg_config_prefix *b)
{
	return prefix_contains(a, b) || prefix_contains(b, a);
}

static const char *prefix_str(const struct sg_config_prefix *pf, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(pf->family, pf->addr, a, sizeof(a));
	snprintf(buf, len, "%s/%u", a, pf->len);
	return buf;
}

/* A 6PN organisation network: fdaa:NNNN:NNNN::/48. */
static int parse_network(struct parser *p, const char *v, struct sg_config_prefix *out)
{
	int rc = parse_prefix(p, "network", v, out);

	if (rc)
		return rc;
	if (out->family != AF_INET6 || out->len != 48 || out->addr[0] != 0xfd ||
	    out->addr[1] != 0xaa)
		return fail(p, "network must be a 6PN org /48 (fdaa:NNNN:NNNN::/48), not '%s'", v);
	return 0;
}

static int parse_mac(struct parser *p, const char *v, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6 ||
	    strlen(v) != 17)
		return fail(p, "mac: '%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", v);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		return fail(p, "mac: '%s' is a multicast address", v);
	return 0;
}

/* "[v6]:port" or "v4:port"; names are not resolved. */
static int parse_endpoint(struct parser *p, const char *v, struct sg_config_endpoint *ep)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *host = buf, *port;
	unsigned long n = 0;

	if (strlen(v) >= sizeof(buf))
		goto bad;
	strcpy(buf, v);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');

		if (!close || close[1] != ':')
			goto bad;
		*close = '\0';
		host = buf + 1;
		port = close + 2;
		ep->family = AF_INET6;
	} else {
		port = strrchr(buf, ':');
		if (!port || strchr(buf, ':') != port)
			goto bad;
		*port++ = '\0';
		ep->family = AF_INET;
	}
	if (inet_pton(ep->family, host, ep->addr) != 1 || parse_uint(port, 1, 65535, &n))
		goto bad;
	ep->port = (uint16_t)n;
	return 0;
bad:
	return fail(p, "endpoint: '%s' is not ADDRESS:PORT or [IPV6]:PORT", v);
}

/* Splits a comma list in place; empty items are an error. */
static int next_item(struct parser *p, const char *key, char **cursor, char **item)
{
	char *s = *cursor, *comma;

	if (!s)
		return 0;
	comma = strchr(s, ',');
	if (comma)
		*comma = '\0';
	*cursor = comma ? comma + 1 : NULL;
	*item = trim(s);
	if (!**item)
		return fail(p, "%s: empty item in the list", key);
	return 1;
}

static bool looks_like_key(const char *v)
{
	uint8_t k[32];
	bool yes = sg_key_from_base64(k, v) == 0;

	sg_wipe(k, sizeof(k));
	return yes;
}

/* A path value: kept as given; a key where a path belongs is refused. */
static int set_path(struct parser *p, const char *key, const char *v, char **out)
{
	if (looks_like_key(v))
		return fail(p,
			    "%s must name a file, and this looks like a key itself: keys are "
			    "never written into the configuration",
			    key);
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* Reads a key file: one base64 key of 32 bytes, optionally newline-terminated. */
static int read_key_file(struct parser *p, const char *key, const char *path, uint8_t out[32])
{
	char full[PATH_MAX], buf[MAX_KEY_FILE + 1];
	struct stat st;
	ssize_t n;
	int fd, rc = 0, saved;

	if (path[0] != '/' && p->basedir)
		snprintf(full, sizeof(full), "%s/%s", p->basedir, path);
	else
		snprintf(full, sizeof(full), "%s", path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		saved = fd < 0 ? errno : EISDIR;
		if (fd >= 0)
			close(fd);
		return fail(p, "%s: cannot read '%s': %s", key, full, strerror(saved));
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return fail(p, "%s: '%s' is open to group or others (mode %03o): chmod 600 it", key,
			    full, (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, buf, MAX_KEY_FILE + 1);
	close(fd);
	if (n < 0 || n > MAX_KEY_FILE) {
		rc = fail(p, "%s: '%s' is not a key file (%s)", key, full,
			  n < 0 ? strerror(errno) : "too large");
		goto out;
	}
	buf[n] = '\0';
	if (strlen(buf) != (size_t)n || sg_key_from_base64(out, trim(buf)))
		rc = fail(p,
			  "%s: '%s' does not hold one base64 key of 32 bytes (make one with "
			  "wg genkey)",
			  key, full);
out:
	sg_wipe(buf, sizeof(buf));
	return rc;
}

/* ---- [interface] --------------------------------------------------------- */

static int if_private_key_file(struct parser *p, char *v)
{
	int rc = set_path(p, "private_key_file", v, &p->cfg.interface.private_key_file);

	return rc ? rc : read_key_file(p, "private_key_file", v, p->cfg.interface.private_key);
}

static int if_listen_port(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "listen_port", v, 1, 65535, &n);

	p->cfg.interface.listen_port = (uint16_t)n;
	return rc;
}

static int if_address4(struct parser *p, char *v)
{
	p->cfg.interface.has_address4 = 1;
	return parse_addr(p, "address4", v, AF_INET, p->cfg.interface.address4);
}

static int if_address6(struct parser *p, char *v)
{
	p->cfg.interface.has_address6 = 1;
	return parse_addr(p, "address6", v, AF_INET6, p->cfg.interface.address6);
}

static int if_mtu(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "mtu", v, SG_MIN_MTU, SG_MAX_MTU, &n);

	p->cfg.interface.mtu = (uint16_t)n;
	return rc;
}

/* The policy file: kept with the config's directory in front, and readable. */
static int if_policy_file(struct parser *p, char *v)
{
	char full[PATH_MAX];
	int fd;

	if (v[0] != '/' && p->basedir)
		snprintf(full, sizeof(full), "%s/%s", p->basedir, v);
	else
		snprintf(full, sizeof(full), "%s", v);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(p, "policy_file: cannot read '%s': %s", full, strerror(errno));
	close(fd);
	p->cfg.interface.policy_line = p->line;
	return set_path(p, "policy_file", full, &p->cfg.interface.policy_file);
}

static const struct key_def interface_keys[] = {
	{ "private_key_file", if_private_key_file },
	{ "policy_file", if_policy_file },
	{ "listen_port", if_listen_port },
	{ "address4", if_address4 },
	{ "address6", if_address6 },
	{ "mtu", if_mtu },
};

static int interface_close(struct parser *p)
{
	if (!p->cfg.interface.private_key_file)
		return fail_at(p, p->sect_line, "[interface] needs private_key_file");
	if (!p->cfg.interface.has_address4 && !p->cfg.interface.has_address6)
		return fail_at(p, p->sect_line, "[interface] needs address4, address6 or both");
	return 0;
}

/* ---- [nic] ---------------------------------------------------------------- */

static bool is_pci_address(const char *v)
{
	unsigned int d, b, s, f;
	char end;

	return sscanf(v, "%4x:%2x:%2x.%1x%c", &d, &b, &s, &f, &end) == 4 ||
	       sscanf(v, "%2x:%2x.%1x%c", &b, &s, &f, &end) == 3;
}

/* "net_<driver><n>": the name part of a DPDK vdev string. */
static bool is_vdev(const char *v)
{
	if (strncmp(v, "net_", 4) || !isalnum((unsigned char)v[4]))
		return false;
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return false;
	return true;
}

/* A PCI address or a vdev name, either followed by ",key=value" arguments. */
static int nic_device(struct parser *p, char *v)
{
	char base[DEVICE_MAX];
	size_t n = strcspn(v, ",");

	for (const char *c = v; *c; c++)
		if (isspace((unsigned char)*c))
			return fail(p, "device: no spaces allowed in '%s'", v);
	if (strlen(v) >= DEVICE_MAX)
		return fail(p, "device: longer than %d characters", DEVICE_MAX - 1);
	memcpy(base, v, n);
	base[n] = '\0';
	if (!is_pci_address(base) && !is_vdev(base))
		return fail(p,
			    "device: '%s' is neither a PCI address (0000:03:00.0) nor a DPDK "
			    "vdev (net_af_xdp0,iface=eth0)",
			    v);
	p->cfg.nic.device = strdup(v);
	return p->cfg.nic.device ? 0 : -ENOMEM;
}

static int nic_rx_queues(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "rx_queues", v, 1, SG_MAX_NIC_QUEUES, &n);

	p->cfg.nic.rx_queues = (uint16_t)n;
	return rc;
}

static int nic_tx_queues(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "tx_queues", v, 1, SG_MAX_NIC_QUEUES, &n);

	p->cfg.nic.tx_queues = (uint16_t)n;
	return rc;
}

/*
 * No next-hop keys: the data path learns the MAC to send to from each peer's
 * authenticated packets (config/README.md), so a router address would be
 * accepted and never used.
 */
static const struct key_def nic_keys[] = {
	{ "device", nic_device },
	{ "rx_queues", nic_rx_queues },
	{ "tx_queues", nic_tx_queues },
};

static int nic_close(struct parser *p)
{
	if (!p->cfg.nic.device)
		return fail_at(p, p->sect_line, "[nic] needs device");
	return 0;
}

/* ---- [workers] ------------------------------------------------------------ */

static int add_lcore(struct parser *p, unsigned long id)
{
	for (unsigned int i = 0; i < p->cfg.workers.n_lcores; i++)
		if (p->cfg.workers.lcores[i] == id)
			return fail(p, "lcores: lcore %lu listed twice", id);
	if (p->cfg.workers.n_lcores >= SG_MAX_WORKERS)
		return fail(p, "lcores: more than %d worker lcores", SG_MAX_WORKERS);
	p->cfg.workers.lcores[p->cfg.workers.n_lcores++] = (unsigned int)id;
	return 0;
}

/* One item of the list: "N" or "N-M". */
static int lcore_item(struct parser *p, char *item)
{
	char *dash = strchr(item, '-');
	unsigned long lo, hi;
	int rc = 0;

	if (dash)
		*dash = '\0';
	if (parse_uint(trim(item), 0, SG_CONFIG_MAX_LCORES - 1, &lo) ||
	    parse_uint(dash ? trim(dash + 1) : item, lo, SG_CONFIG_MAX_LCORES - 1, &hi))
		return fail(p, "lcores: bad item '%s%s%s' (ids 0 to %d, ranges as 1-3)", item,
			    dash ? "-" : "", dash ? dash + 1 : "", SG_CONFIG_MAX_LCORES - 1);
	for (unsigned long id = lo; id <= hi && !rc; id++)
		rc = add_lcore(p, id);
	return rc;
}

static int workers_lcores(struct parser *p, char *v)
{
	char *cursor = v, *item;
	int rc;

	while ((rc = next_item(p, "lcores", &cursor, &item)) == 1)
		if ((rc = lcore_item(p, item)))
			return rc;
	return rc;
}

static int workers_burst(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "burst", v, 1, SG_BURST_MAX, &n);

	p->cfg.workers.burst = (unsigned int)n;
	return rc;
}

static int workers_cycles(struct parser *p, char *v)
{
	if (strcmp(v, "on") == 0)
		p->cfg.workers.cycles = 1;
	else if (strcmp(v, "off") == 0)
		p->cfg.workers.cycles = 0;
	else
		return fail(p, "cycles must be on or off, not '%s'", v);
	return 0;
}

static const struct key_def workers_keys[] = {
	{ "lcores", workers_lcores },
	{ "burst", workers_burst },
	{ "cycles", workers_cycles },
};

static int workers_close(struct parser *p)
{
	if (!p->cfg.workers.n_lcores)
		return fail_at(p, p->sect_line, "[workers] needs lcores");
	return 0;
}

/* ---- [vm NAME] ------------------------------------------------------------ */

enum { VM_PREFIX, VM_NETWORK, VM_SOCKET, VM_DEVICE, VM_MAC };

static struct sg_config_vm *cur_vm(struct parser *p)
{
	return &p->cfg.vms[p->cfg.n_vms - 1];
}

static int vm_socket(struct parser *p, char *v)
{
	if (strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return fail(p, "socket: path longer than a unix socket path may be");
	return set_path(p, "socket", v, &cur_vm(p)->socket);
}

static int vm_device(struct parser *p, char *v)
{
	if (strlen(v) >= DEVICE_MAX)
		return fail(p, "device: longer than %d characters", DEVICE_MAX - 1);
	cur_vm(p)->device = strdup(v);
	return cur_vm(p)->device != NULL ? 0 : -ENOMEM;
}

static int vm_prefix(struct parser *p, char *v)
{
	return parse_prefix(p, "prefix", v, &cur_vm(p)->prefix);
}

static int vm_network(struct parser *p, char *v)
{
	return parse_network(p, v, &cur_vm(p)->network);
}

static int vm_mac(struct parser *p, char *v)
{
	cur_vm(p)->has_mac = 1;
	return parse_mac(p, v, cur_vm(p)->mac);
}

static const struct key_def vm_keys[] = {
	[VM_PREFIX] = { "prefix", vm_prefix }, [VM_NETWORK] = { "network", vm_network },
	[VM_SOCKET] = { "socket", vm_socket }, [VM_DEVICE] = { "device", vm_device },
	[VM_MAC] = { "mac", vm_mac },
};

/* The VM's /112 against the other VMs and the peers defined before it. */
static int vm_check_overlaps(struct parser *p, const struct sg_config_vm *vm)
{
	unsigned int at = p->key_line[VM_PREFIX];
	char a[64];

	for (size_t i = 0; i + 1 < p->cfg.n_vms; i++) {
		const struct sg_config_vm *o = &p->cfg.vms[i];

		if (prefix_overlaps(&o->prefix, &vm->prefix))
			return fail_at(p, at, "prefix %s overlaps vm %s (line %u)",
				       prefix_str(&vm->prefix, a, sizeof(a)), o->name, o->line);
		if (o->socket != NULL && vm->socket != NULL && !strcmp(o->socket, vm->socket))
			return fail_at(p, p->key_line[VM_SOCKET],
				       "socket '%s' is already vm %s's (line %u)", vm->socket,
				       o->name, o->line);
	}
	for (size_t i = 0; i < p->cfg.n_peers; i++) {
		const struct sg_config_peer *o = &p->cfg.peers[i];

		for (size_t j = 0; j < o->n_allowed_ips; j++)
			if (prefix_overlaps(&o->allowed_ips[j], &vm->prefix))
				return fail_at(p, at,
					       "prefix %s overlaps an allowed IP of peer %s "
					       "(line %u)",
					       prefix_str(&vm->prefix, a, sizeof(a)), o->name,
					       o->line);
	}
	return 0;
}

static int vm_close(struct parser *p)
{
	struct sg_config_vm *vm = cur_vm(p);
	static const char *const required[] = { "prefix", "network" };
	char a[64], b[64];

	for (unsigned int k = VM_PREFIX; k <= VM_NETWORK; k++)
		if (!p->key_line[k])
			return fail_at(p, p->sect_line, "[vm %s] needs %s", vm->name, required[k]);
	if (!vm->socket == !vm->device)
		return fail_at(p, p->sect_line, "[vm %s] needs socket (or device), not both",
			       vm->name);
	if (vm->prefix.family != AF_INET6 || vm->prefix.len != 112)
		return fail_at(p, p->key_line[VM_PREFIX], "prefix must be an IPv6 /112, not %s",
			       prefix_str(&vm->prefix, a, sizeof(a)));
	if (!prefix_contains(&vm->network, &vm->prefix))
		return fail_at(p, p->key_line[VM_PREFIX], "prefix %s is outside network %s",
			       prefix_str(&vm->prefix, a, sizeof(a)),
			       prefix_str(&vm->network, b, sizeof(b)));
	return vm_check_overlaps(p, vm);
}

/* ---- [peer NAME] ---------------------------------------------------------- */

enum {
	PEER_PUBLIC_KEY,
	PEER_PSK_FILE,
	PEER_ALLOWED_IPS,
	PEER_ENDPOINT,
	PEER_KEEPALIVE,
	PEER_NETWORK
};

static struct sg_config_peer *cur_peer(struct parser *p)
{
	return &p->cfg.peers[p->cfg.n_peers - 1];
}

static int peer_public_key(struct parser *p, char *v)
{
	struct sg_config_peer *peer = cur_peer(p);

	if (sg_key_from_base64(peer->public_key, v))
		return fail(p, "public_key: not a base64 key of 32 bytes");
	if (sg_is_zero(peer->public_key, sizeof(peer->public_key)))
		return fail(p, "public_key: the all-zero key is not a key");
	size_t first;
	int rc = seen_add(p, SEEN_KEY, p->cfg.n_peers - 1, 0, peer->public_key, 32, &first);

	if (rc == -EEXIST)
		return fail(p, "public_key is already peer %s's (line %u)",
			    p->cfg.peers[first].name, p->cfg.peers[first].line);
	return rc;
}

static int peer_psk_file(struct parser *p, char *v)
{
	struct sg_config_peer *peer = cur_peer(p);
	int rc = set_path(p, "preshared_key_file", v, &peer->preshared_key_file);

	if (rc)
		return rc;
	peer->has_preshared_key = 1;
	return read_key_file(p, "preshared_key_file", v, peer->preshared_key);
}

static int add_allowed_ip(struct parser *p, struct sg_config_peer *peer, const char *item)
{
	struct sg_config_prefix pf, *grown;
	char a[64];
	int rc = parse_prefix(p, "allowed_ips", item, &pf);

	if (rc)
		return rc;
	for (size_t i = 0; i < peer->n_allowed_ips; i++)
		if (peer->allowed_ips[i].len == pf.len &&
		    prefix_contains(&peer->allowed_ips[i], &pf))
			return fail(p, "allowed_ips: %s listed twice",
				    prefix_str(&pf, a, sizeof(a)));
	if (peer->n_allowed_ips >= SG_MAX_ALLOWED_IPS)
		return fail(p, "allowed_ips: more than %d prefixes", SG_MAX_ALLOWED_IPS);
	grown = realloc(peer->allowed_ips, (peer->n_allowed_ips + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	peer->allowed_ips = grown;
	peer->allowed_ips[peer->n_allowed_ips++] = pf;
	return 0;
}

static int peer_allowed_ips(struct parser *p, char *v)
{
	char *cursor = v, *item;
	int rc;

	while ((rc = next_item(p, "allowed_ips", &cursor, &item)) == 1)
		if ((rc = add_allowed_ip(p, cur_peer(p), item)))
			return rc;
	return rc;
}

static int peer_endpoint(struct parser *p, char *v)
{
	cur_peer(p)->has_endpoint = 1;
	return parse_endpoint(p, v, &cur_peer(p)->endpoint);
}

static int peer_keepalive(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = strcmp(v, "off") ? set_uint(p, "persistent_keepalive", v, 0, 65535, &n) : 0;

	cur_peer(p)->persistent_keepalive = (uint16_t)n;
	return rc;
}

static int peer_network(struct parser *p, char *v)
{
	return parse_network(p, v, &cur_peer(p)->network);
}

static const struct key_def peer_keys[] = {
	[PEER_PUBLIC_KEY] = { "public_key", peer_public_key },
	[PEER_PSK_FILE] = { "preshared_key_file", peer_psk_file },
	[PEER_ALLOWED_IPS] = { "allowed_ips", peer_allowed_ips },
	[PEER_ENDPOINT] = { "endpoint", peer_endpoint },
	[PEER_KEEPALIVE] = { "persistent_keepalive", peer_keepalive },
	[PEER_NETWORK] = { "network", peer_network },
};

/* One allowed IP against the org, the other peers and the VMs. */
static int peer_check_ip(struct parser *p, const struct sg_config_peer *peer,
			 const struct sg_config_prefix *ip)
{
	unsigned int at = p->key_line[PEER_ALLOWED_IPS];
	char a[64], b[64];

	/* IPv4 entries never reach a 6PN network: the data path forwards IPv6 only. */
	if (ip->family == AF_INET6 && !prefix_contains(&peer->network, ip))
		return fail_at(p, at, "allowed IP %s is outside network %s",
			       prefix_str(ip, a, sizeof(a)),
			       prefix_str(&peer->network, b, sizeof(b)));
	size_t first;
	int rc = seen_add(p, SEEN_IP, p->cfg.n_peers - 1, (size_t)(ip - peer->allowed_ips), ip,
			  sizeof(*ip), &first);

	if (rc == -EEXIST)
		return fail_at(p, at, "allowed IP %s is already peer %s's (line %u)",
			       prefix_str(ip, a, sizeof(a)), p->cfg.peers[first].name,
			       p->cfg.peers[first].line);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < p->cfg.n_vms; i++)
		if (prefix_overlaps(&p->cfg.vms[i].prefix, ip))
			return fail_at(p, at,
				       "allowed IP %s overlaps the prefix of vm %s (line %u)",
				       prefix_str(ip, a, sizeof(a)), p->cfg.vms[i].name,
				       p->cfg.vms[i].line);
	return 0;
}

static int peer_close(struct parser *p)
{
	struct sg_config_peer *peer = cur_peer(p);
	static const struct {
		int key;
		const char *name;
	} required[] = { { PEER_PUBLIC_KEY, "public_key" },
			 { PEER_ALLOWED_IPS, "allowed_ips" },
			 { PEER_NETWORK, "network" } };
	int rc;

	for (size_t k = 0; k < SG_ARRAY_SIZE(required); k++)
		if (!p->key_line[required[k].key])
			return fail_at(p, p->sect_line, "[peer %s] needs %s", peer->name,
				       required[k].name);
	for (size_t i = 0; i < peer->n_allowed_ips; i++)
		if ((rc = peer_check_ip(p, peer, &peer->allowed_ips[i])))
			return rc;
	return 0;
}

/* ---- [timers] -------------------------------------------------------------- */

/*
 * A protocol time, at most the protocol's own (lib/wire/sg_wire.h): tests
 * shorten them, nothing may make keys live longer than WireGuard lets them.
 */
static int timer(struct parser *p, const char *key, char *v, unsigned long max, uint32_t *out)
{
	unsigned long n = 0;
	int rc = set_uint(p, key, v, 1, max, &n);

	*out = (uint32_t)n;
	return rc;
}

static int t_rekey_after(struct parser *p, char *v)
{
	return timer(p, "rekey_after_time", v, SG_REKEY_AFTER_TIME_S,
		     &p->cfg.timers.rekey_after_time);
}

static int t_reject_after(struct parser *p, char *v)
{
	return timer(p, "reject_after_time", v, SG_REJECT_AFTER_TIME_S,
		     &p->cfg.timers.reject_after_time);
}

static int t_keepalive(struct parser *p, char *v)
{
	return timer(p, "keepalive_timeout", v, SG_KEEPALIVE_TIMEOUT_S,
		     &p->cfg.timers.keepalive_timeout);
}

static int t_rekey_timeout(struct parser *p, char *v)
{
	return timer(p, "rekey_timeout", v, SG_REKEY_TIMEOUT_S, &p->cfg.timers.rekey_timeout);
}

static const struct key_def timers_keys[] = {
	{ "rekey_after_time", t_rekey_after },
	{ "reject_after_time", t_reject_after },
	{ "keepalive_timeout", t_keepalive },
	{ "rekey_timeout", t_rekey_timeout },
};

static int timers_close(struct parser *p)
{
	if (p->cfg.timers.reject_after_time <= p->cfg.timers.rekey_after_time)
		return fail_at(p, p->sect_line,
			       "[timers] reject_after_time (%u) must be longer than "
			       "rekey_after_time (%u)",
			       p->cfg.timers.reject_after_time, p->cfg.timers.rekey_after_time);
	/* Else an initiator that only receives would rekey the moment a session starts. */
	if (p->cfg.timers.reject_after_time <=
	    p->cfg.timers.keepalive_timeout + p->cfg.timers.rekey_timeout)
		return fail_at(p, p->sect_line,
			       "[timers] reject_after_time (%u) must be longer than "
			       "keepalive_timeout + rekey_timeout (%u + %u)",
			       p->cfg.timers.reject_after_time, p->cfg.timers.keepalive_timeout,
			       p->cfg.timers.rekey_timeout);
	return 0;
}

/* ---- [metrics] ------------------------------------------------------------- */

static int metrics_listen(struct parser *p, char *v)
{
	if (strcmp(v, "off") == 0) {
		p->cfg.metrics.enabled = 0;
		return 0;
	}
	p->cfg.metrics.enabled = 1;
	return parse_endpoint(p, v, &p->cfg.metrics.listen);
}

static int metrics_peers_top(struct parser *p, char *v)
{
	unsigned long n = 0;
	int rc = set_uint(p, "peers_top", v, 0, SG_METRICS_PEERS_MAX, &n);

	p->cfg.metrics.peers_top = (unsigned int)n;
	return rc;
}

static const struct key_def metrics_keys[] = {
	{ "listen", metrics_listen },
	{ "peers_top", metrics_peers_top },
};

/* ---- [store] -------------------------------------------------------------- */

static bool is_pg_url(const char *v)
{
	return strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0;
}

/* A file (relative to the config's directory, or "sqlite:FILE") or a PostgreSQL URL. */
static int st_path(struct parser *p, char *v)
{
	char full[PATH_MAX];
	bool sqlite = strncmp(v, "sqlite:", 7) == 0;
	const char *file = sqlite ? v + 7 : v;

	if (p->cfg.store.path != NULL)
		return fail(p, "[store] has path or url once");
	if (is_pg_url(v))
		snprintf(full, sizeof(full), "%s", v);
	else if (file[0] != '/' && p->basedir)
		snprintf(full, sizeof(full), "%s%s/%s", sqlite ? "sqlite:" : "", p->basedir, file);
	else
		snprintf(full, sizeof(full), "%s", v);
	p->cfg.store.path = strdup(full);
	return p->cfg.store.path ? 0 : -ENOMEM;
}

static int st_url(struct parser *p, char *v)
{
	if (!is_pg_url(v))
		return fail(p, "[store] url must be postgresql://... (a file is path = FILE)");
	return st_path(p, v);
}

static int set_u32(struct parser *p, const char *key, char *v, unsigned long lo, unsigned long hi,
		   uint32_t *out)
{
	unsigned long n = 0;
	int rc = set_uint(p, key, v, lo, hi, &n);

	*out = (uint32_t)n;
	return rc;
}

static int st_max_loaded(struct parser *p, char *v)
{
	return set_u32(p, "max_loaded", v, 1, SG_MAX_LOADED_PEERS, &p->cfg.store.max_loaded);
}

static int st_lookups(struct parser *p, char *v)
{
	return set_u32(p, "lookups_per_second", v, 1, 1000000, &p->cfg.store.lookups_per_second);
}

static int st_inflight(struct parser *p, char *v)
{
	return set_u32(p, "lookups_in_flight", v, 1, SG_MAX_STORE_INFLIGHT,
		       &p->cfg.store.lookups_in_flight);
}

static int st_negative(struct parser *p, char *v)
{
	return set_u32(p, "negative_cache_s", v, 0, 86400, &p->cfg.store.negative_cache_s);
}

static int st_check(struct parser *p, char *v)
{
	return set_u32(p, "check_interval_s", v, 1, 3600, &p->cfg.store.check_interval_s);
}

static int st_idle(struct parser *p, char *v)
{
	return set_u32(p, "idle_timeout_s", v, 0, 86400 * 365, &p->cfg.store.idle_timeout_s);
}

static const struct key_def store_keys[] = {
	{ "path", st_path },
	{ "url", st_url },
	{ "max_loaded", st_max_loaded },
	{ "lookups_per_second", st_lookups },
	{ "lookups_in_flight", st_inflight },
	{ "negative_cache_s", st_negative },
	{ "check_interval_s", st_check },
	{ "idle_timeout_s", st_idle },
};

static int store_close(struct parser *p)
{
	p->cfg.store.line = p->sect_line;
	if (!p->cfg.store.path)
		return fail_at(p, p->sect_line, "[store] needs path (or url)");
	return 0;
}

/* ---- [fleet] -------------------------------------------------------------- */

static int fl_node_id(struct parser *p, char *v)
{
	return set_u32(p, "node_id", v, 1, UINT32_MAX, &p->cfg.fleet.node_id);
}

static int fl_partner_id(struct parser *p, char *v)
{
	return set_u32(p, "partner_id", v, 1, UINT32_MAX, &p->cfg.fleet.partner_id);
}

static int fl_secret_file(struct parser *p, char *v)
{
	return read_key_file(p, "secret_file", v, p->cfg.fleet.secret);
}

static int fl_listen(struct parser *p, char *v)
{
	return parse_endpoint(p, v, &p->cfg.fleet.listen);
}

static int fl_partner(struct parser *p, char *v)
{
	return parse_endpoint(p, v, &p->cfg.fleet.partner);
}

static int fl_heartbeat(struct parser *p, char *v)
{
	return set_u32(p, "heartbeat_ms", v, 10, 1000, &p->cfg.fleet.heartbeat_ms);
}

static int fl_takeover(struct parser *p, char *v)
{
	return set_u32(p, "takeover_ms", v, 20, 10000, &p->cfg.fleet.takeover_ms);
}

static int fl_mode(struct parser *p, char *v)
{
	if (strcmp(v, "pair") == 0)
		p->cfg.fleet.anycast = 0;
	else if (strcmp(v, "anycast") == 0)
		p->cfg.fleet.anycast = 1;
	else
		return fail(p, "mode must be pair or anycast");
	return 0;
}

static const struct key_def fleet_keys[] = {
	{ "mode", fl_mode },
	{ "node_id", fl_node_id },
	{ "partner_id", fl_partner_id },
	{ "secret_file", fl_secret_file },
	{ "listen", fl_listen },
	{ "partner", fl_partner },
	{ "heartbeat_ms", fl_heartbeat },
	{ "takeover_ms", fl_takeover },
};

static int fleet_close(struct parser *p)
{
	struct sg_config *c = &p->cfg;
	static const char *const need[] = { "node_id", "partner_id", "secret_file", "listen",
					    "partner" };
	const bool have[] = { c->fleet.node_id != 0, c->fleet.partner_id != 0,
			      !sg_is_zero(c->fleet.secret, 32), c->fleet.listen.family != 0,
			      c->fleet.partner.family != 0 };

	c->fleet.line = p->sect_line;
	for (size_t i = 0; i < SG_ARRAY_SIZE(need); i++)
		if (!have[i])
			return fail_at(p, p->sect_line, "[fleet] needs %s", need[i]);
	if (c->fleet.node_id == c->fleet.partner_id)
		return fail_at(p, p->sect_line, "[fleet] node_id and partner_id must differ");
	if (c->fleet.listen.family != c->fleet.partner.family)
		return fail_at(p, p->sect_line,
			       "[fleet] listen and partner must be of one address family");
	if (c->fleet.takeover_ms < 2 * c->fleet.heartbeat_ms)
		return fail_at(p, p->sect_line,
			       "[fleet] takeover_ms (%u) must be at least two heartbeats (2 x %u)",
			       c->fleet.takeover_ms, c->fleet.heartbeat_ms);
	c->fleet.enabled = 1;
	return 0;
}

static const struct section_def sections[S_COUNT] = {
	[S_INTERFACE] = { "interface", false, interface_keys, SG_ARRAY_SIZE(interface_keys),
			  interface_close },
	[S_NIC] = { "nic", false, nic_keys, SG_ARRAY_SIZE(nic_keys), nic_close },
	[S_WORKERS] = { "workers", false, workers_keys, SG_ARRAY_SIZE(workers_keys),
			workers_close },
	[S_VM] = { "vm", true, vm_keys, SG_ARRAY_SIZE(vm_keys), vm_close },
	[S_PEER] = { "peer", true, peer_keys, SG_ARRAY_SIZE(peer_keys), peer_close },
	[S_TIMERS] = { "timers", false, timers_keys, SG_ARRAY_SIZE(timers_keys), timers_close },
	[S_METRICS] = { "metrics", false, metrics_keys, SG_ARRAY_SIZE(metrics_keys), NULL },
	[S_STORE] = { "store", false, store_keys, SG_ARRAY_SIZE(store_keys), store_close },
	[S_FLEET] = { "fleet", false, fleet_keys, SG_ARRAY_SIZE(fleet_keys), fleet_close },
};

_Static_assert(SG_ARRAY_SIZE(peer_keys) <= MAX_KEYS, "key_line too small");

/* ---- lines and sections ----------------------------------------------------- */

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= SG_CONFIG_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

/*
 * Appends a zeroed element to *arr (of *n elements of size sz), doubling the
 * room when it is full (8, 16, 32, ...: what n implies), so that a file of
 * many peers is read in linear time.  Not realloc: peers hold preshared keys,
 * and realloc would free the old block unwiped.
 */
static void *grow(void **arr, size_t *n, size_t sz)
{
	size_t cap = *n < 8 ? 8 : *n;
	char *a;

	if (*arr != NULL && (*n < 8 || (*n & (*n - 1)) != 0))
		return (char *)*arr + (*n)++ * sz;
	if (*arr != NULL)
		cap = 2 * *n;
	a = calloc(cap, sz);
	if (!a)
		return NULL;
	if (*arr) {
		memcpy(a, *arr, *n * sz);
		sg_wipe(*arr, *n * sz);
		free(*arr);
	}
	*arr = a;
	return a + (*n)++ * sz;
}

/* The bytes a reference of kind k stands for. */
static size_t seen_bytes(const struct parser *p, enum seen_kind k, uint64_t ref, const void **b)
{
	const struct sg_config_peer *peer = &p->cfg.peers[(uint32_t)ref - 1];
	const struct sg_config_prefix *ip;

	switch (k) {
	case SEEN_NAME:
		*b = peer->name;
		return strlen(peer->name);
	case SEEN_KEY:
		*b = peer->public_key;
		return sizeof(peer->public_key);
	default:
		ip = &peer->allowed_ips[ref >> 32];
		*b = ip;
		return sizeof(*ip);
	}
}

static uint64_t seen_hash(const void *b, size_t len)
{
	const uint8_t *s = b;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (len-- > 0)
		h = (h ^ *s++) * 1099511628211ull;
	return h;
}

/* The slot holding bytes b, or the empty slot where they would go. */
static uint64_t *seen_find(const struct parser *p, enum seen_kind k, const void *b, size_t len)
{
	const struct seen *t = &p->seen[k];
	size_t i = (size_t)seen_hash(b, len) & (t->cap - 1);

	for (;; i = (i + 1) & (t->cap - 1)) {
		const void *o;

		if (t->slot[i] == 0)
			return &t->slot[i];
		if (seen_bytes(p, k, t->slot[i], &o) == len && !memcmp(o, b, len))
			return &t->slot[i];
	}
}

static int seen_grow(struct parser *p, enum seen_kind k)
{
	struct seen *t = &p->seen[k], old = *t;

	if (t->cap != 0 && 2 * (t->n + 1) <= t->cap)
		return 0;
	t->cap = old.cap ? 2 * old.cap : 64;
	t->slot = calloc(t->cap, sizeof(*t->slot));
	if (!t->slot) {
		*t = old;
		return -ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++) {
		const void *b;
		size_t len;

		if (old.slot[i] == 0)
			continue;
		len = seen_bytes(p, k, old.slot[i], &b);
		*seen_find(p, k, b, len) = old.slot[i];
	}
	free(old.slot);
	return 0;
}

/*
 * Records that peer number peer (its allowed IP ip for SEEN_IP) has the bytes
 * b.  Returns 0, -EEXIST with the peer that had them already in *first, or
 * -ENOMEM.
 */
static int seen_add(struct parser *p, enum seen_kind k, size_t peer, size_t ip, const void *b,
		    size_t len, size_t *first)
{
	uint64_t *slot;

	if (seen_grow(p, k) != 0)
		return -ENOMEM;
	slot = seen_find(p, k, b, len);
	if (*slot != 0) {
		*first = (uint32_t)*slot - 1;
		return -EEXIST;
	}
	*slot = ((uint64_t)ip << 32) | (uint64_t)(peer + 1);
	p->seen[k].n++;
	return 0;
}

static void seen_free(struct parser *p)
{
	for (unsigned k = 0; k < SEEN_KINDS; k++)
		free(p->seen[k].slot);
}

static int open_named(struct parser *p, enum section s, const char *name)
{
	const char *kind = sections[s].name;

	if (!name)
		return fail(p, "[%s] needs a name: [%s NAME]", kind, kind);
	if (!valid_name(name))
		return fail(p, "bad %s name '%s' (letters, digits, '_', '-', '.'; up to %d)", kind,
			    name, SG_CONFIG_NAME_MAX - 1);
	if (s == S_VM) {
		for (size_t i = 0; i < p->cfg.n_vms; i++)
			if (!strcmp(p->cfg.vms[i].name, name))
				return fail(p, "[vm %s] defined twice (first at line %u)", name,
					    p->cfg.vms[i].line);
		if (p->cfg.n_vms >= SG_MAX_VMS)
			return fail(p, "more than %d [vm] sections", SG_MAX_VMS);
		struct sg_config_vm *vm = grow((void **)&p->cfg.vms, &p->cfg.n_vms, sizeof(*vm));

		if (!vm)
			return -ENOMEM;
		strcpy(vm->name, name);
		vm->line = p->line;
		return 0;
	}
	if (p->cfg.n_peers >= SG_MAX_PEERS)
		return fail(p, "more than %d [peer] sections", SG_MAX_PEERS);
	struct sg_config_peer *peer = grow((void **)&p->cfg.peers, &p->cfg.n_peers, sizeof(*peer));
	size_t first;
	int rc;

	if (!peer)
		return -ENOMEM;
	strcpy(peer->name, name);
	peer->line = p->line;
	rc = seen_add(p, SEEN_NAME, p->cfg.n_peers - 1, 0, name, strlen(name), &first);
	if (rc == -EEXIST) {
		rc = fail(p, "[peer %s] defined twice (first at line %u)", name,
			  p->cfg.peers[first].line);
		/* Not a peer of the file: the caller's cleanup must not see half of it. */
		memset(peer, 0, sizeof(*peer));
		p->cfg.n_peers--;
	}
	return rc;
}

static int close_section(struct parser *p)
{
	return p->sect == S_NONE || sections[p->sect].close == NULL ? 0
								    : sections[p->sect].close(p);
}

static int parse_header(struct parser *p, char *s)
{
	char *end = s + strlen(s) - 1, *kind, *name, *extra;
	enum section k;
	int rc;

	if (*end != ']')
		return fail(p, "section header without a closing ']'");
	*end = '\0';
	kind = strtok(s + 1, " \t");
	name = kind ? strtok(NULL, " \t") : NULL;
	extra = name ? strtok(NULL, " \t") : NULL;
	if (!kind)
		return fail(p, "empty section header");
	for (k = S_INTERFACE; k < S_COUNT; k++)
		if (!strcmp(sections[k].name, kind))
			break;
	if (k == S_COUNT)
		return fail(p, "unknown section [%s]", kind);
	if (extra || (name && !sections[k].named))
		return fail(p, "[%s] takes %s", kind, sections[k].named ? "one name" : "no name");

	if ((rc = close_section(p)))
		return rc;
	if (!sections[k].named && p->sect_seen_line[k])
		return fail(p, "section [%s] appears twice (first at line %u)", kind,
			    p->sect_seen_line[k]);
	if (sections[k].named && (rc = open_named(p, k, name)))
		return rc;
	p->sect_seen_line[k] = p->line;
	p->sect = k;
	p->sect_line = p->line;
	memset(p->key_line, 0, sizeof(p->key_line));
	return 0;
}

static int parse_key(struct parser *p, char *s)
{
	char *eq = strchr(s, '='), *key, *value;
	const struct section_def *sd = &sections[p->sect];

	if (!eq)
		return fail(p, "expected 'key = value' or a [section]");
	*eq = '\0';
	key = trim(s);
	value = trim(eq + 1);
	if (p->sect == S_NONE)
		return fail(p, "'%s' outside any section", key);
	for (size_t i = 0; i < sd->n_keys; i++) {
		if (strcmp(sd->keys[i].name, key))
			continue;
		if (p->key_line[i])
			return fail(p, "duplicate key '%s' (first at line %u)", key,
				    p->key_line[i]);
		if (!*value)
			return fail(p, "'%s' has no value", key);
		p->key_line[i] = p->line;
		return sd->keys[i].set(p, value);
	}
	if (!strcmp(key, "private_key") || !strcmp(key, "preshared_key"))
		return fail(p,
			    "%s is not accepted here: keys are never written into the "
			    "configuration; put it in a file and use %s_file",
			    key, key);
	return fail(p, "unknown key '%s' in [%s]", key, sd->name);
}

/* "#" starts a comment at the start of a line or after a blank. */
static void strip_comment(char *s)
{
	for (char *c = s; *c; c++) {
		if (*c == '#' && (c == s || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			return;
		}
	}
}

static int parse_line(struct parser *p, char *line)
{
	char *s;

	strip_comment(line);
	s = trim(line);
	if (!*s)
		return 0;
	if (*s == '[')
		return parse_header(p, s);
	return parse_key(p, s);
}

/* Whole-file rules, checked at the end (reported at the last line). */
static int finish(struct parser *p)
{
	static const enum section required[] = { S_INTERFACE, S_NIC, S_WORKERS };

	for (size_t i = 0; i < SG_ARRAY_SIZE(required); i++)
		if (!p->sect_seen_line[required[i]])
			return fail(p, "no [%s] section in the file", sections[required[i]].name);
	p->cfg.nic.line = p->sect_seen_line[S_NIC];
	p->cfg.workers.line = p->sect_seen_line[S_WORKERS];
	for (size_t i = 0; i < p->cfg.n_peers; i++) {
		const struct sg_config_peer *peer = &p->cfg.peers[i];
		int v6 = peer->endpoint.family == AF_INET6;

		if (peer->has_endpoint &&
		    !(v6 ? p->cfg.interface.has_address6 : p->cfg.interface.has_address4))
			return fail_at(p, peer->line,
				       "[peer %s] has an IPv%c endpoint but [interface] has no "
				       "address%c",
				       peer->name, v6 ? '6' : '4', v6 ? '6' : '4');
	}
	return 0;
}

static int parse_text(struct parser *p, const char *text, size_t len)
{
	char line[MAX_LINE + 1];
	const char *s = text, *end = text + len;
	int rc = 0;

	while (s < end && !rc) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		p->line++;
		if (n > MAX_LINE) {
			rc = fail(p, "line longer than %d characters", MAX_LINE);
			break;
		}
		memcpy(line, s, n);
		line[n] = '\0';
		if (strlen(line) != n) {
			rc = fail(p, "NUL byte in the line");
			break;
		}
		rc = parse_line(p, line);
		s += n + 1;
	}
	/* A key pasted into the file by mistake is refused, and not left on the stack. */
	sg_wipe(line, sizeof(line));
	if (!rc)
		rc = close_section(p);
	return rc ? rc : finish(p);
}

static void set_defaults(struct sg_config *c)
{
	c->interface.listen_port = SG_DEFAULT_LISTEN_PORT;
	c->interface.mtu = SG_DEFAULT_MTU;
	c->nic.rx_queues = 1;
	c->nic.tx_queues = 1;
	c->workers.burst = SG_BURST_DEFAULT;
	c->timers.rekey_after_time = SG_REKEY_AFTER_TIME_S;
	c->timers.reject_after_time = SG_REJECT_AFTER_TIME_S;
	c->timers.keepalive_timeout = SG_KEEPALIVE_TIMEOUT_S;
	c->timers.rekey_timeout = SG_REKEY_TIMEOUT_S;
	c->metrics.enabled = 1;
	c->metrics.listen.family = AF_INET;
	c->metrics.listen.addr[0] = 127;
	c->metrics.listen.addr[3] = 1;
	c->metrics.listen.port = SG_METRICS_PORT;
	c->metrics.peers_top = SG_METRICS_PEERS_TOP;
	c->fleet.heartbeat_ms = SG_FLEET_HEARTBEAT_MS;
	c->fleet.takeover_ms = SG_FLEET_TAKEOVER_MS;
	c->store.max_loaded = SG_DEFAULT_LOADED_PEERS;
	c->store.lookups_per_second = SG_DEFAULT_STORE_LOOKUPS;
	c->store.lookups_in_flight = SG_DEFAULT_STORE_INFLIGHT;
	c->store.negative_cache_s = SG_DEFAULT_NEGATIVE_S;
	c->store.check_interval_s = SG_DEFAULT_STORE_CHECK_S;
}

int sg_config_parse(struct sg_config *cfg, const char *name, const char *text, size_t len,
		    const char *basedir, char *err, size_t errlen)
{
	struct parser p = {
		.file = name ? name : "(config)", .basedir = basedir, .err = err, .errlen = errlen
	};
	int rc;

	if (err && errlen)
		err[0] = '\0';
	set_defaults(&p.cfg);
	p.cfg.file = strdup(p.file);
	rc = p.cfg.file != NULL ? parse_text(&p, text, len) : -ENOMEM;
	seen_free(&p);
	if (rc == -ENOMEM)
		fail(&p, "out of memory");
	if (rc) {
		sg_config_free(&p.cfg);
		return rc;
	}
	*cfg = p.cfg;
	/* The parser's copy holds the private key too. */
	sg_wipe(&p.cfg, sizeof(p.cfg));
	return 0;
}

int sg_config_load(struct sg_config *cfg, const char *path, char *err, size_t errlen)
{
	struct parser p = { .file = path, .err = err, .errlen = errlen };
	char *text, *dir, *slash;
	ssize_t n;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail_at(&p, 0, "cannot open: %s", strerror(errno));
	text = malloc(MAX_FILE + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, text, MAX_FILE + 1);
	rc = n < 0 ? errno : 0;
	close(fd);
	if (n < 0 || n > MAX_FILE) {
		free(text);
		return fail_at(&p, 0, "cannot read: %s",
			       n < 0 ? strerror(rc) : "larger than 64 MiB");
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir] = '\0';
	rc = sg_config_parse(cfg, path, text, (size_t)n, slash ? dir : NULL, err, errlen);
	free(dir);
	sg_wipe(text, (size_t)n);
	free(text);
	return rc;
}

void sg_config_free(struct sg_config *cfg)
{
	if (!cfg)
		return;
	sg_wipe(cfg->interface.private_key, sizeof(cfg->interface.private_key));
	sg_wipe(cfg->fleet.secret, sizeof(cfg->fleet.secret));
	free(cfg->interface.private_key_file);
	free(cfg->interface.policy_file);
	free(cfg->store.path);
	free(cfg->file);
	free(cfg->nic.device);
	for (size_t i = 0; i < cfg->n_vms; i++) {
		free(cfg->vms[i].socket);
		free(cfg->vms[i].device);
	}
	free(cfg->vms);
	for (size_t i = 0; i < cfg->n_peers; i++) {
		sg_wipe(cfg->peers[i].preshared_key, sizeof(cfg->peers[i].preshared_key));
		free(cfg->peers[i].preshared_key_file);
		free(cfg->peers[i].allowed_ips);
	}
	free(cfg->peers);
	memset(cfg, 0, sizeof(*cfg));
}
