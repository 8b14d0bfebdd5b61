/* SPDX-License-Identifier: MIT */
/*
 * A thin adapter from lib/config's struct sg_config to what the binary uses:
 * vhost devargs per VM, endpoints in the data path's form, lcore lists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include "app/conf.h"
#include "lib/config/sg_config.h"
#include "lib/crypto/sg_crypto.h"

/* Every burst the parser accepts fits the pipelines' arrays. */
_Static_assert(SG_CONFIG_MAX_BURST <= SG_BURST_MAX, "[workers] burst larger than SG_BURST_MAX");

static void copy_endpoint(struct sg_endpoint *ep, const struct sg_config_endpoint *ce)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = ce->family == AF_INET ? 4 : 6;
	memcpy(ep->addr, ce->addr, ce->family == AF_INET ? 4 : 16);
	ep->port = htons(ce->port);
	/* The next-hop MAC is learned from the peer's first packet; broadcast until then. */
	memset(ep->mac, 0xff, 6);
}

static int copy_vms(struct app_conf *c, const struct sg_config *cfg)
{
	size_t i;

	if (cfg->n_vms > APP_MAX_VMS) {
		fprintf(stderr, "%s: more than %d [vm] sections\n", c->file, APP_MAX_VMS);
		return -EINVAL;
	}
	for (i = 0; i < cfg->n_vms; i++) {
		const struct sg_config_vm *cv = &cfg->vms[i];
		struct app_vm *vm = &c->vms[i];

		snprintf(vm->name, sizeof(vm->name), "%s", cv->name);
		if (snprintf(vm->socket, sizeof(vm->socket), "%s", cv->socket) >=
		    (int)sizeof(vm->socket)) {
			fprintf(stderr, "%s:%u: socket path too long\n", c->file, cv->line);
			return -EINVAL;
		}
		snprintf(vm->devargs, sizeof(vm->devargs),
			 "net_vhost%zu,iface=%s,queues=1,client=0", i, cv->socket);
		memcpy(vm->prefix, cv->prefix.addr, 16);
		vm->prefix_len = cv->prefix.len;
		memcpy(vm->org, cv->network.addr, 16);
		vm->org_len = cv->network.len;
		vm->has_mac = cv->has_mac != 0;
		memcpy(vm->mac, cv->mac, 6);
	}
	c->n_vms = (unsigned)cfg->n_vms;
	return 0;
}

static int copy_peers(struct app_conf *c, const struct sg_config *cfg)
{
	size_t i, j;

	if (cfg->n_peers > APP_MAX_PEERS) {
		fprintf(stderr, "%s: more than %d [peer] sections\n", c->file, APP_MAX_PEERS);
		return -EINVAL;
	}
	c->peers = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*c->peers));
	if (c->peers == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->n_peers; i++) {
		const struct sg_config_peer *cp = &cfg->peers[i];
		struct app_peer *p = &c->peers[i];

		snprintf(p->name, sizeof(p->name), "%s", cp->name);
		memcpy(p->public_key, cp->public_key, 32);
		if (cp->has_preshared_key)
			memcpy(p->psk, cp->preshared_key, 32);
		if (cp->n_allowed_ips > APP_MAX_ALLOWED) {
			fprintf(stderr, "%s:%u: more than %d allowed IPs\n", c->file, cp->line,
				APP_MAX_ALLOWED);
			return -EINVAL;
		}
		for (j = 0; j < cp->n_allowed_ips; j++) {
			p->allowed[j].family = cp->allowed_ips[j].family;
			memcpy(p->allowed[j].addr, cp->allowed_ips[j].addr, 16);
			p->allowed[j].len = cp->allowed_ips[j].len;
		}
		p->n_allowed = (unsigned)cp->n_allowed_ips;
		memcpy(p->org, cp->network.addr, 16);
		p->org_len = cp->network.len;
		p->has_endpoint = cp->has_endpoint != 0;
		if (p->has_endpoint)
			copy_endpoint(&p->endpoint, &cp->endpoint);
		p->keepalive_s = cp->persistent_keepalive;
	}
	c->n_peers = (unsigned)cfg->n_peers;
	return 0;
}

static int copy_conf(struct app_conf *c, const struct sg_config *cfg)
{
	unsigned i;

	memcpy(c->private_key, cfg->interface.private_key, 32);
	c->listen_port = cfg->interface.listen_port;
	c->has_v4 = cfg->interface.has_address4 != 0;
	c->has_v6 = cfg->interface.has_address6 != 0;
	memcpy(c->v4, cfg->interface.address4, 4);
	memcpy(c->v6, cfg->interface.address6, 16);
	c->mtu = cfg->interface.mtu;
	if (snprintf(c->nic_devargs, sizeof(c->nic_devargs), "%s", cfg->nic.device) >=
	    (int)sizeof(c->nic_devargs)) {
		fprintf(stderr, "%s: [nic] device string too long\n", c->file);
		return -EINVAL;
	}
	c->nic_rx_queues = cfg->nic.rx_queues;
	c->nic_tx_queues = cfg->nic.tx_queues;
	if (cfg->workers.n_lcores > SG_MAX_WORKERS) {
		fprintf(stderr, "%s: [workers] more than %d lcores\n", c->file, SG_MAX_WORKERS);
		return -EINVAL;
	}
	for (i = 0; i < cfg->workers.n_lcores; i++)
		c->lcores[i] = cfg->workers.lcores[i];
	c->n_lcores = cfg->workers.n_lcores;
	c->burst = cfg->workers.burst;
	sg_timers_params_default(&c->timers);
	c->timers.rekey_after_time = cfg->timers.rekey_after_time;
	c->timers.reject_after_time = cfg->timers.reject_after_time;
	c->timers.keepalive_timeout = cfg->timers.keepalive_timeout;
	c->timers.rekey_timeout = cfg->timers.rekey_timeout;
	/* lib/config checks the same rules with a line number; this is a safety net. */
	if (sg_timers_params_check(&c->timers) != 0) {
		fprintf(stderr, "%s: [timers] inconsistent protocol times\n", c->file);
		return -EINVAL;
	}
	return copy_vms(c, cfg);
}

int app_conf_load(struct app_conf *c, const char *path)
{
	struct sg_config cfg;
	char err[SG_CONFIG_ERR_LEN];
	int rc;

	snprintf(c->file, sizeof(c->file), "%s", path);
	memset(&cfg, 0, sizeof(cfg));
	rc = sg_config_load(&cfg, path, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return rc;
	}
	rc = copy_conf(c, &cfg);
	if (rc == 0)
		rc = copy_peers(c, &cfg);
	sg_config_free(&cfg);
	return rc;
}

void app_conf_free(struct app_conf *c)
{
	sg_wipe(c->private_key, sizeof(c->private_key));
	if (c->peers != NULL) {
		sg_wipe(c->peers, c->n_peers * sizeof(*c->peers));
		free(c->peers);
	}
	c->peers = NULL;
}
