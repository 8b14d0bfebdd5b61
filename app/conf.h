/* SPDX-License-Identifier: MIT */
/*
 * What the sixgate binary needs from its configuration file, in the shape the
 * data plane uses.  app/conf.c fills it from lib/config (the project's INI
 * parser) so that the rest of the binary does not depend on the file format.
 */
#ifndef SIXGATE_CONF_H
#define SIXGATE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/peers/sg_peers.h"
#include "pipelines/sg_pipeline.h"

#define APP_MAX_VMS	64
#define APP_MAX_PEERS	4096
#define APP_MAX_ALLOWED 16
#define APP_DEVARGS_MAX 256
#define APP_PATH_MAX	256

struct app_prefix {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t len;
};

struct app_vm {
	char name[32];
	char devargs[APP_DEVARGS_MAX]; /* net_vhostN,iface=SOCKET,... */
	char socket[APP_PATH_MAX];
	uint8_t prefix[16];
	uint8_t prefix_len;
	uint8_t org[16];
	uint8_t org_len;
	bool has_mac;
	uint8_t mac[6];
};

struct app_peer {
	char name[SG_PEER_NAME_MAX];
	uint8_t public_key[32];
	uint8_t psk[32];
	struct app_prefix allowed[APP_MAX_ALLOWED];
	unsigned n_allowed;
	uint8_t org[16];
	uint8_t org_len;
	bool has_endpoint;
	struct sg_endpoint endpoint;
	uint16_t keepalive_s;
};

struct app_conf {
	char file[APP_PATH_MAX];
	/* [interface] */
	uint8_t private_key[32];
	uint16_t listen_port;
	bool has_v4, has_v6;
	uint8_t v4[4], v6[16];
	uint16_t mtu;
	/* [nic] */
	char nic_devargs[APP_DEVARGS_MAX];
	unsigned nic_rx_queues;
	unsigned nic_tx_queues;
	/* [workers] */
	unsigned lcores[SG_MAX_WORKERS];
	unsigned n_lcores;
	unsigned burst; /* packets per RX burst, 1..SG_BURST_MAX */
	/* [timers]: every key, with the paper's rekey_attempt_time */
	struct sg_timers_params timers;
	/* Command-line tunables (not in the file). */
	unsigned mbufs;
	unsigned idle_sleep_us;
	unsigned status_interval_s;
	/* [vm NAME], [peer NAME] */
	struct app_vm vms[APP_MAX_VMS];
	unsigned n_vms;
	struct app_peer *peers;
	unsigned n_peers;
};

/*
 * Loads and validates path into c with lib/config.  On error prints
 * "file:line: reason" to stderr and returns a negative errno; c is then to be
 * freed all the same.
 */
int app_conf_load(struct app_conf *c, const char *path);

/* Frees what app_conf_load allocated and wipes the keys. */
void app_conf_free(struct app_conf *c);

#endif
