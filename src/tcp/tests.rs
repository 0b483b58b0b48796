//! State-machine tests: each drives one or two connections by hand, segment by segment.

use super::config::{Config, EcnMode};
use super::connection::{Connection, State};
use super::segment::{reset_for_unmatched, Segment};
use super::seq::SeqNum;
use super::sim::{collect, Packet};
use crate::error::Errno;
use crate::time::{Duration, Instant};
use crate::wire::ipv4::Ecn;
use crate::wire::tcp::{TcpFlags, TcpOptions};

fn cfg() -> Config {
    Config {
        keepalive: false,
        ..Config::default()
    }
}

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// [`cfg`] without TCP timestamps: RTT samples from ACK timing alone (RFC 6298 §3).
fn cfg_without_timestamps() -> Config {
    Config {
        timestamps: false,
        ..cfg()
    }
}

/// An established pair, both ends without timestamps.
fn pair_without_timestamps() -> (Connection, Connection) {
    let c = cfg_without_timestamps();
    pair_with(&c, &c)
}

fn feed(c: &mut Connection, now: Instant, pkts: &[Packet]) {
    for p in pkts {
        c.input(now, &p.as_segment());
    }
}

/// Delivers everything instantly back and forth until both are quiet at `now`.
fn settle(a: &mut Connection, b: &mut Connection, now: Instant) {
    for _ in 0..100 {
        let pa = collect(a, now);
        let pb = collect(b, now);
        if pa.is_empty() && pb.is_empty() {
            return;
        }
        feed(b, now, &pa);
        feed(a, now, &pb);
    }
    panic!("no quiescence");
}

fn pair_with(ca: &Config, cb: &Config) -> (Connection, Connection) {
    let now = t(0);
    let mut a = Connection::connect(now, ca, 1000, 0);
    let syn = collect(&mut a, now);
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].seg.flags, TcpFlags::SYN);
    let mut b = Connection::accept(now, cb, 5000, 77, &syn[0].as_segment());
    assert_eq!(b.state(), State::SynReceived);
    let synack = collect(&mut b, now);
    assert_eq!(synack[0].seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    feed(&mut a, now, &synack);
    assert_eq!(a.state(), State::Established);
    let ack = collect(&mut a, now);
    feed(&mut b, now, &ack);
    assert_eq!(b.state(), State::Established);
    (a, b)
}

fn pair() -> (Connection, Connection) {
    pair_with(&cfg(), &cfg())
}

fn segment(seq: SeqNum, ack: SeqNum, flags: TcpFlags, payload: &[u8]) -> Segment<'_> {
    Segment {
        seq,
        ack,
        flags,
        window: 65535,
        options: TcpOptions::default(),
        payload,
        ecn: Ecn::NotEct,
        urgent: 0,
    }
}

fn data_of(p: &[Packet]) -> Vec<u8> {
    p.iter().flat_map(|p| p.payload.clone()).collect()
}

#[test]
fn active_and_passive_open_negotiate_options() {
    let (a, b) = pair();
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.rcv_wscale, sb.snd_wscale);
    assert_eq!(sb.rcv_wscale, sa.snd_wscale);
    assert_eq!(sa.snd_mss, 1460 - 12); // timestamps on
    assert!(sa.srtt.is_some() && sb.srtt.is_some());
    assert!(a.readiness().writable && !a.readiness().readable);
}

#[test]
fn data_both_ways_and_delayed_ack() {
    let (mut a, mut b) = pair();
    let now = t(10);
    // Interactive mode (TCP_QUICKACK off), or the first segments would be acknowledged at once.
    b.set_quick_ack(false);
    assert_eq!(a.send(b"hello").unwrap(), 5);
    let p = collect(&mut a, now);
    assert_eq!(data_of(&p), b"hello");
    feed(&mut b, now, &p);
    // One small segment: the ACK is delayed.
    assert!(collect(&mut b, now).is_empty());
    assert_eq!(b.poll_at(now), Some(now + Duration::from_millis(40)));
    // A reply rides the ACK.
    b.send(b"world").unwrap();
    let p = collect(&mut b, now);
    assert_eq!(p.len(), 1);
    assert!(p[0].seg.flags.contains(TcpFlags::ACK));
    assert_eq!(p[0].seg.ack, SeqNum(1001 + 5));
    feed(&mut a, now, &p);
    let mut buf = [0u8; 16];
    assert_eq!(a.recv(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"world");
    assert_eq!(b.peek(&mut buf).unwrap(), 5);
    assert_eq!(b.recv_queue_len(), 5);
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert_eq!(b.recv(&mut buf), Err(Errno::EAGAIN));
}

#[test]
fn nagle_holds_small_segment_until_ack() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(b"x").unwrap();
    let p1 = collect(&mut a, now);
    assert_eq!(p1.len(), 1);
    a.send(b"y").unwrap();
    assert!(collect(&mut a, now).is_empty(), "Nagle must hold");
    feed(&mut b, now, &p1);
    let ack = collect(&mut b, t(50)); // delayed ACK fires
    assert_eq!(ack.len(), 1);
    feed(&mut a, t(50), &ack);
    assert_eq!(data_of(&collect(&mut a, t(50))), b"y");
    a.set_nodelay(true);
    a.send(b"z").unwrap();
    assert_eq!(data_of(&collect(&mut a, t(50))), b"z");
    a.send(b"w").unwrap();
    assert_eq!(data_of(&collect(&mut a, t(50))), b"w");
}

#[test]
fn simultaneous_open() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 100, 0);
    let mut b = Connection::connect(now, &cfg(), 900, 0);
    let sa = collect(&mut a, now);
    let sb = collect(&mut b, now);
    feed(&mut a, now, &sb);
    feed(&mut b, now, &sa);
    assert_eq!(a.state(), State::SynReceived);
    assert_eq!(b.state(), State::SynReceived);
    settle(&mut a, &mut b, now);
    assert_eq!(a.state(), State::Established);
    assert_eq!(b.state(), State::Established);
    a.send(b"ping").unwrap();
    settle(&mut a, &mut b, now);
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(&mut buf).unwrap(), 4);
}

#[test]
fn half_close_both_ways_and_time_wait_length() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(b"req").unwrap();
    a.shutdown_write();
    assert_eq!(a.state(), State::FinWait1);
    assert_eq!(a.send(b"more"), Err(Errno::EPIPE));
    settle(&mut a, &mut b, now);
    // The FIN's ACK waits for a reply, up to the delayed-ACK timeout (Linux's tcp_fin: CLOSE-WAIT
    // is interactive).
    assert_eq!(a.state(), State::FinWait1);
    assert_eq!(b.state(), State::CloseWait);
    let now = now + cfg().delayed_ack;
    settle(&mut a, &mut b, now);
    assert_eq!(a.state(), State::FinWait2);
    assert_eq!(b.state(), State::CloseWait);
    let mut buf = [0u8; 8];
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
    assert_eq!(b.recv(&mut buf).unwrap(), 0);
    assert!(b.readiness().read_closed);
    // The half-closed side still receives.
    b.send(b"response").unwrap();
    settle(&mut a, &mut b, now);
    assert_eq!(a.recv(&mut buf).unwrap(), 8);
    b.close();
    assert_eq!(b.state(), State::LastAck);
    settle(&mut a, &mut b, now);
    assert_eq!(b.state(), State::Closed);
    assert!(b.is_closed());
    assert_eq!(a.state(), State::TimeWait);
    assert_eq!(a.recv(&mut buf).unwrap(), 0);
    a.close();
    assert_eq!(a.poll_at(now), Some(now + Duration::from_secs(60)));
    collect(&mut a, now + Duration::from_millis(59_999));
    assert_eq!(a.state(), State::TimeWait);
    collect(&mut a, now + Duration::from_secs(60));
    assert!(a.is_closed());
}

#[test]
fn simultaneous_close() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.close();
    b.close();
    let fa = collect(&mut a, now);
    let fb = collect(&mut b, now);
    feed(&mut a, now, &fb);
    feed(&mut b, now, &fa);
    assert_eq!(a.state(), State::Closing);
    assert_eq!(b.state(), State::Closing);
    settle(&mut a, &mut b, now);
    assert_eq!(a.state(), State::TimeWait);
    assert_eq!(b.state(), State::TimeWait);
}

#[test]
fn fin_wait2_timeout_when_orphaned() {
    let (mut a, mut b) = pair();
    a.close();
    settle(&mut a, &mut b, t(10));
    // The peer's ACK of our FIN comes at its delayed-ACK timeout.
    let acked = t(10) + cfg().delayed_ack;
    settle(&mut a, &mut b, acked);
    assert_eq!(a.state(), State::FinWait2);
    let at = a.poll_at(acked).unwrap();
    assert_eq!(at, acked + Duration::from_secs(60));
    collect(&mut a, at);
    assert!(a.is_closed());
}

#[test]
fn rst_in_each_synchronized_state() {
    for target in [
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
    ] {
        let (mut a, mut b) = pair();
        // Late enough for the ACK of a FIN, which waits for the delayed-ACK timeout.
        let now = t(10) + cfg().delayed_ack;
        match target {
            State::FinWait1 => {
                a.shutdown_write();
                collect(&mut a, now);
            }
            State::FinWait2 => {
                a.shutdown_write();
                settle(&mut a, &mut b, t(10));
                settle(&mut a, &mut b, now);
            }
            State::CloseWait => {
                b.shutdown_write();
                settle(&mut a, &mut b, now);
            }
            _ => {}
        }
        assert_eq!(a.state(), target);
        b.abort();
        let rst = collect(&mut b, now);
        assert!(rst[0].seg.flags.contains(TcpFlags::RST));
        assert!(b.is_closed());
        feed(&mut a, now, &rst);
        assert_eq!(a.state(), State::Closed, "{target:?}");
        let mut buf = [0u8; 4];
        if target == State::CloseWait {
            // EOF was already seen; the reset is still reported once, as Linux's tcp_reset
            // does in CLOSE-WAIT: EPIPE.
            assert_eq!(a.take_error(), Some(Errno::EPIPE));
        } else {
            assert_eq!(a.recv(&mut buf), Err(Errno::ECONNRESET));
            assert_eq!(a.recv(&mut buf), Ok(0));
        }
        assert_eq!(a.send(b"x"), Err(Errno::EPIPE));
        let r = a.readiness();
        assert!(r.hangup && r.readable && r.writable);
    }
    // LAST-ACK and TIME-WAIT: RST just closes, no error.
    let (mut a, mut b) = pair();
    b.shutdown_write();
    settle(&mut a, &mut b, t(10));
    a.shutdown_write();
    let fin = collect(&mut a, t(10));
    assert_eq!(a.state(), State::LastAck);
    let rst = segment(fin[0].seg.ack, SeqNum(0), TcpFlags::RST, b"");
    a.input(t(10), &rst);
    assert!(a.is_closed());
    assert_eq!(a.take_error(), None);
}

#[test]
fn rst_in_syn_received_passive_closes_silently() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    let syn = collect(&mut a, now);
    let mut b = Connection::accept(now, &cfg(), 5000, 0, &syn[0].as_segment());
    collect(&mut b, now);
    b.input(now, &segment(SeqNum(1001), SeqNum(0), TcpFlags::RST, b""));
    assert!(b.is_closed());
    assert_eq!(b.take_error(), None);
}

#[test]
fn rfc5961_challenge_acks() {
    let (mut a, mut b) = pair();
    let now = t(10);
    b.send(b"abc").unwrap();
    settle(&mut a, &mut b, now);
    let rcv_nxt = SeqNum(5001 + 3);
    // RST in window but not exact: challenge ACK, no reset.
    a.input(now, &segment(rcv_nxt + 10, SeqNum(0), TcpFlags::RST, b""));
    assert_eq!(a.state(), State::Established);
    let ch = collect(&mut a, now);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].seg.flags, TcpFlags::ACK);
    assert_eq!(ch[0].seg.ack, rcv_nxt);
    // RST out of window: silently dropped.
    a.input(
        now,
        &segment(rcv_nxt + 10_000_000, SeqNum(0), TcpFlags::RST, b""),
    );
    assert!(collect(&mut a, now).is_empty());
    // A second challenge within 500 ms (Linux's tcp_invalid_ratelimit): not sent.
    a.input(now, &segment(rcv_nxt + 20, SeqNum(0), TcpFlags::RST, b""));
    assert!(collect(&mut a, now).is_empty());
    // SYN in a synchronized state, later: challenge ACK.
    let now = now + Duration::from_millis(500);
    a.input(now, &segment(rcv_nxt, SeqNum(0), TcpFlags::SYN, b""));
    assert_eq!(collect(&mut a, now).len(), 1);
    assert_eq!(a.state(), State::Established);
    // Exact RST: reset.
    a.input(now, &segment(rcv_nxt, SeqNum(0), TcpFlags::RST, b""));
    assert_eq!(a.take_error(), Some(Errno::ECONNRESET));
}

#[test]
fn close_with_unread_data_sends_rst() {
    let (mut a, mut b) = pair();
    b.send(b"unread").unwrap();
    settle(&mut a, &mut b, t(10));
    a.close();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 1);
    assert!(p[0].seg.flags.contains(TcpFlags::RST));
    assert!(a.is_closed());
    feed(&mut b, t(10), &p);
    assert_eq!(b.take_error(), Some(Errno::ECONNRESET));
}

#[test]
fn linger_zero_sends_rst() {
    let (mut a, _b) = pair();
    a.set_linger(Some(Duration::ZERO));
    a.close();
    let p = collect(&mut a, t(10));
    assert!(p[0].seg.flags.contains(TcpFlags::RST));
    assert!(a.is_closed());
}

#[test]
fn rst_to_syn_is_connection_refused() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    let syn = collect(&mut a, now);
    let rst = reset_for_unmatched(&syn[0].as_segment()).unwrap();
    a.input(now, &segment(rst.seq, rst.ack, rst.flags, b""));
    assert_eq!(a.state(), State::Closed);
    assert!(a.readiness().error);
    assert_eq!(a.take_error(), Some(Errno::ECONNREFUSED));
    assert_eq!(a.take_error(), None);
}

/// A connect with `c` whose SYNs go unanswered, run to its end: the connection, when (ms) it
/// sent something, how many segments in all, and when it ended.
fn unanswered_syns(c: &Config) -> (Connection, Vec<u64>, usize, Instant) {
    let mut now = t(0);
    let mut a = Connection::connect(now, c, 1000, 0);
    let (mut times, mut sent) = (vec![], 0);
    while let Some(at) = a.poll_at(now) {
        now = at;
        let p = collect(&mut a, now);
        if !p.is_empty() {
            sent += p.len();
            times.push(now.as_millis());
        }
    }
    (a, times, sent, now)
}

#[test]
fn syn_retries_time_out() {
    let (mut a, times, sent, now) = unanswered_syns(&cfg());
    // As Linux 6.5 on (measured against 6.18 with TCP_SYNCNT 1, 2 and 3): the SYN goes again
    // each second for tcp_syn_linear_timeouts (4) more timeouts, then the wait doubles; the
    // connect fails at the first timeout at least 127 s (1 + 2 + … + 64, tcp_syn_retries 6's
    // classic schedule) after the first SYN.
    assert_eq!(
        times,
        vec![0, 1000, 2000, 3000, 4000, 5000, 7000, 11000, 19000, 35000, 67000]
    );
    assert_eq!(sent, times.len());
    assert_eq!(now, t(131_000));
    assert_eq!(a.take_error(), Some(Errno::ETIMEDOUT));
}

