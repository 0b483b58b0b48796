//! The exported name-service symbols: `getaddrinfo`, `freeaddrinfo`, `getnameinfo`,
//! `gethostbyname`, `gethostbyname_r`, `gethostbyname2`, `gethostbyname2_r`, `gethostbyaddr`,
//! `gethostbyaddr_r`.
//!
//! glibc's resolver sends its DNS queries through internal socket entry points that the shim never
//! sees, so under the preload these are answered by [`super::netdb`] with the stack's own resolver:
//! `/etc/hosts`, then the `TAPSTACK_DNS` servers over the stack's UDP (and TCP for a reply cut
//! short). Without the preload (a program linking the C API) they stay glibc's;
//! `tapstack_getaddrinfo` is the way in there.

#![allow(clippy::missing_safety_doc)]

use std::net::Ipv4Addr;

use libc::{addrinfo, c_char, c_int, c_void, hostent, size_t, sockaddr, socklen_t};
use once_cell::sync::Lazy;

use super::netdb::{self, NameService, RealNetdb};
use super::state;
use crate::config::Config;
use crate::real;
use crate::resolver::{DnsTransport, LookupError, Resolver, Services};

/// The resolver, configured once from the environment.
static RESOLVER: Lazy<Resolver> = Lazy::new(|| {
    let config = Config::from_env().unwrap_or_else(|e| {
        crate::service::client::say(&format!("{e}; resolving without DNS servers"));
        crate::config::Settings::default()
            .resolve()
            .expect("defaults are valid")
    });
    Resolver::from_config(&config)
});
static SERVICES: Lazy<Services> = Lazy::new(|| RESOLVER.services());

