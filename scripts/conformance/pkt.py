"""Frames for the conformance runner: Ethernet, ARP, IPv4 and TCP (with its options), built and
parsed with the standard library only, and the raw AF_PACKET link on the kernel side of the device
under test (tap0 for the stack, veth0 for the kernel reference).

The runner plays a fake peer at PEER_IP with a made-up MAC: it sends frames through the link and
sees every frame the side under test sends. Frames are plain objects (`Tcp`, `Arp`) so cases can
compare fields; `str()` gives a tcpdump-like line for failure messages.
"""

import select
import socket
import struct
import time

PEER_IP = "10.77.0.9"
PEER_MAC = bytes.fromhex("020000c0ff09")  # locally administered, owned by nobody but the runner
TARGET_IP = "10.77.0.2"

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4  # sll_pkttype of the frames we send ourselves: the link skips them
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the kernel's receive time of each frame

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, AE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100
FLAG_NAMES = [(SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "."), (URG, "U"), (ECE, "E"), (CWR, "W"), (AE, "A")]

# TCP option kinds.
EOL, NOP, MSS, WSCALE, SACK_PERM, SACK, TS = 0, 1, 2, 3, 4, 5, 8
OPT_NAMES = {EOL: "eol", NOP: "nop", MSS: "mss", WSCALE: "wscale", SACK_PERM: "sackOK", SACK: "sack", TS: "TS"}

# IP ECN codepoints (the low two bits of the TOS byte).
NOT_ECT, ECT1, ECT0, CE = 0, 1, 2, 3
ECN_NAMES = {NOT_ECT: "", ECT1: " [ECT1]", ECT0: " [ECT0]", CE: " [CE]"}


def ip_bytes(a):
    return socket.inet_aton(a)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# --- TCP options: a list of tuples, ("mss", 1460), ("sackOK",), ("TS", val, ecr), ("wscale", 7),
# ("sack", [(left, right), ...]), ("nop",), ("eol",), or (kind, bytes) for anything else.


def encode_options(opts):
    out = b""
    for o in opts:
        name = o[0]
        if name == "nop":
            out += b"\x01"
        elif name == "eol":
            out += b"\x00"
        elif name == "mss":
            out += struct.pack("!BBH", MSS, 4, o[1])
        elif name == "wscale":
            out += struct.pack("!BBB", WSCALE, 3, o[1])
        elif name == "sackOK":
            out += b"\x04\x02"
        elif name == "TS":
            out += struct.pack("!BBII", TS, 10, o[1], o[2])
        elif name == "sack":
            out += struct.pack("!BB", SACK, 2 + 8 * len(o[1]))
            for l, r in o[1]:
                out += struct.pack("!II", l, r)
        else:
            out += struct.pack("!BB", o[0], 2 + len(o[1])) + o[1]
    # Pad to a multiple of four with EOL, as the header length counts words.
    return out + b"\0" * (-len(out) % 4)


def decode_options(raw):
    opts, i = [], 0
    while i < len(raw):
        kind = raw[i]
        if kind == EOL:
            opts.append(("eol",))
            break
        if kind == NOP:
            opts.append(("nop",))
            i += 1
            continue
        if i + 1 >= len(raw) or raw[i + 1] < 2 or i + raw[i + 1] > len(raw):
            opts.append(("bad", raw[i:]))
            break
        ln = raw[i + 1]
        body = raw[i + 2 : i + ln]
        if kind == MSS and ln == 4:
            opts.append(("mss", struct.unpack("!H", body)[0]))
        elif kind == WSCALE and ln == 3:
            opts.append(("wscale", body[0]))
        elif kind == SACK_PERM and ln == 2:
            opts.append(("sackOK",))
        elif kind == TS and ln == 10:
            opts.append(("TS",) + struct.unpack("!II", body))
        elif kind == SACK and (ln - 2) % 8 == 0:
            opts.append(("sack", [struct.unpack("!II", body[j : j + 8]) for j in range(0, ln - 2, 8)]))
        else:
            opts.append((kind, body))
        i += ln
    return opts


def flag_str(flags):
    return "".join(n for f, n in FLAG_NAMES if flags & f) or "none"


