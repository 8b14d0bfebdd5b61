/* SPDX-License-Identifier: MIT */
/*
 * sg-wgpeer: a one-peer WireGuard endpoint on a kernel UDP socket, built only
 * on sixgate's protocol core (lib/control over lib/noise, lib/cookie and
 * lib/ratelimit, with lib/replay, lib/timers, lib/wire, lib/crypto), so that
 * the lab can prove that core, handshake glue included, against an
 * independent implementation, wireguard-go.
 *
 * It has no TUN device.  The only inner traffic it understands is ICMPv6
 * echo: it answers echo requests addressed to --address with replies it
 * builds itself, and with --ping it sends echo requests of its own through
 * the tunnel and counts the replies.  Everything it refuses is counted, and
 * the counters are written as JSON to --stats at exit and on SIGUSR1, so that
 * a test can assert what happened.  It prints one status line per handshake
 * event and never a key.
 *
 * Exit status: 0 when the run did what was asked (a responder that was told
 * to stop, an initiator whose handshake completed, a --ping that got every
 * reply), 1 when it did not, 2 for a usage or setup error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/common/sg_common.h"
#include "lib/control/sg_control.h"
#include "lib/crypto/sg_crypto.h"
#include "lib/noise/sg_noise.h"
#include "lib/ratelimit/sg_ratelimit.h"
#include "lib/replay/sg_replay.h"
#include "lib/timers/sg_timers.h"
#include "lib/wire/sg_wire.h"

#define NSEC_PER_MSEC 1000000ull
#define NSEC_PER_SEC  1000000000ull

#define TUNNEL_MTU    1420
#define MAX_DATAGRAM  (SG_MSG_DATA_HEADER_LEN + TUNNEL_MTU + SG_TAG_LEN)
#define IPV6_HDR_LEN  40
#define ICMP6_HDR_LEN 8
#define PROTO_ICMPV6  58
#define ICMP6_ECHO    128
#define ICMP6_REPLY   129
#define PING_PAYLOAD  56
#define MAX_PING      65535

/* Every counter the tool keeps, in the order they are written to --stats. */
#define STATS(X)                                                                        \
	X(rx_packets, "datagrams received")                                             \
	X(rx_malformed, "wrong type, size or reserved bytes")                           \
	X(initiations_received, "handshake initiations received")                       \
	X(refused_mac1, "handshake messages with a bad mac1")                           \
	X(cookie_replies_sent, "under load: cookie replies instead of responses")       \
	X(refused_ratelimit, "under load: over the per-source rate")                    \
	X(refused_static, "initiations whose static key does not decrypt")              \
	X(refused_unknown_peer, "initiations from a static key that is not our peer's") \
	X(refused_timestamp_replay, "initiations with a replayed or older timestamp")   \
	X(refused_flood, "initiations sooner than 1/50 s after the last")               \
	X(refused_initiation, "initiations refused otherwise")                          \
	X(responses_sent, "handshake responses sent")                                   \
	X(initiations_sent, "handshake initiations sent")                               \
	X(responses_received, "handshake responses received")                           \
	X(refused_response, "responses that do not authenticate")                       \
	X(cookie_replies_received, "cookie replies accepted")                           \
	X(refused_cookie_reply, "cookie replies that do not decrypt")                   \
	X(handshakes_ok, "sessions confirmed (response consumed, or first data)")       \
	X(data_received, "data messages received")                                      \
	X(unknown_index, "messages for a receiver index we do not have")                \
	X(expired_keypair, "data under a keypair past REJECT_AFTER_TIME")               \
	X(replayed_data, "data counters replayed or outside the window")                \
	X(refused_bad_tag, "data that does not authenticate")                           \
	X(decrypted_packets, "data messages authenticated")                             \
	X(keepalives_received, "authenticated empty data messages")                     \
	X(keepalives_sent, "empty data messages sent")                                  \
	X(data_sent, "data messages with a payload sent")                               \
	X(no_session, "inner packets not sent for want of a session")                   \
	X(inner_malformed, "inner packets that are no well-formed IPv6")                \
	X(inner_bad_checksum, "inner ICMPv6 with a bad checksum")                       \
	X(inner_not_for_us, "inner packets not addressed to --address")                 \
	X(inner_other, "inner packets neither echo request nor our reply")              \
	X(echo_requests_received, "ICMPv6 echo requests to --address")                  \
	X(echo_replies_sent, "ICMPv6 echo replies built and sent")                      \
	X(echo_requests_sent, "--ping echo requests sent")                              \
	X(echo_replies_received, "--ping echo replies received (one per sequence)")

struct stats {
#define STAT_FIELD(name, desc) uint64_t name;
	STATS(STAT_FIELD)
#undef STAT_FIELD
};

struct options {
	const char *private_key_file;
	const char *listen;
	const char *peer_public_key;
	const char *psk_file;
	const char *endpoint;
	const char *address;
	const char *stats_file;
	const char *ping;
	const char *record_initiation;
	const char *record_data;
	unsigned count;
	unsigned interval_ms;
	unsigned wait_s;
	unsigned timeout_s;
	bool initiate;
	bool under_load;
};

/* One session: the noise keys, the section 6.2 limits and the replay window. */
struct keypair {
	struct sg_noise_keypair noise;
	struct sg_timers_keypair limits;
	struct sg_replay replay;
};

