//! Byte ring buffers for the send and receive queues.
//!
//! The storage grows with what it holds: a small piece at establishment, doubled as data needs
//! room, up to the capacity (SO_SNDBUF/SO_RCVBUF). An embryonic connection in SYN-RECEIVED costs no
//! buffer memory and an idle one a few KiB, whatever the buffer sizes it may grow to. The send side hands out stored bytes as at most two slices
//! (`peek`), which the stack copies once into the outgoing frame. The receive side can also write
//! past the readable end (`write_at`) so out-of-order data is stored in place and only `commit`ted
//! once the hole before it is filled.

/// The storage a buffer starts with when it is allocated.
const INITIAL: usize = 2048;

fn clamp(capacity: usize) -> u32 {
    capacity.min(u32::MAX as usize) as u32
}

#[derive(Debug, Default)]
pub struct RingBuffer {
    /// The bytes, as a ring over the whole vector (its length is the size grown to so far).
    storage: Vec<u8>,
    /// The most it may hold (socket buffers are at most 32 MiB, so 32 bits).
    capacity: u32,
    /// Its storage could not grow when it needed to (memory pressure): until it grows again, it
    /// takes only what the storage it has can hold.
    stunted: bool,
    /// Index of the first readable byte.
    head: usize,
    /// Number of readable bytes.
    len: usize,
}

impl RingBuffer {
    /// A buffer that will hold `capacity` bytes; nothing is allocated yet.
    pub fn new(capacity: usize) -> RingBuffer {
        RingBuffer {
            storage: Vec::new(),
            capacity: clamp(capacity),
            stunted: false,
            head: 0,
            len: 0,
        }
    }

    /// Makes the storage at least `need` bytes long (at most the capacity), keeping every byte
    /// stored, readable or written ahead: the old ring is laid out again from the head. Returns
    /// whether it could: under memory pressure ([`crate::memory`]) a buffer keeps the storage it
    /// has, as Linux's socket buffers stop growing above `tcp_mem`, and a buffer that has none
    /// gets its first piece only if the system can give it (never from the reserve, which is for
    /// passing needs): a connection established before the pressure makes progress in what it
    /// holds.
    fn grow(&mut self, need: usize) -> bool {
        let size = self.storage.len();
        if need <= size {
            return true;
        }
        let new_size = need.max(size * 2).max(INITIAL).min(self.capacity());
        if size > 0 && crate::memory::under_pressure() {
            self.stunted = true;
            return false;
        }
        let Some(mut grown) = crate::memory::try_buffer(new_size) else {
            self.stunted = true;
            return false;
        };
        self.stunted = false;
        grown[..size - self.head].copy_from_slice(&self.storage[self.head..]);
        grown[size - self.head..size].copy_from_slice(&self.storage[..self.head]);
        self.storage = grown;
        self.head = 0;
        true
    }

    /// Allocates the first piece of storage now (done at establishment).
    pub fn allocate(&mut self) {
        if self.storage.is_empty() && self.len == 0 {
            self.grow(INITIAL.min(self.capacity()));
        }
    }

    /// Whether the buffer has room by its capacity that its storage could not grow into (memory
    /// pressure): a writer should wait and try again, not be told the buffer is full.
    pub fn starved(&self) -> bool {
        self.free() > 0 && self.storage.len() <= self.len
    }

    /// The room a peer may be offered: the free space, or while the storage cannot grow only what
    /// it has free, so that the window stops inviting data there is no memory for (Linux clamps
    /// its window under memory pressure likewise).
    pub fn room(&self) -> usize {
        if self.stunted {
            self.storage.len().saturating_sub(self.len).min(self.free())
        } else {
            self.free()
        }
    }

    /// The most it can hold now: its capacity, or while the storage cannot grow the storage it
    /// has.
    pub fn holds(&self) -> usize {
        if self.stunted {
            self.storage.len().min(self.capacity())
        } else {
            self.capacity()
        }
    }

    /// Once the pressure is over, lets the buffer grow again (a stunted receive buffer is offered
    /// no more than it holds, so it would never need to grow and find out).
    pub fn recover(&mut self) {
        if self.stunted && !crate::memory::under_pressure() {
            self.stunted = false;
        }
    }

