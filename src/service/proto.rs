//! The control protocol between a program (the preload shim, the C API) and the stack service.
//!
//! A closed set of requests and replies, one `SOCK_SEQPACKET` message each, on a control connection
//! that belongs to one thread of one process. Data never travels here: it flows through the
//! socketpair that is the socket itself. A request about an existing socket carries that socket's
//! descriptor beside it (SCM_RIGHTS): the service checks it against the socket it names, so a client
//! can act only on sockets it holds a descriptor for. A request can also create the socket it acts
//! on (the first `bind`, `connect`, `listen` or `sendto` of a program's socket); the reply then
//! carries the new descriptor.
//!
//! Encoding: little-endian, fixed fields, lengths checked; anything malformed decodes to an error,
//! never a panic (clients are not trusted).
//!
//! # Doors
//! A connection whose first message is [`DOOR`] is a door (see [`super::client`]): nothing on it is
//! ever a request, and the service never writes on it. Each later message is [`ADOPT`] with one
//! descriptor beside it, the client's end of a control connection it made itself (a socketpair),
//! and its sender's credentials (SCM_CREDENTIALS), which must be those of that socketpair's maker.
//! A process that can no longer reach the service by its name (it left the network namespace)
//! reaches it so through a door it inherited.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::error::Errno;

/// The largest message either side sends or accepts.
pub const MAX_MESSAGE: usize = 4096;
/// The first message of a door. Never a request: its `quiet` byte is neither 0 nor 1.
pub const DOOR: &[u8] = b"\0\0\0\0\xffdoor";
/// Each message through a door, beside the control connection it brings.
pub const ADOPT: &[u8] = b"adopt";
/// The most options a new socket may carry.
const MAX_OPTIONS: usize = 64;
/// The largest option value.
pub const MAX_OPTION: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
}

/// An option set on a socket before it reached the service: `setsockopt(level, name, value)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetOption {
    pub level: i32,
    pub name: i32,
    pub value: Vec<u8>,
}

/// Which socket a request acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The one whose descriptor comes with the request.
    Existing,
    /// A new one, made with these options first. `inet6`: the program made it AF_INET6 (a
    /// dual-stack socket carrying IPv4, see [`crate::posix::addr`]): it reports that family and
    /// its accepted connections are AF_INET6 too.
    New {
        kind: Kind,
        options: Vec<SetOption>,
        inet6: bool,
    },
    /// A new one whose socketpair the program made and sends along: its own end (a copy, which
    /// names the socket) then the service's. Options and family as for `New`.
    Given {
        kind: Kind,
        options: Vec<SetOption>,
        inet6: bool,
    },
}