struct ping_state {
	struct in6_addr dst;
	uint16_t id;
	unsigned sent;
	unsigned answered;
	uint64_t next_ns;
	uint64_t last_ns;
	uint8_t seen[MAX_PING / 8 + 1];
};

/* The tool's whole state: one interface with one peer. */
struct wgpeer {
	struct options opt;
	/* Our identity, cookies and rate limit (lib/control)... */
	struct sg_control ctl;
	/* ...and the one peer's handshake, cookie maker and timers. */
	struct sg_control_peer peer;
	struct sg_keyslots slots;
	uint64_t next_gc_ns;
	int fd;
	int family;
	struct sockaddr_storage endpoint;
	socklen_t endpoint_len;
	bool has_endpoint;
	bool gave_up;
	bool recorded_initiation;
	bool recorded_data;
	struct in6_addr address;
	struct ping_state ping;
	struct stats st;
};

static struct wgpeer g;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t dump_requested;

/* ---- small helpers ---- */

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_requested = 1;
	else
		stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: poll must return at once so the loop sees the flag. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

static void endpoint_str(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/*
 * Parses "[v6]:port", "v4:port", ":port" or "port" (the last two: any
 * address of family).  Returns 0, or -EINVAL.
 */
static int parse_sockaddr(const char *text, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2] = "";
	const char *colon = strrchr(text, ':');
	const char *port = colon ? colon + 1 : text;
	struct addrinfo hints, *res;

	if (colon && text[0] == '[' && colon > text + 1 && colon[-1] == ']')
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text - 2), text + 1);
	else if (colon && (size_t)(colon - text) < sizeof(host))
		snprintf(host, sizeof(host), "%.*s", (int)(colon - text), text);
	else if (colon)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = host[0] ? AF_UNSPEC : family;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* Reads a base64 key (as wg genkey writes it) from a file. Returns 0 or -errno. */
static int read_key_file(const char *path, uint8_t key[32])
{
	char buf[128];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	n = sg_key_from_base64(key, buf) == 0 ? 0 : 1;
	sg_wipe(buf, sizeof(buf));
	return n ? -EINVAL : 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len)
		sg_log(SG_LOG_WARN, "cannot write %s", path);
	if (f)
		fclose(f);
}

/* Written to a temporary file and renamed, so that a reader never sees half of it. */
static void write_stats(void)
{
	char tmp[4096];
	FILE *f;

	if (!g.opt.stats_file)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", g.opt.stats_file);
	f = fopen(tmp, "w");
	if (!f) {
		sg_log(SG_LOG_WARN, "cannot write %s", tmp);
		return;
	}
	fprintf(f, "{\n  \"role\": \"%s\",\n  \"has_session\": %d",
		g.opt.initiate ? "initiator" : "responder", g.slots.current != NULL);
#define STAT_JSON(name, desc) fprintf(f, ",\n  \"%s\": %llu", #name, (unsigned long long)g.st.name);
	STATS(STAT_JSON)
#undef STAT_JSON
	fprintf(f, "\n}\n");
	fclose(f);
	if (rename(tmp, g.opt.stats_file) != 0)
		sg_log(SG_LOG_WARN, "cannot rename %s", tmp);
}

static void send_udp(const void *msg, size_t len)
{
	if (!g.has_endpoint)
		return;
	if (sendto(g.fd, msg, len, 0, (const struct sockaddr *)&g.endpoint, g.endpoint_len) < 0)
		SG_LOG_RL(SG_LOG_WARN, "sendto: %s", strerror(errno));
}

/* Roaming, as WireGuard does it: the last authenticated source is the endpoint. */
static void set_endpoint(const struct sockaddr_storage *src, socklen_t len)
{
	memcpy(&g.endpoint, src, len);
	g.endpoint_len = len;
	g.has_endpoint = true;
}

/* ---- keypairs ---- */

static void keypair_free(void *p)
{
	struct keypair *kp = p;

	if (!kp)
		return;
	sg_noise_keypair_clear(&kp->noise);
	sg_wipe(kp, sizeof(*kp));
	free(kp);
}

static struct keypair *keypair_by_index(uint32_t index)
{
	struct keypair *slot[3] = { g.slots.current, g.slots.previous, g.slots.next };

	for (size_t i = 0; i < SG_ARRAY_SIZE(slot); i++)
		if (slot[i] && slot[i]->noise.local_index == index)
			return slot[i];
	return NULL;
}

/* A random receiver index no session and no handshake of ours uses yet. */
static uint32_t new_index(void)
{
	uint32_t idx;

	do
		sg_random(&idx, sizeof(idx));
	while (idx == 0 || idx == g.peer.hs.local_index || keypair_by_index(idx));
	return idx;
}

/* lib/control's upcall: the finished handshake's keys into the next slot. */
static int session_new(void *ctx, struct sg_control_peer *p, const struct sg_noise_keypair *nk,
		       uint64_t now)
{
	struct keypair *kp = calloc(1, sizeof(*kp));
	void *dropped[2];

	(void)ctx;
	(void)p;
	if (!kp)
		return -ENOMEM;
	kp->noise = *nk;
	sg_timers_keypair_init(&kp->limits, &g.peer.timers, kp->noise.is_initiator, now);
	sg_replay_init(&kp->replay);
	sg_keyslots_install(&g.slots, kp, kp->noise.is_initiator, dropped);
	keypair_free(dropped[0]);
	keypair_free(dropped[1]);
	return 0;
}

