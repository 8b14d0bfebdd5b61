/* SPDX-License-Identifier: MIT */
/*
 * The worker lcore's loop: poll its NIC RX queues and its VM ports in bursts,
 * drain the rings other lcores fill for it, and report a quiescent state once
 * per round so that the control lcore can free replaced keypairs.
 */
#include <time.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>

#include "pipelines/sg_stages.h"

static unsigned poll_nic(struct sg_worker *w)
{
	struct rte_mbuf *pkts[SG_BURST_MAX];
	unsigned total = 0, q, n;

	for (q = 0; q < w->n_nic_rxq; q++) {
		n = rte_eth_rx_burst(w->dp->nic_port, w->nic_rxq[q], pkts, (uint16_t)w->dp->burst);
		if (n == 0)
			continue;
		w->st.nic_rx += n;
		total += n;
		if (unlikely(atomic_load_explicit(&w->dp->standby, memory_order_relaxed))) {
			sg_drop_burst(w, pkts, n, SG_DROP_FLEET_STANDBY);
			continue;
		}
		sg_nic_input(w, pkts, n);
	}
	return total;
}

static unsigned poll_vms(struct sg_worker *w)
{
	struct rte_mbuf *pkts[SG_BURST_MAX];
	unsigned total = 0, i, n, handed;

	for (i = 0; i < __atomic_load_n(&w->n_vms, __ATOMIC_ACQUIRE); i++) {
		/* Read once: the control lcore may move another VM into this slot (vm rm). */
		unsigned vmi = __atomic_load_n(&w->vms[i], __ATOMIC_RELAXED);
		struct sg_vm *vm = &w->dp->vms[vmi];
		uint64_t t0 = sg_cycles_start(w);

		n = rte_eth_rx_burst(vm->port_id, 0, pkts, (uint16_t)w->dp->burst);
		if (n > 0) {
			sg_cycles_add(w, SG_STAGE_VM_RX, t0, n);
			w->st.vm_rx += n;
			w->vm_st[vmi].rx += n;
			total += n;
			if (unlikely(atomic_load_explicit(&w->dp->standby, memory_order_relaxed)))
				sg_drop_burst(w, pkts, n, SG_DROP_FLEET_STANDBY);
			else
				sg_egress_vm(w, vmi, pkts, n);
			t0 = sg_cycles_start(w);
		}
		/* Frames other workers decrypted for this VM, behind any pending ones. */
		handed = sg_vm_flush_pending(w, vm);
		if (vm->n_pend + w->dp->burst <= SG_VM_PENDING) {
			n = rte_ring_dequeue_burst(vm->txr, (void **)pkts, w->dp->burst, NULL);
			if (n > 0) {
				handed += n;
				sg_vm_deliver(w, vmi, pkts, n);
			}
		}
		if (handed > 0)
			sg_cycles_add(w, SG_STAGE_VM_RX, t0, handed);
		total += handed;
	}
	return total;
}

unsigned sg_worker_poll(struct sg_worker *w)
{
	return poll_nic(w) + poll_vms(w);
}

int sg_worker_main(void *arg)
{
	struct sg_worker *w = arg;
	struct sg_dp *dp = w->dp;
	unsigned idle = 0;

	rte_rcu_qsbr_thread_register(dp->qsbr, w->id);
	rte_rcu_qsbr_thread_online(dp->qsbr, w->id);
	while (!atomic_load_explicit(&dp->quit, memory_order_relaxed)) {
		unsigned work;

		w->now_ns = sg_now_ns();
		work = sg_worker_poll(w);
		w->st.loops++;
		rte_rcu_qsbr_quiescent(dp->qsbr, w->id);
		if (work > 0) {
			w->st.busy_loops++;
			idle = 0;
			continue;
		}
		/*
		 * Optional back-off for shared machines: after many empty rounds, sleep
		 * briefly.  Off (idle_sleep_us = 0) on a dedicated gateway.
		 */
		if (dp->idle_sleep_us > 0 && ++idle > 256) {
			struct timespec ts = { 0, (long)dp->idle_sleep_us * 1000 };

			rte_rcu_qsbr_thread_offline(dp->qsbr, w->id);
			nanosleep(&ts, NULL);
			rte_rcu_qsbr_thread_online(dp->qsbr, w->id);
		}
	}
	rte_rcu_qsbr_thread_offline(dp->qsbr, w->id);
	rte_rcu_qsbr_thread_unregister(dp->qsbr, w->id);
	return 0;
}
