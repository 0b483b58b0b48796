#!/usr/bin/env python3
"""An SNTP client (RFC 4330) for t_ntp_server: ntp_client.py SERVER COUNT.

Asks SERVER:123 COUNT times, one query at a time, each with its own transmit timestamp, and
checks each answer: server mode (4), from SERVER:123, our transmit timestamp echoed as its origin
(RFC 5905 §8), and its receive and transmit timestamps within the time the query was out (within
1 ms: the server's clock is this machine's). Prints "N answered, L lost, W wrong, T out of order".
"""
import socket
import struct
import sys
import time

NTP_EPOCH = 2208988800  # seconds from 1900 to 1970


def stamp(b):
    sec, frac = struct.unpack(">II", b)
    return sec - NTP_EPOCH + frac / 2**32


def main():
    server, count = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    answered = lost = wrong = disordered = 0
    for i in range(count):
        query = bytearray(48)
        query[0] = (4 << 3) | 3  # version 4, mode 3 (client)
        query[40:48] = struct.pack(">II", 0x5EED0000 + i, i)
        before = time.time()
        s.sendto(bytes(query), (server, 123))
        try:
            data, src = s.recvfrom(1024)
        except socket.timeout:
            lost += 1
            continue
        after = time.time()
        if len(data) < 48 or data[0] & 7 != 4 or src != (server, 123) or data[24:32] != query[40:48]:
            wrong += 1
            continue
        rx, tx = stamp(data[32:40]), stamp(data[40:48])
        if not before - 0.001 <= rx <= tx <= after + 0.001:
            disordered += 1
        answered += 1
    print(f"{answered} answered, {lost} lost, {wrong} wrong, {disordered} out of order")


main()