def opt_str(o):
    if o[0] == "mss" or o[0] == "wscale":
        return "%s %d" % o
    if o[0] == "TS":
        return "TS val %d ecr %d" % (o[1], o[2])
    if o[0] == "sack":
        return "sack %d {%s}" % (len(o[1]), "".join("%d:%d" % b for b in o[1]))
    if isinstance(o[0], int):
        return "opt-%d" % o[0]
    return o[0]


class Tcp:
    """One TCP segment with the IP fields a case may look at."""

    def __init__(self, src, dst, sport, dport, seq=0, ack=0, flags=0, win=0, opts=(), payload=b"",
                 ecn=NOT_ECT, ttl=64, ip_id=0, df=True, urg=0):
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.seq, self.ack, self.flags, self.win = seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags, win
        self.opts, self.payload, self.urg = list(opts), payload, urg
        self.ecn, self.ttl, self.ip_id, self.df = ecn, ttl, ip_id, df
        self.time = None  # when the link received or sent it (time.time, the kernel's clock)
        self.csum_ok = True

    def opt(self, name):
        """The first option called name, or None."""
        for o in self.opts:
            if o[0] == name:
                return o
        return None

    def kinds(self):
        """The option names in order, without padding."""
        return [o[0] for o in self.opts if o[0] not in ("nop", "eol")]

    def __str__(self):
        s = "%s:%d > %s:%d %s seq %d" % (self.src, self.sport, self.dst, self.dport, flag_str(self.flags), self.seq)
        if self.flags & ACK:
            s += " ack %d" % self.ack
        s += " win %d" % self.win
        if self.flags & URG:
            s += " urg %d" % self.urg
        if self.opts:
            s += " <%s>" % ",".join(opt_str(o) for o in self.opts)
        s += " len %d" % len(self.payload)
        s += ECN_NAMES[self.ecn]
        if not self.csum_ok:
            s += " [bad csum]"
        return s

    def tcp_bytes(self):
        opts = encode_options(self.opts)
        off = (20 + len(opts)) // 4
        hdr = struct.pack("!HHIIHHHH", self.sport, self.dport, self.seq, self.ack,
                          (off << 12) | (self.flags & 0x1FF), self.win, 0, self.urg) + opts
        seg = hdr + self.payload
        pseudo = ip_bytes(self.src) + ip_bytes(self.dst) + struct.pack("!BBH", 0, 6, len(seg))
        c = csum(pseudo + seg)
        return seg[:16] + struct.pack("!H", c) + seg[18:]

    def ip_bytes(self):
        seg = self.tcp_bytes()
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, self.ecn & 3, 20 + len(seg), self.ip_id & 0xFFFF,
                          0x4000 if self.df else 0, self.ttl, 6, 0, ip_bytes(self.src), ip_bytes(self.dst))
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        return hdr + seg


class Arp:
    def __init__(self, op, sha, spa, tha, tpa):
        self.op, self.sha, self.spa, self.tha, self.tpa = op, sha, spa, tha, tpa

    def bytes(self):
        return struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, self.op, self.sha, ip_bytes(self.spa),
                           self.tha, ip_bytes(self.tpa))

    def __str__(self):
        return "arp %s %s > %s" % ("who-has" if self.op == 1 else "reply", self.spa, self.tpa)


def eth(dst, src, ethertype, body):
    frame = dst + src + struct.pack("!H", ethertype) + body
    return frame + b"\0" * max(0, 60 - len(frame))