/* The other upcalls: this tool has one peer and hands out random indices. */
static struct sg_control_peer *peer_by_key(void *ctx, const uint8_t key[32])
{
	(void)ctx;
	return sg_memeq(key, g.peer.hs.remote_static, SG_PUBLIC_KEY_LEN) ? &g.peer : NULL;
}

static struct sg_control_peer *peer_by_index(void *ctx, uint32_t index)
{
	(void)ctx;
	return g.peer.hs_index_reserved && index == g.peer.hs.local_index ? &g.peer : NULL;
}

static int index_alloc(void *ctx, struct sg_control_peer *p, uint32_t *index)
{
	(void)ctx;
	(void)p;
	*index = new_index();
	return 0;
}

static void index_free(void *ctx, uint32_t index)
{
	(void)ctx;
	(void)index;
}

static const struct sg_control_ops control_ops = {
	.peer_by_key = peer_by_key,
	.peer_by_index = peer_by_index,
	.index_alloc = index_alloc,
	.index_free = index_free,
	.session_new = session_new,
};

/* The source of a datagram as lib/control sees it. */
static void control_src(const struct sockaddr_storage *ss, struct sg_control_src *out)
{
	memset(out, 0, sizeof(*out));
	out->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		memcpy(out->addr, &a->sin_addr, 4);
		out->port_be = a->sin_port;
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		memcpy(out->addr, &a->sin6_addr, 16);
		out->port_be = a->sin6_port;
	}
}

static void clear_keypairs(void)
{
	void *dropped[3];

	sg_keyslots_clear(&g.slots, dropped);
	for (int i = 0; i < 3; i++)
		keypair_free(dropped[i]);
}

/* ---- sending ---- */

static void initiate(uint64_t now)
{
	struct sg_msg_initiation m;
	unsigned attempt = g.peer.timers.handshake_attempts + 1;
	char ep[80];

	if (!g.has_endpoint || g.gave_up)
		return;
	if (sg_control_initiate(&g.ctl, &g.peer, now, &m) != 0) {
		sg_log(SG_LOG_ERR, "cannot create an initiation (unusable keys)");
		return;
	}
	endpoint_str(&g.endpoint, ep, sizeof(ep));
	SG_LOG_RL(SG_LOG_INFO, "handshake: sending initiation to %s (attempt %u)", ep, attempt);
	send_udp(&m, sizeof(m));
	sg_wipe(&m, sizeof(m));
	g.st.initiations_sent++;
}

/*
 * Encrypts an inner packet (len 0: a keepalive) under the current keypair,
 * padded to 16 bytes, with the next counter as nonce.  Returns false when
 * there is no usable session; an initiator then asks for a handshake.
 */
static bool send_data(const uint8_t *inner, size_t len, uint64_t now)
{
	uint8_t out[MAX_DATAGRAM];
	struct sg_msg_data *d = (struct sg_msg_data *)out;
	struct keypair *kp = g.slots.current;
	size_t padded = sg_wire_padded_len(len, TUNNEL_MTU);
	uint64_t nonce;

	if (!kp || padded > TUNNEL_MTU || !sg_timers_keypair_next_nonce(&kp->limits, now, &nonce)) {
		g.st.no_session++;
		if (sg_timers_handshake_wanted(&g.peer.timers, now))
			initiate(now);
		return false;
	}
	memset(out, 0, sizeof(out));
	d->header.type = SG_MSG_DATA;
	sg_put_le32((uint8_t *)&d->receiver_index, kp->noise.remote_index);
	sg_put_le64((uint8_t *)&d->counter, nonce);
	if (len)
		memcpy(d->encrypted_data, inner, len);
	sg_aead_encrypt(d->encrypted_data, d->encrypted_data, padded, NULL, 0, nonce,
			kp->noise.sending_key);
	send_udp(out, SG_MSG_DATA_HEADER_LEN + padded + SG_TAG_LEN);
	sg_control_peer_sent(&g.peer, now);
	if (len) {
		g.st.data_sent++;
		sg_timers_data_sent(&g.peer.timers, now);
	} else {
		g.st.keepalives_sent++;
	}
	if (sg_timers_rekey_on_send(&kp->limits, now) &&
	    sg_timers_handshake_wanted(&g.peer.timers, now))
		initiate(now);
	return true;
}

/* ---- ICMPv6 ---- */

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/*
 * The ICMPv6 checksum (RFC 4443 2.3) over the pseudo-header and msg.  Over a
 * message whose checksum field is filled, a correct checksum gives 0.
 */
static uint16_t icmp6_checksum(const uint8_t src[16], const uint8_t dst[16], const uint8_t *msg,
			       size_t len)
{
	uint32_t sum = 0;

	sum = sum16(sum, src, 16);
	sum = sum16(sum, dst, 16);
	sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff) + PROTO_ICMPV6;
	sum = sum16(sum, msg, len);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Fills an IPv6 header and sets the ICMPv6 checksum of the icmp_len bytes after it. */
