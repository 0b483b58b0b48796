"""The conformance cases: each checks one TCP behaviour of the side under test on the wire, as Linux
does it, and raises Fail at the first difference. Each must pass against the kernel (run.sh --kernel),
or the case itself is wrong. They are tolerant of what legitimately differs between two correct stacks
(ISN, timestamp values, IP ID, the exact window) and strict on the behaviour they are about.

The peer (the runner, conform.Test) offers MSS 1460, SACK, timestamps and window scale 7 and a window
of 64240 << 7, so the side under test is never bound by it.
"""

import errno
import random
import time

import pkt
from conform import PEER_WIN, PEER_WSCALE, Fail, linux_wscale
from pkt import ACK, CE, CWR, ECE, ECT0, FIN, NOT_ECT, PSH, RST, SYN, URG

SYN_KINDS = {"mss", "sackOK", "TS", "wscale"}
MSS = 1460 - 12  # the peer's MSS less the timestamp option
M = 0xFFFFFFFF  # sequence numbers wrap
QUICK = 0.010  # an ACK sent "at once": Linux's come within a millisecond, a delayed one after 40 ms


def _syn_options(t, seg, what, ecr):
    """The options of a SYN or SYN-ACK, as Linux sends them here: mss 1460, sackOK, TS (echoing
    ecr), wscale from this machine's receive-buffer limits."""
    ws = linux_wscale()
    want = "%s <mss 1460,sackOK,TS val * ecr %s,nop,wscale %d>" % (what, ecr, ws)
    t.check(set(seg.kinds()) == SYN_KINDS and len(seg.kinds()) == 4, seg, want)
    t.check(seg.opt("mss")[1] == 1460, seg, want)
    t.check(seg.opt("wscale")[1] == ws, seg, want + " (Linux's scale: max(tcp_rmem[2], rmem_max))")
    t.check(ecr == "*" or seg.opt("TS")[2] == ecr, seg, want)


def syn_ack_options(t):
    """1. Passive open: the SYN-ACK answers the options offered with Linux's, window scale included,
    with DF and IP id 0."""
    sa = t.passive_open()
    _syn_options(t, sa, "SYN-ACK", t.syn_sent.opt("TS")[1])
    t.check(not sa.flags & (ECE | CWR), sa, "no ECE/CWR: the SYN asked for no ECN")
    # ip_build_and_send_pkt: a DF SYN-ACK bears identification 0.
    t.check(sa.df and sa.ip_id == 0, sa, "DF, IP id 0")


def syn_options(t):
    """2. Active open: the SYN offers what Linux's does, the same window scale included."""
    syn = t.active_open()
    _syn_options(t, syn, "SYN", 0)
    ecn = int(open("/proc/sys/net/ipv4/tcp_ecn").read())
    # tcp_ecn=1 asks for ECN on outgoing connections; 2 (the default) only accepts it.
    want = SYN | ECE | CWR if ecn == 1 else SYN
    t.check(syn.flags == want, syn, "flags %s (tcp_ecn=%d)" % ("SEW" if ecn == 1 else "S", ecn))


def quick_ack(t):
    """3. A fresh connection ACKs each of the first data segments at once (quick-ack mode), not
    after a delayed-ACK timer; its window stays the handshake's 64 KiB after small segments
    (Linux's rcv_ssthresh caps what __tcp_select_window offers), not the whole buffer."""
    sa = t.passive_open()
    ws = sa.opt("wscale")[1]
    for i in range(3):
        seg = t.data(100)
        ack = t.expect("an ACK of data segment %d" % (i + 1))
        t.check(ack.flags & (SYN | FIN | RST) == 0 and ack.ack == t.snd_nxt, ack, "ACK ack %d" % t.snd_nxt)
        offered = ack.win << ws
        t.check(60000 <= offered <= 65536 + (1 << ws), ack,
                "a window of about 64 KiB (it offers %d)" % offered)
        delay = ack.time - seg.time
        t.check(delay < QUICK, ack, "it within %d ms of the data (it came after %.1f ms)" % (QUICK * 1000, delay * 1000))
        time.sleep(0.020)


def ooo_sack(t):
    """4. A segment beyond a hole gets a duplicate ACK with a SACK block for it at once; the hole's
    segment then gets an ACK of both at once (RFC 5681 4.2), with no SACK block left."""
    t.passive_open()
    base = t.snd_nxt
    b100, b200 = (base + 100) & M, (base + 200) & M
    seg = t.data(100, seq=b100)
    t.snd_nxt = base
    dup = t.expect("a duplicate ACK with SACK")
    want = "ACK ack %d <nop,nop,TS,nop,nop,sack 1 {%d:%d}>" % (base, b100, b200)
    t.check(dup.flags & (SYN | FIN | RST) == 0 and dup.ack == base and not dup.payload, dup, want)
    sack = dup.opt("sack")
    t.check(sack is not None and sack[1] == [(b100, b200)], dup, want)
    t.check(dup.time - seg.time < QUICK, dup, "it at once (within %d ms)" % (QUICK * 1000))
    seg = t.data(100)
    t.snd_nxt = b200
    ack = t.expect("an ACK of both segments")
    t.check(ack.ack == b200 and ack.opt("sack") is None, ack, "ACK ack %d, no SACK block" % b200)
    t.check(ack.time - seg.time < QUICK, ack, "it at once (within %d ms)" % (QUICK * 1000))


def dsack(t):
    """4b. A segment that arrives again is answered at once with a D-SACK (RFC 2883 4, Linux's
    tcp_dsack_set with net.ipv4.tcp_dsack 1): the first SACK block is the duplicate, below the
    cumulative ACK; the next ACK carries no block."""
    t.passive_open()
    base = t.snd_nxt
    t.data(100)
    ack = t.expect("an ACK of the data")
    t.check(ack.ack == t.snd_nxt and ack.opt("sack") is None, ack, "ACK ack %d, no SACK block" % t.snd_nxt)
    seg = t.data(100, seq=base)
    dup = t.expect("an ACK of the duplicate")
    b100 = (base + 100) & M
    want = "ACK ack %d <nop,nop,TS,nop,nop,sack 1 {%d:%d}>" % (b100, base, b100)
    sack = dup.opt("sack")
    t.check(dup.ack == b100 and sack is not None and sack[1] == [(base, b100)], dup, want)
    t.check(dup.time - seg.time < QUICK, dup, "it at once (within %d ms)" % (QUICK * 1000))
    t.data(100)
    ack = t.expect("an ACK of new data")
    t.check(ack.ack == t.snd_nxt and ack.opt("sack") is None, ack, "ACK ack %d, no SACK block" % t.snd_nxt)


def _expect_sack(t, what, ack, blocks, sent):
    """An ACK of `ack` at once, with exactly these SACK blocks (none: no option)."""
    seg = t.expect(what)
    want = "ACK ack %d" % ack + ("" if not blocks else " <nop,nop,TS,nop,nop,sack %d %s>" % (
        len(blocks), " ".join("{%d:%d}" % b for b in blocks)))
    sack = seg.opt("sack")
    t.check(seg.flags & (SYN | FIN | RST) == 0 and seg.ack == ack and not seg.payload, seg, want)
    t.check((sack[1] if sack else []) == blocks, seg, want)
    t.check(seg.time - sent.time < QUICK, seg, "it at once (within %d ms)" % (QUICK * 1000))


def dsack_ofo_overlap(t):
    """4c. An in-order segment over data held out of order: Linux's tcp_data_queue -> tcp_ofo_queue
    reports what it covered of the held data as a D-SACK (tcp_dsack_extend), up to where the held
    data or the segment ends (the 6.16 fix to tcp_ofo_queue), first, the blocks of data still
    held after it, in the ACK the filled hole sends at once; the next ACK carries no D-SACK."""
    t.passive_open()
    base = t.snd_nxt
    b = lambda n: (base + n) & M
    sent = t.data(100, seq=b(100))
    _expect_sack(t, "a duplicate ACK with SACK", base, [(b(100), b(200))], sent)
    sent = t.data(100, seq=b(300))
    _expect_sack(t, "a duplicate ACK with SACK", base, [(b(300), b(400)), (b(100), b(200))], sent)
    # Ends inside the first held segment: the D-SACK is the part covered.
    sent = t.data(150, seq=base)
    _expect_sack(t, "an ACK with a D-SACK, then the SACK", b(200), [(b(100), b(150)), (b(300), b(400))],
                 sent)
    # Covers the second whole and goes past it: the D-SACK is the held segment, no more.
    sent = t.data(250, seq=b(200))
    _expect_sack(t, "an ACK with a D-SACK", b(450), [(b(300), b(400))], sent)
    t.snd_nxt = b(450)
    sent = t.data(100)
    ack = t.expect("an ACK of new data")
    t.check(ack.ack == t.snd_nxt and ack.opt("sack") is None, ack, "ACK ack %d, no SACK block" % t.snd_nxt)


