#!/usr/bin/env python3
"""A DNS load client for the DNS server tests: dns_client.py SERVER COUNT [NAME ADDRESS].

Sends COUNT queries for NAME (A) over UDP to SERVER:53, 20 outstanding at a time, and checks each
answer: its id, its source, and that it ends with ADDRESS. Then asks big.example.test TXT (larger
than any UDP answer the servers give) without EDNS and with EDNS sizes 512, 1232 and 4096, and
prints whether each came truncated (TC) with how many answers an EDNS one held. Prints
"COUNT answered, L lost, W wrong" last. Each wait is bounded (2 s), so the client always ends.
A NAME with "{}" in it is a new name for each query ("{}" the query's number), so that a
forwarding server asks its upstream each time; then no TXT question is asked.
"""
import socket
import struct
import sys


def query(qid, name, qtype=1, edns=None):
    head = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0)
    body = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    body += struct.pack(">HH", qtype, 1)
    if edns:
        # An OPT record (RFC 6891 §6.1.2): root name, type 41, CLASS the UDP payload size.
        body += b"\0" + struct.pack(">HHIH", 41, edns, 0, 0)
    return head + body


def main():
    server, count = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "www.example.test"
    want = socket.inet_aton(sys.argv[4] if len(sys.argv) > 4 else "10.77.0.9")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    answered = lost = wrong = 0
    sent = 0
    while sent < count:
        window = min(20, count - sent)
        ids = set()
        for k in range(window):
            qid = (sent + k) & 0xFFFF
            ids.add(qid)
            s.sendto(query(qid, name.replace("{}", str(sent + k))), (server, 53))
        try:
            while ids:
                data, src = s.recvfrom(4096)
                qid = struct.unpack(">H", data[:2])[0]
                if qid in ids and src == (server, 53) and data.endswith(want):
                    ids.discard(qid)
                    answered += 1
                else:
                    wrong += 1
        except socket.timeout:
            lost += len(ids)
        sent += window
    for size in () if "{}" in name else (None, 512, 1232, 4096):
        s.sendto(query(0xBEEF, "big.example.test", 16, size), (server, 53))
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            print(f"big TXT, EDNS {size or 'none'}: no answer")
            continue
        flags, ancount = struct.unpack(">HxxH", data[2:8])
        tc = "truncated" if flags & 0x0200 else "whole"
        print(f"big TXT, EDNS {size or 'none'}: {tc}" + (f" with {ancount} answers" if size else ""))
    print(f"{answered} answered, {lost} lost, {wrong} wrong")


main()