/// What a request asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Bind(SocketAddrV4),
    /// `None`: AF_UNSPEC, which dissolves a UDP socket's association.
    Connect(Option<SocketAddrV4>),
    /// Answers when the connect in progress has succeeded or failed.
    WaitConnect,
    Listen(i32),
    Accept,
    LocalAddr,
    PeerAddr,
    SetOption(SetOption),
    GetOption {
        level: i32,
        name: i32,
        len: u32,
    },
    /// SO_ERROR: the pending error, cleared.
    TakeError,
    /// What a read that found end of file reports: the pending error, cleared, unless the
    /// connection failed after the peer's FIN had come (EPIPE after a reset in CLOSE-WAIT, or a
    /// time-out), which Linux's tcp_recvmsg never reports (the FIN ends the read first): then 0,
    /// the error left for SO_ERROR or a send.
    ErrorAtEof,
    /// SIOCOUTQ: bytes not yet acknowledged by the peer (sent or not).
    Unacked,
    /// SIOCOUTQNSD: bytes not yet sent once.
    NotSent,
    /// Whether a connect (or a shutdown finding the connection established) has reported the TCP
    /// socket connected, in any process holding it (Linux's SS_CONNECTED belongs to the socket);
    /// `true` records that one now has. Answered with `Int` 1 or 0: what it was before.
    ConnectReported(bool),
    /// SO_LINGER's close: answered once the program's last descriptor is gone and the peer has
    /// acknowledged everything, our FIN included.
    Linger,
    /// A connect on a [`Target::Given`] socketpair whose program end the program has already
    /// filled with `filler` bytes (so it polls as not writable until the handshake ends).
    ConnectFilled {
        addr: SocketAddrV4,
        filler: u32,
    },
    /// MSG_MORE: the data the program writes next is followed by more (true), or that run has
    /// ended (false). Sent quietly before (after) the data on the socket.
    SendMore(bool),
    /// Linux's tcp_disconnect (`connect` with AF_UNSPEC; `shutdown` of a listener's reading or of
    /// a connect in progress): the connection is aborted (RST when synchronized) or the listening
    /// ends, and the socket starts anew with its options and the address it was bound to. The
    /// reply carries its new descriptor, to take the place of the old one. `connecting`: only if
    /// the socket is in SYN-SENT (else EISCONN, and nothing changes).
    Disconnect {
        connecting: bool,
    },
    /// When data last became readable on the socket (the service wrote it into the program's
    /// socketpair), as nanoseconds since the epoch, 0 if never: the receive timestamp that
    /// SO_TIMESTAMP and its kin give a TCP read.
    DeliveredAt,
    /// The connect of `sendto(MSG_FASTOPEN)` (RFC 7413 §3): a TCP connect with Fast Open, whatever
    /// `TCP_FASTOPEN_CONNECT` says, which it leaves as it was. Answered as a connect is (one whose
    /// SYN waits for the data, a cookie at hand, answers with how many bytes that SYN carries).
    FastOpenConnect(SocketAddrV4),
    /// The connect of a zero-length `sendto(MSG_FASTOPEN)`: as [`Call::FastOpenConnect`], but a
    /// SYN that would wait for the data goes at once with the cookie and no data (Linux's
    /// tcp_send_syn_data with nothing to copy), and the connect is in progress (EINPROGRESS).
    FastOpenConnectEmpty(SocketAddrV4),
    /// After the program shut its reading, up to `len` bytes of what arrived since, which the
    /// service holds instead of writing it into the socketpair (its reading end is shut), or
    /// none; `peek` leaves them there (MSG_PEEK).
    ReadHeld {
        len: u32,
        peek: bool,
    },
    /// After the program shut its reading, how many bytes the service holds for it (what
    /// [`Call::ReadHeld`] would give): SIOCINQ and TCP_INQ count them, as Linux's tcp_inq counts
    /// all that is queued.
    HeldLen,
    /// Whether the peer's urgent pointer came and its byte is not in the socketpair yet (Linux's
    /// TCP_URG_NOTYET): a recv(MSG_OOB) the socketpair refuses then says EAGAIN, as Linux's
    /// tcp_recv_urg.
    UrgentPending,
    /// After the program's `shutdown` (its end of the socketpair already shut): ENOTCONN for a
    /// socket not connected (Linux's inet_shutdown in TCP_CLOSE, which records the shutdown all
    /// the same). With `write`, a connection's data the program wrote goes into it, then the FIN,
    /// before the answer, as Linux's tcp_shutdown sends it at once: the service would otherwise
    /// meet the end of file later, and a close that followed the shutdown at once would look like
    /// a close alone (a RST, with data unread, and no FIN).
    Shutdown {
        write: bool,
    },
    /// A descriptor of the service's error board ([`super::board`]), in the reply.
    ErrorBoard,
    /// A TCP read that found the socketpair empty while SO_RCVLOWAT holds what arrived in the
    /// service (a non-blocking read, or one whose SO_RCVTIMEO ran out): up to `len` bytes of it,
    /// as Linux's tcp_recvmsg returns what is there below the mark when it cannot wait; none if
    /// the socketpair has data again. `peek` leaves them there (MSG_PEEK).
    ReadBelowMark {
        len: u32,
        peek: bool,
    },
    /// The MTU of the path to a datagram's destination (`None`: the connected peer's), for an
    /// IP_PMTUDISC_DO send to refuse what the path does not take, as Linux's __ip_append_data
    /// does. Answered with 8 bytes: the MTU, and for how many milliseconds what the stack learnt
    /// of the path holds (0: nothing learnt), each a native-endian u32.
    PathMtu(Option<SocketAddrV4>),
    /// SIOCSARP on one of the program's sockets: the stack's neighbour `ip` is at `mac` from now
    /// on (dnsmasq's DHCP server so reaches a client that has no address yet). CAP_NET_ADMIN, as
    /// Linux's arp_ioctl asks.
    SetNeighbour {
        ip: std::net::Ipv4Addr,
        mac: [u8; 6],
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub seq: u32,
    /// No answer is wanted: the program has gone on (its errors reach it through the socket).
    pub quiet: bool,
    pub target: Target,
    pub call: Call,
}