def ooo_fin_sack(t):
    """4d. A FIN beyond a hole is held out of order (Linux's tcp_data_queue_ofo takes the zero-length
    skb, its end_seq counting the FIN): the duplicate ACK SACKs its one byte, data before it joins
    that block, a second copy of it is a D-SACK; the hole filled, the FIN is reached and ACKed at
    once, with no block."""
    t.passive_open()
    base = t.snd_nxt
    b = lambda n: (base + n) & M
    sent = t.send(ACK | FIN, seq=b(200))
    _expect_sack(t, "a duplicate ACK with a SACK of the FIN", base, [(b(200), b(201))], sent)
    sent = t.data(100, seq=b(100))
    _expect_sack(t, "a duplicate ACK with SACK", base, [(b(100), b(201))], sent)
    sent = t.send(ACK | FIN, seq=b(200))
    _expect_sack(t, "a duplicate ACK with a D-SACK of the FIN", base, [(b(200), b(201)), (b(100), b(201))],
                 sent)
    sent = t.data(100)
    _expect_sack(t, "an ACK of the data and the FIN", b(201), [], sent)


def expect_plain_ack(t, what):
    """An ACK of all the peer sent, with neither FIN nor RST."""
    ack = t.expect(what)
    t.check(ack.flags & (RST | FIN) == 0 and ack.ack == t.snd_nxt, ack, "ACK ack %d" % t.snd_nxt)
    return ack


def expect_rst_ack(t, seq, ts):
    """The RST|ACK that aborts a connection: sequence number `seq`, acknowledging all the peer
    sent, no data, and the timestamp option if `ts` (as Linux's tcp_send_active_reset)."""
    rst = t.expect("RST|ACK")
    want = "R. seq %d ack %d %slen 0" % (seq & M, t.snd_nxt, "<nop,nop,TS val * ecr *> " if ts else "")
    t.check(rst.flags == RST | ACK and rst.seq == seq & M and rst.ack == t.snd_nxt and not rst.payload,
            rst, want)
    if ts:
        t.check(rst.opt("TS") is not None, rst, want)


def close_unread_rst(t):
    """6. close() with data unread sends RST|ACK (RFC 2525 2.17), acking all the peer sent, with the
    timestamp option, as Linux's tcp_send_active_reset does; then nothing more."""
    t.passive_open()
    t.data(100)
    ack = t.expect("an ACK of the data")
    t.check(ack.ack == t.snd_nxt, ack, "ACK ack %d" % t.snd_nxt)
    time.sleep(0.05)
    t.agent("close", 0)
    expect_rst_ack(t, t.irs + 1, ts=True)
    t.quiet(300, "the connection is gone")


def ack_unsent(t):
    """7. In ESTABLISHED, an ACK of data never sent is dropped and answered with one (challenge) ACK
    of where we are, RFC 5961 5.2 and RFC 9293 3.10.7.4, as Linux does since 6.11 (before, it dropped
    it silently); the connection carries on."""
    t.passive_open()
    t.send(ACK, ack=(t.irs + 1 + 100000) & M)
    want = "ACK seq %d ack %d len 0, at once" % ((t.irs + 1) & M, t.snd_nxt)
    ack = t.expect(want)
    t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == (t.irs + 1) & M and ack.ack == t.snd_nxt
            and not ack.payload, ack, want)
    t.quiet(300, "one ACK is the whole answer")
    t.data(10)
    ack = t.expect("an ACK of data after it")
    t.check(ack.flags & (RST | FIN) == 0 and ack.ack == t.snd_nxt and ack.seq == (t.irs + 1) & M, ack,
            "ACK seq %d ack %d" % ((t.irs + 1) & M, t.snd_nxt))


def _read_segments(t, total, what):
    """The data segments carrying the next total bytes (each checked in order), then ACKed."""
    segs, got = [], 0
    while got < total:
        seg = t.expect("%s (%d of %d bytes seen)" % (what, got, total))
        if not seg.payload:
            continue  # a bare ACK or window update: not what this is about
        t.check(seg.seq == t.rcv_nxt, seg, "data at seq %d" % t.rcv_nxt)
        got += len(seg.payload)
        t.rcv_nxt = (t.rcv_nxt + len(seg.payload)) & 0xFFFFFFFF
        segs.append(seg)
    t.check(got == total, segs[-1], "%d bytes in all, got %d" % (total, got))
    t.send(ACK)
    return segs


def psh(t):
    """5. The last segment of a write carries PSH (Linux's tcp_push); so does a small write's one."""
    t.passive_open()
    t.agent("write 3000", 3000)
    segs = _read_segments(t, 3000, "the write's data")
    for s in segs:
        t.check(len(s.payload) <= MSS, s, "segments of at most %d bytes" % MSS)
    t.check(segs[-1].flags & PSH, segs[-1], "PSH on the last segment of the write")
    t.agent("write 10", 10)
    seg = _read_segments(t, 10, "the small write")[0]
    t.check(seg.flags & PSH, seg, "PSH on the one segment of a small write")


def tiny_mss(t):
    """A peer announcing an MSS of 1 gets segments of tcp_min_snd_mss (48) less the timestamp
    option, 36 bytes, not byte-sized ones (Linux's __tcp_mtu_to_mss floor, the fix for the
    resource exhaustion of CVE-2019-11479)."""
    t.passive_open(syn_opts=[("mss", 1), ("sackOK",), ("TS", t.tsval(), 0), ("nop",), ("wscale", PEER_WSCALE)])
    t.agent("write 200", 200)
    segs = _read_segments(t, 200, "the write's data")
    for s in segs[:-1]:
        t.check(len(s.payload) == 36, s, "segments of 36 bytes (48 less the timestamp option)")


def keepalive_probe(t):
    """A keepalive probe is a bare ACK one below SND.NXT (Linux's tcp_xmit_probe_skb, RFC 9293
    3.8.4's "no data" form), sent after TCP_KEEPIDLE and again after TCP_KEEPINTVL when the
    peer's answer (an ACK) came; not a byte of garbage as some stacks send."""
    t.passive_open()
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL"):
        t.agent("setsockopt %s 1" % name, 0)
    t.agent("setsockopt SO_KEEPALIVE 1", 0)
    want = "ACK seq %d ack %d len 0" % (t.irs, t.snd_nxt)
    for i in range(2):
        probe = t.expect("keepalive probe %d" % (i + 1), timeout=2.5)
        t.check(probe.flags & (SYN | FIN | RST | PSH) == 0 and probe.seq == t.irs and probe.ack == t.snd_nxt
                and not probe.payload, probe, want)
        t.send(ACK)


def zero_window_probe(t):
    """Data waiting behind a zero window: the persist timer sends a bare ACK one below SND.UNA
    (Linux's tcp_send_probe0 by tcp_xmit_probe_skb), not the next byte; once the window opens
    the data goes."""
    t.passive_open()
    t.send(ACK, win=0)
    time.sleep(0.05)
    t.agent("write 100", 100)
    probe = t.expect("a zero-window probe", timeout=3)
    want = "ACK seq %d ack %d len 0" % (t.irs, t.snd_nxt)
    t.check(probe.flags & (SYN | FIN | RST) == 0 and probe.seq == t.irs and not probe.payload, probe, want)
    t.send(ACK)
    _read_segments(t, 100, "the data once the window opens")


def rst_in_window_challenge(t):
    """An RST in the window but not at RCV.NXT gets a challenge ACK and changes nothing (RFC 5961
    3.2, Linux's tcp_validate_incoming); the connection carries on."""
    t.passive_open()
    t.send(RST | ACK, seq=(t.snd_nxt + 1000) & M)
    ack = t.expect("a challenge ACK")
    t.check(ack.flags & (SYN | FIN | RST) == 0 and ack.seq == (t.irs + 1) & M and ack.ack == t.snd_nxt,
            ack, "ACK seq %d ack %d" % ((t.irs + 1) & M, t.snd_nxt))
    t.agent("write 10", 10)
    _read_segments(t, 10, "data after it")


def syn_in_established_challenge(t):
    """A SYN on an established connection gets a challenge ACK (RFC 5961 4.2, as Linux answers
    it) and no reset; the connection carries on."""
    t.passive_open()
    t.send(SYN, seq=(t.snd_nxt + 500) & M, opts=t.syn_opts())
    ack = t.expect("a challenge ACK")
    t.check(ack.flags & (SYN | FIN | RST) == 0 and ack.seq == (t.irs + 1) & M and ack.ack == t.snd_nxt,
            ack, "ACK seq %d ack %d" % ((t.irs + 1) & M, t.snd_nxt))
    t.agent("write 10", 10)
    _read_segments(t, 10, "data after it")