#[test]
fn syn_time_limit_follows_tcp_syncnt_as_linux_counts_it() {
    // TCP_SYNCNT 1, 2, 3 on Linux 6.18: SYNs at 0,1,2 then ETIMEDOUT at 3 s; 0..5 then 7 s;
    // 0..5, 7, 11 then 19 s.
    for (syncnt, want_times, want_end) in [
        (1u8, vec![0, 1000, 2000], 3000),
        (2, vec![0, 1000, 2000, 3000, 4000, 5000], 7000),
        (3, vec![0, 1000, 2000, 3000, 4000, 5000, 7000, 11000], 19000),
    ] {
        let mut c = cfg();
        c.syn_retries = syncnt;
        let (mut a, times, _, now) = unanswered_syns(&c);
        assert_eq!(
            (times, now),
            (want_times, t(want_end)),
            "TCP_SYNCNT {syncnt}"
        );
        assert_eq!(a.take_error(), Some(Errno::ETIMEDOUT));
    }
    // With tcp_syn_linear_timeouts 0, the classic doubling from the first timeout.
    let mut c = cfg();
    c.syn_linear_timeouts = 0;
    let (_, times, _, now) = unanswered_syns(&c);
    assert_eq!(times, vec![0, 1000, 3000, 7000, 15000, 31000, 63000]);
    assert_eq!(now, t(127_000));
}

#[test]
fn data_retries_time_out() {
    let (mut a, _b) = pair();
    a.send(b"lost forever").unwrap();
    let mut now = t(10);
    let mut sends = 0;
    let mut last_gap = Duration::ZERO;
    let mut prev = now;
    while let Some(at) = a.poll_at(now) {
        now = at;
        if !collect(&mut a, now).is_empty() {
            sends += 1;
            if sends > 2 {
                let gap = now - prev;
                assert!(gap >= last_gap, "RTO must not shrink");
                last_gap = gap;
            }
            prev = now;
        }
    }
    // The original, the loss probe at the RTO's time (as Linux's), then 15 retries.
    assert_eq!(sends, 17);
    assert_eq!(a.take_error(), Some(Errno::ETIMEDOUT));
    assert_eq!(a.send(b"x"), Err(Errno::EPIPE));
}

#[test]
fn the_user_timeout_ends_retransmission_on_time() {
    // TCP_USER_TIMEOUT (RFC 5482) of 3 s: the connection fails 3 s after the first retransmission
    // by timeout (Linux's retrans_stamp; the loss probe before it does not count), the last RTO
    // shortened to end there (tcp_clamp_rto_to_user_timeout), long before the 15 retries would.
    // Measured on Linux 6.18 over the TAP: probe at 0.21 s, RTO at 0.42 s, ETIMEDOUT at 3.42 s.
    let (mut a, _b) = pair();
    a.set_user_timeout(Duration::from_secs(3));
    a.send(b"lost forever").unwrap();
    let start = t(10);
    let mut now = start;
    let mut sends = 0;
    while let Some(at) = a.poll_at(now) {
        now = at;
        if !collect(&mut a, now).is_empty() {
            sends += 1;
        }
        assert!(sends < 16, "still retrying at {now:?}");
    }
    assert_eq!(a.take_error(), Some(Errno::ETIMEDOUT));
    // Two RTOs of about 200 ms (the probe's wait, then the first timeout's), then the 3 s.
    let took = now.saturating_since(start);
    let want = Duration::from_millis(3400);
    assert!(took.abs_diff(want) < Duration::from_millis(5), "{took:?}");
}

#[test]
fn zero_window_probing() {
    let mut small = cfg();
    small.recv_buffer = 3 * 1448;
    let (mut a, mut b) = pair_with(&cfg(), &small);
    let now = t(10);
    let data = vec![7u8; 20_000];
    assert_eq!(a.send(&data).unwrap(), 20_000);
    settle(&mut a, &mut b, now);
    assert_eq!(b.recv_queue_len(), 3 * 1448);
    assert_eq!(a.stats().peer_window, 0);
    // Probes back off while the window stays closed; the connection stays up.
    let mut now = now;
    let mut probe_times = vec![];
    let mut answered: Vec<Instant> = vec![];
    for _ in 0..5 {
        now = a.poll_at(now).unwrap();
        let p = collect(&mut a, now);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].payload.len(), 0);
        probe_times.push(now);
        feed(&mut b, now, &p);
        // An empty probe below RCV.NXT is answered at most once per 500 ms (Linux's
        // tcp_oow_rate_limited): as the probes back off, most are.
        let ack = collect(&mut b, now);
        assert!(ack.len() <= 1);
        if let Some(&last) = answered.last() {
            assert_eq!(ack.len() == 1, now - last >= Duration::from_millis(500));
        }
        if !ack.is_empty() {
            answered.push(now);
        }
        feed(&mut a, now, &ack);
    }
    assert!(answered.len() >= 3, "probes answered at {answered:?}");
    for w in probe_times.windows(3) {
        assert!(w[2] - w[1] > w[1] - w[0]);
    }
    // The reader drains; the window update restarts the transfer.
    let mut buf = vec![0u8; 3 * 1448];
    assert_eq!(b.recv(&mut buf).unwrap(), 3 * 1448);
    settle(&mut a, &mut b, now);
    assert!(b.recv_queue_len() > 0);
    assert_eq!(a.state(), State::Established);
}

#[test]
fn keepalive_times_out_when_unanswered() {
    let mut c = cfg();
    c.keepalive = true;
    let (mut a, _b) = pair_with(&c, &cfg());
    a.set_keepalive_params(Duration::from_secs(10), Duration::from_secs(2), 3);
    let mut now = t(0);
    let mut probes = vec![];
    while let Some(at) = a.poll_at(now) {
        now = at;
        let p = collect(&mut a, now);
        if !p.is_empty() {
            probes.push(now.as_millis());
        }
    }
    assert_eq!(probes, vec![10_000, 12_000, 14_000]);
    assert_eq!(now, t(16_000));
    assert_eq!(a.take_error(), Some(Errno::ETIMEDOUT));
}

#[test]
fn keepalive_answered_keeps_connection() {
    let mut c = cfg();
    c.keepalive = true;
    c.keepalive_idle = Duration::from_secs(10);
    let (mut a, mut b) = pair_with(&c, &cfg());
    let mut now = t(0);
    for _ in 0..5 {
        now = a.poll_at(now).unwrap();
        let p = collect(&mut a, now);
        assert_eq!(p.len(), 1);
        feed(&mut b, now, &p);
        settle(&mut a, &mut b, now);
    }
    assert_eq!(a.state(), State::Established);
    assert_eq!(now, t(50_000));
}

#[test]
fn paws_drops_old_timestamp() {
    let (mut a, mut b) = pair();
    b.send(b"new").unwrap();
    let p = collect(&mut b, t(100));
    let mut old = p[0].clone();
    let (tsval, tsecr) = old.seg.options.timestamps.unwrap();
    old.seg.options.timestamps = Some((tsval.wrapping_sub(1000), tsecr));
    feed(&mut a, t(100), &p);
    let mut buf = [0u8; 8];
    assert_eq!(a.recv(&mut buf).unwrap(), 3);
    // A segment with an older timestamp and otherwise acceptable sequence number is dropped.
    old.seg.seq += 3;
    old.payload = b"bad".to_vec();
    feed(&mut a, t(100), &[old]);
    assert_eq!(a.recv(&mut buf), Err(Errno::EAGAIN));
    let ack = collect(&mut a, t(100));
    assert_eq!(ack.len(), 1, "PAWS drop is acknowledged");
    // One tick older passes, as on Linux (TCP_PAWS_WINDOW): reordering, not an old duplicate.
    let mut late = p[0].clone();
    late.seg.options.timestamps = Some((tsval.wrapping_sub(1), tsecr));
    late.seg.seq += 3;
    late.payload = b"ok".to_vec();
    feed(&mut a, t(100), &[late]);
    assert_eq!(a.recv(&mut buf), Ok(2));
}

#[test]
fn out_of_order_data_is_sacked_and_reassembled() {
    let (mut a, mut b) = pair();
    a.set_nodelay(true);
    let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    a.send(&data).unwrap();
    let p = collect(&mut a, t(10));
    assert!(p.len() >= 3);
    // Deliver all but the first.
    feed(&mut b, t(10), &p[1..]);
    let acks = collect(&mut b, t(10));
    assert!(!acks.is_empty());
    let last = acks.last().unwrap();
    assert_eq!(last.seg.ack, SeqNum(1001));
    assert!(!last.seg.options.sack_blocks.is_empty());
    feed(&mut b, t(10), &p[..1]);
    let mut buf = vec![0u8; 8000];
    assert_eq!(b.recv(&mut buf).unwrap(), 4000);
    assert_eq!(&buf[..4000], &data[..]);
}

#[test]
fn fast_retransmit_on_sack() {
    let (mut a, mut b) = pair();
    let data = vec![1u8; 20 * 1448];
    a.send(&data).unwrap();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 10); // initial window
    feed(&mut b, t(10), &p[1..]);
    let acks = collect(&mut b, t(10));
    feed(&mut a, t(11), &acks);
    assert_eq!(a.stats().fast_retransmits, 1);
    let r = collect(&mut a, t(11));
    assert_eq!(
        r[0].seg.seq, p[0].seg.seq,
        "first hole resent before the RTO"
    );
    assert_eq!(a.stats().retransmits, 1);
}

#[test]
fn data_after_close_is_answered_with_rst() {
    let (mut a, mut b) = pair();
    a.close();
    settle(&mut a, &mut b, t(10));
    let now = t(10) + cfg().delayed_ack;
    settle(&mut a, &mut b, now);
    assert_eq!(a.state(), State::FinWait2);
    b.send(b"late").unwrap();
    let p = collect(&mut b, now);
    feed(&mut a, now, &p);
    let rst = collect(&mut a, now);
    assert!(rst[0].seg.flags.contains(TcpFlags::RST));
    assert!(a.is_closed());
}

#[test]
fn set_error_fails_connection() {
    let mut a = Connection::connect(t(0), &cfg(), 1, 0);
    collect(&mut a, t(0));
    a.set_error(Errno::EHOSTUNREACH);
    assert!(a.is_closed());
    assert_eq!(a.take_error(), Some(Errno::EHOSTUNREACH));
}

#[test]
fn syn_queue_entry_is_small() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    let syn = collect(&mut a, now);
    let b = Connection::accept(now, &cfg(), 5000, 0, &syn[0].as_segment());
    assert!(
        std::mem::size_of_val(&b) < 1024,
        "{}",
        std::mem::size_of_val(&b)
    );
    assert_eq!(b.stats().our_window, 0);
}

/// Delivers `pkts` to `c` at `now` and returns what `c` answers.
fn answer(c: &mut Connection, now: Instant, pkts: &[Packet]) -> Vec<Packet> {
    feed(c, now, pkts);
    collect(c, now)
}

/// As [`answer`], or if `c` answers nothing at once, its delayed ACK 40 ms on.
fn answer_or_delayed(c: &mut Connection, now: Instant, pkts: &[Packet]) -> Vec<Packet> {
    let ack = answer(c, now, pkts);
    if ack.is_empty() {
        collect(c, now + Duration::from_millis(40))
    } else {
        ack
    }
}

#[test]
fn rto_keeps_the_scoreboard_and_resends_only_unsacked_data() {
    let (mut a, mut b) = pair();
    let data: Vec<u8> = (0..10 * 1448).map(|i| i as u8).collect();
    a.send(&data).unwrap();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 10);
    let sacked = (p[5].seg.seq, p[9].seg.seq + p[9].payload.len());
    // Segments 5..9 arrive; their SACKs start recovery, whose retransmissions are all lost.
    let acks = answer(&mut b, t(20), &p[5..]);
    feed(&mut a, t(30), &acks);
    let lost = collect(&mut a, t(30));
    assert!(!lost.is_empty() && lost.iter().all(|q| q.seg.seq < sacked.0));
    // Loss probes resend the lowest segment not SACKed (the last one is SACKed and nothing new
    // is queued); they are lost too. The RTO then resends from SND.UNA, but never the SACKed
    // segments.
    let mut now = t(30);
    let mut out = Vec::new();
    for _ in 0..1000 {
        now += Duration::from_millis(10);
        out = collect(&mut a, now);
        if a.stats().timeouts > 0 {
            break;
        }
        for q in &out {
            assert!(
                q.seg.seq < sacked.0,
                "a probe of SACKed data at {:?}",
                q.seg.seq
            );
        }
    }
    assert_eq!(a.stats().timeouts, 1);
    let probes = a.stats().probes as usize;
    assert!(probes > 0);
    for _ in 0..20 {
        for q in &out {
            let end = q.seg.seq + q.payload.len();
            assert!(
                end <= sacked.0 || q.seg.seq >= sacked.1 || q.payload.is_empty(),
                "resent SACKed data at {:?}",
                q.seg.seq
            );
        }
        let back = answer(&mut b, now, &out);
        out = answer(&mut a, now, &back);
        if out.is_empty() {
            break;
        }
    }
    let mut buf = vec![0u8; data.len() + 1];
    assert_eq!(b.recv(&mut buf), Ok(data.len()));
    assert_eq!(&buf[..data.len()], &data[..]);
    assert_eq!(a.stats().unacked, 0);
    assert_eq!(
        a.stats().bytes_retransmitted as usize,
        (5 * 2 + probes) * 1448
    );
}

#[test]
fn tail_loss_probe_recovers_without_an_rto() {
    let (mut a, mut b) = pair();
    // An RTT sample of 20 ms.
    a.send(&[7u8; 100]).unwrap();
    let p = collect(&mut a, t(100));
    let ack = answer_or_delayed(&mut b, t(110), &p);
    feed(&mut a, t(120), &ack);
    let data = vec![1u8; 6 * 1448];
    a.send(&data).unwrap();
    let p = collect(&mut a, t(200));
    assert_eq!(p.len(), 6);
    // The last two segments are lost; the first four are acknowledged.
    let mut acks = answer(&mut b, t(210), &p[..4]);
    acks.extend(collect(&mut b, t(260)));
    feed(&mut a, t(220), &acks);
    let mut now = t(220);
    let probe = loop {
        now += Duration::from_millis(1);
        let out = collect(&mut a, now);
        if !out.is_empty() {
            break out;
        }
        assert!(now < t(1000), "no probe");
    };
    // PTO = 2·SRTT after the ACK, long before the RTO (≥ 200 ms).
    assert!(now < t(300), "probe at {now:?}");
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].seg.seq, p[5].seg.seq, "the last segment probes");
    // Its SACK shows the hole, which RACK resends once its reordering window has passed.
    let sack = answer(&mut b, now, &probe);
    feed(&mut a, now, &sack);
    let probed_at = now;
    let resent = loop {
        let out = collect(&mut a, now);
        if !out.is_empty() {
            break out;
        }
        now += Duration::from_millis(1);
        assert!(now < probed_at + Duration::from_millis(150), "no resend");
    };
    assert_eq!(resent[0].seg.seq, p[4].seg.seq);
    let fin = answer(&mut b, now, &resent);
    feed(&mut a, now, &fin);
    assert_eq!(a.stats().unacked, 0);
    assert_eq!(a.stats().timeouts, 0);
}

/// Collects what `c` sends at the first millisecond after `from` that it sends anything, at most
/// `limit` later; returns the time and the segments.
fn next_output(c: &mut Connection, from: Instant, limit: Duration) -> (Instant, Vec<Packet>) {
    let mut now = from;
    loop {
        let out = collect(c, now);
        if !out.is_empty() {
            return (now, out);
        }
        now += Duration::from_millis(1);
        assert!(now <= from + limit, "nothing sent by {now:?}");
    }
}