fn real_netdb() -> Option<RealNetdb> {
    Some(RealNetdb {
        getaddrinfo: real!(getaddrinfo: fn(*const c_char, *const c_char, *const addrinfo, *mut *mut addrinfo) -> c_int)?,
        freeaddrinfo: real!(freeaddrinfo: fn(*mut addrinfo) -> ())?,
        getnameinfo: real!(getnameinfo: fn(*const sockaddr, socklen_t, *mut c_char, socklen_t, *mut c_char, socklen_t, c_int) -> c_int)?,
        gethostbyname2: real!(gethostbyname2: fn(*const c_char, c_int) -> *mut hostent)?,
        gethostbyname2_r: real!(gethostbyname2_r: fn(*const c_char, c_int, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int)?,
        gethostbyaddr: real!(gethostbyaddr: fn(*const c_void, socklen_t, c_int) -> *mut hostent)?,
        gethostbyaddr_r: real!(gethostbyaddr_r: fn(*const c_void, socklen_t, c_int, *mut hostent, *mut c_char, size_t, *mut *mut hostent, *mut c_int) -> c_int)?,
    })
}

/// A DNS transport that starts the stack only when a query must really go out (a name found in
/// /etc/hosts needs no network).
struct StackTransport;

impl DnsTransport for StackTransport {
    fn exchange(
        &mut self,
        server: std::net::SocketAddrV4,
        query: &[u8],
        timeout: std::time::Duration,
        reply: &mut [u8],
    ) -> Result<usize, LookupError> {
        super::netdb::exchange_over_stack(server, query, timeout, reply)
    }

    fn connect_tcp(
        &mut self,
        server: std::net::SocketAddrV4,
        deadline: std::time::Instant,
    ) -> Result<Box<dyn crate::resolver::DnsStream>, LookupError> {
        super::netdb::connect_tcp_over_stack(server, deadline)
    }
}

/// Runs `f` with the stack's name service.
pub fn with_service<R>(real: &RealNetdb, f: impl FnOnce(&NameService<'_>) -> R) -> R {
    let forward = |name: &str| RESOLVER.lookup_v4(name, &mut StackTransport);
    let reverse = |ip: Ipv4Addr| RESOLVER.reverse_v4(ip, &mut StackTransport);
    let ns = NameService {
        forward: &forward,
        reverse: &reverse,
        services: &SERVICES,
        real,
    };
    f(&ns)
}

/// Runs `ours` with the stack's name service when the shim interposes, `theirs` with glibc's own
/// functions otherwise (a program linking the C API), and returns `fail` if glibc's cannot be found.
/// `short` answers instead when memory is short (see [`short_of_memory`]).
unsafe fn dispatch<R>(
    fail: R,
    short: impl FnOnce() -> R,
    theirs: impl FnOnce(&RealNetdb) -> R,
    ours: impl FnOnce(&NameService<'_>) -> R,
) -> R {
    let Some(real) = real_netdb() else {
        return fail;
    };
    if !state::interposing() {
        return theirs(&real);
    }
    if short_of_memory() {
        return short();
    }
    with_service(&real, ours)
}

/// A lookup may need more memory than the reserve serves ([`crate::memory`]: loading
/// /etc/services, a DNS answer): without the headroom, it fails as glibc's does when it cannot
/// allocate (EAI_SYSTEM or EAI_MEMORY, or NETDB_INTERNAL, with errno ENOMEM) rather than abort
/// the program.
fn short_of_memory() -> bool {
    // The first lookup loads /etc/services and the resolver's configuration, in many small pieces
    // that must not fall to the reserve: it wants room for all of them.
    let loaded = Lazy::get(&SERVICES).is_some() && Lazy::get(&RESOLVER).is_some();
    let need = if loaded {
        crate::memory::HEADROOM
    } else {
        FIRST_LOOKUP
    };
    if crate::memory::has_headroom(need) {
        return false;
    }
    super::hook::set_errno(crate::error::Errno::ENOMEM);
    true
}

/// The `_r` functions' answer when memory is short.
unsafe fn short_r(result: *mut *mut hostent, h_errnop: *mut c_int) -> c_int {
    if !result.is_null() {
        *result = std::ptr::null_mut();
    }
    if !h_errnop.is_null() {
        *h_errnop = NETDB_INTERNAL;
    }
    libc::ENOMEM
}

/// The memory the first lookup wants free, with its tables to load (/etc/services parses into
/// about 100 KiB).
const FIRST_LOOKUP: usize = 1 << 20;

/// glibc's h_errno for "see errno".
const NETDB_INTERNAL: c_int = -1;

/// The stack's `getaddrinfo`, whether or not the process is preloaded (the C API uses it).
pub unsafe fn stack_getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    let Some(real) = real_netdb() else {
        return libc::EAI_SYSTEM;
    };
    if short_of_memory() {
        // glibc's getaddrinfo when it cannot allocate: EAI_SYSTEM, errno ENOMEM.
        return libc::EAI_SYSTEM;
    }
    with_service(&real, |ns| {
        netdb::getaddrinfo(node, service, hints, res, ns)
    })
}

/// Frees a list from [`stack_getaddrinfo`] (or glibc's).
pub unsafe fn stack_freeaddrinfo(res: *mut addrinfo) {
    if let Some(f) = real!(freeaddrinfo: fn(*mut addrinfo) -> ()) {
        netdb::freeaddrinfo(res, f);
    }
}

#[no_mangle]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const addrinfo,
    res: *mut *mut addrinfo,
) -> c_int {
    if !state::interposing() {
        let Some(f) = real!(getaddrinfo: fn(*const c_char, *const c_char, *const addrinfo, *mut *mut addrinfo) -> c_int)
        else {
            return libc::EAI_SYSTEM;
        };
        return f(node, service, hints, res);
    }
    stack_getaddrinfo(node, service, hints, res)
}

#[no_mangle]
pub unsafe extern "C" fn freeaddrinfo(res: *mut addrinfo) {
    // Our own lists are recognised whatever the mode; anything else goes to glibc.
    stack_freeaddrinfo(res)
}

#[no_mangle]
pub unsafe extern "C" fn getnameinfo(
    sa: *const sockaddr,
    salen: socklen_t,
    host: *mut c_char,
    hostlen: socklen_t,
    serv: *mut c_char,
    servlen: socklen_t,
    flags: c_int,
) -> c_int {
    dispatch(
        libc::EAI_SYSTEM,
        || libc::EAI_MEMORY,
        |r| (r.getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags),
        |ns| netdb::getnameinfo(sa, salen, host, hostlen, serv, servlen, flags, ns),
    )
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname(name: *const c_char) -> *mut hostent {
    dispatch(
        std::ptr::null_mut(),
        || {
            netdb::set_h_errno(NETDB_INTERNAL);
            std::ptr::null_mut()
        },
        |r| (r.gethostbyname2)(name, libc::AF_INET),
        |ns| netdb::gethostbyname(name, ns),
    )
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2(name: *const c_char, af: c_int) -> *mut hostent {
    dispatch(
        std::ptr::null_mut(),
        || {
            netdb::set_h_errno(NETDB_INTERNAL);
            std::ptr::null_mut()
        },
        |r| (r.gethostbyname2)(name, af),
        |ns| netdb::gethostbyname2(name, af, ns),
    )
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname_r(
    name: *const c_char,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    dispatch(
        libc::ENOSYS,
        || short_r(result, h_errnop),
        |r| (r.gethostbyname2_r)(name, libc::AF_INET, ret, buf, buflen, result, h_errnop),
        |ns| netdb::gethostbyname_r(name, ret, buf, buflen, result, h_errnop, ns),
    )
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    dispatch(
        libc::ENOSYS,
        || short_r(result, h_errnop),
        |r| (r.gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop),
        |ns| netdb::gethostbyname2_r(name, af, ret, buf, buflen, result, h_errnop, ns),
    )
}

#[no_mangle]
pub unsafe extern "C" fn gethostbyaddr(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
) -> *mut hostent {
    dispatch(
        std::ptr::null_mut(),
        || {
            netdb::set_h_errno(NETDB_INTERNAL);
            std::ptr::null_mut()
        },
        |r| (r.gethostbyaddr)(addr, len, af),
        |ns| netdb::gethostbyaddr(addr, len, af, ns),
    )
}

#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn gethostbyaddr_r(
    addr: *const c_void,
    len: socklen_t,
    af: c_int,
    ret: *mut hostent,
    buf: *mut c_char,
    buflen: size_t,
    result: *mut *mut hostent,
    h_errnop: *mut c_int,
) -> c_int {
    dispatch(
        libc::ENOSYS,
        || short_r(result, h_errnop),
        |r| (r.gethostbyaddr_r)(addr, len, af, ret, buf, buflen, result, h_errnop),
        |ns| netdb::gethostbyaddr_r(addr, len, af, ret, buf, buflen, result, h_errnop, ns),
    )
}