def _syn_linear_timeouts():
    try:
        return int(open("/proc/sys/net/ipv4/tcp_syn_linear_timeouts").read())
    except OSError:
        return 0  # a kernel before 6.5: doubling from the first timeout


def syn_retransmit(t):
    """An unanswered SYN is sent again after the initial RTO of 1 s (RFC 6298 2.1, Linux's
    TCP_TIMEOUT_INIT), the same SYN each time; the wait stays 1 s for tcp_syn_linear_timeouts
    more timeouts (Linux 6.5 on, 4 by default), then doubles (RFC 6298 5.5)."""
    linear = _syn_linear_timeouts()
    gaps = [1.0] * (linear + 1) + [2.0]
    t.agent("socket", 0)
    t.port = 8080
    t.agent.start("connect %s %d" % (pkt.PEER_IP, 8080))
    first = t.expect("SYN")
    t.tport = first.sport
    prev = first
    for gap in gaps:
        again = t.expect("the SYN again", timeout=gap + 1)
        t.check(again.flags == SYN and again.seq == first.seq and again.kinds() == first.kinds(), again,
                "the same SYN")
        took = again.time - prev.time
        t.check(abs(took - gap) < 0.25, again, "it %.1f s after the last (it came after %.2f s)" % (gap, took))
        prev = again
    t.send(RST | ACK, seq=0, ack=(first.seq + 1) & M)
    res = t.agent.result()
    t.check(res == "ECONNREFUSED", again, "connect to fail with ECONNREFUSED (agent said %s)" % res)


def synack_retransmit(t):
    """An unanswered SYN-ACK is sent again after 1 s, the same SYN-ACK (Linux's
    inet_csk_reqsk_queue_hash_add timer, TCP_TIMEOUT_INIT); the handshake then completes."""
    t.agent("listen 8000", 0)
    t.agent.start("accept")
    t.tport = 8000
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
    t.send(SYN, opts=t.syn_opts(), win=PEER_WIN)
    sa = t.expect("SYN-ACK")
    again = t.expect("the SYN-ACK again", timeout=2)
    t.check(again.flags == SYN | ACK and again.seq == sa.seq and again.ack == sa.ack, again, "the same SYN-ACK")
    took = again.time - sa.time
    t.check(abs(took - 1.0) < 0.25, again, "it 1 s after the first (it came after %.2f s)" % took)
    t.irs, t.rcv_nxt = sa.seq, (sa.seq + 1) & M
    t.send(ACK)
    res = t.agent.result()
    t.check(res == "0", again, "accept to return the connection (agent said %s)" % res)


def lone_segment_probe(t):
    """A lone unacknowledged segment is sent again first as a loss probe at the RTO's time
    (RFC 8985 7.2: the PTO no later than the RTO; Linux's tcp_schedule_loss_probe), then by the
    RTO one RTO after the probe, then after twice that: gaps of about one RTO, one RTO, two."""
    t.passive_open()
    t.agent("write 100", 100)
    first = t.expect("the data")
    t.check(len(first.payload) == 100, first, "100 bytes")
    times = [first.time]
    for i in range(3):
        seg = t.expect("the data again (%d)" % (i + 1), timeout=3)
        t.check(seg.seq == first.seq and len(seg.payload) == 100, seg, "the same 100 bytes")
        times.append(seg.time)
    g1, g2, g3 = (b - a for a, b in zip(times, times[1:]))
    t.check(abs(g2 - g1) < 0.3 * g1 and abs(g3 - 2 * g2) < 0.3 * g2, seg,
            "gaps of one RTO, one RTO, two (came %.2f, %.2f, %.2f s)" % (g1, g2, g3))


def closed_port_rst(t):
    """A SYN to a port nobody listens on gets RST|ACK, seq 0, acknowledging the SYN (RFC 9293
    3.10.7.1, Linux's tcp_v4_send_reset), without options, DF and IP id 0."""
    t.agent("listen 8000", 0)  # another port: the side under test is up
    t.tport = 8001
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
    syn = t.send(SYN, opts=t.syn_opts(), win=PEER_WIN)
    rst = t.expect("RST|ACK")
    want = "R. seq 0 ack %d len 0, no options" % ((syn.seq + 1) & M)
    t.check(rst.flags == RST | ACK and rst.seq == 0 and rst.ack == (syn.seq + 1) & M and not rst.payload
            and not rst.kinds() and rst.win == 0, rst, want)
    # ip_send_unicast_reply's control socket (IP_PMTUDISC_DO, no peer): DF, identification 0.
    t.check(rst.df and rst.ip_id == 0, rst, "DF, IP id 0")


def shutdown_rd_read(t):
    """8. After shutdown(SHUT_RD), data the peer sends is still ACKed, and read() returns it (Linux
    queues it; read returns 0 only once the queue is empty, at once, never waiting). Data queued
    before the shutdown is read first, and one read takes it with what came after; poll says
    POLLIN|POLLRDHUP throughout, data or not (tcp_poll's RCV_SHUTDOWN)."""
    t.passive_open()
    t.data(50)
    expect_plain_ack(t, "an ACK of the data before the shutdown")
    t.agent("shutdown RD", 0)
    t.agent("poll", "IN|OUT|RDHUP")
    t.agent("read 30", 30)
    t.data(100)
    expect_plain_ack(t, "an ACK of the data")
    t.agent("read 1000", 120)
    t.agent("poll", "IN|OUT|RDHUP")
    t.agent("read 1000", 0)
    t.data(10)
    expect_plain_ack(t, "an ACK of more data")
    t.agent("read 5 PEEK", 5)
    t.agent("read 1000", 10)


def shutdown_rd_epoll_edge(t):
    """28. After shutdown(SHUT_RD), each arrival still wakes the socket: edge-triggered epoll reports
    an edge (IN|RDHUP) for the shutdown, none while nothing comes, and a new one when the peer's data
    arrives, and again for its FIN (Linux's tcp_data_queue and tcp_fin wake the socket whatever its
    shutdown); the data is read whole after each."""
    t.passive_open()
    t.agent("epollet", 0)
    t.agent("shutdown RD", 0)
    t.agent("epollwait 0", "IN|RDHUP")
    t.agent("epollwait 50", 0)
    t.data(100)
    expect_plain_ack(t, "an ACK of the data")
    t.agent("epollwait 500", "IN|RDHUP")
    t.agent("epollwait 50", 0)
    t.agent("read 1000", 100)
    t.data(30)
    expect_plain_ack(t, "an ACK of more data")
    t.agent("epollwait 500", "IN|RDHUP")
    t.agent("read 1000", 30)
    t.send(FIN | ACK)
    expect_plain_ack(t, "an ACK of the FIN")
    t.agent("epollwait 500", "IN|RDHUP")
    t.agent("read 1000", 0)


def listener_drops_strays(t):
    """32. A listening port drops what carries neither SYN nor ACK (a FIN alone, no flag at all,
    FIN|PSH|URG) and SYN|FIN, unanswered (RFC 9293 3.10.7.2, "fourth, other data or control";
    Linux's tcp_rcv_state_process in LISTEN); a bare ACK that returns no cookie gets RST, its
    sequence number the ACK's."""
    t.agent("listen 8000", 0)
    t.tport = 8000
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
    for flags, what in ((FIN, "FIN"), (0, "no flag"), (FIN | PSH | URG, "FIN|PSH|URG"), (SYN | FIN, "SYN|FIN")):
        t.send(flags, seq=1000, ack=0)
        t.quiet(200, "a listener drops " + what)
    t.send(ACK, seq=1000, ack=123456)
    rst = t.expect("RST to a stray ACK")
    t.check(rst.flags & RST and rst.seq == 123456, rst, "RST seq 123456")


def linger_zero_close_rst(t):
    """31. close() under SO_LINGER {1, 0} aborts: one RST|ACK (with timestamps) and no FIN before
    it, the data the peer sent acknowledged, then nothing (Linux's tcp_close with a zero linger
    time calls tcp_disconnect)."""
    t.passive_open()
    t.data(20)
    expect_plain_ack(t, "an ACK of the data")
    t.agent("read 100", 20)
    t.agent("linger 1 0", 0)
    t.agent("close", 0)
    expect_rst_ack(t, t.irs + 1, ts=True)
    t.quiet(300, "the connection is gone")


def defer_accept_data(t):
    """29. TCP_DEFER_ACCEPT (5 s asked: Linux keeps it as SYN-ACK retransmissions, 3, and getsockopt
    says what those last, 7 s): the bare ACK that ends the handshake is dropped (nothing answers
    it, and accept finds nothing), and the first data completes the connection: ACKed at once, and
    accept returns it with the data to read (Linux's tcp_check_req)."""
    t.passive_open(listen="defer 5", accept=False)
    t.agent("getlistener TCP_DEFER_ACCEPT", 7)
    t.agent("pollaccept 300", 0)
    t.quiet(100, "the bare ACK is dropped")
    t.data(10)
    expect_plain_ack(t, "an ACK of the data that completes the connection")
    t.agent("pollaccept 500", "IN")
    t.agent("accept", 0)
    t.agent("read 100", 10)


