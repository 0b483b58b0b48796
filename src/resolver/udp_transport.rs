//! DNS over the stack's own UDP: a [`DnsTransport`] on [`crate::runtime::udp::UdpSocket`].
//!
//! Each exchange uses a fresh socket, and so a fresh ephemeral port (RFC 5452 §9.2: the source
//! port is part of what a spoofer must guess). Datagrams from anyone but the server are read and
//! discarded; the wait is bounded by the timeout however many of them come.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::{DnsTransport, LookupError};
use crate::error::Errno;
use crate::runtime::Runtime;

pub struct UdpTransport<'a> {
    runtime: &'a Runtime,
}

impl<'a> UdpTransport<'a> {
    pub fn new(runtime: &'a Runtime) -> UdpTransport<'a> {
        UdpTransport { runtime }
    }
}

impl DnsTransport for UdpTransport<'_> {
    fn exchange(
        &mut self,
        server: SocketAddrV4,
        query: &[u8],
        timeout: Duration,
        reply: &mut [u8],
    ) -> Result<usize, LookupError> {
        let mut sock = self.runtime.udp_socket().map_err(|e| {
            log::debug!("dns query to {server}: {}", e.name());
            LookupError::Fail
        })?;
        sock.send_to(query, server).map_err(|e| {
            log::debug!("dns query to {server}: {}", e.name());
            LookupError::Fail
        })?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LookupError::Again);
            }
            sock.read_timeout = Some(left);
            match sock.recv_from(reply) {
                Ok(r) if r.from == server => return Ok(r.copied),
                Ok(r) => log::debug!("dns: discarded a datagram from {} (asked {server})", r.from),
                Err(Errno::EAGAIN) => return Err(LookupError::Again),
                Err(e) => {
                    log::debug!("dns reply from {server}: {}", e.name());
                    return Err(LookupError::Fail);
                }
            }
        }
    }
}
