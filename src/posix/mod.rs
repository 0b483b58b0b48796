//! The preload shim: libc's socket calls, taken over for unmodified programs.
//!
//! With `libtapstack.so` in `LD_PRELOAD` (as `tapstack run` sets it), the exported symbols in
//! [`exports`] shadow libc's. IPv4 sockets (other than loopback) go through the stack; every other
//! descriptor and family (`AF_UNIX`, `AF_NETLINK`, IPv6, 127.0.0.0/8) goes straight to libc.
//!
//! - [`hook`]: finding the real functions, panics turned into EIO;
//! - [`state`]: the descriptor table, the lazily started runtime, fork; [`forklock`]: locks a
//!   forked child can release;
//! - [`addr`]: `struct sockaddr` in and out;
//! - [`sockets`], [`io`], [`sockopt`], [`fds`]: the calls themselves;
//! - [`readiness`], [`poll`], [`epoll`]: waiting on any mix of stack and kernel descriptors;
//! - [`netdb`]: `getaddrinfo` and friends, answered by the stack's own resolver;
//! - [`stdio`]: `fdopen` streams over stack sockets;
//! - [`exports`]: the C symbols.

pub mod addr;
pub mod epoll;
pub mod exports;
pub mod fds;
pub mod forklock;
pub mod hook;
pub mod io;
pub mod netdb;
pub mod netdb_exports;
pub mod poll;
pub mod readiness;
pub mod sockets;
pub mod sockopt;
pub mod state;
pub mod stdio;
