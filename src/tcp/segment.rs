//! Segments as the engine sees them: the header fields it needs, parsed options and the payload.
//! Ports, addresses and checksums belong to the stack; the one field of the IP header TCP reads
//! and writes, ECN (RFC 3168 §6.1), travels with the segment.

use super::seq::SeqNum;
use crate::wire::ipv4::Ecn;
use crate::wire::tcp::{TcpFlags, TcpOptions};

/// A received segment (after checksum validation and demultiplexing).
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// Raw window field (not yet scaled).
    pub window: u16,
    pub options: TcpOptions,
    pub payload: &'a [u8],
    /// The ECN field of the IP header it came in.
    pub ecn: Ecn,
    /// The urgent pointer field, meaningful when `flags` has URG (RFC 9293 §3.8.5).
    pub urgent: u16,
}

impl Segment<'_> {
    /// Sequence space occupied: payload plus one each for SYN and FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> usize {
        self.payload.len()
            + self.flags.contains(TcpFlags::SYN) as usize
            + self.flags.contains(TcpFlags::FIN) as usize
    }
}

/// A segment to send. The payload is handed to the sink separately, as one or two slices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutSegment {
    pub seq: SeqNum,
    /// Meaningful when `flags` has ACK.
    pub ack: SeqNum,
    pub flags: TcpFlags,
    /// Raw window field (already scaled down).
    pub window: u16,
    pub options: TcpOptions,
    pub payload_len: usize,
    /// The ECN field for the IP header: ECT(0) on new data when ECN is on, else Not-ECT.
    pub ecn: Ecn,
    /// The urgent pointer field, with URG in `flags` (RFC 9293 §3.8.5); zero otherwise.
    pub urgent: u16,
}

impl OutSegment {
    /// A bare RST at `seq`, answering a segment whose ACK field named it (RFC 9293 §3.10.7.1).
    pub fn reset_at(seq: SeqNum) -> OutSegment {
        OutSegment {
            seq,
            ack: SeqNum(0),
            flags: TcpFlags::RST,
            window: 0,
            options: TcpOptions::default(),
            payload_len: 0,
            ecn: Ecn::NotEct,
            urgent: 0,
        }
    }

    pub fn seq_len(&self) -> usize {
        self.payload_len
            + self.flags.contains(TcpFlags::SYN) as usize
            + self.flags.contains(TcpFlags::FIN) as usize
    }
}

/// RFC 9293 §3.10.7.1: the reply to a segment that matches no connection (state CLOSED), or `None`
/// when nothing must be sent (the segment is itself a RST).
pub fn reset_for_unmatched(seg: &Segment) -> Option<OutSegment> {
    if seg.flags.contains(TcpFlags::RST) {
        return None;
    }
    let out = if seg.flags.contains(TcpFlags::ACK) {
        OutSegment::reset_at(seg.ack)
    } else {
        OutSegment {
            seq: SeqNum(0),
            ack: seg.seq + seg.seq_len(),
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            options: TcpOptions::default(),
            payload_len: 0,
            ecn: Ecn::NotEct,
            urgent: 0,
        }
    };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: TcpFlags, payload: &[u8]) -> Segment<'_> {
        Segment {
            seq: SeqNum(100),
            ack: SeqNum(500),
            flags,
            window: 1000,
            options: TcpOptions::default(),
            payload,
            ecn: Ecn::NotEct,
            urgent: 0,
        }
    }

    #[test]
    fn closed_state_resets() {
        assert_eq!(reset_for_unmatched(&seg(TcpFlags::RST, b"")), None);
        let r = reset_for_unmatched(&seg(TcpFlags::ACK, b"abc")).unwrap();
        assert_eq!((r.seq, r.flags), (SeqNum(500), TcpFlags::RST));
        let r = reset_for_unmatched(&seg(TcpFlags::SYN, b"")).unwrap();
        assert_eq!(r.seq, SeqNum(0));
        assert_eq!(r.ack, SeqNum(101));
        assert_eq!(r.flags, TcpFlags::RST | TcpFlags::ACK);
        let r = reset_for_unmatched(&seg(TcpFlags::FIN, b"ab")).unwrap();
        assert_eq!(r.ack, SeqNum(103));
    }
}