static void finish_icmp6(uint8_t *pkt, const struct in6_addr *src, const struct in6_addr *dst,
			 size_t icmp_len)
{
	uint8_t *icmp = pkt + IPV6_HDR_LEN;
	uint16_t csum;

	memset(pkt, 0, 8);
	pkt[0] = 0x60;
	pkt[4] = (uint8_t)(icmp_len >> 8);
	pkt[5] = (uint8_t)icmp_len;
	pkt[6] = PROTO_ICMPV6;
	pkt[7] = 64;
	memcpy(pkt + 8, src, 16);
	memcpy(pkt + 24, dst, 16);
	icmp[2] = icmp[3] = 0;
	csum = icmp6_checksum(pkt + 8, pkt + 24, icmp, icmp_len);
	icmp[2] = (uint8_t)(csum >> 8);
	icmp[3] = (uint8_t)csum;
}

/* The echo reply to a request: the request's id, sequence and data, addresses swapped. */
static void answer_echo(const uint8_t *req, size_t icmp_len, uint64_t now)
{
	uint8_t pkt[TUNNEL_MTU];
	struct in6_addr peer;

	memcpy(pkt + IPV6_HDR_LEN, req + IPV6_HDR_LEN, icmp_len);
	pkt[IPV6_HDR_LEN] = ICMP6_REPLY;
	pkt[IPV6_HDR_LEN + 1] = 0;
	memcpy(&peer, req + 8, 16);
	finish_icmp6(pkt, &g.address, &peer, icmp_len);
	if (send_data(pkt, IPV6_HDR_LEN + icmp_len, now))
		g.st.echo_replies_sent++;
}

static void fill_ping_payload(uint8_t *p, uint16_t seq)
{
	for (size_t i = 0; i < PING_PAYLOAD; i++)
		p[i] = (uint8_t)(seq + i);
}

static void send_echo_request(uint16_t seq, uint64_t now)
{
	uint8_t pkt[IPV6_HDR_LEN + ICMP6_HDR_LEN + PING_PAYLOAD];
	uint8_t *icmp = pkt + IPV6_HDR_LEN;

	icmp[0] = ICMP6_ECHO;
	icmp[1] = 0;
	icmp[4] = (uint8_t)(g.ping.id >> 8);
	icmp[5] = (uint8_t)g.ping.id;
	icmp[6] = (uint8_t)(seq >> 8);
	icmp[7] = (uint8_t)seq;
	fill_ping_payload(icmp + ICMP6_HDR_LEN, seq);
	finish_icmp6(pkt, &g.address, &g.ping.dst, ICMP6_HDR_LEN + PING_PAYLOAD);
	if (send_data(pkt, sizeof(pkt), now))
		g.st.echo_requests_sent++;
}

/* A reply counts once per sequence number, and only with the data we sent. */
static void on_echo_reply(const uint8_t *pkt, size_t icmp_len)
{
	const uint8_t *icmp = pkt + IPV6_HDR_LEN;
	uint16_t id = (uint16_t)(icmp[4] << 8 | icmp[5]);
	uint16_t seq = (uint16_t)(icmp[6] << 8 | icmp[7]);
	uint8_t want[PING_PAYLOAD];

	fill_ping_payload(want, seq);
	if (!g.opt.ping || id != g.ping.id || memcmp(pkt + 8, &g.ping.dst, 16) != 0 ||
	    icmp_len != ICMP6_HDR_LEN + PING_PAYLOAD || seq == 0 || seq > g.ping.sent ||
	    memcmp(icmp + ICMP6_HDR_LEN, want, PING_PAYLOAD) != 0) {
		g.st.inner_other++;
		return;
	}
	if (g.ping.seen[seq / 8] & (1u << (seq % 8)))
		return;
	g.ping.seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
	g.ping.answered++;
	g.st.echo_replies_received++;
}

/* An authenticated inner packet: only ICMPv6 echo is understood. */
static void on_inner(const uint8_t *pkt, size_t len, uint64_t now)
{
	size_t icmp_len;

	if (len < IPV6_HDR_LEN || (pkt[0] >> 4) != 6) {
		g.st.inner_malformed++;
		return;
	}
	icmp_len = (size_t)(pkt[4] << 8 | pkt[5]);
	if (IPV6_HDR_LEN + icmp_len > len) {
		g.st.inner_malformed++;
		return;
	}
	if (pkt[6] != PROTO_ICMPV6 || icmp_len < ICMP6_HDR_LEN) {
		g.st.inner_other++;
		return;
	}
	if (icmp6_checksum(pkt + 8, pkt + 24, pkt + IPV6_HDR_LEN, icmp_len) != 0) {
		g.st.inner_bad_checksum++;
		return;
	}
	if (memcmp(pkt + 24, &g.address, 16) != 0) {
		g.st.inner_not_for_us++;
		return;
	}
	if (pkt[IPV6_HDR_LEN] == ICMP6_ECHO) {
		g.st.echo_requests_received++;
		answer_echo(pkt, icmp_len, now);
	} else if (pkt[IPV6_HDR_LEN] == ICMP6_REPLY) {
		on_echo_reply(pkt, icmp_len);
	} else {
		g.st.inner_other++;
	}
}

/* ---- receiving handshake messages ---- */

