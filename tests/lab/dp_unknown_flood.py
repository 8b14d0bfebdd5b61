#!/usr/bin/env python3
"""Floods the gateway with real WireGuard initiations from COUNT fresh static keys.

  dp_unknown_flood.py GW_PUBKEY_B64 GW_ADDR PORT COUNT

Each initiation is made as a client's would be (Noise_IKpsk2: e, es, s, ss,
{t}; mac1 over the gateway's public key), from a static key that no peer
has: the gateway decrypts the static key, finds no loaded peer and may ask
its store.  Prints how many responses came back (there must be none).
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def h(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def hm(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def kdf(c, data, n):
    prk = hm(c, data)
    out, t = [], b""
    for i in range(1, n + 1):
        t = hm(prk, t + bytes([i]))
        out.append(t)
    return out


def pub_bytes(k):
    return k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def aead(key, pt, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 12, pt, ad)


def initiation(gw_pub):
    c = h(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
    hh = h(h(c, b"WireGuard v1 zx2c4 Jason@zx2c4.com"), gw_pub)
    s = X25519PrivateKey.generate()
    e = X25519PrivateKey.generate()
    gw = X25519PublicKey.from_public_bytes(gw_pub)
    epub = pub_bytes(e)
    (c,) = kdf(c, epub, 1)
    hh = h(hh, epub)
    c, k = kdf(c, e.exchange(gw), 2)
    static = aead(k, pub_bytes(s), hh)
    hh = h(hh, static)
    c, k = kdf(c, s.exchange(gw), 2)
    now = time.time()
    tai = struct.pack(">QI", 0x400000000000000A + int(now), int((now % 1) * 1e9))
    ts = aead(k, tai, hh)
    msg = struct.pack("<II", 1, int.from_bytes(os.urandom(4), "little")) + epub + static + ts
    mac1 = hashlib.blake2s(msg, key=h(b"mac1----", gw_pub), digest_size=16).digest()
    return msg + mac1 + b"\0" * 16


def main():
    gw_pub = base64.b64decode(sys.argv[1])
    addr, port, count = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    msgs = [initiation(gw_pub) for _ in range(count)]
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setblocking(False)
    for m in msgs:
        s.sendto(m, (addr, port))
        time.sleep(0.001)
    answers, end = 0, time.monotonic() + 2
    while time.monotonic() < end:
        try:
            d = s.recv(2048)
            answers += d[:1] == b"\x02"
        except BlockingIOError:
            time.sleep(0.01)
    print(answers)


if __name__ == "__main__":
    main()
