//! The preload shim: libc's socket calls, taken over for unmodified programs.
//!
//! With `libtapstack.so` in `LD_PRELOAD` (as `tapstack run` sets it), the exported symbols in
//! [`exports`] shadow libc's. IPv4 sockets (other than loopback) go to the stack service
//! ([`crate::service`]), and so do AF_INET6 TCP sockets whose traffic is IPv4 (dual-stack, see
//! [`addr`]); every other descriptor and family (`AF_UNIX`, `AF_NETLINK`, IPv6 traffic,
//! 127.0.0.0/8) goes straight to libc. A stack socket's descriptor is a real kernel object (one end
//! of a socketpair the service holds), so most calls on it are the kernel's own.
//!
//! - [`hook`]: finding the real functions, panics turned into EIO;
//! - [`state`]: the descriptor table, pending sockets, fork; [`forklock`]: locks a forked child can
//!   release;
//! - [`addr`]: `struct sockaddr` in and out;
//! - [`sockets`], [`io`], [`sockopt`], [`fds`]: the calls themselves; [`raw`]: `syscall(2)` for
//!   the calls some programs make by number (libuv's `sendmmsg`, `recvmmsg`);
//! - [`netdb`]: `getaddrinfo` and friends, answered by the stack's own resolver;
//! - [`identity`]: `setuid` and its kin, after which the service sees the new user;
//! - [`ifaddrs`]: `getifaddrs`, route netlink's address messages and the `SIOCGIF*ADDR` ioctls,
//!   which name the stack's address on the TAP;
//! - [`exports`]: the C symbols; [`dl`]: `dlopen` less RTLD_DEEPBIND, which would take a
//!   library's socket calls past the shim; [`maps`]: changes of the program's mappings, which
//!   [`user`]'s remembered checks must forget.

pub mod addr;
pub mod dl;
pub mod exports;
pub mod fds;
pub mod forklock;
pub mod hook;
pub mod identity;
pub mod ifaddrs;
pub mod io;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub mod maps;
pub mod netdb;
pub mod netdb_exports;
pub mod raw;
pub mod sockets;
pub mod sockopt;
pub mod stamps;
pub mod state;
pub mod user;