#[test]
fn newreno_fast_recovery_without_sack_resends_at_each_partial_ack() {
    // RFC 6582: without SACK, the ACK that the first retransmission brings is partial (it stops
    // at the next hole); the sender resends that hole at once and stays in recovery until all
    // that was outstanding at the start is acknowledged.
    let c = Config {
        sack: false,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&c, &c);
    let data: Vec<u8> = (0..10 * 1448).map(|i| (i % 251) as u8).collect();
    a.send(&data).unwrap();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 10);
    // Segments 0 and 3 are lost: eight duplicate ACKs for segment 0.
    let rest: Vec<Packet> = p
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 0 && *i != 3)
        .map(|(_, q)| q.clone())
        .collect();
    let dups: Vec<Packet> = rest
        .iter()
        .flat_map(|q| answer(&mut b, t(20), std::slice::from_ref(q)))
        .collect();
    assert!(dups.len() >= 3 && dups.iter().all(|d| d.seg.ack == p[0].seg.seq));
    assert!(dups.iter().all(|d| d.seg.options.sack_blocks.is_empty()));
    feed(&mut a, t(30), &dups);
    let (at, first) = next_output(&mut a, t(30), Duration::from_millis(150));
    assert_eq!(
        first[0].seg.seq, p[0].seg.seq,
        "fast retransmit of the first hole"
    );
    assert_eq!(a.stats().fast_retransmits, 1);
    assert!(a.stats().in_recovery);
    // The partial ACK: up to segment 3.
    let partial = answer(&mut b, at, &first[..1]);
    assert_eq!(partial.last().unwrap().seg.ack, p[3].seg.seq);
    feed(&mut a, at, &partial);
    let second = collect(&mut a, at);
    assert_eq!(
        second.first().map(|q| q.seg.seq),
        Some(p[3].seg.seq),
        "the partial ACK's hole is resent at once"
    );
    assert!(a.stats().in_recovery, "a partial ACK does not end recovery");
    let full = answer(&mut b, at, &second);
    feed(&mut a, at, &full);
    let s = a.stats();
    assert_eq!((s.unacked, s.timeouts, s.retransmits), (0, 0, 2));
    assert!(!s.in_recovery);
    let mut buf = vec![0u8; data.len() + 1];
    assert_eq!(b.recv(&mut buf), Ok(data.len()));
    assert!(buf[..data.len()] == data[..]);
}

#[test]
fn karn_takes_no_rtt_sample_from_a_retransmitted_segment() {
    // RFC 6298 §3 (Karn): without timestamps an ACK of a resent segment cannot say which
    // transmission it answers, so it yields no RTT sample.
    let (mut a, mut b) = pair_without_timestamps();
    let before = a.stats().srtt;
    a.send(&[1u8; 100]).unwrap();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 1);
    let (at, resent) = next_output(&mut a, t(10), Duration::from_secs(2));
    // The loss probe, at the RTO's time, resends it (Karn's rule holds for it as for a timeout).
    assert_eq!(a.stats().timeouts + a.stats().probes, 1);
    assert_eq!(resent[0].seg.seq, p[0].seg.seq);
    // The ACK comes 5 ms after the retransmission: 5 ms or 5 ms + RTO would both be wrong.
    let ack = answer_or_delayed(&mut b, at, &resent);
    feed(&mut a, at + Duration::from_millis(5), &ack);
    assert_eq!(a.stats().unacked, 0);
    assert_eq!(a.stats().srtt, before, "no sample from an ambiguous ACK");
    // A segment sent once is timed again.
    let now = at + Duration::from_millis(100);
    a.send(&[2u8; 100]).unwrap();
    let p = collect(&mut a, now);
    let ack = answer_or_delayed(&mut b, now, &p);
    feed(&mut a, now + Duration::from_millis(50), &ack);
    assert_ne!(a.stats().srtt, before);
}

#[test]
fn without_timestamps_every_ack_of_data_sent_once_is_timed() {
    // Linux's tcp_clean_rtx_queue times each ACK from the first sending of the earliest byte it
    // newly covers (RFC 6298 §3 asks at least one sample a round trip). Timing one segment at a
    // time would miss what an ACK held up by the loss of the one before it says: that the round
    // trip, and so the RTO, is longer than the last timed segment showed.
    let (mut a, mut b) = pair_without_timestamps();
    a.set_nodelay(true);
    a.send(&[1u8; 100]).unwrap();
    let p1 = collect(&mut a, t(10));
    a.send(&[2u8; 100]).unwrap();
    let p2 = collect(&mut a, t(15));
    assert_eq!((p1.len(), p2.len()), (1, 1));
    let ack1 = answer(&mut b, t(15), &p1);
    let ack2 = answer_or_delayed(&mut b, t(20), &p2);
    assert_eq!((ack1.len(), ack2.len()), (1, 1));
    feed(&mut a, t(20), &ack1);
    let after_first = a.stats().srtt.expect("a sample");
    // The second ACK is held up on the way (its first copy lost, say): 385 ms after its segment.
    feed(&mut a, t(400), &ack2);
    assert_eq!(a.stats().unacked, 0);
    let after_second = a.stats().srtt.expect("a sample");
    assert!(
        after_second > after_first + Duration::from_millis(30),
        "srtt {after_first:?} then {after_second:?}: the late ACK was not timed"
    );
}

#[test]
fn without_timestamps_a_sack_of_data_sent_once_is_timed() {
    // Linux's tcp_ack_update_rtt takes the SACK's sample (`sack_rtt_us`, from the first sending
    // of the lowest newly SACKed bytes never resent) when the cumulative ACK gives none: the
    // duplicate ACKs of a loss say how long the round trip is while SND.UNA stands still.
    let (mut a, mut b) = pair_without_timestamps();
    a.set_nodelay(true);
    let mut sent = Vec::new();
    for (i, at) in [10, 11, 12].into_iter().enumerate() {
        a.send(&[i as u8; 100]).unwrap();
        sent.push(collect(&mut a, t(at)));
    }
    assert!(sent.iter().all(|p| p.len() == 1));
    let before = a.stats().srtt;
    // The first is lost; the others arrive, and their duplicate ACKs, SACKing them, come back
    // late: 300 ms after the second went.
    let dup = answer(&mut b, t(20), &sent[1]);
    assert_eq!(dup.len(), 1);
    assert!(!dup[0].seg.options.sack_blocks.is_empty(), "a SACK");
    feed(&mut a, t(311), &dup);
    let after = a.stats().srtt.expect("a sample");
    assert!(
        before.is_none_or(|b| after > b + Duration::from_millis(30)),
        "srtt {before:?} then {after:?}: the SACK was not timed"
    );
}

#[test]
fn without_timestamps_sacks_in_recovery_do_not_bring_the_rto_forward() {
    // Each duplicate ACK's SACK sample shrinks RTTVAR, and with it the RTO; the running timer
    // must not be brought closer for it (Linux re-arms it only for data sent before the head's
    // last sending), or it fires before the fast retransmit the SACKs call for.
    let (mut a, mut b) = pair_without_timestamps();
    a.set_nodelay(true);
    // One round trip of a second: SRTT 125 ms, RTTVAR 250 ms, RTO 1.125 s.
    a.send(&[1u8; 100]).unwrap();
    let first = collect(&mut a, t(10));
    let ack = answer(&mut b, t(10), &first);
    feed(&mut a, t(1010), &ack);
    // The head goes at 2 s and is lost; eight more at 2.4 s arrive, and their duplicate ACKs
    // with SACKs come back at 2.5 s.
    a.send(&[2u8; 100]).unwrap();
    let head = collect(&mut a, t(2000));
    assert_eq!(head.len(), 1);
    let mut later = Vec::new();
    for _ in 0..8 {
        a.send(&[3u8; 100]).unwrap();
        later.extend(collect(&mut a, t(2400)));
    }
    assert_eq!(later.len(), 8);
    let mut dups = Vec::new();
    for p in &later {
        dups.extend(answer(&mut b, t(2450), std::slice::from_ref(p)));
    }
    assert_eq!(dups.len(), 8, "a duplicate ACK for each");
    assert!(dups.iter().all(|d| !d.seg.options.sack_blocks.is_empty()));
    feed(&mut a, t(2500), &dups);
    let out = collect(&mut a, t(2500));
    assert_eq!(a.stats().timeouts, 0, "the RTO fired: {:?}", a.stats());
    assert!(
        out.iter().any(|p| p.seg.seq == head[0].seg.seq),
        "the head is sent again by the SACKs, not by a timeout"
    );
}