def defer_accept_last_chance(t):
    """30. TCP_DEFER_ACCEPT of 1 s (one SYN-ACK retransmission) and no data: when the deferring
    ends, the SYN-ACK goes again as the last chance (Linux's syn_ack_recalc), and the bare ACK that
    answers it is taken: accept returns the connection, with nothing to read."""
    sa = t.passive_open(listen="defer 1", accept=False)
    t.agent("pollaccept 300", 0)
    again = t.expect("the SYN-ACK again when the deferring ends", timeout=3)
    t.check(again.flags & (SYN | ACK) == SYN | ACK and again.seq == sa.seq, again, "the SYN-ACK again")
    t.send(ACK)
    t.agent("pollaccept 500", "IN")
    t.agent("accept", 0)
    t.agent("read 100 DONTWAIT", "EAGAIN")


def shutdown_rd_close_rst(t):
    """23. After shutdown(SHUT_RD) the data the peer sends is still queued; close() with it unread
    sends RST|ACK, not FIN, as for any data unread at close (RFC 2525 2.17; Linux's tcp_close counts
    the receive queue whatever the shutdown), acking all the peer sent; then nothing more."""
    t.passive_open()
    t.agent("shutdown RD", 0)
    t.data(100)
    expect_plain_ack(t, "an ACK of the data")
    time.sleep(0.05)
    t.agent("close", 0)
    expect_rst_ack(t, t.irs + 1, ts=True)
    t.quiet(300, "the connection is gone")


def cork(t):
    """9. TCP_CORK holds partial segments: two writes of 100 bytes send nothing while corked; uncorking
    sends them as one segment of 200."""
    t.passive_open()
    t.agent("setsockopt TCP_CORK 1", 0)
    t.agent("write 100", 100)
    t.agent("write 100", 100)
    t.quiet(150, "corked")
    t.agent("setsockopt TCP_CORK 0", 0)
    seg = t.expect("one segment of 200 bytes")
    t.check(len(seg.payload) == 200 and seg.seq == t.rcv_nxt, seg, "one segment seq %d len 200" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 200) & M
    t.send(ACK)


def msg_more(t):
    """10. send(MSG_MORE) holds its data for the next send: nothing goes out after 100 with MSG_MORE;
    then 100 more without it go out as one segment of 200."""
    t.passive_open()
    t.agent("send 100 MORE", 100)
    # Held, not merely slow: without this wait a stack that ignores MSG_MORE may still send 200 in
    # one segment when both sends happen to reach it at once.
    t.quiet(100, "MSG_MORE holds the data for the next send")
    t.agent("send 100", 100)
    seg = t.expect("one segment of 200 bytes")
    t.check(len(seg.payload) == 200 and seg.seq == t.rcv_nxt, seg, "one segment seq %d len 200" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 200) & M
    t.send(ACK)
    t.quiet(100, "all was sent")


def ecn_passive(t):
    """11. A SYN with ECE|CWR (RFC 3168 6.1.1) gets, with tcp_ecn 1 or 2 (Linux's default), a SYN-ACK
    with ECE and not CWR, itself Not-ECT; the data then sent is ECT(0), the pure ACKs Not-ECT."""
    ecn = int(open("/proc/sys/net/ipv4/tcp_ecn").read())
    if ecn not in (1, 2):
        raise Fail("tcp_ecn is %d here; this case knows Linux's behaviour for 1 and 2" % ecn)
    sa = t.passive_open(syn_flags=SYN | ECE | CWR)
    t.check(sa.flags == SYN | ACK | ECE, sa, "flags S.E (ECN accepted)")
    t.check(sa.ecn == NOT_ECT, sa, "a SYN-ACK that is Not-ECT")
    t.agent("write 100", 100)
    seg = _read_segments(t, 100, "the data")[0]
    t.check(seg.ecn == ECT0, seg, "data segment marked ECT(0)")
    t.data(10)
    ack = t.expect("an ACK of the peer's data")
    t.check(not ack.payload and ack.ecn == NOT_ECT, ack, "a pure ACK that is Not-ECT")


def ecn_ce_echo(t):
    """13. ECN after the handshake (RFC 3168 6.1.2-6.1.3). As receiver: data marked CE is ACKed at
    once with ECE, and every ACK carries ECE until a segment with CWR, which is itself ACKed at once
    without it. As sender: an ACK with ECE makes the next new data carry CWR (once), ECT(0)."""
    sa = t.passive_open(syn_flags=SYN | ECE | CWR)
    t.check(sa.flags == SYN | ACK | ECE, sa, "flags S.E (ECN accepted)")
    seg = t.data(100, ecn=CE)
    ack = t.expect("an ACK of the CE-marked data")
    t.check(not ack.payload and ack.ack == t.snd_nxt and ack.flags & ECE, ack, "ACK with ECE ack %d" % t.snd_nxt)
    t.check(ack.time - seg.time < QUICK, ack, "it at once (within %d ms)" % (QUICK * 1000))
    t.data(100, ecn=ECT0)
    ack = t.expect("an ACK of the next data")
    t.check(ack.ack == t.snd_nxt and ack.flags & ECE, ack, "ACK with ECE ack %d: the echo goes on until CWR" % t.snd_nxt)
    seg = t.data(100, flags=ACK | PSH | CWR, ecn=ECT0)
    ack = t.expect("an ACK of the data with CWR")
    t.check(ack.ack == t.snd_nxt and not ack.flags & ECE, ack, "ACK ack %d without ECE: CWR ends the echo" % t.snd_nxt)
    t.check(ack.time - seg.time < QUICK, ack, "it at once (within %d ms)" % (QUICK * 1000))
    # The other way: an ECE on the ACK of our data.
    t.agent("write 100", 100)
    seg = t.expect("the data")
    t.check(len(seg.payload) == 100 and seg.ecn == ECT0 and not seg.flags & (CWR | ECE), seg,
            "100 bytes, ECT(0), no CWR or ECE")
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.send(ACK | ECE)
    t.agent("write 100", 100)
    seg = t.expect("the data after an ECE")
    t.check(len(seg.payload) == 100 and seg.ecn == ECT0 and seg.flags & CWR, seg,
            "100 bytes, ECT(0), with CWR (cwnd was reduced)")
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.send(ACK)
    t.agent("write 100", 100)
    seg = t.expect("more data")
    t.check(len(seg.payload) == 100 and seg.ecn == ECT0 and not seg.flags & CWR, seg, "no CWR again")
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.send(ACK)


def _burst(t, gap):
    """The data segments sent back to back: until none comes for gap seconds (at most 200)."""
    segs = []
    first = t.expect("a burst of data")
    while first is not None and len(segs) < 200:
        if first.payload:
            t.check(first.seq == t.rcv_nxt, first, "new data at seq %d (no retransmission)" % t.rcv_nxt)
            t.rcv_nxt = (t.rcv_nxt + len(first.payload)) & M
            segs.append(first)
        first = t.recv(gap)
    return segs


def stretch_ack(t):
    """12. Slow start counts what an ACK covers, not the ACKs (Linux's tcp_slow_start, RFC 3465): one
    ACK of a whole first flight of N segments lets 2N go out at once (a stack counting ACKs: N+1)."""
    t.passive_open()
    # Room for all of it at once: the flights are then bound by the congestion window alone.
    t.agent("setsockopt SO_SNDBUF 1048576", 0)
    t.agent("write 100000", 100000)
    # A burst ends after 1 ms of quiet: its segments come microseconds apart, and a tail loss
    # probe may come 2 ms after the last (Linux at HZ=1000: 2·SRTT plus two jiffies).
    n1 = len(_burst(t, 0.001))
    t.send(ACK)
    second = _burst(t, 0.001)
    # If the runner was slow to ACK, Linux's tail loss probe may have sent one segment beyond the
    # window (after ~5 ms here): that one is not in the window the ACK grows, so 2N-1 then.
    t.check(2 * n1 - 1 <= len(second) <= 2 * n1, second[-1],
            "%d segments after one ACK of %d (got %d)" % (2 * n1, n1, len(second)))
    t.send(ACK)