/* Sends the cookie reply lib/control made, to where the message came from. */
static void send_cookie(const struct sg_control_reply *r, const struct sockaddr_storage *src,
			socklen_t slen)
{
	if (r->len == 0)
		return;
	if (sendto(g.fd, &r->msg, r->len, 0, (const struct sockaddr *)src, slen) >= 0)
		g.st.cookie_replies_sent++;
}

/* The refusals every handshake message can meet: true when why is one. */
static bool macs_refused(enum sg_drop_reason why)
{
	switch (why) {
	case SG_DROP_WG_MAC1:
		g.st.refused_mac1++;
		SG_LOG_RL(SG_LOG_INFO, "handshake: message with a bad mac1 refused");
		return true;
	case SG_DROP_WG_MAC2:
		SG_LOG_RL(SG_LOG_INFO, "handshake: under load, answered with a cookie reply");
		return true;
	case SG_DROP_WG_HS_RATELIMIT:
		g.st.refused_ratelimit++;
		return true;
	default:
		return false;
	}
}

static void initiation_refused(enum sg_drop_reason why, const char *ep)
{
	const char *text = "refused";

	if (macs_refused(why))
		return;
	switch (why) {
	case SG_DROP_WG_STATIC:
		g.st.refused_static++;
		text = "static key does not decrypt";
		break;
	case SG_DROP_WG_UNKNOWN_PEER:
		g.st.refused_unknown_peer++;
		text = "unknown peer";
		break;
	case SG_DROP_WG_TIMESTAMP:
		g.st.refused_timestamp_replay++;
		text = "timestamp replayed or older";
		break;
	case SG_DROP_WG_HS_FLOOD:
		g.st.refused_flood++;
		text = "too soon after the last one";
		break;
	default:
		g.st.refused_initiation++;
	}
	SG_LOG_RL(SG_LOG_INFO, "handshake: initiation from %s refused: %s", ep, text);
}

static void on_initiation(const uint8_t *msg, const struct sockaddr_storage *src, socklen_t slen,
			  uint64_t now)
{
	struct sg_control_peer *p = NULL;
	struct sg_control_reply reply;
	struct sg_control_src cs;
	enum sg_drop_reason why;
	char ep[80];

	g.st.initiations_received++;
	endpoint_str(src, ep, sizeof(ep));
	control_src(src, &cs);
	why = sg_control_initiation(&g.ctl, msg, &cs, g.opt.under_load, now, &reply, &p);
	/* What passed the MACs is recorded, for a test to replay it later. */
	if (g.opt.record_initiation && !g.recorded_initiation && why != SG_DROP_WG_MAC1 &&
	    why != SG_DROP_WG_MAC2 && why != SG_DROP_WG_HS_RATELIMIT) {
		write_file(g.opt.record_initiation, msg, SG_MSG_INITIATION_LEN);
		g.recorded_initiation = true;
	}
	if (why != SG_DROP_NONE) {
		send_cookie(&reply, src, slen);
		initiation_refused(why, ep);
		return;
	}
	set_endpoint(src, slen);
	send_udp(&reply.msg, reply.len);
	sg_wipe(&reply, sizeof(reply));
	g.st.responses_sent++;
	SG_LOG_RL(SG_LOG_INFO,
		  "handshake: initiation from %s accepted, response sent (index %08x), "
		  "waiting for key confirmation",
		  ep, ((struct keypair *)g.slots.next)->noise.local_index);
}

static void on_response(const uint8_t *msg, const struct sockaddr_storage *src, socklen_t slen,
			uint64_t now)
{
	struct sg_control_peer *p = NULL;
	struct sg_control_reply reply;
	struct sg_control_src cs;
	enum sg_drop_reason why;
	char ep[80];

	g.st.responses_received++;
	endpoint_str(src, ep, sizeof(ep));
	control_src(src, &cs);
	why = sg_control_response(&g.ctl, msg, &cs, g.opt.under_load, now, &reply, &p);
	if (why == SG_DROP_WG_UNKNOWN_INDEX) {
		g.st.unknown_index++;
		return;
	}
	if (why != SG_DROP_NONE) {
		send_cookie(&reply, src, slen);
		if (macs_refused(why))
			return;
		g.st.refused_response++;
		SG_LOG_RL(SG_LOG_INFO,
			  "handshake: response from %s refused: does not authenticate "
			  "(wrong preshared key?)",
			  ep);
		return;
	}
	set_endpoint(src, slen);
	g.st.handshakes_ok++;
	SG_LOG_RL(SG_LOG_INFO, "handshake: response from %s accepted, session %08x up", ep,
		  ((struct keypair *)g.slots.current)->noise.local_index);
	/* Key confirmation: the responder may send only once it has heard from us. */
	send_data(NULL, 0, now);
}

static void on_cookie_reply(const uint8_t *msg, uint64_t now)
{
	if (sg_control_cookie_reply(&g.ctl, msg, now) != SG_DROP_NONE) {
		g.st.refused_cookie_reply++;
		return;
	}
	g.st.cookie_replies_received++;
	SG_LOG_RL(SG_LOG_INFO, "handshake: cookie reply accepted, the next initiation has mac2");
}

/* ---- receiving data ---- */

