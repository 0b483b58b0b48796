#!/usr/bin/env python3
"""The kernel-side peer of the process-model tests (t_pm_*.sh).

Usage: pm_peer.py ADDRESS LOGFILE BLOBFILE

Listens on ADDRESS at four ports, one thread per connection:
  9000 echo:   sends back every byte it receives, until the client ends the connection.
  9002 give:   sends the blob file, then closes.
  9003 stream: reads one line; "BLOB" gets the blob file then a close; "INF" gets an endless stream,
               sent without blocking while watching for the client's FIN or RST, so the moment the
               connection ends is known even while the client's window is shut.
  9009 control: reads "STATE PORT" lines and answers each with one line about the echo or stream
               connection from that client port: "open", "eof N SHA", "rst N SHA" or "unknown".
Logs "OPEN SERVICE IP PORT" when a connection arrives and "END SERVICE IP PORT eof|rst NBYTES SHA256
WALLTIME" when it ends (NBYTES and SHA256 of everything received, WALLTIME from time.time()).
"""
import hashlib
import os
import select
import socket
import sys
import threading
import time

address, logfile, blobfile = sys.argv[1], sys.argv[2], sys.argv[3]
blob = open(blobfile, "rb").read()
lock = threading.Lock()
state = {}  # client port -> "open" | "eof N SHA" | "rst N SHA"


def log(line):
    with lock:
        with open(logfile, "a") as f:
            f.write(line + "\n")


def opened(service, peer):
    with lock:
        state[peer[1]] = "open"
    log(f"OPEN {service} {peer[0]} {peer[1]}")


def ended(service, peer, how, n, digest):
    with lock:
        state[peer[1]] = f"{how} {n} {digest}"
    log(f"END {service} {peer[0]} {peer[1]} {how} {n} {digest} {time.time():.6f}")


def echo(c, peer):
    opened("echo", peer)
    h, n, how = hashlib.sha256(), 0, "eof"
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            h.update(d)
            n += len(d)
            c.sendall(d)
    except OSError:
        how = "rst"
    ended("echo", peer, how, n, h.hexdigest())


def give(c, peer):
    opened("give", peer)
    try:
        c.sendall(blob)
        c.shutdown(socket.SHUT_WR)
        how = "eof" if c.recv(1) == b"" else "data"
    except OSError:
        how = "rst"
    ended("give", peer, how, 0, "-")


def stream(c, peer):
    opened("stream", peer)
    line = b""
    while not line.endswith(b"\n") and len(line) < 100:
        d = c.recv(1)
        if not d:
            break
        line += d
    if line.strip() == b"BLOB":
        try:
            c.sendall(blob)
            c.shutdown(socket.SHUT_WR)
            how = "eof" if c.recv(1) == b"" else "data"
        except OSError:
            how = "rst"
        ended("stream", peer, how, 0, "-")
        return
    c.setblocking(False)
    chunk = b"z" * 65536
    how = "timeout"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, w, _ = select.select([c], [c], [], 0.5)
        try:
            if r:
                if c.recv(65536) == b"":
                    how = "eof"
                    break
            if w:
                c.send(chunk)
        except BlockingIOError:
            pass
        except OSError:
            how = "rst"
            break
    ended("stream", peer, how, 0, "-")


def control(c, peer):
    f = c.makefile("rwb")
    for line in f:
        parts = line.split()
        if len(parts) == 2 and parts[0] == b"STATE":
            with lock:
                answer = state.get(int(parts[1]), "unknown")
            f.write(answer.encode() + b"\n")
            f.flush()
    c.close()


def serve(port, handler):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((address, port))
    l.listen(1024)
    while True:
        c, peer = l.accept()

        def run(c=c, peer=peer):
            try:
                handler(c, peer)
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


services = [(9000, echo), (9002, give), (9003, stream), (9009, control)]
for port, handler in services[1:]:
    threading.Thread(target=serve, args=(port, handler), daemon=True).start()
serve(*services[0])
