/* SPDX-License-Identifier: MIT */
/*
 * Each kernel timer is a deadline here; sg_timers_poll plays the part of the
 * timer interrupt.  The rules and their reasons are the paper's, section 6:
 *
 * - retransmit_handshake: an initiation got no response in rekey_timeout
 *   (plus jitter), so send another, for rekey_attempt_time, then give up.
 * - send_keepalive: we received data but sent nothing back for
 *   keepalive_timeout, so the other side would think we are gone.
 * - new_handshake: we sent data but heard nothing for keepalive_timeout +
 *   rekey_timeout (plus jitter): the session is probably dead, renew it.
 * - zero_key_material: no new session for 3 * reject_after_time, so no key
 *   may linger in memory (forward secrecy even for a peer that went away).
 * - persistent_keepalive: keep NAT mappings alive, if configured.
 *
 * The times are each peer's struct sg_timers_params, the paper's by default.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sg_timers.h"

#define NSEC_PER_SEC  1000000000ull
#define NSEC_PER_MSEC 1000000ull

#define JITTER_MAX_NS (SG_REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC)

_Static_assert(SG_MAX_TIMER_HANDSHAKES == SG_REKEY_ATTEMPT_TIME_S / SG_REKEY_TIMEOUT_S,
	       "MAX_TIMER_HANDSHAKES covers REKEY_ATTEMPT_TIME");

static uint64_t ns(uint32_t s)
{
	return (uint64_t)s * NSEC_PER_SEC;
}

/* The age at which an initiator that only receives rekeys (checked to be positive). */
static uint64_t rekey_on_receive_ns(const struct sg_timers_params *p)
{
	return ns(p->reject_after_time) - ns(p->keepalive_timeout) - ns(p->rekey_timeout);
}

void sg_timers_params_default(struct sg_timers_params *p)
{
	p->rekey_after_time = SG_REKEY_AFTER_TIME_S;
	p->reject_after_time = SG_REJECT_AFTER_TIME_S;
	p->rekey_attempt_time = SG_REKEY_ATTEMPT_TIME_S;
	p->rekey_timeout = SG_REKEY_TIMEOUT_S;
	p->keepalive_timeout = SG_KEEPALIVE_TIMEOUT_S;
}

int sg_timers_params_check(const struct sg_timers_params *p)
{
	if (!p->rekey_after_time || !p->reject_after_time || !p->rekey_attempt_time ||
	    !p->rekey_timeout || !p->keepalive_timeout)
		return -EINVAL;
	if (p->reject_after_time <= p->rekey_after_time)
		return -EINVAL;
	if ((uint64_t)p->reject_after_time <=
	    (uint64_t)p->keepalive_timeout + (uint64_t)p->rekey_timeout)
		return -EINVAL;
	if (p->rekey_attempt_time < p->rekey_timeout)
		return -EINVAL;
	return 0;
}

int sg_timers_init(struct sg_timers *t, const struct sg_timers_params *params,
		   sg_timers_rand_fn rand, void *rand_ctx)
{
	struct sg_timers_params p;

	if (params)
		p = *params;
	else
		sg_timers_params_default(&p);
	if (sg_timers_params_check(&p))
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	sg_timers_stop(t);
	t->params = p;
	t->max_handshakes = p.rekey_attempt_time / p.rekey_timeout;
	t->rand = rand;
	t->rand_ctx = rand_ctx;
	return 0;
}

void sg_timers_stop(struct sg_timers *t)
{
	t->retransmit_handshake = SG_TIMERS_NEVER;
	t->send_keepalive = SG_TIMERS_NEVER;
	t->new_handshake = SG_TIMERS_NEVER;
	t->zero_key_material = SG_TIMERS_NEVER;
	t->persistent_keepalive = SG_TIMERS_NEVER;
}

static bool armed(uint64_t deadline)
{
	return deadline != SG_TIMERS_NEVER;
}

static bool due(uint64_t deadline, uint64_t now_ns)
{
	return armed(deadline) && deadline <= now_ns;
}

/* Uniform in [0, JITTER_MAX_NS): the high bits of rand scaled, not a biased modulo. */
static uint64_t jitter(const struct sg_timers *t)
{
	if (!t->rand)
		return 0;
	return ((uint64_t)t->rand(t->rand_ctx) * JITTER_MAX_NS) >> 32;
}

/* True when now_ns is at least span after then (a clock running backwards gives false). */
static bool elapsed(uint64_t then, uint64_t span, uint64_t now_ns)
{
	return now_ns >= then && now_ns - then >= span;
}

