#!/usr/bin/env python3
"""Floods the gateway with handshake initiations that carry a valid mac1.

  dp_hsflood.py GW_PUBKEY_B64 GW_ADDR PORT COUNT [RATE]

RATE: messages a second (default: as fast as the socket takes them).

mac1 is computed as WireGuard does (BLAKE2s keyed with HASH("mac1----" ||
the gateway's public key)), so the messages pass the cheap check and reach
the per-source rate limit; their contents are random, so none could ever
complete a handshake.  All come from one UDP socket (one source).
"""
import base64
import hashlib
import os
import socket
import sys
import time


def main():
    pub = base64.b64decode(sys.argv[1])
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    start = time.monotonic()
    mac1_key = hashlib.blake2s(b"mac1----" + pub).digest()
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    for i in range(count):
        if rate > 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        body = b"\x01\0\0\0" + os.urandom(112)
        mac1 = hashlib.blake2s(body, digest_size=16, key=mac1_key).digest()
        s.sendto(body + mac1 + b"\0" * 16, (addr, port))


if __name__ == "__main__":
    main()