#[test]
fn a_window_closed_short_of_memory_reopens_once_the_reader_has_drained_it() {
    // A receive buffer whose storage cannot grow (memory pressure) offers only what that storage
    // holds: 2 KiB, two units at scale 10. A sender whose data comes 1 376 bytes at a time (an
    // echo) leaves 672 bytes of the 2 048 on offer, which the scaled field shows as 0. Once the
    // reader has taken everything, the window must open again (by an update or in the answer to
    // a zero-window probe), or the transfer stalls for good.
    let cb = Config {
        window_space: 32 << 20,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    assert_eq!(b.wscales().1, 10);
    a.set_nodelay(true);
    // Only b is short of memory (the pressure is this thread's: on while b works).
    let short = |on| crate::memory::force_pressure(on);
    let total = 200 * 1376;
    // Two pieces at once: more than b's 2 KiB of storage, which then cannot grow.
    let mut sent = a.send(&[7u8; 2 * 1376]).unwrap();
    let mut got = 0;
    let mut now = t(10);
    let mut buf = vec![0u8; 65536];
    let mut last_window = None;
    for _ in 0..2000 {
        if got >= total {
            break;
        }
        if a.send_queue_len() == 0 && sent < total {
            sent += a.send(&[7u8; 1376]).unwrap();
        }
        let p = collect(&mut a, now);
        short(true);
        feed(&mut b, now, &p);
        let mut acks = collect(&mut b, now);
        while let Ok(n) = b.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        acks.extend(collect(&mut b, now));
        short(false);
        last_window = acks.last().map(|q| q.seg.window).or(last_window);
        feed(&mut a, now, &acks);
        // On to the next timer (a probe, a resend), 10 ms at least.
        now = a
            .poll_at(now)
            .unwrap_or(now)
            .max(now + Duration::from_millis(10));
    }
    assert!(
        got >= total,
        "the transfer stalled at {got} of {sent} sent, window {last_window:?}, reader drained: {} ({now:?})",
        b.recv_queue_len() == 0
    );
}

#[test]
fn a_new_connection_offers_about_64_kib_after_small_segments_at_any_window_scale() {
    // Linux's rcv_ssthresh starts at the handshake's window (whole segments) and grows by what
    // arrives; __tcp_select_window offers it rounded up to a unit of the scale. So after three
    // 100-byte segments a receiver with a large buffer offers about 64 KiB, not the buffer.
    for (space, scale) in [(6 << 20, 7u8), (32 << 20, 10)] {
        let cb = Config {
            window_space: space,
            ..cfg()
        };
        let (mut a, mut b) = pair_with(&cfg(), &cb);
        a.set_nodelay(true);
        for i in 0..3u64 {
            a.send(&[1u8; 100]).unwrap();
            let p = collect(&mut a, t(10 + i));
            let acks = answer(&mut b, t(10 + i), &p);
            let ack = acks.last().expect("a quick ACK");
            let offered = usize::from(ack.seg.window) << scale;
            assert!(
                (60_000..=65_536 + (1 << scale)).contains(&offered),
                "scale {scale}, segment {}: offers {offered}",
                i + 1
            );
            feed(&mut a, t(10 + i), &acks);
        }
    }
}

#[test]
fn a_synack_resent_for_a_repeated_syn_is_not_timed() {
    // Karn: the ACK ending the handshake may answer the first SYN-ACK or the one the peer's
    // repeated SYN called for; Linux's tcp_synack_rtt_meas takes no sample once num_retrans > 0.
    let c = cfg_without_timestamps();
    let mut a = Connection::connect(t(0), &c, 1000, 0);
    let syn = collect(&mut a, t(0));
    let mut b = Connection::accept(t(0), &c, 5000, 0, &syn[0].as_segment());
    let first = collect(&mut b, t(0));
    assert_eq!(first.len(), 1);
    // The peer did not hear it and sends its SYN again; the SYN-ACK goes again.
    feed(&mut b, t(300), &syn);
    let again = collect(&mut b, t(300));
    assert_eq!(again.len(), 1);
    assert!(again[0].seg.flags.contains(TcpFlags::SYN | TcpFlags::ACK));
    // The ACK of the first SYN-ACK arrives 10 ms after the second went.
    feed(&mut a, t(305), &first);
    let ack = collect(&mut a, t(305));
    feed(&mut b, t(310), &ack);
    assert_eq!(b.state(), State::Established);
    assert_eq!(
        b.stats().srtt,
        None,
        "no sample from an ambiguous handshake"
    );
}

#[test]
fn receiver_avoids_silly_windows() {
    // RFC 1122 §4.2.3.3: the receiver does not move its right edge by less than
    // min(RCV.BUFF / 2, MSS); reading a few bytes of a full buffer offers nothing.
    let cb = Config {
        recv_buffer: 16 * 1024,
        window_scale: false,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    a.set_nodelay(true);
    let data = vec![3u8; 64 * 1024];
    a.send(&data).unwrap();
    let mut now = t(10);
    // Fill b's buffer as far as a sends (its own SWS avoidance may leave a sliver).
    let mut offered = None;
    for _ in 0..20 {
        let p = collect(&mut a, now);
        if p.is_empty() {
            break;
        }
        let mut acks = answer(&mut b, now, &p);
        acks.extend(collect(&mut b, now + Duration::from_millis(50)));
        offered = acks.last().map(|q| q.seg.window).or(offered);
        feed(&mut a, now, &acks);
        now += Duration::from_millis(100);
    }
    let mss = b.eff_mss_for_test();
    let w0 = offered.expect("b acknowledged") as usize;
    assert!(w0 < mss, "the buffer is nearly full: window {w0}");
    // All of the buffer is on offer but less than a segment: the SYN-ACK's window was whole
    // segments (as Linux's), and receiver SWS avoidance never moves the edge by less.
    let on_offer = b.recv_queue_len() + w0;
    assert!(
        on_offer <= 16 * 1024 && 16 * 1024 - on_offer < mss,
        "{on_offer}"
    );
    // A few bytes read: the right edge does not move, in updates or in any other ACK.
    let mut buf = vec![0u8; 100];
    assert_eq!(b.recv(&mut buf), Ok(100));
    let out = collect(&mut b, now);
    assert!(out.iter().all(|q| q.seg.window as usize <= w0), "{out:?}");
    // Provoke an ACK with a duplicate: it must still offer no more.
    let old = Segment {
        seq: SeqNum(1001),
        ack: b.snd_una(),
        flags: TcpFlags::ACK,
        window: 65535,
        options: TcpOptions::default(),
        payload: &[3u8; 10],
        ecn: Ecn::NotEct,
        urgent: 0,
    };
    b.input(now, &old);
    let out = collect(&mut b, now);
    assert!(!out.is_empty());
    assert!(out.iter().all(|q| q.seg.window as usize <= w0), "{out:?}");
    // Once two MSS are free the reader's side sends an update, opening by at least that.
    let mut big = vec![0u8; 2 * mss];
    assert_eq!(b.recv(&mut big), Ok(2 * mss));
    let out = collect(&mut b, now);
    let w = out.last().expect("a window update").seg.window as usize;
    assert!(w >= 2 * mss, "window {w}, MSS {mss}");
}

#[test]
fn every_second_full_sized_segment_is_acknowledged_at_once() {
    // RFC 5681 §4.2 / RFC 1122 §4.2.3.2: ACK at least every second full-sized segment.
    let (mut a, mut b) = pair();
    let mss = a.eff_mss_for_test();
    // Leave the start of the connection behind (a receiver may ACK every segment then).
    let warm = vec![5u8; 40 * mss];
    a.send(&warm).unwrap();
    let mut now = t(10);
    for _ in 0..50 {
        let p = collect(&mut a, now);
        let acks = answer(&mut b, now, &p);
        feed(&mut a, now, &acks);
        let late = collect(&mut b, now + Duration::from_millis(50));
        feed(&mut a, now + Duration::from_millis(50), &late);
        now += Duration::from_millis(100);
        if a.stats().unacked == 0 && a.send_queue_len() == 0 {
            break;
        }
    }
    let mut sink = vec![0u8; warm.len()];
    assert_eq!(b.recv(&mut sink), Ok(warm.len()));
    // The window update that reading makes.
    let update = collect(&mut b, now);
    feed(&mut a, now, &update);
    // Past quick-ACK mode (TCP_QUICKACK off ends it at once).
    b.set_quick_ack(false);
    a.send(&vec![6u8; 2 * mss]).unwrap();
    let p = collect(&mut a, now);
    assert_eq!(p.len(), 2);
    assert!(p.iter().all(|q| q.payload.len() == mss));
    assert!(
        answer(&mut b, now, &p[..1]).is_empty(),
        "one segment: delayed"
    );
    let ack = answer(&mut b, now, &p[1..]);
    assert_eq!(ack.len(), 1, "the second: at once");
    assert_eq!(ack[0].seg.ack, p[1].seg.seq + mss);
}

#[test]
fn a_segment_filling_a_hole_is_acknowledged_at_once() {
    // RFC 5681 §4.2: out-of-order data is answered at once (a duplicate ACK), and so is the
    // segment that fills the hole, with the whole run acknowledged.
    let (mut a, mut b) = pair();
    a.set_nodelay(true);
    a.send(&[9u8; 3000]).unwrap();
    let p = collect(&mut a, t(10));
    assert_eq!(p.len(), 3);
    let dup = answer(&mut b, t(11), &p[1..]);
    assert!(!dup.is_empty() && dup.iter().all(|d| d.seg.ack == p[0].seg.seq));
    let ack = answer(&mut b, t(12), &p[..1]);
    assert_eq!(ack.len(), 1, "filling the hole is answered without delay");
    assert_eq!(ack[0].seg.ack, p[2].seg.seq + p[2].payload.len());
    assert!(ack[0].seg.options.sack_blocks.is_empty());
}

#[test]
fn a_scaled_window_never_offers_more_than_the_buffer_holds() {
    // RFC 7323 §2.4: the window field counts units of 2^scale. Rounding it up would offer bytes
    // past the end of the receive buffer, which would then be dropped and sent again.
    let cb = Config {
        recv_buffer: 100_000,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    let (_, ws) = b.wscales();
    assert!(ws > 0, "the test needs a scaled window");
    a.set_nodelay(true);
    let mut now = t(10);
    let mut sent = 0;
    for _ in 0..200 {
        // Odd-sized writes, so RCV.NXT rarely lands on a unit boundary.
        if sent < 150_000 {
            sent += a.send(&[9u8; 1001]).unwrap();
        }
        let p = collect(&mut a, now);
        let acks = answer(&mut b, now, &p);
        for q in &acks {
            let offered = (q.seg.window as usize) << ws;
            let free = 100_000 - b.recv_queue_len();
            assert!(offered <= free, "offered {offered} with {free} free");
        }
        feed(&mut a, now, &acks);
        now += Duration::from_millis(50);
    }
    // The reader drains it all: nothing offered was dropped for want of room.
    let mut got = 0;
    let mut buf = vec![0u8; 65536];
    for _ in 0..200 {
        while let Ok(n) = b.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        settle(&mut a, &mut b, now);
        now += Duration::from_millis(50);
        if got == sent {
            break;
        }
    }
    assert_eq!(got, sent);
    assert_eq!(a.stats().retransmits, 0);
}

// ---------------------------------------------------------------------------------------------
// ECN (RFC 3168), as Linux does it.

fn ecn_cfg(mode: EcnMode) -> Config {
    Config { ecn: mode, ..cfg() }
}

/// The handshake between an active side `ca` and a passive side `cb`: (a, b, SYN, SYN-ACK).
fn ecn_pair(ca: &Config, cb: &Config) -> (Connection, Connection, Packet, Packet) {
    let now = t(0);
    let mut a = Connection::connect(now, ca, 1000, 0);
    let syn = collect(&mut a, now).remove(0);
    let mut b = Connection::accept(now, cb, 5000, 77, &syn.as_segment());
    let synack = collect(&mut b, now).remove(0);
    feed(&mut a, now, std::slice::from_ref(&synack));
    let ack = collect(&mut a, now);
    feed(&mut b, now, &ack);
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    (a, b, syn, synack)
}

const ECE_CWR: TcpFlags = TcpFlags(TcpFlags::ECE.bits() | TcpFlags::CWR.bits());

#[test]
fn ecn_is_negotiated_as_rfc3168_and_tcp_ecn_say() {
    use EcnMode::*;
    // (active, passive) → SYN asks, SYN-ACK agrees, ECN on.
    for (ma, mb, asks, agrees) in [
        (On, Passive, true, true),
        (On, On, true, true),
        (On, Off, true, false),
        (Passive, On, false, false),
        (Passive, Passive, false, false),
        (Off, On, false, false),
    ] {
        let (a, b, syn, synack) = ecn_pair(&ecn_cfg(ma), &ecn_cfg(mb));
        let what = format!("{ma:?} to {mb:?}");
        let want_syn = if asks {
            TcpFlags::SYN | ECE_CWR
        } else {
            TcpFlags::SYN
        };
        assert_eq!(syn.seg.flags, want_syn, "{what}: SYN");
        let want_synack = if agrees {
            TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE
        } else {
            TcpFlags::SYN | TcpFlags::ACK
        };
        assert_eq!(synack.seg.flags, want_synack, "{what}: SYN-ACK");
        // The SYN and SYN-ACK themselves are Not-ECT (§6.1.1).
        assert_eq!((syn.seg.ecn, synack.seg.ecn), (Ecn::NotEct, Ecn::NotEct));
        assert_eq!((a.stats().ecn, b.stats().ecn), (agrees, agrees), "{what}");
    }
}

#[test]
fn ecn_needs_a_proper_syn_ack_and_a_not_ect_syn() {
    let now = t(0);
    // A SYN-ACK with ECE and CWR both (a reflecting middlebox) does not turn ECN on (§6.1.1).
    let mut a = Connection::connect(now, &ecn_cfg(EcnMode::On), 1000, 0);
    collect(&mut a, now);
    let mut sa = segment(
        SeqNum(5000),
        SeqNum(1001),
        TcpFlags::SYN | TcpFlags::ACK,
        b"",
    );
    sa.flags.insert(ECE_CWR);
    a.input(now, &sa);
    assert_eq!(a.state(), State::Established);
    assert!(!a.stats().ecn);
    // Neither does one without ECE.
    let mut a = Connection::connect(now, &ecn_cfg(EcnMode::On), 1000, 0);
    collect(&mut a, now);
    let sa = segment(
        SeqNum(5000),
        SeqNum(1001),
        TcpFlags::SYN | TcpFlags::ACK,
        b"",
    );
    a.input(now, &sa);
    assert!(!a.stats().ecn);
    // A SYN asking for ECN but itself marked ECT is refused, as Linux does.
    let mut syn = segment(SeqNum(4000), SeqNum(0), TcpFlags::SYN | ECE_CWR, b"");
    syn.ecn = Ecn::Ect0;
    let mut b = Connection::accept(now, &cfg(), 9000, 0, &syn);
    assert_eq!(
        collect(&mut b, now)[0].seg.flags,
        TcpFlags::SYN | TcpFlags::ACK
    );
    // A retransmitted SYN no longer asks (§6.1.1.1, Linux's tcp_ecn_fallback); a SYN-ACK that
    // agrees still turns ECN on.
    let mut a = Connection::connect(now, &ecn_cfg(EcnMode::On), 1000, 0);
    assert_eq!(collect(&mut a, now)[0].seg.flags, TcpFlags::SYN | ECE_CWR);
    let later = t(1000);
    let again = collect(&mut a, later);
    assert_eq!(again[0].seg.flags, TcpFlags::SYN, "the retransmission");
    let sa = segment(
        SeqNum(5000),
        SeqNum(1001),
        TcpFlags::SYN | TcpFlags::ACK | TcpFlags::ECE,
        b"",
    );
    a.input(later, &sa);
    assert!(a.stats().ecn);
}

/// An established pair with ECN on (a asked, b agreed).
fn ecn_on_pair() -> (Connection, Connection) {
    let (a, b, _, _) = ecn_pair(&ecn_cfg(EcnMode::On), &ecn_cfg(EcnMode::Passive));
    assert!(a.stats().ecn && b.stats().ecn);
    (a, b)
}

#[test]
fn only_new_data_is_ect() {
    let (mut a, mut b) = ecn_on_pair();
    a.set_nodelay(true);
    let now = t(10);
    a.send(&[1u8; 3000]).unwrap();
    let p = collect(&mut a, now);
    assert!(p.len() >= 2);
    assert!(
        p.iter().all(|q| q.seg.ecn == Ecn::Ect0),
        "new data is ECT(0)"
    );
    // The receiver's pure ACKs are Not-ECT.
    feed(&mut b, now, &p);
    let acks = collect(&mut b, now);
    assert!(!acks.is_empty());
    assert!(acks
        .iter()
        .all(|q| q.payload.is_empty() && q.seg.ecn == Ecn::NotEct));
    feed(&mut a, now, &acks);
    // A retransmission (after a timeout) is Not-ECT.
    a.send(&[2u8; 100]).unwrap();
    let lost = collect(&mut a, now);
    assert_eq!(lost[0].seg.ecn, Ecn::Ect0);
    let rto = a.stats().rto;
    let re = collect(&mut a, now + rto);
    assert_eq!(re.len(), 1);
    assert_eq!(
        (re[0].seg.seq, re[0].seg.ecn),
        (lost[0].seg.seq, Ecn::NotEct)
    );
    // The FIN (no payload) is Not-ECT too.
    feed(&mut b, now + rto, &re);
    feed(&mut a, now + rto, &collect(&mut b, now + rto));
    a.shutdown_write();
    let fin = collect(&mut a, now + rto);
    assert!(fin[0].seg.flags.contains(TcpFlags::FIN) && fin[0].payload.is_empty());
    assert_eq!(fin[0].seg.ecn, Ecn::NotEct);
    // Without ECN, nothing is ECT.
    let (mut a, _) = pair();
    a.send(&[1u8; 100]).unwrap();
    assert_eq!(collect(&mut a, now)[0].seg.ecn, Ecn::NotEct);
}

/// `p` as if a router on the path had marked every datagram of it CE.
fn marked_ce(p: &[Packet]) -> Vec<Packet> {
    p.iter()
        .cloned()
        .map(|mut q| {
            q.seg.ecn = Ecn::Ce;
            q
        })
        .collect()
}

#[test]
fn ce_is_echoed_with_ece_at_once_until_cwr() {
    let (mut a, mut b) = ecn_on_pair();
    let now = t(10);
    a.set_nodelay(true);
    // Interactive mode, so that ACKs would otherwise wait.
    b.set_quick_ack(false);
    a.send(&[1u8; 100]).unwrap();
    let p = collect(&mut a, now);
    feed(&mut b, now, &marked_ce(&p));
    let ack = collect(&mut b, now);
    assert_eq!(ack.len(), 1, "a CE mark is acknowledged at once");
    assert!(ack[0].seg.flags.contains(TcpFlags::ECE));
    assert!(b.stats().ecn_seen);
    // Every segment echoes it until the sender's CWR, data included (§6.1.3).
    b.send(b"reply").unwrap();
    let reply = collect(&mut b, now);
    assert!(reply[0].seg.flags.contains(TcpFlags::ECE));
    assert_eq!(reply[0].seg.ecn, Ecn::Ect0);
    // The sender reacts, and its next new data carries CWR.
    feed(&mut a, now, &ack);
    a.send(&[2u8; 100]).unwrap();
    let p = collect(&mut a, now);
    assert!(p[0].seg.flags.contains(TcpFlags::CWR));
    assert!(!p[0].seg.flags.contains(TcpFlags::ECE));
    feed(&mut b, now, &p);
    let ack = collect(&mut b, now);
    assert_eq!(ack.len(), 1, "CWR is acknowledged at once");
    assert!(
        !ack[0].seg.flags.contains(TcpFlags::ECE),
        "echo ends at CWR"
    );
    // Unmarked data after that: no echo.
    a.send(&[3u8; 100]).unwrap();
    let p = collect(&mut a, now);
    assert!(!p[0].seg.flags.contains(TcpFlags::CWR), "CWR only once");
    feed(&mut b, now, &p);
    let later = collect(&mut b, t(500));
    assert!(later.iter().all(|q| !q.seg.flags.contains(TcpFlags::ECE)));
}

#[test]
fn ece_reduces_cwnd_once_per_window() {
    let (mut a, mut b) = ecn_on_pair();
    a.set_nodelay(true);
    let mut now = t(10);
    // Grow the window a little, then fill it.
    a.send(&[1u8; 20_000]).unwrap();
    settle(&mut a, &mut b, now);
    let mut buf = vec![0u8; 65536];
    while b.recv(&mut buf).is_ok_and(|n| n > 0) {}
    now += Duration::from_millis(10);
    let cwnd0 = a.stats().cwnd;
    let mss = a.stats().snd_mss;
    assert!(a.send(&vec![2u8; 200_000]).unwrap() > cwnd0);
    let flight = collect(&mut a, now);
    assert!(flight.len() >= 4);
    assert_eq!(a.stats().cwnd, cwnd0);
    // The receiver sees every one of them marked: ECE on each ACK until CWR.
    let acks: Vec<Packet> = marked_ce(&flight)
        .iter()
        .flat_map(|q| {
            feed(&mut b, now, std::slice::from_ref(q));
            collect(&mut b, now)
        })
        .collect();
    assert!(acks.len() >= 2);
    assert!(acks.iter().all(|q| q.seg.flags.contains(TcpFlags::ECE)));
    // The first ECE halves (Reno) or cuts by β (CUBIC) cwnd, as a loss would, and nothing is
    // retransmitted; the later ones in the same window change nothing.
    feed(&mut a, now, &acks[..1]);
    let st = a.stats();
    assert!(st.cwnd < cwnd0, "{} after {cwnd0}", st.cwnd);
    assert_eq!(st.ssthresh, st.cwnd);
    assert!(st.cwnd >= 2 * mss);
    let reduced = st.cwnd;
    feed(&mut a, now, &acks[1..]);
    assert_eq!(a.stats().cwnd, reduced, "once per window");
    let out = collect(&mut a, now);
    assert_eq!(a.stats().retransmits, 0);
    assert!(!out.is_empty());
    let first_new = out.iter().find(|q| !q.payload.is_empty()).unwrap();
    assert!(
        first_new.seg.flags.contains(TcpFlags::CWR),
        "CWR on the next data"
    );
    assert!(out
        .iter()
        .filter(|q| q.seg.seq != first_new.seg.seq)
        .all(|q| !q.seg.flags.contains(TcpFlags::CWR)));
    // Past the window that was in flight at the ECE, a new ECE reduces again.
    feed(&mut b, now, &out);
    let acks = collect(&mut b, now);
    assert!(acks.iter().all(|q| !q.seg.flags.contains(TcpFlags::ECE)));
    feed(&mut a, now, &acks);
    let out = collect(&mut a, now);
    feed(&mut b, now, &marked_ce(&out));
    let acks = collect(&mut b, now);
    assert!(acks[0].seg.flags.contains(TcpFlags::ECE));
    let before = a.stats().cwnd;
    feed(&mut a, now, &acks);
    assert!(
        a.stats().cwnd < before,
        "a second window, a second reduction"
    );
    assert_eq!(a.stats().retransmits, 0);
}

#[test]
fn ece_is_ignored_without_ecn() {
    let (mut a, mut b) = pair();
    a.set_nodelay(true);
    let now = t(10);
    a.send(&[1u8; 5000]).unwrap();
    let p = collect(&mut a, now);
    feed(&mut b, now, &p);
    let mut acks = collect(&mut b, now);
    let cwnd = a.stats().cwnd;
    for q in &mut acks {
        q.seg.flags.insert(TcpFlags::ECE);
    }
    feed(&mut a, now, &acks);
    assert!(a.stats().cwnd >= cwnd);
    // And CE marks are not echoed.
    a.send(&[1u8; 100]).unwrap();
    feed(&mut b, now, &marked_ce(&collect(&mut a, now)));
    let acks = collect(&mut b, t(100));
    assert!(acks.iter().all(|q| !q.seg.flags.contains(TcpFlags::ECE)));
}

#[test]
fn ecn_rides_in_a_syn_cookie_timestamp_as_linux_keeps_it() {
    for timestamps in [true, false] {
        let now = t(0);
        let ca = Config {
            timestamps,
            ..ecn_cfg(EcnMode::On)
        };
        let mut a = Connection::connect(now, &ca, 1000, 0);
        let syn = collect(&mut a, now).remove(0);
        let sa = Connection::cookie_syn_ack(now, &cfg(), 5000, 77, &syn.as_segment());
        // Without timestamps there is nowhere to keep it: the cookie's SYN-ACK refuses ECN.
        assert_eq!(sa.flags.contains(TcpFlags::ECE), timestamps);
        let sa = Packet {
            seg: sa,
            payload: Vec::new(),
        };
        feed(&mut a, now, &[sa]);
        let ack = collect(&mut a, now).remove(0);
        let mut b = Connection::from_cookie(now, &cfg(), 5000, 77, &ack.as_segment(), 1460);
        b.input(now, &ack.as_segment());
        assert_eq!(b.state(), State::Established);
        assert_eq!((a.stats().ecn, b.stats().ecn), (timestamps, timestamps));
    }
}

#[test]
fn data_on_the_ack_that_returns_a_cookie_is_taken() {
    // Linux's cookie child processes the returning ACK whole (tcp_get_cookie_sock, then
    // tcp_child_process): its data lands within the window the cookie's SYN-ACK offered.
    for timestamps in [true, false] {
        let now = t(0);
        let ca = Config {
            timestamps,
            ..cfg()
        };
        let mut a = Connection::connect(now, &ca, 1000, 0);
        let syn = collect(&mut a, now).remove(0);
        let sa = Connection::cookie_syn_ack(now, &cfg(), 5000, 77, &syn.as_segment());
        feed(
            &mut a,
            now,
            &[Packet {
                seg: sa,
                payload: Vec::new(),
            }],
        );
        // The bare ACK is lost; the first data carries the cookie back.
        let _ = collect(&mut a, now);
        a.send(b"hello").unwrap();
        let data = collect(&mut a, now).remove(0);
        assert_eq!(data.payload, b"hello");
        let mut b = Connection::from_cookie(now, &cfg(), 5000, 77, &data.as_segment(), 1460);
        b.input(now, &data.as_segment());
        assert_eq!(b.state(), State::Established);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(&mut buf), Ok(5), "timestamps {timestamps}");
        assert_eq!(&buf[..5], b"hello");
    }
}

#[test]
fn a_resent_fin_is_answered_at_once_every_time() {
    // Linux's tcp_oow_rate_limited holds back answers to segments without sequence space only:
    // a FIN sent again, as a tail loss probe does, is acknowledged however soon it comes.
    let (mut a, mut b) = pair();
    let now = t(10);
    b.shutdown_write();
    let fin = collect(&mut b, now);
    assert!(fin[0].seg.flags.contains(TcpFlags::FIN));
    feed(&mut a, now, &fin);
    assert_eq!(a.state(), State::CloseWait);
    // The first waits to ride on a reply (Linux's tcp_fin); the FIN sent again is answered.
    let first = collect(&mut a, now);
    assert!(first.is_empty());
    for ms in [11, 12, 13] {
        feed(&mut a, t(ms), &fin);
        let again = collect(&mut a, t(ms));
        assert_eq!(again.len(), 1, "no answer to the FIN resent at {ms} ms");
        assert_eq!(again[0].seg.ack, fin[0].seg.seq + 1);
    }
}

#[test]
fn the_fast_retransmit_goes_even_when_cwnd_is_full() {
    // RFC 6675 §5 step 4.3 and RFC 6937: the first retransmission of a recovery episode does not
    // wait for cwnd; a small window whose later ACKs are lost would otherwise sit until the RTO.
    let (mut a, mut b) = pair();
    a.set_congestion(super::Algorithm::Reno);
    let data = vec![3u8; 10 * 1448];
    a.send(&data).unwrap();
    let p = collect(&mut a, t(20));
    assert_eq!(p.len(), 10, "the initial window");
    // The first segment is lost and only the SACKs for the next three arrive: ssthresh falls to
    // five segments while six are still in flight.
    let acks: Vec<Packet> = p[1..4]
        .iter()
        .flat_map(|s| answer(&mut b, t(21), std::slice::from_ref(s)))
        .collect();
    assert_eq!(acks.len(), 3);
    feed(&mut a, t(22), &acks);
    let out = collect(&mut a, t(22));
    assert_eq!(
        out.first().map(|p| p.seg.seq),
        Some(p[0].seg.seq),
        "{out:?}"
    );
    assert_eq!(a.stats().timeouts, 0);
}

#[test]
fn the_send_buffer_grows_with_cwnd_unless_so_sndbuf_fixed_it() {
    // Linux's tcp_sndbuf_expand: room for two windows, up to tcp_wmem[2]; SO_SNDBUF locks it.
    for locked in [false, true] {
        let (mut a, mut b) = pair();
        if locked {
            assert!(a.set_send_buffer(64 * 1024));
        }
        let start = a.send_buffer_capacity();
        let mut now = t(10);
        let mut buf = vec![0u8; 256 * 1024];
        for _ in 0..200 {
            while a.send(&[5u8; 16 * 1024]).is_ok_and(|n| n > 0) {}
            settle(&mut a, &mut b, now);
            while b.recv(&mut buf).is_ok_and(|n| n > 0) {}
            settle(&mut a, &mut b, now);
            now += Duration::from_millis(1);
        }
        let end = a.send_buffer_capacity();
        if locked {
            assert_eq!(end, start, "SO_SNDBUF fixed the size");
        } else {
            assert!(end > start && end <= 4 * 1024 * 1024, "{start} -> {end}");
        }
    }
}

/// The ACK of a segment is lost, the timeout resends it, and the receiver answers the duplicate
/// with its TS.Recent of the original (RFC 7323 Appendix D drops a wholly old segment before
/// updating it): that echo dates from before the retransmission it acknowledges, measures the
/// timeout rather than a round trip, and must not reach SRTT.
#[test]
fn an_echo_from_before_the_retransmission_gives_no_rtt_sample() {
    let (mut a, mut b) = pair();
    // One measured round trip of 10 ms.
    a.send(&[7u8; 100]).unwrap();
    let first = collect(&mut a, t(10));
    feed(&mut a, t(20), &answer(&mut b, t(15), &first));
    let srtt = a.stats().srtt;
    assert!(srtt.is_some());
    // The next segment arrives, but its ACK is lost; the timeout resends it.
    a.send(&[8u8; 1000]).unwrap();
    let p = collect(&mut a, t(30));
    let lost = answer(&mut b, t(35), &p);
    assert!(!lost.is_empty());
    let mut now = t(35);
    let mut out = Vec::new();
    for _ in 0..1000 {
        now += Duration::from_millis(10);
        out = collect(&mut a, now);
        if !out.is_empty() {
            break;
        }
    }
    // A lone segment's loss probe goes at the RTO's time in its place (RFC 8985 §7.2).
    assert_eq!(
        a.stats().timeouts + a.stats().probes,
        1,
        "the probe resent the data"
    );
    let answers = answer(&mut b, now + Duration::from_millis(5), &out);
    let echo = answers[0].seg.options.timestamps.map(|t| t.1);
    assert!(
        echo.is_some() && echo < out[0].seg.options.timestamps.map(|t| t.0),
        "the receiver echoes a timestamp from before the retransmission"
    );
    feed(&mut a, now + Duration::from_millis(10), &answers);
    assert_eq!(a.stats().unacked, 0);
    assert_eq!(a.stats().srtt, srtt, "no sample from the stale echo");
}

// ---------------------------------------------------------------------------------------------
// Fast Open (RFC 7413).

fn cookie() -> crate::wire::tcp::FastOpenCookie {
    crate::wire::tcp::FastOpenCookie::new(&[0xc0, 0x0c, 1, 2, 3, 4, 5, 6]).unwrap()
}

/// A client with `cookie`, its first write `data`: connect succeeds at once (writable, SYN held),
/// and the write sends the SYN with the cookie and the data.
fn fast_open_client(data: &[u8]) -> (Connection, Vec<Packet>) {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    a.set_fast_open(Some(cookie()));
    assert!(a.syn_held());
    assert!(collect(&mut a, now).is_empty(), "the SYN waits for data");
    assert!(a.readiness().writable && !a.readiness().readable);
    assert_eq!(a.send(data).unwrap(), data.len());
    let syn = collect(&mut a, now);
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].seg.flags, TcpFlags::SYN);
    assert_eq!(syn[0].seg.options.fast_open, Some(cookie()));
    (a, syn)
}