/// What a reply carries besides its errno.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    None,
    Addr(SocketAddrV4),
    Bytes(Vec<u8>),
    Int(i32),
    /// The descriptor beside the reply is a kernel socket (an `accept` that met a connection on
    /// loopback, [`super::loopback`]), with its peer's address as the kernel gave it: a
    /// `sockaddr_in` or `sockaddr_in6`.
    Kernel(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub seq: u32,
    pub result: Result<Value, Errno>,
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn addr(&mut self, a: SocketAddrV4) {
        self.0.extend_from_slice(&a.ip().octets());
        self.0.extend_from_slice(&a.port().to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
}

/// A malformed message.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    /// A flag: 0 or 1, anything else malformed.
    fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Malformed),
        }
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, Malformed> {
        Ok(self.u32()? as i32)
    }
    fn addr(&mut self) -> Result<SocketAddrV4, Malformed> {
        let b = self.take(6)?;
        Ok(SocketAddrV4::new(
            Ipv4Addr::new(b[0], b[1], b[2], b[3]),
            u16::from_le_bytes([b[4], b[5]]),
        ))
    }
    fn bytes(&mut self, max: usize) -> Result<Vec<u8>, Malformed> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(Malformed);
        }
        Ok(self.take(n)?.to_vec())
    }
    fn end(&self) -> Result<(), Malformed> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Malformed)
        }
    }
}

fn write_option(w: &mut Writer, o: &SetOption) {
    w.i32(o.level);
    w.i32(o.name);
    w.bytes(&o.value);
}

fn read_option(r: &mut Reader) -> Result<SetOption, Malformed> {
    Ok(SetOption {
        level: r.i32()?,
        name: r.i32()?,
        value: r.bytes(MAX_OPTION)?,
    })
}

