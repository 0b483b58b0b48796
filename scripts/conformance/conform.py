"""The conformance runner's harness: runs one case against one side under test, from inside the test
namespace, and prints `PASS` or `FAIL <first difference>`.

  python3 conform.py --target stack|kernel --iface IFACE --agent-ns NS [--bin TAPSTACK] [--out DIR] CASE

The side under test is the stack (the agent under `tapstack run` in this namespace, on tap0) or the
Linux kernel (the agent on the kernel's sockets in namespace NS-s, behind veth0). Either way the
runner is the fake peer at 10.77.0.9 on the raw link (pkt.py), and the agent (agent.py) makes the
program's calls. A case is a function of a Test (cases.py); it raises Fail at the first frame or
result that differs from what Linux does. run.sh makes the namespaces and calls this.
"""

import argparse
import os
import queue
import random
import subprocess
import sys
import threading
import time

import pkt
from pkt import ACK, FIN, PSH, RST, SYN, Tcp

HERE = os.path.dirname(os.path.abspath(__file__))
FRAME_WAIT = 2.0  # seconds to wait for any frame a case expects
AGENT_WAIT = 2.0  # and for the agent's result line
PEER_WIN = 64240  # the peer's window field: unscaled in its SYN, then scaled by its wscale (7)
PEER_WSCALE = 7


class Fail(Exception):
    pass


class Agent:
    """The program on the side under test: one command a line in, one result line out."""

    def __init__(self, argv, log):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                     text=True, bufsize=1)
        self.lines = queue.Queue()
        self.pending = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def start(self, cmd):
        """Sends cmd without waiting: for calls that block until the peer acts (accept, connect)."""
        self.pending.append(cmd)
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def result(self, timeout=AGENT_WAIT):
        cmd = self.pending.pop(0)
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise Fail("agent: no result for '%s' within %.1f s" % (cmd, timeout))
        if line is None:
            raise Fail("agent: exited before answering '%s' (status %s)" % (cmd, self.proc.poll()))
        return line

    def __call__(self, cmd, expect=None, timeout=AGENT_WAIT):
        """Runs cmd and returns its result; with expect, fails unless the result is that."""
        self.start(cmd)
        res = self.result(timeout)
        if expect is not None and res != str(expect):
            raise Fail("agent: '%s' returned %s; expected %s (as Linux)" % (cmd, res, expect))
        return res

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(1)


