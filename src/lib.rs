//! tapstack: a TCP/IP stack that runs inside an ordinary Linux process, over a TAP device.
//!
//! The layers, bottom to top, each in its own module:
//! - [`wire`]: packet formats (Ethernet, ARP, IPv4, ICMPv4, UDP, TCP): zero-copy views and plain
//!   structs, parse and emit;
//! - [`device`]: where frames enter and leave: the TAP device, an in-memory link, a pcap recorder;
//! - [`arp`], [`ipv4`], [`icmp`], [`udp`]: the protocols' state and rules;
//! - [`stack`]: one object owning the interface, neighbour cache, reassembly and the socket table,
//!   sans-IO (time is an argument; output is returned, not sent);
//! - [`service`]: the stack as a service of every program in a network namespace: one process owns
//!   the TAP and the stack, programs' sockets are socketpairs to it;
//! - [`runtime`]: drives the stack inside one process with a device, a clock and a thread, with
//!   blocking socket calls (the integration tests' harness);
//! - [`config`]: the `TAPSTACK_*` settings shared by everything that starts a stack, and [`host`]:
//!   the defaults the host's TCP sysctls give;
//! - [`resolver`]: name lookups (`/etc/hosts`, `/etc/services`, DNS over the stack's own UDP);
//! - [`tcp`]: the TCP engine, sans-IO;
//! - [`posix`]: the preload shim, libc's calls taken over for unmodified programs;
//! - [`capi`]: the same stack for C programs that link it (`include/tapstack.h`).
//!
//! [`memory`] keeps a reserve so that running out of memory never aborts the program.
//!
//! [`sys`] holds the stack's own system calls, made so that the preloaded library can never
//! intercept them.

pub mod arp;
pub mod capi;
pub mod config;
pub mod device;
pub mod error;
pub mod host;
pub mod icmp;
pub mod igmp;
pub mod ipv4;
pub mod memory;
pub mod posix;
pub mod rand;
pub mod resolver;
pub mod runtime;
pub mod service;
pub mod spin;
pub mod stack;
pub mod sys;
pub mod tcp;
pub mod time;
pub mod udp;
pub mod wire;

/// Every allocation of the process goes through the stack's allocator, so that running out of
/// memory sheds load rather than aborting the program (see [`memory`]).
#[global_allocator]
static ALLOCATOR: memory::Allocator = memory::Allocator;