#[test]
fn a_held_fast_open_syn_sent_without_data_carries_the_cookie_alone() {
    // A zero-length sendto(MSG_FASTOPEN): Linux's tcp_send_syn_data sends the cookie, no data.
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    a.set_fast_open(Some(cookie()));
    assert!(a.syn_held());
    a.send_held_syn();
    assert!(!a.syn_held());
    let syn = collect(&mut a, now);
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].seg.flags, TcpFlags::SYN);
    assert_eq!(syn[0].seg.options.fast_open, Some(cookie()));
    assert!(syn[0].payload.is_empty());
    assert_eq!(a.state(), State::SynSent);
    assert!(!a.readiness().writable, "a connect in progress");
}

#[test]
fn fast_open_data_in_the_syn_is_taken_and_acknowledged() {
    let now = t(0);
    let (mut a, syn) = fast_open_client(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(syn[0].payload, b"GET / HTTP/1.0\r\n\r\n");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    // Ready for accept and read before the handshake ends.
    assert_eq!(b.state(), State::SynReceived);
    assert!(b.is_fast_open_child());
    assert!(b.readiness().readable);
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(&mut buf).unwrap(), 18);
    assert_eq!(&buf[..18], b"GET / HTTP/1.0\r\n\r\n");
    let synack = collect(&mut b, now);
    assert_eq!(synack.len(), 1, "the SYN-ACK alone acknowledges the data");
    assert_eq!(synack[0].seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(synack[0].seg.ack, SeqNum(1001 + 18));
    assert_eq!(synack[0].seg.options.fast_open, None);
    feed(&mut a, now, &synack);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.send_queue_len(), 0, "the SYN's data is acknowledged");
    assert!(
        a.stats().syn_data && b.stats().syn_data,
        "TCPI_OPT_SYN_DATA both ends"
    );
    assert_eq!(a.take_fast_open_cookie(), None);
    let ack = collect(&mut a, now);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].seg.seq, SeqNum(1001 + 18));
    assert!(ack[0].payload.is_empty(), "nothing sent again");
    feed(&mut b, now, &ack);
    assert_eq!(b.state(), State::Established);
    assert!(!b.is_fast_open_child());
    let extra = collect(&mut b, now);
    assert!(
        extra.is_empty(),
        "nothing owed: {:?}",
        extra.iter().map(|p| p.seg).collect::<Vec<_>>()
    );
    // The connection goes on as any other.
    a.send(b"more").unwrap();
    let p = collect(&mut a, now);
    feed(&mut b, now, &p);
    assert_eq!(b.recv(&mut buf).unwrap(), 4);
}

#[test]
fn fast_open_data_not_acknowledged_is_sent_after_the_handshake() {
    let now = t(0);
    let (mut a, syn) = fast_open_client(b"hello");
    // A server that refuses the cookie: an ordinary handshake, a fresh cookie in the SYN-ACK.
    let mut b = Connection::accept(now, &cfg(), 5000, 0, &syn[0].as_segment());
    let fresh = crate::wire::tcp::FastOpenCookie::new(&[9; 8]).unwrap();
    b.offer_fast_open_cookie(fresh);
    assert!(!b.readiness().readable);
    let synack = collect(&mut b, now);
    assert_eq!(
        synack[0].seg.ack,
        SeqNum(1001),
        "the SYN's data is not acknowledged"
    );
    assert_eq!(synack[0].seg.options.fast_open, Some(fresh));
    feed(&mut a, now, &synack);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.take_fast_open_cookie(), Some(fresh));
    assert_eq!(a.take_fast_open_cookie(), None, "taken once");
    assert!(!a.stats().syn_data && !b.stats().syn_data);
    let p = collect(&mut a, now);
    assert_eq!(data_of(&p), b"hello", "sent again after the handshake");
    assert_eq!(p[0].seg.seq, SeqNum(1001));
    feed(&mut b, now, &p);
    assert_eq!(b.state(), State::Established);
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    settle(&mut a, &mut b, now);
    assert_eq!(a.send_queue_len(), 0);
}

#[test]
fn fast_open_partial_ack_and_a_retransmitted_syn() {
    let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    let (mut a, syn) = fast_open_client(&data);
    // As much as fits beside every option (Linux: the MSS less 40).
    assert_eq!(syn[0].payload.len(), 1460 - 40);
    assert_eq!(a.send_queue_len(), 3000);
    // The SYN is lost: the retransmission goes bare.
    let later = t(1500);
    let again = collect(&mut a, later);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].seg.flags, TcpFlags::SYN);
    assert!(again[0].payload.is_empty());
    assert_eq!(again[0].seg.options.fast_open, None);
    let mut b = Connection::accept(later, &cfg(), 5000, 0, &again[0].as_segment());
    let synack = collect(&mut b, later);
    feed(&mut a, later, &synack);
    assert_eq!(a.state(), State::Established);
    let mut got = Vec::new();
    for _ in 0..10 {
        let p = collect(&mut a, later);
        feed(&mut b, later, &p);
        feed(&mut a, later, &collect(&mut b, later));
        let mut buf = [0u8; 4096];
        while let Ok(n) = b.recv(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(got, data, "every byte once, in order");
}

#[test]
fn fast_open_without_a_cookie_asks_for_one() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    a.set_fast_open(None);
    assert!(!a.syn_held());
    assert_eq!(
        a.send(b"x"),
        Err(Errno::EAGAIN),
        "no data before the handshake"
    );
    let syn = collect(&mut a, now);
    assert_eq!(
        syn[0].seg.options.fast_open,
        Some(crate::wire::tcp::FastOpenCookie::request())
    );
    assert!(syn[0].payload.is_empty());
    let mut b = Connection::accept(now, &cfg(), 5000, 0, &syn[0].as_segment());
    b.offer_fast_open_cookie(cookie());
    feed(&mut a, now, &collect(&mut b, now));
    assert_eq!(a.take_fast_open_cookie(), Some(cookie()));
    // A SYN-ACK retransmission carries no cookie (Linux's).
    let mut b2 = Connection::accept(now, &cfg(), 5000, 0, &syn[0].as_segment());
    b2.offer_fast_open_cookie(cookie());
    assert!(collect(&mut b2, now)[0].seg.options.fast_open.is_some());
    let rtx = collect(&mut b2, t(1200));
    assert_eq!(rtx[0].seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(rtx[0].seg.options.fast_open, None);
}

/// Linux's TCP_FASTOPEN_NO_COOKIE (beyond RFC 7413): the SYN waits for the first write as with a
/// cookie and carries its data with no Fast Open option; a server that takes it acknowledges it.
#[test]
fn fast_open_without_a_cookie_in_no_cookie_mode_sends_data_bare() {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    a.set_fast_open_no_cookie();
    assert!(a.syn_held());
    assert!(collect(&mut a, now).is_empty(), "the SYN waits for data");
    assert_eq!(a.syn_data_room(), 1460 - 40);
    assert_eq!(a.send(b"no cookie").unwrap(), 9);
    let syn = collect(&mut a, now);
    assert_eq!(syn.len(), 1);
    assert_eq!(syn[0].seg.flags, TcpFlags::SYN);
    assert_eq!(syn[0].seg.options.fast_open, None);
    assert_eq!(syn[0].payload, b"no cookie");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    let synack = collect(&mut b, now);
    assert_eq!(synack[0].seg.ack, SeqNum(1001 + 9));
    feed(&mut a, now, &synack);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.send_queue_len(), 0, "the SYN's data is acknowledged");
    assert!(a.stats().syn_data);
    // A retransmitted SYN goes bare, as with a cookie.
    let mut c = Connection::connect(now, &cfg(), 1000, 0);
    c.set_fast_open_no_cookie();
    c.send(b"lost").unwrap();
    assert_eq!(collect(&mut c, now)[0].payload, b"lost");
    let again = collect(&mut c, t(1500));
    assert!(again[0].payload.is_empty() && again[0].seg.options.fast_open.is_none());
}

