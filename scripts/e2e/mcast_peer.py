"""Multicast peers of t_multicast.sh, one program for both sides.

  recv GROUP PORT IFADDR OUT   join GROUP on the interface with address IFADDR (if:NAME: with an
                              ip_mreqn naming interface NAME by index), bound to 0.0.0.0:PORT
                              (SO_REUSEADDR, so two processes share it), write READY to OUT, then a
                              line per datagram ("DATA TTL"), until "end" or 20 s
  recv6 GROUP PORT IFNAME OUT  as recv, the way Java's MulticastSocket does it on Linux: an
                              AF_INET6 socket on [::]:PORT, the IPV6_MULTICAST_* options set beside
                              IP_MULTICAST_IF, and the interface named by the IPv4 address the
                              namespace lists on IFNAME (SIOCGIFADDR)
  send GROUP PORT IFADDR [TTL] [LOOP] WORD...   send each WORD to GROUP:PORT through IFADDR
  query IFADDR                 send an IGMPv3 general query (Max Resp Time 1 s) to 224.0.0.1
"""
import fcntl
import socket
import struct
import sys
import time

IP_RECVTTL = 12
SIOCGIFADDR = 0x8915


def listed_address(name):
    """The IPv4 address the namespace lists on interface NAME, as Java's NetworkInterface reads it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()))
    return socket.inet_ntoa(ifreq[20:24])


def recv(group, port, ifaddr, out, family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port))
    if family == socket.AF_INET6:
        index = socket.if_nametoindex(ifaddr)
        ifaddr = listed_address(ifaddr)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
        got = (s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS),
               s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF))
        if got != (1, index):
            raise SystemExit("IPV6_MULTICAST_HOPS, IPV6_MULTICAST_IF read back as %s" % (got,))
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
            f.write("%s %d %s\n" % (data.decode(), ttl, src[0].removeprefix("::ffff:")))
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
elif sys.argv[1] == "recv6":
    recv(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], socket.AF_INET6)
elif sys.argv[1] == "query":
    query(sys.argv[2])
else:
    send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7:])