/* The first data packet under a responder keypair confirms it. */
static void confirm(struct keypair *kp, uint64_t now)
{
	void *dropped;

	if (!sg_keyslots_confirm(&g.slots, kp, &dropped))
		return;
	keypair_free(dropped);
	/* Leaving next is what confirms it; kp->noise.confirmed is not kept up to date. */
	sg_timers_handshake_complete(&g.peer.timers, now);
	g.st.handshakes_ok++;
	SG_LOG_RL(SG_LOG_INFO, "handshake: first data under session %08x, key confirmed",
		  kp->noise.local_index);
}

/* Returns the plaintext length, or -1 when the packet was refused (and counted). */
static long open_data(const uint8_t *msg, size_t len, uint8_t *plain, struct keypair **kpp,
		      uint64_t now)
{
	const struct sg_msg_data *d = (const struct sg_msg_data *)msg;
	uint64_t counter = sg_get_le64((const uint8_t *)&d->counter);
	struct keypair *kp = keypair_by_index(sg_get_le32((const uint8_t *)&d->receiver_index));
	size_t clen = len - SG_MSG_DATA_HEADER_LEN;

	if (!kp) {
		g.st.unknown_index++;
		return -1;
	}
	if (!sg_timers_keypair_can_receive(&kp->limits, now)) {
		g.st.expired_keypair++;
		return -1;
	}
	/* Before decryption, so that a replay costs no ChaCha20. */
	if (!sg_replay_check(&kp->replay, counter)) {
		g.st.replayed_data++;
		return -1;
	}
	if (sg_aead_decrypt(plain, d->encrypted_data, clen, NULL, 0, counter,
			    kp->noise.receiving_key) != 0) {
		g.st.refused_bad_tag++;
		return -1;
	}
	if (!sg_replay_commit(&kp->replay, counter)) {
		g.st.replayed_data++;
		return -1;
	}
	*kpp = kp;
	return (long)(clen - SG_TAG_LEN);
}

static void on_data(const uint8_t *msg, size_t len, const struct sockaddr_storage *src,
		    socklen_t slen, uint64_t now)
{
	uint8_t plain[MAX_DATAGRAM];
	struct keypair *kp = NULL;
	long n;

	g.st.data_received++;
	n = open_data(msg, len, plain, &kp, now);
	if (n < 0)
		return;
	g.st.decrypted_packets++;
	confirm(kp, now);
	set_endpoint(src, slen);
	sg_control_peer_received(&g.peer, now);
	if (n == 0) {
		g.st.keepalives_received++;
		return;
	}
	if (g.opt.record_data && !g.recorded_data) {
		write_file(g.opt.record_data, msg, len);
		g.recorded_data = true;
	}
	sg_timers_data_received(&g.peer.timers, now);
	on_inner(plain, (size_t)n, now);
}

static void on_datagram(const uint8_t *msg, size_t len, const struct sockaddr_storage *src,
			socklen_t slen, uint64_t now)
{
	enum sg_drop_reason why = SG_DROP_NONE;

	g.st.rx_packets++;
	/*
	 * The receive buffer is larger than the largest message we take, so
	 * that a datagram too long for the tunnel MTU is seen whole and refused
	 * here: open_data decrypts into a buffer of MAX_DATAGRAM bytes, and
	 * libsodium writes (zeros, for a bad tag) len - 32 bytes into it before
	 * anything is authenticated.
	 */
	if (len > MAX_DATAGRAM) {
		g.st.rx_malformed++;
		SG_LOG_RL(SG_LOG_DEBUG, "dropped: datagram of %zu bytes, larger than %u", len,
			  (unsigned)MAX_DATAGRAM);
		return;
	}
	switch (sg_wire_classify(msg, len, &why)) {
	case SG_MSG_INITIATION:
		on_initiation(msg, src, slen, now);
		break;
	case SG_MSG_RESPONSE:
		on_response(msg, src, slen, now);
		break;
	case SG_MSG_COOKIE_REPLY:
		on_cookie_reply(msg, now);
		break;
	case SG_MSG_DATA:
		on_data(msg, len, src, slen, now);
		break;
	default:
		g.st.rx_malformed++;
		SG_LOG_RL(SG_LOG_DEBUG, "dropped: %s", sg_drop_desc(why));
	}
}

static void drain_socket(void)
{
	uint8_t buf[MAX_DATAGRAM + 64];
	struct sockaddr_storage src;
	socklen_t slen;
	ssize_t n;

	for (;;) {
		slen = sizeof(src);
		n = recvfrom(g.fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&src, &slen);
		if (n < 0)
			return;
		on_datagram(buf, (size_t)n, &src, slen, sg_now_ns());
	}
}

/* ---- timers and the ping schedule ---- */

static void run_timers(uint64_t now)
{
	unsigned d = sg_timers_poll(&g.peer.timers, now);

	if (d & SG_TIMERS_GIVE_UP) {
		g.gave_up = true;
		sg_log(SG_LOG_INFO, "handshake: no response after %u attempts, giving up",
		       SG_MAX_TIMER_HANDSHAKES);
	}
	if (d & SG_TIMERS_INITIATE_HANDSHAKE)
		initiate(now);
	if (d & SG_TIMERS_SEND_KEEPALIVE)
		send_data(NULL, 0, now);
	if (d & SG_TIMERS_EXPIRE_KEYPAIRS)
		clear_keypairs();
	if (now >= g.next_gc_ns) {
		sg_ratelimit_gc(g.ctl.rl, now);
		g.next_gc_ns = now + NSEC_PER_SEC;
	}
}

