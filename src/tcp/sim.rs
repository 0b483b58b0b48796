//! Deterministic simulation: two connections joined by a lossy, delaying, reordering, duplicating,
//! bandwidth-limited link in virtual time, exchanging streams both ways while protocol properties
//! are checked. `TAPSTACK_SIM_SEEDS=N` sets the seed count (default 1000).

use super::config::Config;
use super::congestion::Algorithm;
use super::connection::{Connection, SendCause, State, Trace};
use super::segment::{OutSegment, Segment};
use super::seq::SeqNum;
use crate::error::Errno;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::tcp::TcpFlags;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A segment in flight: header plus an owned copy of the payload.
#[derive(Clone, Debug)]
pub(crate) struct Packet {
    pub seg: OutSegment,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn as_segment(&self) -> Segment<'_> {
        Segment {
            seq: self.seg.seq,
            ack: self.seg.ack,
            flags: self.seg.flags,
            window: self.seg.window,
            options: self.seg.options,
            payload: &self.payload,
        }
    }
}

/// Runs `poll_transmit` and collects what it emits.
pub(crate) fn collect(c: &mut Connection, now: Instant) -> Vec<Packet> {
    let mut out = Vec::new();
    c.poll_transmit(now, &mut |seg, a, b| {
        let mut payload = Vec::with_capacity(a.len() + b.len());
        payload.extend_from_slice(a);
        payload.extend_from_slice(b);
        out.push(Packet { seg: *seg, payload });
    });
    out
}

struct InFlight {
    at: Instant,
    id: u64,
    pkt: Packet,
}
impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.id) == (o.at, o.id)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.id).cmp(&(o.at, o.id))
    }
}

struct Link {
    delay: Duration,
    bytes_per_sec: u64,
    queue_limit: Duration,
    loss: f64,
    dup: f64,
    reorder: f64,
    busy_until: Instant,
    heap: BinaryHeap<Reverse<InFlight>>,
    next_id: u64,
}

impl Link {
    fn send(&mut self, now: Instant, rng: &mut Rng, pkt: Packet) {
        let size = pkt.payload.len() as u64 + 60;
        let start = self.busy_until.max(now);
        if start.saturating_since(now) > self.queue_limit {
            return; // tail drop
        }
        self.busy_until = start + Duration::from_micros(size * 1_000_000 / self.bytes_per_sec);
        if rng.chance(self.loss) {
            return;
        }
        let copies = if rng.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.busy_until + self.delay;
            if rng.chance(self.reorder) {
                at += Duration::from_micros(rng.below(5000));
            }
            self.next_id += 1;
            self.heap.push(Reverse(InFlight {
                at,
                id: self.next_id,
                pkt: pkt.clone(),
            }));
        }
    }
    fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|r| r.0.at)
    }
    fn pop_due(&mut self, now: Instant) -> Option<Packet> {
        if self.next_at()? <= now {
            Some(self.heap.pop().unwrap().0.pkt)
        } else {
            None
        }
    }
}

const PATTERN_LEN: usize = 65521;

struct App {
    total: usize,
    pattern: Vec<u8>, // what this side sends, 2 * PATTERN_LEN long
    written: usize,
    write_done: bool,
    write_resume: Instant,
    read: usize,
    eof: bool,
    read_resume: Instant,
    closed: bool,
}

/// Per-direction wire-level checker state (for segments sent by side `s`).
#[derive(Default)]
struct Checker {
    max_end: Option<SeqNum>,
    /// Highest right edge advertised to this sender by its peer and delivered.
    peer_edge: Option<SeqNum>,
    max_peer_wnd: usize,
    last_rto: Option<(u32, Duration)>,
    /// A tail loss probe timer expired in this poll: one Probe send may follow.
    probe_allowed: bool,
}

pub(crate) struct SimResult {
    pub virtual_time: Duration,
    pub retransmits: u64,
}

fn pattern(rng: &mut Rng) -> Vec<u8> {
    let mut p = vec![0u8; PATTERN_LEN];
    rng.fill(&mut p);
    let copy = p.clone();
    p.extend_from_slice(&copy);
    p
}

