//! TCP Fast Open (RFC 7413) as Linux offers it: the cookie a server computes for a client, the bits
//! of `net.ipv4.tcp_fastopen` that switch each side on, and the little a connection keeps while
//! its handshake carries a cookie.
//!
//! A server's cookie is a keyed MAC of the client's address (§4.1.2): here, as in Linux, the
//! SipHash-2-4 of the SYN's source and destination addresses under a 16-byte key, its 8 bytes in
//! little-endian order, so a listener given the same `TCP_FASTOPEN_KEY` as a kernel's hands out
//! the kernel's cookies. The caller passes the addresses as bytes: the engine never sees them.
//! A listener may hold a backup key beside its primary one ([`Keys`], a 32-byte
//! `TCP_FASTOPEN_KEY`), so keys can be rotated: cookies of either are good, new ones come from the
//! primary.
//!
//! Linux goes beyond the RFC in two ways followed here: `TCP_FASTOPEN_NO_COOKIE` (or the sysctl's
//! bits 0x4 and 0x200) lets a client put data in its SYN without a cookie and a listener take it
//! (RFC 7413 §4 requires the cookie); and a cookie asked or brought in the experimental form
//! (kind 254, RFC 6994) is answered in that form.
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

/// A listener's own cookie keys (`TCP_FASTOPEN_KEY`): 16 bytes set the primary alone, 32 the
/// primary and a backup (Linux since 5.3, for rotating keys without refusing the cookies out
/// there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keys {
    /// New cookies are made with it.
    pub primary: SipKey,
    /// Cookies made with it are still good.
    pub backup: Option<SipKey>,
}

impl Keys {
    /// From the option's value: 16 or 32 bytes (else `None`, Linux's EINVAL).
    pub fn from_bytes(b: &[u8]) -> Option<Keys> {
        let key = |k: &[u8]| SipKey(k.try_into().expect("16 bytes"));
        match b.len() {
            16 => Some(Keys {
                primary: key(b),
                backup: None,
            }),
            32 => Some(Keys {
                primary: key(&b[..16]),
                backup: Some(key(&b[16..])),
            }),
            _ => None,
        }
    }

    /// The option's value as getsockopt gives it: the primary, then the backup if any.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = self.primary.0.to_vec();
        if let Some(b) = self.backup {
            v.extend_from_slice(&b.0);
        }
        v
    }

    /// The cookies this client may hold: the primary key's, and the backup's if there is one.
    pub fn cookies(
        &self,
        client: [u8; 4],
        server: [u8; 4],
    ) -> (FastOpenCookie, Option<FastOpenCookie>) {
        (
            cookie(&self.primary, client, server),
            self.backup.map(|k| cookie(&k, client, server)),
        )
    }
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
    /// A good cookie (or none needed): the SYN's data is taken and acknowledged by the SYN-ACK,
    /// which carries this fresh cookie when the client's was made with the backup key (Linux's
    /// TCPFastOpenPassiveAltKey), so the client moves on to the primary.
    Accept(Option<FastOpenCookie>),
}

/// What a listener needs to judge a SYN: the host's `tcp_fastopen` bits, its own
/// `TCP_FASTOPEN_NO_COOKIE`, whether its `TCP_FASTOPEN` queue has room, and the cookies this
/// client may hold (the primary key's, the backup's).
#[derive(Clone, Copy, Debug)]
pub struct Listener {
    pub sysctl_bits: u16,
    pub no_cookie: bool,
    pub queue_open: bool,
    pub valid: FastOpenCookie,
    pub backup: Option<FastOpenCookie>,
}

