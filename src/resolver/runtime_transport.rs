//! DNS over a [`Runtime`]'s stack, in this process: a [`DnsTransport`] on
//! [`crate::runtime::udp::UdpSocket`], and on [`crate::runtime::tcp::TcpStream`] for a reply that
//! came truncated. (Under the preload, `posix::netdb` asks the service instead.)
//!
//! Each exchange uses a fresh socket, and so a fresh ephemeral port (RFC 5452 §9.2: the source
//! port is part of what a spoofer must guess). Datagrams from anyone but the server are read and
//! discarded; the wait is bounded by the timeout however many of them come.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::{DnsStream, DnsTransport, LookupError};
use crate::error::Errno;
use crate::runtime::tcp::TcpStream;
use crate::runtime::Runtime;

pub struct RuntimeTransport<'a> {
    runtime: &'a Runtime,
}

impl<'a> RuntimeTransport<'a> {
    pub fn new(runtime: &'a Runtime) -> RuntimeTransport<'a> {
        RuntimeTransport { runtime }
    }
}

/// What is left until `deadline`; `Again` once it has passed.
fn left(deadline: Instant) -> Result<Duration, LookupError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(LookupError::Again);
    }
    Ok(left)
}

/// A socket call's failure as the resolver takes it: out of time, or not to be had.
fn lookup_error(server: SocketAddrV4, e: Errno) -> LookupError {
    log::debug!("dns with {server}: {}", e.name());
    match e {
        Errno::EAGAIN | Errno::ETIMEDOUT => LookupError::Again,
        _ => LookupError::Fail,
    }
}

impl DnsTransport for RuntimeTransport<'_> {
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
            sock.read_timeout = Some(left(deadline)?);
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

    fn connect_tcp(
        &mut self,
        server: SocketAddrV4,
        deadline: Instant,
    ) -> Result<Box<dyn DnsStream>, LookupError> {
        let stream = self
            .runtime
            .tcp_connect(server, Some(left(deadline)?))
            .map_err(|e| lookup_error(server, e))?;
        Ok(Box::new(RuntimeStream { stream, server }))
    }
}

struct RuntimeStream {
    stream: TcpStream,
    server: SocketAddrV4,
}

impl DnsStream for RuntimeStream {
    fn send_all(&mut self, mut data: &[u8], deadline: Instant) -> Result<(), LookupError> {
        while !data.is_empty() {
            self.stream.write_timeout = Some(left(deadline)?);
            let n = self
                .stream
                .send(data)
                .map_err(|e| lookup_error(self.server, e))?;
            data = &data[n..];
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, LookupError> {
        self.stream.read_timeout = Some(left(deadline)?);
        self.stream
            .recv(buf)
            .map_err(|e| lookup_error(self.server, e))
    }
}
