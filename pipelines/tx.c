/* SPDX-License-Identifier: MIT */
/*
 * Output of every stage: the worker's own NIC TX queue, and the VM ports.  A
 * VM port is sent on by its owner only; other workers (and the control lcore)
 * hand it frames through the port's multi-producer ring, and frames the
 * vhost queue does not take at once wait in the owner's pending list.
 */
#include <string.h>

#include <rte_ethdev.h>

#include "pipelines/sg_stages.h"

void sg_nic_send(struct sg_worker *w, struct rte_mbuf **pkts, unsigned n)
{
	uint16_t sent = 0;

	if (n == 0)
		return;
	if (unlikely(atomic_load_explicit(&w->dp->standby, memory_order_relaxed))) {
		sg_drop_burst(w, pkts, n, SG_DROP_FLEET_STANDBY);
		return;
	}
	sent = rte_eth_tx_burst(w->dp->nic_port, w->nic_txq, pkts, (uint16_t)n);
	if (sent < n)
		sent += rte_eth_tx_burst(w->dp->nic_port, w->nic_txq, pkts + sent,
					 (uint16_t)(n - sent));
	w->st.nic_tx += sent;
	for (unsigned i = sent; i < n; i++)
		sg_drop(w, pkts[i], SG_DROP_NIC_TX_FULL);
}

/* Counts n frames for VM vm as dropped because its port did not take them. */
static void vm_tx_full(struct sg_worker *w, struct sg_vm *vm, struct rte_mbuf **pkts, unsigned n)
{
	unsigned i;

	w->vm_st[vm - w->dp->vms].tx_full += n;
	for (i = 0; i < n; i++)
		sg_drop(w, pkts[i], SG_DROP_VM_TX_FULL);
}

unsigned sg_vm_flush_pending(struct sg_worker *w, struct sg_vm *vm)
{
	unsigned sent;

	if (vm->n_pend == 0)
		return 0;
	sent = rte_eth_tx_burst(vm->port_id, 0, vm->pend, (uint16_t)vm->n_pend);
	w->st.vm_tx += sent;
	w->vm_st[vm - w->dp->vms].tx += sent;
	if (sent > 0 && sent < vm->n_pend)
		memmove(vm->pend, vm->pend + sent, (vm->n_pend - sent) * sizeof(vm->pend[0]));
	vm->n_pend -= sent;
	return sent;
}

/* Owner only: the VM port's queue, behind whatever is pending already. */
static void vm_tx(struct sg_worker *w, struct sg_vm *vm, struct rte_mbuf **pkts, unsigned n)
{
	unsigned sent = 0, room, i;

	sg_vm_flush_pending(w, vm);
	if (vm->n_pend == 0) {
		sent = rte_eth_tx_burst(vm->port_id, 0, pkts, (uint16_t)n);
		w->st.vm_tx += sent;
		w->vm_st[vm - w->dp->vms].tx += sent;
	}
	room = SG_VM_PENDING - vm->n_pend;
	for (i = sent; i < n && room > 0; i++, room--)
		vm->pend[vm->n_pend++] = pkts[i];
	vm_tx_full(w, vm, pkts + i, n - i);
}

void sg_vm_deliver(struct sg_worker *w, unsigned vmi, struct rte_mbuf **pkts, unsigned n)
{
	struct sg_vm *vm = &w->dp->vms[vmi];
	unsigned sent;

	if (vm->owner == w->id && w != w->dp->ctl) {
		vm_tx(w, vm, pkts, n);
		return;
	}
	sent = rte_ring_enqueue_burst(vm->txr, (void **)pkts, n, NULL);
	vm_tx_full(w, vm, pkts + sent, n - sent);
}