def parse(frame):
    """An Arp, a Tcp, or None for anything else. Tcp also gets .eth_src and .eth_dst."""
    if len(frame) < 14:
        return None
    dst, src, et = frame[:6], frame[6:12], struct.unpack("!H", frame[12:14])[0]
    body = frame[14:]
    if et == ETH_P_ARP and len(body) >= 28:
        _, _, _, _, op, sha, spa, tha, tpa = struct.unpack("!HHBBH6s4s6s4s", body[:28])
        return Arp(op, sha, socket.inet_ntoa(spa), tha, socket.inet_ntoa(tpa))
    if et != ETH_P_IP or len(body) < 20:
        return None
    vihl, tos, tot, ip_id, frag, ttl, proto = struct.unpack("!BBHHHBB", body[:10])
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4 or proto != 6 or tot > len(body) or tot < ihl + 20:
        return None
    src_ip, dst_ip = socket.inet_ntoa(body[12:16]), socket.inet_ntoa(body[16:20])
    seg = body[ihl:tot]
    sport, dport, seq, ack, offflags, win, c, urg = struct.unpack("!HHIIHHHH", seg[:20])
    off = (offflags >> 12) * 4
    t = Tcp(src_ip, dst_ip, sport, dport, seq, ack, offflags & 0x1FF, win, decode_options(seg[20:off]),
            seg[off:], ecn=tos & 3, ttl=ttl, ip_id=ip_id, df=bool(frag & 0x4000), urg=urg)
    pseudo = body[12:20] + struct.pack("!BBH", 0, 6, len(seg))
    t.csum_ok = csum(pseudo + seg) == 0
    t.eth_src, t.eth_dst = src, dst
    return t


class Link:
    """The raw socket on the kernel side of the device. recv() answers ARP for PEER_IP by itself."""

    def __init__(self, ifname, pcap=None):
        self.ifname = ifname
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))
        # Frame times come from the kernel, so a runner slow to wake adds nothing to a measured delay.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.mac = {}  # IP -> MAC, learnt from ARP requests and the frames seen
        self.others = []  # TCP frames from anyone but the side under test (the namespace's own kernel)
        self.early = []  # frames from the side under test that resolve() read: recv() returns them first
        self.pcap = open(pcap, "wb") if pcap else None
        if self.pcap:
            self.pcap.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        # Frames queued before the case started (IPv6 router solicitations and the like) are not ours.
        self.drain()

    def _log(self, frame):
        if self.pcap:
            t = time.time()
            self.pcap.write(struct.pack("<IIII", int(t), int(t % 1 * 1e6), len(frame), len(frame)) + frame)
            self.pcap.flush()

    def drain(self):
        while select.select([self.sock], [], [], 0)[0]:
            self.sock.recv(65536)

    def send_tcp(self, seg):
        mac = self.mac.get(seg.dst)
        if mac is None:
            raise RuntimeError("no MAC known for %s" % seg.dst)
        frame = eth(mac, PEER_MAC, ETH_P_IP, seg.ip_bytes())
        self._log(frame)
        self.sock.send(frame)

    def resolve(self, ip, timeout=2.0):
        """The MAC of ip, asking for it with ARP requests (one each 0.5 s) until timeout."""
        end = time.monotonic() + timeout
        while ip not in self.mac and time.monotonic() < end:
            req = Arp(1, PEER_MAC, PEER_IP, b"\0" * 6, ip)
            out = eth(b"\xff" * 6, PEER_MAC, ETH_P_ARP, req.bytes())
            self._log(out)
            self.sock.send(out)
            stop = min(end, time.monotonic() + 0.5)
            while ip not in self.mac and time.monotonic() < stop:
                p = self.recv(stop, want_mac=ip)
                if p is not None:
                    self.early.append(p)
        return self.mac.get(ip)

    def recv(self, deadline, want_mac=None):
        """The next frame the side under test sent (Tcp), or None at the deadline (time.monotonic)
        or as soon as the MAC of want_mac is known."""
        if self.early:
            return self.early.pop(0)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            frame, anc, _, addr = self.sock.recvmsg(65536, 64)
            now = time.time()
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                    sec, nsec = struct.unpack("qq", data[:16])
                    now = sec + nsec / 1e9
            if addr[2] == PACKET_OUTGOING:
                continue
            self._log(frame)
            p = parse(frame)
            if isinstance(p, Arp):
                if p.spa != "0.0.0.0":
                    self.mac[p.spa] = p.sha
                if p.op == 1 and p.tpa == PEER_IP:
                    reply = Arp(2, PEER_MAC, PEER_IP, p.sha, p.spa)
                    out = eth(p.sha, PEER_MAC, ETH_P_ARP, reply.bytes())
                    self._log(out)
                    self.sock.send(out)
                if want_mac in self.mac:
                    return None
                continue
            if isinstance(p, Tcp):
                if p.src != TARGET_IP or p.dst != PEER_IP:
                    self.others.append(p)
                    continue
                self.mac[p.src] = p.eth_src
                p.time = now
                return p