def nagle_minshall(t):
    """14. Nagle in Minshall's form (Linux's tcp_nagle_check): the partial tail of a write follows its
    full segment at once, unacknowledged; a small write waits only while another small segment is
    unacknowledged, and goes with the ACK of that one."""
    t.passive_open()
    t.agent("write 2000", 2000)
    segs = _read_segments(t, 2000, "a full segment and the tail, with no ACK between")
    t.check(len(segs) == 2 and len(segs[1].payload) == 2000 - MSS, segs[-1], "segments of %d and %d" % (MSS, 2000 - MSS))
    t.agent("write 100", 100)
    seg = t.expect("the small write, nothing being unacknowledged")
    t.check(seg.seq == t.rcv_nxt and len(seg.payload) == 100, seg, "100 bytes at seq %d" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.agent("write 100", 100)
    t.quiet(100, "a small write behind an unacknowledged small segment")
    t.send(ACK)
    seg = t.expect("the held write after the ACK")
    t.check(seg.seq == t.rcv_nxt and len(seg.payload) == 100, seg, "100 bytes at seq %d" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.send(ACK)


def disconnect_rst(t):
    """15. connect(AF_UNSPEC) on an established connection (Linux's tcp_disconnect) sends RST|ACK at
    once, acking all the peer sent, with the timestamp option, and nothing more; SO_ERROR then says
    ECONNRESET once, and the same socket connects anew."""
    t.active_open()
    t.data(100)
    ack = t.expect("an ACK of the data")
    t.check(ack.ack == t.snd_nxt, ack, "ACK ack %d" % t.snd_nxt)
    t.agent("disconnect", 0)
    expect_rst_ack(t, t.rcv_nxt, ts=True)
    t.quiet(300, "the connection is gone")
    t.agent("getsockopt SO_ERROR", errno.ECONNRESET)
    t.agent("getsockopt SO_ERROR", 0)
    t.active_open(port=8081, new_socket=False)
    t.data(10)
    expect_plain_ack(t, "an ACK of data on the new connection")


def disconnect_close_wait(t):
    """16. connect(AF_UNSPEC) after the peer's FIN (CLOSE-WAIT, Linux's tcp_need_reset) sends RST|ACK
    acking the FIN too, and nothing more."""
    t.passive_open()
    t.send(ACK | FIN)
    expect_plain_ack(t, "an ACK of the FIN")
    t.agent("read 10", 0)
    t.agent("disconnect", 0)
    expect_rst_ack(t, t.rcv_nxt, ts=False)
    t.quiet(300, "the connection is gone")


def rst_close_wait(t):
    """An RST after the peer's FIN (CLOSE-WAIT): Linux's tcp_reset leaves EPIPE in sk_err, not
    ECONNRESET. Reads stay at end of file (the FIN came first), SO_ERROR says EPIPE once, a send
    says EPIPE; nothing answers the reset."""
    t.passive_open()
    t.send(ACK | FIN)
    expect_plain_ack(t, "an ACK of the FIN")
    t.agent("read 10", 0)
    t.send(RST | ACK)
    t.quiet(300, "nothing answers the reset")
    t.agent("read 10", 0)
    t.agent("getsockopt SO_ERROR", errno.EPIPE)
    t.agent("getsockopt SO_ERROR", 0)
    t.agent("send 10", "EPIPE")
    t.agent("read 10", 0)
    t.quiet(200, "nothing after the failed send")


def listener_shutdown_rst(t):
    """17. shutdown(SHUT_RD) of a listener (Linux's inet_shutdown, then tcp_disconnect and
    inet_csk_listen_stop) resets a connection nobody accepted yet with RST|ACK, and nothing more."""
    t.agent("listen 8000", 0)
    t.tport = 8000
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
    t.send(SYN, opts=t.syn_opts())
    sa = t.expect("SYN-ACK")
    t.check(sa.flags & (SYN | ACK | RST) == SYN | ACK, sa, "SYN-ACK")
    t.irs, t.rcv_nxt = sa.seq, (sa.seq + 1) & M
    t.ts_ok = bool(sa.opt("TS"))
    t.send(ACK)
    t.quiet(100, "an established connection waits for accept")
    t.agent("shutdownlistener RD", 0)
    expect_rst_ack(t, t.rcv_nxt, ts=False)
    t.quiet(300, "the connection is gone")
FASTOPEN = 34  # the TCP option kind (RFC 7413 4.1.1)


def _new_peer_connection(t):
    """The peer starts a new connection to the same listener: a new port and ISN."""
    t.port = random.randrange(40000, 60000)
    t.iss = random.randrange(1 << 32)
    t.snd_nxt, t.rcv_nxt = t.iss, None


def tfo_server(t):
    """15. Fast Open server (RFC 7413 4.2), with tcp_fastopen=3 and TCP_FASTOPEN on the listener: a
    cookie request gets a cookie in the SYN-ACK; a SYN with that cookie and data gets a SYN-ACK that
    acknowledges the data (and no cookie), and the connection is accepted, read and written before
    the handshake's last ACK; a SYN with a wrong cookie and data gets the right cookie and an ACK of the
    SYN alone, and the data sent again after the handshake is read."""
    t.agent("listen 8000 fastopen 5", 0)
    t.tport = 8000
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)
    # 1. The cookie request, on a connection that then completes and is reset.
    t.agent.start("accept")
    t.send(SYN, opts=t.syn_opts() + [(FASTOPEN, b"")])
    sa = t.expect("SYN-ACK with a cookie")
    cookie = sa.opt(FASTOPEN)
    t.check(sa.flags & (SYN | ACK | RST | FIN) == SYN | ACK and sa.ack == t.snd_nxt, sa, "SYN-ACK ack %d" % t.snd_nxt)
    t.check(cookie is not None and 4 <= len(cookie[1]) <= 16 and len(cookie[1]) % 2 == 0, sa,
            "a Fast Open cookie of 4 to 16 bytes (an even number) in the SYN-ACK")
    cookie = cookie[1]
    t.rcv_nxt = (sa.seq + 1) & M
    t.send(ACK)
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return the connection (it said %s)" % res)
    t.send(RST | ACK)
    t.agent("close", 0)
    # 2. The cookie and data: acknowledged by the SYN-ACK, accepted and read at once.
    _new_peer_connection(t)
    data = b"hello, fast open"
    t.agent.start("accept")
    t.send(SYN, payload=data, opts=t.syn_opts() + [(FASTOPEN, cookie)])
    sa = t.expect("SYN-ACK acknowledging the data")
    t.check(sa.flags & (SYN | ACK | RST | FIN) == SYN | ACK and sa.ack == t.snd_nxt, sa,
            "SYN-ACK ack %d: the SYN and its %d bytes" % (t.snd_nxt, len(data)))
    t.check(sa.opt(FASTOPEN) is None, sa, "no cookie in the SYN-ACK of a good one")
    t.rcv_nxt = (sa.seq + 1) & M
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return before the handshake's last ACK (it said %s)" % res)
    res = t.agent("read 100")
    t.check(res == str(len(data)), sa, "the SYN's %d bytes read before the last ACK (read said %s)" % (len(data), res))
    t.agent("write 10", 10)
    reply = t.expect("the reply, before the handshake's last ACK")
    want = (sa.seq + 1) & M
    t.check(reply.flags & (SYN | RST | FIN) == 0 and reply.seq == want and len(reply.payload) == 10, reply,
            "10 bytes at seq %d at once" % want)
    t.rcv_nxt = (want + 10) & M
    t.send(ACK)
    t.quiet(100, "nothing owed: the SYN-ACK acknowledged the data, the ACK the reply")
    t.send(RST | ACK)
    t.agent("close", 0)
    # 3. A cookie that is not the listener's: the data is not acknowledged, the right cookie comes back.
    _new_peer_connection(t)
    wrong = bytes(b ^ 0x55 for b in cookie)
    t.agent.start("accept")
    syn = t.send(SYN, payload=data, opts=t.syn_opts() + [(FASTOPEN, wrong)])
    sa = t.expect("SYN-ACK with a fresh cookie")
    want = (syn.seq + 1) & M
    t.check(sa.flags & (SYN | ACK | RST | FIN) == SYN | ACK and sa.ack == want, sa,
            "SYN-ACK ack %d: the SYN alone, its data ignored" % want)
    t.check(sa.opt(FASTOPEN) == (FASTOPEN, cookie), sa, "the listener's cookie for us in the SYN-ACK")
    t.rcv_nxt = (sa.seq + 1) & M
    t.snd_nxt = want
    t.send(ACK)
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return the connection (it said %s)" % res)
    t.data(len(data))
    ack = t.expect("an ACK of the data sent again")
    t.check(ack.ack == t.snd_nxt, ack, "ACK ack %d" % t.snd_nxt)
    res = t.agent("read 100")
    t.check(res == str(len(data)), ack, "the data read after the handshake (read said %s)" % res)


tfo_server.sysctls = {"net.ipv4.tcp_fastopen": "3"}


def _fastopen_syn(t, what, n=20, extra=""):
    """The agent's sendto(MSG_FASTOPEN) of n bytes to the peer (agent.py's fastopen command, with
    extra words); its SYN (checked to be one)."""
    t.port, t.tport = 8080, None
    t.iss = random.randrange(1 << 32)
    t.snd_nxt, t.rcv_nxt = t.iss, None
    t.agent.start(("fastopen %s %d %d %s" % (pkt.PEER_IP, t.port, n, extra)).strip())
    syn = t.expect(what)
    t.check(syn.flags & (SYN | ACK | RST | FIN) == SYN, syn, what)
    t.tport, t.irs = syn.sport, syn.seq
    return syn


def _fastopen_syn_ack(t, syn, acked, cookie=None):
    """The peer's SYN-ACK to syn, acknowledging `acked` bytes of its data, with `cookie` if any."""
    t.rcv_nxt = (syn.seq + 1 + acked) & M
    opts = [("mss", 1460), ("sackOK",), ("TS", t.tsval(), syn.opt("TS")[1]), ("nop",), ("wscale", PEER_WSCALE)]
    if cookie is not None:
        opts += [(FASTOPEN, cookie)]
    t.send(SYN | ACK, opts=opts, win=64240)


def tfo_client(t):
    """16. Fast Open client (RFC 7413 4.1, Linux's default tcp_fastopen=1): sendto(MSG_FASTOPEN)
    with no cookie sends a SYN with a cookie request and no data, the data after the handshake;
    with the cookie the SYN-ACK gave, the next SYN carries cookie and data; data the SYN-ACK does
    not acknowledge is sent again at once after it, and data it does is not."""
    cookie = bytes.fromhex("c0ffee0123456789")
    syn = _fastopen_syn(t, "a SYN asking for a cookie")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, b"") and not syn.payload, syn, "a SYN with a cookie request, no data")
    _fastopen_syn_ack(t, syn, 0, cookie)
    seg = t.expect("the data after the handshake")
    if not seg.payload:
        seg = t.expect("the data after the handshake's ACK")
    want = (t.irs + 1) & M
    t.check(seg.seq == want and len(seg.payload) == 20 and seg.ack == t.snd_nxt, seg, "20 bytes at seq %d" % want)
    t.check(t.agent.result() == "20", seg, "sendto to return 20")
    t.send(RST | ACK, ack=(want + 20) & M)
    t.agent("close", 0)
    # The cookie now rides with the data; this SYN-ACK acknowledges the SYN alone.
    syn = _fastopen_syn(t, "a SYN with the cookie and the data")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, cookie) and len(syn.payload) == 20, syn, "a SYN with cookie %s and 20 bytes" % cookie.hex())
    _fastopen_syn_ack(t, syn, 0)
    want = (t.irs + 1) & M
    seg = t.expect("the SYN's data sent again")
    if not seg.payload:
        seg = t.expect("the SYN's data sent again, after the ACK")
    t.check(seg.seq == want and len(seg.payload) == 20, seg, "the 20 bytes again at seq %d" % want)
    t.check(seg.time - syn.time < 1.0, seg, "at once, not after a retransmission timeout")
    t.check(t.agent.result() == "20", seg, "sendto to return 20")
    t.send(RST | ACK, ack=(want + 20) & M)
    t.agent("close", 0)
    # This SYN-ACK acknowledges the data too: nothing is sent again.
    syn = _fastopen_syn(t, "a SYN with the cookie and the data, again")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, cookie) and len(syn.payload) == 20, syn, "a SYN with cookie and 20 bytes")
    _fastopen_syn_ack(t, syn, 20)
    ack = t.expect("the handshake's ACK")
    want = (t.irs + 21) & M
    t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == want and not ack.payload and ack.ack == t.snd_nxt, ack,
            "ACK seq %d ack %d, no data" % (want, t.snd_nxt))
    t.check(t.agent.result() == "20", ack, "sendto to return 20")
    t.quiet(300, "the SYN's data was acknowledged")