impl Request {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.u32(self.seq);
        w.u8(self.quiet as u8);
        match &self.target {
            Target::Existing => w.u8(0),
            Target::New {
                kind,
                options,
                inet6,
            }
            | Target::Given {
                kind,
                options,
                inet6,
            } => {
                let given = matches!(self.target, Target::Given { .. });
                let k = match (kind, given) {
                    (Kind::Stream, false) => 1,
                    (Kind::Dgram, false) => 2,
                    (Kind::Stream, true) => 3,
                    (Kind::Dgram, true) => 4,
                };
                w.u8(if *inet6 { k + 4 } else { k });
                w.u32(options.len() as u32);
                for o in options {
                    write_option(&mut w, o);
                }
            }
        }
        match &self.call {
            Call::Bind(a) => {
                w.u8(1);
                w.addr(*a);
            }
            Call::Connect(a) => {
                w.u8(2);
                match a {
                    Some(a) => {
                        w.u8(1);
                        w.addr(*a);
                    }
                    None => w.u8(0),
                }
            }
            Call::WaitConnect => w.u8(3),
            Call::Listen(b) => {
                w.u8(4);
                w.i32(*b);
            }
            Call::Accept => w.u8(5),
            Call::LocalAddr => w.u8(6),
            Call::PeerAddr => w.u8(7),
            Call::SetOption(o) => {
                w.u8(8);
                write_option(&mut w, o);
            }
            Call::GetOption { level, name, len } => {
                w.u8(9);
                w.i32(*level);
                w.i32(*name);
                w.u32(*len);
            }
            Call::TakeError => w.u8(10),
            Call::ErrorAtEof => w.u8(22),
            Call::Unacked => w.u8(11),
            Call::NotSent => w.u8(28),
            Call::ConnectReported(now) => {
                w.u8(29);
                w.u8(*now as u8);
            }
            Call::Linger => w.u8(12),
            Call::ConnectFilled { addr, filler } => {
                w.u8(13);
                w.addr(*addr);
                w.u32(*filler);
            }
            Call::SendMore(on) => {
                w.u8(14);
                w.u8(*on as u8);
            }
            Call::Disconnect { connecting } => {
                w.u8(15);
                w.u8(*connecting as u8);
            }
            Call::DeliveredAt => w.u8(16),
            Call::FastOpenConnect(a) => {
                w.u8(17);
                w.addr(*a);
            }
            Call::ReadHeld { len, peek } => {
                w.u8(18);
                w.u32(*len);
                w.u8(*peek as u8);
            }
            Call::HeldLen => w.u8(19),
            Call::FastOpenConnectEmpty(a) => {
                w.u8(20);
                w.addr(*a);
            }
            Call::UrgentPending => w.u8(21),
            Call::Shutdown { write } => {
                w.u8(26);
                w.u8(*write as u8);
            }
            Call::ErrorBoard => w.u8(23),
            Call::ReadBelowMark { len, peek } => {
                w.u8(24);
                w.u32(*len);
                w.u8(*peek as u8);
            }
            Call::SetNeighbour { ip, mac } => {
                w.u8(27);
                w.u32(u32::from(*ip));
                w.bytes(mac);
            }
            Call::PathMtu(to) => {
                w.u8(25);
                match to {
                    None => w.u8(0),
                    Some(a) => {
                        w.u8(1);
                        w.addr(*a);
                    }
                }
            }
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Result<Request, Malformed> {
        let mut r = Reader(b);
        let seq = r.u32()?;
        let quiet = r.bool()?;
        let target = match r.u8()? {
            0 => Target::Existing,
            k @ 1..=8 => {
                let inet6 = k > 4;
                let k = if inet6 { k - 4 } else { k };
                let kind = if k % 2 == 1 {
                    Kind::Stream
                } else {
                    Kind::Dgram
                };
                let n = r.u32()? as usize;
                if n > MAX_OPTIONS {
                    return Err(Malformed);
                }
                let options = (0..n)
                    .map(|_| read_option(&mut r))
                    .collect::<Result<_, _>>()?;
                if k <= 2 {
                    Target::New {
                        kind,
                        options,
                        inet6,
                    }
                } else {
                    Target::Given {
                        kind,
                        options,
                        inet6,
                    }
                }
            }
            _ => return Err(Malformed),
        };
        let call = match r.u8()? {
            1 => Call::Bind(r.addr()?),
            2 => Call::Connect(match r.u8()? {
                0 => None,
                1 => Some(r.addr()?),
                _ => return Err(Malformed),
            }),
            3 => Call::WaitConnect,
            4 => Call::Listen(r.i32()?),
            5 => Call::Accept,
            6 => Call::LocalAddr,
            7 => Call::PeerAddr,
            8 => Call::SetOption(read_option(&mut r)?),
            9 => Call::GetOption {
                level: r.i32()?,
                name: r.i32()?,
                len: r.u32()?,
            },
            10 => Call::TakeError,
            11 => Call::Unacked,
            28 => Call::NotSent,
            29 => Call::ConnectReported(r.bool()?),
            12 => Call::Linger,
            13 => Call::ConnectFilled {
                addr: r.addr()?,
                filler: r.u32()?,
            },
            14 => Call::SendMore(r.bool()?),
            15 => Call::Disconnect {
                connecting: r.bool()?,
            },
            16 => Call::DeliveredAt,
            17 => Call::FastOpenConnect(r.addr()?),
            18 => Call::ReadHeld {
                len: r.u32()?,
                peek: r.bool()?,
            },
            19 => Call::HeldLen,
            20 => Call::FastOpenConnectEmpty(r.addr()?),
            21 => Call::UrgentPending,
            26 => Call::Shutdown { write: r.bool()? },
            22 => Call::ErrorAtEof,
            23 => Call::ErrorBoard,
            24 => Call::ReadBelowMark {
                len: r.u32()?,
                peek: r.bool()?,
            },
            25 => Call::PathMtu(match r.u8()? {
                0 => None,
                1 => Some(r.addr()?),
                _ => return Err(Malformed),
            }),
            27 => {
                let ip = std::net::Ipv4Addr::from(r.u32()?);
                let mac = r.bytes(6)?;
                Call::SetNeighbour {
                    ip,
                    mac: mac.try_into().map_err(|_| Malformed)?,
                }
            }
            _ => return Err(Malformed),
        };
        r.end()?;
        Ok(Request {
            seq,
            quiet,
            target,
            call,
        })
    }
}

impl Reply {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(32));
        w.u32(self.seq);
        match &self.result {
            Err(e) => w.i32(e.0),
            Ok(v) => {
                w.i32(0);
                match v {
                    Value::None => w.u8(0),
                    Value::Addr(a) => {
                        w.u8(1);
                        w.addr(*a);
                    }
                    Value::Bytes(b) => {
                        w.u8(2);
                        w.bytes(b);
                    }
                    Value::Int(i) => {
                        w.u8(3);
                        w.i32(*i);
                    }
                    Value::Kernel(a) => {
                        w.u8(4);
                        w.bytes(a);
                    }
                }
            }
        }
        w.0
    }

    pub fn decode(b: &[u8]) -> Result<Reply, Malformed> {
        let mut r = Reader(b);
        let seq = r.u32()?;
        let errno = r.i32()?;
        let result = if errno != 0 {
            Err(Errno(errno))
        } else {
            Ok(match r.u8()? {
                0 => Value::None,
                1 => Value::Addr(r.addr()?),
                2 => Value::Bytes(r.bytes(MAX_MESSAGE)?),
                3 => Value::Int(r.i32()?),
                4 => Value::Kernel(r.bytes(std::mem::size_of::<libc::sockaddr_storage>())?),
                _ => return Err(Malformed),
            })
        };
        r.end()?;
        Ok(Reply { seq, result })
    }
}