#[test]
fn a_fast_open_child_is_small_too() {
    let (_, syn) = fast_open_client(b"hi");
    let b = Connection::accept_fast_open(t(0), &cfg(), 5000, 0, &syn[0].as_segment());
    assert!(std::mem::size_of_val(&b) < 1024);
}

#[test]
fn a_fast_open_child_answers_before_the_handshake_ends() {
    let now = t(0);
    let (mut a, syn) = fast_open_client(b"GET /");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    let synack = collect(&mut b, now);
    assert_eq!(synack.len(), 1);
    // The program reads the request and answers at once, as on Linux: the reply follows the
    // SYN-ACK without waiting for the handshake's last ACK.
    assert!(b.readiness().writable);
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert_eq!(b.send(b"200 OK").unwrap(), 6);
    let reply = collect(&mut b, now);
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].seg.seq, SeqNum(5001));
    assert_eq!(reply[0].payload, b"200 OK");
    assert_eq!(reply[0].seg.flags & TcpFlags::SYN, TcpFlags::empty());
    assert_eq!(b.state(), State::SynReceived);
    feed(&mut a, now, &synack);
    feed(&mut a, now, &reply);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.recv(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"200 OK");
    let ack = collect(&mut a, now);
    feed(&mut b, now, &ack);
    assert_eq!(b.state(), State::Established);
    assert_eq!(b.send_queue_len(), 0, "the reply is acknowledged");
    settle(&mut a, &mut b, now);
}

#[test]
fn a_fast_open_child_sends_its_syn_ack_and_reply_again_when_both_are_lost() {
    let now = t(0);
    let (mut a, syn) = fast_open_client(b"GET /");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    b.send(b"200 OK").unwrap();
    let lost = collect(&mut b, now);
    assert_eq!(lost.len(), 2, "SYN-ACK and reply, both lost");
    // At the retransmission timeout: the SYN-ACK again, then the reply.
    let at = b.poll_at(now).unwrap();
    assert!(at >= t(900) && at <= t(1100), "{at:?}");
    let again = collect(&mut b, at);
    assert_eq!(again[0].seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(data_of(&again), b"200 OK");
    feed(&mut a, at, &again);
    assert_eq!(a.state(), State::Established);
    let mut buf = [0u8; 16];
    assert_eq!(a.recv(&mut buf).unwrap(), 6);
    settle(&mut a, &mut b, at);
    assert_eq!(b.state(), State::Established);
    assert_eq!(b.send_queue_len(), 0);
}

#[test]
fn a_fast_open_child_reset_before_the_last_ack_reports_it() {
    let now = t(0);
    let (_, syn) = fast_open_client(b"hi");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    collect(&mut b, now);
    b.input(
        now,
        &segment(SeqNum(1001 + 2), SeqNum(0), TcpFlags::RST, b""),
    );
    assert_eq!(b.state(), State::Closed);
    let mut buf = [0u8; 4];
    assert_eq!(b.recv(&mut buf).unwrap(), 2, "what came is still read");
    assert_eq!(b.recv(&mut buf), Err(Errno::ECONNRESET));
}

#[test]
fn a_fast_open_child_read_before_the_last_ack_owes_nothing_after_it() {
    let now = t(0);
    let (mut a, syn) = fast_open_client(b"GET /");
    let mut b = Connection::accept_fast_open(now, &cfg(), 5000, 0, &syn[0].as_segment());
    let synack = collect(&mut b, now);
    let mut buf = [0u8; 16];
    assert_eq!(b.recv(&mut buf).unwrap(), 5);
    assert!(collect(&mut b, now).is_empty());
    feed(&mut a, now, &synack);
    let ack = collect(&mut a, now);
    feed(&mut b, now, &ack);
    assert_eq!(b.state(), State::Established);
    let extra = collect(&mut b, now);
    assert!(
        extra.is_empty(),
        "{:?}",
        extra.iter().map(|p| p.seg).collect::<Vec<_>>()
    );
}

/// Receive-buffer autotuning (Linux's tcp_rcv_space_adjust): a reader that keeps up lets the
/// window grow past the buffer it started with; SO_RCVBUF (Linux's SOCK_RCVBUF_LOCK) fixes it.
#[test]
fn the_receive_window_grows_with_the_reader_unless_so_rcvbuf_fixed_it() {
    for locked in [false, true] {
        let cb = Config {
            recv_buffer: 64 * 1024,
            recv_buffer_locked: locked,
            ..cfg()
        };
        let (mut a, mut b) = pair_with(&cfg(), &cb);
        let data = vec![7u8; 8 * 1024 * 1024];
        let mut sent = 0;
        let mut got = 0;
        let mut widest = 0;
        let mut buf = vec![0u8; 1 << 20];
        let mut now = t(1);
        for _ in 0..2000 {
            if sent < data.len() {
                sent += a.send(&data[sent..]).unwrap_or(0);
            }
            now += Duration::from_millis(1);
            let out = collect(&mut a, now);
            let back = answer(&mut b, now, &out);
            while let Ok(n) = b.recv(&mut buf) {
                if n == 0 {
                    break;
                }
                got += n;
            }
            widest = widest.max(b.stats().our_window);
            feed(&mut a, now, &back);
            feed(&mut a, now, &collect(&mut b, now));
            if got == data.len() {
                break;
            }
        }
        assert_eq!(got, data.len(), "locked {locked}");
        if locked {
            assert!(widest <= 64 * 1024, "{widest}");
        } else {
            assert!(widest > 256 * 1024, "the window stayed at {widest}");
        }
    }
}

/// Runs `a` sending to `b` over a path of `delay_ms` each way for `ms` milliseconds: `a`'s
/// program has `rate` more bytes to write each millisecond (what the send buffer refuses waits),
/// `b`'s reads everything at once. Calls `each` after every millisecond with the time and the
/// bytes read so far.
fn over_a_delayed_path(
    a: &mut Connection,
    b: &mut Connection,
    delay_ms: u64,
    rate: usize,
    ms: u64,
    mut each: impl FnMut(u64, &Connection, &Connection, usize),
) {
    use std::collections::VecDeque;
    let chunk = vec![3u8; rate];
    let mut backlog = 0usize;
    let mut to_b: VecDeque<(u64, Vec<Packet>)> = VecDeque::new();
    let mut to_a: VecDeque<(u64, Vec<Packet>)> = VecDeque::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    for now_ms in 1..=ms {
        let now = t(now_ms);
        backlog += rate;
        while backlog > 0 {
            match a.send(&chunk[..backlog.min(rate)]) {
                Ok(n) if n > 0 => backlog -= n,
                _ => break,
            }
        }
        while let Some((_, p)) = to_b.pop_front_if(|(at, _)| *at <= now_ms) {
            feed(b, now, &p);
        }
        while let Some((_, p)) = to_a.pop_front_if(|(at, _)| *at <= now_ms) {
            feed(a, now, &p);
        }
        while let Ok(n) = b.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        to_b.push_back((now_ms + delay_ms, collect(a, now)));
        to_a.push_back((now_ms + delay_ms, collect(b, now)));
        each(now_ms, a, b, got);
    }
}

/// RFC 2883 as Linux (tcp_dsack_set, net.ipv4.tcp_dsack 1): a segment that arrives again is
/// reported once, as the first SACK block of the ACK it causes: wholly old, partly old (the old
/// part), or out of order and already held (then the block holding it follows).
#[test]
fn a_duplicate_is_reported_once_as_a_d_sack() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(&[1u8; 3000]).unwrap();
    let p = collect(&mut a, now);
    assert_eq!(p.len(), 3);
    let (s0, e0) = (p[0].seg.seq, p[0].seg.seq + p[0].payload.len());
    feed(&mut b, now, &p[..1]);
    collect(&mut b, now);
    // Wholly old.
    let ack = answer(&mut b, now, &p[..1]);
    assert_eq!(ack.len(), 1);
    let blocks: Vec<_> = ack[0].seg.options.sack_blocks.iter().copied().collect();
    assert_eq!(blocks, [(s0.0, e0.0)]);
    // Reported once: the next ACK has no D-SACK.
    let ack = answer(&mut b, now, &p[2..3]);
    let blocks: Vec<_> = ack[0].seg.options.sack_blocks.iter().copied().collect();
    let (s2, e2) = (p[2].seg.seq, p[2].seg.seq + p[2].payload.len());
    assert_eq!(blocks, [(s2.0, e2.0)], "only the out-of-order block");
    // Out of order and held already: the D-SACK, then the block that holds it.
    let ack = answer(&mut b, now, &p[2..3]);
    let blocks: Vec<_> = ack[0].seg.options.sack_blocks.iter().copied().collect();
    assert_eq!(blocks, [(s2.0, e2.0), (s2.0, e2.0)]);
    // Partly old: the first two segments again as one, of which the first is old.
    let mut both = p[0].clone();
    both.payload = [p[0].payload.clone(), p[1].payload.clone()].concat();
    let ack = answer(&mut b, now, &[both]);
    let blocks: Vec<_> = ack[0].seg.options.sack_blocks.iter().copied().collect();
    assert_eq!(blocks, [(s0.0, e0.0)]);
    assert_eq!(ack[0].seg.ack, e2, "the hole is filled");
}

fn sack_blocks_of(p: &Packet) -> Vec<(u32, u32)> {
    p.seg.options.sack_blocks.iter().copied().collect()
}

/// RFC 2883 as Linux: an in-order segment that covers data already held out of order reports
/// the overlap as a D-SACK (tcp_data_queue → tcp_ofo_queue → tcp_dsack_extend), up to where the
/// held data ends or the segment does, whichever is first (the 6.16 fix to tcp_ofo_queue), in
/// the ACK that the filled hole sends at once; the blocks of data still held follow it.
#[test]
fn an_in_order_segment_over_held_data_reports_the_overlap_as_a_d_sack() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(&[1u8; 4 * 1448]).unwrap();
    let p = collect(&mut a, now);
    assert_eq!(p.len(), 4);
    let span = |i: usize| (p[i].seg.seq, p[i].seg.seq + p[i].payload.len());
    let ((s0, _), (s1, e1), (_, e2), (s3, e3)) = (span(0), span(1), span(2), span(3));
    // The second and the fourth held out of order.
    feed(&mut b, now, &p[1..2]);
    let ack = answer(&mut b, now, &p[3..4]);
    assert_eq!(sack_blocks_of(&ack[0]), [(s3.0, e3.0), (s1.0, e1.0)]);
    // One segment from the start past the second's end: the second is covered whole, and the
    // D-SACK is all of it and no more; the fourth's block follows.
    let mut over = p[0].clone();
    over.payload = [&p[0].payload[..], &p[1].payload[..], &p[2].payload[..100]].concat();
    let ack = answer(&mut b, now, &[over]);
    assert_eq!(ack.len(), 1, "at once: a hole was filled");
    assert_eq!(ack[0].seg.ack, e1 + 100);
    assert_eq!(sack_blocks_of(&ack[0]), [(s1.0, e1.0), (s3.0, e3.0)]);
    // Reported once.
    let mut rest = p[2].clone();
    rest.seg.seq = e1 + 100;
    rest.payload = p[2].payload[100..1000].to_vec();
    let ack = answer_or_delayed(&mut b, now, &[rest]);
    assert_eq!(sack_blocks_of(&ack[0]), [(s3.0, e3.0)]);
    // Now one that ends inside the fourth: the D-SACK is the part of it the segment covered.
    let mut into = p[2].clone();
    into.seg.seq = e1 + 1000;
    into.payload = [&p[2].payload[1000..], &p[3].payload[..500]].concat();
    let ack = answer(&mut b, now, &[into]);
    assert_eq!(ack[0].seg.ack, e3);
    assert_eq!(sack_blocks_of(&ack[0]), [(s3.0, (s3 + 500).0)]);
    assert_eq!(e2, s3);
    let mut buf = vec![0u8; 8000];
    assert_eq!(b.recv(&mut buf), Ok(e3.since(s0)));
}

/// A FIN beyond RCV.NXT is held out of order as one byte of sequence space (Linux's
/// tcp_data_queue_ofo queues the zero-length skb with FIN, whose end_seq counts it), so the
/// duplicate ACK SACKs it, alone or at the end of the data before it, and a second copy of it is
/// a D-SACK; once the hole fills, the FIN is reached. Held alone, it is no unread data: close()
/// sends a FIN, not a reset (Linux's __tcp_close counts only the receive queue).
#[test]
fn an_out_of_order_fin_is_sacked_as_one_byte() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(&[1u8; 100]).unwrap();
    let data = collect(&mut a, now);
    a.shutdown_write();
    let fin = collect(&mut a, now);
    assert_eq!(fin.len(), 1);
    assert!(fin[0].seg.flags.contains(TcpFlags::FIN) && fin[0].payload.is_empty());
    let f = fin[0].seg.seq;
    let ack = answer(&mut b, now, &fin);
    assert_eq!(ack.len(), 1, "a duplicate ACK at once");
    assert_eq!(ack[0].seg.ack, data[0].seg.seq);
    assert_eq!(sack_blocks_of(&ack[0]), [(f.0, (f + 1).0)]);
    assert_eq!(b.state(), State::Established);
    // Again: a D-SACK of the FIN, then the block holding it.
    let ack = answer(&mut b, now, &fin);
    assert_eq!(
        sack_blocks_of(&ack[0]),
        [(f.0, (f + 1).0), (f.0, (f + 1).0)]
    );
    // The hole filled: the FIN is reached.
    let ack = answer_or_delayed(&mut b, now, &data);
    assert_eq!(b.state(), State::CloseWait);
    assert_eq!(ack.last().unwrap().seg.ack, f + 1);
    assert!(sack_blocks_of(ack.last().unwrap()).is_empty());
    let mut buf = [0u8; 200];
    assert_eq!(b.recv(&mut buf), Ok(100));
    assert_eq!(b.recv(&mut buf), Ok(0));

    // Data with a FIN, out of order: the block covers the FIN too.
    let (mut a, mut b) = pair();
    a.send(&[1u8; 2 * 1448]).unwrap();
    a.shutdown_write();
    let p = collect(&mut a, now);
    let last = p.last().unwrap();
    assert!(last.seg.flags.contains(TcpFlags::FIN) && !last.payload.is_empty());
    let end = last.seg.seq + last.payload.len() + 1;
    let ack = answer(&mut b, now, &p[p.len() - 1..]);
    assert_eq!(sack_blocks_of(&ack[0]), [(last.seg.seq.0, end.0)]);

    // A FIN alone held: close() closes gracefully.
    let (mut a, mut b) = pair();
    a.send(&[1u8; 100]).unwrap();
    collect(&mut a, now);
    a.shutdown_write();
    let fin = collect(&mut a, now);
    feed(&mut b, now, &fin);
    collect(&mut b, now);
    b.close();
    let out = collect(&mut b, now);
    assert_eq!(out.len(), 1);
    assert!(out[0].seg.flags.contains(TcpFlags::FIN));
    assert!(!out[0].seg.flags.contains(TcpFlags::RST));
}

/// Reaching the peer's FIN forgets a D-SACK not yet sent, as Linux's tcp_fin (tcp_sack_reset
/// clears `rx_opt.dsack` with the SACK blocks): a partly old segment that carries the FIN is
/// acknowledged without one.
#[test]
fn reaching_the_fin_forgets_a_d_sack() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(&[1u8; 200]).unwrap();
    let p = collect(&mut a, now);
    let mut first = p[0].clone();
    first.payload.truncate(100);
    feed(&mut b, now, &[first]);
    collect(&mut b, now + Duration::from_millis(40));
    a.shutdown_write();
    let mut again = collect(&mut a, now);
    assert_eq!(again.len(), 1);
    // The whole 200 bytes again, with the FIN: the first 100 are old.
    again[0].seg.seq = p[0].seg.seq;
    again[0].payload = p[0].payload.clone();
    let ack = answer_or_delayed(&mut b, now, &again);
    assert_eq!(b.state(), State::CloseWait);
    assert!(sack_blocks_of(ack.last().unwrap()).is_empty());
}