EXP, MAGIC = 254, b"\xf9\x89"  # Fast Open's experimental form: kind 254, magic 0xF989 (RFC 6994)


def _tfo_listen(t, how):
    """listen on 8000 with Fast Open (agent.py's listen words), the peer ready to send."""
    t.agent("listen 8000 " + how, 0)
    t.tport = 8000
    if not t.link.resolve(pkt.TARGET_IP):
        raise Fail("no ARP reply from %s" % pkt.TARGET_IP)


def _tfo_syn(t, opts, data=b""):
    """A new connection from the peer: a SYN with these extra options and data, accept started;
    returns the SYN-ACK (checked to be one, for the SYN alone or with its data as `acked` says
    in the caller), with rcv_nxt set from it."""
    _new_peer_connection(t)
    t.agent.start("accept")
    syn = t.send(SYN, payload=data, opts=t.syn_opts() + opts)
    sa = t.expect("SYN-ACK")
    t.check(sa.flags & (SYN | ACK | RST | FIN) == SYN | ACK, sa, "a SYN-ACK")
    t.rcv_nxt = (sa.seq + 1) & M
    return syn, sa


def _tfo_taken(t, sa, data):
    """The SYN's data was taken (its SYN-ACK checked by the caller): accept returns before the
    handshake's last ACK and the data is read; the connection is then reset and closed."""
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return before the handshake's last ACK (it said %s)" % res)
    res = t.agent("read 100")
    t.check(res == str(len(data)), sa, "the SYN's %d bytes read (read said %s)" % (len(data), res))
    t.send(RST | ACK)
    t.agent("close", 0)


def _tfo_not_taken(t, syn, sa):
    """A SYN-ACK of the SYN alone: the handshake completes, accept returns; then reset."""
    t.snd_nxt = (syn.seq + 1) & M
    t.send(ACK)
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return the connection (it said %s)" % res)
    t.send(RST | ACK)
    t.agent("close", 0)


def tfo_exp(t):
    """17. Fast Open's experimental form, kind 254 with magic 0xF989 (RFC 7413 4.1.1, RFC 6994),
    which Linux still reads, at a listener with TCP_FASTOPEN (tcp_fastopen=3): a cookie request in it
    gets the cookie in it, in kind 34's place (after window scale; 12 bytes, no padding), never as
    kind 34; a SYN with that cookie and data is accepted, its data acknowledged and no cookie given;
    a wrong cookie in it gets the right one in it."""
    _tfo_listen(t, "fastopen 5")
    syn, sa = _tfo_syn(t, [(EXP, MAGIC)])
    want = "SYN-ACK ack %d <mss,sackOK,TS,nop,wscale,exp-tfo 0xf989 cookie>" % t.snd_nxt
    o = sa.opt(EXP)
    t.check(sa.ack == t.snd_nxt and o is not None and o[1][:2] == MAGIC and len(o[1]) == 2 + 8, sa, want)
    t.check(sa.opt(FASTOPEN) is None and sa.kinds() == ["mss", "sackOK", "TS", "wscale", EXP], sa, want)
    cookie = o[1][2:]
    _tfo_not_taken(t, syn, sa)
    data = b"hello, experiment"
    syn, sa = _tfo_syn(t, [(EXP, MAGIC + cookie)], data)
    t.check(sa.ack == t.snd_nxt and sa.opt(EXP) is None and sa.opt(FASTOPEN) is None, sa,
            "SYN-ACK ack %d (the SYN and its data), no cookie" % t.snd_nxt)
    _tfo_taken(t, sa, data)
    syn, sa = _tfo_syn(t, [(EXP, MAGIC + bytes(b ^ 0x55 for b in cookie))], data)
    t.check(sa.ack == (syn.seq + 1) & M and sa.opt(EXP) == (EXP, MAGIC + cookie) and sa.opt(FASTOPEN) is None,
            sa, "SYN-ACK ack %d (the SYN alone) with the right cookie under kind 254" % ((syn.seq + 1) & M))
    _tfo_not_taken(t, syn, sa)


tfo_exp.sysctls = {"net.ipv4.tcp_fastopen": "3"}


def tfo_no_cookie_server(t):
    """18. TCP_FASTOPEN_NO_COOKIE on a listener with TCP_FASTOPEN (Linux's, beyond RFC 7413;
    tcp_fastopen=3): a SYN with data and no Fast Open option has its data taken, acknowledged by a
    SYN-ACK with no cookie, and is accepted and read before the handshake's last ACK; so is a
    cookie request without data (accepted at once, no cookie given); a SYN with neither is an
    ordinary one."""
    _tfo_listen(t, "fastopen 5 nocookie")
    data = b"no cookie needed"
    syn, sa = _tfo_syn(t, [], data)
    t.check(sa.ack == t.snd_nxt and sa.opt(FASTOPEN) is None, sa,
            "SYN-ACK ack %d (the SYN and its data), no cookie" % t.snd_nxt)
    _tfo_taken(t, sa, data)
    syn, sa = _tfo_syn(t, [(FASTOPEN, b"")])
    t.check(sa.ack == t.snd_nxt and sa.opt(FASTOPEN) is None, sa, "SYN-ACK ack %d, no cookie" % t.snd_nxt)
    res = t.agent.result()
    t.check(res == "0", sa, "accept to return before the handshake's last ACK (it said %s)" % res)
    t.send(RST | ACK)
    t.agent("close", 0)
    syn, sa = _tfo_syn(t, [])
    t.check(sa.ack == t.snd_nxt and sa.opt(FASTOPEN) is None, sa, "SYN-ACK ack %d, no cookie" % t.snd_nxt)
    t.quiet(100, "an ordinary handshake: accept waits for the last ACK")
    _tfo_not_taken(t, syn, sa)


