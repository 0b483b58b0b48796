//! Blocking TCP streams and listeners over a running stack: the socket-level Rust API that the CLI,
//! tests and the preload shim sit on. Reads and writes implement `std::io::Read`/`Write`.

use std::io;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use super::{wait_for, with_stack, Runtime, Shared};
use crate::error::{Errno, Result};
use crate::stack::{Shutdown, SocketHandle, Stack};
use crate::tcp::{Readiness, TcpStats};
use crate::time::Instant;

/// Options applied to a socket before it connects or listens.
pub type Configure<'a> = &'a dyn Fn(&mut Stack, SocketHandle) -> Result<()>;

/// A connected (or connecting) TCP socket.
pub struct TcpStream {
    shared: Arc<Shared>,
    handle: SocketHandle,
    /// SO_RCVTIMEO / SO_SNDTIMEO: `None` blocks forever.
    pub read_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    /// O_NONBLOCK: calls that would wait give EAGAIN instead.
    pub nonblocking: bool,
}

/// A listening TCP socket.
pub struct TcpListener {
    shared: Arc<Shared>,
    handle: SocketHandle,
    /// O_NONBLOCK: `accept` gives EAGAIN when no connection waits.
    pub nonblocking: bool,
}

/// Runs `f` once if `nonblocking`, or until it stops answering EAGAIN (up to `timeout`) if not.
fn call<R>(
    shared: &Shared,
    nonblocking: bool,
    timeout: Option<Duration>,
    f: impl FnMut(&mut Stack, Instant) -> Result<R>,
) -> Result<R> {
    if nonblocking {
        with_stack(shared, f)
    } else {
        wait_for(shared, timeout, f)
    }
}

impl Runtime {
    /// Connects to `remote`, waiting up to `timeout` (None: until the stack gives up, ETIMEDOUT).
    pub fn tcp_connect(
        &self,
        remote: SocketAddrV4,
        timeout: Option<Duration>,
    ) -> Result<TcpStream> {
        self.tcp_connect_with(remote, timeout, &|_, _| Ok(()))
    }

    /// As [`tcp_connect`](Self::tcp_connect), with `configure` run on the socket first (options).
    pub fn tcp_connect_with(
        &self,
        remote: SocketAddrV4,
        timeout: Option<Duration>,
        configure: Configure<'_>,
    ) -> Result<TcpStream> {
        let handle = self.start_connect(remote, configure)?;
        let stream = TcpStream {
            shared: self.shared().clone(),
            handle,
            read_timeout: None,
            write_timeout: None,
            nonblocking: false,
        };
        match wait_for(&self.shared, timeout, |s, _| s.tcp_connect_status(handle)) {
            Ok(()) => Ok(stream),
            // A connect that ran out of the caller's time reports ETIMEDOUT, like a timed-out
            // connect on Linux (the socket is closed when `stream` drops).
            Err(Errno::EAGAIN) => Err(Errno::ETIMEDOUT),
            Err(e) => Err(e),
        }
    }

    /// A new socket, configured, with its SYN on the way; closed again if any step fails.
    fn start_connect(
        &self,
        remote: SocketAddrV4,
        configure: Configure<'_>,
    ) -> Result<SocketHandle> {
        self.with_stack(|s, now| {
            let h = s.tcp_socket()?;
            let r = configure(s, h).and_then(|()| s.tcp_connect(now, h, remote));
            if let Err(e) = r {
                let _ = s.close(now, h);
                return Err(e);
            }
            Ok(h)
        })
    }

    /// Starts connecting and returns at once (a nonblocking `connect`'s EINPROGRESS): the stream
    /// becomes writable when connected; [`TcpStream::connect_status`] tells how it went.
    pub fn tcp_connect_nonblocking(
        &self,
        remote: SocketAddrV4,
        configure: Configure<'_>,
    ) -> Result<TcpStream> {
        let handle = self.start_connect(remote, configure)?;
        Ok(TcpStream {
            shared: self.shared().clone(),
            handle,
            read_timeout: None,
            write_timeout: None,
            nonblocking: true,
        })
    }

    /// Binds and listens on `local` with `backlog`.
    pub fn tcp_listen(&self, local: SocketAddrV4, backlog: usize) -> Result<TcpListener> {
        self.tcp_listen_with(local, backlog, &|_, _| Ok(()))
    }

    pub fn tcp_listen_with(
        &self,
        local: SocketAddrV4,
        backlog: usize,
        configure: Configure<'_>,
    ) -> Result<TcpListener> {
        let handle = self.with_stack(|s, now| {
            let h = s.tcp_socket()?;
            let r = configure(s, h)
                .and_then(|()| s.tcp_bind(h, local))
                .and_then(|()| s.tcp_listen(h, backlog));
            if let Err(e) = r {
                let _ = s.close(now, h);
                return Err(e);
            }
            Ok(h)
        })?;
        Ok(TcpListener {
            shared: self.shared().clone(),
            handle,
            nonblocking: false,
        })
    }

