//! The socket table: the control information of every socket, found by handle or by port.
//!
//! A program holds a descriptor; the stack holds the socket behind it (addresses, ports, state,
//! buffers) in this table, and the descriptor layer maps one to the other by [`SocketHandle`].
//! Handles carry a generation, so a handle kept after its socket was closed never reaches a new
//! socket that reused the slot.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::tcp_socket::TcpSocket;
use crate::udp::UdpSocket;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

/// Hashing for maps keyed by [`SocketHandle`]: handles are numbers the stack hands out itself, so
/// nobody on the network can pick them to collide, and the keyed SipHash of `std`'s maps (there
/// for keys an attacker chooses, as a connection's addresses) would only cost time on every timer
/// and wake-up. A multiply-and-rotate mix of the words written (index, generation), as rustc's
/// own maps use for trusted keys.
#[derive(Default, Clone, Copy)]
pub struct HandleHasher(u64);

impl std::hash::Hasher for HandleHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }

    fn write_u64(&mut self, v: u64) {
        const K: u64 = 0xf135_7aea_2e62_a9c5;
        self.0 = (self.0.rotate_left(26) ^ v).wrapping_mul(K);
    }
}

/// A map keyed by socket handles ([`HandleHasher`]).
pub type HandleMap<V> = std::collections::HashMap<SocketHandle, V, HandleHashing>;
/// A set of socket handles ([`HandleHasher`]).
pub type HandleSet = std::collections::HashSet<SocketHandle, HandleHashing>;
/// [`HandleHasher`]'s builder.
pub type HandleHashing = std::hash::BuildHasherDefault<HandleHasher>;

impl SocketHandle {
    /// A small number identifying the socket in logs.
    pub fn index(self) -> u32 {
        self.index
    }

    #[cfg(test)]
    pub(crate) fn for_tests(index: u32) -> SocketHandle {
        SocketHandle {
            index,
            generation: 0,
        }
    }
}

pub enum Socket {
    Udp(UdpSocket),
    Tcp(TcpSocket),
}

/// A TCP connection's key: our port and the peer's address (our address is the interface's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnKey {
    pub local_port: u16,
    pub remote_ip: Ipv4Addr,
    pub remote_port: u16,
}

/// The whole key in one word, so the table's keyed SipHash (the peer chooses its address and
/// port) takes one write where the fields would take four.
impl std::hash::Hash for ConnKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(
            u64::from(self.local_port) << 48
                | u64::from(self.remote_port) << 32
                | u64::from(u32::from(self.remote_ip)),
        );
    }
}

struct Slot {
    generation: u32,
    socket: Option<Socket>,
    /// How many times the socket was woken (its readiness may have changed): edge-triggered
    /// waiters report an event when this moves, as the kernel's do on each wake-up.
    wakes: u64,
}

#[derive(Default)]
pub struct SocketTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// UDP sockets by local port, in the order they bound it (more than one only when all set
    /// SO_REUSEADDR, or all of one owner SO_REUSEPORT).
    pub(crate) udp_ports: HashMap<u16, Vec<SocketHandle>>,
    /// TCP listeners by local port: one, or a SO_REUSEPORT group in the order they listened.
    pub(crate) tcp_listeners: HashMap<u16, Vec<SocketHandle>>,
    /// TCP connections (any state after SYN) by their key.
    pub(crate) tcp_conns: HashMap<ConnKey, SocketHandle>,
    /// TCP sockets bound to a port but neither listening nor connected, by port (more than one
    /// only as SO_REUSEADDR or SO_REUSEPORT let them share it).
    pub(crate) tcp_bound: HashMap<u16, Vec<SocketHandle>>,
}

impl SocketTable {
    /// Makes room for one more socket in every table it may join, so that adding it cannot fail
    /// for memory; false when the memory cannot be had.
    pub fn try_reserve_one(&mut self) -> bool {
        (!self.free.is_empty() || self.slots.try_reserve(1).is_ok())
            && self
                .free
                .try_reserve((self.slots.len() + 1).saturating_sub(self.free.len()))
                .is_ok()
            && self.tcp_conns.try_reserve(1).is_ok()
            && self.udp_ports.try_reserve(1).is_ok()
            && self.tcp_listeners.try_reserve(1).is_ok()
            && self.tcp_bound.try_reserve(1).is_ok()
    }

    pub fn insert(&mut self, socket: Socket) -> SocketHandle {
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.socket = Some(socket);
                slot.wakes = 0;
                SocketHandle {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = self.slots.len() as u32;
                self.slots.push(Slot {
                    generation: 0,
                    socket: Some(socket),
                    wakes: 0,
                });
                SocketHandle {
                    index,
                    generation: 0,
                }
            }
        }
    }

    pub fn get(&self, h: SocketHandle) -> Option<&Socket> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_ref())
    }

    pub fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Socket> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.socket.as_mut())
    }

    /// Counts a wake-up of `h`.
    pub fn note_wake(&mut self, h: SocketHandle) {
        if let Some(slot) = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
        {
            slot.wakes = slot.wakes.wrapping_add(1);
        }
    }

    /// How many wake-ups `h` has had.
    pub fn wakes(&self, h: SocketHandle) -> u64 {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .map_or(0, |s| s.wakes)
    }

    pub fn remove(&mut self, h: SocketHandle) -> Option<Socket> {
        let slot = self
            .slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)?;
        let socket = slot.socket.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        Some(socket)
    }

    pub fn udp(&self, h: SocketHandle) -> Option<&UdpSocket> {
        match self.get(h)? {
            Socket::Udp(s) => Some(s),
            _ => None,
        }
    }

    pub fn udp_mut(&mut self, h: SocketHandle) -> Option<&mut UdpSocket> {
        match self.get_mut(h)? {
            Socket::Udp(s) => Some(s),
            _ => None,
        }
    }

    pub fn tcp(&self, h: SocketHandle) -> Option<&TcpSocket> {
        match self.get(h)? {
            Socket::Tcp(s) => Some(s),
            _ => None,
        }
    }

    pub fn tcp_mut(&mut self, h: SocketHandle) -> Option<&mut TcpSocket> {
        match self.get_mut(h)? {
            Socket::Tcp(s) => Some(s),
            _ => None,
        }
    }

    /// Every live socket's handle.
    pub fn handles(&self) -> impl Iterator<Item = SocketHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.socket.is_some())
            .map(|(i, s)| SocketHandle {
                index: i as u32,
                generation: s.generation,
            })
    }

    /// Number of live sockets.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_handles_miss() {
        let mut t = SocketTable::default();
        let a = t.insert(Socket::Udp(UdpSocket::default()));
        assert!(t.get(a).is_some());
        assert!(t.remove(a).is_some());
        let b = t.insert(Socket::Udp(UdpSocket::default()));
        assert_eq!(a.index(), b.index());
        assert!(t.get(a).is_none());
        assert!(t.remove(a).is_none());
        assert!(t.get(b).is_some());
        assert_eq!(t.len(), 1);
    }
}
