/* SPDX-License-Identifier: MIT */
/*
 * The sixgate configuration file: INI sections, "key = value" lines and "#"
 * comments, documented key by key in config/README.md.
 *
 * The parser is strict: an unknown section or key, a duplicate key, a value
 * that does not parse or a rule that does not hold (a VM's /112 outside its
 * network, overlapping VMs, a peer's allowed IP outside its org, two peers
 * with one public key, ...) fails the whole parse with one message of the
 * form "FILE:LINE: reason" and -EINVAL.  Nothing is half-applied: on error the
 * caller's struct is left as it was.  Keys are never written inline in the
 * file: the private key and preshared keys are read from files that hold one
 * base64 key each (as `wg genkey` writes them); sg_config_free() wipes them.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/common/sg_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SG_CONFIG_NAME_MAX   32	 /* section names, NUL included */
#define SG_CONFIG_MAX_LCORES 128 /* worker lcore ids are below this */
#define SG_CONFIG_ERR_LEN    512 /* a comfortable size for the error buffer */

/* An IPv4 or IPv6 prefix with its host bits zero. */
struct sg_config_prefix {
	int family;	  /* AF_INET or AF_INET6 */
	uint8_t len;	  /* prefix length */
	uint8_t addr[16]; /* network byte order; IPv4 in the first 4 bytes */
};

struct sg_config_endpoint {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port; /* host byte order */
};

struct sg_config_vm {
	char name[SG_CONFIG_NAME_MAX];
	unsigned int line;		 /* line of the [vm NAME] header */
	char *socket;			 /* vhost-user socket path, or NULL */
	char *device;			 /* or any DPDK device string, or NULL */
	struct sg_config_prefix prefix;	 /* the VM's 6PN /112 */
	struct sg_config_prefix network; /* its org's /48 */
	int has_mac;
	uint8_t mac[6];
};

struct sg_config_peer {
	char name[SG_CONFIG_NAME_MAX];
	unsigned int line; /* line of the [peer NAME] header */
	uint8_t public_key[32];
	char *preshared_key_file; /* NULL when none */
	int has_preshared_key;
	uint8_t preshared_key[32];
	struct sg_config_prefix *allowed_ips;
	size_t n_allowed_ips;
	int has_endpoint;
	struct sg_config_endpoint endpoint;
	uint16_t persistent_keepalive;	 /* seconds; 0 = off */
	struct sg_config_prefix network; /* the org the peer belongs to */
};

struct sg_config {
	char *file; /* the name messages give (the path loaded) */
	struct {
		char *private_key_file;
		uint8_t private_key[32];
		uint16_t listen_port;
		int has_address4;
		uint8_t address4[4];
		int has_address6;
		uint8_t address6[16];
		uint16_t mtu; /* inner (tunnel) MTU */
		/* The policy file (lib/policy), the config's directory in front; NULL: none. */
		char *policy_file;
		unsigned int policy_line; /* the line that names it */
	} interface;
	struct {
		char *device; /* a PCI address or a DPDK vdev string */
		uint16_t rx_queues;
		uint16_t tx_queues;
		unsigned int line; /* of the [nic] header */
	} nic;
	struct {
		unsigned int lcores[SG_CONFIG_MAX_LCORES];
		unsigned int n_lcores;
		unsigned int burst;
		int cycles;	   /* per-stage cycle counts from the start (/sixgate/cycles) */
		unsigned int line; /* of the [workers] header */
	} workers;
	struct sg_config_vm *vms;
	size_t n_vms;
	struct sg_config_peer *peers;
	size_t n_peers;
	struct {
		/* seconds; defaults from lib/wire/sg_wire.h; all used by the app */
		uint32_t rekey_after_time;
		uint32_t reject_after_time;
		uint32_t keepalive_timeout;
		uint32_t rekey_timeout;
	} timers;
	struct {
		/* Prometheus /metrics over HTTP; enabled unless "listen = off". */
		int enabled;
		struct sg_config_endpoint listen; /* default 127.0.0.1:SG_METRICS_PORT */
		unsigned int peers_top;		  /* per-peer series for this many peers; 0: none */
	} metrics;
	struct {
		char *path;		     /* the peer store; NULL: none */
		uint32_t max_loaded;	     /* peers loaded from it at once */
		uint32_t lookups_per_second; /* store lookups of unknown keys */
		uint32_t lookups_in_flight;
		uint32_t negative_cache_s; /* an unknown key is not looked up again this long */
		uint32_t check_interval_s; /* loaded peers checked against the store */
		uint32_t idle_timeout_s;   /* a loaded peer idle this long is unloaded; 0: never */
		unsigned int line;	   /* of the [store] header */
	} store;
	struct {
		/* A failover pair (docs/fleet.md); absent: the gateway is alone. */
		int enabled;
		uint32_t node_id, partner_id;	   /* distinct, not 0 */
		uint8_t secret[32];		   /* the pair's secret (secret_file) */
		struct sg_config_endpoint listen;  /* the state channel, our end */
		struct sg_config_endpoint partner; /* and the partner's */
		uint32_t heartbeat_ms;		   /* default SG_FLEET_HEARTBEAT_MS */
		uint32_t takeover_ms;		   /* partner silent this long: take over */
		int anycast;	   /* mode = anycast: both active, sessions taken over on demand */
		unsigned int line; /* of the [fleet] header */
	} fleet;
};

#define SG_FLEET_HEARTBEAT_MS 50
#define SG_FLEET_TAKEOVER_MS  250

#define SG_METRICS_PORT	     9586
#define SG_METRICS_PEERS_TOP 10
#define SG_METRICS_PEERS_MAX 100

/*
 * Reads and checks the file at path.  Relative key file paths are taken
 * relative to the directory of path.  Returns 0 and fills *cfg, or -EINVAL
 * (-ENOMEM) with "FILE:LINE: reason" in err (when err is not NULL) and *cfg
 * untouched.
 */
int sg_config_load(struct sg_config *cfg, const char *path, char *err, size_t errlen);

/*
 * As sg_config_load on len bytes of text; name is the file name used in
 * messages, basedir the directory of relative key file paths (NULL: the
 * working directory).
 */
int sg_config_parse(struct sg_config *cfg, const char *name, const char *text, size_t len,
		    const char *basedir, char *err, size_t errlen);

/* Wipes the keys, frees everything and zeroes *cfg.  NULL is a no-op. */
void sg_config_free(struct sg_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
