//! TCP Fast Open (RFC 7413) as Linux offers it: the cookie a server computes for a client, the bits
//! of `net.ipv4.tcp_fastopen` that switch each side on, and the little a connection keeps while
//! its handshake carries a cookie.
//!
//! A server's cookie is a keyed MAC of the client's address (§4.1.2): here, as in Linux, the
//! SipHash-2-4 of the SYN's source and destination addresses under a 16-byte key, its 8 bytes in
//! little-endian order, so a listener given the same `TCP_FASTOPEN_KEY` as a kernel's hands out
//! the kernel's cookies. The caller passes the addresses as bytes: the engine never sees them.
//!
//! What a connection keeps lives in a [`FastOpen`] behind an `Option<Box<_>>`, so that a half-open
//! connection without it stays as small as before (a SYN flood pays nothing for Fast Open).

use super::isn::{siphash24, SipKey};
use crate::wire::tcp::FastOpenCookie;

/// `net.ipv4.tcp_fastopen` bits (Linux's `TFO_*`).
pub mod sysctl {
    /// Active opens may use Fast Open (Linux's default, 1, is this bit alone).
    pub const CLIENT_ENABLE: u16 = 0x1;
    /// Passive opens may use it, on listeners that set `TCP_FASTOPEN`.
    pub const SERVER_ENABLE: u16 = 0x2;
    /// A client sends data in its SYN without a cookie.
    pub const CLIENT_NO_COOKIE: u16 = 0x4;
    /// A server takes data in a SYN without checking for a cookie.
    pub const SERVER_COOKIE_NOT_REQD: u16 = 0x200;
    /// Every listener acts as if `TCP_FASTOPEN` were set to its backlog.
    pub const SERVER_WO_SOCKOPT1: u16 = 0x400;
    /// Linux's built-in value.
    pub const DEFAULT: u16 = CLIENT_ENABLE;
}

/// The cookie for the client at `client` (IPv4, network order) reaching us at `server`: the
/// keyed MAC of RFC 7413 §4.1.2, Linux's construction (see the module docs).
pub fn cookie(key: &SipKey, client: [u8; 4], server: [u8; 4]) -> FastOpenCookie {
    let mut addrs = [0u8; 8];
    addrs[..4].copy_from_slice(&client);
    addrs[4..].copy_from_slice(&server);
    let mac = siphash24(key, &addrs).to_le_bytes();
    FastOpenCookie::new(&mac).expect("8 bytes is a valid cookie length")
}

/// What a listener makes of a SYN's Fast Open option (RFC 7413 §4.2.2, Linux's
/// `tcp_try_fastopen`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerVerdict {
    /// Nothing to do with Fast Open: an ordinary handshake, any data in the SYN ignored.
    None,
    /// A cookie request, or a cookie that is not ours: an ordinary handshake (data ignored, not
    /// acknowledged), with this fresh cookie in the SYN-ACK.
    Offer(FastOpenCookie),
    /// A good cookie: the SYN's data is taken and acknowledged by the SYN-ACK.
    Accept,
}

/// The verdict on a SYN carrying `option` (`None`: no Fast Open option) and `has_data`, at a
/// listener whose `TCP_FASTOPEN` queue has room (`queue_open`), under the `sysctl` bits, `valid`
/// being the cookie this client should hold.
pub fn server_verdict(
    sysctl_bits: u16,
    queue_open: bool,
    option: Option<FastOpenCookie>,
    has_data: bool,
    valid: FastOpenCookie,
) -> ServerVerdict {
    if sysctl_bits & sysctl::SERVER_ENABLE == 0 || !queue_open {
        return ServerVerdict::None;
    }
    if sysctl_bits & sysctl::SERVER_COOKIE_NOT_REQD != 0 && (has_data || option.is_some()) {
        return ServerVerdict::Accept;
    }
    match option {
        None => ServerVerdict::None,
        Some(c) if c.is_request() => ServerVerdict::Offer(valid),
        Some(c) if c == valid => ServerVerdict::Accept,
        Some(_) => ServerVerdict::Offer(valid),
    }
}

/// A connection's Fast Open state.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastOpen {
    /// The option our next SYN or SYN-ACK carries: a client's cookie or request, a server's fresh
    /// cookie. Sent once: retransmissions go without it, as Linux's.
    pub send: Option<FastOpenCookie>,
    /// A client holding a cookie waits for the program's first write before sending its SYN, so
    /// the data can ride on it (Linux's `TCP_FASTOPEN_CONNECT` defer).
    pub syn_held: bool,
    /// Client: data bytes our SYN carried.
    pub syn_data: usize,
    /// Client: the cookie the server's SYN-ACK gave, for the stack to remember.
    pub received: Option<FastOpenCookie>,
    /// The SYN's data (ours, or the peer's we took) was acknowledged by the SYN-ACK: TCP_INFO's
    /// `TCPI_OPT_SYN_DATA`.
    pub syn_data_acked: bool,
    /// Server: the SYN's cookie was good; the connection is handed to `accept` before the
    /// handshake ends, as Linux's.
    pub passive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_follow_linux() {
        let valid = FastOpenCookie::new(&[1; 8]).unwrap();
        let other = FastOpenCookie::new(&[2; 8]).unwrap();
        let req = Some(FastOpenCookie::request());
        let on = sysctl::CLIENT_ENABLE | sysctl::SERVER_ENABLE;
        use ServerVerdict::{Accept, Offer};
        let no = ServerVerdict::None;
        assert_eq!(server_verdict(on, true, req, false, valid), Offer(valid));
        assert_eq!(server_verdict(on, true, Some(valid), true, valid), Accept);
        assert_eq!(server_verdict(on, true, Some(valid), false, valid), Accept);
        assert_eq!(
            server_verdict(on, true, Some(other), true, valid),
            Offer(valid)
        );
        assert_eq!(server_verdict(on, true, None, true, valid), no);
        // The sysctl's server bit, and the listener's TCP_FASTOPEN, are both needed.
        assert_eq!(server_verdict(1, true, Some(valid), true, valid), no);
        assert_eq!(server_verdict(on, false, Some(valid), true, valid), no);
        assert_eq!(server_verdict(on | 0x200, true, None, true, valid), Accept);
    }

    /// A kernel listener given the key 00 01 .. 0f with TCP_FASTOPEN_KEY answered 10.77.0.1's
    /// cookie request to 10.77.0.2 with this cookie (tcpdump, tcp_fastopen=3 both sides).
    #[test]
    fn cookies_are_linux_cookies_for_the_same_key() {
        let mut key = [0u8; 16];
        for (i, b) in key.iter_mut().enumerate() {
            *b = i as u8;
        }
        let c = cookie(&SipKey(key), [10, 77, 0, 1], [10, 77, 0, 2]);
        assert_eq!(
            c.as_bytes(),
            [0xbc, 0x5a, 0xe6, 0x27, 0x9f, 0xdc, 0x51, 0xc7]
        );
    }

    #[test]
    fn cookies_depend_on_key_and_addresses() {
        let k = SipKey([3; 16]);
        let c = cookie(&k, [10, 77, 0, 1], [10, 77, 0, 2]);
        assert_eq!(c.as_bytes().len(), 8);
        assert_eq!(c, cookie(&k, [10, 77, 0, 1], [10, 77, 0, 2]));
        assert_ne!(c, cookie(&k, [10, 77, 0, 3], [10, 77, 0, 2]));
        assert_ne!(c, cookie(&SipKey([4; 16]), [10, 77, 0, 1], [10, 77, 0, 2]));
    }
}
