//! Blocking UDP sockets over a running stack: the socket-level Rust API that the CLI, tests and the
//! preload shim sit on.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use super::{wait_for, with_stack, Runtime, Shared};
use crate::error::Result;
use crate::stack::SocketHandle;
use crate::udp::Received;

pub struct UdpSocket {
    shared: Arc<Shared>,
    handle: SocketHandle,
    /// SO_RCVTIMEO: `None` blocks forever.
    pub read_timeout: Option<Duration>,
    pub nonblocking: bool,
}

impl Runtime {
    pub fn udp_socket(&self) -> Result<UdpSocket> {
        let handle = self.with_stack(|s, _| s.udp_socket())?;
        Ok(UdpSocket {
            shared: self.shared().clone(),
            handle,
            read_timeout: None,
            nonblocking: false,
        })
    }
}

impl UdpSocket {
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    pub fn bind(&self, addr: SocketAddrV4) -> Result<()> {
        with_stack(&self.shared, |s, _| s.udp_bind(self.handle, addr))
    }

    pub fn connect(&self, peer: SocketAddrV4) -> Result<()> {
        with_stack(&self.shared, |s, _| s.udp_connect(self.handle, Some(peer)))
    }

    pub fn send_to(&self, data: &[u8], to: SocketAddrV4) -> Result<usize> {
        with_stack(&self.shared, |s, now| {
            s.udp_send_to(now, self.handle, data, Some(to))
        })
    }

    pub fn send(&self, data: &[u8]) -> Result<usize> {
        with_stack(&self.shared, |s, now| {
            s.udp_send_to(now, self.handle, data, None)
        })
    }

    /// Receives one datagram, blocking up to the read timeout unless nonblocking.
    pub fn recv_from(&self, buf: &mut [u8]) -> Result<Received> {
        if self.nonblocking {
            return with_stack(&self.shared, |s, _| {
                s.udp_recv_from(self.handle, buf, false)
            });
        }
        wait_for(&self.shared, self.read_timeout, |s, _| {
            s.udp_recv_from(self.handle, buf, false)
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddrV4> {
        with_stack(&self.shared, |s, _| s.local_addr(self.handle))
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let _ = with_stack(&self.shared, |s, now| s.close(now, self.handle));
    }
}
