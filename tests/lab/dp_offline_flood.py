#!/usr/bin/env python3
"""dp_offline_flood.py PREFIX COUNT ROUNDS: from a VM, ROUNDS datagrams to each
of COUNT addresses PREFIX::1 .. PREFIX::COUNT (peers that exist but never
answer), as fast as the socket takes them.  Prints how many were sent."""
import socket
import sys

prefix, count, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
sent = 0
payload = b"x" * 64
for _ in range(rounds):
    for n in range(1, count + 1):
        try:
            s.sendto(payload, ("%s::%x" % (prefix, n), 9))
            sent += 1
        except OSError:
            pass
print(sent)
