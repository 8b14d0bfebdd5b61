/* SPDX-License-Identifier: MIT */
/*
 * Fuzzes sg_wire_classify with arbitrary UDP payloads.  Besides memory
 * safety it checks the promise of the header: an accepted message has a
 * known type, zero reserved bytes and the length of its type; a refused one
 * names one of the three WireGuard drop reasons.
 */
#include <stddef.h>
#include <stdint.h>

#include "lib/wire/sg_wire.h"

static int length_fits(int type, size_t len)
{
	switch (type) {
	case SG_MSG_INITIATION:
		return len == SG_MSG_INITIATION_LEN;
	case SG_MSG_RESPONSE:
		return len == SG_MSG_RESPONSE_LEN;
	case SG_MSG_COOKIE_REPLY:
		return len == SG_MSG_COOKIE_REPLY_LEN;
	case SG_MSG_DATA:
		return len >= SG_MSG_DATA_MIN_LEN;
	default:
		return 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum sg_drop_reason why = SG_DROP_MAX;
	int type = sg_wire_classify(data, size, &why);

	if (type) {
		if (type != data[0] || !length_fits(type, size) || (data[1] | data[2] | data[3]))
			__builtin_trap();
		return 0;
	}
	if (why != SG_DROP_WG_TYPE && why != SG_DROP_WG_SIZE && why != SG_DROP_WG_RESERVED)
		__builtin_trap();
	/* A refused payload that meets every rule would be a false drop. */
	if (size >= 4 && !(data[1] | data[2] | data[3]) && length_fits(data[0], size))
		__builtin_trap();
	return 0;
}