tfo_no_cookie_server.sysctls = {"net.ipv4.tcp_fastopen": "3"}


def tfo_no_cookie_client(t):
    """19. TCP_FASTOPEN_NO_COOKIE on a client socket (Linux's, beyond RFC 7413; tcp_fastopen=1):
    sendto(MSG_FASTOPEN) puts the data in the SYN with no Fast Open option at all; a SYN-ACK that
    acknowledges it gets a bare ACK; sendto returns all it was given. After it the option reads 1
    and TCP_FASTOPEN_CONNECT 0 (sendto set none)."""
    syn = _fastopen_syn(t, "a SYN with the data and no Fast Open option", extra="nocookie")
    t.check(syn.opt(FASTOPEN) is None and syn.opt(EXP) is None and len(syn.payload) == 20, syn,
            "a SYN with 20 bytes and no Fast Open option")
    _fastopen_syn_ack(t, syn, 20)
    ack = t.expect("the handshake's ACK")
    want = (t.irs + 21) & M
    t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == want and not ack.payload and ack.ack == t.snd_nxt, ack,
            "ACK seq %d ack %d, no data" % (want, t.snd_nxt))
    t.check(t.agent.result() == "20", ack, "sendto to return 20")
    t.agent("getsockopt TCP_FASTOPEN_NO_COOKIE", 1)
    t.agent("getsockopt TCP_FASTOPEN_CONNECT", 0)
    t.quiet(300, "the SYN's data was acknowledged")


def tfo_backup_key(t):
    """20. A listener's 32-byte TCP_FASTOPEN_KEY, a primary and a backup key (Linux since 5.3,
    tcp_fastopen=3): a cookie made with the backup is good, its SYN's data acknowledged, and the
    SYN-ACK gives the client the primary's cookie; that one is good too (no cookie given); once the
    backup is gone (a 16-byte key), the old cookie is refused and the primary's offered."""
    k1, k2 = bytes(range(16)), bytes(range(16, 32))
    _tfo_listen(t, "fastopen 5 key " + k1.hex())
    syn, sa = _tfo_syn(t, [(FASTOPEN, b"")])
    old = sa.opt(FASTOPEN)
    t.check(old is not None and len(old[1]) == 8, sa, "a cookie of 8 bytes")
    old = old[1]
    _tfo_not_taken(t, syn, sa)
    t.agent("listenkey " + (k2 + k1).hex(), 0)
    data = b"a cookie of the backup key"
    syn, sa = _tfo_syn(t, [(FASTOPEN, old)], data)
    new = sa.opt(FASTOPEN)
    t.check(sa.ack == t.snd_nxt and new is not None and len(new[1]) == 8 and new[1] != old, sa,
            "SYN-ACK ack %d (the SYN and its data) with a new cookie, the primary key's" % t.snd_nxt)
    new = new[1]
    _tfo_taken(t, sa, data)
    syn, sa = _tfo_syn(t, [(FASTOPEN, new)], data)
    t.check(sa.ack == t.snd_nxt and sa.opt(FASTOPEN) is None, sa,
            "SYN-ACK ack %d (the SYN and its data), no cookie" % t.snd_nxt)
    _tfo_taken(t, sa, data)
    t.agent("listenkey " + k2.hex(), 0)
    syn, sa = _tfo_syn(t, [(FASTOPEN, old)], data)
    t.check(sa.ack == (syn.seq + 1) & M and sa.opt(FASTOPEN) == (FASTOPEN, new), sa,
            "SYN-ACK ack %d (the SYN alone) with the primary's cookie" % ((syn.seq + 1) & M))
    _tfo_not_taken(t, syn, sa)


tfo_backup_key.sysctls = {"net.ipv4.tcp_fastopen": "3"}


def tfo_client_nonblock(t):
    """21. A non-blocking sendto(MSG_FASTOPEN) with a cookie at hand (Linux's tcp_sendmsg_fastopen
    and tcp_send_syn_data): the SYN carries as much as fits, the MSS less the 40 bytes of option
    space (1420 here), and sendto returns that much, not the whole length (the connect is in
    progress; the rest is the program's to send). TCP_FASTOPEN_CONNECT reads 0 after it."""
    cookie = bytes.fromhex("c0ffee0123456789")
    syn = _fastopen_syn(t, "a SYN asking for a cookie")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, b""), syn, "a SYN with a cookie request")
    _fastopen_syn_ack(t, syn, 0, cookie)
    seg = t.expect("the data after the handshake")
    if not seg.payload:
        seg = t.expect("the data after the handshake's ACK")
    t.check(t.agent.result() == "20", seg, "sendto to return 20")
    t.send(RST | ACK, ack=(t.irs + 21) & M)
    t.agent("close", 0)
    room = MSS + 12 - 40
    syn = _fastopen_syn(t, "a SYN with the cookie and what fits of 3000 bytes", n=3000, extra="DONTWAIT")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, cookie) and len(syn.payload) == room, syn,
            "a SYN with the cookie and %d bytes" % room)
    res = t.agent.result()
    t.check(res == str(room), syn, "sendto to return %d (it said %s)" % (room, res))
    _fastopen_syn_ack(t, syn, room)
    ack = t.expect("the handshake's ACK")
    want = (t.irs + 1 + room) & M
    t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == want and not ack.payload, ack,
            "ACK seq %d, no data" % want)
    t.agent("getsockopt TCP_FASTOPEN_CONNECT", 0)
    t.quiet(300, "sendto's data was all in the SYN")


def tfo_connect_nonblock(t):
    """22. TCP_FASTOPEN_CONNECT with a cookie at hand: connect returns 0 at once and sends
    nothing; the first non-blocking send then goes as sendto(MSG_FASTOPEN) does (tcp_sendmsg_locked
    calls tcp_sendmsg_fastopen while the connect is deferred): the SYN carries the cookie and as
    much as fits (1420 here, across the message's two iovecs), and sendmsg returns that much, not
    the whole length; the next send is an ordinary one."""
    cookie = bytes.fromhex("c0ffee0123456789")
    t.port, t.tport = 8080, None
    t.agent("socket", 0)
    t.agent("setsockopt TCP_FASTOPEN_CONNECT 1", 0)
    t.agent.start("connect %s %d" % (pkt.PEER_IP, t.port))
    syn = t.expect("a SYN asking for a cookie")
    t.check(syn.flags & (SYN | ACK) == SYN and syn.opt(FASTOPEN) == (FASTOPEN, b""), syn, "a SYN with a cookie request")
    t.tport, t.irs = syn.sport, syn.seq
    _fastopen_syn_ack(t, syn, 0, cookie)
    t.expect("the handshake's ACK")
    t.check(t.agent.result() == "0", syn, "connect to return 0")
    t.send(RST | ACK, ack=(t.irs + 1) & M)
    t.agent("close", 0)
    t.tport, t.iss = None, random.randrange(1 << 32)
    t.snd_nxt, t.rcv_nxt = t.iss, None
    t.agent("socket", 0)
    t.agent("setsockopt TCP_FASTOPEN_CONNECT 1", 0)
    t.agent("connect %s %d" % (pkt.PEER_IP, t.port), 0)
    t.quiet(100, "the SYN waits for the first send")
    room = MSS + 12 - 40
    t.agent.start("sendmsg 3000 DONTWAIT")
    syn = t.expect("a SYN with the cookie and what fits of 3000 bytes")
    t.tport, t.irs = syn.sport, syn.seq
    t.check(syn.flags & (SYN | ACK) == SYN and syn.opt(FASTOPEN) == (FASTOPEN, cookie) and len(syn.payload) == room,
            syn, "a SYN with the cookie and %d bytes" % room)
    res = t.agent.result()
    t.check(res == str(room), syn, "sendmsg to return %d (it said %s)" % (room, res))
    _fastopen_syn_ack(t, syn, room)
    ack = t.expect("the handshake's ACK")
    t.check(ack.flags & (SYN | RST | FIN) == 0 and not ack.payload, ack, "an ACK, no data")
    t.agent("send 2000 DONTWAIT", 2000)
    segs = _read_segments(t, 2000, "the next send's data")
    t.check(segs[0].seq == (t.irs + 1 + room) & M, segs[0], "data at seq %d" % ((t.irs + 1 + room) & M))


