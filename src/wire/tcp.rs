//! TCP segments (RFC 9293 §3.1), carried in IPv4 (protocol 6), with the options this stack
//! speaks: MSS (RFC 9293 §3.2), window scale and timestamps (RFC 7323), SACK-permitted and SACK
//! blocks (RFC 2018), and the Fast Open cookie (RFC 7413 §4.1.1).
//!
//! [`TcpRepr`] is a segment's header as the state machine sees it, with its options gathered
//! into [`TcpOptions`]; options this stack does not know are skipped on parse (RFC 9293 §3.1
//! requires that) and never sent. [`TcpOptionIter`] walks the raw option bytes for anyone who
//! wants them one by one.
//!
//! Bad options never cost the segment, as in Linux's `tcp_parse_options`: a known kind with a
//! length it cannot have is skipped like an unknown one, and a length byte that is missing, below
//! 2 or running past the option space ends parsing, keeping the options before it (RFC 9293
//! §3.1 asks to be prepared for any option, and the segment's data is still good).
//!
//! Options are emitted in the order and alignment Linux uses, so that our segments look like
//! everyone else's to middleboxes and to tcpdump:
//!
//! ```text
//! MSS | [SACK-permitted] Timestamps or NOP NOP Timestamps | NOP NOP SACK-permitted (no timestamps)
//!     | NOP Window-scale | Fast-Open [NOP NOP] | NOP NOP SACK blocks
//! ```
//!
//! Every group is a multiple of 4 bytes (a Fast Open option of 2, 6, 10, 14 or 18 bytes is
//! followed by two NOPs, as Linux pads it, in either form), so no padding is ever needed. The option space is 40
//! bytes; a SYN with every option and the longest cookie fills it exactly; SACK blocks are the only
//! thing that can overflow it, and only as many as fit are sent (RFC 2018 §3: with timestamps, at
//! most 3).
//!
//! Fast Open is kind 34 (RFC 7413 §4.1.1); Linux also reads the form that predates the kind's
//! assignment, kind 254 with the magic 0xF989 (RFC 6994), and answers a cookie asked or brought in
//! that form in the same form. The cookie remembers which form it came in
//! ([`FastOpenCookie::is_experimental`]) and is emitted in it.
//!
//! # Emitting without copying the payload
//!
//! A sender that writes the payload in place (straight from a socket's ring buffer) uses the
//! split form:
//!
//! 1. `let hl = repr.emit_header(&mut seg, src, dst, payload_len);` writes the header and options
//!    into `seg[..hl]` and seeds the checksum field with the pseudo-header sum;
//! 2. the caller writes the payload into `seg[hl..hl + payload_len]`;
//! 3. `finish_checksum(&mut seg[..hl + payload_len], mode)` completes the checksum in
//!    [`ChecksumMode::Full`]; in `Offloaded` it does nothing, and the seeded field is exactly
//!    what a checksum-offloading device (virtio-net `NEEDS_CSUM`) expects.
//!
//! [`TcpRepr::emit`] is these three steps with `payload` copied in step 2.

use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign};
use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::IpProtocol;
use super::{get_u16, get_u32, put_u16, put_u32, ChecksumMode, Result, WireError};

/// A header without options.
pub const HEADER_LEN: usize = 20;
/// The largest header: data offset 15.
pub const MAX_HEADER_LEN: usize = 60;
/// The option space.
pub const MAX_OPTIONS_LEN: usize = MAX_HEADER_LEN - HEADER_LEN;

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
    pub const FAST_OPEN: u8 = 34;
    /// RFC 6994's shared experimental kind; Fast Open's magic follows it.
    pub const EXPERIMENTAL: u8 = 254;
}

/// The experiment identifier of Fast Open under kind 254 (RFC 7413 §4.1.1, RFC 6994).
const FAST_OPEN_MAGIC: u16 = 0xF989;

/// The control bits (byte 13 of the header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: TcpFlags = TcpFlags(0x01);
    pub const SYN: TcpFlags = TcpFlags(0x02);
    pub const RST: TcpFlags = TcpFlags(0x04);
    pub const PSH: TcpFlags = TcpFlags(0x08);
    pub const ACK: TcpFlags = TcpFlags(0x10);
    pub const URG: TcpFlags = TcpFlags(0x20);
    pub const ECE: TcpFlags = TcpFlags(0x40);
    pub const CWR: TcpFlags = TcpFlags(0x80);

    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// A SYN alone (no ACK, RST or FIN): a connection request.
    pub const fn is_syn_only(self) -> bool {
        self.contains(TcpFlags::SYN)
            && !self.intersects(TcpFlags(
                TcpFlags::ACK.0 | TcpFlags::RST.0 | TcpFlags::FIN.0,
            ))
    }

    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

/// tcpdump's notation: `[S.]` for SYN-ACK, `[P.]`, `[F.]`, `[R]`, `[none]`.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("[none]");
        }
        // tcpdump's order and letters: ACK is '.', ECE 'E', CWR 'W'.
        const LETTERS: [(TcpFlags, char); 8] = [
            (TcpFlags::FIN, 'F'),
            (TcpFlags::SYN, 'S'),
            (TcpFlags::RST, 'R'),
            (TcpFlags::PSH, 'P'),
            (TcpFlags::ACK, '.'),
            (TcpFlags::URG, 'U'),
            (TcpFlags::ECE, 'E'),
            (TcpFlags::CWR, 'W'),
        ];
        f.write_str("[")?;
        for (flag, c) in LETTERS {
            if self.contains(flag) {
                fmt::Write::write_char(f, c)?;
            }
        }
        f.write_str("]")
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Up to 4 SACK blocks `(left, right)` (left edge inclusive, right edge exclusive), inline.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(u32, u32); SackBlocks::MAX],
    len: u8,
}

impl SackBlocks {
    /// As many as fit in the option space ((40 - 2) / 8).
    pub const MAX: usize = 4;

    pub const fn new() -> SackBlocks {
        SackBlocks {
            blocks: [(0, 0); SackBlocks::MAX],
            len: 0,
        }
    }

    /// Appends a block; returns false (and drops it) when all 4 are in use.
    pub fn push(&mut self, left: u32, right: u32) -> bool {
        match self.blocks.get_mut(self.len as usize) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.blocks[..self.len as usize]
    }

