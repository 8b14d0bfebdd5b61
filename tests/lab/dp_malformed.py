#!/usr/bin/env python3
"""Sends malformed packets at the gateway, for test_dp_malformed.sh.

  dp_malformed.py IFACE GW_MAC GW6 GW4 SRC6 SRC4 PORT CASE COUNT

Runs in the client's namespace.  Every case sends COUNT packets that the
gateway must drop under one named reason (printed by the test).  Cases that
need a real data message (bad_tag, replay) first capture one from the
client's own WireGuard traffic on IFACE, so keep some running meanwhile (a
ping: replay also waits for a reply from the gateway before it resends).
Plain sockets only (no scapy): UDP sockets for payload cases, AF_PACKET for
frames with broken headers.
"""
import os
import socket
import struct
import sys
import time

from labpkt import csum, mac

ETH_P_ALL = 0x0003


class Lab:
    def __init__(self, argv):
        (self.iface, gw_mac, self.gw6, self.gw4, self.src6, self.src4, port) = argv[:7]
        self.gw_mac = mac(gw_mac)
        self.port = int(port)
        self.raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.raw.bind((self.iface, 0))
        self.my_mac = self.raw.getsockname()[4][:6]

    def udp6(self, payload, port=None):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.sendto(payload, (self.gw6, port or self.port))
        s.close()

    def frame6(self, payload, proto=17, plen=None, dst_mac=None, udp_csum=None, sport=40000):
        src = socket.inet_pton(socket.AF_INET6, self.src6)
        dst = socket.inet_pton(socket.AF_INET6, self.gw6)
        ulen = 8 + len(payload)
        udp = struct.pack("!HHHH", sport, self.port, ulen, 0) + payload
        ph = src + dst + struct.pack("!I3xB", ulen, 17)
        c = csum(ph + udp) or 0xFFFF
        if udp_csum is not None:
            c = udp_csum
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        ip = struct.pack("!IHBB", 6 << 28, plen if plen is not None else len(udp), proto, 64)
        eth = (dst_mac or self.gw_mac) + self.my_mac + b"\x86\xdd"
        self.raw.send(eth + ip + src + dst + udp)

    def frame4(self, payload, ip_csum=None):
        src = socket.inet_aton(self.src4)
        dst = socket.inet_aton(self.gw4)
        udp = struct.pack("!HHHH", 40000, self.port, 8 + len(payload), 0) + payload
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
        c = csum(hdr) if ip_csum is None else ip_csum
        hdr = hdr[:10] + struct.pack("!H", c) + hdr[12:]
        self.raw.send(self.gw_mac + self.my_mac + b"\x08\x00" + hdr + udp)

    def frames(self, timeout):
        """(direction, WireGuard message) of each UDP datagram over IPv6
        between us and the gateway's port seen on IFACE, in the order the
        interface saw them, for up to timeout seconds."""
        end = time.monotonic() + timeout
        self.raw.settimeout(1)
        while time.monotonic() < end:
            try:
                f, addr = self.raw.recvfrom(4096)
            except socket.timeout:
                continue
            if f[12:14] != b"\x86\xdd" or f[20] != 17:
                continue
            sport, dport = struct.unpack("!HH", f[54:58])
            if addr[2] == socket.PACKET_OUTGOING and dport == self.port:
                yield "out", f[62:]
            elif addr[2] == socket.PACKET_HOST and sport == self.port:
                yield "in", f[62:]

    def capture_data(self, timeout=10):
        """One WireGuard data message (type 4, not a keepalive) sent by us to the gateway."""
        for way, wg in self.frames(timeout):
            if way == "out" and len(wg) > 32 and wg[0] == 4:
                return wg
        raise SystemExit("no data message captured")

    def await_processed(self, timeout=10):
        """Returns once the gateway has processed the data message that
        capture_data just returned: our client sent a later data message on
        the same flow, and after that a data message (an echo reply) came
        back from the gateway.  The gateway handles one flow in order on one
        worker, so a reply to the captured message or to any later one comes
        only once the captured one was decrypted (a reply to an earlier one
        would have to be more than a whole ping interval late)."""
        later = False
        for way, wg in self.frames(timeout):
            if len(wg) < 32 or wg[0] != 4:
                continue
            if way == "out":
                later = True
            elif later and len(wg) > 32:
                return
        raise SystemExit("no reply from the gateway after the captured message")


def main():
    lab = Lab(sys.argv[1:])
    case, count = sys.argv[8], int(sys.argv[9])
    for i in range(count):
        if case == "wg_size":  # a data message shorter than header + tag
            lab.udp6(b"\x04\0\0\0" + os.urandom(20))
        elif case == "wg_size_init":  # an initiation of the wrong length
            lab.udp6(b"\x01\0\0\0" + os.urandom(100))
        elif case == "wg_type":
            lab.udp6(b"\x07\0\0\0" + os.urandom(60))
        elif case == "wg_reserved":
            lab.udp6(b"\x04\0\x01\0" + os.urandom(60))
        elif case == "wg_unknown_index":
            lab.udp6(b"\x04\0\0\0" + os.urandom(4) + struct.pack("<Q", i) + os.urandom(48))
        elif case == "udp_port":
            lab.udp6(b"\x04\0\0\0" + os.urandom(60), port=lab.port + 1)
        elif case == "ip_fragment":  # too big for one frame: the kernel fragments it
            lab.udp6(b"\x04\0\0\0" + os.urandom(3000))
        elif case == "ip_truncated":  # payload length beyond the frame
            lab.frame6(b"\x04\0\0\0" + os.urandom(40), plen=400)
        elif case == "udp_csum":
            lab.frame6(b"\x04\0\0\0" + os.urandom(40), udp_csum=0x1234)
        elif case == "ip_proto":  # an IPv6 packet for us that is neither UDP nor ICMPv6
            lab.frame6(os.urandom(40), proto=6)
        elif case == "eth_not_for_us":
            lab.frame6(b"\x04\0\0\0" + os.urandom(40), dst_mac=b"\x02\x99\x99\x99\x99\x99")
        elif case == "ip_csum":
            lab.frame4(b"\x04\0\0\0" + os.urandom(40), ip_csum=0x1111)
        elif case in ("wg_bad_tag", "wg_replay"):
            if i == 0:
                wg = lab.capture_data()
                if case == "wg_replay":
                    # From another port the copy may reach another worker;
                    # sent at once, it could overtake the original there, be
                    # accepted and move the client's endpoint.
                    lab.await_processed()
            if case == "wg_replay":
                lab.udp6(wg)
            else:
                # A counter far ahead (passes the replay pre-check), ciphertext flipped.
                ctr = struct.unpack("<Q", wg[8:16])[0] + 100000 + i
                body = bytearray(wg[16:])
                body[-1] ^= 0x55
                lab.udp6(wg[:8] + struct.pack("<Q", ctr) + bytes(body))
        else:
            raise SystemExit("unknown case " + case)
        time.sleep(0.01)


if __name__ == "__main__":
    main()