/// The header before each datagram on a UDP socket's socketpair, both ways. Going out
/// ([`Outgoing`]): the destination (all zero for "the connected peer") and the datagram's own TTL
/// or TOS if its `sendmsg` gave them. Coming in ([`Incoming`]): the sender, and what the IP
/// header said that the program may ask to see as control messages. Or, in place of a
/// datagram, an error ([`dgram_error`]).
pub const DGRAM_HEADER: usize = 20;

/// Which control messages an incoming datagram comes with: the socket's IP_PKTINFO,
/// IP_RECVTTL, IP_RECVTOS and IP_RECVORIGDSTADDR as they were when the service passed it on
/// (Linux's IP_CMSG_* bits in `inet->cmsg_flags`, the same numbers).
pub mod report {
    pub const PKTINFO: u8 = 1;
    pub const TTL: u8 = 2;
    pub const TOS: u8 = 4;
    /// IPV6_RECVPKTINFO on an AF_INET6 socket: IPV6_PKTINFO, the destination IPv4-mapped.
    pub const PKTINFO6: u8 = 8;
    pub const ORIGDSTADDR: u8 = 64;
}

/// A datagram from the program: where to, and what its own control messages set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outgoing {
    pub to: Option<SocketAddrV4>,
    pub ttl: Option<u8>,
    pub tos: Option<u8>,
    /// The destination is IPv6's loopback `[::1]` and `to`'s port (an AF_INET6 socket's send to
    /// `::1` or `::`), carried by the socket's twin on loopback ([`super::udp_loopback`]).
    pub to_ipv6_loopback: bool,
    /// The source a loopback datagram is to go from, as the program's IP_PKTINFO named it (a
    /// 127/8 address: a wildcard server's reply to a loopback client); the twin's own otherwise.
    pub from_loopback: Option<Ipv4Addr>,
}