void sg_timers_set_persistent_keepalive(struct sg_timers *t, uint16_t interval_s, uint64_t now_ns)
{
	t->persistent_keepalive_s = interval_s;
	t->persistent_keepalive = SG_TIMERS_NEVER;
	if (interval_s)
		t->persistent_keepalive = now_ns + interval_s * NSEC_PER_SEC;
}

void sg_timers_data_sent(struct sg_timers *t, uint64_t now_ns)
{
	if (!armed(t->new_handshake))
		t->new_handshake = now_ns + ns(t->params.keepalive_timeout) +
				   ns(t->params.rekey_timeout) + jitter(t);
}

void sg_timers_data_received(struct sg_timers *t, uint64_t now_ns)
{
	if (!armed(t->send_keepalive))
		t->send_keepalive = now_ns + ns(t->params.keepalive_timeout);
	else
		t->need_another_keepalive = true;
}

void sg_timers_any_authenticated_packet_sent(struct sg_timers *t, uint64_t now_ns)
{
	(void)now_ns;
	t->send_keepalive = SG_TIMERS_NEVER;
}

void sg_timers_any_authenticated_packet_received(struct sg_timers *t, uint64_t now_ns)
{
	(void)now_ns;
	t->new_handshake = SG_TIMERS_NEVER;
}

void sg_timers_any_authenticated_packet_traversal(struct sg_timers *t, uint64_t now_ns)
{
	if (t->persistent_keepalive_s)
		t->persistent_keepalive = now_ns + t->persistent_keepalive_s * NSEC_PER_SEC;
}

void sg_timers_handshake_initiated(struct sg_timers *t, uint64_t now_ns)
{
	t->retransmit_handshake = now_ns + ns(t->params.rekey_timeout) + jitter(t);
	t->last_initiation_ns = now_ns;
	t->initiation_sent = true;
	t->handshake_attempts++;
}

void sg_timers_handshake_complete(struct sg_timers *t, uint64_t now_ns)
{
	t->retransmit_handshake = SG_TIMERS_NEVER;
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = false;
	t->last_handshake_ns = now_ns;
}

void sg_timers_session_derived(struct sg_timers *t, uint64_t now_ns)
{
	t->zero_key_material = now_ns + 3 * ns(t->params.reject_after_time);
}

/* At most one initiation per rekey_timeout, whoever asks. */
static bool initiation_allowed(const struct sg_timers *t, uint64_t now_ns)
{
	return !t->initiation_sent ||
	       elapsed(t->last_initiation_ns, ns(t->params.rekey_timeout), now_ns);
}

bool sg_timers_handshake_wanted(struct sg_timers *t, uint64_t now_ns)
{
	t->handshake_attempts = 0;
	return initiation_allowed(t, now_ns);
}

/*
 * The response did not come.  After max_handshakes initiations
 * (rekey_attempt_time) stop, drop what waits for a session, and make sure
 * what a half-done exchange left behind is wiped in time.  The kernel sends
 * two more initiations before it gives up; we stop at the paper's 90 s.
 */
static unsigned retransmit_expired(struct sg_timers *t, uint64_t now_ns)
{
	if (t->handshake_attempts >= t->max_handshakes) {
		t->send_keepalive = SG_TIMERS_NEVER;
		if (!armed(t->zero_key_material))
			sg_timers_session_derived(t, now_ns);
		return SG_TIMERS_GIVE_UP;
	}
	return initiation_allowed(t, now_ns) ? SG_TIMERS_INITIATE_HANDSHAKE : 0;
}

static unsigned keepalive_expired(struct sg_timers *t, uint64_t now_ns)
{
	if (t->need_another_keepalive) {
		t->need_another_keepalive = false;
		t->send_keepalive = now_ns + ns(t->params.keepalive_timeout);
	}
	return SG_TIMERS_SEND_KEEPALIVE;
}