/// A D-SACK owed when data goes rides on the first segment, whose payload shrinks by the option
/// so that the segment still fits the MTU (a full one came out 12 bytes over, and with DF the
/// stack refused to send it).
#[test]
fn a_d_sack_riding_on_data_keeps_the_segment_within_the_mtu() {
    let (mut a, mut b) = pair();
    let now = t(10);
    b.send(&[1u8; 100]).unwrap();
    let p = collect(&mut b, now);
    feed(&mut a, now, &p);
    collect(&mut a, now);
    a.send(&[2u8; 20_000]).unwrap();
    feed(&mut a, now, &p);
    let out = collect(&mut a, now);
    assert!(out.len() > 1);
    assert_eq!(
        out[0].seg.options.sack_blocks.len(),
        1,
        "the D-SACK rides on data"
    );
    for o in &out {
        let ip_len = 20 + 20 + o.seg.options.buffer_len() + o.payload.len();
        assert!(ip_len <= 1500, "{ip_len} bytes");
    }
}

/// A handshake over an instant path leaves SRTT near zero, and the tail loss probe then fires
/// before each flight's ACK on a 10 ms path. The ACK's echo dates the flight's first sending, a
/// true round trip: SRTT must take it, though the ACK covers the probe's copy too (counting the
/// probe as a retransmission the echo predates kept SRTT at 1 µs, a probe spent every flight and
/// the window at two segments).
#[test]
fn srtt_grows_to_the_path_though_probes_race_every_flights_ack() {
    let (mut a, mut b) = pair();
    assert!(a.stats().srtt.unwrap() < Duration::from_millis(1));
    over_a_delayed_path(&mut a, &mut b, 5, 20 * 1024, 300, |_, _, _, _| {});
    let st = a.stats();
    let srtt = st.srtt.unwrap();
    assert!(
        (Duration::from_millis(9)..=Duration::from_millis(11)).contains(&srtt),
        "{srtt:?}"
    );
    assert!(st.retransmits <= 2, "{} retransmissions", st.retransmits);
    assert!(st.cwnd > 10 * 1448, "cwnd {}", st.cwnd);
}

/// A pure receiver has no RTT samples of its own sending (its SRTT is the handshake's, instant
/// here), so autotuning paces itself by the receiver's estimate (Linux's rcv_rtt_est): over a
/// path of 10 ms a round trip, a sender writing 20 KiB a millisecond gets its rate through a
/// window that started at 64 KiB (a third of the path's 200 KiB), and the window grows to about
/// twice what a round trip carries, not to the 6 MiB allowed.
#[test]
fn a_pure_receiver_sizes_its_window_by_its_own_round_trip_estimate() {
    const RATE: usize = 20 * 1024;
    let cb = Config {
        recv_buffer: 64 * 1024,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    let (mut got_at_2s, mut got_at_3s, mut widest) = (0, 0, 0);
    over_a_delayed_path(&mut a, &mut b, 5, RATE, 3000, |ms, _, b, got| {
        widest = widest.max(b.stats().our_window);
        match ms {
            2000 => got_at_2s = got,
            3000 => got_at_3s = got,
            _ => {}
        }
    });
    let rtt = b.stats().rcv_rtt.expect("the receiver has an estimate");
    assert!(
        (Duration::from_millis(9)..=Duration::from_millis(11)).contains(&rtt),
        "{rtt:?}"
    );
    let last_second = got_at_3s - got_at_2s;
    assert!(
        last_second >= RATE * 1000 * 9 / 10,
        "{last_second} bytes in the last second, window up to {widest}"
    );
    assert!(
        widest <= 8 * RATE * 10,
        "the window grew to {widest}, past what the flow needs"
    );
}

#[test]
fn a_fin_in_established_is_acknowledged_by_our_fin_or_at_the_delayed_ack_timeout() {
    // Linux's tcp_fin: the peer's FIN takes ESTABLISHED to CLOSE-WAIT in interactive mode, so its
    // ACK waits to ride on what the program sends next, typically the FIN of its close.
    let (mut a, mut b) = pair();
    let now = t(10);
    b.send(b"response").unwrap();
    b.shutdown_write();
    let p = collect(&mut b, now);
    feed(&mut a, now, &p);
    assert_eq!(a.state(), State::CloseWait);
    assert!(collect(&mut a, now).is_empty(), "the FIN's ACK waits");
    assert!(
        !a.quick_ack(),
        "interactive mode, as TCP_QUICKACK reports it on Linux"
    );
    let mut buf = [0u8; 16];
    assert_eq!(a.recv(&mut buf), Ok(8));
    assert!(
        collect(&mut a, now).is_empty(),
        "reading opens no window worth an update"
    );
    a.close();
    let fin = collect(&mut a, t(11));
    assert_eq!(fin.len(), 1, "one segment: our FIN carries the ACK");
    assert!(fin[0].seg.flags.contains(TcpFlags::FIN | TcpFlags::ACK));
    assert_eq!(
        fin[0].seg.ack,
        p.last().unwrap().seg.seq + p.last().unwrap().seg.seq_len()
    );

    // Without a reply, the ACK goes at the delayed-ACK timeout.
    let (mut a, mut b) = pair();
    b.shutdown_write();
    let p = collect(&mut b, now);
    feed(&mut a, now, &p);
    assert!(collect(&mut a, t(49)).is_empty());
    let ack = collect(&mut a, now + cfg().delayed_ack);
    assert_eq!(ack.len(), 1);
    assert_eq!(ack[0].seg.ack, p[0].seg.seq + 1);
}

/// A passive connection with TCP_DEFER_ACCEPT of `count` SYN-ACK retransmissions, the peer's SYN
/// and SYN-ACK exchanged: (peer, listener's connection).
fn deferred_pair(count: u8) -> (Connection, Connection) {
    let now = t(0);
    let mut a = Connection::connect(now, &cfg(), 1000, 0);
    let syn = collect(&mut a, now);
    let deferring = Config {
        defer_accept: count,
        ..cfg()
    };
    let mut b = Connection::accept(now, &deferring, 5000, 77, &syn[0].as_segment());
    let synack = collect(&mut b, now);
    feed(&mut a, now, &synack);
    assert_eq!(a.state(), State::Established);
    (a, b)
}

#[test]
fn a_deferred_accept_drops_the_bare_ack_and_data_completes_the_connection() {
    let (mut a, mut b) = deferred_pair(3);
    let ack = collect(&mut a, t(0));
    assert!(ack[0].payload.is_empty());
    feed(&mut b, t(0), &ack);
    assert_eq!(b.state(), State::SynReceived, "the bare ACK is dropped");
    assert!(collect(&mut b, t(0)).is_empty(), "and not answered");
    // The first timeout after the ACK sends nothing: the connection waits for data.
    assert!(collect(&mut b, t(1000)).is_empty());
    a.send(b"GET /").unwrap();
    let data = collect(&mut a, t(1500));
    feed(&mut b, t(1500), &data);
    assert_eq!(b.state(), State::Established);
    let mut got = [0u8; 16];
    assert_eq!(b.recv(&mut got), Ok(5));
}

#[test]
fn a_deferred_accept_sends_the_syn_ack_again_at_its_end_and_then_takes_the_ack() {
    // 3 retransmissions' worth (1 + 2 + 4 s): silent at the first two timeouts, the SYN-ACK again
    // at the third, then the bare ACK completes the connection.
    let (mut a, mut b) = deferred_pair(3);
    let ack = collect(&mut a, t(0));
    feed(&mut b, t(0), &ack);
    let (mut now, mut sent) = (t(0), vec![]);
    while sent.is_empty() {
        now = b.poll_at(now).expect("a timer runs");
        assert!(now <= t(10_000), "no SYN-ACK by {now:?}");
        sent = collect(&mut b, now);
    }
    assert_eq!(now, t(7000), "after 1 + 2 + 4 s");
    assert_eq!(sent[0].seg.flags, TcpFlags::SYN | TcpFlags::ACK);
    feed(&mut a, now, &sent);
    let ack = collect(&mut a, now);
    feed(&mut b, now, &ack);
    assert_eq!(
        b.state(),
        State::Established,
        "the last chance's ACK is taken"
    );
}

#[test]
fn a_deferred_accept_without_an_ack_times_out_as_any_handshake() {
    let (_, mut b) = deferred_pair(1);
    let mut now = t(0);
    let mut synacks = 0;
    while let Some(at) = b.poll_at(now) {
        now = at;
        synacks += collect(&mut b, now).len();
        assert!(now <= t(200_000));
    }
    assert_eq!(synacks, 5, "each timeout resends, up to tcp_synack_retries");
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn defer_accept_seconds_are_kept_as_linux_keeps_them() {
    use super::config::{defer_accept_retransmissions as count, defer_accept_seconds as secs};
    let asked = [-5, 0, 1, 2, 3, 4, 5, 7, 8, 30, 31, 32, 1000, i32::MAX];
    let kept: Vec<u8> = asked.iter().map(|&s| count(s)).collect();
    assert_eq!(kept, [0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 15, 255]);
    let said: Vec<i32> = [0u8, 1, 2, 3, 4, 5, 6, 7, 8].map(secs).to_vec();
    assert_eq!(said, [0, 1, 3, 7, 15, 31, 63, 127, 247]);
}
#[test]
fn zz_sizes() {
    eprintln!(
        "config {} conn {}",
        std::mem::size_of::<Config>(),
        std::mem::size_of::<Connection>()
    );
}

/// What `c` hands the program now: the stream up to the urgent byte, then that byte (if it is
/// there), as the service's pump takes them.
fn read_urgent(c: &mut Connection) -> (Vec<u8>, Option<u8>) {
    let mut got = Vec::new();
    let _ = c.recv_with(Instant::ZERO, |x, y| {
        got.extend_from_slice(x);
        got.extend_from_slice(y);
        x.len() + y.len()
    });
    let mut urgent = None;
    c.urgent_with(Instant::ZERO, |b| {
        urgent = Some(b);
        true
    });
    (got, urgent)
}

/// The program's send(MSG_OOB) of `byte`, as the service queues it.
fn send_urgent(c: &mut Connection, byte: u8) {
    let n = c.send_with(1, |x, _| {
        x[0] = byte;
        1
    });
    assert_eq!(n, Ok(1));
    c.mark_urgent();
}

#[test]
fn an_urgent_byte_goes_with_urg_pointing_past_it_and_beats_nagle() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(b"ab").unwrap();
    let p1 = collect(&mut a, now);
    assert_eq!(data_of(&p1), b"ab");
    assert!(!p1[0].seg.flags.contains(TcpFlags::URG));
    // "ab" is unacknowledged and small, so Nagle would hold "!": urgent data goes at once
    // (Linux's tcp_nagle_test), URG with the pointer just past the byte (RFC 6093 §2).
    send_urgent(&mut a, b'!');
    let p2 = collect(&mut a, now);
    assert_eq!(data_of(&p2), b"!");
    assert!(p2[0].seg.flags.contains(TcpFlags::URG));
    assert_eq!(p2[0].seg.seq, SeqNum(1003));
    assert_eq!(p2[0].seg.urgent, 1);
    // Data after it carries no URG: its sequence number is not before SND.UP.
    a.send(b"cd").unwrap();
    a.set_nodelay(true);
    let p3 = collect(&mut a, now);
    assert_eq!(data_of(&p3), b"cd");
    assert!(!p3[0].seg.flags.contains(TcpFlags::URG));
    // The peer: "ab", the mark, "!" out of band, "cd".
    feed(&mut b, now, &p1);
    feed(&mut b, now, &p2);
    feed(&mut b, now, &p3);
    assert_eq!(read_urgent(&mut b), (b"ab".to_vec(), Some(b'!')));
    assert_eq!(read_urgent(&mut b), (b"cd".to_vec(), None));
    assert!(!b.urgent_pending());
    // Once the urgent byte is acknowledged, urgent mode is over.
    settle(&mut a, &mut b, t(100));
    a.send(b"e").unwrap();
    let p4 = collect(&mut a, t(100));
    assert!(!p4[0].seg.flags.contains(TcpFlags::URG));
}

#[test]
fn a_resent_urgent_segment_carries_urg_again_and_is_not_taken_twice() {
    let (mut a, mut b) = pair();
    a.send(b"xy").unwrap();
    send_urgent(&mut a, b'!');
    let p = collect(&mut a, t(10));
    assert_eq!(data_of(&p), b"xy!");
    assert!(p[0].seg.flags.contains(TcpFlags::URG));
    assert_eq!(p[0].seg.urgent, 3);
    feed(&mut b, t(10), &p);
    assert_eq!(read_urgent(&mut b), (b"xy".to_vec(), Some(b'!')));
    // Its ACK lost: the retransmission has URG again, which the receiver, past the byte, ignores.
    let rto = collect(&mut a, t(1500));
    assert_eq!(data_of(&rto), b"xy!");
    assert_eq!(
        (rto[0].seg.flags.contains(TcpFlags::URG), rto[0].seg.urgent),
        (true, 3)
    );
    feed(&mut b, t(1500), &rto);
    assert!(!b.urgent_pending());
    assert_eq!(read_urgent(&mut b), (Vec::new(), None));
}

#[test]
fn the_urgent_pointer_may_come_before_its_byte() {
    let (_, mut b) = pair();
    let now = t(10);
    let ack = SeqNum(5001);
    // "xy" with a pointer 3 past it: the urgent byte is the next one, not here yet (Linux's
    // TCP_URG_NOTYET): the stream is read, the byte waits.
    let mut s = segment(SeqNum(1001), ack, TcpFlags::ACK | TcpFlags::URG, b"xy");
    s.urgent = 3;
    b.input(now, &s);
    assert!(b.urgent_pending());
    assert_eq!(read_urgent(&mut b), (b"xy".to_vec(), None));
    b.input(now, &segment(SeqNum(1003), ack, TcpFlags::ACK, b"!z"));
    assert_eq!(read_urgent(&mut b), (Vec::new(), Some(b'!')));
    assert_eq!(read_urgent(&mut b), (b"z".to_vec(), None));
    // A duplicate of the pointer, and one pointing at data in order already, are ignored.
    b.input(now, &s);
    let mut s = segment(SeqNum(1004), ack, TcpFlags::ACK | TcpFlags::URG, b"");
    s.urgent = 1;
    b.input(now, &s);
    assert!(!b.urgent_pending());
}

#[test]
fn the_urgent_byte_goes_with_the_data_before_it() {
    // The service writes the data before the mark and the urgent byte in one write (its last
    // byte the socketpair's out-of-band one), so that no read finds the data without the mark.
    let (_, mut b) = pair();
    let now = t(10);
    let mut s = segment(
        SeqNum(1001),
        SeqNum(5001),
        TcpFlags::ACK | TcpFlags::URG,
        b"abcd!ef",
    );
    s.urgent = 5;
    b.input(now, &s);
    let mut seen = Vec::new();
    // A taker that could not write it all: the part it took goes, the urgent byte stays.
    let n = b
        .recv_through_urgent(now, |x, y, urgent| {
            seen.push(([x, y].concat(), urgent));
            2
        })
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(seen, vec![(b"abcd!".to_vec(), true)]);
    assert!(b.urgent_pending());
    seen.clear();
    let n = b
        .recv_through_urgent(now, |x, y, urgent| {
            seen.push(([x, y].concat(), urgent));
            x.len() + y.len()
        })
        .unwrap();
    assert_eq!((n, seen), (3, vec![(b"cd!".to_vec(), true)]));
    assert!(!b.urgent_pending(), "the urgent byte went with its data");
    assert_eq!(read_urgent(&mut b), (b"ef".to_vec(), None));
}

#[test]
fn a_newer_urgent_pointer_leaves_the_older_byte_in_line() {
    let (_, mut b) = pair();
    let now = t(10);
    let ack = SeqNum(5001);
    let mut s1 = segment(SeqNum(1001), ack, TcpFlags::ACK | TcpFlags::URG, b"a!b");
    s1.urgent = 2;
    let mut s2 = segment(SeqNum(1004), ack, TcpFlags::ACK | TcpFlags::URG, b"c?d");
    s2.urgent = 2;
    b.input(now, &s1);
    b.input(now, &s2);
    // One urgent point per stream (RFC 9293 §3.8.5): the later one, as Linux's tcp_check_urg.
    assert_eq!(read_urgent(&mut b), (b"a!bc".to_vec(), Some(b'?')));
    assert_eq!(read_urgent(&mut b), (b"d".to_vec(), None));
    // An older pointer arriving late is ignored.
    b.input(now, &s1);
    assert!(!b.urgent_pending());
}

#[test]
fn an_urgent_byte_out_of_order_waits_for_the_hole() {
    let (_, mut b) = pair();
    let now = t(10);
    let ack = SeqNum(5001);
    let mut s = segment(SeqNum(1003), ack, TcpFlags::ACK | TcpFlags::URG, b"!z");
    s.urgent = 1;
    b.input(now, &s);
    assert!(b.urgent_pending());
    assert_eq!(read_urgent(&mut b), (Vec::new(), None));
    b.input(now, &segment(SeqNum(1001), ack, TcpFlags::ACK, b"xy"));
    assert_eq!(read_urgent(&mut b), (b"xy".to_vec(), Some(b'!')));
    assert_eq!(read_urgent(&mut b), (b"z".to_vec(), None));
}

#[test]
fn urgent_data_behind_a_closed_window_is_announced_by_the_pointer() {
    let (mut a, mut b) = pair();
    let now = t(10);
    a.send(b"ab").unwrap();
    feed(&mut b, now, &collect(&mut a, now));
    // The peer says its window is shut: the urgent byte cannot go, but segments still carry
    // the pointer to it (RFC 1122 §4.2.2.4 note, Linux's tcp_transmit_skb).
    let zero = Segment {
        window: 0,
        ..segment(SeqNum(5001), SeqNum(1003), TcpFlags::ACK, b"")
    };
    a.input(now, &zero);
    send_urgent(&mut a, b'!');
    assert!(collect(&mut a, now).is_empty());
    b.send(b"hi").unwrap();
    let reply = collect(&mut b, now);
    let reply = Segment {
        window: 0,
        ..reply[0].as_segment()
    };
    a.input(now, &reply);
    let acks = collect(&mut a, now);
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].payload.len(), 0);
    assert!(acks[0].seg.flags.contains(TcpFlags::URG));
    assert_eq!((acks[0].seg.seq, acks[0].seg.urgent), (SeqNum(1003), 1));
}

