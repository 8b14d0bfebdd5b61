#!/usr/bin/env python3
"""TCP transfer with a SHA-256 check, for the data-path lab tests.

  dp_xfer.py recv ADDR PORT OUT.json     accept one connection, hash what arrives
  dp_xfer.py send ADDR PORT MBYTES OUT.json [SECONDS_PACING [STOP_FILE]]
                                         send MBYTES of random data, hash it;
                                         with STOP_FILE, go on (paced) until
                                         that file exists

Both sides write {"bytes": N, "sha256": HEX, "seconds": S} to OUT.json, so the
test compares what was sent with what arrived; the sender adds "retrans", the
connection's TCP retransmissions (tcpi_total_retrans), and the receiver
"stalls", its receive gaps longer than a second as [start, seconds] after the
first byte.
"""
import hashlib
import json
import os
import socket
import struct
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
    last = t0
    stalls = []
    while True:
        b = conn.recv(1 << 16)
        now = time.monotonic()
        if now - last > 1.0:
            stalls.append([round(last - t0, 2), round(now - last, 2)])
        last = now
        if not b:
            break
        h.update(b)
        n += len(b)
    dt = time.monotonic() - t0
    with open(out, "w") as f:
        json.dump({"bytes": n, "sha256": h.hexdigest(), "seconds": dt, "stalls": stalls}, f)


def total_retrans(s):
    # struct tcp_info: 8 bytes of u8 fields, then u32s; tcpi_total_retrans
    # is the 24th u32 (offset 100).
    try:
        info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
        return struct.unpack_from("<I", info, 100)[0] if len(info) >= 104 else -1
    except OSError:
        return -1


def send(addr, port, mbytes, out, pace=0.0, stop=None):
    s = socket.create_connection((addr, port), timeout=30)
    s.settimeout(60)
    h = hashlib.sha256()
    total = mbytes * 1024 * 1024
    n = 0
    t0 = time.monotonic()
    chunk = 1 << 16
    while n < total or (stop and not os.path.exists(stop)):
        b = os.urandom(min(chunk, total - n) if n < total else chunk)
        s.sendall(b)
        h.update(b)
        n += len(b)
        if pace:
            time.sleep(pace)
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver to close: everything was read.
    s.recv(1)
    retrans = total_retrans(s)
    s.close()
    dt = time.monotonic() - t0
    with open(out, "w") as f:
        json.dump({"bytes": n, "sha256": h.hexdigest(), "seconds": dt, "retrans": retrans}, f)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
             float(sys.argv[6]) if len(sys.argv) > 6 else 0.0,
             sys.argv[7] if len(sys.argv) > 7 else None)