pub(crate) fn run_seed(seed: u64, bytes_each_way: usize) -> SimResult {
    let mut rng = Rng::new(seed);
    let link = |rng: &mut Rng| Link {
        delay: Duration::from_micros(500 + rng.below(30_000)),
        bytes_per_sec: (10 + rng.below(190)) * 1_000_000 / 8,
        queue_limit: Duration::from_millis(5 + rng.below(50)),
        loss: if rng.chance(0.2) {
            0.0
        } else {
            rng.below(100) as f64 / 1000.0
        },
        dup: rng.below(20) as f64 / 1000.0,
        reorder: rng.below(50) as f64 / 1000.0,
        busy_until: Instant::ZERO,
        heap: BinaryHeap::new(),
        next_id: 0,
    };
    let mut links = [link(&mut rng), link(&mut rng)];
    let cfg = |rng: &mut Rng| Config {
        mss: 536 + rng.below(925) as u16,
        send_buffer: 8192 + rng.below(256 * 1024) as usize,
        recv_buffer: 8192 + rng.below(512 * 1024) as usize,
        nodelay: rng.chance(0.3),
        congestion: if rng.chance(0.5) {
            Algorithm::Cubic
        } else {
            Algorithm::Reno
        },
        sack: !rng.chance(0.2),
        timestamps: !rng.chance(0.2),
        window_scale: !rng.chance(0.1),
        ..Config::default()
    };
    let cfgs = [cfg(&mut rng), cfg(&mut rng)];
    let delayed_ack = cfgs[0].delayed_ack;
    let now0 = Instant::from_millis(1000);
    let mut conns = [
        Connection::connect(now0, &cfgs[0], rng.next_u32(), rng.next_u32()),
        // Placeholder until the SYN arrives.
        Connection::connect(now0, &cfgs[1], 0, 0),
    ];
    let mut server_born = false;
    conns[0].trace = Some(Vec::new());
    let mut apps = [0, 1].map(|_| App {
        total: bytes_each_way / 2 + rng.below(bytes_each_way as u64 / 2 + 1) as usize,
        pattern: pattern(&mut rng),
        written: 0,
        write_done: false,
        write_resume: now0,
        read: 0,
        eof: false,
        read_resume: now0,
        closed: false,
    });
    let patterns = [apps[0].pattern.clone(), apps[1].pattern.clone()];
    let totals = [apps[0].total, apps[1].total];
    let mut checkers = [Checker::default(), Checker::default()];
    let mut now = now0;
    let mut spins = 0u32;
    let mut buf = vec![0u8; 65_000];
    let fail = |msg: String, now: Instant| -> ! { panic!("seed {seed} at {now:?}: {msg}") };

    loop {
        // Deliver due packets.
        for d in 0..2 {
            while let Some(p) = links[d].pop_due(now) {
                let to = 1 - d;
                if to == 1 && !server_born {
                    if p.seg.flags == TcpFlags::SYN {
                        conns[1] = Connection::accept(
                            now,
                            &cfgs[1],
                            rng.next_u32(),
                            rng.next_u32(),
                            &p.as_segment(),
                        );
                        conns[1].trace = Some(Vec::new());
                        server_born = true;
                    }
                    continue;
                }
                // Track the window the receiving side (as a sender) has been offered.
                if p.seg.flags.contains(TcpFlags::ACK) && !p.seg.flags.contains(TcpFlags::RST) {
                    let shift = if p.seg.flags.contains(TcpFlags::SYN) {
                        0
                    } else {
                        conns[d].wscales().1
                    };
                    let wnd = (p.seg.window as usize) << shift;
                    let edge = p.seg.ack + wnd;
                    let c = &mut checkers[to];
                    c.peer_edge = Some(c.peer_edge.map_or(edge, |e| e.max(edge)));
                    c.max_peer_wnd = c.max_peer_wnd.max(wnd);
                }
                conns[to].input(now, &p.as_segment());
            }
        }

        // Applications.
        for s in 0..2 {
            if s == 1 && !server_born {
                continue;
            }
            let (app, conn) = (&mut apps[s], &mut conns[s]);
            let st = conn.state();
            let usable = !matches!(st, State::SynSent | State::SynReceived);
            if usable && !app.write_done && now >= app.write_resume {
                loop {
                    let n = (1 + rng.below(40_000) as usize).min(app.total - app.written);
                    if n == 0 {
                        break;
                    }
                    let off = app.written % PATTERN_LEN;
                    match conn.send(&app.pattern[off..off + n.min(PATTERN_LEN)]) {
                        Ok(k) => app.written += k,
                        Err(Errno::EAGAIN) => break,
                        Err(e) => fail(format!("side {s} send: {e:?} in {st:?}"), now),
                    }
                }
                if app.written == app.total {
                    conn.shutdown_write();
                    app.write_done = true;
                } else if rng.chance(0.05) {
                    app.write_resume = now + Duration::from_micros(rng.below(50_000));
                }
            }
            if usable && !app.eof && now >= app.read_resume {
                loop {
                    let n = 1 + rng.below(buf.len() as u64) as usize;
                    match conn.recv(&mut buf[..n]) {
                        Ok(0) => {
                            app.eof = true;
                            break;
                        }
                        Ok(k) => {
                            let peer = &patterns[1 - s];
                            let off = app.read % PATTERN_LEN;
                            if buf[..k] != peer[off..off + k] {
                                fail(format!("side {s} data mismatch at {}", app.read), now);
                            }
                            app.read += k;
                        }
                        Err(Errno::EAGAIN) => break,
                        Err(e) => fail(format!("side {s} recv: {e:?}"), now),
                    }
                }
                if app.eof && app.read != totals[1 - s] {
                    fail(format!("side {s} early EOF at {}", app.read), now);
                }
                if !app.eof && rng.chance(0.01) {
                    app.read_resume = now + Duration::from_micros(rng.below(300_000));
                }
            }
            let app = &mut apps[s];
            if app.eof && app.write_done && !app.closed {
                conns[s].close();
                app.closed = true;
            }
        }

        // Transmit and check.
        for s in 0..2 {
            if s == 1 && !server_born {
                continue;
            }
            let una = conns[s].snd_una();
            let mss = conns[s].eff_mss_for_test();
            let nodelay = conns[s].nodelay();
            let pkts = collect(&mut conns[s], now);
            let trace = std::mem::take(conns[s].trace.as_mut().unwrap());
            let ck = &mut checkers[s];
            for t in trace {
                match t {
                    Trace::Rto {
                        now: fired,
                        armed_at,
                        rto,
                        retries,
                    } => {
                        if fired < armed_at + rto {
                            fail(
                                format!("side {s} RTO fired early {armed_at:?}+{rto:?}"),
                                now,
                            );
                        }
                        if let Some((r, prev)) = ck.last_rto {
                            let want = (prev * 2).min(super::rtt::RTO_MAX);
                            if retries == r + 1 && retries > 1 && rto != want {
                                fail(format!("side {s} RTO {rto:?} after {prev:?}"), now);
                            }
                        }
                        ck.last_rto = Some((retries, rto));
                    }
                    Trace::Pto {
                        now: fired,
                        armed_at,
                        pto,
                    } => {
                        if fired < armed_at + pto {
                            fail(
                                format!("side {s} PTO fired early {armed_at:?}+{pto:?}"),
                                now,
                            );
                        }
                        ck.probe_allowed = true;
                    }
                    Trace::Send {
                        seq,
                        len,
                        fin,
                        cause,
                    } => {
                        let end = seq + len + fin as usize;
                        let is_old = ck.max_end.is_some_and(|m| seq < m);
                        match cause {
                            // A tail loss probe only right after its timer, once per expiry.
                            SendCause::Probe if !ck.probe_allowed => {
                                fail(format!("side {s} probe {seq:?} without a PTO"), now)
                            }
                            SendCause::Probe => ck.probe_allowed = false,
                            SendCause::New | SendCause::Forced if is_old && len > 0 => fail(
                                format!(
                                    "side {s} {cause:?} segment {seq:?} below {:?}",
                                    ck.max_end
                                ),
                                now,
                            ),
                            SendCause::Timeout | SendCause::Recovery if !is_old => {
                                fail(format!("side {s} {cause:?} of unsent {seq:?}"), now)
                            }
                            _ => {}
                        }
                        // Peer window never exceeded.
                        if len > 0 {
                            match ck.peer_edge {
                                Some(e) if seq + len <= e => {}
                                e => fail(
                                    format!("side {s} sent {seq:?}+{len} beyond window {e:?}"),
                                    now,
                                ),
                            }
                        }
                        // Nagle: no small new segment while data is unacknowledged.
                        if cause == SendCause::New
                            && !nodelay
                            && !fin
                            && len < mss
                            && len < ck.max_peer_wnd / 2
                            && seq != una
                        {
                            fail(
                                format!(
                                    "side {s} Nagle violated: {len} bytes at {seq:?}, una {una:?}"
                                ),
                                now,
                            );
                        }
                        ck.max_end = Some(ck.max_end.map_or(end, |m| m.max(end)));
                    }
                }
            }
            ck.probe_allowed = false;
            for p in pkts {
                links[s].send(now, &mut rng, p);
            }
            if let Some(t) = conns[s].ack_owed_since() {
                if now.saturating_since(t) > delayed_ack + Duration::from_millis(1) {
                    fail(format!("side {s} ACK owed since {t:?}"), now);
                }
            }
        }

        for (s, c) in conns.iter_mut().enumerate() {
            if let Some(e) = c.take_error() {
                fail(format!("side {s} error {e:?}"), now);
            }
        }
        if server_born && conns[0].is_closed() && conns[1].is_closed() {
            for s in 0..2 {
                if !apps[s].eof || !apps[s].closed || apps[s].read != apps[1 - s].total {
                    fail(format!("side {s} closed before finishing"), now);
                }
            }
            break;
        }

        // Advance virtual time.
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        consider(conns[0].poll_at(now));
        if server_born {
            consider(conns[1].poll_at(now));
        }
        consider(links[0].next_at());
        consider(links[1].next_at());
        for a in &apps {
            if a.write_resume > now && !a.write_done {
                consider(Some(a.write_resume));
            }
            if a.read_resume > now && !a.eof {
                consider(Some(a.read_resume));
            }
        }
        match next {
            None => fail(
                format!(
                    "deadlock: states {:?} {:?}, apps w{}/{} r{} w{}/{} r{}",
                    conns[0].state(),
                    conns[1].state(),
                    apps[0].written,
                    apps[0].total,
                    apps[0].read,
                    apps[1].written,
                    apps[1].total,
                    apps[1].read
                ),
                now,
            ),
            Some(t) if t <= now => {
                spins += 1;
                if spins > 1000 {
                    fail(
                        format!(
                            "spinning: states {:?} {:?}",
                            conns[0].state(),
                            conns[1].state()
                        ),
                        now,
                    );
                }
            }
            Some(t) => {
                spins = 0;
                now = t;
            }
        }
        if now.saturating_since(now0) > Duration::from_secs(4 * 3600) {
            fail("took too long".into(), now);
        }
    }
    let st = [conns[0].stats(), conns[1].stats()];
    SimResult {
        virtual_time: now.saturating_since(now0),
        retransmits: st[0].retransmits + st[1].retransmits,
    }
}

#[test]
fn simulation_many_seeds() {
    let seeds: u64 = std::env::var("TAPSTACK_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let bytes = 2 * 1024 * 1024;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let started = std::time::Instant::now();
    let totals: Vec<(u64, Duration)> = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                sc.spawn(move || {
                    let mut rtx = 0;
                    let mut vt = Duration::ZERO;
                    let mut seed = t;
                    while seed < seeds {
                        let r = run_seed(seed, bytes);
                        rtx += r.retransmits;
                        vt += r.virtual_time;
                        seed += threads;
                    }
                    (rtx, vt)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rtx: u64 = totals.iter().map(|t| t.0).sum();
    eprintln!(
        "{seeds} seeds in {:?} wall, {rtx} retransmissions",
        started.elapsed()
    );
}

#[test]
fn simulation_sample_stats() {
    for seed in 0..5 {
        let r = run_seed(seed, 2 * 1024 * 1024);
        eprintln!(
            "seed {seed}: virtual {:?}, {} retransmissions",
            r.virtual_time, r.retransmits
        );
    }
}