/* Sends the next echo request when due; returns true once the ping run is over. */
static bool ping_tick(uint64_t now)
{
	struct ping_state *p = &g.ping;

	if (!g.opt.ping)
		return false;
	if (p->answered == g.opt.count)
		return true;
	if (p->sent == g.opt.count)
		return now >= p->last_ns + g.opt.wait_s * NSEC_PER_SEC;
	if (!g.slots.current || now < p->next_ns)
		return false;
	send_echo_request((uint16_t)(p->sent + 1), now);
	p->sent++;
	p->last_ns = now;
	p->next_ns = now + g.opt.interval_ms * NSEC_PER_MSEC;
	return false;
}

static int poll_timeout_ms(uint64_t now, uint64_t end)
{
	uint64_t next = sg_timers_next_deadline(&g.peer.timers, now);
	uint64_t limit = now + 100 * NSEC_PER_MSEC;

	if (g.opt.ping && g.ping.next_ns > now && g.ping.next_ns < next)
		next = g.ping.next_ns;
	if (end < next)
		next = end;
	if (limit < next)
		next = limit;
	return (int)((next - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
}

static void main_loop(void)
{
	uint64_t start = sg_now_ns();
	uint64_t end = g.opt.timeout_s ? start + g.opt.timeout_s * NSEC_PER_SEC : UINT64_MAX;
	struct pollfd pfd = { .fd = g.fd, .events = POLLIN };

	if (g.opt.initiate && sg_timers_handshake_wanted(&g.peer.timers, start))
		initiate(start);
	while (!stop_requested) {
		uint64_t now = sg_now_ns();

		if (now >= end) {
			sg_log(SG_LOG_INFO, "timeout after %u s", g.opt.timeout_s);
			break;
		}
		if (dump_requested) {
			dump_requested = 0;
			write_stats();
		}
		run_timers(now);
		if (ping_tick(now))
			break;
		if (poll(&pfd, 1, poll_timeout_ms(now, end)) > 0)
			drain_socket();
	}
}

/* ---- setup ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sg-wgpeer --private-key FILE --peer-public-key B64 --address V6ADDR\n"
		"                 [--listen [ADDR]:PORT] [--psk FILE]\n"
		"                 [--endpoint [ADDR]:PORT [--initiate]]\n"
		"                 [--ping V6ADDR [--count N] [--interval MS] [--wait S]]\n"
		"                 [--stats FILE] [--record-initiation FILE] [--record-data FILE]\n"
		"                 [--under-load] [--timeout S]\n"
		"A one-peer WireGuard endpoint on a UDP socket, built on sixgate's protocol\n"
		"core. It answers ICMPv6 echo requests to --address through the tunnel;\n"
		"with --ping it sends --count echo requests to V6ADDR and exits 0 only when\n"
		"every reply came back. --under-load demands mac2 (cookie replies). Counters\n"
		"go to --stats as JSON at exit and on SIGUSR1. --timeout (default 60, 0 =\n"
		"none) bounds the run.\n");
}

static int parse_uint(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v > 1000000)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "private-key", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "peer-public-key", required_argument, NULL, 'p' },
		{ "psk", required_argument, NULL, 'q' },
		{ "endpoint", required_argument, NULL, 'e' },
		{ "initiate", no_argument, NULL, 'i' },
		{ "address", required_argument, NULL, 'a' },
		{ "stats", required_argument, NULL, 's' },
		{ "ping", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'c' },
		{ "interval", required_argument, NULL, 'I' },
		{ "wait", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "record-initiation", required_argument, NULL, 'R' },
		{ "record-data", required_argument, NULL, 'D' },
		{ "under-load", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, bad = 0;

	*o = (struct options){ .count = 5, .interval_ms = 200, .wait_s = 2, .timeout_s = 60 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->private_key_file = optarg;
			break;
		case 'l':
			o->listen = optarg;
			break;
		case 'p':
			o->peer_public_key = optarg;
			break;
		case 'q':
			o->psk_file = optarg;
			break;
		case 'e':
			o->endpoint = optarg;
			break;
		case 'i':
			o->initiate = true;
			break;
		case 'a':
			o->address = optarg;
			break;
		case 's':
			o->stats_file = optarg;
			break;
		case 'P':
			o->ping = optarg;
			break;
		case 'c':
			bad |= parse_uint(optarg, &o->count);
			break;
		case 'I':
			bad |= parse_uint(optarg, &o->interval_ms);
			break;
		case 'w':
			bad |= parse_uint(optarg, &o->wait_s);
			break;
		case 't':
			bad |= parse_uint(optarg, &o->timeout_s);
			break;
		case 'R':
			o->record_initiation = optarg;
			break;
		case 'D':
			o->record_data = optarg;
			break;
		case 'L':
			o->under_load = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			bad = 1;
		}
	}
	if (bad || optind != argc || !o->private_key_file || !o->peer_public_key || !o->address ||
	    (!o->listen && !o->endpoint) || (o->initiate && !o->endpoint) || o->count == 0 ||
	    o->count > MAX_PING || (o->ping && !o->initiate)) {
		usage(stderr);
		return -EINVAL;
	}
	return 0;
}

static int setup_keys(void)
{
	uint8_t priv[32], peer[32], psk[32];
	int ret;

	if (read_key_file(g.opt.private_key_file, priv) != 0 ||
	    sg_control_init(&g.ctl, priv, NULL, 1024, &control_ops, NULL, sg_now_ns()) != 0) {
		sg_wipe(priv, sizeof(priv));
		fprintf(stderr, "sg-wgpeer: unusable private key in %s\n", g.opt.private_key_file);
		return -EINVAL;
	}
	sg_wipe(priv, sizeof(priv));
	/* As the kernel: cookies and the per-source limit only under load. */
	g.ctl.always_under_load = g.opt.under_load;
	g.ctl.ratelimit_under_load_only = true;
	if (sg_key_from_base64(peer, g.opt.peer_public_key) != 0) {
		fprintf(stderr, "sg-wgpeer: bad --peer-public-key\n");
		return -EINVAL;
	}
	if (g.opt.psk_file && read_key_file(g.opt.psk_file, psk) != 0) {
		fprintf(stderr, "sg-wgpeer: bad preshared key in %s\n", g.opt.psk_file);
		return -EINVAL;
	}
	/* The paper's protocol times: this tool is the reference peer. */
	ret = sg_control_peer_init(&g.ctl, &g.peer, peer, g.opt.psk_file ? psk : NULL, 0,
				   sg_now_ns());
	sg_wipe(psk, sizeof(psk));
	if (ret) {
		fprintf(stderr, "sg-wgpeer: unusable peer public key\n");
		return ret;
	}
	return 0;
}

static int setup_socket(void)
{
	struct sockaddr_storage local;
	socklen_t local_len = 0;
	int family = AF_INET6, off = 0;

	if (g.opt.endpoint) {
		if (parse_sockaddr(g.opt.endpoint, AF_INET6, &g.endpoint, &g.endpoint_len) != 0) {
			fprintf(stderr, "sg-wgpeer: bad --endpoint %s\n", g.opt.endpoint);
			return -EINVAL;
		}
		g.has_endpoint = true;
		family = g.endpoint.ss_family;
	}
	if (parse_sockaddr(g.opt.listen ? g.opt.listen : "0", family, &local, &local_len) != 0 ||
	    (g.opt.endpoint && local.ss_family != family)) {
		fprintf(stderr, "sg-wgpeer: bad --listen (or family unlike --endpoint)\n");
		return -EINVAL;
	}
	g.family = local.ss_family;
	g.fd = socket(g.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (g.fd < 0)
		return -errno;
	if (g.family == AF_INET6)
		setsockopt(g.fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (bind(g.fd, (struct sockaddr *)&local, local_len) != 0) {
		fprintf(stderr, "sg-wgpeer: bind %s: %s\n", g.opt.listen, strerror(errno));
		return -errno;
	}
	return 0;
}

static int setup_addresses(void)
{
	if (inet_pton(AF_INET6, g.opt.address, &g.address) != 1) {
		fprintf(stderr, "sg-wgpeer: bad --address %s\n", g.opt.address);
		return -EINVAL;
	}
	if (g.opt.ping && inet_pton(AF_INET6, g.opt.ping, &g.ping.dst) != 1) {
		fprintf(stderr, "sg-wgpeer: bad --ping %s\n", g.opt.ping);
		return -EINVAL;
	}
	g.ping.id = (uint16_t)getpid();
	return 0;
}

static int setup(int argc, char **argv)
{
	if (parse_options(argc, argv, &g.opt) != 0)
		return -EINVAL;
	if (sg_crypto_init() != 0)
		return -EIO;
	sg_keyslots_init(&g.slots);
	if (setup_addresses() != 0 || setup_keys() != 0 || setup_socket() != 0)
		return -EINVAL;
	return 0;
}

static void teardown(void)
{
	clear_keypairs();
	sg_control_peer_clear(&g.ctl, &g.peer);
	sg_control_fini(&g.ctl);
	if (g.fd >= 0)
		close(g.fd);
}

static int exit_status(void)
{
	if (g.opt.ping)
		return g.ping.answered == g.opt.count ? 0 : 1;
	if (g.opt.initiate)
		return g.st.handshakes_ok > 0 ? 0 : 1;
	return 0;
}

int main(int argc, char **argv)
{
	char ep[80] = "-";
	int rc;

	g.fd = -1;
	setvbuf(stderr, NULL, _IOLBF, 0);
	install_signals();
	if (setup(argc, argv) != 0) {
		teardown();
		return 2;
	}
	if (g.has_endpoint)
		endpoint_str(&g.endpoint, ep, sizeof(ep));
	sg_log(SG_LOG_INFO, "sg-wgpeer: listening (%s), peer endpoint %s, %s%s",
	       g.opt.listen ? g.opt.listen : "any port", ep,
	       g.opt.initiate ? "initiator" : "responder", g.opt.under_load ? ", under load" : "");
	main_loop();
	write_stats();
	rc = exit_status();
	sg_log(SG_LOG_INFO,
	       "sg-wgpeer: exit %d: %llu handshakes, %llu packets decrypted, %llu echo replies "
	       "sent, %llu received",
	       rc, (unsigned long long)g.st.handshakes_ok,
	       (unsigned long long)g.st.decrypted_packets,
	       (unsigned long long)g.st.echo_replies_sent,
	       (unsigned long long)g.st.echo_replies_received);
	teardown();
	return rc;
}