    /// Whether a write now would store something: always, unless the storage could not grow and
    /// is full (a writer then waits for what it holds to drain, or for memory).
    pub fn takes_more(&self) -> bool {
        !self.stunted || self.storage.len() > self.len
    }

    /// The size the storage has grown to.
    pub fn allocated(&self) -> usize {
        self.storage.len()
    }

    pub fn is_allocated(&self) -> bool {
        !self.storage.is_empty() || self.capacity == 0
    }

    /// Changes the capacity. Only takes effect while empty (as with SO_SNDBUF/SO_RCVBUF set early);
    /// returns whether it was applied.
    pub fn set_capacity(&mut self, capacity: usize) -> bool {
        if self.len != 0 {
            return false;
        }
        let was_allocated = !self.storage.is_empty();
        self.capacity = clamp(capacity);
        self.head = 0;
        self.storage = Vec::new();
        if was_allocated {
            self.allocate();
        }
        true
    }

    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Lets the buffer hold more, keeping what it holds; the storage grows when it is needed.
    pub fn raise_capacity(&mut self, capacity: usize) {
        self.capacity = self.capacity.max(clamp(capacity));
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Appends as much of `data` as fits; returns the count stored.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(0, data);
        self.commit(n);
        n
    }

    /// Writes `data` starting `offset` bytes after the readable end, without making it readable.
    /// Returns how many bytes fit.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.free() || data.is_empty() {
            return 0;
        }
        let mut n = data.len().min(self.free() - offset);
        if !self.grow(self.len + offset + n) {
            // As much as the storage it has can take.
            n = n.min(self.storage.len().saturating_sub(self.len + offset));
            if n == 0 {
                return 0;
            }
        }
        let size = self.storage.len();
        let start = (self.head + self.len + offset) % size;
        let first = n.min(size - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Up to `max` bytes of free space at the readable end, as one or two slices to fill (then
    /// [`RingBuffer::commit`] what was written). The storage grows (doubling) only when what it has is full, so a reader offered room that
    /// finds nothing to read costs no memory.
    pub fn free_slices(&mut self, max: usize) -> (&mut [u8], &mut [u8]) {
        let mut n = max.min(self.free());
        if n == 0 {
            return (&mut [], &mut []);
        }
        if self.storage.len() <= self.len && !self.grow(self.len + 1) {
            return (&mut [], &mut []);
        }
        n = n.min(self.storage.len() - self.len);
        let size = self.storage.len();
        let start = (self.head + self.len) % size;
        let first = n.min(size - start);
        let (wrapped, rest) = self.storage.split_at_mut(start);
        (&mut rest[..first], &mut wrapped[..n - first])
    }

    /// Makes `n` more bytes (previously written with `write_at`) readable.
    pub fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.free());
        self.len += n;
    }

    /// Up to `len` bytes starting `offset` bytes into the readable data, as one or two slices.
    pub fn peek(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        if offset >= self.len || len == 0 {
            return (&[], &[]);
        }
        let n = len.min(self.len - offset);
        let size = self.storage.len();
        let start = (self.head + offset) % size;
        let first = n.min(size - start);
        (
            &self.storage[start..start + first],
            &self.storage[..n - first],
        )
    }

    /// Copies readable bytes from `offset` into `buf` without consuming; returns the count.
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> usize {
        let (a, b) = self.peek(offset, buf.len());
        buf[..a.len()].copy_from_slice(a);
        buf[a.len()..a.len() + b.len()].copy_from_slice(b);
        a.len() + b.len()
    }

    /// Drops `n` readable bytes from the front.
    pub fn discard(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        // The head is never reset to 0 when emptied: bytes written ahead (`write_at`) stay put.
        if n > 0 {
            self.head = (self.head + n) % self.storage.len();
        }
    }

    /// Reads and consumes up to `buf.len()` bytes.
    pub fn dequeue(&mut self, buf: &mut [u8]) -> usize {
        let n = self.read_at(0, buf);
        self.discard(n);
        n
    }

    /// Frees the storage (on close), keeping the capacity.
    pub fn release(&mut self) {
        self.storage = Vec::new();
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_of_memory_a_buffer_keeps_the_storage_it_has() {
        let mut b = RingBuffer::new(1 << 16);
        b.allocate();
        crate::memory::force_pressure(true);
        assert_eq!(b.allocated(), INITIAL);
        assert_eq!(
            b.enqueue(&[1u8; 3000]),
            INITIAL,
            "only what the storage holds"
        );
        assert!(b.starved(), "room by capacity, none in storage");
        assert!(!b.takes_more());
        assert_eq!(b.write_at(0, &[2u8; 10]), 0);
        assert_eq!(b.free_slices(100).0.len(), 0);
        let mut out = [0u8; 1000];
        assert_eq!(b.dequeue(&mut out), 1000);
        assert!(!b.starved());
        assert!(b.takes_more(), "what was read made room");
        assert_eq!(
            b.enqueue(&[3u8; 3000]),
            1000,
            "the ring reuses what was read"
        );
        crate::memory::force_pressure(false);
        assert_eq!(b.enqueue(&[4u8; 3000]), 3000, "memory back: it grows again");
        assert!(b.allocated() > INITIAL);
    }

    #[test]
    fn lazy_wraps_and_peeks() {
        let mut b = RingBuffer::new(8);
        assert!(!b.is_allocated());
        assert_eq!(b.enqueue(b"abcdef"), 6);
        assert!(b.is_allocated());
        let mut out = [0u8; 4];
        assert_eq!(b.dequeue(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(b.enqueue(b"ghijklmn"), 6);
        assert_eq!(b.len(), 8);
        assert_eq!(b.free(), 0);
        let (x, y) = b.peek(1, 100);
        assert_eq!(x, b"fgh");
        assert_eq!(y, b"ijkl");
        let mut all = [0u8; 8];
        assert_eq!(b.read_at(0, &mut all), 8);
        assert_eq!(&all, b"efghijkl");
        b.discard(8);
        assert!(b.is_empty());
    }

    #[test]
    fn grows_with_its_data_keeping_what_was_written_ahead() {
        let mut b = RingBuffer::new(100_000);
        b.allocate();
        assert_eq!(b.allocated(), INITIAL);
        let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
        // Wrap the small ring first, then write ahead past its end, then fill the hole.
        assert_eq!(b.enqueue(&data[..1500]), 1500);
        b.discard(1000);
        assert_eq!(b.write_at(5000, &data[6500..20_000]), 13_500);
        assert_eq!(b.write_at(0, &data[1500..6500]), 5000);
        b.commit(18_500);
        assert!(
            b.allocated() >= 19_000 && b.allocated() < 100_000,
            "{}",
            b.allocated()
        );
        let mut out = vec![0u8; 19_000];
        assert_eq!(b.dequeue(&mut out), 19_000);
        assert_eq!(&out[..], &data[1000..20_000]);
        assert_eq!(b.enqueue(&data), 60_000);
        assert_eq!(b.read_at(0, &mut out), 19_000);
        assert_eq!(&out[..], &data[..19_000]);
        assert!(b.allocated() <= 100_000);
    }

    #[test]
    fn offered_room_grows_only_when_filled() {
        let mut b = RingBuffer::new(65_536);
        b.allocate();
        for _ in 0..3 {
            let (x, y) = b.free_slices(65_536);
            assert_eq!(
                x.len() + y.len(),
                INITIAL,
                "room offered and not used must not grow it"
            );
        }
        let (x, _) = b.free_slices(65_536);
        x.fill(7);
        b.commit(INITIAL);
        let (x, y) = b.free_slices(65_536);
        assert_eq!(x.len() + y.len(), INITIAL, "full: doubled");
        assert_eq!(b.allocated(), 2 * INITIAL);
    }

    #[test]
    fn write_ahead_then_commit() {
        let mut b = RingBuffer::new(10);
        assert_eq!(b.write_at(4, b"efg"), 3);
        assert_eq!(b.len(), 0);
        assert_eq!(b.write_at(0, b"abcd"), 4);
        b.commit(7);
        let mut out = [0u8; 10];
        assert_eq!(b.dequeue(&mut out), 7);
        assert_eq!(&out[..7], b"abcdefg");
        // Writes beyond the free space are clipped.
        assert_eq!(b.write_at(8, b"xyz"), 2);
        assert_eq!(b.write_at(10, b"x"), 0);
        assert!(b.set_capacity(4));
        assert_eq!(b.enqueue(b"123456"), 4);
        assert!(!b.set_capacity(8));
    }
}
