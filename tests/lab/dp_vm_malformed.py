#!/usr/bin/env python3
"""Sends crafted frames from a VM onto its tap, for test_dp_vm_malformed.sh.

  dp_vm_malformed.py IFACE GW_MAC SRC6 PEER6 CASE COUNT

Runs in the VM's namespace.  IFACE is the VM's tap, GW_MAC the gateway's
VM-side MAC, SRC6 the VM's address, PEER6 a client's address (a real peer of
the VM's org).  Every case sends COUNT frames; the bad ones must be dropped
under one named reason (the test reads the counters).  The script prints
"answers N": how many frames the gateway sent back to the VM that answer the
case's frames (echo replies for the valid case and the mixed burst, Packet
Too Big for the oversized error), captured on IFACE.  mixed_burst sends
COUNT rounds of 8 x MIXED back to back: one poll of the gateway sees valid
and bad frames of several reasons together.  Plain AF_PACKET sockets, frames
built by hand (no scapy).
"""
import os
import socket
import struct
import sys
import time

from labpkt import csum, mac

ETH_P_IPV6 = 0x86DD
IDENT = os.getpid() & 0xFFFF


def a6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def icmp6(src, dst, typ, body):
    """An ICMPv6 message with its checksum over the pseudo-header."""
    msg = struct.pack("!BBH", typ, 0, 0) + body
    ph = src + dst + struct.pack("!I3xB", len(msg), 58)
    c = csum(ph + msg)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def ip6(src, dst, payload, nh=58, plen=None, version=6):
    hdr = struct.pack("!IHBB", version << 28, len(payload) if plen is None else plen, nh, 64)
    return hdr + src + dst + payload


def echo(src, dst, seq, size=32):
    return ip6(src, dst, icmp6(src, dst, 128, struct.pack("!HH", IDENT, seq) + b"\xa5" * size))


class Vm:
    def __init__(self, argv):
        self.iface, gw_mac, src6, peer6 = argv[:4]
        self.gw_mac = mac(gw_mac)
        self.src = a6(src6)
        self.peer = a6(peer6)
        # Protocol 0: this socket only sends.  A second one captures what comes back.
        self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self.tx.bind((self.iface, 0))
        self.my_mac = self.tx.getsockname()[4][:6]
        self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
        self.rx.bind((self.iface, ETH_P_IPV6))

    def send(self, payload, ethertype):
        self.tx.send(self.gw_mac + self.my_mac + struct.pack("!H", ethertype) + payload)

    def answers(self, want, timeout=1.5):
        """Counts the frames from the gateway for which want(ipv6 packet) holds."""
        n = 0
        end = time.monotonic() + timeout
        self.rx.settimeout(0.1)
        while time.monotonic() < end:
            try:
                f, addr = self.rx.recvfrom(4096)
            except socket.timeout:
                continue
            if addr[2] != socket.PACKET_OUTGOING and len(f) >= 62 and want(f[14:]):
                n += 1
        return n


def is_echo_reply(vm):
    def want(p):
        ours = p[44:46] == struct.pack("!H", IDENT)
        return p[6] == 58 and p[40] == 129 and p[8:24] == vm.peer and ours

    return want


def is_too_big(p):
    return p[6] == 58 and p[40] == 2


def oversized_error(vm, i):
    """An ICMPv6 Destination Unreachable of 1460 bytes quoting a packet of the peer's."""
    quoted = echo(vm.peer, vm.src, i, 1460 - 40 - 8 - 48)
    return ip6(vm.src, vm.peer, icmp6(vm.src, vm.peer, 1, b"\0\0\0\0" + quoted))


OUTSIDE = a6("fdaa:0:18:0:a7b:0:2:5")  # in the org, outside the VM's /112


def arp(vm, i):  # who-has 198.18.0.1
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + vm.my_mac
    body += socket.inet_aton("198.18.1.2") + b"\0" * 6 + socket.inet_aton("198.18.0.1")
    return body, 0x0806


def ipv4(vm, i):  # an IPv4 echo request, ethertype 0x0800
    icmp = struct.pack("!BBHHH", 8, 0, 0, IDENT, i) + b"\xa5" * 32
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    src, dst = socket.inet_aton("198.18.1.2"), socket.inet_aton("198.18.0.11")
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0, src, dst)
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + icmp, 0x0800


def echo_to(dst):
    return lambda vm, i: (echo(vm.src, a6(dst), i), ETH_P_IPV6)


def vlan(vm, i):  # ethertype 802.1Q, an IPv6 packet behind the tag
    return struct.pack("!HH", 7, ETH_P_IPV6) + echo(vm.src, vm.peer, i), 0x8100


def bad_ip6(**kw):
    """The valid echo request's payload behind an IPv6 header with kw changed."""
    return lambda vm, i: (ip6(vm.src, vm.peer, echo(vm.src, vm.peer, i)[40:], **kw), ETH_P_IPV6)


# Each case: one frame (payload after the Ethernet header, ethertype) per call.
CASES = {
    # A good echo request with junk after the IPv6 packet (the gateway trims it).
    "valid_padded": lambda vm, i: (echo(vm.src, vm.peer, i) + b"\xee" * 16, ETH_P_IPV6),
    # Nothing after the Ethernet header (AF_PACKET sends no less than 14 bytes).
    "eth_header_only": lambda vm, i: (b"", ETH_P_IPV6),
    "ip6_header_cut": lambda vm, i: (echo(vm.src, vm.peer, i)[:20], ETH_P_IPV6),
    "vlan_tagged": vlan,
    "arp": arp,
    "ipv4": ipv4,
    "ip6_version4": bad_ip6(version=4),
    "ip6_plen_long": bad_ip6(plen=400),  # 40 bytes of payload in the frame
    "vm_spoof": lambda vm, i: (echo(OUTSIDE, vm.peer, i), ETH_P_IPV6),
    "no_peer": echo_to("fdaa:0:18:ff00::77"),  # in the org, in no peer's allowed IPs
    "org_isolation": echo_to("fdaa:0:29:ff00::2"),  # a client address of org 2
    # Over the MTU, but an ICMPv6 error is never answered with another one.
    "too_big_icmp_error": lambda vm, i: (oversized_error(vm, i), ETH_P_IPV6),
}
# One round of the mixed burst: a valid frame between bad ones, back to back.
MIXED = ("valid_padded", "vm_spoof", "eth_header_only", "no_peer", "org_isolation",
         "too_big_icmp_error")


def main():
    vm = Vm(sys.argv[1:])
    case, count = sys.argv[5], int(sys.argv[6])
    want = {"valid_padded": is_echo_reply(vm), "too_big_icmp_error": is_too_big}.get(case)
    if case == "mixed_burst":  # count rounds of 8 x MIXED each, every reason 8 * count times
        want = is_echo_reply(vm)
        for i in range(count):
            for k in range(8):
                for c in MIXED:
                    vm.send(*CASES[c](vm, i * 8 + k))
            time.sleep(0.01)
    elif case in CASES:
        for i in range(count):
            vm.send(*CASES[case](vm, i))
            time.sleep(0.01)
    else:
        raise SystemExit("unknown case " + case)
    print("answers %d" % (vm.answers(want) if want else 0))


if __name__ == "__main__":
    main()
