#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/seeds/TARGET/) from bytes captured from real
traffic: the Ethernet frames of src/wire/testdata.rs, the DNS messages of src/wire/dns.rs's tests,
and the pcap files under fuzz/captures/. Run from anywhere; the seeds are regenerated whole."""

import hashlib
import os
import re
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "seeds")


def testdata_frames():
    text = open(os.path.join(ROOT, "src/wire/testdata.rs")).read()
    for name, body in re.findall(r"pub const (\w+): \[u8; \d+\] = \[(.*?)\];", text, re.S):
        yield name, bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))


def dns_messages():
    text = open(os.path.join(ROOT, "src/wire/dns.rs")).read()
    for name, body in re.findall(r'const ([QR]_\w+): &str =\s*"([0-9a-f]+)"', text):
        yield name, bytes.fromhex(body)


def pcap_frames():
    """Ethernet frames of every fuzz/captures/*.pcap (classic pcap, LINKTYPE_ETHERNET)."""
    d = os.path.join(ROOT, "fuzz", "captures")
    if not os.path.isdir(d):
        return
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".pcap"):
            continue
        data = open(os.path.join(d, fn), "rb").read()
        magic = data[:4]
        endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        linktype = struct.unpack(endian + "I", data[20:24])[0]
        if linktype != 1:
            continue
        at, i = 24, 0
        while at + 16 <= len(data):
            _, _, incl, _ = struct.unpack(endian + "IIII", data[at:at + 16])
            yield f"{fn}#{i}", data[at + 16:at + 16 + incl]
            at += 16 + incl
            i += 1


def layers(frame):
    """(ip, l4, protocol, src, dst) of an IPv4 frame, or None."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    ip = ip[:total]
    return ip, ip[ihl:], ip[9], ip[12:16], ip[16:20]


def main():
    seeds = {t: {} for t in ("wire_ethernet", "wire_arp", "wire_ipv4", "wire_icmp", "wire_igmp", "wire_udp",
                              "wire_tcp", "wire_dns", "stack_input")}

    def add(target, data):
        seeds[target][hashlib.sha1(data).hexdigest()[:16]] = data

    frames = list(testdata_frames()) + list(pcap_frames())
    for _, f in frames:
        add("wire_ethernet", f)
        if f[12:14] == b"\x08\x06":
            add("wire_arp", f[14:])
        l = layers(f)
        if l is None:
            continue
        ip, l4, proto, src, dst = l
        add("wire_ipv4", b"\x00" + ip)
        if proto == 1:
            add("wire_icmp", b"\x00" + l4)
        elif proto == 2:
            add("wire_igmp", b"\x00" + l4)
        elif proto == 17:
            add("wire_udp", b"\x00" + src + dst + l4)
            if len(l4) > 8 and 53 in struct.unpack(">HH", l4[:4]):
                add("wire_dns", l4[8:])
        elif proto == 6:
            add("wire_tcp", b"\x00" + src + dst + l4)
    for _, m in dns_messages():
        add("wire_dns", m)
        add("wire_dns", b"\x0c" + m)  # a name read from offset 12 on its own

    # The stack: profile 0 (full checksums, every option), then one captured packet as a raw IP
    # op (flags 0x07: our addresses, transport checksum fixed, IP checksum computed) or a raw
    # frame op (flag 1: our MAC), then the program reading, and time passing.
    recv_all = bytes([5, 0, 0x7f, 5, 1, 0x7f, 5, 2, 0x7f])
    for _, f in frames:
        l = layers(f)
        if l is not None:
            ip = l[0]
            add("stack_input", bytes([0, 1, 0x07]) + struct.pack(">H", len(ip)) + ip + recv_all)
        add("stack_input", bytes([0, 0, 0x01]) + struct.pack(">H", len(f)) + f + bytes([4, 0x45]))
    # Segments on each of the set-up connections: in-order data, an ACK of everything, a FIN;
    # then reads, sends, an accept, and the timers.
    def seg(pick, flags, opts=0, opt_bytes=b"", length=0, how=0):
        # pick, flags, seq (exact), ack (exact), window 4096, options, length byte, how.
        return (bytes([2, pick, flags, 0, 0, 0, 0, 0, 0, 0x10, 0x00, opts]) + opt_bytes
                + bytes([length, how]))

    for conn in range(7):
        ops = (seg(conn, 0x18, length=0xbf) + bytes([5, conn, 0x40]) + seg(conn, 0x10)
               + bytes([6, conn, 50]) + seg(conn, 0x11) + bytes([8, 4, 0x85]))
        add("stack_input", b"\x00" + ops)
        add("stack_input", b"\x7f" + ops)  # no options, offloaded checksums
        # The same data in reversed 16-byte fragments.
        add("stack_input", b"\x00" + seg(conn, 0x18, length=0xbf, how=0xc1) + bytes([5, conn, 0x40]))
    # A new connection to the listener (the 8th tuple): SYN with options, ACK, accept, data.
    syn = bytes([2, 7, 3]) + seg(0, 0x02)[2:11] + bytes([0x0f, 0x05, 0xb4, 7, 0]) + bytes([0, 0])
    add("stack_input", b"\x00" + syn + seg(7, 0x10) + bytes([8]) + seg(7, 0x18, length=0xbf)
        + bytes([5, 6, 0x7f]))
    # UDP to the bound socket, read back; in fragments too.
    add("stack_input", b"\x00" + bytes([10, 0, 0, 5]) + b"hello" + bytes([10, 0x41]))
    add("stack_input", b"\x00" + bytes([10, 4, 0x0b, 0xb8]) + bytes(range(256)) * 12 + bytes([4, 1, 10, 0xff]))

    for target, items in seeds.items():
        d = os.path.join(OUT, target)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for name, data in items.items():
            open(os.path.join(d, name), "wb").write(data)
        print(f"{target}: {len(items)} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