    /// Waits until every TCP connection has finished closing (or sits in TIME-WAIT, where only the
    /// peer's retransmission could still need us), or `limit` passes. Used before a process exits,
    /// so its last FIN is acknowledged rather than cut off.
    pub fn linger(&self, limit: Duration) -> bool {
        wait_for(&self.shared, Some(limit), |s, _| {
            if s.tcp_all_quiet() {
                Ok(())
            } else {
                Err(Errno::EAGAIN)
            }
        })
        .is_ok()
    }
}

impl TcpListener {
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> Result<(TcpStream, SocketAddrV4)> {
        self.accept_timeout(None)
    }

    pub fn accept_timeout(&self, timeout: Option<Duration>) -> Result<(TcpStream, SocketAddrV4)> {
        let (handle, peer) = call(&self.shared, self.nonblocking, timeout, |s, now| {
            s.tcp_accept(now, self.handle)
        })?;
        Ok((
            TcpStream {
                shared: self.shared.clone(),
                handle,
                read_timeout: None,
                write_timeout: None,
                nonblocking: false,
            },
            peer,
        ))
    }

    pub fn local_addr(&self) -> Result<SocketAddrV4> {
        with_stack(&self.shared, |s, _| s.local_addr(self.handle))
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let _ = with_stack(&self.shared, |s, now| s.close(now, self.handle));
    }
}

impl TcpStream {
    pub fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// Reads what has arrived, waiting for at least one byte; Ok(0) is end of file.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        call(
            &self.shared,
            self.nonblocking,
            self.read_timeout,
            |s, now| s.tcp_recv(now, self.handle, buf, false),
        )
    }

    /// Copies what has arrived without consuming it (MSG_PEEK).
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize> {
        call(
            &self.shared,
            self.nonblocking,
            self.read_timeout,
            |s, now| s.tcp_recv(now, self.handle, buf, true),
        )
    }

    /// Writes as much of `data` as fits, waiting for room for at least one byte.
    pub fn send(&self, data: &[u8]) -> Result<usize> {
        call(
            &self.shared,
            self.nonblocking,
            self.write_timeout,
            // Short of memory a writer waits as for room (Linux's sk_stream_wait_memory; EAGAIN
            // when nonblocking); the wait is bounded while under pressure, so it tries again.
            |s, now| match s.tcp_send(now, self.handle, data) {
                Err(Errno::ENOMEM) => Err(Errno::EAGAIN),
                r => r,
            },
        )
    }

    /// How a connect is going: Ok when connected, EAGAIN (EINPROGRESS) while the handshake runs,
    /// or why it failed — what `getsockopt(SO_ERROR)` reports after a nonblocking connect.
    pub fn connect_status(&self) -> Result<()> {
        with_stack(&self.shared, |s, _| s.tcp_connect_status(self.handle))
    }

    /// Waits until `ready` says yes of this socket's readiness, or `timeout` passes (false).
    pub fn wait_ready(
        &self,
        timeout: Option<Duration>,
        ready: impl Fn(&Readiness) -> bool,
    ) -> bool {
        wait_for(&self.shared, timeout, |s, _| {
            if ready(&s.tcp_readiness(self.handle)) {
                Ok(())
            } else {
                Err(Errno::EAGAIN)
            }
        })
        .is_ok()
    }

    /// Writes all of `data`.
    pub fn send_all(&self, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() {
            let n = self.send(data)?;
            data = &data[n..];
        }
        Ok(())
    }

    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        with_stack(&self.shared, |s, now| s.tcp_shutdown(now, self.handle, how))
    }

    pub fn readiness(&self) -> Readiness {
        with_stack(&self.shared, |s, _| s.tcp_readiness(self.handle))
    }

    pub fn stats(&self) -> Option<TcpStats> {
        with_stack(&self.shared, |s, _| s.tcp_stats(self.handle))
    }

    pub fn local_addr(&self) -> Result<SocketAddrV4> {
        with_stack(&self.shared, |s, _| s.local_addr(self.handle))
    }

    pub fn peer_addr(&self) -> Result<SocketAddrV4> {
        with_stack(&self.shared, |s, _| s.peer_addr(self.handle))
    }

    /// Runs `f` on the stack with this socket's handle (socket options, inspection).
    pub fn with<R>(&self, f: impl FnOnce(&mut Stack, SocketHandle, Instant) -> R) -> R {
        with_stack(&self.shared, |s, now| f(s, self.handle, now))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let _ = with_stack(&self.shared, |s, now| s.close(now, self.handle));
    }
}

impl io::Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv(buf)?)
    }
}

impl io::Write for TcpStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        Ok(self.send(data)?)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
