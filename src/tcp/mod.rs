//! The TCP engine: a sans-IO implementation of RFC 9293 with the extensions a modern stack needs
//! (window scaling and timestamps RFC 7323, SACK RFC 2018/6675, NewReno RFC 6582, RACK-TLP RFC 8985,
//! CUBIC RFC 9438, BBR v1 as Linux runs it, ECN RFC 3168 as Linux does it, RFC 5961 protections,
//! RFC 6528 ISNs, SYN cookies RFC 4987, Fast Open RFC 7413).
//!
//! The stack owns sockets, demultiplexing, IP output and the clock. It creates a `Connection` with
//! `Connection::connect` or `Connection::accept`, feeds it received segments with `input`, lets it
//! emit with `poll_transmit`, sleeps until `poll_at`, and calls the socket-level methods
//! (`send`, `recv`, `shutdown_write`, `close`, ...). Segments that match no connection get
//! `reset_for_unmatched`.
//!
//! Inside, `connection` holds the state machine and composes the send half (`send`: SND.*,
//! retransmission, recovery, congestion control), the receive half (`recv`: RCV.*, reassembly,
//! ACK policy) and the table of timers (`timers`).

pub mod assembler;
pub mod bbr;
pub mod buffer;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod fastopen;
pub mod isn;
pub mod rate;
pub mod recovery;
mod recv;
pub mod rtt;
pub mod segment;
mod send;
pub mod seq;
pub mod syncookie;
mod timers;

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use config::{Config, EcnMode, MAX_BUFFER};
pub use congestion::Algorithm;
pub use connection::{Connection, Readiness, SendCause, State, TcpStats};
pub use isn::{
    ephemeral_port_offset, initial_sequence_number, reuseport_hash, timestamp_offset, SipKey,
};
pub use segment::{reset_for_unmatched, OutSegment, Segment};
pub use seq::SeqNum;