class Test:
    """One case's world: the link, the agent, and the fake peer's side of one connection.

    The peer keeps its own sequence space (iss, snd_nxt), what it has received (rcv_nxt), its
    timestamp clock and the side under test's last TSval (for TSecr)."""

    def __init__(self, target, link, agent):
        self.target, self.link, self.agent = target, link, agent
        self.port = random.randrange(40000, 60000)  # the peer's port
        self.tport = None  # the side under test's port
        self.iss = random.randrange(1 << 32)
        self.snd_nxt = self.iss
        self.rcv_nxt = None
        self.irs = None
        self.ts_base, self.t0 = random.randrange(1 << 31), time.monotonic()
        self.ts_recent = 0
        self.ts_ok = True  # whether the connection carries timestamps

    # --- the wire

    def tsval(self):
        return (self.ts_base + int((time.monotonic() - self.t0) * 1000)) & 0xFFFFFFFF

    def send(self, flags, payload=b"", seq=None, ack=None, opts=None, win=None, ecn=pkt.NOT_ECT, urg=0):
        """Sends a segment from the peer; seq defaults to snd_nxt (then advanced), ack to rcv_nxt."""
        if opts is None:
            opts = [("nop",), ("nop",), ("TS", self.tsval(), self.ts_recent)] if self.ts_ok else []
        if seq is None:
            seq = self.snd_nxt
            self.snd_nxt = (self.snd_nxt + len(payload) + bool(flags & SYN) + bool(flags & FIN)) & 0xFFFFFFFF
        if ack is None:
            ack = self.rcv_nxt or 0
        seg = Tcp(pkt.PEER_IP, pkt.TARGET_IP, self.port, self.tport, seq, ack, flags,
                  PEER_WIN if win is None else win, opts, payload, ecn=ecn, urg=urg)
        seg.time = time.time()
        self.link.send_tcp(seg)
        return seg

    def data(self, n, flags=ACK | PSH, **kw):
        return self.send(flags, bytes(range(65, 91)) * (n // 26) + bytes(range(65, 65 + n % 26)), **kw)

    def recv(self, timeout=FRAME_WAIT):
        """The next segment of this connection from the side under test, or None."""
        deadline = time.monotonic() + timeout
        while True:
            seg = self.link.recv(deadline)
            if seg is None:
                return None
            if seg.dport != self.port or (self.tport is not None and seg.sport != self.tport):
                continue  # an old connection's leftovers
            ts = seg.opt("TS")
            if ts:
                self.ts_recent = ts[1]
            return seg

    def expect(self, what, timeout=FRAME_WAIT):
        """The next segment; fails when none comes within timeout."""
        seg = self.recv(timeout)
        if seg is None:
            raise Fail("no frame within %.1f s; expected %s" % (timeout, what))
        return seg

    def quiet(self, ms, why):
        """Fails if the side under test sends anything on this connection within ms."""
        seg = self.recv(ms / 1000)
        if seg is not None:
            raise Fail("seen %s; expected no frame within %d ms (%s)" % (fmt(seg), ms, why))

    def check(self, ok, seg, expected):
        if not ok:
            raise Fail("seen %s; expected %s" % (fmt(seg), expected))

    def rel(self, seq):
        """seq relative to the side under test's initial sequence number."""
        return (seq - self.irs) & 0xFFFFFFFF

    # --- handshakes

    def syn_opts(self):
        return [("mss", 1460), ("sackOK",), ("TS", self.tsval(), 0), ("nop",), ("wscale", PEER_WSCALE)]

    def passive_open(self, port=8000, syn_opts=None, syn_flags=SYN, check_synack=True, listen="",
                     accept=True):
        """listen (with `listen`'s extra words), accept, and the three-way handshake from the peer;
        returns the SYN-ACK. Without `accept`, nobody accepts: the handshake alone."""
        self.agent(("listen %d %s" % (port, listen)).strip(), 0)
        if accept:
            self.agent.start("accept")
        self.tport = port
        if not self.link.resolve(pkt.TARGET_IP):
            raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
        self.syn_sent = self.send(syn_flags, opts=self.syn_opts() if syn_opts is None else syn_opts, win=PEER_WIN)
        sa = self.expect("SYN-ACK")
        self.irs = sa.seq
        if check_synack:
            self.check(sa.flags & (SYN | ACK | RST | FIN) == SYN | ACK and sa.ack == self.iss + 1 & 0xFFFFFFFF,
                       sa, "SYN-ACK ack %d" % (self.iss + 1 & 0xFFFFFFFF))
        self.rcv_nxt = (sa.seq + 1) & 0xFFFFFFFF
        self.ts_ok = bool(sa.opt("TS")) and self.syn_sent.opt("TS") is not None
        self.send(ACK)
        if not accept:
            return sa
        res = self.agent.result()
        if res != "0":
            raise Fail("agent: accept returned %s; expected a connection" % res)
        return sa

    def active_open(self, port=8080, new_socket=True, handshake_ack=True):
        """connect from the agent (a new socket, or the current one again); the peer answers as
        Linux would; returns the SYN. Without `handshake_ack`, what follows the SYN-ACK is the
        case's to check (and the agent's connect result)."""
        if new_socket:
            self.agent("socket", 0)
        else:
            # A new connection: its own sequence space, and whatever port the agent's side picks.
            self.tport = None
            self.iss = self.snd_nxt = random.randrange(1 << 32)
            self.ts_recent = 0
        self.port = port
        self.agent.start("connect %s %d" % (pkt.PEER_IP, port))
        syn = self.expect("SYN")
        self.check(syn.flags & (SYN | ACK) == SYN, syn, "a SYN")
        self.tport, self.irs = syn.sport, syn.seq
        self.rcv_nxt = (syn.seq + 1) & 0xFFFFFFFF
        ts = syn.opt("TS")
        self.ts_ok = bool(ts)
        opts = [("mss", 1460), ("sackOK",), ("TS", self.tsval(), ts[1]), ("nop",), ("wscale", PEER_WSCALE)]
        self.send(SYN | ACK, opts=opts if ts else opts[:2] + opts[3:], win=PEER_WIN)
        if not handshake_ack:
            return syn
        ack = self.expect("the handshake's ACK")
        self.check(ack.flags & (SYN | ACK | RST) == ACK and ack.ack == self.snd_nxt, ack,
                   "ACK ack %d" % self.snd_nxt)
        res = self.agent.result()
        if res != "0":
            raise Fail("agent: connect returned %s; expected 0" % res)
        return syn


def fmt(seg):
    return str(seg)


def linux_wscale():
    """The window scale Linux offers here: from the largest receive buffer a socket may grow to,
    max(tcp_rmem[2], rmem_max), as tcp_select_initial_window() does."""
    rmem = int(open("/proc/sys/net/ipv4/tcp_rmem").read().split()[2])
    rmem_max = int(open("/proc/sys/net/core/rmem_max").read())
    space = min(max(rmem, rmem_max), 0xFFFF << 14)
    return max(0, min(14, space.bit_length() - 1 - 15))


def main():
    import cases

    ap = argparse.ArgumentParser()
    ap.add_argument("--target", choices=["stack", "kernel"])
    ap.add_argument("--iface")
    ap.add_argument("--agent-ns")
    ap.add_argument("--bin")
    ap.add_argument("--out")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("case", nargs="?")
    a = ap.parse_args()
    if a.list:
        print(" ".join(cases.CASES))
        return 0
    fn = cases.CASES.get(a.case)
    if fn is None:
        print("FAIL no such case %s (cases: %s)" % (a.case, " ".join(cases.CASES)))
        return 1
    tag = "%s-%s" % (a.case, a.target)
    out = a.out or "/tmp"
    link = pkt.Link(a.iface, os.path.join(out, tag + ".pcap"))
    argv = [sys.executable, os.path.join(HERE, "agent.py")]
    if a.target == "stack":
        # Offload off, as on the kernel's reference veth (tso, gso off): the peer reads tap0,
        # where a TSO super-frame is still whole (as tcpdump on a TSO device shows it), and
        # judges the segments a wire would carry.
        argv = [a.bin, "run", "--offload", "off", "--"] + argv
    else:
        argv = ["ip", "netns", "exec", a.agent_ns] + argv
    # A case may need sysctls of the side under test, set before it starts: in this namespace for
    # the stack (its service reads them when it starts), in the agent's for the kernel.
    for key, value in getattr(fn, "sysctls", {}).items():
        if a.target == "stack":
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        else:
            subprocess.run(["ip", "netns", "exec", a.agent_ns, "sysctl", "-qw", "%s=%s" % (key, value)], check=True)
    agent = Agent(argv, open(os.path.join(out, tag + ".agent.log"), "w"))
    t = Test(a.target, link, agent)
    try:
        fn(t)
        if link.others:
            raise Fail("the namespace's own kernel sent %s; expected it to stay out of the way" % link.others[0])
        print("PASS")
        return 0
    except Fail as e:
        print("FAIL %s" % e)
        return 1
    finally:
        agent.stop()


if __name__ == "__main__":
    sys.exit(main())
