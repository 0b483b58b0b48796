"""Multicast peers of t_multicast.sh, one program for both sides.

  recv GROUP PORT IFADDR OUT   join GROUP on the interface with address IFADDR (if:NAME: with an
                              ip_mreqn naming interface NAME by index), bound to 0.0.0.0:PORT
                              (SO_REUSEADDR, so two processes share it), write READY to OUT, then a
                              line per datagram ("DATA TTL"), until "end" or 20 s
  send GROUP PORT IFADDR [TTL] [LOOP] WORD...   send each WORD to GROUP:PORT through IFADDR
  query IFADDR                 send an IGMPv3 general query (Max Resp Time 1 s) to 224.0.0.1
"""
import socket
import struct
import sys
import time

IP_RECVTTL = 12


def recv(group, port, ifaddr, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    if ifaddr.startswith("if:"):
        # struct ip_mreqn naming the interface by its index.
        index = socket.if_nametoindex(ifaddr[3:])
        mreq = struct.pack("4s4si", socket.inet_aton(group), bytes(4), index)
    else:
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(ifaddr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
    s.settimeout(1)
    with open(out, "a") as f:
        f.write("READY\n")
        f.flush()
        end = time.time() + 20
        while time.time() < end:
            try:
                data, anc, _, src = s.recvmsg(2048, 64)
            except socket.timeout:
                continue
            ttl = next((struct.unpack("i", d)[0] for lv, ty, d in anc if ty == socket.IP_TTL), -1)
            f.write("%s %d %s\n" % (data.decode(), ttl, src[0]))
            f.flush()
            if data == b"end":
                break
    s.close()


def send(group, port, ifaddr, ttl, loop, words):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    if ttl != "-":
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(ttl))
    if loop != "-":
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(loop))
    print("ttl", s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL),
          "loop", s.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))
    for w in words:
        s.sendto(w.encode(), (group, port))
        time.sleep(0.05)


def query(ifaddr):
    msg = bytearray(struct.pack("!BBH4sBBH", 0x11, 10, 0, bytes(4), 2, 125, 0))
    total = sum(struct.unpack("!6H", bytes(msg)))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    msg[2:4] = struct.pack("!H", ~total & 0xFFFF)
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
    r.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    r.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
    r.sendto(bytes(msg), ("224.0.0.1", 0))


if sys.argv[1] == "recv":
    recv(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
elif sys.argv[1] == "query":
    query(sys.argv[2])
else:
    send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:])
