"""Helpers shared by the lab's frame-crafting scripts (dp_malformed.py,
dp_vm_malformed.py): the Internet checksum and MAC address parsing."""
import struct


def csum(data):
    """RFC 1071 ones' complement checksum of data (padded to even length)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def mac(s):
    """"02:00:00:5e:00:01" -> 6 bytes."""
    return bytes(int(x, 16) for x in s.split(":"))
