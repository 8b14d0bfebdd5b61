#!/usr/bin/env python3
"""TCP transfer with a SHA-256 check, for the data-path lab tests.

  dp_xfer.py recv ADDR PORT OUT.json     accept one connection, hash what arrives
  dp_xfer.py send ADDR PORT MBYTES OUT.json [SECONDS_PACING]
                                         send MBYTES of random data, hash it

Both sides write {"bytes": N, "sha256": HEX, "seconds": S} to OUT.json, so the
test compares what was sent with what arrived.
"""
import hashlib
import json
import os
import socket
import sys
import time


def recv(addr, port, out):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    srv.settimeout(120)
    conn, _ = srv.accept()
    conn.settimeout(60)
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    while True:
        b = conn.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    dt = time.monotonic() - t0
    with open(out, "w") as f:
        json.dump({"bytes": n, "sha256": h.hexdigest(), "seconds": dt}, f)


def send(addr, port, mbytes, out, pace=0.0):
    s = socket.create_connection((addr, port), timeout=30)
    s.settimeout(60)
    h = hashlib.sha256()
    total = mbytes * 1024 * 1024
    n = 0
    t0 = time.monotonic()
    chunk = 1 << 16
    while n < total:
        b = os.urandom(min(chunk, total - n))
        s.sendall(b)
        h.update(b)
        n += len(b)
        if pace:
            time.sleep(pace)
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver to close: everything was read.
    s.recv(1)
    s.close()
    dt = time.monotonic() - t0
    with open(out, "w") as f:
        json.dump({"bytes": n, "sha256": h.hexdigest(), "seconds": dt}, f)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
             float(sys.argv[6]) if len(sys.argv) > 6 else 0.0)
