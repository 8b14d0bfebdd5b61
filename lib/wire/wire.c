/* SPDX-License-Identifier: MIT */
#include "sg_wire.h"

int sg_wire_classify(const uint8_t *msg, size_t len, enum sg_drop_reason *why)
{
	static const size_t exact[] = {
		[SG_MSG_INITIATION] = SG_MSG_INITIATION_LEN,
		[SG_MSG_RESPONSE] = SG_MSG_RESPONSE_LEN,
		[SG_MSG_COOKIE_REPLY] = SG_MSG_COOKIE_REPLY_LEN,
	};

	if (len < sizeof(struct sg_msg_header)) {
		*why = SG_DROP_WG_SIZE;
		return 0;
	}
	if (msg[0] < SG_MSG_INITIATION || msg[0] > SG_MSG_DATA) {
		*why = SG_DROP_WG_TYPE;
		return 0;
	}
	if (msg[1] | msg[2] | msg[3]) {
		*why = SG_DROP_WG_RESERVED;
		return 0;
	}
	if (msg[0] == SG_MSG_DATA ? len < SG_MSG_DATA_MIN_LEN : len != exact[msg[0]]) {
		*why = SG_DROP_WG_SIZE;
		return 0;
	}
	return msg[0];
}

size_t sg_wire_padded_len(size_t len, size_t mtu)
{
	size_t pad;

	/*
	 * A packet at or over the MTU is never padded.  Below it, the padding
	 * is compared with the room left rather than added first, so that no
	 * len or mtu near SIZE_MAX can make the sum wrap to a shorter length.
	 */
	if (len >= mtu)
		return len;
	pad = (SG_MSG_PADDING_MULTIPLE - len % SG_MSG_PADDING_MULTIPLE) % SG_MSG_PADDING_MULTIPLE;
	return pad > mtu - len ? mtu : len + pad;
}
