"""UDP server side of t_udp_server.sh: what a socket on 10.77.0.2 is told about datagrams.

    udp_server.py cmsg PORT       IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR set after
                                  bind, on a wildcard-bound socket; prints each datagram's control
                                  messages, and answers it with sendmsg(IP_PKTINFO) naming the
                                  destination it came to as the source (as dnsmasq does); also
                                  prints what sendmsg says to sources and interfaces Linux refuses.
    udp_server.py reuse PORT      two SO_REUSEADDR sockets on one port (a third without the option
                                  is refused), then says which socket got each datagram.
    udp_server.py reuseport PORT  two SO_REUSEPORT sockets on one port; each answers the datagrams it
                                  gets with its name, until 5 s pass without any.

Prints READY once it listens, and one line per event, flushed.
"""
import errno
import select
import socket
import struct
import sys

IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR = 8, 12, 13, 20
IP_TTL, IP_TOS, IP_ORIGDSTADDR = 2, 1, 20


def say(*a):
    print(*a, flush=True)


def pktinfo(ifindex, spec_dst):
    return [(socket.IPPROTO_IP, IP_PKTINFO,
             struct.pack("I4s4s", ifindex, socket.inet_aton(spec_dst), bytes(4)))]


def cmsg(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", port))
    for o in (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR):
        s.setsockopt(socket.IPPROTO_IP, o, 1)
    say("options", [s.getsockopt(socket.IPPROTO_IP, o)
                    for o in (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR)])
    say("READY")
    s.settimeout(20)
    for _ in range(2):
        data, anc, flags, src = s.recvmsg(100, 1024)
        say("got", data.decode(), "from", src[0])
        dst = None
        for level, kind, val in anc:
            if (level, kind) == (socket.IPPROTO_IP, IP_PKTINFO):
                ifindex, spec, addr = struct.unpack("I4s4s", val)
                dst = socket.inet_ntoa(addr)
                # The index is the one the namespace's interface has (what `ip link` shows).
                say("  pktinfo ifname", socket.if_indextoname(ifindex),
                    "spec_dst", socket.inet_ntoa(spec), "addr", dst)
            elif (level, kind) == (socket.IPPROTO_IP, IP_TTL):
                say("  ttl", struct.unpack("i", val)[0])
            elif (level, kind) == (socket.IPPROTO_IP, IP_TOS):
                say("  tos", hex(val[0]), "len", len(val))
            elif (level, kind) == (socket.IPPROTO_IP, IP_ORIGDSTADDR):
                fam, p, a = struct.unpack("!HH4s8x", val)
                say("  origdst", socket.inet_ntoa(a), p)
            else:
                say("  other", level, kind)
        # The answer comes from the address the question went to (unicast), or ours.
        spec = "0.0.0.0" if dst is None or dst.endswith(".255") else dst
        s.sendmsg([b"re:" + data], pktinfo(0, spec), 0, src)
    for ifindex, spec in ((0, "10.77.0.9"), (0, "127.0.0.1"), (0, "224.0.0.1"), (9999, "0.0.0.0")):
        try:
            s.sendmsg([b"x"], pktinfo(ifindex, spec), 0, src)
            say("sendmsg pktinfo", ifindex, spec, "sent")
        except OSError as e:
            say("sendmsg pktinfo", ifindex, spec, errno.errorcode[e.errno])
    for c in ([(socket.IPPROTO_IP, IP_PKTINFO, b"short")],
              [(socket.IPPROTO_IP, IP_TTL, struct.pack("i", 0))],
              [(socket.IPPROTO_IP, IP_TTL, struct.pack("i", 9))],
              [(socket.IPPROTO_IP, IP_TOS, b"\x10")]):
        try:
            s.sendmsg([b"c"], c, 0, src)
            say("sendmsg", c[0][1], len(c[0][2]), "sent")
        except OSError as e:
            say("sendmsg", c[0][1], len(c[0][2]), errno.errorcode[e.errno])


def reuse(port):
    socks = []
    for name in ("first", "second"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.bind(("0.0.0.0", port))
        say(name, "bound, SO_REUSEADDR", s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR))
        socks.append((name, s))
    third = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        third.bind(("0.0.0.0", port))
        say("third bound without SO_REUSEADDR")
    except OSError as e:
        say("third", errno.errorcode[e.errno])
    say("READY")
    seen = 0
    while seen < 4:
        ready, _, _ = select.select([s for _, s in socks], [], [], 10)
        if not ready:
            say("timeout")
            return
        for name, s in socks:
            if s in ready:
                data, src = s.recvfrom(100)
                say(name, "got", data.decode())
                seen += 1


def reuseport(port):
    socks = []
    for name in ("first", "second"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("0.0.0.0", port))
        socks.append((name, s))
    say("READY")
    while True:
        ready, _, _ = select.select([s for _, s in socks], [], [], 5)
        if not ready:
            return
        for name, s in socks:
            if s in ready:
                data, src = s.recvfrom(100)
                s.sendto(name.encode(), src)


if __name__ == "__main__":
    {"cmsg": cmsg, "reuse": reuse, "reuseport": reuseport}[sys.argv[1]](int(sys.argv[2]))