unsigned sg_timers_poll(struct sg_timers *t, uint64_t now_ns)
{
	unsigned d = 0;

	/* First, so that a new series started here is not given up below. */
	if (due(t->new_handshake, now_ns)) {
		t->new_handshake = SG_TIMERS_NEVER;
		if (sg_timers_handshake_wanted(t, now_ns))
			d |= SG_TIMERS_INITIATE_HANDSHAKE;
	}
	/* Before the keepalive, which giving up cancels. */
	if (due(t->retransmit_handshake, now_ns)) {
		t->retransmit_handshake = SG_TIMERS_NEVER;
		d |= retransmit_expired(t, now_ns);
	}
	if (due(t->send_keepalive, now_ns)) {
		t->send_keepalive = SG_TIMERS_NEVER;
		d |= keepalive_expired(t, now_ns);
	}
	if (due(t->persistent_keepalive, now_ns)) {
		t->persistent_keepalive = SG_TIMERS_NEVER;
		if (t->persistent_keepalive_s)
			d |= SG_TIMERS_SEND_KEEPALIVE;
	}
	if (due(t->zero_key_material, now_ns)) {
		t->zero_key_material = SG_TIMERS_NEVER;
		d |= SG_TIMERS_EXPIRE_KEYPAIRS;
	}
	return d;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

uint64_t sg_timers_next_deadline(const struct sg_timers *t, uint64_t now_ns)
{
	uint64_t d = min_u64(t->retransmit_handshake, t->send_keepalive);

	d = min_u64(d, t->new_handshake);
	d = min_u64(d, t->zero_key_material);
	d = min_u64(d, t->persistent_keepalive);
	if (d == SG_TIMERS_NEVER)
		return d;
	return d < now_ns ? now_ns : d;
}

void sg_timers_keypair_init(struct sg_timers_keypair *kp, const struct sg_timers *t, bool initiator,
			    uint64_t now_ns)
{
	struct sg_timers_params def;
	const struct sg_timers_params *p = t ? &t->params : &def;

	if (!t)
		sg_timers_params_default(&def);
	kp->rekey_after_ns = ns(p->rekey_after_time);
	kp->reject_after_ns = ns(p->reject_after_time);
	kp->birth_ns = now_ns;
	kp->sent = 0;
	kp->initiator = initiator;
}

static bool older_than(const struct sg_timers_keypair *kp, uint64_t span, uint64_t now_ns)
{
	return elapsed(kp->birth_ns, span, now_ns);
}

bool sg_timers_keypair_can_receive(const struct sg_timers_keypair *kp, uint64_t now_ns)
{
	return !older_than(kp, kp->reject_after_ns, now_ns);
}

bool sg_timers_keypair_can_send(const struct sg_timers_keypair *kp, uint64_t now_ns)
{
	return kp->sent < SG_REJECT_AFTER_MESSAGES && sg_timers_keypair_can_receive(kp, now_ns);
}

bool sg_timers_keypair_next_nonce(struct sg_timers_keypair *kp, uint64_t now_ns, uint64_t *nonce)
{
	if (!sg_timers_keypair_can_send(kp, now_ns))
		return false;
	*nonce = kp->sent++;
	return true;
}

bool sg_timers_rekey_on_send(const struct sg_timers_keypair *kp, uint64_t now_ns)
{
	if (!kp)
		return false;
	if (kp->sent >= SG_REKEY_AFTER_MESSAGES)
		return true;
	return kp->initiator && older_than(kp, kp->rekey_after_ns, now_ns);
}

bool sg_timers_rekey_on_receive(struct sg_timers *t, const struct sg_timers_keypair *kp,
				uint64_t now_ns)
{
	if (!kp || t->sent_lastminute_handshake || !kp->initiator)
		return false;
	if (!older_than(kp, rekey_on_receive_ns(&t->params), now_ns))
		return false;
	t->sent_lastminute_handshake = true;
	return true;
}

uint32_t sg_timers_splitmix32(void *ctx)
{
	uint64_t *state = ctx;
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void sg_keyslots_init(struct sg_keyslots *ks)
{
	ks->previous = ks->current = ks->next = NULL;
}

/* Appends p to dropped[] when it is a keypair. */
static unsigned drop(void **dropped, unsigned n, void *p)
{
	if (p)
		dropped[n++] = p;
	return n;
}

unsigned sg_keyslots_install(struct sg_keyslots *ks, void *kp, bool initiator, void *dropped[2])
{
	unsigned n = 0;

	dropped[0] = dropped[1] = NULL;
	if (!initiator) {
		/* Unusable until confirmed: it must not displace current yet. */
		n = drop(dropped, n, ks->next);
		n = drop(dropped, n, ks->previous);
		ks->next = kp;
		ks->previous = NULL;
		return n;
	}
	n = drop(dropped, n, ks->previous);
	if (ks->next) {
		/*
		 * A responder session was pending when our own handshake
		 * finished: keep it as previous, since the peer may already
		 * send with it, and let the old current go.
		 */
		n = drop(dropped, n, ks->current);
		ks->previous = ks->next;
		ks->next = NULL;
	} else {
		ks->previous = ks->current;
	}
	ks->current = kp;
	return n;
}

bool sg_keyslots_confirm(struct sg_keyslots *ks, const void *kp, void **dropped)
{
	*dropped = NULL;
	if (!kp || kp != ks->next)
		return false;
	*dropped = ks->previous;
	ks->previous = ks->current;
	ks->current = ks->next;
	ks->next = NULL;
	return true;
}

unsigned sg_keyslots_clear(struct sg_keyslots *ks, void *dropped[3])
{
	unsigned n = 0;

	dropped[0] = dropped[1] = dropped[2] = NULL;
	n = drop(dropped, n, ks->current);
	n = drop(dropped, n, ks->previous);
	n = drop(dropped, n, ks->next);
	sg_keyslots_init(ks);
	return n;
}

/* --- the queue of many peers' deadlines: a binary min-heap --- */

int sg_timers_queue_init(struct sg_timers_queue *q, unsigned capacity)
{
	memset(q, 0, sizeof(*q));
	q->heap = calloc(capacity ? capacity : 1, sizeof(*q->heap));
	q->pos = calloc(capacity ? capacity : 1, sizeof(*q->pos));
	if (q->heap == NULL || q->pos == NULL) {
		sg_timers_queue_fini(q);
		return -ENOMEM;
	}
	q->capacity = capacity;
	return 0;
}

void sg_timers_queue_fini(struct sg_timers_queue *q)
{
	free(q->heap);
	free(q->pos);
	memset(q, 0, sizeof(*q));
}

static void place(struct sg_timers_queue *q, unsigned i, struct sg_timers_queue_entry e)
{
	q->heap[i] = e;
	q->pos[e.id] = i + 1;
}

/* Moves the entry at i toward the root while it is earlier than its parent. */
static void sift_up(struct sg_timers_queue *q, unsigned i)
{
	struct sg_timers_queue_entry e = q->heap[i];

	while (i > 0 && e.at_ns < q->heap[(i - 1) / 2].at_ns) {
		place(q, i, q->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(q, i, e);
}

/* Moves the entry at i toward the leaves while a child is earlier. */
static void sift_down(struct sg_timers_queue *q, unsigned i)
{
	struct sg_timers_queue_entry e = q->heap[i];

	for (;;) {
		unsigned c = 2 * i + 1;

		if (c >= q->n)
			break;
		if (c + 1 < q->n && q->heap[c + 1].at_ns < q->heap[c].at_ns)
			c++;
		if (q->heap[c].at_ns >= e.at_ns)
			break;
		place(q, i, q->heap[c]);
		i = c;
	}
	place(q, i, e);
}

void sg_timers_queue_remove(struct sg_timers_queue *q, uint32_t id)
{
	unsigned i;

	if (id >= q->capacity || q->pos[id] == 0)
		return;
	i = q->pos[id] - 1;
	q->pos[id] = 0;
	if (i == --q->n)
		return;
	/* The last entry fills the hole, then finds its place either way. */
	place(q, i, q->heap[q->n]);
	if (i > 0 && q->heap[i].at_ns < q->heap[(i - 1) / 2].at_ns)
		sift_up(q, i);
	else
		sift_down(q, i);
}

void sg_timers_queue_set(struct sg_timers_queue *q, uint32_t id, uint64_t at_ns)
{
	unsigned i;

	if (id >= q->capacity)
		return;
	if (at_ns == SG_TIMERS_NEVER) {
		sg_timers_queue_remove(q, id);
		return;
	}
	if (q->pos[id] == 0) {
		i = q->n++;
		place(q, i, (struct sg_timers_queue_entry){ .at_ns = at_ns, .id = id });
		sift_up(q, i);
		return;
	}
	i = q->pos[id] - 1;
	if (at_ns < q->heap[i].at_ns) {
		q->heap[i].at_ns = at_ns;
		sift_up(q, i);
	} else if (at_ns > q->heap[i].at_ns) {
		q->heap[i].at_ns = at_ns;
		sift_down(q, i);
	}
}

void sg_timers_queue_earlier(struct sg_timers_queue *q, uint32_t id, uint64_t at_ns)
{
	if (at_ns < sg_timers_queue_at(q, id))
		sg_timers_queue_set(q, id, at_ns);
}

uint64_t sg_timers_queue_at(const struct sg_timers_queue *q, uint32_t id)
{
	if (id >= q->capacity || q->pos[id] == 0)
		return SG_TIMERS_NEVER;
	return q->heap[q->pos[id] - 1].at_ns;
}

uint64_t sg_timers_queue_next(const struct sg_timers_queue *q)
{
	return q->n > 0 ? q->heap[0].at_ns : SG_TIMERS_NEVER;
}

bool sg_timers_queue_pop(struct sg_timers_queue *q, uint64_t now_ns, uint32_t *id)
{
	if (q->n == 0 || q->heap[0].at_ns > now_ns)
		return false;
	*id = q->heap[0].id;
	sg_timers_queue_remove(q, *id);
	return true;
}

unsigned sg_timers_queue_len(const struct sg_timers_queue *q)
{
	return q->n;
}