/// A datagram for the program: its sender, where it was sent (our address or a broadcast one,
/// and the port), its TTL and TOS, the interface it came in by, and which control messages the
/// socket asked for ([`report`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub from: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ttl: u8,
    pub tos: u8,
    pub ifindex: u32,
    pub report: u8,
    /// The sender is `[::1]` and `from`'s port: a datagram to an AF_INET6 socket's twin on IPv6
    /// loopback ([`super::udp_loopback`]).
    pub from_ipv6_loopback: bool,
}

const OUT_TTL: u8 = 1;
const OUT_TOS: u8 = 2;
const OUT_IPV6_LOOPBACK: u8 = 4;
const OUT_LOOPBACK_SOURCE: u8 = 8;
/// The first byte of an incoming datagram's header: from an IPv4 sender, or from `[::1]`.
const IN_DATAGRAM: u8 = 1;
const IN_DATAGRAM_IPV6_LOOPBACK: u8 = 3;

fn put_addr(h: &mut [u8], a: SocketAddrV4) {
    h[0..2].copy_from_slice(&a.port().to_be_bytes());
    h[2..6].copy_from_slice(&a.ip().octets());
}

fn get_addr(h: &[u8]) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(h[2], h[3], h[4], h[5]),
        u16::from_be_bytes([h[0], h[1]]),
    )
}

impl Outgoing {
    pub fn to(to: Option<SocketAddrV4>) -> Outgoing {
        Outgoing {
            to,
            ..Outgoing::default()
        }
    }

    pub fn header(&self) -> [u8; DGRAM_HEADER] {
        let mut h = [0u8; DGRAM_HEADER];
        if let Some(a) = self.to {
            h[0] = 1;
            put_addr(&mut h[2..8], a);
        }
        if let Some(ttl) = self.ttl {
            h[1] |= OUT_TTL;
            h[14] = ttl;
        }
        if let Some(tos) = self.tos {
            h[1] |= OUT_TOS;
            h[15] = tos;
        }
        if self.to_ipv6_loopback {
            h[1] |= OUT_IPV6_LOOPBACK;
        }
        if let Some(ip) = self.from_loopback {
            h[1] |= OUT_LOOPBACK_SOURCE;
            h[8..12].copy_from_slice(&ip.octets());
        }
        h
    }

    /// `None` for a header that is not one of a datagram going out.
    pub fn parse(h: &[u8]) -> Option<Outgoing> {
        if h.len() < DGRAM_HEADER || h[0] > 1 {
            return None;
        }
        Some(Outgoing {
            to: (h[0] == 1).then(|| get_addr(&h[2..8])),
            ttl: (h[1] & OUT_TTL != 0).then_some(h[14]),
            tos: (h[1] & OUT_TOS != 0).then_some(h[15]),
            to_ipv6_loopback: h[1] & OUT_IPV6_LOOPBACK != 0,
            from_loopback: (h[1] & OUT_LOOPBACK_SOURCE != 0)
                .then(|| Ipv4Addr::new(h[8], h[9], h[10], h[11])),
        })
    }
}

impl Incoming {
    pub fn header(&self) -> [u8; DGRAM_HEADER] {
        let mut h = [0u8; DGRAM_HEADER];
        h[0] = if self.from_ipv6_loopback {
            IN_DATAGRAM_IPV6_LOOPBACK
        } else {
            IN_DATAGRAM
        };
        h[1] = self.report;
        put_addr(&mut h[2..8], self.from);
        h[8..12].copy_from_slice(&self.dst.ip().octets());
        h[12..14].copy_from_slice(&self.dst.port().to_be_bytes());
        h[14] = self.ttl;
        h[15] = self.tos;
        h[16..20].copy_from_slice(&self.ifindex.to_le_bytes());
        h
    }