def tfo_client_empty(t):
    """24. A zero-length sendto(MSG_FASTOPEN) with a cookie at hand (Linux's tcp_sendmsg_fastopen;
    tcp_send_syn_data, with nothing to copy, sends the cookie alone): the SYN goes at once with the
    cookie and no data, never waiting for a write. Non-blocking (MSG_DONTWAIT), sendto says
    EINPROGRESS and the socket polls as a connect in progress; blocking, it returns 0 once the
    handshake is done. (First, with no cookie yet, MSG_DONTWAIT makes the connect non-blocking too:
    EINPROGRESS, the SYN asking for a cookie, the data not taken.)"""
    cookie = bytes.fromhex("c0ffee0123456789")
    syn = _fastopen_syn(t, "a SYN asking for a cookie", extra="DONTWAIT")
    t.check(syn.opt(FASTOPEN) == (FASTOPEN, b"") and not syn.payload, syn, "a SYN with a cookie request, no data")
    res = t.agent.result()
    t.check(res == "EINPROGRESS", syn, "sendto to say EINPROGRESS (it said %s)" % res)
    _fastopen_syn_ack(t, syn, 0, cookie)
    ack = t.expect("the handshake's ACK")
    want_seq = (t.irs + 1) & M
    t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == want_seq and not ack.payload, ack,
            "ACK seq %d, no data (sendto's was not taken)" % want_seq)
    t.send(RST | ACK, ack=want_seq)
    t.agent("close", 0)
    for extra, want in (("DONTWAIT", "EINPROGRESS"), ("", "0")):
        what = "a SYN with the cookie and no data (%s)" % (extra or "blocking")
        syn = _fastopen_syn(t, what, n=0, extra=extra)
        t.check(syn.opt(FASTOPEN) == (FASTOPEN, cookie) and not syn.payload, syn, what)
        if extra:
            res = t.agent.result()
            t.check(res == want, syn, "sendto to say %s (it said %s)" % (want, res))
            t.agent("poll", "0")
        _fastopen_syn_ack(t, syn, 0)
        ack = t.expect("the handshake's ACK")
        want_seq = (t.irs + 1) & M
        t.check(ack.flags & (SYN | RST | FIN) == 0 and ack.seq == want_seq and not ack.payload, ack,
                "ACK seq %d, no data" % want_seq)
        if not extra:
            res = t.agent.result()
            t.check(res == want, ack, "sendto to return %s (it said %s)" % (want, res))
        t.agent("poll", "OUT")
        t.send(RST | ACK, ack=want_seq)
        t.agent("close", 0)


def urgent_receive(t):
    """33. The peer's urgent pointer (RFC 6093: just past the urgent byte) may come before its byte:
    recv(MSG_OOB) then says EAGAIN (Linux's TCP_URG_NOTYET). Once the byte is in, a read stops at
    it, SIOCATMARK says so, recv(MSG_OOB) takes it (then EINVAL: read already), and the stream goes
    on without it (tcp_recvmsg skips it)."""
    t.passive_open()
    t.data(10, flags=ACK | PSH | URG, urg=15)  # ABCDEFGHIJ; the urgent byte is the 5th of the next
    expect_plain_ack(t, "an ACK of the data")
    t.agent("read 1 OOB|DONTWAIT", "EAGAIN")
    t.agent("readbytes 100", "ABCDEFGHIJ")
    t.agent("atmark", 0)
    t.data(10)
    expect_plain_ack(t, "an ACK of the data with the urgent byte")
    t.agent("readbytes 100", "ABCD")
    t.agent("atmark", 1)
    t.agent("readbytes 1 OOB", "E")
    t.agent("read 1 OOB|DONTWAIT", "EINVAL")
    t.agent("readbytes 100", "FGHIJ")
    t.agent("atmark", 0)


def urgent_send(t):
    """34. send(MSG_OOB) makes its last byte urgent: the segment carrying it has URG with the pointer
    just past it (RFC 6093; Linux's tcp_mark_urg), and goes at once where Nagle would hold it behind
    an unacknowledged small segment (tcp_nagle_test in urgent mode); data after the acknowledged
    urgent byte carries no URG."""
    t.passive_open()
    t.agent("write 100", 100)
    seg = t.expect("the first write")
    t.check(len(seg.payload) == 100 and not seg.flags & URG, seg, "100 bytes without URG")
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.agent("send 10 OOB", 10)
    seg = t.expect("the urgent send at once, though a small segment is unacknowledged")
    t.check(seg.seq == t.rcv_nxt and len(seg.payload) == 10 and seg.flags & URG and seg.urg == 10, seg,
            "10 bytes at seq %d with URG, urg 10" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 10) & M
    t.send(ACK)
    t.agent("write 5", 5)
    seg = t.expect("the next write")
    t.check(seg.seq == t.rcv_nxt and len(seg.payload) == 5 and not seg.flags & URG, seg,
            "5 bytes at seq %d without URG" % t.rcv_nxt)
    t.rcv_nxt = (t.rcv_nxt + 5) & M
    t.send(ACK)


def quickack_connect(t):
    """35. TCP_QUICKACK 0 before connect (haproxy's connections to its servers): the ACK of the
    SYN-ACK waits for the first data, which carries it (Linux's tcp_rcv_synsent_state_process holds
    it up to TCP_DELACK_MAX, 200 ms); the connect completes meanwhile."""
    t.agent("socket", 0)
    t.agent("setsockopt TCP_QUICKACK 0", 0)
    t.active_open(new_socket=False, handshake_ack=False)
    res = t.agent.result()
    if res != "0":
        raise Fail("agent: connect returned %s; expected 0" % res)
    t.quiet(100, "the handshake's ACK held for data to carry it")
    t.agent("write 100", 100)
    seg = t.expect("the first data, with the ACK")
    t.check(seg.flags & (SYN | FIN | RST) == 0 and seg.flags & ACK and seg.ack == t.snd_nxt
            and len(seg.payload) == 100, seg, "100 bytes with ACK ack %d" % t.snd_nxt)
    t.rcv_nxt = (t.rcv_nxt + 100) & M
    t.send(ACK)


# In the priority order; run.sh runs them in this order.
CASES = {
    "syn_ack_options": syn_ack_options,
    "syn_options": syn_options,
    "quick_ack": quick_ack,
    "ooo_sack": ooo_sack,
    "dsack": dsack,
    "dsack_ofo_overlap": dsack_ofo_overlap,
    "ooo_fin_sack": ooo_fin_sack,
    "close_unread_rst": close_unread_rst,
    "ack_unsent": ack_unsent,
    "psh": psh,
    "tiny_mss": tiny_mss,
    "syn_retransmit": syn_retransmit,
    "synack_retransmit": synack_retransmit,
    "closed_port_rst": closed_port_rst,
    "lone_segment_probe": lone_segment_probe,
    "keepalive_probe": keepalive_probe,
    "zero_window_probe": zero_window_probe,
    "rst_in_window_challenge": rst_in_window_challenge,
    "syn_in_established_challenge": syn_in_established_challenge,
    "shutdown_rd_read": shutdown_rd_read,
    "cork": cork,
    "msg_more": msg_more,
    "ecn_passive": ecn_passive,
    "stretch_ack": stretch_ack,
    "ecn_ce_echo": ecn_ce_echo,
    "nagle_minshall": nagle_minshall,
    "disconnect_rst": disconnect_rst,
    "disconnect_close_wait": disconnect_close_wait,
    "listener_shutdown_rst": listener_shutdown_rst,
    "rst_close_wait": rst_close_wait,
    "tfo_server": tfo_server,
    "tfo_client": tfo_client,
    "tfo_exp": tfo_exp,
    "tfo_no_cookie_server": tfo_no_cookie_server,
    "tfo_no_cookie_client": tfo_no_cookie_client,
    "tfo_backup_key": tfo_backup_key,
    "tfo_client_nonblock": tfo_client_nonblock,
    "tfo_connect_nonblock": tfo_connect_nonblock,
    "shutdown_rd_close_rst": shutdown_rd_close_rst,
    "shutdown_rd_epoll_edge": shutdown_rd_epoll_edge,
    "defer_accept_data": defer_accept_data,
    "linger_zero_close_rst": linger_zero_close_rst,
    "listener_drops_strays": listener_drops_strays,
    "defer_accept_last_chance": defer_accept_last_chance,
    "tfo_client_empty": tfo_client_empty,
    "urgent_receive": urgent_receive,
    "urgent_send": urgent_send,
    "quickack_connect": quickack_connect,
}
