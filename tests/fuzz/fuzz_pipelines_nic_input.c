/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes sg_nic_input, the first function that takes bytes from outside the
 * gateway: bursts of arbitrary Ethernet frames, and what the control lcore
 * does with the handshakes among them, on the in-process gateway of
 * tests/fixture (see fuzz_pipelines.h for the invariant).
 */
#include <string.h>

#include "lib/wire/sg_wire.h"
#include "tests/fuzz/fuzz_pipelines.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * SG_FUZZ_WRITE_SEEDS=DIR writes seeds: frames with valid outer headers of
 * each kind (their keys are this run's, so data and handshakes only get as
 * far as the index and the MACs in later runs).
 */
static void write_seeds(const char *dir)
{
	static uint8_t data[SG_FX_FRAME_MAX], keepalive[SG_FX_FRAME_MAX], init[SG_FX_FRAME_MAX];
	uint8_t inner[100], vm[16];
	struct sg_msg_initiation msg;
	const uint8_t *frames[3] = { data, keepalive, init };
	uint16_t lens[3];

	sg_fx_vm_addr(&fz, 0, vm);
	sg_fx_inner(inner, sizeof(inner), fz.cl[0].addr, vm, 1);
	lens[0] = sg_fx_data(&fz, 0, 1, inner, sizeof(inner), data);
	lens[1] = sg_fx_data(&fz, 0, 2, NULL, 0, keepalive);
	memset(&msg, 0, sizeof(msg));
	msg.header.type = SG_MSG_INITIATION;
	lens[2] = sg_fx_outer(&fz, 1, (const uint8_t *)&msg, sizeof(msg), init);
	fz_seed(dir, "data", frames, lens, 1);
	fz_seed(dir, "keepalive", frames + 1, lens + 1, 1);
	fz_seed(dir, "initiation", frames + 2, lens + 2, 1);
	fz_seed(dir, "burst", frames, lens, 3);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_start("fuzz-nic");
	if (getenv("SG_FUZZ_WRITE_SEEDS") != NULL)
		write_seeds(getenv("SG_FUZZ_WRITE_SEEDS"));
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_run(data, size, sg_nic_input);
	return 0;
}
