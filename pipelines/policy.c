/* SPDX-License-Identifier: MIT */
/*
 * The gateway's policy: the file of [interface] policy_file (or the base
 * rule alone) parsed and compiled by lib/policy into a struct sg_dp_policy,
 * published to the workers, and replaced on a reload: the new one is built
 * completely off the fast path, swapped in with one atomic store, and the old
 * one freed after an RCU grace period (the workers report a quiescent state
 * every loop and load the pointer once per burst, so each burst sees one
 * policy whole).  A file that fails changes nothing.  SIGHUP's reloads run on
 * a thread of their own, "sg-policy", so that a large policy's compile (seconds
 * for 20,000 rules) delays neither the workers nor the control lcore's
 * handshakes; the telemetry command compiles on the telemetry thread.
 *
 * A rule's peer NAME is the configuration's [peer NAME], else the peer
 * store's peer of that name.  Each compile resolves the names again; when the
 * store changes (sg_gateway_policy_store_changed), the policy thread resolves
 * them against the text of the last (re)load and compiles that text again if
 * any resolves differently: a store peer's new allowed IPs apply without a
 * reload, and a peer removed from the store matches nothing (the next reload
 * of the file refuses its name).
 */
#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#include "lib/common/sg_log.h"
#include "lib/policy/sg_policy.h"
#include "pipelines/sg_gateway.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void dp_policy_free(struct sg_dp_policy *p)
{
	if (p == NULL)
		return;
	sg_policy_acl_free(p->acl);
	for (unsigned i = 0; i <= SG_MAX_WORKERS; i++)
		rte_free(p->hits[i]);
	free(p->allow);
	free(p->lines);
	free(p->file);
	free(p);
}

