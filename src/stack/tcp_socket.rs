//! A TCP socket's control information as the stack keeps it: its addresses, its options, and what
//! it is now — a fresh socket, a listener with its queues, or a connection driven by the TCP engine.

use std::collections::VecDeque;
use std::net::SocketAddrV4;

use super::output::IpParams;
use super::SocketHandle;
use crate::tcp::{self, Connection};

/// A listener's queues (RFC 9293 §3.10.1 passive open; the backlog as Linux applies it).
#[derive(Debug, Default)]
pub struct Listener {
    /// `listen`'s backlog: established connections waiting for `accept` may number one more.
    pub backlog: usize,
    /// Connections still in the handshake (SYN-RECEIVED).
    pub syn_queue: Vec<SocketHandle>,
    /// Established connections waiting for `accept`.
    pub accept_queue: VecDeque<SocketHandle>,
    /// When a SYN was last answered with a cookie: only for two minutes after it are ACKs that
    /// match no connection checked as returning cookies (Linux's tcp_synq_no_recent_overflow),
    /// so a blind guesser has no standing target.
    pub cookie_sent_at: Option<crate::time::Instant>,
}

impl Listener {
    /// Half-open connections allowed: enough for a burst of clients, bounded so a SYN flood costs
    /// at most this many small SYN-RECEIVED records (their buffers are allocated on establishment).
    pub fn syn_limit(&self) -> usize {
        (self.backlog * 2).clamp(16, 1024)
    }
}

/// A socket's Fast Open options (RFC 7413, as Linux's socket options).
#[derive(Clone, Debug, Default)]
pub struct SocketFastOpen {
    /// `TCP_FASTOPEN`: a listener takes data in SYNs, at most this many connections at a time
    /// still in their handshake (Linux's `fastopenq.max_qlen`); 0 is off.
    pub qlen: u32,
    /// `TCP_FASTOPEN_KEY`: the listener's own cookie keys, else the stack's key (boxed: few
    /// sockets have them).
    pub keys: Option<Box<crate::tcp::fastopen::Keys>>,
    /// `TCP_FASTOPEN_CONNECT`: `connect` opens with Fast Open.
    pub connect: bool,
    /// `TCP_FASTOPEN_NO_COOKIE` (Linux's, beyond RFC 7413): a client's SYN carries data without a
    /// cookie; a listener takes a SYN's data without one.
    pub no_cookie: bool,
}

pub enum TcpState {
    /// Created, maybe bound; neither listening nor connected.
    Fresh,
    Listening(Box<Listener>),
    Connected(Box<Connection>),
}

pub struct TcpSocket {
    pub local: Option<SocketAddrV4>,
    pub remote: Option<SocketAddrV4>,
    pub state: TcpState,
    /// Options set on the socket, applied to the connection it makes or accepts.
    pub config: tcp::Config,
    pub ip: IpParams,
    /// The IPv4 identification of the connection's next DF packet: a counter of its own, from a
    /// random start (Linux's inet_id, set at connect and at accept; ip_select_ident_segs), so the
    /// numbers one connection shows tell nothing of the stack's other traffic. Drawn at the
    /// connection's first packet.
    pub ip_id: Option<u16>,
    /// IP_FREEBIND: it may bind an address that is not ours (Linux's inet_can_nonlocal_bind);
    /// bound so, it is reached by nothing sent to ours.
    pub freebind: bool,
    /// SO_REUSEADDR.
    pub reuse_addr: bool,
    /// SO_REUSEPORT: listeners of one owner on one port share its connections.
    pub reuse_port: bool,
    /// Who made the socket (a user id; Linux's sk_uid): a SO_REUSEPORT group has one owner, so
    /// another user cannot take part of a port's connections.
    pub owner: u32,
    /// shutdown(SHUT_RD): reads return end of file from now on.
    pub read_shut: bool,
    /// The program closed its descriptor; the stack deletes the socket when the connection ends.
    pub orphan: bool,
    /// The listener this connection came from, until `accept` hands it out.
    pub parent: Option<SocketHandle>,
    /// Established and moved to the parent's accept queue.
    pub queued_for_accept: bool,
    /// Readiness, state and bytes waiting when waiters were last woken (see `tcp_after_event`).
    pub last_seen: Option<(crate::tcp::Readiness, crate::tcp::State, usize)>,
    pub fast_open: SocketFastOpen,
}

impl TcpSocket {
    pub fn new(config: tcp::Config) -> TcpSocket {
        TcpSocket {
            local: None,
            remote: None,
            state: TcpState::Fresh,
            config,
            ip: IpParams {
                dont_frag: true,
                ..IpParams::default()
            },
            ip_id: None,
            freebind: false,
            reuse_addr: false,
            reuse_port: false,
            owner: 0,
            read_shut: false,
            orphan: false,
            parent: None,
            queued_for_accept: false,
            last_seen: None,
            fast_open: SocketFastOpen::default(),
        }
    }

    /// The address it is bound to; 0.0.0.0 for all of ours, or not bound yet.
    pub fn bound_ip(&self) -> std::net::Ipv4Addr {
        self.local
            .map_or(std::net::Ipv4Addr::UNSPECIFIED, |l| *l.ip())
    }

    pub fn connection(&self) -> Option<&Connection> {
        match &self.state {
            TcpState::Connected(c) => Some(c),
            _ => None,
        }
    }

    pub fn connection_mut(&mut self) -> Option<&mut Connection> {
        match &mut self.state {
            TcpState::Connected(c) => Some(c),
            _ => None,
        }
    }

    pub fn listener(&self) -> Option<&Listener> {
        match &self.state {
            TcpState::Listening(l) => Some(l),
            _ => None,
        }
    }

    pub fn listener_mut(&mut self) -> Option<&mut Listener> {
        match &mut self.state {
            TcpState::Listening(l) => Some(l),
            _ => None,
        }
    }

    pub fn is_listening(&self) -> bool {
        matches!(self.state, TcpState::Listening(_))
    }
}
