#!/usr/bin/env bash
# sixgate end to end, the first milestone: a real wireguard-go client pings a
# VM (a kernel stack behind vhost-user) through sixgate, both ways; the gateway
# answers ND/ARP and echo for its own addresses; telemetry shows the session.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
. "$(dirname "$0")/dp.sh"
lab_init dpping

VM1_NET=fdaa:0:18:0:a7b:0:1:0/112
VM1=fdaa:0:18:0:a7b:0:1:2
C1=fdaa:0:18:ff00::1

C2=fdaa:0:18:ff00::2

dp_lab_net
dp_client_net 1
dp_client_net 2
lab_wg_keys c1
lab_wg_keys c2
dp_conf_begin
dp_conf_vm vm1 "$VM1_NET" "$DP_ORG1" "$(lab_mac_of vm1)"
dp_conf_peer c1 "$(cat "$LAB_DIR/c1.pub")" "$C1/128" "$DP_ORG1"
dp_conf_peer c2 "$(cat "$LAB_DIR/c2.pub")" "$C2/128" "$DP_ORG1"
dp_gw_start vm1
lab_netns vm1
lab_vm_start vm1 vm1 "$LAB_DIR/vm1.sock" "$VM1/112" "$(lab_mac_of vm1)"

# The gateway's own addresses: neighbor discovery, ARP and echo.
lab_check "ping6 the gateway (ND + echo)" lab_wait_for 10 lab_exec c1 ping -6 -c1 -W1 "$DP_GW6"
lab_check "ping the gateway (ARP + echo)" lab_wait_for 10 lab_exec c1 ping -c1 -W1 "$DP_GW4"

dp_client_start 1 "$C1"
# The first initiation may be lost while things come up (5 s retry).
lab_check "ping6 client -> VM through sixgate" lab_wait_for 30 lab_exec c1 ping -6 -c1 -W2 "$VM1"
lab_exec c1 ping -6 -c 20 -i 0.05 -W 2 "$VM1" >"$LAB_DIR/ping-c1.txt" 2>&1
lab_log "client -> VM: $(grep -E 'packets transmitted|rtt' "$LAB_DIR/ping-c1.txt" | tr '\n' ' ')"
lab_check "20 pings client -> VM, none lost" grep -q " 0% packet loss" "$LAB_DIR/ping-c1.txt"
lab_exec vm1 ping -6 -c 10 -i 0.05 -W 2 "$C1" >"$LAB_DIR/ping-vm1.txt" 2>&1
lab_log "VM -> client: $(grep -E 'packets transmitted|rtt' "$LAB_DIR/ping-vm1.txt" | tr '\n' ' ')"
lab_check "10 pings VM -> client, none lost" grep -q " 0% packet loss" "$LAB_DIR/ping-vm1.txt"

hs=$(wg show "${LAB}wg1" latest-handshakes | awk '{print $2}')
lab_check "wireguard-go saw a handshake" test "${hs:-0}" -gt 0
lab_check "telemetry: a session for c1" sh -c "echo /sixgate/sessions | timeout 10 dpdk-telemetry.py -f $DP_PREFIX | grep -q c1/current"
# Per port: the VM's own row counts what the gateway sent it and read from it.
dp_tel /sixgate/ports >"$LAB_DIR/ports.json"
lab_check "telemetry: /sixgate/ports counts vm1's packets, none tx_full" python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["/sixgate/ports"]
v = p["vm1"]
sys.exit(0 if v["kind"] == "vm" and v["tx"] >= 20 and v["rx"] >= 10 and v["tx_full"] == 0
         and p["/nic"]["tx"] >= 30 else 1)' "$LAB_DIR/ports.json"
dec=$(dp_counter decrypted)
lab_log "gateway decrypted $dec packets, encrypted $(dp_counter encrypted)"
lab_check "gateway decrypted the pings" test "${dec:-0}" -ge 30

# A second client of the same org reaches the gateway over IPv4 outside.
dp_client_start 2 "$C2" "$DP_GW4"
lab_check "ping6 client 2 (outer IPv4) -> VM" lab_wait_for 30 lab_exec c2 ping -6 -c1 -W2 "$VM1"
lab_check "10 pings client 2 -> VM, none lost" lab_exec c2 ping -6 -c 10 -i 0.05 -W 2 "$VM1"
lab_check "VM -> client 2 over IPv4" lab_exec vm1 ping -6 -c 3 -i 0.1 -W 2 "$C2"
dp_tel /sixgate/counters >"$LAB_DIR/counters.json"
lab_log "per worker NIC RX: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["/sixgate/counters"]["worker_nic_rx"])' "$LAB_DIR/counters.json")"

dp_finish