/* Compiles a parsed policy for n_workers workers and the control lcore. */
static int dp_policy_new(struct sg_dp_policy **out, const struct sg_policy *pol, unsigned n_workers,
			 char *err, size_t errlen)
{
	struct sg_dp_policy *p = calloc(1, sizeof(*p));
	int rc;

	if (p == NULL)
		return -ENOMEM;
	p->n_rules = (uint32_t)pol->n_rules;
	p->allow = malloc(pol->n_rules);
	p->lines = malloc(pol->n_rules * sizeof(*p->lines));
	p->file = strdup(pol->file);
	rc = p->allow && p->lines && p->file ? 0 : -ENOMEM;
	for (unsigned w = 0; rc == 0 && w <= n_workers; w++) {
		p->hits[w] = rte_zmalloc("sg_policy_hits", (pol->n_rules + 1) * sizeof(uint64_t),
					 RTE_CACHE_LINE_SIZE);
		if (p->hits[w] == NULL)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < pol->n_rules; i++) {
		p->allow[i] = pol->rules[i].action == SG_POLICY_ALLOW;
		p->lines[i] = pol->rules[i].line;
		if (pol->rules[i].same_org && pol->rules[i].line == 0)
			p->base_rule = (uint32_t)i;
	}
	if (rc == 0)
		rc = sg_policy_acl_build(&p->acl, pol, (int)rte_socket_id(), err, errlen);
	if (rc != 0) {
		if (rc == -ENOMEM && err[0] == '\0')
			snprintf(err, errlen, "%s: out of memory", pol->file);
		dp_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* What a compile resolved: its text and what its store names stood for. */
struct compiled {
	char *text; /* the file's text (NULL: the base rule alone) */
	size_t len;
	unsigned store_refs;
	uint64_t store_hash;
};

/*
 * Parses c->text (the base rule alone without one) and compiles it; times
 * both.  After a store change (store_change), a store peer that is gone
 * matches nothing, and an unchanged resolution returns 1 without a compile.
 */
static int compile(struct sg_gateway *gw, struct compiled *c, bool store_change,
		   struct sg_dp_policy **out, char *err, size_t errlen)
{
	struct sg_policy pol = { 0 };
	struct sg_policy_store ps = { .uri = gw->policy_store };
	struct sg_policy_names names = { .cfg = &gw->policy_names,
					 .peer = gw->policy_store ? sg_policy_store_peer : NULL,
					 .arg = &ps,
					 .missing_ok = store_change };
	uint64_t t0 = mono_ns();
	int rc;

	err[0] = '\0';
	if (c->text != NULL)
		rc = sg_policy_parse_names(&pol, gw->policy_path, c->text, c->len, &names, err,
					   errlen);
	else
		rc = sg_policy_default(&pol);
	sg_policy_store_close(&ps);
	c->store_refs = names.store_refs;
	c->store_hash = names.store_hash;
	if (rc == 0 && store_change && names.store_hash == gw->policy_store_hash) {
		sg_policy_free(&pol);
		return 1;
	}
	if (rc == 0 && names.missing[0] != '\0')
		sg_log(SG_LOG_WARN, "policy: %s: its rules match nothing now", names.missing);
	if (rc == 0)
		rc = dp_policy_new(out, &pol, gw->dp.n_workers, err, errlen);
	sg_policy_free(&pol);
	if (rc == 0) {
		(*out)->compile_ns = mono_ns() - t0;
		(*out)->loaded_unix = (uint64_t)time(NULL);
	}
	return rc;
}

/* Reads the policy file (nothing without one) into c. */
static int read_file(struct sg_gateway *gw, struct compiled *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	if (gw->policy_path == NULL)
		return 0;
	return sg_policy_read(gw->policy_path, &c->text, &c->len, err, errlen);
}

/* Keeps what the running policy was compiled from (under policy_lock). */
static void keep(struct sg_gateway *gw, struct compiled *c, bool text)
{
	if (text) {
		free(gw->policy_text);
		gw->policy_text = c->text;
		gw->policy_text_len = c->len;
		c->text = NULL;
	}
	gw->policy_store_refs = c->store_refs;
	gw->policy_store_hash = c->store_hash;
}

/* What the policy's names need of the configuration: peers' IPs, VMs' prefixes. */
static int copy_names(struct sg_config *dst, const struct sg_config *cfg)
{
	dst->peers = calloc(cfg->n_peers + 1, sizeof(*dst->peers));
	dst->vms = calloc(cfg->n_vms + 1, sizeof(*dst->vms));
	if (dst->peers == NULL || dst->vms == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_vms; i++) {
		memcpy(dst->vms[i].name, cfg->vms[i].name, sizeof(dst->vms[i].name));
		dst->vms[i].prefix = cfg->vms[i].prefix;
		dst->n_vms = i + 1;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct sg_config_peer *src = &cfg->peers[i];
		struct sg_config_peer *p = &dst->peers[i];

		memcpy(p->name, src->name, sizeof(p->name));
		p->allowed_ips = malloc((src->n_allowed_ips + 1) * sizeof(*p->allowed_ips));
		if (p->allowed_ips == NULL)
			return -ENOMEM;
		memcpy(p->allowed_ips, src->allowed_ips,
		       src->n_allowed_ips * sizeof(*p->allowed_ips));
		p->n_allowed_ips = src->n_allowed_ips;
		dst->n_peers = i + 1;
	}
	return 0;
}

/* sg-policy: one reload per request, until sg_gateway_policy_fini. */
static void *policy_main(void *arg)
{
	struct sg_gateway *gw = arg;

	for (;;) {
		char err[SG_POLICY_ERR_LEN];

		while (sem_wait(&gw->policy_sem) != 0)
			; /* EINTR */
		if (atomic_load_explicit(&gw->policy_quit, memory_order_acquire))
			return NULL;
		/* A file reload resolves the store's names too. */
		if (atomic_load(&gw->policy_want_file) > 0) {
			atomic_fetch_sub(&gw->policy_want_file, 1);
			atomic_store(&gw->policy_want_store, false);
			sg_gateway_policy_reload(gw, err, sizeof(err));
		} else if (atomic_exchange(&gw->policy_want_store, false)) {
			sg_gateway_policy_store_recompile(gw, err, sizeof(err));
		}
	}
}

void sg_gateway_policy_request(struct sg_gateway *gw)
{
	if (gw->policy_thread_up) {
		atomic_fetch_add(&gw->policy_want_file, 1);
		sem_post(&gw->policy_sem);
	}
}

void sg_gateway_policy_store_changed(struct sg_gateway *gw)
{
	if (gw->policy_thread_up && gw->policy_store != NULL) {
		atomic_store(&gw->policy_want_store, true);
		sem_post(&gw->policy_sem);
	}
}

int sg_gateway_policy_init(struct sg_gateway *gw, const struct sg_config *cfg)
{
	char err[SG_POLICY_ERR_LEN];
	struct sg_dp_policy *p = NULL;
	struct compiled c = { 0 };
	int rc;

	pthread_mutex_init(&gw->policy_lock, NULL);
	gw->policy_lock_init = true;
	err[0] = '\0';
	rc = copy_names(&gw->policy_names, cfg);
	if (rc == 0 && cfg->interface.policy_file != NULL) {
		gw->policy_path = strdup(cfg->interface.policy_file);
		if (gw->policy_path == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0 && cfg->store.path != NULL) {
		gw->policy_store = strdup(cfg->store.path);
		if (gw->policy_store == NULL)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = read_file(gw, &c, err, sizeof(err));
	if (rc == 0)
		rc = compile(gw, &c, false, &p, err, sizeof(err));
	if (rc != 0) {
		free(c.text);
		sg_log(SG_LOG_ERR, "%s", err[0] ? err : "policy: out of memory");
		return rc;
	}
	keep(gw, &c, true);
	atomic_store_explicit(&gw->dp.policy, p, memory_order_release);
	sg_log(SG_LOG_INFO, "policy %s: %u rules compiled in %.1f ms (rte_acl %s)", p->file,
	       p->n_rules, (double)p->compile_ns / 1e6, sg_policy_acl_alg(p->acl));
	if (sem_init(&gw->policy_sem, 0, 0) != 0)
		return -errno;
	/* A control thread: off the worker lcores' CPUs. */
	rc = rte_ctrl_thread_create(&gw->policy_thread, "sg-policy", NULL, policy_main, gw);
	if (rc != 0) {
		sem_destroy(&gw->policy_sem);
		sg_log(SG_LOG_ERR, "cannot start the policy thread: %s", strerror(rc));
		return -rc;
	}
	gw->policy_thread_up = true;
	return 0;
}

/* Publishes p, frees the old policy after the grace period (under policy_lock). */
static void swap_in(struct sg_gateway *gw, struct sg_dp_policy *p)
{
	struct sg_dp_policy *old =
		atomic_exchange_explicit(&gw->dp.policy, p, memory_order_acq_rel);

	/* No worker still classifies with old after this. */
	rte_rcu_qsbr_synchronize(gw->dp.qsbr, RTE_QSBR_THRID_INVALID);
	dp_policy_free(old);
}

int sg_gateway_policy_reload(struct sg_gateway *gw, char *err, size_t errlen)
{
	struct sg_dp_policy *p = NULL;
	struct compiled c;
	int rc;

	pthread_mutex_lock(&gw->policy_lock);
	rc = read_file(gw, &c, err, errlen);
	if (rc == 0)
		rc = compile(gw, &c, false, &p, err, errlen);
	if (rc != 0) {
		free(c.text);
		gw->policy_reload_failures++;
		pthread_mutex_unlock(&gw->policy_lock);
		sg_log(SG_LOG_ERR, "policy reload refused, the running policy stays: %s", err);
		return rc;
	}
	swap_in(gw, p);
	keep(gw, &c, true);
	gw->policy_reloads++;
	snprintf(err, errlen, "%s: %u rules compiled in %.1f ms", p->file, p->n_rules,
		 (double)p->compile_ns / 1e6);
	pthread_mutex_unlock(&gw->policy_lock);
	sg_log(SG_LOG_INFO, "policy reloaded: %s", err);
	return 0;
}

int sg_gateway_policy_store_recompile(struct sg_gateway *gw, char *err, size_t errlen)
{
	struct sg_dp_policy *p = NULL;
	struct compiled c = { 0 };
	int rc;

	pthread_mutex_lock(&gw->policy_lock);
	err[0] = '\0';
	if (gw->policy_store_refs == 0 || gw->policy_text == NULL) {
		pthread_mutex_unlock(&gw->policy_lock);
		return 1;
	}
	c.text = gw->policy_text;
	c.len = gw->policy_text_len;
	rc = compile(gw, &c, true, &p, err, errlen);
	if (rc != 0) {
		if (rc < 0)
			gw->policy_reload_failures++;
		pthread_mutex_unlock(&gw->policy_lock);
		if (rc < 0)
			sg_log(SG_LOG_ERR,
			       "policy recompile after a store change refused, the running "
			       "policy stays: %s",
			       err);
		return rc;
	}
	swap_in(gw, p);
	keep(gw, &c, false);
	gw->policy_store_recompiles++;
	snprintf(err, errlen, "%s: %u rules compiled in %.1f ms", p->file, p->n_rules,
		 (double)p->compile_ns / 1e6);
	pthread_mutex_unlock(&gw->policy_lock);
	sg_log(SG_LOG_INFO, "policy recompiled after a store change: %s", err);
	return 0;
}

void sg_gateway_policy_fini(struct sg_gateway *gw)
{
	if (gw->policy_thread_up) {
		atomic_store_explicit(&gw->policy_quit, true, memory_order_release);
		sem_post(&gw->policy_sem);
		pthread_join(gw->policy_thread, NULL);
		sem_destroy(&gw->policy_sem);
		gw->policy_thread_up = false;
	}
	dp_policy_free(atomic_exchange(&gw->dp.policy, NULL));
	free(gw->policy_path);
	gw->policy_path = NULL;
	free(gw->policy_store);
	gw->policy_store = NULL;
	free(gw->policy_text);
	gw->policy_text = NULL;
	sg_config_free(&gw->policy_names);
	if (gw->policy_lock_init)
		pthread_mutex_destroy(&gw->policy_lock);
	gw->policy_lock_init = false;
}

uint64_t sg_dp_policy_hits(const struct sg_dp_policy *p, unsigned n_workers, uint32_t r)
{
	uint64_t sum = 0;

	for (unsigned w = 0; w <= n_workers; w++)
		sum += p->hits[w][r];
	return sum;
}
