/* SPDX-License-Identifier: MIT */
/*
 * Capture of dropped packets: while an operator asks for it
 * (/sixgate/capture_drops), sg_drop hands each refused frame, with its reason,
 * to the drop ring instead of freeing it; the control lcore writes them to a
 * pcapng file whose every packet carries its drop reason as a comment
 * ("udp_port: UDP destination is not the listen port; worker 1"), readable
 * with tshark (-Y 'frame.comment contains "udp_port"').  Nobody capturing
 * costs the data path one relaxed load in the drop path.
 *
 * The frame is written as it was when dropped: after decryption for the
 * reasons that come after it (an inner packet), outer headers and all before.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipelines/sg_gateway.h"
#include "pipelines/sg_stages.h"

#define SNAPLEN 65535

struct sg_dropcap {
	FILE *f;
	uint64_t max;
	SG_ATOMIC(uint64_t) written;
	char path[256];
};

bool sg_drop_keep(struct sg_worker *w, struct rte_mbuf *m, enum sg_drop_reason r)
{
	struct sg_pkt_meta *meta = sg_meta(m);

	meta->drop_reason = (uint8_t)r;
	meta->drop_worker = (uint8_t)w->id;
	if (rte_ring_mp_enqueue(w->dp->drop_ring, m) == 0)
		return true;
	w->dropcap_lost++;
	return false;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* One pcapng option: code, length, value padded to 4; returns its size. */
static size_t option(uint8_t *p, uint16_t code, const void *v, uint16_t len)
{
	size_t padded = (len + 3u) & ~3u;

	memcpy(p, &code, 2);
	memcpy(p + 2, &len, 2);
	if (len > 0)
		memcpy(p + 4, v, len);
	memset(p + 4 + len, 0, padded - len);
	return 4 + padded;
}

/* A block: type, total length, body, total length again. */
static int block(FILE *f, uint32_t type, const uint8_t *body, size_t len)
{
	uint8_t h[8];
	uint32_t total = (uint32_t)(len + 12);

	put32(h, type);
	put32(h + 4, total);
	if (fwrite(h, 1, 8, f) != 8 || fwrite(body, 1, len, f) != len ||
	    fwrite(&total, 1, 4, f) != 4)
		return -EIO;
	return 0;
}

/* The section header and one Ethernet interface, "sixgate-drops", in ns. */
static int header(FILE *f)
{
	uint8_t shb[16], idb[64];
	uint32_t magic = 0x1A2B3C4D;
	uint16_t v[2] = { 1, 0 }, link = 1 /* Ethernet */, zero = 0;
	int64_t section = -1;
	uint8_t tsresol = 9;
	size_t n = 8;

	memcpy(shb, &magic, 4);
	memcpy(shb + 4, v, 4);
	memcpy(shb + 8, &section, 8);
	memcpy(idb, &link, 2);
	memcpy(idb + 2, &zero, 2);
	put32(idb + 4, SNAPLEN);
	n += option(idb + n, 2 /* if_name */, "sixgate-drops", 13);
	n += option(idb + n, 9 /* if_tsresol */, &tsresol, 1);
	n += option(idb + n, 0, NULL, 0);
	if (block(f, 0x0A0D0D0A, shb, sizeof(shb)) != 0)
		return -EIO;
	return block(f, 1, idb, n);
}

struct sg_dropcap *sg_dropcap_open(const char *path, uint64_t max, int *err)
{
	struct sg_dropcap *dc = calloc(1, sizeof(*dc));

	if (dc == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	dc->f = fopen(path, "wbx");
	if (dc->f == NULL || header(dc->f) != 0) {
		*err = -errno;
		if (dc->f != NULL)
			fclose(dc->f);
		free(dc);
		return NULL;
	}
	dc->max = max;
	snprintf(dc->path, sizeof(dc->path), "%s", path);
	*err = 0;
	return dc;
}

/* Writes m with its drop reason; false when the file has all it may take. */
static bool write_one(struct sg_dropcap *dc, struct rte_mbuf *m)
{
	static uint8_t body[20 + SNAPLEN + 4 + 4 + 256 + 4];
	const struct sg_pkt_meta *meta = sg_meta(m);
	uint32_t len = rte_pktmbuf_pkt_len(m), cap = len < SNAPLEN ? len : SNAPLEN;
	uint32_t padded = (cap + 3u) & ~3u;
	char comment[200];
	const void *data;
	struct timespec ts;
	uint64_t ns;
	size_t n;
	int cl;

	clock_gettime(CLOCK_REALTIME, &ts);
	ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	put32(body, 0);
	put32(body + 4, (uint32_t)(ns >> 32));
	put32(body + 8, (uint32_t)ns);
	put32(body + 12, cap);
	put32(body + 16, len);
	data = rte_pktmbuf_read(m, 0, cap, body + 20);
	if (data == NULL)
		return true;
	if (data != body + 20)
		memcpy(body + 20, data, cap);
	memset(body + 20 + cap, 0, padded - cap);
	n = 20 + padded;
	cl = snprintf(comment, sizeof(comment), "%s: %s; worker %u",
		      sg_drop_name(meta->drop_reason), sg_drop_desc(meta->drop_reason),
		      meta->drop_worker);
	n += option(body + n, 1 /* opt_comment */, comment, (uint16_t)cl);
	n += option(body + n, 0, NULL, 0);
	if (block(dc->f, 6, body, n) != 0)
		return false;
	return atomic_fetch_add(&dc->written, 1) + 1 < dc->max;
}

bool sg_dropcap_write(struct sg_dropcap *dc, struct rte_mbuf **ms, unsigned n)
{
	bool more = true;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (more)
			more = write_one(dc, ms[i]);
		rte_pktmbuf_free(ms[i]);
	}
	fflush(dc->f);
	return more;
}

uint64_t sg_dropcap_written(const struct sg_dropcap *dc)
{
	return atomic_load(&dc->written);
}

const char *sg_dropcap_path(const struct sg_dropcap *dc)
{
	return dc->path;
}

void sg_dropcap_close(struct sg_dropcap *dc)
{
	if (dc == NULL)
		return;
	fclose(dc->f);
	free(dc);
}