#[test]
fn outside_urgent_mode_snd_up_follows_snd_una() {
    // The handshake moves SND.UNA past the ISS without an ACK's processing; the first ACK of data
    // brings SND.UP along, so it never lies 2^31 behind, where it would seem ahead.
    let (mut a, mut b) = pair();
    assert!(!a.urgent_mode());
    a.send(b"hello").unwrap();
    settle(&mut a, &mut b, t(10));
    assert_eq!(a.snd_up(), a.snd_una());
    send_urgent(&mut a, b'!');
    assert!(a.urgent_mode());
    assert_eq!(a.snd_up(), a.snd_una() + 1);
    settle(&mut a, &mut b, t(20));
    assert!(!a.urgent_mode());
    assert_eq!(a.snd_up(), a.snd_una());
}

/// TCP_QUICKACK 0 before connect (haproxy's connect to a server): Linux's
/// tcp_rcv_synsent_state_process holds the handshake's ACK for the first data to carry it, up to
/// TCP_DELACK_MAX (200 ms); without it the ACK goes at once.
#[test]
fn quickack_off_before_connect_lets_the_request_carry_the_handshake_ack() {
    for (quick_ack_off, data) in [(true, true), (true, false), (false, false)] {
        let ca = Config {
            quick_ack_off,
            ..cfg()
        };
        let now = t(0);
        let mut a = Connection::connect(now, &ca, 1000, 0);
        assert_eq!(a.quick_ack(), !quick_ack_off);
        let syn = collect(&mut a, now);
        let mut b = Connection::accept(now, &cfg(), 5000, 77, &syn[0].as_segment());
        let synack = collect(&mut b, now);
        feed(&mut a, now, &synack);
        assert_eq!(a.state(), State::Established);
        let at_once = collect(&mut a, now);
        if !quick_ack_off {
            assert_eq!(at_once.len(), 1, "a bare ACK at once");
            assert!(at_once[0].payload.is_empty());
            continue;
        }
        assert!(at_once.is_empty(), "the ACK waits");
        if data {
            a.send(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let p = collect(&mut a, t(5));
            assert_eq!(p.len(), 1, "one segment: the request with the ACK");
            assert_eq!(p[0].payload.len(), 18);
            assert!(p[0].seg.flags.contains(TcpFlags::ACK));
        } else {
            assert!(collect(&mut a, t(199)).is_empty());
            let late = collect(&mut a, t(200));
            assert_eq!(late.len(), 1, "the ACK at TCP_DELACK_MAX");
            assert!(late[0].payload.is_empty());
        }
        assert!(collect(&mut a, t(201)).is_empty(), "nothing more owed");
        // Quick-ACK mode once established, as tcp_enter_quickack_mode leaves it.
        assert!(a.quick_ack());
    }
}

/// A listener's TCP_QUICKACK 0 (set after listen, as haproxy's tcp-smart-accept does) passes to
/// its children, as Linux's sk_clone_lock copies `icsk_ack`: a request is not acknowledged at
/// once but by the reply, or by the delayed-ACK timer.
#[test]
fn a_listeners_quickack_off_passes_to_its_children() {
    let cb = Config {
        quick_ack_off: true,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    assert!(!b.quick_ack());
    a.send(b"request").unwrap();
    let req = collect(&mut a, t(10));
    feed(&mut b, t(10), &req);
    assert!(collect(&mut b, t(10)).is_empty(), "the ACK waits");
    b.send(b"reply").unwrap();
    let reply = collect(&mut b, t(20));
    assert_eq!(reply.len(), 1, "the reply carries the ACK");
    assert_eq!(reply[0].seg.ack, req[0].seg.seq + req[0].payload.len());
    // Without it, the request is acknowledged at once (quick-ACK mode at the start).
    let (mut a, mut b) = pair();
    a.send(b"request").unwrap();
    let req = collect(&mut a, t(10));
    feed(&mut b, t(10), &req);
    assert_eq!(collect(&mut b, t(10)).len(), 1);
}

/// Reading a small request opens no window update when the buffer is larger than the first
/// window: Linux's __tcp_cleanup_rbuf weighs the window rcv_ssthresh allows, which starts at the
/// handshake's window and grows with the data received. In interactive mode (a listener's
/// TCP_QUICKACK 0) the ACK then waits for the reply, as on Linux, instead of riding on an update.
#[test]
fn reading_a_small_request_opens_no_window_update() {
    let cb = Config {
        quick_ack_off: true,
        recv_buffer: 256 * 1024,
        ..cfg()
    };
    let (mut a, mut b) = pair_with(&cfg(), &cb);
    a.send(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let req = collect(&mut a, t(10));
    feed(&mut b, t(10), &req);
    let mut buf = [0u8; 64];
    assert_eq!(b.recv(&mut buf), Ok(18));
    assert!(collect(&mut b, t(11)).is_empty(), "no update, no ACK");
    let late = collect(&mut b, t(60));
    assert_eq!(late.len(), 1, "the delayed ACK");
    // Once bulk data has come, a reader that empties the buffer opens it wide at once.
    let data = vec![7u8; 200 * 1024];
    let mut now = t(100);
    let (mut sent, mut got) = (0, 0);
    for _ in 0..50 {
        sent += a.send(&data[sent..]).unwrap_or(0);
        let p = collect(&mut a, now);
        let acks = answer(&mut b, now, &p);
        feed(&mut a, now, &acks);
        let mut big = vec![0u8; 512 * 1024];
        got += b.recv(&mut big).unwrap_or(0);
        let updates = collect(&mut b, now);
        feed(&mut a, now, &updates);
        now += Duration::from_millis(1);
        if got == data.len() {
            break;
        }
    }
    assert_eq!(got, data.len());
}

/// TCP_NOTSENT_LOWAT (Linux's tcp_stream_memory_free): to a peer whose window is closed, new data
/// is taken only while less than the mark waits unsent (a write started below it may pass it),
/// and the connection polls writable only below half the mark; raising the mark, or the peer
/// reading, makes it writable again.
#[test]
fn notsent_lowat_bounds_unsent_data() {
    let mut small = cfg();
    small.recv_buffer = 3 * 1448;
    let (mut a, mut b) = pair_with(&cfg(), &small);
    let now = t(10);
    a.set_notsent_lowat(10_000);
    let chunk = [5u8; 3000];
    let mut written = 0;
    for _ in 0..100 {
        match a.send(&chunk) {
            Ok(n) => written += n,
            Err(e) => {
                assert_eq!(e, Errno::EAGAIN);
                break;
            }
        }
        settle(&mut a, &mut b, now);
    }
    let unsent = a.notsent_len();
    assert_eq!(unsent, written - b.recv_queue_len());
    assert!((10_000..13_000).contains(&unsent), "{unsent} unsent");
    assert!(!a.readiness().writable);
    assert_eq!(a.send_with(65536, |_, _| 0), Err(Errno::EAGAIN));
    // Raised past twice what waits: writable, and takes data again.
    a.set_notsent_lowat(2 * unsent as u32 + 1);
    assert!(a.readiness().writable);
    assert_eq!(a.send(&chunk), Ok(3000));
    a.set_notsent_lowat(10_000);
    assert!(!a.readiness().writable);
    // The reader drains: what waited goes, and the writer may go on.
    let mut buf = vec![0u8; 65536];
    for _ in 0..20 {
        while b.recv(&mut buf).is_ok() {}
        settle(&mut a, &mut b, now);
    }
    assert_eq!(a.notsent_len(), 0);
    assert!(a.readiness().writable);
    // Unset (u32::MAX, Linux's default), only the buffer bounds it.
    a.set_notsent_lowat(u32::MAX);
    assert!(a.send(&[1u8; 20_000]).is_ok());
    assert!(a.readiness().writable);
}

/// SO_MAX_PACING_RATE: past the first ten segments, which go at once as on Linux, segments leave
/// one rate's gap apart, and `poll_at` names the next one's time rather than now.
/// A paced connection whose last segments' ACKs are lost sends its loss probe at the PTO,
/// though pacing would hold a new segment back then (Linux's tcp_send_loss_probe does not ask
/// tcp_pacing_check); held back, the probe was dropped and only the RTO repaired the tail.
#[test]
fn pacing_does_not_hold_back_a_loss_probe() {
    let (mut a, mut b) = pair();
    // Warm SRTT to 10 ms.
    a.send(&[1u8; 100]).unwrap();
    let p = collect(&mut a, t(10));
    feed(&mut a, t(20), &answer(&mut b, t(15), &p));
    // 1 KB/s: after the unpaced first segments the next may go only seconds later.
    a.set_max_pacing_rate(1000);
    a.send(&[2u8; 12 * 1448]).unwrap();
    let burst = collect(&mut a, t(30));
    assert!(!burst.is_empty());
    // Every ACK of the burst is lost. Within 300 ms the PTO passes; neither the RTO nor the
    // pacing gap (seconds at this rate) does.
    let mut probe = Vec::new();
    for ms in 31..300 {
        probe = collect(&mut a, t(ms));
        if !probe.is_empty() {
            break;
        }
    }
    assert_eq!(a.stats().timeouts, 0, "no RTO yet");
    assert_eq!(a.stats().probes, 1, "the probe went: {probe:?}");
}

/// One millisecond at `now` over an instant path: what `a` sends goes to `b` and `b`'s answers
/// back, up to ten times or until both are quiet; `b`'s program reads everything. Returns the
/// bytes of data `a` sent.
fn exchange_at(a: &mut Connection, b: &mut Connection, now: Instant) -> usize {
    let mut sent = 0;
    for _ in 0..10 {
        let out = collect(a, now);
        sent += data_of(&out).len();
        let acks = answer(b, now, &out);
        feed(a, now, &acks);
        if out.is_empty() && acks.is_empty() {
            break;
        }
    }
    let mut buf = vec![0u8; 200 * 1024];
    while b.recv(&mut buf).is_ok_and(|n| n > 0) {}
    sent
}

#[test]
fn max_pacing_rate_spaces_segments_out() {
    let (mut a, mut b) = pair();
    let mss = a.eff_mss_for_test();
    a.set_max_pacing_rate(1_000_000);
    let data = vec![7u8; 60 * 1024];
    assert_eq!(a.send(&data), Ok(data.len()));
    let mut got = 0;
    let mut at_30_ms = 0;
    let mut waits = 0;
    for ms in 0..200 {
        let now = t(ms);
        got += exchange_at(&mut a, &mut b, now);
        if let Some(next) = a.poll_at(now).filter(|&n| n > now) {
            if got < data.len() && a.send_queue_len() > 0 {
                waits += 1;
                assert!(
                    next <= now + Duration::from_millis(2),
                    "{next:?} at {now:?}"
                );
            }
        }
        if ms == 30 {
            at_30_ms = got;
        }
    }
    assert_eq!(got, data.len());
    // 10 segments at once, then 1 MB/s: about 31 KB more in 31 ms (a segment a ms and a half).
    let expect = 10 * mss + 31 * 1000;
    assert!(
        at_30_ms.abs_diff(expect) < 4 * mss,
        "{at_30_ms} bytes by 30 ms, expected about {expect}"
    );
    assert!(waits > 20, "{waits}");

    // Unpaced, the same data is all there by then.
    let (mut a, mut b) = pair();
    assert_eq!(a.send(&data), Ok(data.len()));
    let mut got = 0;
    for ms in 0..30 {
        got += exchange_at(&mut a, &mut b, t(ms));
    }
    assert_eq!(got, data.len());
}

/// TCP_INFO's segment sizes as Linux's: `tcpi_advmss` is the MSS advertised less the timestamp
/// option, `tcpi_rcv_mss` starts at TCP_MSS_DEFAULT (tcp_initialize_rcv_mss) on both ends and then
/// follows the peer's segments as tcp_measure_rcv_mss does: a larger one at once (capped at
/// advmss), a smaller one once two in a row have its size.
#[test]
fn tcp_info_segment_sizes_follow_linux() {
    let (mut a, mut b) = pair();
    for c in [&a, &b] {
        let s = c.stats();
        assert_eq!((s.snd_mss, s.rcv_mss, s.advmss), (1448, 536, 1448));
    }
    b.set_nodelay(true);
    let mut buf = vec![0u8; 1 << 20];
    let mut now = t(10);
    let mut sizes = Vec::new();
    for n in [20, 1000, 600, 600, 100, 100] {
        assert_eq!(b.send(&vec![b'x'; n]).unwrap(), n);
        settle(&mut a, &mut b, now);
        assert_eq!(a.recv(&mut buf).unwrap(), n);
        sizes.push(a.stats().rcv_mss);
        now += Duration::from_millis(300);
    }
    // 100-byte segments with PSH look like the end of a write, not full-sized ones: no change.
    assert_eq!(sizes, [536, 1000, 1000, 600, 600, 600]);
    let bulk = vec![b'y'; 50_000];
    let mut sent = 0;
    while sent < bulk.len() {
        sent += b.send(&bulk[sent..]).unwrap();
        settle(&mut a, &mut b, now);
        while a.recv(&mut buf).is_ok() {}
        now += Duration::from_millis(10);
    }
    assert_eq!(a.stats().rcv_mss, 1448);
    // Without timestamps, all 1460.
    let (a, _) = pair_without_timestamps();
    let s = a.stats();
    assert_eq!((s.snd_mss, s.rcv_mss, s.advmss), (1460, 536, 1460));
}