    pub fn iter(&self) -> core::slice::Iter<'_, (u32, u32)> {
        self.as_slice().iter()
    }

    /// The first `n` blocks (all of them if there are fewer).
    fn truncated(&self, n: usize) -> SackBlocks {
        let mut out = *self;
        out.len = self.len.min(n as u8);
        out
    }
}

// Unused slots are not part of the value.
impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'b> IntoIterator for &'b SackBlocks {
    type Item = &'b (u32, u32);
    type IntoIter = core::slice::Iter<'b, (u32, u32)>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A Fast Open cookie (RFC 7413 §4.1.1): 4 to 16 bytes, an even number; empty is a cookie
/// request. Inline, so options stay `Copy`. It also says in which form it travels: kind 34, or the
/// experimental kind 254 with Fast Open's magic (Linux's `tcp_fastopen_cookie.exp`); two cookies
/// of the same bytes are equal whatever their form.
#[derive(Clone, Copy, Default)]
pub struct FastOpenCookie {
    bytes: [u8; FastOpenCookie::MAX],
    len: u8,
    experimental: bool,
}

impl FastOpenCookie {
    pub const MIN: usize = 4;
    pub const MAX: usize = 16;

    /// The empty cookie: a request for one.
    pub const fn request() -> FastOpenCookie {
        FastOpenCookie {
            bytes: [0; FastOpenCookie::MAX],
            len: 0,
            experimental: false,
        }
    }

    /// A cookie of `bytes`, if its length is one RFC 7413 §4.1.1 allows (or zero: a request).
    pub fn new(bytes: &[u8]) -> Option<FastOpenCookie> {
        let n = bytes.len();
        if n != 0 && (!(Self::MIN..=Self::MAX).contains(&n) || !n.is_multiple_of(2)) {
            return None;
        }
        let mut c = FastOpenCookie::request();
        c.bytes[..n].copy_from_slice(bytes);
        c.len = n as u8;
        Some(c)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn is_request(&self) -> bool {
        self.len == 0
    }

    /// Carried under kind 254 with Fast Open's magic (RFC 6994) rather than kind 34.
    pub fn is_experimental(&self) -> bool {
        self.experimental
    }

    /// The same cookie in the experimental form (true) or as kind 34 (false).
    pub fn in_form(mut self, experimental: bool) -> FastOpenCookie {
        self.experimental = experimental;
        self
    }

    /// The option's own bytes: kind and length, the magic in the experimental form, the cookie.
    fn option_len(&self) -> usize {
        let base = if self.experimental { 4 } else { 2 };
        base + self.len as usize
    }

    /// Bytes on the wire, with Linux's two NOPs when the option's length is 2 mod 4.
    fn padded_len(&self) -> usize {
        self.option_len().next_multiple_of(4)
    }
}

// Unused bytes are not part of the value.
impl PartialEq for FastOpenCookie {
    fn eq(&self, other: &FastOpenCookie) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for FastOpenCookie {}

impl fmt::Debug for FastOpenCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_request() {
            return f.write_str("cookie request");
        }
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// One TCP option as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    EndOfList,
    NoOp,
    MaxSegmentSize(u16),
    /// The shift count as sent; RFC 7323 §2.3 says to use 14 for anything larger, which is the
    /// state machine's business.
    WindowScale(u8),
    SackPermitted,
    SackRange(SackBlocks),
    Timestamps {
        tsval: u32,
        tsecr: u32,
    },
    /// Kind 34, or kind 254 with Fast Open's magic (the cookie says which).
    FastOpen(FastOpenCookie),
    /// A kind this stack does not know, or a known kind with a length it cannot have (skipped,
    /// as Linux skips it). Emitted as it came.
    Unknown {
        kind: u8,
        data: &'a [u8],
    },
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `bytes` (which must not be empty); returns it and its
    /// length. Kinds other than 0 and 1 need a length byte of at least 2 that fits in `bytes`, or
    /// they are `Malformed`: nothing after them can be found. A known kind without its exact
    /// length is returned as [`TcpOption::Unknown`].
    fn parse(bytes: &'a [u8]) -> Result<(TcpOption<'a>, usize)> {
        let (&k, rest) = bytes.split_first().ok_or(WireError::Truncated)?;
        match k {
            kind::END => return Ok((TcpOption::EndOfList, 1)),
            kind::NOP => return Ok((TcpOption::NoOp, 1)),
            _ => {}
        }
        let len = *rest.first().ok_or(WireError::Malformed)? as usize;
        if len < 2 {
            return Err(WireError::Malformed);
        }
        let data = bytes.get(2..len).ok_or(WireError::Malformed)?;
        let option = match (k, data.len()) {
            (kind::MSS, 2) => TcpOption::MaxSegmentSize(get_u16(data, 0)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(data[0]),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, n) if n > 0 && n.is_multiple_of(8) && n / 8 <= SackBlocks::MAX => {
                let mut blocks = SackBlocks::new();
                for b in data.chunks_exact(8) {
                    blocks.push(get_u32(b, 0), get_u32(b, 4));
                }
                TcpOption::SackRange(blocks)
            }
            (kind::TIMESTAMPS, 8) => TcpOption::Timestamps {
                tsval: get_u32(data, 0),
                tsecr: get_u32(data, 4),
            },
            (kind::FAST_OPEN, _) => match FastOpenCookie::new(data) {
                Some(c) => TcpOption::FastOpen(c),
                None => TcpOption::Unknown { kind: k, data },
            },
            (kind::EXPERIMENTAL, n) if n >= 2 && get_u16(data, 0) == FAST_OPEN_MAGIC => {
                match FastOpenCookie::new(&data[2..]) {
                    Some(c) => TcpOption::FastOpen(c.in_form(true)),
                    None => TcpOption::Unknown { kind: k, data },
                }
            }
            (kind, _) => TcpOption::Unknown { kind, data },
        };
        Ok((option, len))
    }

    /// The option's length on the wire.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOp => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(blocks) => 2 + 8 * blocks.len(),
            TcpOption::Timestamps { .. } => 10,
            TcpOption::FastOpen(c) => c.option_len(),
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes the option at the start of `buf`; returns its length.
    ///
    /// # Panics
    /// If `buf` is shorter than [`buffer_len`](Self::buffer_len), or an `Unknown` option's data
    /// is longer than 253 bytes.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        let (k, data) = buf.split_at_mut(1);
        match *self {
            TcpOption::EndOfList => k[0] = kind::END,
            TcpOption::NoOp => k[0] = kind::NOP,
            TcpOption::MaxSegmentSize(mss) => {
                k[0] = kind::MSS;
                put_u16(data, 1, mss);
            }
            TcpOption::WindowScale(shift) => {
                k[0] = kind::WINDOW_SCALE;
                data[1] = shift;
            }
            TcpOption::SackPermitted => k[0] = kind::SACK_PERMITTED,
            TcpOption::SackRange(blocks) => {
                k[0] = kind::SACK;
                for (i, &(left, right)) in blocks.iter().enumerate() {
                    put_u32(data, 1 + 8 * i, left);
                    put_u32(data, 5 + 8 * i, right);
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                k[0] = kind::TIMESTAMPS;
                put_u32(data, 1, tsval);
                put_u32(data, 5, tsecr);
            }
            TcpOption::FastOpen(c) if c.is_experimental() => {
                k[0] = kind::EXPERIMENTAL;
                put_u16(data, 1, FAST_OPEN_MAGIC);
                data[3..].copy_from_slice(c.as_bytes());
            }
            TcpOption::FastOpen(c) => {
                k[0] = kind::FAST_OPEN;
                data[1..].copy_from_slice(c.as_bytes());
            }
            TcpOption::Unknown { kind, data: d } => {
                assert!(d.len() <= 253, "TCP option data too long");
                k[0] = kind;
                data[1..].copy_from_slice(d);
            }
        }
        if len > 1 {
            data[0] = len as u8;
        }
        len
    }
}

/// Iterates over raw option bytes, yielding each option (unknown kinds included) or the first
/// error, and stopping after End of Option List or an error. The only error is `Malformed`, for
/// a length byte that is missing, below 2 or beyond the end.
#[derive(Debug, Clone)]
pub struct TcpOptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptionIter<'a> {
    pub fn new(options: &'a [u8]) -> TcpOptionIter<'a> {
        TcpOptionIter { rest: options }
    }
}

impl<'a> Iterator for TcpOptionIter<'a> {
    type Item = Result<TcpOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((option, len)) => {
                // Whatever follows End of Option List is padding.
                self.rest = match option {
                    TcpOption::EndOfList => &[],
                    _ => self.rest.get(len..).unwrap_or_default(),
                };
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// The options of a segment that this stack understands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub sack_blocks: SackBlocks,
    /// `(tsval, tsecr)`.
    pub timestamps: Option<(u32, u32)>,
    /// Fast Open (RFC 7413): a cookie, or a request for one (an empty cookie).
    pub fast_open: Option<FastOpenCookie>,
}

impl TcpOptions {
    /// Gathers the known options from raw option bytes, skipping unknown kinds and known kinds
    /// of the wrong length. A malformed length (see [`TcpOptionIter`]) ends parsing with the
    /// options found before it, as Linux's `tcp_parse_options` does; of a repeated option, the
    /// last counts.
    pub fn parse(bytes: &[u8]) -> TcpOptions {
        // Nearly every segment of an established connection carries exactly NOP, NOP, Timestamps
        // (RFC 7323 Appendix A's layout, which Linux and this stack send): read it straight off,
        // as Linux's `tcp_parse_aligned_timestamp` does, before the general walk.
        if let [kind::NOP, kind::NOP, kind::TIMESTAMPS, 10, ts @ ..] = bytes {
            if ts.len() == 8 {
                return TcpOptions {
                    timestamps: Some((get_u32(ts, 0), get_u32(ts, 4))),
                    ..TcpOptions::default()
                };
            }
        }
        let mut out = TcpOptions::default();
        for option in TcpOptionIter::new(bytes).map_while(Result::ok) {
            match option {
                // An MSS of 0 is no MSS, as Linux's tcp_parse_options skips it (`if (in_mss)`):
                // the peer gets the default 536, not segments cut to tcp_min_snd_mss.
                TcpOption::MaxSegmentSize(0) => {}
                TcpOption::MaxSegmentSize(mss) => out.mss = Some(mss),
                TcpOption::WindowScale(shift) => out.window_scale = Some(shift),
                TcpOption::SackPermitted => out.sack_permitted = true,
                TcpOption::SackRange(blocks) => out.sack_blocks = blocks,
                TcpOption::Timestamps { tsval, tsecr } => out.timestamps = Some((tsval, tsecr)),
                TcpOption::FastOpen(c) => out.fast_open = Some(c),
                TcpOption::EndOfList | TcpOption::NoOp | TcpOption::Unknown { .. } => {}
            }
        }
        out
    }

    /// The bytes of everything but SACK blocks, in the layout of the module docs.
    fn fixed_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12; // SACK-permitted, if any, takes the place of the two NOPs
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        if let Some(c) = self.fast_open {
            len += c.padded_len();
        }
        len
    }

    /// How many SACK blocks are sent: as many as fit after the other options.
    pub fn sack_blocks_sent(&self) -> usize {
        let room = MAX_OPTIONS_LEN - self.fixed_len();
        if room < 12 {
            return 0;
        }
        self.sack_blocks.len().min((room - 4) / 8)
    }

    /// The length of the emitted options: a multiple of 4, at most 40.
    pub fn buffer_len(&self) -> usize {
        match self.sack_blocks_sent() {
            0 => self.fixed_len(),
            n => self.fixed_len() + 4 + 8 * n,
        }
    }

    /// Writes the options in Linux's layout; returns [`buffer_len`](Self::buffer_len).
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        let mut put = |option: TcpOption<'_>, buf: &mut [u8]| {
            at += option.emit(&mut buf[at..]);
        };
        if let Some(mss) = self.mss {
            put(TcpOption::MaxSegmentSize(mss), buf);
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            if self.sack_permitted {
                put(TcpOption::SackPermitted, buf);
            } else {
                put(TcpOption::NoOp, buf);
                put(TcpOption::NoOp, buf);
            }
            put(TcpOption::Timestamps { tsval, tsecr }, buf);
        } else if self.sack_permitted {
            put(TcpOption::NoOp, buf);
            put(TcpOption::NoOp, buf);
            put(TcpOption::SackPermitted, buf);
        }
        if let Some(shift) = self.window_scale {
            put(TcpOption::NoOp, buf);
            put(TcpOption::WindowScale(shift), buf);
        }
        if let Some(c) = self.fast_open {
            put(TcpOption::FastOpen(c), buf);
            if c.padded_len() != c.option_len() {
                put(TcpOption::NoOp, buf);
                put(TcpOption::NoOp, buf);
            }
        }
        let n = self.sack_blocks_sent();
        if n > 0 {
            put(TcpOption::NoOp, buf);
            put(TcpOption::NoOp, buf);
            put(TcpOption::SackRange(self.sack_blocks.truncated(n)), buf);
        }
        at
    }
}