    /// `None` for a header that is not one of a datagram (an error's, or a short one).
    pub fn parse(h: &[u8]) -> Option<Incoming> {
        if h.len() < DGRAM_HEADER || !matches!(h[0], IN_DATAGRAM | IN_DATAGRAM_IPV6_LOOPBACK) {
            return None;
        }
        Some(Incoming {
            from: get_addr(&h[2..8]),
            dst: SocketAddrV4::new(
                Ipv4Addr::new(h[8], h[9], h[10], h[11]),
                u16::from_be_bytes([h[12], h[13]]),
            ),
            ttl: h[14],
            tos: h[15],
            ifindex: u32::from_le_bytes([h[16], h[17], h[18], h[19]]),
            report: h[1],
            from_ipv6_loopback: h[0] == IN_DATAGRAM_IPV6_LOOPBACK,
        })
    }
}

/// A header that stands for an error instead of a datagram (ECONNREFUSED after an ICMP port
/// unreachable, say): the receive that meets it fails with that errno, as Linux reports it.
pub fn dgram_error(e: Errno) -> [u8; DGRAM_HEADER] {
    let mut h = [0u8; DGRAM_HEADER];
    h[0] = 2;
    h[4..8].copy_from_slice(&e.0.to_le_bytes());
    h
}

/// The errno an error header carries.
pub fn parse_dgram_error(h: &[u8]) -> Option<Errno> {
    if h.len() < DGRAM_HEADER || h[0] != 2 {
        return None;
    }
    Some(Errno(i32::from_le_bytes([h[4], h[5], h[6], h[7]])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a() -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 8080)
    }

    #[test]
    fn a_door_is_no_request() {
        assert_eq!(Request::decode(DOOR), Err(Malformed));
        assert_eq!(Request::decode(ADOPT), Err(Malformed));
    }

    #[test]
    fn every_request_round_trips() {
        let calls = [
            Call::Bind(a()),
            Call::Connect(Some(a())),
            Call::Connect(None),
            Call::FastOpenConnect(a()),
            Call::ReadHeld {
                len: 1000,
                peek: true,
            },
            Call::HeldLen,
            Call::FastOpenConnectEmpty(a()),
            Call::WaitConnect,
            Call::Listen(-1),
            Call::Accept,
            Call::LocalAddr,
            Call::PeerAddr,
            Call::SetOption(SetOption {
                level: 6,
                name: 1,
                value: vec![1, 0, 0, 0],
            }),
            Call::GetOption {
                level: 1,
                name: 4,
                len: 4,
            },
            Call::TakeError,
            Call::ErrorAtEof,
            Call::Unacked,
            Call::NotSent,
            Call::ConnectReported(false),
            Call::ConnectReported(true),
            Call::Linger,
            Call::SendMore(true),
            Call::SendMore(false),
            Call::Disconnect { connecting: false },
            Call::Disconnect { connecting: true },
            Call::DeliveredAt,
            Call::UrgentPending,
            Call::Shutdown { write: true },
            Call::Shutdown { write: false },
            Call::ErrorBoard,
            Call::ReadBelowMark {
                len: 7,
                peek: false,
            },
            Call::PathMtu(None),
            Call::PathMtu(Some(a())),
            Call::SetNeighbour {
                ip: std::net::Ipv4Addr::new(10, 77, 0, 57),
                mac: [2, 0, 0, 0, 0, 9],
            },
            Call::ConnectFilled {
                addr: a(),
                filler: 5248,
            },
        ];
        for (i, call) in calls.into_iter().enumerate() {
            let options = vec![SetOption {
                level: 1,
                name: 2,
                value: vec![9],
            }];
            for target in [
                Target::Existing,
                Target::New {
                    kind: Kind::Dgram,
                    options: options.clone(),
                    inet6: false,
                },
                Target::Given {
                    kind: Kind::Stream,
                    options: options.clone(),
                    inet6: false,
                },
                Target::New {
                    kind: Kind::Stream,
                    options: options.clone(),
                    inet6: true,
                },
                Target::Given {
                    kind: Kind::Stream,
                    options: options.clone(),
                    inet6: true,
                },
            ] {
                let r = Request {
                    seq: i as u32,
                    quiet: i % 2 == 0,
                    target,
                    call: call.clone(),
                };
                assert_eq!(Request::decode(&r.encode()), Ok(r));
            }
        }
    }

    #[test]
    fn every_reply_round_trips() {
        for result in [
            Ok(Value::None),
            Ok(Value::Addr(a())),
            Ok(Value::Bytes(vec![1, 2, 3])),
            Ok(Value::Int(-7)),
            Ok(Value::Kernel(vec![2, 0, 0x1f, 0x40, 127, 0, 0, 1])),
            Err(Errno::ECONNREFUSED),
        ] {
            let r = Reply { seq: 9, result };
            assert_eq!(Reply::decode(&r.encode()), Ok(r));
        }
    }

    #[test]
    fn garbage_and_truncations_are_rejected_not_panicked_on() {
        let full = Request {
            seq: 1,
            quiet: false,
            target: Target::New {
                kind: Kind::Stream,
                options: vec![],
                inet6: false,
            },
            call: Call::Connect(Some(a())),
        }
        .encode();
        for n in 0..full.len() {
            assert_eq!(Request::decode(&full[..n]), Err(Malformed));
        }
        let mut long = full.clone();
        long.push(0);
        assert_eq!(Request::decode(&long), Err(Malformed));
        let mut rng = 0x1234_5678u32;
        for _ in 0..20_000 {
            let len = (rng % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 17;
                    rng ^= rng << 5;
                    rng as u8
                })
                .collect();
            let _ = Request::decode(&bytes);
            let _ = Reply::decode(&bytes);
        }
        // A huge claimed option count or value length is refused before anything is allocated.
        let mut huge = vec![0, 0, 0, 0, 0, 1];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Request::decode(&huge), Err(Malformed));
    }

    #[test]
    fn datagram_headers_round_trip() {
        for out in [
            Outgoing::to(Some(a())),
            Outgoing::to(None),
            Outgoing {
                to: Some(a()),
                ttl: Some(7),
                tos: Some(0x10),
                to_ipv6_loopback: false,
                from_loopback: None,
            },
            Outgoing {
                to: None,
                ttl: None,
                tos: Some(0),
                to_ipv6_loopback: false,
                from_loopback: None,
            },
            Outgoing {
                to: Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 53)),
                ttl: None,
                tos: None,
                to_ipv6_loopback: true,
                from_loopback: None,
            },
            Outgoing {
                to: Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5353)),
                ttl: None,
                tos: None,
                to_ipv6_loopback: false,
                from_loopback: Some(Ipv4Addr::new(127, 0, 0, 9)),
            },
        ] {
            assert_eq!(Outgoing::parse(&out.header()), Some(out));
        }
        let inc = Incoming {
            from: a(),
            dst: SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 255), 53),
            ttl: 64,
            tos: 0x28,
            ifindex: 7,
            report: report::PKTINFO | report::ORIGDSTADDR,
            from_ipv6_loopback: false,
        };
        assert_eq!(Incoming::parse(&inc.header()), Some(inc));
        let from_six = Incoming {
            from_ipv6_loopback: true,
            ..inc
        };
        assert_eq!(Incoming::parse(&from_six.header()), Some(from_six));
        assert_eq!(Incoming::parse(&inc.header()[..DGRAM_HEADER - 1]), None);
        let err = dgram_error(Errno::ECONNREFUSED);
        assert_eq!(parse_dgram_error(&err), Some(Errno::ECONNREFUSED));
        assert_eq!(Incoming::parse(&err), None);
        assert_eq!(Outgoing::parse(&err), None);
        assert_eq!(parse_dgram_error(&inc.header()), None);
    }
}
