/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes the VM side: bursts of arbitrary frames from VM 0 through
 * sg_egress_vm (ND, source and destination checks, peer lookup, MTU, hop
 * limit, encryption toward client 0's session), on the in-process gateway
 * of tests/fixture (see fuzz_pipelines.h for the invariant).
 */
#include <string.h>

#include "tests/fuzz/fuzz_pipelines.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void from_vm0(struct sg_worker *w, struct rte_mbuf **ms, unsigned n)
{
	sg_egress_vm(w, 0, ms, n);
}

/* SG_FUZZ_WRITE_SEEDS=DIR writes seeds: VM frames of each kind. */
static void write_seeds(const char *dir)
{
	static uint8_t to_peer[SG_FX_FRAME_MAX], big[SG_FX_FRAME_MAX], ns[SG_FX_FRAME_MAX];
	uint8_t inner[1500], vm[16];
	const uint8_t *frames[3] = { to_peer, big, ns };
	uint16_t lens[3];

	sg_fx_vm_addr(&fz, 0, vm);
	sg_fx_inner(inner, 100, vm, fz.cl[0].addr, 1);
	lens[0] = sg_fx_vm_frame(&fz, inner, 100, to_peer);
	sg_fx_inner(inner, sizeof(inner), vm, fz.cl[0].addr, 2);
	lens[1] = sg_fx_vm_frame(&fz, inner, sizeof(inner), big);
	/* A neighbor solicitation for the peer's address, to its group. */
	memset(inner, 0, 72);
	inner[0] = 0x60;
	inner[5] = 32;
	inner[6] = 58;
	inner[7] = 255;
	memcpy(inner + 8, vm, 16);
	inner[24] = 0xff;
	inner[25] = 0x02;
	inner[35] = 0x01;
	inner[36] = 0xff;
	memcpy(inner + 37, fz.cl[0].addr + 13, 3);
	inner[40] = 135;
	memcpy(inner + 48, fz.cl[0].addr, 16);
	lens[2] = sg_fx_vm_frame(&fz, inner, 72, ns);
	fz_seed(dir, "to_peer", frames, lens, 1);
	fz_seed(dir, "too_big", frames + 1, lens + 1, 1);
	fz_seed(dir, "nd", frames + 2, lens + 2, 1);
	fz_seed(dir, "burst", frames, lens, 3);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_start("fuzz-vm");
	if (getenv("SG_FUZZ_WRITE_SEEDS") != NULL)
		write_seeds(getenv("SG_FUZZ_WRITE_SEEDS"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size, from_vm0);
	return 0;
}