/// A view of a TCP segment. The buffer must be exactly the segment (the IPv4 payload), since the
/// checksum covers all of it and the payload runs to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking it; accessors may panic on a short or inconsistent one.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>> {
        let packet = TcpPacket::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// A whole fixed header, a data offset of at least 5 (`Malformed`) whose header fits in the
    /// buffer (`Truncated`).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len() as usize;
        if header_len < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ)
    }

    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK)
    }

    /// The header length in bytes (data offset · 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The raw option bytes; walk them with [`TcpOptionIter`] or gather them with
    /// [`TcpOptions::parse`].
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len() as usize]
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len() as usize..]
    }

    /// Whether the checksum over the pseudo-header and the whole buffer verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let seg = self.buffer.as_ref();
        checksum::fold(checksum::combine(
            pseudo_header(src, dst, seg.len()),
            checksum::sum(seg),
        )) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The payload with the lifetime of the underlying buffer rather than of the view.
    pub fn into_payload(self) -> &'a [u8] {
        let start = self.header_len() as usize;
        &self.buffer.as_ref()[start..]
    }

    fn options_ref(&self) -> &'a [u8] {
        let end = self.header_len() as usize;
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::SRC_PORT, port);
    }

    pub fn set_dst_port(&mut self, port: u16) {
        put_u16(self.buffer.as_mut(), field::DST_PORT, port);
    }

    pub fn set_seq_number(&mut self, seq: u32) {
        put_u32(self.buffer.as_mut(), field::SEQ, seq);
    }

    pub fn set_ack_number(&mut self, ack: u32) {
        put_u32(self.buffer.as_mut(), field::ACK, ack);
    }

    /// Sets the data offset from a length in bytes (a multiple of 4, at most 60). The reserved
    /// bits of the byte are cleared.
    pub fn set_header_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) & 0x0f) << 4;
    }

    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    pub fn set_window_len(&mut self, window: u16) {
        put_u16(self.buffer.as_mut(), field::WINDOW, window);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }

    pub fn set_urgent_at(&mut self, urgent: u16) {
        put_u16(self.buffer.as_mut(), field::URGENT, urgent);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len() as usize;
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len() as usize;
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the pseudo-header and the whole buffer, and stores it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let seg = self.buffer.as_ref();
        let sum = checksum::combine(pseudo_header(src, dst, seg.len()), checksum::sum(seg));
        self.set_checksum(checksum::finish(sum));
    }
}

fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> u32 {
    checksum::pseudo_header(src, dst, IpProtocol::TCP.0, len as u32)
}

/// Completes the checksum of a segment whose checksum field holds the pseudo-header sum, as
/// [`TcpRepr::emit_header`] leaves it: step 3 of the split emit in the module docs. `segment` is
/// exactly header plus payload. Does nothing in [`ChecksumMode::Offloaded`].
///
/// # Panics
/// If `segment` is shorter than a TCP header.
pub fn finish_checksum(segment: &mut [u8], mode: ChecksumMode) {
    if mode == ChecksumMode::Full {
        // The field already holds the pseudo-header sum, so summing the segment adds it in.
        let sum = checksum::finish(checksum::sum(segment));
        put_u16(segment, field::CHECKSUM, sum);
    }
}

/// The meaning of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpRepr<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    /// As sent: not yet scaled.
    pub window: u16,
    pub urgent: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Checks the lengths and the checksum (in [`ChecksumMode::Full`]); options are gathered as
    /// [`TcpOptions::parse`] does, never failing the segment. `src` and
    /// `dst` are the IPv4 addresses, for the pseudo-header. Flag combinations and port numbers
    /// are left to the state machine.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if mode == ChecksumMode::Full && !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            options: TcpOptions::parse(packet.options_ref()),
            payload: packet.into_payload(),
        })
    }

    /// The header this emits: 20 bytes plus the options (a multiple of 4), at most 60.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.buffer_len()
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// The sequence space the segment occupies: payload, plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + self.flags.contains(TcpFlags::SYN) as usize
            + self.flags.contains(TcpFlags::FIN) as usize
    }

    /// Step 1 of the split emit (module docs): writes the header and options into
    /// `buf[..header_len()]`, with the checksum field holding the folded pseudo-header sum for a
    /// segment of `header_len() + payload_len` bytes. `self.payload` is ignored. Returns
    /// `header_len()`.
    ///
    /// # Panics
    /// If `buf` is shorter than `header_len()`.
    pub fn emit_header(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
    ) -> usize {
        let header_len = self.header_len();
        let mut packet = TcpPacket::new_unchecked(&mut buf[..header_len]);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack);
        packet.set_header_len(header_len as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window);
        packet.set_urgent_at(self.urgent);
        self.options.emit(packet.options_mut());
        let pseudo = pseudo_header(src, dst, header_len + payload_len);
        packet.set_checksum(checksum::fold(pseudo));
        header_len
    }

    /// Writes the whole segment (header, options, payload) into the first `buffer_len()` bytes
    /// and computes the checksum ([`ChecksumMode::Full`]) or leaves the pseudo-header sum for the
    /// device (`Offloaded`). The view's buffer should be `buffer_len()` long: the checksum covers
    /// only the segment, but the view's payload runs to the buffer's end.
    ///
    /// # Panics
    /// If the buffer is shorter than `buffer_len()`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut TcpPacket<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        mode: ChecksumMode,
    ) {
        let total = self.buffer_len();
        let seg = &mut packet.buffer.as_mut()[..total];
        let header_len = self.emit_header(seg, src, dst, self.payload.len());
        seg[header_len..].copy_from_slice(self.payload);
        finish_checksum(seg, mode);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata;
    use super::super::{EthernetFrame, EthernetRepr, Ipv4Packet, Ipv4Repr};
    use super::*;
    use crate::rand::Rng;

    const A: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 77, 9, 2);

    /// Parses a captured frame all the way down, re-emits it layer by layer, and expects every
    /// byte back.
    fn parse_and_reemit(frame: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> TcpRepr<'_> {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let eth_repr = EthernetRepr::parse(&eth).unwrap();
        let ip = Ipv4Packet::new_checked(eth.into_payload()).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, ChecksumMode::Full).unwrap();
        assert_eq!((ip_repr.src_addr, ip_repr.dst_addr), (src, dst));
        assert_eq!(ip_repr.protocol, IpProtocol::TCP);
        let tcp = TcpPacket::new_checked(ip.into_payload()).unwrap();
        assert!(tcp.verify_checksum(src, dst));
        let repr = TcpRepr::parse(&tcp, src, dst, ChecksumMode::Full).unwrap();
        assert_eq!(repr.header_len(), tcp.header_len() as usize);
        assert_eq!(ip_repr.payload_len, repr.buffer_len());

        let mut out = vec![0u8; eth_repr.buffer_len() + ip_repr.buffer_len()];
        let mut f = EthernetFrame::new_unchecked(&mut out[..]);
        eth_repr.emit(&mut f);
        let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
        ip_repr.emit(&mut p, ChecksumMode::Full);
        repr.emit(
            &mut TcpPacket::new_unchecked(p.payload_mut()),
            src,
            dst,
            ChecksumMode::Full,
        );
        assert_eq!(out, frame);
        repr
    }

    #[test]
    fn captured_syn() {
        let syn = parse_and_reemit(&testdata::TCP_SYN, A, B);
        assert_eq!((syn.src_port, syn.dst_port), (52942, 8080));
        assert_eq!((syn.seq, syn.ack), (2533145493, 0));
        assert_eq!(syn.flags, TcpFlags::SYN);
        assert_eq!(syn.window, 64240);
        assert_eq!(
            syn.options,
            TcpOptions {
                mss: Some(1460),
                window_scale: Some(10),
                sack_permitted: true,
                sack_blocks: SackBlocks::new(),
                timestamps: Some((490063577, 0)),
                fast_open: None,
            }
        );
        assert!(syn.payload.is_empty());
        assert_eq!(syn.segment_len(), 1);
        // The raw options, one by one, in Linux's order.
        let tcp = &testdata::TCP_SYN[34..];
        let raw: Vec<_> = TcpOptionIter::new(&tcp[20..40])
            .map(|o| o.unwrap())
            .collect();
        assert_eq!(
            raw,
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    tsval: 490063577,
                    tsecr: 0
                },
                TcpOption::NoOp,
                TcpOption::WindowScale(10),
            ]
        );
    }

    const C: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
    const D: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

    #[test]
    fn captured_fast_open() {
        let cookie =
            FastOpenCookie::new(&[0xcd, 0x4c, 0xc8, 0x75, 0x1e, 0x2c, 0x2e, 0x54]).unwrap();
        let linux_syn = |ts, fast_open| TcpOptions {
            mss: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            sack_blocks: SackBlocks::new(),
            timestamps: Some((ts, 0)),
            fast_open,
        };

        let req = parse_and_reemit(&testdata::TCP_SYN_TFO_REQUEST, C, D);
        assert_eq!(req.flags, TcpFlags::SYN);
        assert_eq!(
            req.options,
            linux_syn(2473752946, Some(FastOpenCookie::request()))
        );
        assert!(req.options.fast_open.unwrap().is_request());
        assert!(req.payload.is_empty());
        // Kind 34, length 2, then Linux's two NOPs.
        let raw: Vec<_> = TcpOptionIter::new(&testdata::TCP_SYN_TFO_REQUEST[54..])
            .map(|o| o.unwrap())
            .collect();
        assert_eq!(
            &raw[5..],
            [
                TcpOption::FastOpen(FastOpenCookie::request()),
                TcpOption::NoOp,
                TcpOption::NoOp
            ]
        );

        let syn_ack = parse_and_reemit(&testdata::TCP_SYN_ACK_TFO_COOKIE, D, C);
        assert_eq!(syn_ack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(syn_ack.options.fast_open, Some(cookie));
        assert_eq!(format!("{cookie:?}"), "cd4cc8751e2c2e54");

        let data = parse_and_reemit(&testdata::TCP_SYN_TFO_DATA, C, D);
        assert_eq!(data.options, linux_syn(1819099256, Some(cookie)));
        assert_eq!(data.payload, b"hello1");
        assert_eq!(data.segment_len(), 7);
    }

    #[test]
    fn fast_open_cookie_lengths() {
        for n in 0..=20usize {
            let ok = n == 0 || ((4..=16).contains(&n) && n % 2 == 0);
            let bytes: Vec<u8> = (0..n as u8).collect();
            assert_eq!(FastOpenCookie::new(&bytes).is_some(), ok, "{n}");
            // On the wire, a cookie of a length RFC 7413 does not allow is an unknown option.
            let mut opt = vec![34, 2 + n as u8];
            opt.extend(&bytes);
            let parsed = TcpOptionIter::new(&opt).next().unwrap().unwrap();
            assert_eq!(matches!(parsed, TcpOption::FastOpen(_)), ok, "{n}");
            assert_eq!(TcpOptions::parse(&opt).fast_open.is_some(), ok);
        }
        // Linux's experimental form: kind 254, magic 0xF989, then the cookie; read, and sent
        // again in that form.
        let exp = [254, 8, 0xf9, 0x89, 1, 2, 3, 4];
        let c = FastOpenCookie::new(&[1, 2, 3, 4]).unwrap();
        let parsed = TcpOptions::parse(&exp).fast_open.unwrap();
        assert_eq!(parsed, c);
        assert!(parsed.is_experimental() && !c.is_experimental());
        let mut buf = [0u8; 8];
        let o = TcpOptions {
            fast_open: Some(parsed),
            ..TcpOptions::default()
        };
        assert_eq!(o.emit(&mut buf), 8);
        assert_eq!(buf, exp);
        // 4 + 6 bytes: two NOPs after it, as after kind 34 of 2 + 8.
        let c6 = FastOpenCookie::new(&[1, 2, 3, 4, 5, 6])
            .unwrap()
            .in_form(true);
        let mut buf = [0u8; 12];
        let o = TcpOptions {
            fast_open: Some(c6),
            ..TcpOptions::default()
        };
        assert_eq!(o.emit(&mut buf), 12);
        assert_eq!(buf, [254, 10, 0xf9, 0x89, 1, 2, 3, 4, 5, 6, 1, 1]);
        let req = TcpOptions::parse(&[254, 4, 0xf9, 0x89]).fast_open.unwrap();
        assert!(req.is_request() && req.is_experimental());
        // Another experiment under 254 is not Fast Open.
        assert_eq!(TcpOptions::parse(&[254, 4, 0x12, 0x34]).fast_open, None);
        let mut buf = [0u8; 8];
        let o = TcpOptions {
            fast_open: Some(c),
            ..TcpOptions::default()
        };
        assert_eq!(o.emit(&mut buf), 8);
        assert_eq!(buf, [34, 6, 1, 2, 3, 4, 1, 1]);
    }

    #[test]
    fn captured_syn_ack_and_data() {
        let syn_ack = parse_and_reemit(&testdata::TCP_SYN_ACK, B, A);
        assert_eq!(syn_ack.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!(syn_ack.flags.to_string(), "[S.]");
        assert_eq!((syn_ack.seq, syn_ack.ack), (4200290991, 2533145494));
        assert_eq!(syn_ack.window, 65160);
        assert_eq!(syn_ack.options.timestamps, Some((1575972409, 490063577)));
        assert_eq!(syn_ack.options.mss, Some(1460));

        let data = parse_and_reemit(&testdata::TCP_DATA, A, B);
        assert_eq!(data.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(format!("{:?}", data.flags), "[P.]");
        assert_eq!(
            (data.seq, data.ack, data.window),
            (2533145494, 4200290992, 63)
        );
        assert_eq!(
            data.options,
            TcpOptions {
                timestamps: Some((490063577, 1575972409)),
                ..TcpOptions::default()
            }
        );
        assert_eq!(data.header_len(), 32);
        assert_eq!(data.payload, b"hello tcp");
    }

    #[test]
    fn split_emit_matches_emit() {
        let tcp = &testdata::TCP_DATA[34..];
        let repr = TcpRepr::parse(
            &TcpPacket::new_checked(tcp).unwrap(),
            A,
            B,
            ChecksumMode::Full,
        )
        .unwrap();
        let mut seg = vec![0u8; repr.buffer_len()];
        let hl = repr.emit_header(&mut seg, A, B, repr.payload.len());
        seg[hl..].copy_from_slice(repr.payload);
        finish_checksum(&mut seg, ChecksumMode::Full);
        assert_eq!(seg, tcp);

        // Offloaded: the device's completion (a plain checksum from the TCP header on, over the
        // seeded field) must give the real checksum.
        let mut off = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut TcpPacket::new_unchecked(&mut off[..]),
            A,
            B,
            ChecksumMode::Offloaded,
        );
        assert_eq!(
            TcpRepr::parse(
                &TcpPacket::new_checked(&off[..]).unwrap(),
                A,
                B,
                ChecksumMode::Offloaded
            )
            .unwrap(),
            repr
        );
        let device = checksum::checksum(&off);
        put_u16(&mut off, field::CHECKSUM, device);
        assert_eq!(off, tcp);
    }

    fn sample_options() -> Vec<TcpOptions> {
        let mut blocks = SackBlocks::new();
        for i in 0..4u32 {
            assert!(blocks.push(i * 1000, i * 1000 + 500));
        }
        assert!(!blocks.push(1, 2));
        let none = TcpOptions::default();
        vec![
            none,
            TcpOptions {
                mss: Some(536),
                ..none
            },
            TcpOptions {
                sack_permitted: true,
                ..none
            },
            TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                window_scale: Some(7),
                ..none
            },
            TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                window_scale: Some(14),
                timestamps: Some((1, u32::MAX)),
                ..none
            },
            TcpOptions {
                sack_blocks: blocks,
                ..none
            },
            TcpOptions {
                sack_blocks: blocks.truncated(3),
                timestamps: Some((5, 6)),
                ..none
            },
            TcpOptions {
                sack_blocks: blocks.truncated(1),
                timestamps: Some((5, 6)),
                window_scale: Some(0),
                ..none
            },
            TcpOptions {
                mss: Some(1460),
                window_scale: Some(7),
                fast_open: Some(FastOpenCookie::request()),
                ..none
            },
            // Everything a SYN can carry, with the longest cookie: exactly 40 bytes.
            TcpOptions {
                mss: Some(1460),
                sack_permitted: true,
                window_scale: Some(14),
                timestamps: Some((1, 2)),
                fast_open: FastOpenCookie::new(&[7; 16]),
                ..none
            },
            TcpOptions {
                timestamps: Some((1, 2)),
                fast_open: FastOpenCookie::new(&[9; 6]),
                ..none
            },
        ]
    }

    #[test]
    fn round_trips() {
        for (i, options) in sample_options().into_iter().enumerate() {
            for payload in [&b""[..], b"x", b"hello, world"] {
                let repr = TcpRepr {
                    src_port: 1234,
                    dst_port: 80,
                    seq: 0xdead_beef,
                    ack: 0x0102_0304,
                    flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::CWR,
                    window: 512,
                    urgent: 3,
                    options,
                    payload,
                };
                assert_eq!(repr.header_len() % 4, 0);
                assert!(repr.header_len() <= MAX_HEADER_LEN);
                let mut buf = vec![0u8; repr.buffer_len()];
                repr.emit(
                    &mut TcpPacket::new_unchecked(&mut buf[..]),
                    A,
                    B,
                    ChecksumMode::Full,
                );
                let packet = TcpPacket::new_checked(&buf[..]).unwrap();
                let parsed = TcpRepr::parse(&packet, A, B, ChecksumMode::Full).unwrap();
                assert_eq!(parsed, repr, "options #{i}");
                // And bytes -> parse -> emit gives the bytes back.
                let mut again = vec![0u8; parsed.buffer_len()];
                parsed.emit(
                    &mut TcpPacket::new_unchecked(&mut again[..]),
                    A,
                    B,
                    ChecksumMode::Full,
                );
                assert_eq!(again, buf);
            }
        }
    }

    #[test]
    fn too_many_sack_blocks_are_trimmed() {
        let mut blocks = SackBlocks::new();
        for i in 0..4 {
            blocks.push(i, i + 1);
        }
        let options = TcpOptions {
            mss: Some(1460),
            window_scale: Some(2),
            timestamps: Some((1, 2)),
            sack_blocks: blocks,
            ..TcpOptions::default()
        };
        // 4 + 12 + 4 = 20 bytes leave room for 2 blocks (4 + 16).
        assert_eq!(options.sack_blocks_sent(), 2);
        assert_eq!(options.buffer_len(), 40);
        let ts_only = TcpOptions {
            timestamps: Some((1, 2)),
            sack_blocks: blocks,
            ..TcpOptions::default()
        };
        assert_eq!(ts_only.sack_blocks_sent(), 3);
        let mut buf = [0u8; 40];
        let len = options.emit(&mut buf);
        let parsed = TcpOptions::parse(&buf[..len]);
        assert_eq!(parsed.sack_blocks.as_slice(), &[(0, 1), (1, 2)]);
        // Emitted layout: NOP NOP before the SACK option, like Linux.
        assert_eq!(&buf[20..24], &[1, 1, 5, 18]);
    }

    #[test]
    fn the_aligned_timestamps_shortcut_agrees_with_the_general_walk() {
        // The general walk, which the shortcut must never contradict.
        let walk = |bytes: &[u8]| {
            let mut out = TcpOptions::default();
            for o in TcpOptionIter::new(bytes).map_while(Result::ok) {
                if let TcpOption::Timestamps { tsval, tsecr } = o {
                    out.timestamps = Some((tsval, tsecr));
                }
            }
            out
        };
        let aligned = [1, 1, 8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7];
        assert_eq!(
            TcpOptions::parse(&aligned).timestamps,
            Some((0xdead_beef, 7))
        );
        assert_eq!(TcpOptions::parse(&aligned), walk(&aligned));
        // Near misses take the general walk: a wrong length, a short tail, more after it.
        let mut wrong_len = aligned;
        wrong_len[3] = 9;
        assert_eq!(TcpOptions::parse(&wrong_len), TcpOptions::default());
        assert_eq!(TcpOptions::parse(&aligned[..11]), TcpOptions::default());
        let mut longer = aligned.to_vec();
        longer.extend_from_slice(&[1, 3, 3, 7]);
        let o = TcpOptions::parse(&longer);
        assert_eq!(
            (o.timestamps, o.window_scale),
            (Some((0xdead_beef, 7)), Some(7))
        );
    }

    #[test]
    fn a_bad_option_length_ends_parsing_keeping_what_came_before() {
        let parse = TcpOptions::parse;
        let mss = |o: TcpOptions| o.mss;
        // Length running past the end, zero, one, and a missing length byte: Linux's
        // tcp_parse_options returns there, with the options already seen.
        assert_eq!(mss(parse(&[2, 4, 5, 0xb4, 30, 9, 1, 1])), Some(1460));
        assert_eq!(mss(parse(&[2, 4, 5, 0xb4, 2, 5, 5, 0xb5])), Some(1460));
        for bad in [
            &[2, 4, 5, 0xb4, 99, 0, 3, 3, 7][..],
            &[2, 4, 5, 0xb4, 99, 1, 3, 3, 7],
            &[2, 4, 5, 0xb4, 1, 1, 1, 3],
        ] {
            let o = parse(bad);
            assert_eq!((o.mss, o.window_scale), (Some(1460), None), "{bad:?}");
        }
        assert_eq!(parse(&[3, 9, 7, 2, 4, 5, 0xb4]), TcpOptions::default());
        assert_eq!(parse(&[]), TcpOptions::default());
        // The iterator reports the bad length, and stops after it.
        let raw: Vec<_> = TcpOptionIter::new(&[1, 2, 9, 1, 1]).collect();
        assert_eq!(raw, [Ok(TcpOption::NoOp), Err(WireError::Malformed)]);
        assert_eq!(TcpOptionIter::new(&[30, 0, 1, 1]).count(), 1);
    }

    #[test]
    fn an_mss_of_0_counts_as_no_mss() {
        let mss = |raw: &[u8]| TcpOptions::parse(raw).mss;
        // Linux's tcp_parse_options takes an MSS only if it is not 0: none, or the one before it.
        assert_eq!(mss(&[2, 4, 0, 0]), None);
        assert_eq!(mss(&[2, 4, 5, 0xb4, 2, 4, 0, 0]), Some(1460));
        assert_eq!(mss(&[2, 4, 0, 1]), Some(1));
    }

    #[test]
    fn a_known_option_of_the_wrong_length_is_skipped() {
        let ws_after = |bad: &[u8]| {
            let mut bytes = bad.to_vec();
            bytes.extend_from_slice(&[1, 3, 3, 7]);
            TcpOptions::parse(&bytes)
        };
        let sack_too_long: &[u8] = &[
            5, 42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        for bad in [
            &[2, 3, 5][..],
            &[2, 5, 5, 0xb4, 0],
            &[3, 2],
            &[3, 4, 1, 0],
            &[4, 3, 0],
            &[5, 2],
            &[5, 9, 0, 0, 0, 0, 0, 0, 0],
            sack_too_long,
            &[8, 8, 0, 0, 0, 0, 0, 0],
            &[8, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            let o = ws_after(bad);
            // Only the good window scale after it counts.
            let expect = TcpOptions {
                window_scale: Some(7),
                ..TcpOptions::default()
            };
            assert_eq!(o, expect, "{bad:?}");
            // One by one it is an unknown option, which emits back to the same bytes.
            let raw: Vec<_> = TcpOptionIter::new(bad).collect();
            let Ok(option @ TcpOption::Unknown { kind, data }) = raw[0] else {
                panic!("{bad:?}: {raw:?}");
            };
            assert_eq!((raw.len(), kind, data), (1, bad[0], &bad[2..]));
            let mut buf = [0u8; 64];
            let len = option.emit(&mut buf);
            assert_eq!(&buf[..len], bad);
        }
        // Unknown kinds are skipped; End of Option List ends parsing (garbage after it is padding).
        let ok = TcpOptions::parse(&[30, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xb4, 0, 0xff, 0xff]);
        assert_eq!(ok.mss, Some(1460));
        let raw: Vec<_> = TcpOptionIter::new(&[30, 4, 0xaa, 0xbb, 0, 9]).collect();
        assert_eq!(
            raw,
            [
                Ok(TcpOption::Unknown {
                    kind: 30,
                    data: &[0xaa, 0xbb]
                }),
                Ok(TcpOption::EndOfList)
            ]
        );
    }

    #[test]
    fn option_emit_parse_each() {
        let mut blocks = SackBlocks::new();
        blocks.push(7, 9);
        for option in [
            TcpOption::EndOfList,
            TcpOption::NoOp,
            TcpOption::MaxSegmentSize(9000),
            TcpOption::WindowScale(3),
            TcpOption::SackPermitted,
            TcpOption::SackRange(blocks),
            TcpOption::Timestamps { tsval: 1, tsecr: 2 },
            TcpOption::Unknown {
                kind: 254,
                data: &[1, 2, 3],
            },
        ] {
            let mut buf = [0u8; 16];
            let len = option.emit(&mut buf);
            assert_eq!(len, option.buffer_len());
            assert_eq!(TcpOption::parse(&buf[..len]), Ok((option, len)));
        }
    }

    #[test]
    fn header_errors() {
        let tcp = &testdata::TCP_SYN[34..];
        for len in 0..tcp.len() {
            let p = TcpPacket::new_unchecked(&tcp[..len]);
            let err = TcpRepr::parse(&p, A, B, ChecksumMode::Full).unwrap_err();
            if len < 40 {
                assert_eq!(err, WireError::Truncated, "len {len}");
                assert_eq!(
                    TcpPacket::new_checked(&tcp[..len]).unwrap_err(),
                    WireError::Truncated
                );
            } else {
                assert_eq!(err, WireError::Checksum, "len {len}");
            }
        }
        let mut b = tcp.to_vec();
        for off in 0..5u8 {
            b[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&b[..]).unwrap_err(),
                WireError::Malformed
            );
        }
        b[12] = 11 << 4; // 44 bytes of header in a 40-byte segment
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            WireError::Truncated
        );

        let mut b = tcp.to_vec();
        b[7] ^= 1;
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, A, B, ChecksumMode::Full),
            Err(WireError::Checksum)
        );
        assert!(TcpRepr::parse(&p, A, B, ChecksumMode::Offloaded).is_ok());
        // A checksum over the wrong addresses fails too.
        let p = TcpPacket::new_checked(tcp).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, A, A, ChecksumMode::Full),
            Err(WireError::Checksum)
        );

        // Bad options with a valid checksum: the segment still parses, with the options before
        // the bad one (here a length running past the option space after MSS and SACK-permitted).
        let mut b = tcp.to_vec();
        b[27] = 30; // the timestamps option's length
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.fill_checksum(A, B);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        let repr = TcpRepr::parse(&p, A, B, ChecksumMode::Full).unwrap();
        let good = TcpRepr::parse(
            &TcpPacket::new_checked(tcp).unwrap(),
            A,
            B,
            ChecksumMode::Full,
        )
        .unwrap();
        let expect = TcpOptions {
            mss: Some(1460),
            sack_permitted: true,
            ..TcpOptions::default()
        };
        assert_eq!(repr.options, expect);
        assert_eq!(
            TcpRepr {
                options: good.options,
                ..repr
            },
            good
        );
        // An MSS of length 5 is skipped, and parsing goes on from where its length says it ends.
        b[27] = 10;
        b[21] = 5;
        let mut p = TcpPacket::new_unchecked(&mut b[..]);
        p.fill_checksum(A, B);
        let p = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            TcpRepr::parse(&p, A, B, ChecksumMode::Full).map(|r| r.options.mss),
            Ok(None)
        );
    }

    #[test]
    fn flags() {
        let mut f = TcpFlags::SYN;
        f |= TcpFlags::ACK;
        assert!(f.contains(TcpFlags::SYN | TcpFlags::ACK));
        assert!(!f.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(f.intersects(TcpFlags::SYN | TcpFlags::FIN));
        f.remove(TcpFlags::SYN);
        f.insert(TcpFlags::FIN);
        assert_eq!(f, TcpFlags::FIN | TcpFlags::ACK);
        assert_eq!(f & TcpFlags::ACK, TcpFlags::ACK);
        assert_eq!(f.to_string(), "[F.]");
        assert_eq!(TcpFlags::RST.to_string(), "[R]");
        assert_eq!(TcpFlags::default().to_string(), "[none]");
        assert_eq!(TcpFlags(0xff).to_string(), "[FSRP.UEW]");
    }

    #[test]
    fn fuzz() {
        let mut rng = Rng::new(9293);
        let mut parsed = 0;
        let valid = &testdata::TCP_SYN_ACK[34..];
        for i in 0..6000 {
            let buf = if i % 2 == 0 {
                let mut b = vec![0u8; rng.below(72) as usize];
                rng.fill(&mut b);
                if b.len() >= 20 && i % 4 == 0 {
                    b[12] = (5 + rng.below(11) as u8) << 4;
                }
                b
            } else {
                testdata::mutate(&mut rng, valid)
            };
            let p = TcpPacket::new_unchecked(&buf[..]);
            for mode in [ChecksumMode::Full, ChecksumMode::Offloaded] {
                if let Ok(repr) = TcpRepr::parse(&p, A, B, mode) {
                    parsed += 1;
                    assert!(repr.header_len() <= MAX_HEADER_LEN);
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), A, B, mode);
                    let back = TcpPacket::new_checked(&out[..]).unwrap();
                    let again = TcpRepr::parse(&back, A, B, mode).unwrap();
                    // SACK blocks beyond the option space are trimmed; all else holds.
                    let mut expect = repr;
                    expect.options.sack_blocks = repr
                        .options
                        .sack_blocks
                        .truncated(repr.options.sack_blocks_sent());
                    assert_eq!(again, expect);
                }
            }
            let _ = TcpOptionIter::new(&buf).count();
        }
        // Enough inputs must get through for the emit side to be exercised too.
        assert!(parsed > 200, "only {parsed} parsed");
    }
}