/// The verdict on a SYN carrying `option` (`None`: no Fast Open option) and `has_data`, at
/// `listener`. A cookie given back is in the form the SYN's option came in (Linux answers kind 254
/// with kind 254).
pub fn server_verdict(
    listener: &Listener,
    option: Option<FastOpenCookie>,
    has_data: bool,
) -> ServerVerdict {
    let l = listener;
    if l.sysctl_bits & sysctl::SERVER_ENABLE == 0 || !l.queue_open {
        return ServerVerdict::None;
    }
    // Linux's tcp_fastopen_no_cookie: the sysctl's bit or the listener's option (a route's
    // fastopen_no_cookie too, which this stack has no routes for).
    let no_cookie = l.sysctl_bits & sysctl::SERVER_COOKIE_NOT_REQD != 0 || l.no_cookie;
    if no_cookie && (has_data || option.is_some()) {
        return ServerVerdict::Accept(None);
    }
    let Some(c) = option else {
        return ServerVerdict::None;
    };
    let fresh = l.valid.in_form(c.is_experimental());
    match c {
        c if c.is_request() => ServerVerdict::Offer(fresh),
        c if c == l.valid => ServerVerdict::Accept(None),
        c if Some(c) == l.backup => ServerVerdict::Accept(Some(fresh)),
        _ => ServerVerdict::Offer(fresh),
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
    /// Client: the SYN carries data without a cookie (`TCP_FASTOPEN_NO_COOKIE`, Linux's).
    pub no_cookie: bool,
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
        let at = |bits, queue_open| Listener {
            sysctl_bits: bits,
            no_cookie: false,
            queue_open,
            valid,
            backup: None,
        };
        let l = at(on, true);
        use ServerVerdict::{Accept, Offer};
        let no = ServerVerdict::None;
        assert_eq!(server_verdict(&l, req, false), Offer(valid));
        assert_eq!(server_verdict(&l, Some(valid), true), Accept(None));
        assert_eq!(server_verdict(&l, Some(valid), false), Accept(None));
        assert_eq!(server_verdict(&l, Some(other), true), Offer(valid));
        assert_eq!(server_verdict(&l, None, true), no);
        // The sysctl's server bit, and the listener's TCP_FASTOPEN, are both needed.
        assert_eq!(server_verdict(&at(1, true), Some(valid), true), no);
        assert_eq!(server_verdict(&at(on, false), Some(valid), true), no);
        // No cookie needed: the sysctl's 0x200 or the listener's TCP_FASTOPEN_NO_COOKIE; a SYN
        // with neither data nor option is still an ordinary one.
        assert_eq!(
            server_verdict(&at(on | 0x200, true), None, true),
            Accept(None)
        );
        let nc = Listener {
            no_cookie: true,
            ..l
        };
        assert_eq!(server_verdict(&nc, None, true), Accept(None));
        assert_eq!(server_verdict(&nc, req, false), Accept(None));
        assert_eq!(server_verdict(&nc, None, false), no);
        assert_eq!(server_verdict(&at(on & !2, true), None, true), no);
    }

    /// With a backup key, its cookies are good too and are answered with the primary's; new
    /// cookies come from the primary.
    #[test]
    fn the_backup_key_is_taken_and_the_primary_given() {
        let keys = Keys::from_bytes(&[[1u8; 16], [2u8; 16]].concat()).unwrap();
        assert_eq!(keys.to_bytes(), [[1u8; 16], [2u8; 16]].concat());
        assert_eq!(Keys::from_bytes(&[1; 16]).unwrap().backup, None);
        assert_eq!(Keys::from_bytes(&[1; 17]), None);
        let (valid, backup) = keys.cookies([10, 77, 0, 1], [10, 77, 0, 2]);
        let l = Listener {
            sysctl_bits: 3,
            no_cookie: false,
            queue_open: true,
            valid,
            backup,
        };
        let backup = backup.unwrap();
        assert_ne!(valid, backup);
        use ServerVerdict::{Accept, Offer};
        assert_eq!(server_verdict(&l, Some(backup), true), Accept(Some(valid)));
        assert_eq!(server_verdict(&l, Some(valid), true), Accept(None));
        let req = FastOpenCookie::request();
        assert_eq!(server_verdict(&l, Some(req), false), Offer(valid));
    }

    /// A cookie asked or brought under kind 254 is answered under kind 254 (Linux copies the
    /// request's `exp` into the answer).
    #[test]
    fn the_experimental_form_is_answered_in_kind() {
        let valid = FastOpenCookie::new(&[1; 8]).unwrap();
        let l = Listener {
            sysctl_bits: 3,
            no_cookie: false,
            queue_open: true,
            valid,
            backup: None,
        };
        let exp_req = FastOpenCookie::request().in_form(true);
        match server_verdict(&l, Some(exp_req), false) {
            ServerVerdict::Offer(c) => assert!(c == valid && c.is_experimental()),
            v => panic!("{v:?}"),
        }
        match server_verdict(&l, Some(FastOpenCookie::request()), false) {
            ServerVerdict::Offer(c) => assert!(!c.is_experimental()),
            v => panic!("{v:?}"),
        }
        let wrong = FastOpenCookie::new(&[2; 8]).unwrap().in_form(true);
        match server_verdict(&l, Some(wrong), true) {
            ServerVerdict::Offer(c) => assert!(c == valid && c.is_experimental()),
            v => panic!("{v:?}"),
        }
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
