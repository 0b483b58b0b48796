#!/usr/bin/env python3
"""The programs of t_udp_loopback.sh (UDP on the wildcard reached at localhost, and sockets that
talk to loopback after a bind put them on the stack).

  udp_loopback.py server FAMILY HOST PORT LOG SECONDS
      a UDP echo server (4: AF_INET, 6: AF_INET6) on HOST:PORT with IP_PKTINFO; for each
      datagram it logs "GOT <data> FROM <ip> DST <ip> IF <ifindex>" and answers "echo:<data>"
      to the sender. Prints "ready" once bound; ends after SECONDS.
  udp_loopback.py client FAMILY HOST PORT DATA [BIND_HOST BIND_PORT [connect]]
      sends DATA (bound first if BIND_HOST is given; with `connect`, connected first) and
      prints "REPLY <data> FROM <ip> <port>" (and for a connected one "NAME <ip> PEER <ip> <port>").
  udp_loopback.py quiet PORT PEER
      a UDP socket bound to 0.0.0.0:PORT and connected to PEER:9; prints "ready", then what
      comes within two seconds: "GOT <data> FROM <ip>" or "NOTHING".
  udp_loopback.py tcpserver HOST PORT LOG SECONDS
      a TCP server that logs "PEER <ip> <port>" and sends "page" to each client.
  udp_loopback.py tcpclient BIND_HOST BIND_PORT HOST PORT
      binds, connects, prints "PAGE <what it read> FROM <local port>".
"""
import socket
import struct
import sys
import time

IP_PKTINFO = 8


def family(f):
    return socket.AF_INET6 if f == "6" else socket.AF_INET


def server(fam, host, port, log, seconds):
    s = socket.socket(family(fam), socket.SOCK_DGRAM)
    if fam == "6":
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, int(port)))
    s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    print("ready", flush=True)
    end = time.time() + float(seconds)
    with open(log, "a") as out:
        while time.time() < end:
            s.settimeout(max(0.1, end - time.time()))
            try:
                data, anc, _, peer = s.recvmsg(2048, 256)
            except socket.timeout:
                break
            dst, ifindex = "-", "-"
            for level, kind, value in anc:
                if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
                    ifindex = str(struct.unpack("i", value[:4])[0])
                    dst = socket.inet_ntoa(value[8:12])
            out.write(f"GOT {data.decode()} FROM {peer[0]} DST {dst} IF {ifindex}\n")
            out.flush()
            s.sendto(b"echo:" + data, peer)


def client(fam, host, port, data, bind_host=None, bind_port=None, how=None):
    s = socket.socket(family(fam), socket.SOCK_DGRAM)
    s.settimeout(5)
    if bind_host is not None:
        s.bind((bind_host, int(bind_port)))
    if how == "connect":
        s.connect((host, int(port)))
        s.send(data.encode())
        name, peer = s.getsockname(), s.getpeername()
        print(f"NAME {name[0]} PEER {peer[0]} {peer[1]}")
    else:
        s.sendto(data.encode(), (host, int(port)))
    reply, peer = s.recvfrom(2048)
    print(f"REPLY {reply.decode()} FROM {peer[0]} {peer[1]}", flush=True)


def quiet(port, peer):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    s.connect((peer, 9))
    print("ready", flush=True)
    s.settimeout(2)
    try:
        data, frm = s.recvfrom(2048)
        print(f"GOT {data.decode()} FROM {frm[0]}", flush=True)
    except socket.timeout:
        print("NOTHING", flush=True)


def tcpserver(host, port, log, seconds):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, int(port)))
    l.listen(8)
    print("ready", flush=True)
    end = time.time() + float(seconds)
    with open(log, "a") as out:
        while time.time() < end:
            l.settimeout(max(0.1, end - time.time()))
            try:
                c, peer = l.accept()
            except socket.timeout:
                break
            out.write(f"PEER {peer[0]} {peer[1]}\n")
            out.flush()
            c.sendall(b"page")
            c.close()


def tcpclient(bind_host, bind_port, host, port):
    c = socket.socket()
    c.settimeout(5)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    c.bind((bind_host, int(bind_port)))
    c.connect((host, int(port)))
    got = b""
    while True:
        b = c.recv(100)
        if not b:
            break
        got += b
    print(f"PAGE {got.decode()} FROM {c.getsockname()[1]}", flush=True)


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"server": server, "client": client, "tcpserver": tcpserver, "tcpclient": tcpclient, "quiet": quiet}[what](*args)
