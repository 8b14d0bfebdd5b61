/* SPDX-License-Identifier: MIT */
/*
 * What the pipeline fuzz targets share: EAL in-process (no hugepages, a file
 * prefix of their own, the runtime directory removed at exit), the gateway of
 * tests/fixture with one client that has a confirmed session, inputs cut
 * into frames, and the invariant every input must keep: when the stages and
 * the control lcore are done and the output rings drained, every mbuf is back
 * in the pool (none leaked, none freed twice) and every frame was counted
 * somewhere.
 */
#ifndef FUZZ_PIPELINES_H
#define FUZZ_PIPELINES_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_mempool.h>

#include "lib/crypto/sg_crypto.h"
#include "tests/fixture/sg_fixture.h"

#define FZ_MAX_FRAMES 16

static struct sg_fx fz;
static char fz_runtime[512];

static int fz_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fz_cleanup(void)
{
	sg_fx_stop(&fz);
	rte_eal_cleanup();
	if (fz_runtime[0] != '\0')
		nftw(fz_runtime, fz_rm, 8, FTW_DEPTH | FTW_PHYS);
}

/* EAL and the gateway; client 0 has a confirmed session, client 1 none. */
static void fz_start(const char *name)
{
	char prefix[64];
	char *av[] = { (char *)name,
		       "-l",
		       "0",
		       "--no-huge",
		       "-m",
		       "256",
		       "--no-pci",
		       "--no-telemetry",
		       prefix,
		       "--log-level=lib.eal:error",
		       "--log-level=sixgate:error" };
	struct sg_fx_conf c = { .n_clients = 2, .n_vms = 1 };

	snprintf(prefix, sizeof(prefix), "--file-prefix=%s-%d", name, (int)getpid());
	if (sg_crypto_init() != 0 || rte_eal_init((int)(sizeof(av) / sizeof(av[0])), av) < 0)
		abort();
	snprintf(fz_runtime, sizeof(fz_runtime), "%s", rte_eal_get_runtime_dir());
	atexit(fz_cleanup);
	sg_log_set_level(SG_LOG_ERR);
	if (sg_fx_start(&fz, &c, "fz") != 0 || sg_fx_handshake(&fz, 0, true, sg_now_ns()) != 0)
		abort();
}

/* Writes one seed (frames as fz_frames reads them) to dir/name. */
static void fz_seed(const char *dir, const char *name, const uint8_t *const *frames,
		    const uint16_t *lens, unsigned n)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "wb");
	if (fp == NULL)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint8_t len[2] = { (uint8_t)lens[i], (uint8_t)(lens[i] >> 8) };

		fwrite(len, 1, 2, fp);
		fwrite(frames[i], 1, lens[i], fp);
	}
	fclose(fp);
}

/*
 * Cuts data into frames: each is a 2-byte little-endian length and that many
 * bytes (the last takes what is left).  Returns how many mbufs it filled.
 */
static unsigned fz_frames(const uint8_t *data, size_t size, struct rte_mbuf **ms)
{
	unsigned n = 0;

	while (size >= 2 && n < FZ_MAX_FRAMES) {
		size_t len = (size_t)data[0] | ((size_t)data[1] << 8);

		data += 2;
		size -= 2;
		if (len > size || n == FZ_MAX_FRAMES - 1)
			len = size;
		if (len > SG_FX_FRAME_MAX)
			len = SG_FX_FRAME_MAX;
		ms[n] = sg_fx_mbuf(&fz, data, (uint16_t)len);
		if (ms[n] == NULL)
			abort();
		n++;
		data += len;
		size -= len;
	}
	return n;
}

/* What one input may move: drops of worker 0 and of the control lcore, and work done. */
static uint64_t fz_counted(void)
{
	const struct sg_worker_stats *st = &fz.w->st;
	uint64_t n = st->local_replies + st->handshake_rx + st->decrypted + st->vm_tx +
		     st->encrypted + st->staged;

	for (unsigned r = 1; r < SG_DROP_MAX; r++)
		n += fz.w->drops.n[r] + fz.gw->dp.ctl->drops.n[r];
	return n;
}

/* Runs one input through stage; checks the invariant, aborts when broken. */
static void fz_run(const uint8_t *data, size_t size,
		   void (*stage)(struct sg_worker *w, struct rte_mbuf **ms, unsigned n))
{
	struct rte_mbuf *ms[FZ_MAX_FRAMES];
	unsigned avail = rte_mempool_avail_count(fz.gw->dp.pool), n;
	uint64_t counted = fz_counted();

	n = fz_frames(data, size, ms);
	if (n == 0)
		return;
	fz.w->now_ns = sg_now_ns();
	stage(fz.w, ms, n);
	sg_ctl_poll(&fz.gw->ctl, fz.w->now_ns);
	sg_fx_drain(fz.nic_tx);
	sg_fx_drain(fz.ctl_tx);
	sg_fx_drain(fz.vm_tx[0]);
	if (rte_mempool_avail_count(fz.gw->dp.pool) != avail) {
		fprintf(stderr, "mbufs: %u in the pool before, %u after\n", avail,
			rte_mempool_avail_count(fz.gw->dp.pool));
		abort();
	}
	if (fz_counted() - counted < n) {
		fprintf(stderr, "%u frames in, only %lu counted\n", n,
			(unsigned long)(fz_counted() - counted));
		abort();
	}
}

#endif
